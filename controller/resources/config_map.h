// The ConfigMaps of a Function: `<name>-config` (the worker's config file) and `<name>-code`
// (inline code). Pure builders over a valid Function (defaulted or not: they default it); each
// returns the object ready for server-side apply. Thread-compatible.
#ifndef WISP_CONTROLLER_RESOURCES_CONFIG_MAP_H_
#define WISP_CONTROLLER_RESOURCES_CONFIG_MAP_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/function.h"
#include "nlohmann/json.hpp"

namespace wisp::resources {

// The key of the worker's config in `<name>-config`, and where the pod mounts that ConfigMap.
inline constexpr absl::string_view kConfigFileKey = "function.json";
inline constexpr absl::string_view kConfigMountPath = "/etc/wisp";

// The text stored under function.json: the worker's config (MakeFunctionConfig, codePath
// /var/task) as indented JSON with a final newline. INVALID_ARGUMENT for an invalid Function.
absl::StatusOr<std::string> WorkerConfigFile(const Function& function);

// ConfigMap `<name>-config` with data {function.json: WorkerConfigFile}. INVALID_ARGUMENT for
// an invalid Function.
absl::StatusOr<nlohmann::json> MakeConfigConfigMap(const Function& function);

// ConfigMap `<name>-code` with data {<code.fileName>: <code.inline>} (fileName defaulted from the
// runtime and handler); nullopt unless the code is inline. INVALID_ARGUMENT for an invalid
// Function: like the other children, it is left as it was until the spec is fixed, so that a
// running workload never restarts into a broken config.
absl::StatusOr<std::optional<nlohmann::json>> MakeCodeConfigMap(const Function& function);

}  // namespace wisp::resources

#endif  // WISP_CONTROLLER_RESOURCES_CONFIG_MAP_H_
