#include "operator/apiserver/discovery.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace wisp::apiserver {
namespace {

const Json& ResourceVerbs() {
  static const Json* verbs =
      new Json(Json::array({"create", "delete", "deletecollection", "get",
                            "list", "patch", "update", "watch"}));
  return *verbs;
}

const Json& SubresourceVerbs() {
  static const Json* verbs = new Json(Json::array({"get", "patch", "update"}));
  return *verbs;
}

// Groups in first-seen order, each with its versions in preference order.
std::vector<std::pair<std::string, std::vector<std::string>>> GroupVersions(
    const std::vector<ResourceType>& types) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  for (const ResourceType& t : types) {
    auto g = std::find_if(groups.begin(), groups.end(),
                          [&](const auto& e) { return e.first == t.group; });
    if (g == groups.end()) {
      groups.push_back({t.group, {}});
      g = groups.end() - 1;
    }
    if (std::find(g->second.begin(), g->second.end(), t.version) ==
        g->second.end()) {
      g->second.push_back(t.version);
    }
  }
  for (auto& [group, versions] : groups) {
    std::sort(versions.begin(), versions.end(),
              [](const std::string& a, const std::string& b) {
                return CompareVersions(a, b) < 0;
              });
  }
  return groups;
}

std::string GroupVersion(absl::string_view group, absl::string_view version) {
  return group.empty() ? std::string(version)
                       : absl::StrCat(group, "/", version);
}

Json AggregatedResource(const ResourceType& t) {
  Json r = {{"resource", t.resource},
            {"responseKind",
             {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}},
            {"scope", t.namespaced ? "Namespaced" : "Cluster"},
            {"singularResource", t.singular},
            {"verbs", ResourceVerbs()}};
  if (!t.short_names.empty()) r["shortNames"] = t.short_names;
  if (!t.categories.empty()) r["categories"] = t.categories;
  Json subs = Json::array();
  if (t.scale.has_value()) {
    subs.push_back(
        {{"subresource", "scale"},
         {"responseKind",
          {{"group", "autoscaling"}, {"version", "v1"}, {"kind", "Scale"}}},
         {"verbs", SubresourceVerbs()}});
  }
  if (t.has_status) {
    subs.push_back(
        {{"subresource", "status"},
         {"responseKind",
          {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}},
         {"verbs", SubresourceVerbs()}});
  }
  if (!subs.empty()) r["subresources"] = std::move(subs);
  return r;
}

Json ParamSpec(const char* name) {
  return {{"name", name},
          {"in", "query"},
          {"schema", {{"type", "string"}}},
          {"uniqueItems", true}};
}

}  // namespace

Json VersionInfo() {
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", "v1.32.0"},
          {"gitCommit", "0000000000000000000000000000000000000000"},
          {"gitTreeState", "clean"},
          {"buildDate", "2024-12-11T00:00:00Z"},
          {"goVersion", "go1.23.0"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

Json AggregatedDiscovery(const std::vector<ResourceType>& types, bool core) {
  Json items = Json::array();
  for (const auto& [group, versions] : GroupVersions(types)) {
    if (group.empty() != core) continue;
    Json version_list = Json::array();
    for (const std::string& v : versions) {
      Json resources = Json::array();
      for (const ResourceType& t : types) {
        if (t.group == group && t.version == v)
          resources.push_back(AggregatedResource(t));
      }
      version_list.push_back({{"version", v},
                              {"resources", std::move(resources)},
                              {"freshness", "Current"}});
    }
    items.push_back(
        {{"metadata", {{"name", group}, {"creationTimestamp", nullptr}}},
         {"versions", std::move(version_list)}});
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", "apidiscovery.k8s.io/v2"},
          {"metadata", Json::object()},
          {"items", std::move(items)}};
}

Json ApiVersions(absl::string_view server_address) {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"},
             {"serverAddress", std::string(server_address)}}}}};
}

namespace {
Json GroupEntry(const std::string& group,
                const std::vector<std::string>& versions) {
  Json vs = Json::array();
  for (const std::string& v : versions) {
    vs.push_back({{"groupVersion", GroupVersion(group, v)}, {"version", v}});
  }
  return {{"name", group}, {"versions", vs}, {"preferredVersion", vs.at(0)}};
}
}  // namespace

Json ApiGroupList(const std::vector<ResourceType>& types) {
  Json groups = Json::array();
  for (const auto& [group, versions] : GroupVersions(types)) {
    if (!group.empty()) groups.push_back(GroupEntry(group, versions));
  }
  return {{"kind", "APIGroupList"},
          {"apiVersion", "v1"},
          {"groups", std::move(groups)}};
}

std::optional<Json> ApiGroup(const std::vector<ResourceType>& types,
                             absl::string_view group) {
  for (const auto& [name, versions] : GroupVersions(types)) {
    if (name == group && !name.empty()) {
      Json g = GroupEntry(name, versions);
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return g;
    }
  }
  return std::nullopt;
}

std::optional<Json> ApiResourceList(const std::vector<ResourceType>& types,
                                    absl::string_view group,
                                    absl::string_view version) {
  Json resources = Json::array();
  bool found = false;
  for (const ResourceType& t : types) {
    if (t.group != group || t.version != version) continue;
    found = true;
    Json r = {{"name", t.resource},
              {"singularName", t.singular},
              {"namespaced", t.namespaced},
              {"kind", t.kind},
              {"verbs", ResourceVerbs()}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    resources.push_back(std::move(r));
    if (t.has_status) {
      resources.push_back({{"name", t.resource + "/status"},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"kind", t.kind},
                           {"verbs", SubresourceVerbs()}});
    }
    if (t.scale.has_value()) {
      resources.push_back({{"name", t.resource + "/scale"},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"group", "autoscaling"},
                           {"version", "v1"},
                           {"kind", "Scale"},
                           {"verbs", SubresourceVerbs()}});
    }
  }
  if (!found) return std::nullopt;
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", GroupVersion(group, version)},
              {"resources", std::move(resources)}};
}

Json OpenApiIndex(const std::vector<ResourceType>& types) {
  Json paths = Json::object();
  for (const auto& [group, versions] : GroupVersions(types)) {
    for (const std::string& v : versions) {
      std::optional<Json> doc = OpenApiDocument(types, group, v);
      std::string hash =
          absl::StrFormat("%016X", std::hash<std::string>()(Dump(*doc)));
      std::string path = group.empty() ? absl::StrCat("api/", v)
                                       : absl::StrCat("apis/", group, "/", v);
      paths[path] = {{"serverRelativeURL",
                      absl::StrCat("/openapi/v3/", path, "?hash=", hash)}};
    }
  }
  return {{"paths", std::move(paths)}};
}

std::optional<Json> OpenApiDocument(const std::vector<ResourceType>& types,
                                    absl::string_view group,
                                    absl::string_view version) {
  Json paths = Json::object();
  bool found = false;
  for (const ResourceType& t : types) {
    if (t.group != group || t.version != version) continue;
    found = true;
    std::string prefix = group.empty()
                             ? absl::StrCat("/api/", version)
                             : absl::StrCat("/apis/", group, "/", version);
    std::string item = t.namespaced
                           ? absl::StrCat(prefix, "/namespaces/{namespace}/",
                                          t.resource, "/{name}")
                           : absl::StrCat(prefix, "/", t.resource, "/{name}");
    Json gvk = {{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
    Json params =
        Json::array({ParamSpec("dryRun"), ParamSpec("fieldManager"),
                     ParamSpec("fieldValidation"), ParamSpec("force")});
    paths[item] = {{"patch",
                    {{"operationId", absl::StrCat("patch", t.kind)},
                     {"x-kubernetes-action", "patch"},
                     {"x-kubernetes-group-version-kind", gvk},
                     {"parameters", params},
                     {"responses", {{"200", {{"description", "OK"}}}}}}}};
  }
  if (!found) return std::nullopt;
  return Json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
              {"paths", std::move(paths)},
              {"components", {{"schemas", Json::object()}}}};
}

}  // namespace wisp::apiserver
