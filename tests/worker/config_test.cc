// Tests for controller/function_config.h (parsing, defaults, validation) and
// worker/worker_config.h (config file plus flags).
#include "controller/function_config.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/worker_config.h"

namespace wisp {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using Env = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------------------------------------
// ParseRuntime / RuntimeName

TEST(ParseRuntimeTest, KnownNames) {
  struct Case {
    std::string name;
    std::string input;
    Runtime want;
  };
  const std::vector<Case> cases = {
      {"python", "python3.11", Runtime::kPython311},
      {"node", "nodejs20", Runtime::kNodejs20},
      {"provided", "provided", Runtime::kProvided},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Runtime> got = ParseRuntime(c.input);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want);
    EXPECT_EQ(RuntimeName(*got), c.input);
  }
}

TEST(ParseRuntimeTest, UnknownNamesListTheSupportedOnes) {
  struct Case {
    std::string name;
    std::string input;
  };
  const std::vector<Case> cases = {
      {"other version", "python3.12"},
      {"Lambda's node spelling", "nodejs20.x"},
      {"case matters", "Python3.11"},
      {"empty", ""},
      {"provided.al2023", "provided.al2023"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Runtime> got = ParseRuntime(c.input);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(got.status().message()),
              absl::StrCat("runtime \"", c.input,
                           "\" is not supported; use one of python3.11, nodejs20, provided"));
  }
}

// ---------------------------------------------------------------------------------------------
// ParseFunctionConfigJson

TEST(ParseFunctionConfigJsonTest, EmptyObjectKeepsDefaults) {
  absl::StatusOr<FunctionConfig> got = ParseFunctionConfigJson("{}");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "");
  EXPECT_EQ(got->runtime_name, "");
  EXPECT_EQ(got->handler, "");
  EXPECT_EQ(got->code_path, "");
  EXPECT_EQ(got->memory_mb, 128);
  EXPECT_EQ(got->timeout_seconds, 3);
  EXPECT_EQ(got->ephemeral_storage_mb, 512);
  EXPECT_THAT(got->environment, IsEmpty());
}

TEST(ParseFunctionConfigJsonTest, ReadsEveryField) {
  absl::StatusOr<FunctionConfig> got = ParseFunctionConfigJson(R"({
    "name": "hello",
    "runtime": "python3.11",
    "handler": "app.handler",
    "codePath": "/var/task",
    "memoryMB": 256,
    "timeoutSeconds": 30,
    "ephemeralStorageMB": 1024,
    "environment": {"GREETING": "hi", "EMPTY": ""}
  })");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "hello");
  EXPECT_EQ(got->runtime_name, "python3.11");
  EXPECT_EQ(got->handler, "app.handler");
  EXPECT_EQ(got->code_path, "/var/task");
  EXPECT_EQ(got->memory_mb, 256);
  EXPECT_EQ(got->timeout_seconds, 30);
  EXPECT_EQ(got->ephemeral_storage_mb, 1024);
  EXPECT_THAT(got->environment,
              ::testing::UnorderedElementsAre(Pair("GREETING", "hi"), Pair("EMPTY", "")));
}

TEST(ParseFunctionConfigJsonTest, ParsingDoesNotValidateBounds) {
  absl::StatusOr<FunctionConfig> got = ParseFunctionConfigJson(R"({"memoryMB": 1})");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->memory_mb, 1);
}

TEST(ParseFunctionConfigJsonTest, RejectsBadDocuments) {
  struct Case {
    std::string name;
    std::string input;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"invalid JSON", "{", "function config is not valid JSON"},
      {"empty text", "", "function config is not valid JSON"},
      {"trailing garbage", "{} x", "function config is not valid JSON"},
      {"array", "[]", "function config must be a JSON object"},
      {"null", "null", "function config must be a JSON object"},
      {"unknown field", R"({"memory": 128})", "unknown field \"memory\" in function config"},
      {"misspelt case", R"({"memoryMb": 128})", "unknown field \"memoryMb\" in function config"},
      {"name not a string", R"({"name": 1})", "name must be a string"},
      {"runtime not a string", R"({"runtime": null})", "runtime must be a string"},
      {"handler not a string", R"({"handler": ["a"]})", "handler must be a string"},
      {"codePath not a string", R"({"codePath": {}})", "codePath must be a string"},
      {"memoryMB as a string", R"({"memoryMB": "128"})", "memoryMB must be an integer"},
      {"memoryMB fractional", R"({"memoryMB": 128.5})", "memoryMB must be an integer"},
      {"timeoutSeconds boolean", R"({"timeoutSeconds": true})",
       "timeoutSeconds must be an integer"},
      {"ephemeralStorageMB null", R"({"ephemeralStorageMB": null})",
       "ephemeralStorageMB must be an integer"},
      {"memoryMB over int32", R"({"memoryMB": 4294967296})", "memoryMB 4294967296 is out of range"},
      {"timeoutSeconds under int32", R"({"timeoutSeconds": -2147483649})",
       "timeoutSeconds -2147483649 is out of range"},
      {"environment as an array", R"({"environment": ["A=1"]})", "environment must be an object"},
      {"environment value not a string", R"({"environment": {"A": 1}})",
       "environment variable A must be a string"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<FunctionConfig> got = ParseFunctionConfigJson(c.input);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(got.status().message()), c.want);
  }
}

// Regression: an integer above INT64_MAX is stored by nlohmann as unsigned, and
// `v.get<int64_t>()` wraps it, so 18446744073709551615 becomes -1: it passes the int32 range
// check and parses as memoryMB -1 (validation then says "memoryMB -1 is below the minimum 128",
// naming a number the user never wrote). 9223372036854775808 likewise reports
// "memoryMB -9223372036854775808 is out of range".
TEST(ParseFunctionConfigJsonTest, HugeUnsignedIntegersAreOutOfRange) {
  struct Case {
    std::string name;
    std::string input;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"uint64 max", R"({"memoryMB": 18446744073709551615})",
       "memoryMB 18446744073709551615 is out of range"},
      {"int64 max plus one", R"({"memoryMB": 9223372036854775808})",
       "memoryMB 9223372036854775808 is out of range"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<FunctionConfig> got = ParseFunctionConfigJson(c.input);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(got.status().message()), c.want);
  }
}

// Regression: FunctionConfig::environment promises "the order given", but the JSON
// object is read into nlohmann::json's std::map, so variables come back sorted by name (and a
// repeated name silently keeps its last value).
TEST(ParseFunctionConfigJsonTest, EnvironmentKeepsTheOrderGiven) {
  absl::StatusOr<FunctionConfig> got =
      ParseFunctionConfigJson(R"({"environment": {"ZED": "1", "ALPHA": "2"}})");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_THAT(got->environment, ElementsAre(Pair("ZED", "1"), Pair("ALPHA", "2")));
}

// ---------------------------------------------------------------------------------------------
// ValidateFunctionConfig

FunctionConfig ValidConfig() {
  FunctionConfig c;
  c.name = "hello";
  c.runtime_name = "python3.11";
  c.handler = "app.handler";
  c.code_path = "/var/task";
  return c;
}

TEST(ValidateFunctionConfigTest, AcceptsValidConfigsAndResolvesTheRuntime) {
  struct Case {
    std::string name;
    std::function<void(FunctionConfig&)> input;
    Runtime want;
  };
  const std::vector<Case> cases = {
      {"python defaults", [](FunctionConfig&) {}, Runtime::kPython311},
      {"node", [](FunctionConfig& c) { c.runtime_name = "nodejs20"; }, Runtime::kNodejs20},
      {"provided without a handler",
       [](FunctionConfig& c) {
         c.runtime_name = "provided";
         c.handler = "";
       },
       Runtime::kProvided},
      {"memory at the minimum", [](FunctionConfig& c) { c.memory_mb = 128; },
       Runtime::kPython311},
      {"memory at the maximum", [](FunctionConfig& c) { c.memory_mb = 10240; },
       Runtime::kPython311},
      {"timeout at the minimum", [](FunctionConfig& c) { c.timeout_seconds = 1; },
       Runtime::kPython311},
      {"timeout at the maximum", [](FunctionConfig& c) { c.timeout_seconds = 900; },
       Runtime::kPython311},
      {"storage at the minimum", [](FunctionConfig& c) { c.ephemeral_storage_mb = 512; },
       Runtime::kPython311},
      {"storage at the maximum", [](FunctionConfig& c) { c.ephemeral_storage_mb = 10240; },
       Runtime::kPython311},
      {"64-character name", [](FunctionConfig& c) { c.name = std::string(64, 'a'); },
       Runtime::kPython311},
      {"name with every allowed kind of character",
       [](FunctionConfig& c) { c.name = "My-Func_2"; }, Runtime::kPython311},
      {"128-character handler", [](FunctionConfig& c) { c.handler = std::string(128, 'h'); },
       Runtime::kPython311},
      {"ordinary environment",
       [](FunctionConfig& c) { c.environment = {{"TABLE", "t"}, {"log_level", "debug"}}; },
       Runtime::kPython311},
      {"environment of exactly 4096 bytes",
       [](FunctionConfig& c) { c.environment = {{"BIG", std::string(4093, 'v')}}; },
       Runtime::kPython311},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FunctionConfig config = ValidConfig();
    c.input(config);
    absl::Status status = ValidateFunctionConfig(config);
    EXPECT_TRUE(status.ok()) << status;
    EXPECT_EQ(config.runtime, c.want);
  }
}

TEST(ValidateFunctionConfigTest, RejectsWithAMessageNamingTheProblem) {
  struct Case {
    std::string name;
    std::function<void(FunctionConfig&)> input;
    std::string want;
  };
  const std::string bad_name_suffix =
      "\" is invalid: use 1 to 64 letters, digits, hyphens or underscores";
  const std::string bad_env_suffix =
      "\" is invalid: start with a letter, then letters, digits or underscores";
  const std::vector<Case> cases = {
      // Bounds.
      {"memory below", [](FunctionConfig& c) { c.memory_mb = 127; },
       "memoryMB 127 is below the minimum 128"},
      {"memory above", [](FunctionConfig& c) { c.memory_mb = 10241; },
       "memoryMB 10241 is above the maximum 10240"},
      {"memory negative", [](FunctionConfig& c) { c.memory_mb = -1; },
       "memoryMB -1 is below the minimum 128"},
      {"timeout below", [](FunctionConfig& c) { c.timeout_seconds = 0; },
       "timeoutSeconds 0 is below the minimum 1"},
      {"timeout above", [](FunctionConfig& c) { c.timeout_seconds = 901; },
       "timeoutSeconds 901 is above the maximum 900"},
      {"storage below", [](FunctionConfig& c) { c.ephemeral_storage_mb = 511; },
       "ephemeralStorageMB 511 is below the minimum 512"},
      {"storage above", [](FunctionConfig& c) { c.ephemeral_storage_mb = 10241; },
       "ephemeralStorageMB 10241 is above the maximum 10240"},
      // Names.
      {"empty name", [](FunctionConfig& c) { c.name = ""; },
       "function name \"" + bad_name_suffix},
      {"65-character name", [](FunctionConfig& c) { c.name = std::string(65, 'a'); },
       "function name \"" + std::string(65, 'a') + bad_name_suffix},
      {"name with a dot", [](FunctionConfig& c) { c.name = "my.fn"; },
       "function name \"my.fn" + bad_name_suffix},
      {"name with a space", [](FunctionConfig& c) { c.name = "my fn"; },
       "function name \"my fn" + bad_name_suffix},
      {"name with a slash", [](FunctionConfig& c) { c.name = "a/b"; },
       "function name \"a/b" + bad_name_suffix},
      // Runtime and handler.
      {"unknown runtime", [](FunctionConfig& c) { c.runtime_name = "ruby3.2"; },
       "runtime \"ruby3.2\" is not supported; use one of python3.11, nodejs20, provided"},
      {"python without a handler", [](FunctionConfig& c) { c.handler = ""; },
       "handler is required for runtime python3.11 (e.g. app.handler)"},
      {"node without a handler",
       [](FunctionConfig& c) {
         c.runtime_name = "nodejs20";
         c.handler = "";
       },
       "handler is required for runtime nodejs20 (e.g. app.handler)"},
      {"handler with a space", [](FunctionConfig& c) { c.handler = "app handler"; },
       "handler \"app handler\" is invalid: at most 128 characters, no spaces"},
      {"handler with a newline", [](FunctionConfig& c) { c.handler = "app\nhandler"; },
       "handler \"app\nhandler\" is invalid: at most 128 characters, no spaces"},
      {"129-character handler", [](FunctionConfig& c) { c.handler = std::string(129, 'h'); },
       "handler \"" + std::string(129, 'h') + "\" is invalid: at most 128 characters, no spaces"},
      {"no code path", [](FunctionConfig& c) { c.code_path = ""; },
       "codePath is required: the folder holding the function's code"},
      // Environment.
      {"reserved AWS_REGION", [](FunctionConfig& c) { c.environment = {{"AWS_REGION", "x"}}; },
       "environment variable AWS_REGION is reserved by the platform"},
      {"reserved LAMBDA_TASK_ROOT",
       [](FunctionConfig& c) { c.environment = {{"OK", "1"}, {"LAMBDA_TASK_ROOT", "/x"}}; },
       "environment variable LAMBDA_TASK_ROOT is reserved by the platform"},
      {"reserved AWS_LAMBDA_RUNTIME_API",
       [](FunctionConfig& c) { c.environment = {{"AWS_LAMBDA_RUNTIME_API", "x"}}; },
       "environment variable AWS_LAMBDA_RUNTIME_API is reserved by the platform"},
      {"reserved AWS_ACCESS_KEY_ID",
       [](FunctionConfig& c) { c.environment = {{"AWS_ACCESS_KEY_ID", "x"}}; },
       "environment variable AWS_ACCESS_KEY_ID is reserved by the platform"},
      {"reserved AWS_SECRET_ACCESS_KEY",
       [](FunctionConfig& c) { c.environment = {{"AWS_SECRET_ACCESS_KEY", "x"}}; },
       "environment variable AWS_SECRET_ACCESS_KEY is reserved by the platform"},
      // A leading underscore fails the name rule before the reserved-name rule.
      {"reserved _HANDLER", [](FunctionConfig& c) { c.environment = {{"_HANDLER", "x"}}; },
       "environment variable _HANDLER is reserved by the platform"},
      {"env name starting with a digit",
       [](FunctionConfig& c) { c.environment = {{"1ABC", "x"}}; },
       "environment variable name \"1ABC" + bad_env_suffix},
      {"env name with a hyphen", [](FunctionConfig& c) { c.environment = {{"A-B", "x"}}; },
       "environment variable name \"A-B" + bad_env_suffix},
      {"empty env name", [](FunctionConfig& c) { c.environment = {{"", "x"}}; },
       "environment variable name \"" + bad_env_suffix},
      {"environment of 4097 bytes",
       [](FunctionConfig& c) { c.environment = {{"BIG", std::string(4094, 'v')}}; },
       "environment variables total 4097 bytes, over the 4 KB (4096 bytes) limit"},
      {"environment over the limit across variables",
       [](FunctionConfig& c) {
         c.environment = {{"A", std::string(2047, 'v')}, {"B", std::string(2048, 'v')}};
       },
       "environment variables total 4097 bytes, over the 4 KB (4096 bytes) limit"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FunctionConfig config = ValidConfig();
    c.input(config);
    absl::Status status = ValidateFunctionConfig(config);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_EQ(std::string(status.message()), c.want);
  }
}

TEST(IsReservedEnvironmentKeyTest, ReservedNames) {
  struct Case {
    std::string name;
    std::string input;
    bool want;
  };
  const std::vector<Case> cases = {
      {"_HANDLER", "_HANDLER", true},
      {"AWS_REGION", "AWS_REGION", true},
      {"AWS_DEFAULT_REGION", "AWS_DEFAULT_REGION", true},
      {"AWS_EXECUTION_ENV", "AWS_EXECUTION_ENV", true},
      {"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_NAME", true},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", true},
      {"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_VERSION", true},
      {"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_GROUP_NAME", true},
      {"AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", true},
      {"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_RUNTIME_API", true},
      {"LAMBDA_TASK_ROOT", "LAMBDA_TASK_ROOT", true},
      {"LAMBDA_RUNTIME_DIR", "LAMBDA_RUNTIME_DIR", true},
      {"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID", true},
      {"AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", true},
      {"AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN", true},
      {"ordinary name", "TABLE_NAME", false},
      {"case matters", "aws_region", false},
      {"PATH may be set", "PATH", false},
      {"prefix of a reserved name", "AWS_REG", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(IsReservedEnvironmentKey(c.input), c.want);
  }
}

TEST(EnvironmentBytesTest, SumsKeyAndValueLengths) {
  struct Case {
    std::string name;
    Env input;
    int64_t want;
  };
  const std::vector<Case> cases = {
      {"empty", {}, 0},
      {"one variable", {{"A", "1"}}, 2},
      {"empty value", {{"KEY", ""}}, 3},
      {"several", {{"KEY", "value"}, {"B", "cd"}}, 11},
      {"bytes, not characters", {{"K", "caf\xc3\xa9"}}, 6},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(EnvironmentBytes(c.input), c.want);
  }
}

// ---------------------------------------------------------------------------------------------
// worker::ResolveFunctionConfig

constexpr char kFile[] = R"({
  "name": "from-file",
  "runtime": "python3.11",
  "handler": "app.handler",
  "codePath": "/var/task",
  "memoryMB": 256,
  "timeoutSeconds": 10,
  "ephemeralStorageMB": 1024,
  "environment": {"A": "1", "B": "2"}
})";

TEST(ResolveFunctionConfigTest, FileOnly) {
  absl::StatusOr<FunctionConfig> got = worker::ResolveFunctionConfig(kFile, {});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "from-file");
  EXPECT_EQ(got->runtime, Runtime::kPython311);
  EXPECT_EQ(got->handler, "app.handler");
  EXPECT_EQ(got->code_path, "/var/task");
  EXPECT_EQ(got->memory_mb, 256);
  EXPECT_EQ(got->timeout_seconds, 10);
  EXPECT_EQ(got->ephemeral_storage_mb, 1024);
  EXPECT_THAT(got->environment, ElementsAre(Pair("A", "1"), Pair("B", "2")));
}

TEST(ResolveFunctionConfigTest, FlagsOnlyWithDefaults) {
  worker::FunctionFlags flags;
  flags.name = "by-hand";
  flags.runtime = "provided";
  flags.code = "/tmp/fn";
  absl::StatusOr<FunctionConfig> got = worker::ResolveFunctionConfig("", flags);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "by-hand");
  EXPECT_EQ(got->runtime, Runtime::kProvided);
  EXPECT_EQ(got->code_path, "/tmp/fn");
  EXPECT_EQ(got->memory_mb, 128);
  EXPECT_EQ(got->timeout_seconds, 3);
  EXPECT_EQ(got->ephemeral_storage_mb, 512);
  EXPECT_THAT(got->environment, IsEmpty());
}

TEST(ResolveFunctionConfigTest, FlagsOverrideTheFile) {
  worker::FunctionFlags flags;
  flags.name = "from-flag";
  flags.runtime = "nodejs20";
  flags.handler = "index.handler";
  flags.code = "/srv/code";
  flags.memory_mb = 512;
  flags.timeout_seconds = 60;
  flags.ephemeral_storage_mb = 2048;
  absl::StatusOr<FunctionConfig> got = worker::ResolveFunctionConfig(kFile, flags);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name, "from-flag");
  EXPECT_EQ(got->runtime, Runtime::kNodejs20);
  EXPECT_EQ(got->handler, "index.handler");
  EXPECT_EQ(got->code_path, "/srv/code");
  EXPECT_EQ(got->memory_mb, 512);
  EXPECT_EQ(got->timeout_seconds, 60);
  EXPECT_EQ(got->ephemeral_storage_mb, 2048);
}

TEST(ResolveFunctionConfigTest, EnvFlagsMergeIntoTheFilesEnvironment) {
  struct Case {
    std::string name;
    std::vector<std::string> input;
    Env want;
  };
  const std::vector<Case> cases = {
      {"no flags", {}, {{"A", "1"}, {"B", "2"}}},
      {"new variable is appended", {"C=3"}, {{"A", "1"}, {"B", "2"}, {"C", "3"}}},
      {"existing variable is replaced in place", {"A=9"}, {{"A", "9"}, {"B", "2"}}},
      {"replace and append", {"B=3", "C=4"}, {{"A", "1"}, {"B", "3"}, {"C", "4"}}},
      {"empty value", {"B="}, {{"A", "1"}, {"B", ""}}},
      {"value containing '='", {"C=x=y"}, {{"A", "1"}, {"B", "2"}, {"C", "x=y"}}},
      {"later flag wins", {"C=1", "C=2"}, {{"A", "1"}, {"B", "2"}, {"C", "2"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    worker::FunctionFlags flags;
    flags.env = c.input;
    absl::StatusOr<FunctionConfig> got = worker::ResolveFunctionConfig(kFile, flags);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->environment, c.want);
  }
}

TEST(ResolveFunctionConfigTest, Errors) {
  struct Case {
    std::string name;
    std::string file;
    std::function<void(worker::FunctionFlags&)> input;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"--env without '='", kFile, [](worker::FunctionFlags& f) { f.env = {"NOVALUE"}; },
       "--env entry \"NOVALUE\" is not of the form NAME=VALUE"},
      {"--env without a name", kFile, [](worker::FunctionFlags& f) { f.env = {"=x"}; },
       "--env entry \"=x\" is not of the form NAME=VALUE"},
      {"--env empty", kFile, [](worker::FunctionFlags& f) { f.env = {""}; },
       "--env entry \"\" is not of the form NAME=VALUE"},
      {"--env with a reserved name", kFile,
       [](worker::FunctionFlags& f) { f.env = {"AWS_REGION=eu-west-1"}; },
       "environment variable AWS_REGION is reserved by the platform"},
      {"file is not JSON", "{name", [](worker::FunctionFlags&) {},
       "function config is not valid JSON"},
      {"file has an unknown field", R"({"nmae": "x"})", [](worker::FunctionFlags&) {},
       "unknown field \"nmae\" in function config"},
      {"flag out of bounds", kFile, [](worker::FunctionFlags& f) { f.memory_mb = 64; },
       "memoryMB 64 is below the minimum 128"},
      {"nothing given", "", [](worker::FunctionFlags&) {},
       "function name \"\" is invalid: use 1 to 64 letters, digits, hyphens or underscores"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    worker::FunctionFlags flags;
    c.input(flags);
    absl::StatusOr<FunctionConfig> got = worker::ResolveFunctionConfig(c.file, flags);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(got.status().message()), c.want);
  }
}

}  // namespace
}  // namespace wisp
