#include "operator/apiserver/patch.h"

#include <cstdlib>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controller/base/status_macros.h"
#include "operator/apiserver/errors.h"

namespace wisp::apiserver {

// ---------------------------------------------------------------------------------------------
// RFC 7386

Json MergePatch(const Json& target, const Json& patch) {
  if (!patch.is_object()) return patch;
  Json result = target.is_object() ? target : Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      result.erase(it.key());
      continue;
    }
    auto existing = result.find(it.key());
    result[it.key()] =
        MergePatch(existing != result.end() ? *existing : Json(), it.value());
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Strategic merge patch (subset)

namespace {

constexpr absl::string_view kPatchDirective = "$patch";
constexpr absl::string_view kRetainKeys = "$retainKeys";
constexpr absl::string_view kSetElementOrder = "$setElementOrder/";
constexpr absl::string_view kDeleteFromPrimitiveList =
    "$deleteFromPrimitiveList/";

bool AnyElementHas(const Json& list, const char* key) {
  if (!list.is_array()) return false;
  for (const Json& e : list) {
    if (e.is_object() && e.contains(key)) return true;
  }
  return false;
}

// The merge key of a list field, or "" when the list is replaced as a whole.
std::string MergeKeyFor(absl::string_view field, const Json& live,
                        const Json& patch) {
  if (field == "containers" || field == "initContainers" ||
      field == "ephemeralContainers" || field == "volumes" || field == "env" ||
      field == "imagePullSecrets") {
    return "name";
  }
  if (field == "volumeMounts") return "mountPath";
  if (field == "volumeDevices") return "devicePath";
  if (field == "conditions") return "type";
  if (field == "ownerReferences") return "uid";
  if (field == "topologySpreadConstraints") return "topologyKey";
  if (field == "hostAliases") return "ip";
  if (field == "ports") {
    return AnyElementHas(live, "containerPort") ||
                   AnyElementHas(patch, "containerPort")
               ? "containerPort"
               : "port";
  }
  return "";
}

bool IsSetList(absl::string_view field) { return field == "finalizers"; }

bool IsDirective(const Json& v, absl::string_view which) {
  const Json* d = Find(v, kPatchDirective);
  return d != nullptr && d->is_string() && d->get<std::string>() == which;
}

Json SmpMap(const Json& live, const Json& patch);

// Copies a patch value that has nothing to merge with, dropping directives
// inside it.
Json StripValue(const Json& v) {
  if (v.is_object()) return SmpMap(Json::object(), v);
  if (v.is_array()) {
    Json out = Json::array();
    for (const Json& e : v) {
      if (e.is_object() &&
          (IsDirective(e, "delete") || IsDirective(e, "replace")) &&
          e.size() == 1) {
        continue;
      }
      if (e.is_object() && IsDirective(e, "delete")) continue;
      out.push_back(StripValue(e));
    }
    return out;
  }
  return v;
}

Json SmpList(const Json& live, const Json& patch, const std::string& key) {
  for (const Json& e : patch) {
    if (e.is_object() && IsDirective(e, "replace")) return StripValue(patch);
  }
  Json result = live;
  for (const Json& e : patch) {
    if (!e.is_object()) {
      result.push_back(e);
      continue;
    }
    const Json* kv = Find(e, key);
    if (kv == nullptr) {
      if (!IsDirective(e, "delete")) result.push_back(StripValue(e));
      continue;
    }
    if (IsDirective(e, "delete")) {
      Json kept = Json::array();
      for (const Json& l : result) {
        const Json* lk = Find(l, key);
        if (lk == nullptr || *lk != *kv) kept.push_back(l);
      }
      result = std::move(kept);
      continue;
    }
    bool merged = false;
    for (Json& l : result) {
      const Json* lk = Find(l, key);
      if (lk != nullptr && *lk == *kv) {
        l = SmpMap(l, e);
        merged = true;
        break;
      }
    }
    if (!merged) result.push_back(SmpMap(Json::object(), e));
  }
  return result;
}

Json SmpMap(const Json& live, const Json& patch) {
  if (!patch.is_object()) return patch;
  if (IsDirective(patch, "replace")) {
    Json copy = patch;
    copy.erase(std::string(kPatchDirective));
    return SmpMap(Json::object(), copy);
  }
  Json result = live.is_object() ? live : Json::object();
  const Json* retain = Find(patch, kRetainKeys);
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    if (k == kPatchDirective || k == kRetainKeys ||
        absl::StartsWith(k, kSetElementOrder)) {
      continue;
    }
    if (absl::StartsWith(k, kDeleteFromPrimitiveList)) {
      std::string field = k.substr(kDeleteFromPrimitiveList.size());
      Json* list = FindMutable(result, field);
      if (list != nullptr && list->is_array() && v.is_array()) {
        Json kept = Json::array();
        for (const Json& e : *list) {
          bool drop = false;
          for (const Json& d : v) drop = drop || d == e;
          if (!drop) kept.push_back(e);
        }
        *list = std::move(kept);
      }
      continue;
    }
    if (v.is_null() || (v.is_object() && IsDirective(v, "delete"))) {
      result.erase(k);
      continue;
    }
    auto existing = result.find(k);
    bool has = existing != result.end();
    if (v.is_object()) {
      result[k] =
          SmpMap(has && existing->is_object() ? *existing : Json::object(), v);
    } else if (v.is_array() && has && existing->is_array()) {
      std::string key = MergeKeyFor(k, *existing, v);
      if (!key.empty()) {
        result[k] = SmpList(*existing, v, key);
      } else if (IsSetList(k)) {
        Json merged = *existing;
        for (const Json& e : v) {
          bool present = false;
          for (const Json& m : merged) present = present || m == e;
          if (!present) merged.push_back(e);
        }
        result[k] = std::move(merged);
      } else {
        result[k] = StripValue(v);
      }
    } else {
      result[k] = StripValue(v);
    }
  }
  if (retain != nullptr && retain->is_array()) {
    std::vector<std::string> drop;
    for (auto it = result.begin(); it != result.end(); ++it) {
      bool keep = false;
      for (const Json& r : *retain)
        keep = keep || (r.is_string() && r.get<std::string>() == it.key());
      if (!keep) drop.push_back(it.key());
    }
    for (const std::string& k : drop) result.erase(k);
  }
  return result;
}

}  // namespace

absl::StatusOr<Json> StrategicMergePatch(const Json& target,
                                         const Json& patch) {
  if (!patch.is_object()) {
    return kerr::BadRequest("a strategic merge patch must be a JSON object");
  }
  return SmpMap(target, patch);
}

// ---------------------------------------------------------------------------------------------
// RFC 6902

namespace {

absl::StatusOr<std::vector<std::string>> ParsePointer(const Json& op,
                                                      const char* field) {
  const Json* p = Find(op, field);
  if (p == nullptr || !p->is_string()) {
    return kerr::BadRequest(
        absl::StrCat("json patch operation is missing \"", field, "\""));
  }
  std::string text = p->get<std::string>();
  std::vector<std::string> tokens;
  if (text.empty()) return tokens;
  if (text[0] != '/') {
    return kerr::BadRequest(
        absl::StrCat("json pointer \"", text, "\" must start with /"));
  }
  for (absl::string_view raw :
       absl::StrSplit(absl::string_view(text).substr(1), '/')) {
    std::string token;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() &&
          (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        token.push_back(raw[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        token.push_back(raw[i]);
      }
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

std::optional<size_t> ParseIndex(const std::string& token) {
  if (token.empty() || token.size() > 9) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  return static_cast<size_t>(std::strtoul(token.c_str(), nullptr, 10));
}

std::string PointerText(const std::vector<std::string>& tokens, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < tokens.size(); ++i)
    absl::StrAppend(&out, "/", tokens[i]);
  return out;
}

// The value at the first `n` tokens, or nullptr.
Json* Resolve(Json& doc, const std::vector<std::string>& tokens, size_t n) {
  Json* cur = &doc;
  for (size_t i = 0; i < n; ++i) {
    if (cur->is_object()) {
      auto it = cur->find(tokens[i]);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      std::optional<size_t> idx = ParseIndex(tokens[i]);
      if (!idx.has_value() || *idx >= cur->size()) return nullptr;
      cur = &(*cur)[*idx];
    } else {
      return nullptr;
    }
  }
  return cur;
}

absl::Status Add(Json& doc, const std::vector<std::string>& path, Json value) {
  if (path.empty()) {
    doc = std::move(value);
    return absl::OkStatus();
  }
  Json* parent = Resolve(doc, path, path.size() - 1);
  if (parent == nullptr) {
    return kerr::Invalid(absl::StrCat("json patch: path ",
                                      PointerText(path, path.size() - 1),
                                      " does not exist"));
  }
  const std::string& last = path.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
    return absl::OkStatus();
  }
  if (parent->is_array()) {
    if (last == "-") {
      parent->push_back(std::move(value));
      return absl::OkStatus();
    }
    std::optional<size_t> idx = ParseIndex(last);
    if (!idx.has_value() || *idx > parent->size()) {
      return kerr::Invalid(
          absl::StrCat("json patch: index ", last, " out of range"));
    }
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(*idx),
                   std::move(value));
    return absl::OkStatus();
  }
  return kerr::Invalid(
      absl::StrCat("json patch: ", PointerText(path, path.size() - 1),
                   " is not an object or array"));
}

absl::StatusOr<Json> Remove(Json& doc, const std::vector<std::string>& path) {
  if (path.empty())
    return kerr::Invalid("json patch: cannot remove the whole document");
  Json* parent = Resolve(doc, path, path.size() - 1);
  const std::string& last = path.back();
  if (parent != nullptr && parent->is_object()) {
    auto it = parent->find(last);
    if (it != parent->end()) {
      Json removed = std::move(*it);
      parent->erase(it);
      return removed;
    }
  } else if (parent != nullptr && parent->is_array()) {
    std::optional<size_t> idx = ParseIndex(last);
    if (idx.has_value() && *idx < parent->size()) {
      Json removed = std::move((*parent)[*idx]);
      parent->erase(*idx);
      return removed;
    }
  }
  return kerr::Invalid(absl::StrCat(
      "json patch: path ", PointerText(path, path.size()), " does not exist"));
}

}  // namespace

absl::StatusOr<Json> JsonPatch(const Json& target, const Json& patch) {
  if (!patch.is_array())
    return kerr::BadRequest("a json patch must be a JSON array");
  Json doc = target;
  for (const Json& op : patch) {
    if (!op.is_object())
      return kerr::BadRequest("json patch operations must be objects");
    std::string name = GetString(op, "op");
    ASSIGN_OR_RETURN(std::vector<std::string> path, ParsePointer(op, "path"));
    const Json* value = Find(op, "value");
    if (name == "add" || name == "replace" || name == "test") {
      if (value == nullptr) {
        return kerr::BadRequest(
            absl::StrCat("json patch ", name, " needs a \"value\""));
      }
    }
    if (name == "add") {
      ABSL_RETURN_IF_ERROR(Add(doc, path, *value));
    } else if (name == "remove") {
      ABSL_RETURN_IF_ERROR(Remove(doc, path).status());
    } else if (name == "replace") {
      Json* at = Resolve(doc, path, path.size());
      if (at == nullptr) {
        return kerr::Invalid(absl::StrCat("json patch: path ",
                                          PointerText(path, path.size()),
                                          " does not exist"));
      }
      *at = *value;
    } else if (name == "move" || name == "copy") {
      ASSIGN_OR_RETURN(std::vector<std::string> from, ParsePointer(op, "from"));
      if (name == "move") {
        bool into_itself = from.size() < path.size();
        for (size_t i = 0; into_itself && i < from.size(); ++i)
          into_itself = from[i] == path[i];
        if (into_itself)
          return kerr::Invalid("json patch: cannot move a value into itself");
        ASSIGN_OR_RETURN(Json moved, Remove(doc, from));
        ABSL_RETURN_IF_ERROR(Add(doc, path, std::move(moved)));
      } else {
        Json* src = Resolve(doc, from, from.size());
        if (src == nullptr) {
          return kerr::Invalid(absl::StrCat("json patch: path ",
                                            PointerText(from, from.size()),
                                            " does not exist"));
        }
        Json copy = *src;
        ABSL_RETURN_IF_ERROR(Add(doc, path, std::move(copy)));
      }
    } else if (name == "test") {
      Json* at = Resolve(doc, path, path.size());
      if (at == nullptr || *at != *value) {
        return kerr::Invalid(absl::StrCat("json patch: test failed at ",
                                          PointerText(path, path.size())));
      }
    } else {
      return kerr::BadRequest(
          absl::StrCat("json patch: unknown operation \"", name, "\""));
    }
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// Server-side apply (simplified)

namespace {

Json FieldSetOf(const Json& v) {
  Json out = Json::object();
  if (!v.is_object()) return out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const Json& child = it.value();
    out["f:" + it.key()] = child.is_object() && !child.empty()
                               ? FieldSetOf(child)
                               : Json::object();
  }
  return out;
}

// Removes from `obj` the fields in `old_set` that are not in `new_set`.
void RemoveDropped(Json& obj, const Json& old_set, const Json& new_set) {
  if (!obj.is_object() || !old_set.is_object()) return;
  for (auto it = old_set.begin(); it != old_set.end(); ++it) {
    if (!absl::StartsWith(it.key(), "f:")) continue;
    std::string field = it.key().substr(2);
    const Json* kept = Find(new_set, it.key());
    if (kept == nullptr) {
      obj.erase(field);
    } else if (it.value().is_object() && !it.value().empty()) {
      Json* child = FindMutable(obj, field);
      if (child != nullptr) RemoveDropped(*child, it.value(), *kept);
    }
  }
}

void ApplyInto(Json& dst, const Json& src) {
  for (auto it = src.begin(); it != src.end(); ++it) {
    const Json& v = it.value();
    if (v.is_null()) {
      dst.erase(it.key());
      continue;
    }
    Json* existing = FindMutable(dst, it.key());
    if (v.is_object() && existing != nullptr && existing->is_object()) {
      ApplyInto(*existing, v);
    } else {
      dst[it.key()] = v;
    }
  }
}

}  // namespace

Json FieldSet(const Json& applied) {
  Json body = applied.is_object() ? applied : Json::object();
  body.erase("apiVersion");
  body.erase("kind");
  if (Json* meta = FindMutable(body, "metadata");
      meta != nullptr && meta->is_object()) {
    for (const char* k :
         {"name", "namespace", "uid", "resourceVersion", "generation",
          "creationTimestamp", "managedFields", "deletionTimestamp",
          "deletionGracePeriodSeconds", "selfLink"}) {
      meta->erase(k);
    }
    if (meta->empty()) body.erase("metadata");
  }
  return FieldSetOf(body);
}

Json ServerSideApply(const Json& live, const Json& applied,
                     absl::string_view manager, absl::string_view api_version,
                     absl::string_view timestamp,
                     absl::string_view subresource) {
  Json intent = applied;
  if (Json* meta = FindMutable(intent, "metadata");
      meta != nullptr && meta->is_object()) {
    meta->erase("managedFields");
  }
  Json new_set = FieldSet(intent);

  Json result;
  Json entries = Json::array();
  Json old_set;
  if (live.is_object()) {
    result = live;
    const Json* managed = FindPath(live, {"metadata", "managedFields"});
    if (managed != nullptr && managed->is_array()) {
      for (const Json& e : *managed) {
        bool mine = e.is_object() && GetString(e, "manager") == manager &&
                    GetString(e, "operation") == "Apply" &&
                    GetString(e, "subresource") == subresource;
        if (mine) {
          const Json* fs = Find(e, "fieldsV1");
          if (fs != nullptr) old_set = *fs;
        } else {
          entries.push_back(e);
        }
      }
    }
    if (!old_set.is_null()) RemoveDropped(result, old_set, new_set);
    ApplyInto(result, intent);
  } else {
    result = intent;
  }

  Json entry = {{"manager", std::string(manager)},
                {"operation", "Apply"},
                {"apiVersion", std::string(api_version)},
                {"time", std::string(timestamp)},
                {"fieldsType", "FieldsV1"},
                {"fieldsV1", new_set}};
  if (!subresource.empty()) entry["subresource"] = std::string(subresource);
  entries.push_back(std::move(entry));
  EnsureObject(result, "metadata")["managedFields"] = std::move(entries);
  return result;
}

}  // namespace wisp::apiserver
