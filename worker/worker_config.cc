#include "worker/worker_config.h"

#include "absl/strings/str_cat.h"
#include "controller/base/status_macros.h"

namespace wisp::worker {

absl::StatusOr<FunctionConfig> ResolveFunctionConfig(const std::string& file_json,
                                                     const FunctionFlags& flags) {
  FunctionConfig config;
  if (!file_json.empty()) {
    ASSIGN_OR_RETURN(config, ParseFunctionConfigJson(file_json));
  }
  if (flags.name) config.name = *flags.name;
  if (flags.runtime) config.runtime_name = *flags.runtime;
  if (flags.handler) config.handler = *flags.handler;
  if (flags.code) config.code_path = *flags.code;
  if (flags.memory_mb) config.memory_mb = *flags.memory_mb;
  if (flags.timeout_seconds) config.timeout_seconds = *flags.timeout_seconds;
  if (flags.ephemeral_storage_mb) config.ephemeral_storage_mb = *flags.ephemeral_storage_mb;
  for (const std::string& kv : flags.env) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--env entry \"", kv, "\" is not of the form NAME=VALUE"));
    }
    std::string key = kv.substr(0, eq);
    bool replaced = false;
    for (auto& [k, v] : config.environment) {
      if (k == key) {
        v = kv.substr(eq + 1);
        replaced = true;
      }
    }
    if (!replaced) config.environment.emplace_back(key, kv.substr(eq + 1));
  }
  ABSL_RETURN_IF_ERROR(ValidateFunctionConfig(config));
  return config;
}

}  // namespace wisp::worker
