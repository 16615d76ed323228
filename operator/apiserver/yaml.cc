#include "operator/apiserver/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <exception>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "operator/apiserver/errors.h"

namespace wisp::apiserver {
namespace {

bool IsInteger(const std::string& s) {
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

bool IsFloat(const std::string& s) {
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  bool digits = false, dot = false, exp = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digits = true;
    } else if (c == '.' && !dot && !exp) {
      dot = true;
    } else if ((c == 'e' || c == 'E') && digits && !exp) {
      exp = true;
      if (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+')) ++i;
      digits = false;
    } else {
      return false;
    }
  }
  return digits;
}

Json Scalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
  if (text.empty() || text == "~" || text == "null" || text == "Null" ||
      text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (IsInteger(text)) {
    int64_t v;
    if (absl::SimpleAtoi(text, &v)) return v;
  }
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'o')) {
    char* end = nullptr;
    long long v = std::strtoll(text.c_str() + 2, &end, text[1] == 'x' ? 16 : 8);
    if (end != nullptr && *end == '\0') return static_cast<int64_t>(v);
  }
  if (IsFloat(text)) {
    double d;
    if (absl::SimpleAtod(text, &d)) return d;
  }
  return text;
}

absl::StatusOr<Json> Convert(const YAML::Node& node, int depth) {
  if (depth > kMaxJsonDepth) {
    return kerr::BadRequest(
        absl::StrCat("YAML nesting deeper than ", kMaxJsonDepth));
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return Json(nullptr);
    case YAML::NodeType::Scalar:
      return Scalar(node);
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const YAML::Node& child : node) {
        absl::StatusOr<Json> v = Convert(child, depth + 1);
        if (!v.ok()) return v;
        out.push_back(*std::move(v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar())
          return kerr::BadRequest("YAML mapping keys must be scalars");
        absl::StatusOr<Json> v = Convert(kv.second, depth + 1);
        if (!v.ok()) return v;
        out[kv.first.Scalar()] = *std::move(v);
      }
      return out;
    }
  }
  return Json(nullptr);
}

}  // namespace

absl::StatusOr<Json> ParseYaml(absl::string_view text, bool want_object) {
  absl::StatusOr<Json> out;
  try {
    YAML::Node node = YAML::Load(std::string(text));
    out = Convert(node, 0);
  } catch (const std::exception& e) {
    return kerr::BadRequest(
        absl::StrCat("the request body is not valid YAML: ", e.what()));
  }
  if (out.ok() && want_object && !out->is_object()) {
    return kerr::BadRequest("the request body must be a mapping");
  }
  return out;
}

}  // namespace wisp::apiserver
