#include "worker/report.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace wisp::worker {

int64_t BilledDurationMs(double duration_ms) {
  if (!(duration_ms > 0)) return 1;
  // Durations are measured in microseconds; drop float noise below that before rounding up.
  double micros = std::round(duration_ms * 1000.0);
  int64_t billed = static_cast<int64_t>(std::ceil(micros / 1000.0));
  return billed < 1 ? 1 : billed;
}

double GbSeconds(int memory_mb, int64_t billed_ms) {
  return (static_cast<double>(memory_mb) / 1024.0) * (static_cast<double>(billed_ms) / 1000.0);
}

std::string FormatStartLine(absl::string_view request_id, absl::string_view version) {
  return absl::StrCat("START RequestId: ", request_id, " Version: ", version, "\n");
}

std::string FormatEndLine(absl::string_view request_id) {
  return absl::StrCat("END RequestId: ", request_id, "\n");
}

std::string FormatReportLine(const ReportFields& f) {
  std::string line = absl::StrFormat(
      "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t"
      "Max Memory Used: %d MB\t",
      f.request_id, f.duration_ms, f.billed_duration_ms, f.memory_size_mb, f.max_memory_used_mb);
  if (f.init_duration_ms.has_value()) {
    absl::StrAppendFormat(&line, "Init Duration: %.2f ms\t", *f.init_duration_ms);
  }
  if (!f.status.empty()) {
    absl::StrAppend(&line, "Status: ", f.status, "\t");
    if (!f.error_type.empty()) absl::StrAppend(&line, "Error Type: ", f.error_type, "\t");
  }
  line.push_back('\n');
  return line;
}

std::string TimeoutMessage(absl::string_view request_id, double seconds) {
  return absl::StrFormat("RequestId: %s Error: Task timed out after %.2f seconds", request_id,
                         seconds);
}

std::string ErrorDocument(absl::string_view error_type, absl::string_view error_message) {
  nlohmann::json doc = {{"errorType", error_type}, {"errorMessage", error_message}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ParsedFunctionError ParseFunctionError(absl::string_view body, absl::string_view header_type) {
  ParsedFunctionError out;
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_discarded() && doc.is_object()) {
    if (auto it = doc.find("errorType"); it != doc.end() && it->is_string()) {
      out.error_type = it->get<std::string>();
    }
    if (auto it = doc.find("errorMessage"); it != doc.end()) {
      out.error_message = it->is_string() ? it->get<std::string>() : it->dump();
    }
    for (const char* key : {"stackTrace", "trace"}) {
      auto it = doc.find(key);
      if (it == doc.end() || !it->is_array()) continue;
      for (const auto& frame : *it) {
        out.stack_trace.push_back(frame.is_string() ? frame.get<std::string>() : frame.dump());
      }
      break;
    }
  } else {
    out.error_message = std::string(body);
  }
  if (out.error_type.empty()) {
    out.error_type = header_type.empty() ? "Unhandled" : std::string(header_type);
  }
  return out;
}

void LogTail::Append(absl::string_view text) {
  text_.append(text.data(), text.size());
  if (text_.size() > limit_) text_.erase(0, text_.size() - limit_);
}

}  // namespace wisp::worker
