#include "controller/resources/config_map.h"

#include "controller/base/status_macros.h"
#include "controller/resources/meta.h"

namespace wisp::resources {

using json = nlohmann::json;

absl::StatusOr<std::string> WorkerConfigFile(const Function& function) {
  ASSIGN_OR_RETURN(FunctionConfig config, MakeFunctionConfig(function));
  // Replace rather than throw on invalid UTF-8 (possible only for a hand-built Function).
  return FunctionConfigToJson(config).dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

absl::StatusOr<json> MakeConfigConfigMap(const Function& function) {
  ASSIGN_OR_RETURN(std::string file, WorkerConfigFile(function));
  return json{
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", ChildMetadata(function.metadata, ConfigConfigMapName(function.metadata.name))},
      {"data", {{std::string(kConfigFileKey), file}}}};
}

absl::StatusOr<std::optional<json>> MakeCodeConfigMap(const Function& function) {
  if (std::vector<Violation> v = ValidateFunction(function); !v.empty()) {
    return absl::InvalidArgumentError(JoinViolations(v));
  }
  Function f = ApplyDefaults(function);
  if (!f.spec.code.inline_source || !f.spec.code.file_name) return std::nullopt;
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", ChildMetadata(f.metadata, CodeConfigMapName(f.metadata.name))},
              {"data", {{*f.spec.code.file_name, *f.spec.code.inline_source}}}};
}

}  // namespace wisp::resources
