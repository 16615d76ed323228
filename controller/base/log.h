// Structured, line-oriented logging for Wisp's own processes (not function logs).
//
// One event per line on stderr, key=value pairs after a timestamp and a level:
//   2026-11-27T12:00:00.123Z level=info msg="worker listening" port=5000
// Values with spaces, quotes or '=' are quoted. Thread-safe: each line is one write(2).
#ifndef WISP_CONTROLLER_BASE_LOG_H_
#define WISP_CONTROLLER_BASE_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>

#include "absl/strings/str_cat.h"

namespace wisp::log {

enum class Level { kDebug, kInfo, kWarn, kError };

// One key=value field. Numbers and strings convert implicitly.
struct Field {
  Field(absl::string_view k, absl::string_view v) : key(k), value(v) {}
  Field(absl::string_view k, const char* v) : key(k), value(v) {}
  Field(absl::string_view k, const std::string& v) : key(k), value(v) {}
  template <typename T, typename = std::enable_if_t<std::is_arithmetic_v<T>>>
  Field(absl::string_view k, T v) : key(k), value(absl::StrCat(v)) {}
  std::string key;
  std::string value;
};

// Formats one log line (without writing it). Pure; exposed for tests.
std::string FormatLine(int64_t unix_micros, Level level, absl::string_view msg,
                       std::initializer_list<Field> fields);

// Sets the lowest level written (default kInfo). Call from main before threads start.
void SetMinLevel(Level level);

void Write(Level level, absl::string_view msg, std::initializer_list<Field> fields = {});
inline void Debug(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kDebug, m, f); }
inline void Info(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kWarn, m, f); }
inline void Error(absl::string_view m, std::initializer_list<Field> f = {}) { Write(Level::kError, m, f); }

}  // namespace wisp::log

#endif  // WISP_CONTROLLER_BASE_LOG_H_
