// Lambda's per-invocation bookkeeping as pure functions: billing arithmetic, the START / END /
// REPORT log lines, function error documents, and the bounded log tail.
#ifndef WISP_WORKER_REPORT_H_
#define WISP_WORKER_REPORT_H_

#include <cstdint>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace wisp::worker {

// Whole milliseconds, rounded up, at least 1 (Lambda bills in 1 ms units).
int64_t BilledDurationMs(double duration_ms);

// GB-seconds of one invocation: memory in GB times billed seconds.
double GbSeconds(int memory_mb, int64_t billed_ms);

struct ReportFields {
  std::string request_id;
  double duration_ms = 0;
  int64_t billed_duration_ms = 0;
  int memory_size_mb = 0;
  int64_t max_memory_used_mb = 0;
  std::optional<double> init_duration_ms;  // Only on a cold start.
  std::string status;                      // "", "timeout" or "error".
  std::string error_type;                  // With status "error".
};

std::string FormatStartLine(absl::string_view request_id, absl::string_view version);
std::string FormatEndLine(absl::string_view request_id);
// "REPORT RequestId: <id>\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t
// Max Memory Used: 35 MB\t[Init Duration: 12.34 ms\t][Status: timeout\t]" plus a newline.
std::string FormatReportLine(const ReportFields& fields);

// "Task timed out after 3.00 seconds" for an invocation that ran `seconds`.
std::string TimeoutMessage(absl::string_view request_id, double seconds);

// {"errorType": type, "errorMessage": message}, as Lambda returns platform-detected errors.
std::string ErrorDocument(absl::string_view error_type, absl::string_view error_message);

struct ParsedFunctionError {
  std::string error_type;
  std::string error_message;
  std::vector<std::string> stack_trace;
};
// Reads an error document a runtime posted (errorType, errorMessage, stackTrace or trace).
// A body that is not such a document keeps its raw text as the message; `header_type`
// (Lambda-Runtime-Function-Error-Type) fills a missing errorType.
ParsedFunctionError ParseFunctionError(absl::string_view body, absl::string_view header_type);

// The last `limit` bytes of an invocation's log, appended line by line.
class LogTail {
 public:
  explicit LogTail(size_t limit = 4096) : limit_(limit) {}
  void Append(absl::string_view text);
  const std::string& text() const { return text_; }
  void Clear() { text_.clear(); }

 private:
  size_t limit_;
  std::string text_;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_REPORT_H_
