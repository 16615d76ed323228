// The function model: one function's code, runtime and limits, with Lambda's defaults and
// bounds. Pure values; shared by the worker (which runs it), the gateway and the operator
// (which validate and default it). Thread-compatible.
#ifndef WISP_CONTROLLER_FUNCTION_CONFIG_H_
#define WISP_CONTROLLER_FUNCTION_CONFIG_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wisp {

// Lambda's bounds. The CRD schema and the validation below enforce the same numbers.
inline constexpr int kMinMemoryMB = 128;
inline constexpr int kMaxMemoryMB = 10240;
inline constexpr int kDefaultMemoryMB = 128;
inline constexpr int kMinTimeoutSeconds = 1;
inline constexpr int kMaxTimeoutSeconds = 900;
inline constexpr int kDefaultTimeoutSeconds = 3;
inline constexpr int kMinEphemeralStorageMB = 512;
inline constexpr int kMaxEphemeralStorageMB = 10240;
inline constexpr int kDefaultEphemeralStorageMB = 512;
inline constexpr int kMaxEnvironmentBytes = 4 * 1024;
// A synchronous invocation's request payload (6 MiB).
inline constexpr int64_t kMaxSyncPayloadBytes = 6 * 1024 * 1024;
// What a runtime may post as a response: Lambda allows 6 MiB plus 100 bytes of framing.
inline constexpr int64_t kMaxResponseBytes = kMaxSyncPayloadBytes + 100;
// How long an environment may take to initialise.
inline constexpr int kInitTimeoutSeconds = 10;
// The function version every invocation runs, until versions exist.
inline constexpr absl::string_view kLatestVersion = "$LATEST";

// The runtimes Wisp ships. `provided` runs an executable `bootstrap` from the code.
enum class Runtime { kPython311, kNodejs20, kProvided };

// "python3.11" -> kPython311. Unknown names get INVALID_ARGUMENT listing the supported ones.
absl::StatusOr<Runtime> ParseRuntime(absl::string_view name);
absl::string_view RuntimeName(Runtime runtime);

struct FunctionConfig {
  std::string name;
  std::string runtime_name;  // As written; `runtime` once validated.
  Runtime runtime = Runtime::kProvided;
  std::string handler;
  std::string code_path;  // Folder holding the function's code (LAMBDA_TASK_ROOT).
  int memory_mb = kDefaultMemoryMB;
  int timeout_seconds = kDefaultTimeoutSeconds;
  int ephemeral_storage_mb = kDefaultEphemeralStorageMB;
  // The function's environment variables, in the order given.
  std::vector<std::pair<std::string, std::string>> environment;
};

// Parses a function config document (JSON, the Function spec's field names: name, runtime,
// handler, codePath, memoryMB, timeoutSeconds, ephemeralStorageMB, environment{}). Missing
// numeric fields keep their defaults. Does not validate bounds: call Validate.
absl::StatusOr<FunctionConfig> ParseFunctionConfigJson(absl::string_view json);

// Checks every bound and rule, resolves `runtime`, and returns the first violation as
// INVALID_ARGUMENT with a message a user understands ("memoryMB 64 is below the minimum 128").
absl::Status ValidateFunctionConfig(FunctionConfig& config);

// The environment's size as Lambda counts it: the sum of key and value lengths.
int64_t EnvironmentBytes(const std::vector<std::pair<std::string, std::string>>& env);

// True for names of the form [A-Za-z][A-Za-z0-9_]*, the names a function may give its variables.
bool IsValidEnvironmentKey(absl::string_view key);

// True for variables Lambda reserves (AWS_REGION, _HANDLER, LAMBDA_TASK_ROOT, ...): a function
// may not set them.
bool IsReservedEnvironmentKey(absl::string_view key);

}  // namespace wisp

#endif  // WISP_CONTROLLER_FUNCTION_CONFIG_H_
