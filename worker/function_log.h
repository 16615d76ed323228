// The function's log stream on the worker's stdout (what `kubectl logs` shows for a pod).
//   text  each line as the runtime wrote it, plus Lambda's START / END / REPORT lines
//   json  {"time":"…","requestId":"…","message":"…"} per line
// Thread-safe: each line is one write(2).
#ifndef WISP_WORKER_FUNCTION_LOG_H_
#define WISP_WORKER_FUNCTION_LOG_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "worker/environment.h"

namespace wisp::worker {

enum class LogFormat { kText, kJson };

// Pure: the bytes written for one line.
std::string FormatFunctionLogLine(LogFormat format, int64_t unix_micros,
                                  absl::string_view request_id, absl::string_view line);

class StdoutFunctionLog : public FunctionLog {
 public:
  explicit StdoutFunctionLog(LogFormat format, int fd = 1) : format_(format), fd_(fd) {}
  void Line(absl::string_view request_id, absl::string_view line) override;

 private:
  LogFormat format_;
  int fd_;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_FUNCTION_LOG_H_
