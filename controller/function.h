// The Function resource (wisp.dev/v1alpha1, kind Function) as the operator sees it: parsing
// the object the Kubernetes API returns, defaulting, validation that lists every violation, and
// the worker's FunctionConfig derived from a valid Function. docs/function-resource.md is the
// contract; the CRD schema (deploy/crds/functions.wisp.dev.yaml) enforces the same rules.
//
// Pure values in, values out: no I/O, no clock. Thread-compatible.
//
// Typical use, in a reconcile:
//   ParsedFunction loaded = LoadFunction(object);   // parse + ApplyDefaults + ValidateFunction
//   if (!loaded.violations.empty()) { ... Ready=False/InvalidSpec, JoinViolations(...) ... }
#ifndef WISP_CONTROLLER_FUNCTION_H_
#define WISP_CONTROLLER_FUNCTION_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/function_config.h"
#include "nlohmann/json.hpp"

namespace wisp {

inline constexpr absl::string_view kFunctionGroup = "wisp.dev";
inline constexpr absl::string_view kFunctionApiVersion = "wisp.dev/v1alpha1";
inline constexpr absl::string_view kFunctionKind = "Function";

// Where the code is in a worker pod (the worker's codePath, LAMBDA_TASK_ROOT).
inline constexpr absl::string_view kCodePath = "/var/task";

// The Function's bounds and defaults beyond the worker's own (controller/function_config.h
// holds memory, timeout, /tmp and environment). Same numbers as the CRD schema.
inline constexpr int64_t kMaxInlineCodeBytes = 256 * 1024;
inline constexpr int kMaxHandlerLength = 128;
inline constexpr int kMaxLayers = 5;
inline constexpr int kMaxNameLength = 63;
// Lengths the CRD schema caps (docs/function-resource.md gives none).
inline constexpr size_t kMaxImageLength = 1024;
inline constexpr size_t kMaxStreamNameLength = 256;
inline constexpr size_t kMaxHttpPathLength = 1024;
inline constexpr size_t kMaxScheduleExpressionLength = 256;
inline constexpr size_t kMaxTriggers = 64;
inline constexpr int kMinPerInstance = 1;
inline constexpr int kMaxPerInstance = 1000;
inline constexpr int kDefaultPerInstance = 1;
inline constexpr int kMinReserved = 0;
inline constexpr int kMaxReserved = 1000;
inline constexpr int kDefaultMinScale = 0;
inline constexpr int kDefaultMaxScale = 100;
inline constexpr int kMinScaleToZeroAfterSeconds = 30;
inline constexpr int kMaxScaleToZeroAfterSeconds = 86400;
inline constexpr int kDefaultScaleToZeroAfterSeconds = 300;
inline constexpr int kMinAsyncMaxRetries = 0;
inline constexpr int kMaxAsyncMaxRetries = 2;
inline constexpr int kDefaultAsyncMaxRetries = 2;
inline constexpr int kMinMaxEventAgeSeconds = 60;
inline constexpr int kMaxMaxEventAgeSeconds = 21600;
inline constexpr int kDefaultMaxEventAgeSeconds = 21600;
inline constexpr int kMinQueueBatchSize = 1;
inline constexpr int kMaxQueueBatchSize = 10000;
inline constexpr int kDefaultQueueBatchSize = 10;
inline constexpr int kMinQueueBatchWindowSeconds = 0;
inline constexpr int kMaxQueueBatchWindowSeconds = 300;
inline constexpr int kDefaultQueueBatchWindowSeconds = 0;
// The docs give no bounds for maxReceiveCount; these are SQS's redrive policy bounds.
inline constexpr int kMinQueueMaxReceiveCount = 1;
inline constexpr int kMaxQueueMaxReceiveCount = 1000;
inline constexpr int kDefaultQueueMaxReceiveCount = 5;
// An HTTP trigger's methods; ANY matches every method (as in API Gateway route keys; the
// gateway's catalog reads it so). The CRD's enum has no ANY: there, leaving methods out or empty
// says every method.
inline constexpr absl::string_view kHttpMethods[] = {"GET",    "POST", "PUT",     "PATCH",
                                                     "DELETE", "HEAD", "OPTIONS", "ANY"};

// One broken rule: the field's path as kubectl prints it and what is wrong with it.
struct Violation {
  std::string field;    // "spec.memoryMB", "spec.triggers[0].http.path", "metadata.name"
  std::string message;  // "64 is below the minimum 128"

  // "spec.memoryMB: 64 is below the minimum 128"
  std::string ToString() const;
  friend bool operator==(const Violation&, const Violation&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Violation& v) {
    return os << v.ToString();
  }
};

// Every violation's ToString, joined with "; " (what the ConfigValid condition says).
std::string JoinViolations(const std::vector<Violation>& violations);

// The parts of the Function's metadata the operator uses.
struct FunctionMeta {
  std::string name;
  std::string namespace_name;
  std::string uid;
  int64_t generation = 0;
};

// Optional fields are unset when absent from the object; ApplyDefaults sets every field that has
// a default. Integers are 64-bit so that an out-of-range number is reported as such, not wrapped.
struct CodeSpec {
  std::optional<std::string> inline_source;  // code.inline
  std::optional<std::string> file_name;      // code.fileName
  // code.configMap.name; "" when code.configMap is present without a name.
  std::optional<std::string> config_map_name;
};

// One of configMap or image (exactly one when valid). "" when present without a value.
struct LayerSpec {
  std::optional<std::string> config_map_name;
  std::optional<std::string> image;
};

struct ConcurrencySpec {
  std::optional<int64_t> per_instance;
  std::optional<int64_t> reserved;  // No default: no cap beyond the account's pool.
};

struct ScalingSpec {
  std::optional<int64_t> min_scale;
  std::optional<int64_t> max_scale;
  std::optional<int64_t> target;  // Defaults to concurrency.perInstance.
  std::optional<int64_t> scale_to_zero_after_seconds;
};

// An async destination: exactly one of a Redis stream or a function (when valid).
struct DestinationSpec {
  std::optional<std::string> stream;
  std::optional<std::string> function;
};

struct AsyncSpec {
  std::optional<int64_t> max_retries;
  std::optional<int64_t> max_event_age_seconds;
  std::optional<DestinationSpec> on_failure;
  std::optional<DestinationSpec> on_success;
};

struct HttpTriggerSpec {
  std::optional<std::string> path;
  // Absent or empty means every method; ApplyDefaults makes that {"ANY"}.
  std::optional<std::vector<std::string>> methods;
  // True: the route invokes asynchronously (202 once stored, as an Event invoke).
  std::optional<bool> async;
};

struct QueueTriggerSpec {
  std::optional<std::string> stream;
  std::optional<int64_t> batch_size;
  std::optional<int64_t> batch_window_seconds;
  std::optional<int64_t> max_receive_count;
};

struct ScheduleTriggerSpec {
  std::optional<std::string> expression;
};

// Exactly one kind is set when valid.
struct TriggerSpec {
  std::optional<HttpTriggerSpec> http;
  std::optional<QueueTriggerSpec> queue;
  std::optional<ScheduleTriggerSpec> schedule;
};

struct FunctionSpec {
  std::optional<std::string> runtime;
  std::optional<std::string> handler;
  CodeSpec code;
  std::optional<std::string> image;
  std::optional<int64_t> memory_mb;
  std::optional<int64_t> timeout_seconds;
  std::optional<int64_t> ephemeral_storage_mb;
  // In the order of the object (the API server's JSON: sorted by name).
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<LayerSpec> layers;
  ConcurrencySpec concurrency;
  ScalingSpec scaling;
  AsyncSpec async;
  std::vector<TriggerSpec> triggers;
  std::optional<std::string> service_account_name;
  // Set by `kubectl scale` and the autoscaler through the scale subresource.
  std::optional<int64_t> replicas;
};

struct Function {
  FunctionMeta metadata;
  FunctionSpec spec;
};

// A Function read from an object, with what was wrong with it.
struct ParsedFunction {
  Function function;
  std::vector<Violation> violations;
};

// Reads a Function object (as the Kubernetes API returns it). Never fails as a whole: a field of
// the wrong type is reported as a violation ("spec.memoryMB: must be an integer, got a string")
// and left unset; null counts as absent; unknown fields are ignored (the API server prunes them).
// Does not default or validate: see LoadFunction.
ParsedFunction ParseFunction(const nlohmann::json& object);

// Sets every absent field that has a default (docs/function-resource.md), including
// code.fileName for inline code and an HTTP trigger's methods. Idempotent.
Function ApplyDefaults(Function function);

// Every broken rule, in field order; empty when the Function is valid. Validates the Function as
// given, judging absent fields by their defaults, so it finds the same violations before and
// after ApplyDefaults (except that, after, a target derived from an invalid perInstance is
// reported too); before, a message can also say that a value is a default
// ("spec.scaling.maxScale: 100 (the default) is below spec.scaling.minScale 200"), which is why
// LoadFunction validates first.
std::vector<Violation> ValidateFunction(const Function& function);

// ParseFunction, ValidateFunction, then ApplyDefaults: the defaulted Function with the parse and
// validation violations together.
ParsedFunction LoadFunction(const nlohmann::json& object);

// code.fileName's default: "<module>.py" (python), "<module>.js" (node), "bootstrap" (provided),
// where <module> is the handler before its last '.' (the whole handler if it has none).
// nullopt for an unknown runtime, or a python/node runtime without a handler.
std::optional<std::string> DefaultCodeFileName(absl::string_view runtime,
                                               const std::optional<std::string>& handler);

// The worker's config for a valid Function: its name, runtime, handler, limits and environment,
// with codePath /var/task. Defaults absent fields first. INVALID_ARGUMENT (the worker's own
// validation) when the Function is not valid.
absl::StatusOr<FunctionConfig> MakeFunctionConfig(const Function& function);

// The worker's config file (docs/worker.md), the inverse of ParseFunctionConfigJson.
nlohmann::json FunctionConfigToJson(const FunctionConfig& config);

// Kubernetes name rules. A DNS-1035 label is a DNS-1123 label that starts with a letter.
bool IsDns1123Label(absl::string_view s);
bool IsDns1035Label(absl::string_view s);
bool IsDns1123Subdomain(absl::string_view s);

}  // namespace wisp

#endif  // WISP_CONTROLLER_FUNCTION_H_
