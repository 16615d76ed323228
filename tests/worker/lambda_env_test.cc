// Tests for worker/lambda_env.h (a runtime's command line and environment) and
// worker/function_log.h (the bytes written per function log line).
#include "worker/lambda_env.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/function_log.h"

namespace wisp::worker {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

RuntimeSettings Settings() {
  RuntimeSettings s;
  s.runtimes_dir = "/usr/share/wisp/runtimes";
  s.region = "eu-west-1";
  s.account_id = "123456789012";
  s.log_stream_name = "2024/01/01/[$LATEST]0123456789abcdef";
  return s;
}

FunctionConfig Function(Runtime runtime) {
  FunctionConfig fn;
  fn.name = "hello";
  fn.runtime = runtime;
  fn.runtime_name = std::string(RuntimeName(runtime));
  fn.handler = runtime == Runtime::kProvided ? "" : "app.handler";
  fn.code_path = "/var/task";
  fn.memory_mb = 256;
  return fn;
}

// "K=V" -> K (the first '=' splits).
std::string KeyOf(const std::string& kv) { return kv.substr(0, kv.find('=')); }

// The value of `key`, if set exactly once; nullopt if unset. Fails the test if set twice.
std::optional<std::string> Lookup(const std::vector<std::string>& env, const std::string& key) {
  std::optional<std::string> found;
  for (const std::string& kv : env) {
    if (KeyOf(kv) != key) continue;
    EXPECT_FALSE(found.has_value()) << key << " is set more than once";
    found = kv.substr(key.size() + 1);
  }
  return found;
}

TEST(RuntimeCommandTest, PerRuntime) {
  struct Case {
    std::string name;
    Runtime runtime;
    RuntimeSettings settings;
    std::vector<std::string> want;
  };
  RuntimeSettings custom = Settings();
  custom.python = "/usr/bin/python3.11";
  custom.node = "/usr/local/bin/node";
  const std::vector<Case> cases = {
      {"python", Runtime::kPython311, Settings(),
       {"python3", "-u", "/usr/share/wisp/runtimes/python3.11/bootstrap.py"}},
      {"node", Runtime::kNodejs20, Settings(),
       {"node", "/usr/share/wisp/runtimes/nodejs20/bootstrap.mjs"}},
      {"provided runs the code's bootstrap", Runtime::kProvided, Settings(),
       {"/var/task/bootstrap"}},
      {"python interpreter from settings", Runtime::kPython311, custom,
       {"/usr/bin/python3.11", "-u", "/usr/share/wisp/runtimes/python3.11/bootstrap.py"}},
      {"node interpreter from settings", Runtime::kNodejs20, custom,
       {"/usr/local/bin/node", "/usr/share/wisp/runtimes/nodejs20/bootstrap.mjs"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(RuntimeCommand(Function(c.runtime), c.settings), c.want);
  }
}

TEST(RuntimeDirTest, PerRuntime) {
  struct Case {
    std::string name;
    Runtime input;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"python", Runtime::kPython311, "/usr/share/wisp/runtimes/python3.11"},
      {"node", Runtime::kNodejs20, "/usr/share/wisp/runtimes/nodejs20"},
      {"provided is the code folder", Runtime::kProvided, "/var/task"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(RuntimeDir(Function(c.input), Settings()), c.want);
  }
}

TEST(FunctionArnTest, FromRegionAccountAndName) {
  EXPECT_EQ(FunctionArn(Function(Runtime::kPython311), Settings()),
            "arn:aws:lambda:eu-west-1:123456789012:function:hello");
  EXPECT_EQ(FunctionArn(Function(Runtime::kPython311), RuntimeSettings{}),
            "arn:aws:lambda:us-east-1:000000000000:function:hello");
}

TEST(RuntimeEnvironmentTest, SetsEveryLambdaVariable) {
  struct Case {
    std::string name;
    Runtime runtime;
    std::map<std::string, std::string> want;
    std::vector<std::string> want_unset;
  };
  const std::map<std::string, std::string> common = {
      {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
      {"LAMBDA_TASK_ROOT", "/var/task"},
      {"AWS_LAMBDA_FUNCTION_NAME", "hello"},
      {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"},
      {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hello"},
      {"AWS_LAMBDA_LOG_STREAM_NAME", "2024/01/01/[$LATEST]0123456789abcdef"},
      {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
      {"AWS_REGION", "eu-west-1"},
      {"AWS_DEFAULT_REGION", "eu-west-1"},
      {"TZ", ":UTC"},
      {"LANG", "en_US.UTF-8"},
      {"PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin"},
      {"LD_LIBRARY_PATH", "/var/task:/var/task/lib:/opt/lib"},
  };
  auto with = [&common](std::map<std::string, std::string> extra) {
    std::map<std::string, std::string> all = common;
    all.insert(extra.begin(), extra.end());
    return all;
  };
  const std::vector<Case> cases = {
      {"python",
       Runtime::kPython311,
       with({{"_HANDLER", "app.handler"},
             {"LAMBDA_RUNTIME_DIR", "/usr/share/wisp/runtimes/python3.11"},
             {"AWS_EXECUTION_ENV", "AWS_Lambda_python3.11"},
             {"PYTHONPATH", "/var/task:/opt/python"}}),
       {"NODE_PATH"}},
      {"node",
       Runtime::kNodejs20,
       with({{"_HANDLER", "app.handler"},
             {"LAMBDA_RUNTIME_DIR", "/usr/share/wisp/runtimes/nodejs20"},
             {"AWS_EXECUTION_ENV", "AWS_Lambda_nodejs20.x"},
             {"NODE_PATH",
              "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/task/node_modules"}}),
       {"PYTHONPATH"}},
      {"provided",
       Runtime::kProvided,
       with({{"_HANDLER", ""}, {"LAMBDA_RUNTIME_DIR", "/var/task"}}),
       {"AWS_EXECUTION_ENV", "PYTHONPATH", "NODE_PATH"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> env =
        RuntimeEnvironment(Function(c.runtime), Settings(), "127.0.0.1:9001");
    for (const auto& [key, value] : c.want) {
      SCOPED_TRACE(key);
      EXPECT_EQ(Lookup(env, key), value);
    }
    for (const std::string& key : c.want_unset) {
      EXPECT_EQ(Lookup(env, key), std::nullopt) << key;
    }
    EXPECT_EQ(Lookup(env, "TMPDIR"), std::nullopt);
    // Nothing beyond what Lambda sets (no worker secrets leak in).
    EXPECT_EQ(env.size(), c.want.size()) << ::testing::PrintToString(env);
  }
}

TEST(RuntimeEnvironmentTest, FunctionVariablesComeFirstSoReservedOnesWin) {
  FunctionConfig fn = Function(Runtime::kPython311);
  fn.environment = {{"TABLE", "orders"}, {"EMPTY", ""}, {"URL", "http://x/?a=b"}};
  std::vector<std::string> env = RuntimeEnvironment(fn, Settings(), "127.0.0.1:9001");

  ASSERT_GE(env.size(), 3u);
  EXPECT_THAT(std::vector<std::string>(env.begin(), env.begin() + 3),
              ElementsAre("TABLE=orders", "EMPTY=", "URL=http://x/?a=b"));
  // Everything after them is the platform's.
  for (size_t i = 3; i < env.size(); ++i) {
    SCOPED_TRACE(env[i]);
    EXPECT_NE(KeyOf(env[i]), "TABLE");
    EXPECT_NE(KeyOf(env[i]), "EMPTY");
    EXPECT_NE(KeyOf(env[i]), "URL");
  }
  EXPECT_EQ(Lookup(env, "AWS_LAMBDA_RUNTIME_API"), "127.0.0.1:9001");
}

TEST(RuntimeEnvironmentTest, TmpDirOnlyWhenSet) {
  struct Case {
    std::string name;
    std::string input;
    std::optional<std::string> want;
  };
  const std::vector<Case> cases = {
      {"private /tmp", "", std::nullopt},
      {"per-environment folder", "/var/lib/wisp/env-1/tmp", "/var/lib/wisp/env-1/tmp"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RuntimeSettings s = Settings();
    s.tmp_dir = c.input;
    std::vector<std::string> env = RuntimeEnvironment(Function(Runtime::kNodejs20), s, "a:1");
    EXPECT_EQ(Lookup(env, "TMPDIR"), c.want);
  }
}

TEST(RuntimeEnvironmentTest, NoUserVariablesMeansNoEmptyEntries) {
  std::vector<std::string> env =
      RuntimeEnvironment(Function(Runtime::kPython311), Settings(), "127.0.0.1:1");
  EXPECT_THAT(env, Not(Contains("")));
  EXPECT_THAT(env, Not(Contains("=")));
}

// Regression: a function may set variables the platform also sets but does not
// reserve (TZ, LANG, PATH, LD_LIBRARY_PATH, PYTHONPATH, NODE_PATH, TMPDIR pass
// ValidateFunctionConfig), and RuntimeEnvironment then emits the key twice: the user's value
// first, the platform's after it. Which one a process sees depends on who reads it: glibc
// getenv(), Node's process.env and CPython's os.environ take the FIRST (the user's), dash takes
// the last (the platform's) -- so the header's "the ones Lambda reserves ... therefore win" does
// not hold, and a user TMPDIR even overrides the per-environment tmp dir for python and node.
// Each key should appear once.
TEST(RuntimeEnvironmentTest, AUserVariableThePlatformAlsoSetsAppearsOnce) {
  struct Case {
    std::string name;
    Runtime runtime;
    std::string key;
  };
  const std::vector<Case> cases = {
      {"TZ", Runtime::kPython311, "TZ"},
      {"LANG", Runtime::kPython311, "LANG"},
      {"PATH", Runtime::kProvided, "PATH"},
      {"LD_LIBRARY_PATH", Runtime::kProvided, "LD_LIBRARY_PATH"},
      {"PYTHONPATH", Runtime::kPython311, "PYTHONPATH"},
      {"NODE_PATH", Runtime::kNodejs20, "NODE_PATH"},
      {"TMPDIR", Runtime::kNodejs20, "TMPDIR"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FunctionConfig fn = Function(c.runtime);
    fn.environment = {{c.key, "from-user"}};
    ASSERT_TRUE(ValidateFunctionConfig(fn).ok());
    RuntimeSettings s = Settings();
    s.tmp_dir = "/var/lib/wisp/env-1/tmp";
    std::vector<std::string> env = RuntimeEnvironment(fn, s, "127.0.0.1:1");
    int count = 0;
    for (const std::string& kv : env) count += KeyOf(kv) == c.key ? 1 : 0;
    EXPECT_EQ(count, 1) << ::testing::PrintToString(env);
  }
}

// ---------------------------------------------------------------------------------------------
// FormatFunctionLogLine

TEST(FormatFunctionLogLineTest, TextIsTheLineAsWritten) {
  struct Case {
    std::string name;
    std::string request_id;
    std::string line;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"inside an invocation", "req-1", "hello world", "hello world\n"},
      {"outside an invocation", "", "starting up", "starting up\n"},
      {"empty line", "req-1", "", "\n"},
      {"START line passes through", "req-1", "START RequestId: req-1 Version: $LATEST",
       "START RequestId: req-1 Version: $LATEST\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(FormatFunctionLogLine(LogFormat::kText, 1700000000123456, c.request_id, c.line),
              c.want);
  }
}

TEST(FormatFunctionLogLineTest, JsonIsOneObjectPerLine) {
  struct Case {
    std::string name;
    int64_t unix_micros;
    std::string request_id;
    std::string line;
    std::string want_time;
    std::string want_message;  // As a JSON reader sees it.
  };
  const std::vector<Case> cases = {
      {"milliseconds are truncated", 1700000000123456, "req-1", "hello",
       "2023-11-14T22:13:20.123Z", "hello"},
      {"the epoch", 0, "", "boot", "1970-01-01T00:00:00.000Z", "boot"},
      {"just before a second", 1700000000999999, "r", "x", "2023-11-14T22:13:20.999Z", "x"},
      {"quotes, backslashes and tabs are escaped", 1700000000000000, "req-2",
       "say \"hi\"\t\\ ok", "2023-11-14T22:13:20.000Z", "say \"hi\"\t\\ ok"},
      {"invalid utf-8 is replaced", 1700000000000000, "req-3", "bad \xff",
       "2023-11-14T22:13:20.000Z", "bad \xef\xbf\xbd"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string out = FormatFunctionLogLine(LogFormat::kJson, c.unix_micros, c.request_id, c.line);
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out.back(), '\n');
    std::string body = out.substr(0, out.size() - 1);
    EXPECT_EQ(body.find('\n'), std::string::npos) << "one line per entry: " << body;
    nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(doc.is_discarded()) << body;
    ASSERT_TRUE(doc.is_object()) << body;
    EXPECT_EQ(doc.size(), 3u) << body;
    EXPECT_EQ(doc.value("time", std::string("<missing>")), c.want_time);
    EXPECT_EQ(doc.value("requestId", std::string("<missing>")), c.request_id);
    EXPECT_EQ(doc.value("message", std::string("<missing>")), c.want_message);
  }
}

TEST(FormatFunctionLogLineTest, JsonExactBytes) {
  EXPECT_EQ(FormatFunctionLogLine(LogFormat::kJson, 1700000000123456, "req-1", "hello"),
            R"({"time":"2023-11-14T22:13:20.123Z","requestId":"req-1","message":"hello"})"
            "\n");
}

}  // namespace
}  // namespace wisp::worker
