// wisp-worker as a process, with real python3, node and a native `provided` bootstrap over
// real gRPC: results, function errors, init errors, context, payload limits, protocol errors,
// the REPORT line and the log tail.
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/worker_process.h"

namespace wisp::testing {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<WorkerProcess> StartOrDie(const std::vector<std::string>& args) {
  auto w = WorkerProcess::Start(args);
  EXPECT_TRUE(w.ok()) << w.status();
  return w.ok() ? std::move(*w) : nullptr;
}

std::vector<std::string> Fn(const TempDir& code, const std::string& runtime,
                            const std::string& handler, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--name=fn", "--runtime=" + runtime, "--handler=" + handler,
                                   "--code=" + code.path()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

constexpr char kPythonApp[] = R"(
import json, os
def handler(event, context):
    print("event", json.dumps(event))
    return {
        "event": event,
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ["AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "GREETING",
                "AWS_LAMBDA_LOG_GROUP_NAME", "LAMBDA_TASK_ROOT", "_HANDLER", "TZ"]},
    }
def fail(event, context):
    raise ValueError("bad input: " + str(event.get("x")))
def big(event, context):
    return "x" * (6 * 1024 * 1024 + 200)
def size(event, context):
    return len(event)
)";

TEST(WorkerRuntimes, PythonResultContextAndEnvironment) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w = StartOrDie(Fn(code, "python3.11", "app.handler", {"--env=GREETING=hi", "--memory=256"}));
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke(R"({"name":"Ada"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_error()) << r->payload();
  auto doc = nlohmann::json::parse(r->payload());
  EXPECT_EQ(doc["event"]["name"], "Ada");
  EXPECT_EQ(doc["functionName"], "fn");
  EXPECT_EQ(doc["memory"], 256);
  EXPECT_EQ(doc["arn"], "arn:aws:lambda:us-east-1:000000000000:function:fn");
  EXPECT_GT(doc["remaining"].get<int>(), 0);
  EXPECT_LE(doc["remaining"].get<int>(), 3000);
  EXPECT_EQ(doc["env"]["GREETING"], "hi");
  EXPECT_EQ(doc["env"]["AWS_LAMBDA_FUNCTION_NAME"], "fn");
  EXPECT_EQ(doc["env"]["AWS_REGION"], "us-east-1");
  EXPECT_EQ(doc["env"]["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/fn");
  EXPECT_EQ(doc["env"]["_HANDLER"], "app.handler");
  EXPECT_EQ(doc["env"]["TZ"], ":UTC");
  EXPECT_EQ(r->memory_size_mb(), 256);
  EXPECT_GE(r->billed_duration_ms(), 1);
  EXPECT_GT(r->max_memory_used_mb(), 0);
  EXPECT_EQ(r->executed_version(), "$LATEST");
  // The first invocation in an environment is its cold start; the next one is warm.
  EXPECT_TRUE(r->cold_start());
  EXPECT_GT(r->init_duration_ms(), 0);
  auto r2 = w->Invoke(R"({"name":"Bo"})");
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->cold_start());
  EXPECT_EQ(r2->init_duration_ms(), 0);
  EXPECT_NE(nlohmann::json::parse(r2->payload())["requestId"],
            nlohmann::json::parse(r->payload())["requestId"]);
}

TEST(WorkerRuntimes, PythonHandlerExceptionIsAFunctionError) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w = StartOrDie(Fn(code, "python3.11", "app.fail"));
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke(R"({"x":42})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_error());
  EXPECT_EQ(r->error().error_type(), "ValueError");
  EXPECT_EQ(r->error().error_message(), "bad input: 42");
  EXPECT_GT(r->error().stack_trace_size(), 0);
  auto doc = nlohmann::json::parse(r->payload());
  EXPECT_EQ(doc["errorType"], "ValueError");
  EXPECT_EQ(doc["errorMessage"], "bad input: 42");
  // The environment survives a handled error.
  auto again = w->Invoke(R"({"x":1})");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->cold_start());
}

TEST(WorkerRuntimes, PythonInitErrorIsReportedOnEveryInvocation) {
  TempDir code;
  code.Write("app.py", "import not_a_module_anywhere\n");
  auto w = StartOrDie(Fn(code, "python3.11", "app.handler"));
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 2; ++i) {
    auto r = w->Invoke("{}", /*log_tail=*/true);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_error());
    EXPECT_EQ(r->error().error_type(), "Runtime.ImportModuleError");
    EXPECT_THAT(r->error().error_message(), HasSubstr("Unable to import module 'app'"));
    EXPECT_TRUE(r->cold_start());
    EXPECT_THAT(r->log_tail(), HasSubstr("REPORT RequestId:"));
  }
}

TEST(WorkerRuntimes, NodeAsyncCallbackAndCommonJsHandlers) {
  TempDir code;
  code.Write("esm.mjs",
             "export const handler = async (event, context) => ({ got: event, id: "
             "context.awsRequestId, fn: context.functionName });\n");
  code.Write("cjs.js",
             "exports.handler = (event, context, callback) => { setTimeout(() => callback(null, "
             "{ cb: event.n * 2 }), 5); };\n"
             "exports.boom = async () => { const e = new TypeError('nope'); throw e; };\n");
  {
    auto w = StartOrDie(Fn(code, "nodejs20", "esm.handler"));
    ASSERT_NE(w, nullptr);
    auto r = w->Invoke(R"({"a":[1,2]})");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->has_error()) << r->payload();
    auto doc = nlohmann::json::parse(r->payload());
    EXPECT_EQ(doc["got"]["a"][1], 2);
    EXPECT_EQ(doc["fn"], "fn");
  }
  {
    auto w = StartOrDie(Fn(code, "nodejs20", "cjs.handler", {"--concurrency=2"}));
    ASSERT_NE(w, nullptr);
    auto r = w->Invoke(R"({"n":21})");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(nlohmann::json::parse(r->payload())["cb"], 42);
  }
  {
    auto w = StartOrDie(Fn(code, "nodejs20", "cjs.boom"));
    ASSERT_NE(w, nullptr);
    auto r = w->Invoke("{}");
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_TRUE(r->has_error());
    EXPECT_EQ(r->error().error_type(), "TypeError");
    EXPECT_EQ(r->error().error_message(), "nope");
    EXPECT_GT(r->error().stack_trace_size(), 0);
  }
}

TEST(WorkerRuntimes, NodeMissingHandlerIsAnInitError) {
  TempDir code;
  code.Write("index.js", "exports.other = async () => 1;\n");
  auto w = StartOrDie(Fn(code, "nodejs20", "index.handler"));
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke("{}");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_error());
  EXPECT_EQ(r->error().error_type(), "Runtime.HandlerNotFound");
}

TEST(WorkerRuntimes, ProvidedNativeBootstrapEchoes) {
  TempDir code;
  std::string bootstrap = BinDir() + "/../examples/provided-echo/bootstrap";
  code.Write("bootstrap", absl::StrCat("#!/bin/sh\nexec ", bootstrap, "\n"), 0755);
  auto w = StartOrDie({"--name=echo", "--runtime=provided", "--code=" + code.path()});
  ASSERT_NE(w, nullptr);
  for (const char* payload : {R"({"hello":"world"})", "[1,2,3]", "\"plain\""}) {
    auto r = w->Invoke(payload);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->payload(), payload);
  }
}

// A shell bootstrap that probes the Runtime API's protocol errors with curl and answers with
// what it saw.
TEST(WorkerRuntimes, RuntimeApiProtocolErrors) {
  TempDir code;
  code.Write("bootstrap", R"SH(#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  hdrs=$(mktemp)
  body=$(curl -sS -D "$hdrs" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$hdrs" | cut -d' ' -f2 | tr -d '\r')
  deadline=$(grep -i '^Lambda-Runtime-Deadline-Ms:' "$hdrs" | cut -d' ' -f2 | tr -d '\r')
  arn=$(grep -i '^Lambda-Runtime-Invoked-Function-Arn:' "$hdrs" | cut -d' ' -f2 | tr -d '\r')
  unknown=$(curl -sS -o /tmp/u -w '%{http_code}' -X POST -d '{}' "$api/invocation/not-a-request/response")
  unknown_body=$(cat /tmp/u)
  badpath=$(curl -sS -o /dev/null -w '%{http_code}' "$api/no/such/path")
  printf '{"unknown":%s,"unknownBody":%s,"badPath":%s,"deadline":%s,"arn":"%s"}' \
    "$unknown" "$unknown_body" "$badpath" "$deadline" "$arn" > /tmp/answer
  first=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data-binary @/tmp/answer "$api/invocation/$id/response")
  second=$(curl -sS -o /tmp/s -w '%{http_code}' -X POST -d '{}' "$api/invocation/$id/response")
  echo "first=$first second=$second $(cat /tmp/s)"
  rm -f "$hdrs"
done
)SH",
             0755);
  auto w = StartOrDie({"--name=probe", "--runtime=provided", "--code=" + code.path()});
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke("{}");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->has_error()) << r->payload();
  auto doc = nlohmann::json::parse(r->payload());
  EXPECT_EQ(doc["unknown"], 400);
  EXPECT_EQ(doc["unknownBody"]["errorType"], "InvalidRequestID");
  EXPECT_EQ(doc["unknownBody"]["errorMessage"], "Invalid request ID");
  EXPECT_EQ(doc["badPath"], 404);
  EXPECT_GT(doc["deadline"].get<int64_t>(), 1700000000000);
  EXPECT_EQ(doc["arn"], "arn:aws:lambda:us-east-1:000000000000:function:probe");
  // The second response for the same id is refused; the runtime logs what it got.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (w->Stdout().find("first=202 second=400") == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(w->Stdout(), HasSubstr("first=202 second=400 {\"errorMessage\":\"Invalid request ID\""));
}

// Regression: a runtime that died right after answering made the next invocation fail with
// Runtime.ExitError although that invocation never reached it. Now a runtime that dies while
// idle is replaced at once (a fresh init), and the next invocation runs there.
TEST(WorkerRuntimes, RuntimeThatExitsAfterAnsweringIsReplacedForTheNextInvocation) {
  TempDir code;
  code.Write("index.js",
             "exports.handler = async (event) => {\n"
             "  if (event.die) setTimeout(() => { throw new Error('late'); }, 0);\n"
             "  return { ok: true };\n"
             "};\n");
  auto w = StartOrDie(Fn(code, "nodejs20", "index.handler"));
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 3; ++i) {
    auto r = w->Invoke(R"({"die": true})");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->has_error()) << "invocation " << i << ": " << r->payload();
    EXPECT_TRUE(r->cold_start()) << "each runs in a freshly initialised environment";
    // Wait until the worker has replaced the dead runtime (one more initialisation).
    std::string want = absl::StrCat("wisp_worker_init_duration_seconds_count{function=\"fn\"} ", i + 2);
    absl::Time deadline = absl::Now() + absl::Seconds(15);
    std::string metrics;
    while (absl::Now() < deadline) {
      auto m = HttpGet(w->admin_port(), "/metrics");
      if (m.ok() && m->find(want) != std::string::npos &&
          m->find("state=\"idle\"} 1") != std::string::npos) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    ASSERT_LT(absl::Now(), deadline) << "the dead runtime was not replaced";
  }
}

// Regression: httplib refused form-encoded bodies over 8 KB (what `curl -d` sends) with 413.
TEST(WorkerRuntimes, FormEncodedResponsesOverEightKilobytesAreAccepted) {
  TempDir code;
  code.Write("bootstrap", R"SH(#!/bin/bash
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  id=$(curl -sS -D - -o /dev/null "$api/invocation/next" | grep -i '^Lambda-Runtime-Aws-Request-Id:' | cut -d' ' -f2 | tr -d '\r')
  printf '"%s"' "$(head -c 20000 /dev/zero | tr '\0' 'z')" > /tmp/body
  curl -sS -o /dev/null -d @/tmp/body "$api/invocation/$id/response"
done
)SH",
             0755);
  auto w = StartOrDie({"--name=form", "--runtime=provided", "--code=" + code.path()});
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke("{}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->has_error()) << r->payload();
  EXPECT_EQ(r->payload().size(), 20002u);
}

TEST(WorkerRuntimes, SixMegabytePayloadWorksAndOneByteMoreIsRefused) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w = StartOrDie(Fn(code, "python3.11", "app.size"));
  ASSERT_NE(w, nullptr);
  const size_t kLimit = 6 * 1024 * 1024;
  std::string payload = "\"" + std::string(kLimit - 2, 'a') + "\"";
  auto r = w->Invoke(payload);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->payload(), absl::StrCat(kLimit - 2));
  std::string over = "\"" + std::string(kLimit - 1, 'a') + "\"";
  auto refused = w->Invoke(over);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("over the 6291456-byte limit"));
}

TEST(WorkerRuntimes, OversizedResponseIsAFunctionError) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w = StartOrDie(Fn(code, "python3.11", "app.big"));
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke("{}");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_error());
  EXPECT_EQ(r->error().error_type(), "Function.ResponseSizeTooLarge");
  EXPECT_THAT(r->error().error_message(), HasSubstr("6291556 bytes"));
}

TEST(WorkerRuntimes, ReportLineFormatAndLogTail) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w = StartOrDie(Fn(code, "python3.11", "app.handler"));
  ASSERT_NE(w, nullptr);
  auto cold = w->Invoke(R"({"n":1})", /*log_tail=*/true);
  auto warm = w->Invoke(R"({"n":2})", /*log_tail=*/true);
  ASSERT_TRUE(cold.ok() && warm.ok());
  std::string cold_id = nlohmann::json::parse(cold->payload())["requestId"];
  std::string warm_id = nlohmann::json::parse(warm->payload())["requestId"];
  const std::regex cold_report(
      "REPORT RequestId: " + cold_id +
      "\tDuration: [0-9]+\\.[0-9]{2} ms\tBilled Duration: [0-9]+ ms\tMemory Size: 128 MB\t"
      "Max Memory Used: [0-9]+ MB\tInit Duration: [0-9]+\\.[0-9]{2} ms\t");
  const std::regex warm_report("REPORT RequestId: " + warm_id +
                               "\tDuration: [0-9]+\\.[0-9]{2} ms\tBilled Duration: [0-9]+ ms\t"
                               "Memory Size: 128 MB\tMax Memory Used: [0-9]+ MB\t");
  std::vector<std::string> lines = absl::StrSplit(w->Stdout(), '\n');
  int cold_found = 0, warm_found = 0;
  for (const auto& line : lines) {
    cold_found += std::regex_match(line, cold_report);
    warm_found += std::regex_match(line, warm_report);
  }
  EXPECT_EQ(cold_found, 1) << w->Stdout();
  EXPECT_EQ(warm_found, 1) << w->Stdout();
  // The tail holds this invocation's lines, in order, and nothing of the other one.
  std::string tail = warm->log_tail();
  size_t start = tail.find("START RequestId: " + warm_id + " Version: $LATEST");
  size_t printed = tail.find("event {\"n\": 2}");
  size_t end = tail.find("END RequestId: " + warm_id);
  size_t report = tail.find("REPORT RequestId: " + warm_id);
  EXPECT_NE(start, std::string::npos) << tail;
  EXPECT_LT(start, printed);
  EXPECT_LT(printed, end);
  EXPECT_LT(end, report);
  EXPECT_EQ(tail.find(cold_id), std::string::npos);
  EXPECT_THAT(cold->log_tail(), HasSubstr("Init Duration:"));
}

TEST(WorkerRuntimes, InvalidConfigIsRefusedAtStart) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  std::string big(4100, 'v');
  RunResult r = RunWorkerToExit(Fn(code, "python3.11", "app.handler", {"--env=BIG=" + big}),
                                absl::Seconds(10));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("over the 4 KB (4096 bytes) limit"));
  r = RunWorkerToExit(Fn(code, "python3.11", "app.handler", {"--memory=64"}), absl::Seconds(10));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("memoryMB 64 is below the minimum 128"));
  r = RunWorkerToExit(Fn(code, "ruby3.2", "app.handler"), absl::Seconds(10));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("runtime \\\"ruby3.2\\\" is not supported"));
}

TEST(WorkerRuntimes, WispInvokeExitCodes) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto ok_worker = StartOrDie(Fn(code, "python3.11", "app.size"));
  auto err_worker = StartOrDie(Fn(code, "python3.11", "app.fail"));
  ASSERT_NE(ok_worker, nullptr);
  ASSERT_NE(err_worker, nullptr);
  const std::string wisp = BinDir() + "/wisp";
  // Payload from an argument; result on stdout.
  RunResult r = RunProcess({wisp, "invoke", "--worker", ok_worker->target(), "--payload", "[1,2,3]"},
                           "", absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.stderr_text;
  EXPECT_EQ(r.stdout_text, "3");
  // Payload from stdin, with the log tail on stderr.
  r = RunProcess({wisp, "invoke", "--worker", ok_worker->target(), "--log-tail"}, "[1,2]",
                 absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.stdout_text, "2");
  EXPECT_THAT(r.stderr_text, HasSubstr("REPORT RequestId:"));
  // Payload from a file.
  code.Write("event.json", R"({"x":"from-file"})");
  r = RunProcess({wisp, "invoke", "--worker", err_worker->target(), "--payload-file",
                  code.path() + "/event.json"},
                 "", absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.stdout_text, "");
  auto err = nlohmann::json::parse(r.stderr_text);
  EXPECT_EQ(err["errorType"], "ValueError");
  EXPECT_EQ(err["errorMessage"], "bad input: from-file");
  // No worker there: a platform error.
  r = RunProcess({wisp, "invoke", "--worker", "127.0.0.1:1", "--timeout", "5"}, "{}",
                 absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("UNAVAILABLE"));
  r = RunProcess({wisp, "invoke"}, "", absl::Seconds(5));  // neither a name nor --worker
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.stderr_text, HasSubstr("NAME is required"));
}

TEST(WorkerRuntimes, MetricsAndHealthEndpoints) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w = StartOrDie(Fn(code, "python3.11", "app.handler"));
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Invoke("{}").ok());
  auto ready = HttpGet(w->admin_port(), "/readyz");
  ASSERT_TRUE(ready.ok()) << ready.status();
  auto metrics = HttpGet(w->admin_port(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_THAT(*metrics, HasSubstr("wisp_worker_invocations_total{function=\"fn\",outcome=\"success\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("wisp_worker_cold_starts_total{function=\"fn\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("wisp_worker_environments{function=\"fn\",state=\"idle\"} 1"));
  EXPECT_THAT(*metrics, HasSubstr("wisp_worker_gb_seconds_total"));
}

}  // namespace
}  // namespace wisp::testing
