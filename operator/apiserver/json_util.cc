#include "operator/apiserver/json_util.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "operator/apiserver/errors.h"

namespace wisp::apiserver {
namespace {

// Maximum nesting of arrays and objects in `text`, skipping string contents.
// Stops counting once past `limit`.
int NestingDepth(absl::string_view text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) max_depth = depth;
      if (max_depth > limit) return max_depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace

absl::StatusOr<Json> ParseJson(absl::string_view text, bool want_object) {
  if (NestingDepth(text, kMaxJsonDepth) > kMaxJsonDepth) {
    return kerr::BadRequest(
        absl::StrCat("JSON nesting deeper than ", kMaxJsonDepth));
  }
  Json parsed = Json::parse(text.begin(), text.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return kerr::BadRequest("the request body is not valid JSON");
  }
  if (want_object && !parsed.is_object()) {
    return kerr::BadRequest("the request body must be a JSON object");
  }
  return parsed;
}

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* Find(const Json& obj, absl::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

Json* FindMutable(Json& obj, absl::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  return it == obj.end() ? nullptr : &*it;
}

const Json* FindPath(const Json& obj,
                     std::initializer_list<absl::string_view> path) {
  const Json* cur = &obj;
  for (absl::string_view key : path) {
    cur = Find(*cur, key);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

std::string GetString(const Json& obj, absl::string_view key) {
  const Json* v = Find(obj, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::string GetStringPath(const Json& obj,
                          std::initializer_list<absl::string_view> path) {
  const Json* v = FindPath(obj, path);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<int64_t> GetInt(const Json& obj, absl::string_view key) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (d >= -9e18 && d <= 9e18) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

Json& EnsureObject(Json& obj, absl::string_view key) {
  if (!obj.is_object()) obj = Json::object();
  Json& v = obj[std::string(key)];
  if (!v.is_object()) v = Json::object();
  return v;
}

std::string FormatTimestamp(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

std::optional<int64_t> ParseTimestamp(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return absl::ToUnixSeconds(t);
}

}  // namespace wisp::apiserver
