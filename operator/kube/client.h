// A small Kubernetes REST client: JSON over HTTP(S) with cpp-httplib. KubeClient is the seam
// (tests use the real client against the project's API test server). Errors map HTTP status to
// absl codes:
//   404 NOT_FOUND · 409 on create ALREADY_EXISTS, otherwise ABORTED (conflict: re-read, retry)
//   410 OUT_OF_RANGE (watch resourceVersion expired: relist) · 422/400 INVALID_ARGUMENT
//   401 UNAUTHENTICATED · 403 PERMISSION_DENIED · 429 RESOURCE_EXHAUSTED
//   5xx and connection failures UNAVAILABLE (retry with backoff)
// The Status object's message is kept. Thread-safe: each call uses its own connection.
#ifndef WISP_OPERATOR_KUBE_CLIENT_H_
#define WISP_OPERATOR_KUBE_CLIENT_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "operator/kube/config.h"

namespace httplib {
class Client;
}

namespace wisp::kube {

// A kind of object and where it lives in the API.
struct Resource {
  std::string group;    // "" for core
  std::string version;  // "v1"
  std::string plural;   // "deployments"
  std::string kind;     // "Deployment"
  bool namespaced = true;
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
};

namespace resources {
const Resource& Functions();
const Resource& Deployments();
const Resource& Services();
const Resource& ConfigMaps();
const Resource& PodDisruptionBudgets();
const Resource& Leases();
const Resource& Events();
const Resource& Pods();
const Resource& EndpointSlices();
}  // namespace resources

// "/apis/apps/v1/namespaces/ns/deployments" (ns empty: all namespaces).
std::string CollectionPath(const Resource& r, absl::string_view ns);
// ".../deployments/name[/subresource]".
std::string ObjectPath(const Resource& r, absl::string_view ns, absl::string_view name,
                       absl::string_view subresource = "");

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
};

class KubeClient {
 public:
  virtual ~KubeClient() = default;
  virtual absl::StatusOr<nlohmann::json> Get(const Resource& r, absl::string_view ns,
                                             absl::string_view name) = 0;
  // The List object (items + metadata.resourceVersion).
  virtual absl::StatusOr<nlohmann::json> List(const Resource& r, absl::string_view ns,
                                              const ListOptions& options = {}) = 0;
  // Streams watch events ({"type","object"}) from `resource_version` until the server closes
  // the stream (OK), `on_event` returns false (OK), or an error. An ERROR event carrying a 410
  // Status ends it with OUT_OF_RANGE.
  virtual absl::Status Watch(const Resource& r, absl::string_view ns,
                             absl::string_view resource_version, int timeout_seconds,
                             const ListOptions& options,
                             const std::function<bool(const nlohmann::json&)>& on_event) = 0;
  virtual absl::StatusOr<nlohmann::json> Create(const Resource& r, absl::string_view ns,
                                                const nlohmann::json& object) = 0;
  virtual absl::StatusOr<nlohmann::json> Update(const Resource& r, absl::string_view ns,
                                                absl::string_view name,
                                                const nlohmann::json& object) = 0;
  // Server-side apply (application/apply-patch+yaml with a JSON body).
  virtual absl::StatusOr<nlohmann::json> Apply(const Resource& r, absl::string_view ns,
                                               absl::string_view name,
                                               const nlohmann::json& object,
                                               absl::string_view field_manager, bool force) = 0;
  // RFC 7386 merge patch, optionally on a subresource ("status", "scale").
  virtual absl::StatusOr<nlohmann::json> MergePatch(const Resource& r, absl::string_view ns,
                                                    absl::string_view name,
                                                    const nlohmann::json& patch,
                                                    absl::string_view subresource = "") = 0;
  virtual absl::Status Delete(const Resource& r, absl::string_view ns, absl::string_view name) = 0;
};

class RestKubeClient : public KubeClient {
 public:
  explicit RestKubeClient(KubeConfig config);
  ~RestKubeClient() override;
  absl::StatusOr<nlohmann::json> Get(const Resource& r, absl::string_view ns,
                                     absl::string_view name) override;
  absl::StatusOr<nlohmann::json> List(const Resource& r, absl::string_view ns,
                                      const ListOptions& options = {}) override;
  absl::Status Watch(const Resource& r, absl::string_view ns, absl::string_view resource_version,
                     int timeout_seconds, const ListOptions& options,
                     const std::function<bool(const nlohmann::json&)>& on_event) override;
  absl::StatusOr<nlohmann::json> Create(const Resource& r, absl::string_view ns,
                                        const nlohmann::json& object) override;
  absl::StatusOr<nlohmann::json> Update(const Resource& r, absl::string_view ns,
                                        absl::string_view name,
                                        const nlohmann::json& object) override;
  absl::StatusOr<nlohmann::json> Apply(const Resource& r, absl::string_view ns,
                                       absl::string_view name, const nlohmann::json& object,
                                       absl::string_view field_manager, bool force) override;
  absl::StatusOr<nlohmann::json> MergePatch(const Resource& r, absl::string_view ns,
                                            absl::string_view name, const nlohmann::json& patch,
                                            absl::string_view subresource = "") override;
  absl::Status Delete(const Resource& r, absl::string_view ns, absl::string_view name) override;

 private:
  std::unique_ptr<httplib::Client> NewClient(int read_timeout_seconds) const;
  absl::StatusOr<nlohmann::json> Send(const std::string& method, const std::string& path,
                                      const std::string& body, const std::string& content_type,
                                      bool creating);
  KubeConfig config_;
};

// Maps an HTTP status and a Status body to an absl::Status. Pure.
absl::Status StatusFromHttp(int http_status, absl::string_view body, bool creating);

}  // namespace wisp::kube

#endif  // WISP_OPERATOR_KUBE_CLIENT_H_
