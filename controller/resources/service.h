// The headless Service and the PodDisruptionBudget of a Function. Pure builders; they need only
// the Function's metadata and (for the budget) its scaling. Thread-compatible.
#ifndef WISP_CONTROLLER_RESOURCES_SERVICE_H_
#define WISP_CONTROLLER_RESOURCES_SERVICE_H_

#include <optional>

#include "controller/function.h"
#include "nlohmann/json.hpp"

namespace wisp::resources {

// Service `<name>`: headless (clusterIP None: the gateway picks pods itself from the endpoints),
// ports grpc 9000 and metrics 9001, selecting the Function's pods.
nlohmann::json MakeService(const Function& function);

// PodDisruptionBudget `<name>` with maxUnavailable 1, only when scaling.minScale ≥ 2 (below that
// a budget would block node drains for no availability gained).
std::optional<nlohmann::json> MakePodDisruptionBudget(const Function& function);

}  // namespace wisp::resources

#endif  // WISP_CONTROLLER_RESOURCES_SERVICE_H_
