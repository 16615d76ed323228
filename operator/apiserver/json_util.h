// JSON helpers shared by the API server: parsing client input without
// exceptions or unbounded recursion, serializing without throwing, and typed
// lookups that tolerate any shape.
//
// Every function here is pure and thread-safe. Nothing throws: nlohmann::json
// is used only through calls that cannot throw for the inputs they are given
// (type checks first).
#ifndef WISP_OPERATOR_APISERVER_JSON_UTIL_H_
#define WISP_OPERATOR_APISERVER_JSON_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace wisp::apiserver {

using Json = nlohmann::json;

// Deepest nesting accepted from clients. Deeper input is rejected before
// parsing, so that the recursive algorithms over objects (patches,
// serialization) cannot exhaust the stack.
inline constexpr int kMaxJsonDepth = 200;

// Parses client-supplied JSON. Errors: BadRequest (kerr) for syntax errors,
// nesting deeper than kMaxJsonDepth, or (when `want_object`) a document that is
// not a JSON object.
absl::StatusOr<Json> ParseJson(absl::string_view text, bool want_object = true);

// Serializes compactly; invalid UTF-8 in strings is replaced rather than thrown
// about.
std::string Dump(const Json& value);

// Typed lookups: nullptr / "" / nullopt when `obj` is not an object, the key is
// missing, or the value has another type.
const Json* Find(const Json& obj, absl::string_view key);
Json* FindMutable(Json& obj, absl::string_view key);
const Json* FindPath(const Json& obj,
                     std::initializer_list<absl::string_view> path);
std::string GetString(const Json& obj, absl::string_view key);
std::string GetStringPath(const Json& obj,
                          std::initializer_list<absl::string_view> path);
std::optional<int64_t> GetInt(const Json& obj, absl::string_view key);

// Returns obj[key] as an object, creating it (or replacing a non-object) as
// needed.
Json& EnsureObject(Json& obj, absl::string_view key);

// RFC 3339 UTC with second precision, as Kubernetes writes timestamps:
// 2026-11-27T12:00:00Z.
std::string FormatTimestamp(int64_t unix_seconds);
// Parses the form above (and fractional seconds / offsets); nullopt when
// unparseable.
std::optional<int64_t> ParseTimestamp(absl::string_view text);

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_JSON_UTIL_H_
