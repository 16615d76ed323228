#include "operator/apiserver/schema.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace wisp::apiserver {
namespace {

void Defaults(const Json& schema, Json& value) {
  if (!schema.is_object()) return;
  if (value.is_object()) {
    if (const Json* props = Find(schema, "properties");
        props != nullptr && props->is_object()) {
      for (auto it = props->begin(); it != props->end(); ++it) {
        const Json* def = Find(it.value(), "default");
        if (!value.contains(it.key())) {
          if (def == nullptr) continue;
          value[it.key()] = *def;
        }
        Defaults(it.value(), value[it.key()]);
      }
    }
    if (const Json* extra = Find(schema, "additionalProperties");
        extra != nullptr && extra->is_object()) {
      for (auto it = value.begin(); it != value.end(); ++it)
        Defaults(*extra, it.value());
    }
  } else if (value.is_array()) {
    if (const Json* items = Find(schema, "items"); items != nullptr) {
      for (Json& e : value) Defaults(*items, e);
    }
  }
}

std::string Short(const Json& v) {
  std::string s =
      v.is_string() ? absl::StrCat("\"", v.get<std::string>(), "\"") : Dump(v);
  return s.size() > 64 ? s.substr(0, 61) + "..." : s;
}

bool TypeMatches(const std::string& type, const Json& v) {
  if (type == "string") return v.is_string();
  if (type == "integer") {
    return v.is_number_integer() ||
           (v.is_number_float() &&
            std::floor(v.get<double>()) == v.get<double>());
  }
  if (type == "number") return v.is_number();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  return true;
}

void Validate(const Json& schema, const Json& v, const std::string& path,
              std::vector<std::string>& errors) {
  if (!schema.is_object()) return;
  auto fail = [&](absl::string_view what) {
    errors.push_back(absl::StrCat(path, ": Invalid value: ", Short(v), ": ",
                                  path, " in body ", what));
  };
  if (v.is_null()) {
    const Json* nullable = Find(schema, "nullable");
    if (nullable == nullptr || !nullable->is_boolean() ||
        !nullable->get<bool>()) {
      if (!GetString(schema, "type").empty()) {
        errors.push_back(absl::StrCat(path, ": Invalid value: \"null\": ", path,
                                      " in body must be of type ",
                                      GetString(schema, "type"), ": \"null\""));
      }
    }
    return;
  }
  const Json* int_or_string = Find(schema, "x-kubernetes-int-or-string");
  if (int_or_string != nullptr && int_or_string->is_boolean() &&
      int_or_string->get<bool>()) {
    if (!v.is_string() && !TypeMatches("integer", v))
      fail("must be of type integer or string");
    return;
  }
  std::string type = GetString(schema, "type");
  if (!type.empty() && !TypeMatches(type, v)) {
    errors.push_back(absl::StrCat(path, ": Invalid value: \"", v.type_name(),
                                  "\": ", path, " in body must be of type ",
                                  type, ": \"", v.type_name(), "\""));
    return;
  }
  if (const Json* e = Find(schema, "enum"); e != nullptr && e->is_array()) {
    bool ok = false;
    for (const Json& allowed : *e) ok = ok || allowed == v;
    if (!ok) {
      std::vector<std::string> values;
      for (const Json& allowed : *e) values.push_back(Short(allowed));
      errors.push_back(
          absl::StrCat(path, ": Unsupported value: ", Short(v),
                       ": supported values: ", absl::StrJoin(values, ", ")));
    }
  }
  if (v.is_number()) {
    double d = v.get<double>();
    auto flag = [&](const char* k) {
      const Json* f = Find(schema, k);
      return f != nullptr && f->is_boolean() && f->get<bool>();
    };
    if (const Json* m = Find(schema, "minimum");
        m != nullptr && m->is_number()) {
      double min = m->get<double>();
      if (flag("exclusiveMinimum") ? d <= min : d < min) {
        fail(absl::StrCat("should be greater than ",
                          flag("exclusiveMinimum") ? "" : "or equal to ",
                          Dump(*m)));
      }
    }
    if (const Json* m = Find(schema, "maximum");
        m != nullptr && m->is_number()) {
      double max = m->get<double>();
      if (flag("exclusiveMaximum") ? d >= max : d > max) {
        fail(absl::StrCat("should be less than ",
                          flag("exclusiveMaximum") ? "" : "or equal to ",
                          Dump(*m)));
      }
    }
  }
  if (v.is_string()) {
    size_t len = v.get_ref<const std::string&>().size();
    if (auto min = GetInt(schema, "minLength");
        min && static_cast<int64_t>(len) < *min) {
      fail(absl::StrCat("should be at least ", *min, " chars long"));
    }
    if (auto max = GetInt(schema, "maxLength");
        max && static_cast<int64_t>(len) > *max) {
      errors.push_back(absl::StrCat(path, ": Too long: may not be more than ",
                                    *max, " bytes"));
    }
  }
  if (v.is_array()) {
    if (auto min = GetInt(schema, "minItems");
        min && static_cast<int64_t>(v.size()) < *min) {
      fail(absl::StrCat("should have at least ", *min, " items"));
    }
    if (auto max = GetInt(schema, "maxItems");
        max && static_cast<int64_t>(v.size()) > *max) {
      errors.push_back(absl::StrCat(path, ": Too many: ", v.size(),
                                    ": must have at most ", *max, " items"));
    }
    if (const Json* items = Find(schema, "items")) {
      for (size_t i = 0; i < v.size(); ++i) {
        Validate(*items, v[i], absl::StrCat(path, "[", i, "]"), errors);
      }
    }
  }
  if (v.is_object()) {
    if (auto max = GetInt(schema, "maxProperties");
        max && static_cast<int64_t>(v.size()) > *max) {
      errors.push_back(absl::StrCat(path, ": Too many: ", v.size(),
                                    ": must have at most ", *max, " items"));
    }
    if (const Json* req = Find(schema, "required");
        req != nullptr && req->is_array()) {
      for (const Json& r : *req) {
        if (r.is_string() && !v.contains(r.get<std::string>())) {
          errors.push_back(absl::StrCat(path, path.empty() ? "" : ".",
                                        r.get<std::string>(),
                                        ": Required value"));
        }
      }
    }
    const Json* props = Find(schema, "properties");
    const Json* extra = Find(schema, "additionalProperties");
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (path.empty() && it.key() == "metadata") continue;
      std::string child =
          path.empty() ? it.key() : absl::StrCat(path, ".", it.key());
      if (const Json* p = props == nullptr ? nullptr : Find(*props, it.key())) {
        Validate(*p, it.value(), child, errors);
      } else if (extra != nullptr && extra->is_object()) {
        Validate(*extra, it.value(), child, errors);
      }
    }
  }
}

}  // namespace

void ApplySchemaDefaults(const Json& schema, Json& object) {
  Defaults(schema, object);
}

std::vector<std::string> ValidateSchema(const Json& schema,
                                        const Json& object) {
  std::vector<std::string> errors;
  Validate(schema, object, "", errors);
  return errors;
}

}  // namespace wisp::apiserver
