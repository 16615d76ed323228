// The Deployment that runs a Function's worker pods, and the numbers it is built from (replicas,
// resources, the config hash). Pure builders over a valid Function. Thread-compatible.
//
// The pod (docs/function-resource.md, "What the operator creates"):
//   container `worker`: the runtime's worker image, args
//     --config=/etc/wisp/function.json --concurrency=<perInstance> --port=9000
//     --admin_port=9001 --work_dir=/tmp/wisp
//   ports grpc 9000 and metrics 9001; readiness = gRPC health on 9000 (checked every second,
//   so that a cold start is routable as soon as it is up); liveness = GET /healthz on 9001
//   volumes: `config` (<name>-config) at /etc/wisp; `code` at /var/task (<name>-code, the named
//     ConfigMap, or an emptyDir filled from `image` by the init container `code` running
//     `cp -a /var/task/. /code/`); `tmp`, an emptyDir of ephemeralStorageMB × perInstance, at
//     /tmp; `layer-<i>` at /opt/<i> (a ConfigMap, or an emptyDir filled by the init container
//     `layer-<i>` copying the layer image's /opt); all but /tmp read-only
//   Pod Security "restricted": non-root (uid/gid 65532), read-only root filesystem, no privilege
//   escalation, all capabilities dropped, RuntimeDefault seccomp; no service-account token unless
//   serviceAccountName is set; no service links
//   terminationGracePeriodSeconds = timeoutSeconds + 10 (the worker drains for timeout + 5)
//   spread across nodes by hostname (ScheduleAnyway)
//   annotation wisp.dev/config-hash: changes whenever function.json or the inline code does, so
//   that pods roll (the rest of the config is in the pod template itself)
#ifndef WISP_CONTROLLER_RESOURCES_DEPLOYMENT_H_
#define WISP_CONTROLLER_RESOURCES_DEPLOYMENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/function.h"
#include "controller/operator_config.h"
#include "nlohmann/json.hpp"

namespace wisp::resources {

inline constexpr int kWorkerGrpcPort = 9000;
inline constexpr int kWorkerMetricsPort = 9001;
inline constexpr absl::string_view kWorkerContainerName = "worker";
inline constexpr absl::string_view kWorkDir = "/tmp/wisp";
inline constexpr int64_t kRunAsUser = 65532;
// Memory for the worker process itself, beyond the execution environments' memoryMB each.
inline constexpr int64_t kWorkerOverheadMiB = 64;
// Lambda's proportion: one vCPU per 1769 MB; never less than kMinCpuMillis.
inline constexpr int64_t kMiBPerVcpu = 1769;
inline constexpr int64_t kMinCpuMillis = 100;
inline constexpr absl::string_view kConfigHashAnnotation = "wisp.dev/config-hash";

// The replica count to build with until the autoscaler decides: spec.replicas if set (kubectl
// scale, the autoscaler), else max(minScale, 1) so that a new Function is warm, then clamped to
// [minScale, maxScale]. Defaults absent fields first.
int32_t DesiredReplicas(const FunctionSpec& spec);

// The worker container's requests (= limits, Guaranteed QoS):
//   memory = memoryMB × perInstance + 64 Mi (the worker's overhead)
//   cpu    = memoryMB × perInstance / 1769 vCPU, rounded up to whole millicores, at least 100m
struct WorkerResources {
  int64_t memory_mib = 0;
  int64_t cpu_millis = 0;
};
WorkerResources ResourcesFor(const FunctionSpec& spec);

// 16 hex digits (FNV-1a 64) over function.json and the inline code: stable across processes and
// builds, unlike absl::Hash. INVALID_ARGUMENT for an invalid Function.
absl::StatusOr<std::string> ConfigHash(const Function& function);

// Deployment `<name>` with `replicas` (see DesiredReplicas). INVALID_ARGUMENT for an invalid
// Function; FAILED_PRECONDITION when `config` has no worker image for its runtime.
absl::StatusOr<nlohmann::json> MakeDeployment(const Function& function,
                                              const OperatorConfig& config, int32_t replicas);

}  // namespace wisp::resources

#endif  // WISP_CONTROLLER_RESOURCES_DEPLOYMENT_H_
