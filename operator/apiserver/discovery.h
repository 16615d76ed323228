// The documents that describe what the server serves, built from the resource
// types: the version, legacy and aggregated (apidiscovery.k8s.io/v2) discovery,
// and the minimal OpenAPI v3 index and per-group-version documents that let
// `kubectl apply` use server-side field validation. Pure functions;
// thread-safe.
#ifndef WISP_OPERATOR_APISERVER_DISCOVERY_H_
#define WISP_OPERATOR_APISERVER_DISCOVERY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"
#include "operator/apiserver/resources.h"

namespace wisp::apiserver {

inline constexpr char kAggregatedDiscoveryContentType[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

// GET /version: Kubernetes 1.32 (kubectl's dispatcher picks its 1.32 client
// from this).
Json VersionInfo();

// GET /api and /apis with the aggregated-discovery Accept header. `core`
// selects /api.
Json AggregatedDiscovery(const std::vector<ResourceType>& types, bool core);

// Legacy discovery: /api, /apis, /apis/<group>, /api/v1 and
// /apis/<group>/<version>.
Json ApiVersions(absl::string_view server_address);
Json ApiGroupList(const std::vector<ResourceType>& types);
std::optional<Json> ApiGroup(const std::vector<ResourceType>& types,
                             absl::string_view group);
std::optional<Json> ApiResourceList(const std::vector<ResourceType>& types,
                                    absl::string_view group,
                                    absl::string_view version);

// GET /openapi/v3 and /openapi/v3/{api/v1 | apis/<group>/<version>}.
Json OpenApiIndex(const std::vector<ResourceType>& types);
std::optional<Json> OpenApiDocument(const std::vector<ResourceType>& types,
                                    absl::string_view group,
                                    absl::string_view version);

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_DISCOVERY_H_
