#include "worker/function_log.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace wisp::worker {

std::string FormatFunctionLogLine(LogFormat format, int64_t unix_micros,
                                  absl::string_view request_id, absl::string_view line) {
  if (format == LogFormat::kText) return absl::StrCat(line, "\n");
  nlohmann::ordered_json doc = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(unix_micros),
                                absl::UTCTimeZone())},
      {"requestId", request_id},
      {"message", line}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void StdoutFunctionLog::Line(absl::string_view request_id, absl::string_view line) {
  std::string out = FormatFunctionLogLine(format_, absl::ToUnixMicros(absl::Now()), request_id, line);
  ssize_t ignored = ::write(fd_, out.data(), out.size());
  (void)ignored;
}

}  // namespace wisp::worker
