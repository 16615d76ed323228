// The resource types the API server serves: the built-in kinds an operator and
// kubectl need, and the custom resources that CustomResourceDefinition objects
// declare.
//
// A ResourceType is one group/version/resource with everything the server needs
// to serve it (scope, names, subresources, printer columns, write rules).
// Values are immutable once built and safe to copy between threads.
// ResourceRegistry is thread-compatible: the Store guards it.
#ifndef WISP_OPERATOR_APISERVER_RESOURCES_H_
#define WISP_OPERATOR_APISERVER_RESOURCES_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"
#include "operator/apiserver/table.h"

namespace wisp::apiserver {

// The scale subresource: where an object keeps its replica counts (simple
// dotted JSON paths).
struct ScaleSpec {
  std::string spec_replicas_path = ".spec.replicas";
  std::string status_replicas_path = ".status.replicas";
  std::string label_selector_path;  // "" = none; for Deployments the
                                    // spec.selector object
};

struct ResourceType {
  std::string group;  // "" for the core group
  std::string version;
  std::string resource;  // plural, lower case
  std::string singular;
  std::string kind;
  std::string list_kind;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool has_status = false;  // a status subresource: main writes keep .status
  std::optional<ScaleSpec> scale;      // a scale subresource
  std::vector<PrinterColumn> columns;  // Table columns after Name
  bool custom = false;                 // declared by a CRD
  bool tracks_generation = false;  // metadata.generation counts spec changes
  bool allow_create_on_update = false;  // PUT of a missing object creates it
  Json schema;  // CRD openAPIV3Schema (null for built-ins)

  // "apps/v1" or "v1".
  std::string ApiVersion() const;
  // "deployments.apps" or "configmaps": the name Kubernetes uses in messages.
  std::string GroupResource() const;
};

// Kubernetes' version ordering: GA before beta before alpha, higher numbers
// first; others last in lexical order. Negative when `a` sorts before (is
// preferred over) `b`.
int CompareVersions(absl::string_view a, absl::string_view b);

// The built-in resource types.
std::vector<ResourceType> BuiltinResources();

// The served resource types a CRD declares (one per served version). Errors:
// Invalid naming the offending field when the CRD is malformed.
absl::StatusOr<std::vector<ResourceType>> ResourcesFromCrd(const Json& crd);

class ResourceRegistry {
 public:
  ResourceRegistry();

  // Replaces the types declared by the CRD named `crd_name` (an empty list
  // removes them).
  void SetCustom(const std::string& crd_name, std::vector<ResourceType> types);

  // Every served type, built-ins first, then custom ones by CRD name.
  std::vector<ResourceType> All() const;
  std::optional<ResourceType> Find(absl::string_view group,
                                   absl::string_view version,
                                   absl::string_view resource) const;
  // Any served version of a group/resource (the preferred one).
  std::optional<ResourceType> FindAnyVersion(absl::string_view group,
                                             absl::string_view resource) const;

 private:
  std::vector<ResourceType> builtins_;
  std::map<std::string, std::vector<ResourceType>> custom_;
};

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_RESOURCES_H_
