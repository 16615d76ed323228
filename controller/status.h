// A Function's status, computed from what the operator observed: the validation result, the
// Deployment as the API server last returned it, and the previous status (whose condition
// transition times are kept while a condition holds). Pure: `now` is passed in.
// Thread-compatible.
//
// Conditions, each with observedGeneration = metadata.generation and a message of at most
// 32768 bytes (metav1.Condition's limit; longer ones end in "…"):
//   ConfigValid    True  Valid          the spec broke no rule
//                  False InvalidSpec    every violation, "; "-joined
//   WorkloadReady  True  ReplicasReady  the Deployment has observed its generation and at
//                                       least one replica is ready
//                  True  ScaledToZero   the Deployment wants 0 replicas (scaled to zero on purpose)
//                  False Progressing    no Deployment yet, or it has not observed its generation,
//                                       or its rollout is under way (its Progressing condition is
//                                       True with a reason other than NewReplicaSetAvailable)
//                  False Unavailable    no replica ready and nothing in progress (crashing pods,
//                                       ProgressDeadlineExceeded)
//                  False InvalidSpec    the spec is invalid and there is no Deployment
//   Ready          True  Ready          ConfigValid and WorkloadReady are both True
//                  False InvalidSpec    the spec is invalid (even if an old workload still runs)
//                  False <WorkloadReady's reason> otherwise
// lastTransitionTime is `now` when a condition's status changes (or first appears) and the
// previous value otherwise. Conditions of other types in the previous status are kept after
// these three; so is lastScaleTime (the autoscaler's).
#ifndef WISP_CONTROLLER_STATUS_H_
#define WISP_CONTROLLER_STATUS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/function.h"
#include "controller/operator_config.h"
#include "nlohmann/json.hpp"

namespace wisp {

inline constexpr absl::string_view kConditionReady = "Ready";
inline constexpr absl::string_view kConditionConfigValid = "ConfigValid";
inline constexpr absl::string_view kConditionWorkloadReady = "WorkloadReady";

// The status object (the whole of .status):
//   {observedGeneration, conditions[], replicas, readyReplicas, selector, url?, lastScaleTime?}
// replicas and readyReplicas come from the Deployment's status (0 without one); selector is
// "wisp.dev/function=<name>" (the scale subresource's labelSelectorPath); url is
// FunctionUrl(config, name), left out when the gateway URL is not configured.
// `violations` is the Function's (empty when valid); `previous_status` may be null.
nlohmann::json ComputeStatus(const FunctionMeta& function, const std::vector<Violation>& violations,
                             const std::optional<nlohmann::json>& deployment,
                             const nlohmann::json& previous_status, const OperatorConfig& config,
                             absl::Time now);

// RFC 3339 in UTC with seconds, as Kubernetes writes times: "2026-11-27T12:00:00Z".
std::string FormatKubernetesTime(absl::Time t);

}  // namespace wisp

#endif  // WISP_CONTROLLER_STATUS_H_
