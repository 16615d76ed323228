// How wisp-worker learns which function to run: a JSON config file (what the operator mounts
// into a pod) with command-line flags layered on top (for running by hand). Pure.
#ifndef WISP_WORKER_WORKER_CONFIG_H_
#define WISP_WORKER_WORKER_CONFIG_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/function_config.h"

namespace wisp::worker {

// Flag values; unset ones leave the file's value (or the default) alone.
struct FunctionFlags {
  std::optional<std::string> name, runtime, handler, code;
  std::optional<int> memory_mb, timeout_seconds, ephemeral_storage_mb;
  std::vector<std::string> env;  // "K=V"
};

// Merges `file_json` (may be empty: no file) and `flags`, then validates. The error says which
// field is wrong and why.
absl::StatusOr<FunctionConfig> ResolveFunctionConfig(const std::string& file_json,
                                                     const FunctionFlags& flags);

}  // namespace wisp::worker

#endif  // WISP_WORKER_WORKER_CONFIG_H_
