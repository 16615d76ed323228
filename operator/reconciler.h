// Reconciles one Function, given only its key ("namespace/name"): reads it from the cache,
// validates and defaults it, applies its whole desired state (config and code ConfigMaps,
// Deployment, headless Service, PodDisruptionBudget when minScale >= 2, deleted otherwise) with
// server-side apply under the field manager "wisp-operator", and writes its status through the
// status subresource. Idempotent: the same world gives the same writes; it never branches on
// what event woke it. An invalid Function gets Ready=False/InvalidSpec and no new workload (an
// existing one keeps running). Children carry owner references, so deleting the Function
// deletes them (the API server's garbage collection).
//
// Events (kubectl describe): Normal/Ready when it becomes ready, Warning/InvalidSpec when the
// spec turns invalid, Warning/ApplyFailed when a child cannot be written.
// Thread-safe for different keys (the work queue never hands one key to two workers).
#ifndef WISP_OPERATOR_RECONCILER_H_
#define WISP_OPERATOR_RECONCILER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controller/operator_config.h"
#include "operator/informer_set.h"
#include "operator/kube/client.h"

namespace wisp::op {

inline constexpr char kFieldManager[] = "wisp-operator";

// Records Kubernetes Events about a Function. Failures are logged, never fatal.
class EventRecorder {
 public:
  EventRecorder(kube::KubeClient* client, std::string component);
  void Record(const nlohmann::json& function, const std::string& type, const std::string& reason,
              const std::string& message);

 private:
  kube::KubeClient* client_;
  std::string component_;
};

class Reconciler {
 public:
  Reconciler(kube::KubeClient* client, InformerSet* functions, InformerSet* deployments,
             OperatorConfig config, EventRecorder* events,
             std::function<absl::Time()> now = [] { return absl::Now(); });
  absl::Status Reconcile(const std::string& key);

 private:
  kube::KubeClient* client_;
  InformerSet* functions_;
  InformerSet* deployments_;
  OperatorConfig config_;
  EventRecorder* events_;
  std::function<absl::Time()> now_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_RECONCILER_H_
