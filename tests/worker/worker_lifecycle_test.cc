// wisp-worker's lifecycle and limits as a process, with real python3 runtimes: timeouts,
// crashes and out-of-memory kills each followed by recovery in a fresh environment, /tmp
// wiped on reset, N environments running at once, busy refusal, and drain on SIGTERM.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/worker_process.h"

namespace wisp::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kApp[] = R"(
import os, time, json

def sleepy(event, context):
    if event.get("mark"):
        with open("/tmp/marker", "w") as f:
            f.write("x")
    time.sleep(event.get("sleep", 0))
    return {"ok": True}

def check_tmp(event, context):
    import tempfile
    return {"marker": os.path.exists("/tmp/marker"), "tmpdir": tempfile.gettempdir()}

def crash(event, context):
    if event.get("exit") is not None:
        os._exit(event["exit"])
    return {"alive": True}

def hog(event, context):
    if event.get("mb"):
        chunks = []
        for _ in range(event["mb"]):
            chunks.append(bytearray(1024 * 1024))
            for i in range(0, len(chunks[-1]), 4096):
                chunks[-1][i] = 1
    return {"pid": os.getpid()}

def rendezvous(event, context):
    # Succeeds only if `want` invocations are inside the handler at the same time; then
    # stays until the test drops a "release" file.
    d = event["dir"]
    open(os.path.join(d, "in-" + context.aws_request_id), "w").close()
    deadline = time.time() + 15
    together = False
    while time.time() < deadline:
        names = os.listdir(d)
        together = together or len([n for n in names if n.startswith("in-")]) >= event["want"]
        if together and "release" in names:
            break
        time.sleep(0.01)
    return {"together": together}
)";

std::vector<std::string> Fn(const TempDir& code, const std::string& handler,
                            std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--name=life", "--runtime=python3.11", "--handler=" + handler,
                                   "--code=" + code.path()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override { code_.Write("app.py", kApp); }
  std::unique_ptr<WorkerProcess> Start(const std::string& handler,
                                       std::vector<std::string> extra = {}) {
    auto w = WorkerProcess::Start(Fn(code_, handler, std::move(extra)));
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }
  TempDir code_;
};

TEST_F(Lifecycle, TimeoutThenFreshEnvironmentWithWipedTmp) {
  // Two handlers share one module; a separate worker checks /tmp with the same layout.
  auto w = Start("app.sleepy", {"--timeout=1"});
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke(R"({"sleep": 30, "mark": true})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_error());
  EXPECT_EQ(r->error().error_type(), "Sandbox.Timedout");
  EXPECT_THAT(r->error().error_message(), HasSubstr("Task timed out after 1.00 seconds"));
  EXPECT_GE(r->duration_ms(), 1000);
  // The next call runs in a fresh environment: a cold start, and /tmp is empty again.
  auto next = w->Invoke(R"({"sleep": 0})");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->has_error()) << next->payload();
  EXPECT_TRUE(next->cold_start());
  EXPECT_THAT(w->Stdout(), HasSubstr("Status: timeout"));
}

TEST_F(Lifecycle, TmpIsPrivateAndWipedOnReset) {
  code_.Write("check.py", R"(
import os
def handler(event, context):
    # /tmp itself when the worker mounts a private /tmp, else the folder TMPDIR names.
    base = os.environ.get("TMPDIR", "/tmp")
    existed = os.path.exists(os.path.join(base, "marker"))
    open(os.path.join(base, "marker"), "w").close()
    if event.get("exit"):
        os._exit(1)
    return {"existed": existed}
)");
  auto w = Start("check.handler");
  ASSERT_NE(w, nullptr);
  auto first = w->Invoke("{}");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(nlohmann::json::parse(first->payload())["existed"], false);
  auto second = w->Invoke("{}");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(nlohmann::json::parse(second->payload())["existed"], true) << "same environment";
  auto crashed = w->Invoke(R"({"exit": true})");
  ASSERT_TRUE(crashed.ok());
  EXPECT_EQ(crashed->error().error_type(), "Runtime.ExitError");
  auto fresh = w->Invoke("{}");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(nlohmann::json::parse(fresh->payload())["existed"], false) << "/tmp was wiped";
}

TEST_F(Lifecycle, CrashMidInvocationThenRecovery) {
  auto w = Start("app.crash");
  ASSERT_NE(w, nullptr);
  auto r = w->Invoke(R"({"exit": 3})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_error());
  EXPECT_EQ(r->error().error_type(), "Runtime.ExitError");
  EXPECT_THAT(r->error().error_message(), HasSubstr("Runtime exited with error: exit status 3"));
  auto next = w->Invoke("{}");
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_error());
  EXPECT_TRUE(next->cold_start());
}

TEST_F(Lifecycle, OutOfMemoryThenRecovery) {
  auto w = Start("app.hog", {"--memory=128"});
  ASSERT_NE(w, nullptr);
  auto small = w->Invoke(R"({"mb": 10})");
  ASSERT_TRUE(small.ok());
  EXPECT_FALSE(small->has_error()) << small->payload();
  auto r = w->Invoke(R"({"mb": 400})");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_error()) << r->payload();
  EXPECT_EQ(r->error().error_type(), "Runtime.OutOfMemory");
  EXPECT_THAT(r->error().error_message(), HasSubstr("Runtime exited with error"));
  auto next = w->Invoke(R"({"mb": 1})");
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_error()) << next->payload();
  EXPECT_TRUE(next->cold_start());
}

TEST_F(Lifecycle, ConcurrencyRunsNAtOnceAndRefusesMore) {
  TempDir meet;
  auto w = Start("app.rendezvous", {"--concurrency=3", "--timeout=20"});
  ASSERT_NE(w, nullptr);
  std::string payload = absl::StrCat(R"({"dir":")", meet.path(), R"(","want":3})");
  std::vector<std::thread> threads;
  std::atomic<int> together{0};
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] {
      auto r = w->Invoke(payload);
      if (r.ok() && !r->has_error() && nlohmann::json::parse(r->payload())["together"] == true) {
        ++together;
      }
    });
  }
  // Once all three are inside the handler, a fourth is refused at once (the gateway queues).
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  auto inside = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(meet.path())) {
      n += e.path().filename().string().rfind("in-", 0) == 0;
    }
    return n;
  };
  while (inside() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(inside(), 3);
  auto fourth = w->Invoke(payload, false, absl::Seconds(5));
  meet.Write("release", "");
  for (auto& t : threads) t.join();
  EXPECT_EQ(together.load(), 3);
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted) << fourth.status();
}

TEST_F(Lifecycle, DrainOnSigtermFinishesInFlightAndExitsZero) {
  auto w = Start("app.sleepy", {"--concurrency=2", "--timeout=10"});
  ASSERT_NE(w, nullptr);
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      auto r = w->Invoke(R"({"sleep": 1.0})");
      (r.ok() && !r->has_error() ? ok : failed)++;
    });
  }
  // Wait until both are running, then ask the worker to stop.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    auto m = HttpGet(w->admin_port(), "/metrics");
    if (m.ok() && m->find("wisp_worker_in_flight{function=\"life\"} 2") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::thread stopper([&] {
    int status = w->Signal(SIGTERM, absl::Seconds(20));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  });
  // New work is refused while draining (busy refusals come first, while SIGTERM arrives).
  absl::Time until = absl::Now() + absl::Seconds(5);
  absl::StatusCode refused = absl::StatusCode::kOk;
  while (absl::Now() < until) {
    auto r = w->Invoke(R"({"sleep": 0})", false, absl::Seconds(2));
    if (!r.ok() && r.status().code() != absl::StatusCode::kResourceExhausted) {
      refused = r.status().code();
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  for (auto& t : threads) t.join();
  stopper.join();
  EXPECT_EQ(ok.load(), 2);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_TRUE(refused == absl::StatusCode::kUnavailable) << absl::StatusCodeToString(refused);
}

}  // namespace
}  // namespace wisp::testing
