#include "controller/function_config.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace wisp {
namespace {

struct RuntimeEntry {
  Runtime runtime;
  absl::string_view name;
};
constexpr std::array<RuntimeEntry, 3> kRuntimes = {{
    {Runtime::kPython311, "python3.11"},
    {Runtime::kNodejs20, "nodejs20"},
    {Runtime::kProvided, "provided"},
}};

absl::Status Bound(absl::string_view field, int value, int lo, int hi) {
  if (value < lo) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", value, " is below the minimum ", lo));
  }
  if (value > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", value, " is above the maximum ", hi));
  }
  return absl::OkStatus();
}

bool ValidFunctionName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

bool ValidEnvKey(absl::string_view key) {
  if (key.empty() || !absl::ascii_isalpha(key[0])) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<Runtime> ParseRuntime(absl::string_view name) {
  for (const auto& entry : kRuntimes) {
    if (entry.name == name) return entry.runtime;
  }
  std::vector<absl::string_view> names;
  for (const auto& entry : kRuntimes) names.push_back(entry.name);
  return absl::InvalidArgumentError(absl::StrCat("runtime \"", name,
                                                 "\" is not supported; use one of ",
                                                 absl::StrJoin(names, ", ")));
}

absl::string_view RuntimeName(Runtime runtime) {
  for (const auto& entry : kRuntimes) {
    if (entry.runtime == runtime) return entry.name;
  }
  return "provided";
}

bool IsValidEnvironmentKey(absl::string_view key) { return ValidEnvKey(key); }

bool IsReservedEnvironmentKey(absl::string_view key) {
  static constexpr std::array<absl::string_view, 16> kReserved = {
      "_HANDLER",          "_X_AMZN_TRACE_ID",       "AWS_DEFAULT_REGION",
      "AWS_REGION",        "AWS_EXECUTION_ENV",      "AWS_LAMBDA_FUNCTION_NAME",
      "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
      "AWS_LAMBDA_INITIALIZATION_TYPE",  "AWS_LAMBDA_LOG_GROUP_NAME",
      "AWS_LAMBDA_LOG_STREAM_NAME",      "AWS_ACCESS_KEY",
      "AWS_LAMBDA_RUNTIME_API",          "LAMBDA_TASK_ROOT",
      "LAMBDA_RUNTIME_DIR",              "AWS_SESSION_TOKEN"};
  for (absl::string_view r : kReserved) {
    if (key == r) return true;
  }
  return key == "AWS_ACCESS_KEY_ID" || key == "AWS_SECRET_ACCESS_KEY";
}

int64_t EnvironmentBytes(const std::vector<std::pair<std::string, std::string>>& env) {
  int64_t total = 0;
  for (const auto& [k, v] : env) total += static_cast<int64_t>(k.size() + v.size());
  return total;
}

absl::StatusOr<FunctionConfig> ParseFunctionConfigJson(absl::string_view json) {
  // ordered_json keeps the environment in the order written.
  nlohmann::ordered_json doc =
      nlohmann::ordered_json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError("function config is not valid JSON");
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("function config must be a JSON object");
  }
  FunctionConfig config;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::ordered_json& v = it.value();
    auto want_string = [&](std::string& out) -> absl::Status {
      if (!v.is_string()) return absl::InvalidArgumentError(absl::StrCat(key, " must be a string"));
      out = v.get<std::string>();
      return absl::OkStatus();
    };
    auto want_int = [&](int& out) -> absl::Status {
      if (!v.is_number_integer()) {
        return absl::InvalidArgumentError(absl::StrCat(key, " must be an integer"));
      }
      if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX)) {
        return absl::InvalidArgumentError(
            absl::StrCat(key, " ", v.get<uint64_t>(), " is out of range"));
      }
      int64_t n = v.get<int64_t>();
      if (n < INT32_MIN || n > INT32_MAX) {
        return absl::InvalidArgumentError(absl::StrCat(key, " ", n, " is out of range"));
      }
      out = static_cast<int>(n);
      return absl::OkStatus();
    };
    absl::Status s;
    if (key == "name") s = want_string(config.name);
    else if (key == "runtime") s = want_string(config.runtime_name);
    else if (key == "handler") s = want_string(config.handler);
    else if (key == "codePath") s = want_string(config.code_path);
    else if (key == "memoryMB") s = want_int(config.memory_mb);
    else if (key == "timeoutSeconds") s = want_int(config.timeout_seconds);
    else if (key == "ephemeralStorageMB") s = want_int(config.ephemeral_storage_mb);
    else if (key == "environment") {
      if (!v.is_object()) return absl::InvalidArgumentError("environment must be an object");
      for (auto e = v.begin(); e != v.end(); ++e) {
        if (!e.value().is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat("environment variable ", e.key(), " must be a string"));
        }
        config.environment.emplace_back(e.key(), e.value().get<std::string>());
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown field \"", key, "\" in function config"));
    }
    if (!s.ok()) return s;
  }
  return config;
}

absl::Status ValidateFunctionConfig(FunctionConfig& config) {
  if (!ValidFunctionName(config.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "function name \"", config.name,
        "\" is invalid: use 1 to 64 letters, digits, hyphens or underscores"));
  }
  absl::StatusOr<Runtime> runtime = ParseRuntime(config.runtime_name);
  if (!runtime.ok()) return runtime.status();
  config.runtime = *runtime;
  if (config.runtime != Runtime::kProvided) {
    if (config.handler.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "handler is required for runtime ", config.runtime_name, " (e.g. app.handler)"));
    }
  }
  if (config.handler.size() > 128 ||
      config.handler.find_first_of(" \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("handler \"", config.handler, "\" is invalid: at most 128 characters, no spaces"));
  }
  if (config.code_path.empty()) {
    return absl::InvalidArgumentError("codePath is required: the folder holding the function's code");
  }
  if (auto s = Bound("memoryMB", config.memory_mb, kMinMemoryMB, kMaxMemoryMB); !s.ok()) return s;
  if (auto s = Bound("timeoutSeconds", config.timeout_seconds, kMinTimeoutSeconds,
                     kMaxTimeoutSeconds);
      !s.ok()) {
    return s;
  }
  if (auto s = Bound("ephemeralStorageMB", config.ephemeral_storage_mb, kMinEphemeralStorageMB,
                     kMaxEphemeralStorageMB);
      !s.ok()) {
    return s;
  }
  for (const auto& [key, value] : config.environment) {
    if (IsReservedEnvironmentKey(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", key, " is reserved by the platform"));
    }
    if (!ValidEnvKey(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "environment variable name \"", key,
          "\" is invalid: start with a letter, then letters, digits or underscores"));
    }
  }
  int64_t env_bytes = EnvironmentBytes(config.environment);
  if (env_bytes > kMaxEnvironmentBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment variables total ", env_bytes,
                     " bytes, over the 4 KB (4096 bytes) limit"));
  }
  return absl::OkStatus();
}

}  // namespace wisp
