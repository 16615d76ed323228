#include "operator/apiserver/resources.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "operator/apiserver/errors.h"

namespace wisp::apiserver {

std::string ResourceType::ApiVersion() const {
  return group.empty() ? version : absl::StrCat(group, "/", version);
}

std::string ResourceType::GroupResource() const {
  return group.empty() ? resource : absl::StrCat(resource, ".", group);
}

namespace {

// (kind rank: 0 GA, 1 beta, 2 alpha, 3 other; major; minor) for
// Kubernetes-style versions.
std::tuple<int, int64_t, int64_t> VersionRank(absl::string_view v) {
  if (v.size() < 2 || v[0] != 'v' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(v[1]))) {
    return {3, 0, 0};
  }
  size_t i = 1;
  while (i < v.size() && absl::ascii_isdigit(static_cast<unsigned char>(v[i])))
    ++i;
  int64_t major = 0;
  if (!absl::SimpleAtoi(v.substr(1, i - 1), &major)) return {3, 0, 0};
  if (i == v.size()) return {0, major, 0};
  absl::string_view rest = v.substr(i);
  int kind;
  if (absl::StartsWith(rest, "beta")) {
    kind = 1;
    rest.remove_prefix(4);
  } else if (absl::StartsWith(rest, "alpha")) {
    kind = 2;
    rest.remove_prefix(5);
  } else {
    return {3, 0, 0};
  }
  int64_t minor = 0;
  if (!rest.empty() && !absl::SimpleAtoi(rest, &minor)) return {3, 0, 0};
  return {kind, major, minor};
}

ResourceType Builtin(absl::string_view group, absl::string_view resource,
                     absl::string_view singular, absl::string_view kind,
                     bool namespaced,
                     std::vector<std::string> short_names = {}) {
  ResourceType t;
  t.group = std::string(group);
  t.version = "v1";
  t.resource = std::string(resource);
  t.singular = std::string(singular);
  t.kind = std::string(kind);
  t.list_kind = absl::StrCat(kind, "List");
  t.namespaced = namespaced;
  t.short_names = std::move(short_names);
  t.columns.push_back({"Age", "date", "", "CreationTimestamp",
                       ".metadata.creationTimestamp", 0});
  return t;
}

}  // namespace

int CompareVersions(absl::string_view a, absl::string_view b) {
  auto ra = VersionRank(a), rb = VersionRank(b);
  if (std::get<0>(ra) != std::get<0>(rb))
    return std::get<0>(ra) < std::get<0>(rb) ? -1 : 1;
  if (std::get<0>(ra) == 3) return a < b ? -1 : (a == b ? 0 : 1);
  if (std::get<1>(ra) != std::get<1>(rb))
    return std::get<1>(ra) > std::get<1>(rb) ? -1 : 1;
  if (std::get<2>(ra) != std::get<2>(rb))
    return std::get<2>(ra) > std::get<2>(rb) ? -1 : 1;
  return 0;
}

std::vector<ResourceType> BuiltinResources() {
  std::vector<ResourceType> all;
  auto add = [&](ResourceType t, bool status = false, bool generation = false,
                 bool scale = false, bool in_all = false) {
    t.has_status = status;
    t.tracks_generation = generation;
    if (scale) {
      ScaleSpec s;
      s.label_selector_path = ".spec.selector";
      t.scale = s;
    }
    if (in_all) t.categories.push_back("all");
    all.push_back(std::move(t));
  };
  add(Builtin("", "namespaces", "namespace", "Namespace", false, {"ns"}), true);
  add(Builtin("", "configmaps", "configmap", "ConfigMap", true, {"cm"}));
  add(Builtin("", "secrets", "secret", "Secret", true));
  add(Builtin("", "services", "service", "Service", true, {"svc"}), true, false,
      false, true);
  add(Builtin("", "pods", "pod", "Pod", true, {"po"}), true, false, false,
      true);
  {
    ResourceType events = Builtin("", "events", "event", "Event", true, {"ev"});
    events.allow_create_on_update = true;
    add(std::move(events));
  }
  add(Builtin("", "serviceaccounts", "serviceaccount", "ServiceAccount", true,
              {"sa"}));
  {
    ResourceType endpoints =
        Builtin("", "endpoints", "endpoints", "Endpoints", true, {"ep"});
    endpoints.allow_create_on_update = true;
    add(std::move(endpoints));
  }
  add(Builtin("", "nodes", "node", "Node", false, {"no"}), true);
  add(Builtin("apps", "deployments", "deployment", "Deployment", true,
              {"deploy"}),
      true, true, true, true);
  add(Builtin("apps", "replicasets", "replicaset", "ReplicaSet", true, {"rs"}),
      true, true, true, true);
  add(Builtin("apps", "statefulsets", "statefulset", "StatefulSet", true,
              {"sts"}),
      true, true, true, true);
  add(Builtin("apps", "daemonsets", "daemonset", "DaemonSet", true, {"ds"}),
      true, true, false, true);
  add(Builtin("policy", "poddisruptionbudgets", "poddisruptionbudget",
              "PodDisruptionBudget", true, {"pdb"}),
      true, true);
  {
    ResourceType leases =
        Builtin("coordination.k8s.io", "leases", "lease", "Lease", true);
    leases.allow_create_on_update = true;
    add(std::move(leases));
  }
  add(Builtin("discovery.k8s.io", "endpointslices", "endpointslice",
              "EndpointSlice", true));
  // Kubernetes gives NetworkPolicy a generation and, since 1.28, no status.
  add(Builtin("networking.k8s.io", "networkpolicies", "networkpolicy",
              "NetworkPolicy", true, {"netpol"}),
      false, true);
  add(Builtin("apiextensions.k8s.io", "customresourcedefinitions",
              "customresourcedefinition", "CustomResourceDefinition", false,
              {"crd", "crds"}),
      true, true);
  add(Builtin("rbac.authorization.k8s.io", "roles", "role", "Role", true));
  add(Builtin("rbac.authorization.k8s.io", "rolebindings", "rolebinding",
              "RoleBinding", true));
  add(Builtin("rbac.authorization.k8s.io", "clusterroles", "clusterrole",
              "ClusterRole", false));
  add(Builtin("rbac.authorization.k8s.io", "clusterrolebindings",
              "clusterrolebinding", "ClusterRoleBinding", false));
  {
    ResourceType events =
        Builtin("events.k8s.io", "events", "event", "Event", true, {"ev"});
    events.allow_create_on_update = true;
    add(std::move(events));
  }
  return all;
}

absl::StatusOr<std::vector<ResourceType>> ResourcesFromCrd(const Json& crd) {
  std::string name = GetStringPath(crd, {"metadata", "name"});
  auto invalid = [&](absl::string_view field, absl::string_view why) {
    return kerr::Invalid(
        absl::StrCat("CustomResourceDefinition.apiextensions.k8s.io \"", name,
                     "\" is invalid: ", field, ": ", why));
  };
  const Json* spec = Find(crd, "spec");
  if (spec == nullptr || !spec->is_object())
    return invalid("spec", "Required value");
  std::string group = GetString(*spec, "group");
  if (group.empty()) return invalid("spec.group", "Required value");
  const Json* names = Find(*spec, "names");
  if (names == nullptr || !names->is_object())
    return invalid("spec.names", "Required value");
  std::string plural = GetString(*names, "plural");
  std::string kind = GetString(*names, "kind");
  if (plural.empty()) return invalid("spec.names.plural", "Required value");
  if (kind.empty()) return invalid("spec.names.kind", "Required value");
  if (name != absl::StrCat(plural, ".", group)) {
    return invalid("metadata.name",
                   absl::StrCat("must be spec.names.plural+\".\"+spec.group (",
                                plural, ".", group, ")"));
  }
  std::string scope = GetString(*spec, "scope");
  if (scope != "Namespaced" && scope != "Cluster") {
    return invalid("spec.scope",
                   "Unsupported value: must be Namespaced or Cluster");
  }
  const Json* versions = Find(*spec, "versions");
  if (versions == nullptr || !versions->is_array() || versions->empty()) {
    return invalid("spec.versions", "Required value");
  }
  std::string singular = GetString(*names, "singular");
  if (singular.empty()) singular = absl::AsciiStrToLower(kind);
  std::string list_kind = GetString(*names, "listKind");
  if (list_kind.empty()) list_kind = absl::StrCat(kind, "List");
  std::vector<std::string> short_names, categories;
  for (const char* field : {"shortNames", "categories"}) {
    const Json* list = Find(*names, field);
    if (list == nullptr || !list->is_array()) continue;
    for (const Json& s : *list) {
      if (s.is_string()) {
        (field[0] == 's' ? short_names : categories)
            .push_back(s.get<std::string>());
      }
    }
  }

  std::vector<ResourceType> out;
  int storage_versions = 0;
  for (const Json& v : *versions) {
    std::string version = GetString(v, "name");
    if (version.empty())
      return invalid("spec.versions[].name", "Required value");
    const Json* storage = Find(v, "storage");
    if (storage != nullptr && storage->is_boolean() && storage->get<bool>())
      ++storage_versions;
    const Json* served = Find(v, "served");
    if (served == nullptr || !served->is_boolean() || !served->get<bool>())
      continue;
    ResourceType t;
    t.group = group;
    t.version = version;
    t.resource = plural;
    t.singular = singular;
    t.kind = kind;
    t.list_kind = list_kind;
    t.namespaced = scope == "Namespaced";
    t.short_names = short_names;
    t.categories = categories;
    t.custom = true;
    t.tracks_generation = true;
    if (const Json* sub = FindPath(v, {"subresources"});
        sub != nullptr && sub->is_object()) {
      t.has_status = Find(*sub, "status") != nullptr;
      if (const Json* scale = Find(*sub, "scale");
          scale != nullptr && scale->is_object()) {
        ScaleSpec s;
        s.spec_replicas_path = GetString(*scale, "specReplicasPath");
        s.status_replicas_path = GetString(*scale, "statusReplicasPath");
        s.label_selector_path = GetString(*scale, "labelSelectorPath");
        if (s.spec_replicas_path.empty()) {
          return invalid("spec.versions[].subresources.scale.specReplicasPath",
                         "Required value");
        }
        t.scale = s;
      }
    }
    if (const Json* schema = FindPath(v, {"schema", "openAPIV3Schema"}))
      t.schema = *schema;
    const Json* columns = Find(v, "additionalPrinterColumns");
    if (columns != nullptr && columns->is_array() && !columns->empty()) {
      for (const Json& c : *columns) {
        PrinterColumn col;
        col.name = GetString(c, "name");
        col.type = GetString(c, "type");
        col.format = GetString(c, "format");
        col.description = GetString(c, "description");
        col.json_path = GetString(c, "jsonPath");
        col.priority = static_cast<int>(GetInt(c, "priority").value_or(0));
        if (col.name.empty() || col.json_path.empty()) {
          return invalid("spec.versions[].additionalPrinterColumns",
                         "name and jsonPath are required");
        }
        if (!EvalJsonPath(col.json_path, Json::object()).ok()) {
          return invalid(
              "spec.versions[].additionalPrinterColumns[].jsonPath",
              absl::StrCat("unsupported JSONPath \"", col.json_path, "\""));
        }
        t.columns.push_back(std::move(col));
      }
    } else {
      t.columns.push_back(
          {"Age", "date", "", "", ".metadata.creationTimestamp", 0});
    }
    out.push_back(std::move(t));
  }
  if (storage_versions != 1) {
    return invalid("spec.versions",
                   "must have exactly one version marked as storage version");
  }
  std::sort(out.begin(), out.end(),
            [](const ResourceType& a, const ResourceType& b) {
              return CompareVersions(a.version, b.version) < 0;
            });
  return out;
}

ResourceRegistry::ResourceRegistry() : builtins_(BuiltinResources()) {}

void ResourceRegistry::SetCustom(const std::string& crd_name,
                                 std::vector<ResourceType> types) {
  if (types.empty()) {
    custom_.erase(crd_name);
  } else {
    custom_[crd_name] = std::move(types);
  }
}

std::vector<ResourceType> ResourceRegistry::All() const {
  std::vector<ResourceType> all = builtins_;
  for (const auto& [name, types] : custom_)
    all.insert(all.end(), types.begin(), types.end());
  return all;
}

std::optional<ResourceType> ResourceRegistry::Find(
    absl::string_view group, absl::string_view version,
    absl::string_view resource) const {
  for (const ResourceType& t : builtins_) {
    if (t.group == group && t.version == version && t.resource == resource)
      return t;
  }
  for (const auto& [name, types] : custom_) {
    for (const ResourceType& t : types) {
      if (t.group == group && t.version == version && t.resource == resource)
        return t;
    }
  }
  return std::nullopt;
}

std::optional<ResourceType> ResourceRegistry::FindAnyVersion(
    absl::string_view group, absl::string_view resource) const {
  for (const ResourceType& t : builtins_) {
    if (t.group == group && t.resource == resource) return t;
  }
  for (const auto& [name, types] : custom_) {
    for (const ResourceType& t : types) {
      if (t.group == group && t.resource == resource) return t;
    }
  }
  return std::nullopt;
}

}  // namespace wisp::apiserver
