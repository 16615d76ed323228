#include "controller/base/log.h"

#include <unistd.h>

#include <atomic>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wisp::log {
namespace {

std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

void AppendValue(std::string& out, absl::string_view v) {
  bool quote = v.empty() || v.find_first_of(" \"=\t\n") != absl::string_view::npos;
  if (!quote) {
    out.append(v.data(), v.size());
    return;
  }
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\t': out.append("\\t"); break;
      default: out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace

std::string FormatLine(int64_t unix_micros, Level level, absl::string_view msg,
                       std::initializer_list<Field> fields) {
  absl::Time t = absl::FromUnixMicros(unix_micros);
  std::string out = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
  absl::StrAppend(&out, " level=", LevelName(level), " msg=");
  AppendValue(out, msg);
  for (const Field& f : fields) {
    absl::StrAppend(&out, " ", f.key, "=");
    AppendValue(out, f.value);
  }
  out.push_back('\n');
  return out;
}

void SetMinLevel(Level level) { g_min_level.store(static_cast<int>(level)); }

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  std::string line = FormatLine(absl::ToUnixMicros(absl::Now()), level, msg, fields);
  // One write(2) per line keeps lines whole when threads log at once.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace wisp::log
