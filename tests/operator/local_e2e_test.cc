// The local platform end to end, as processes (tests/testing/local_platform.h): wisp-apiserver,
// wisp-kubelet running real python workers, wisp-operator (two, leader-elected, in one test),
// wisp-gateway; HTTP load from this process. Short autoscaler windows (6 s stable, 2 s panic,
// 2 s scale-down delay, 4 s to zero) keep each test well under a minute. Every wait polls with a
// deadline; every request's outcome is counted and failures are asserted to be zero.
#include <httplib.h>

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/kube/client.h"
#include "tests/testing/local_platform.h"

namespace wisp {
namespace {

using nlohmann::json;
using testing::LocalPlatform;
using testing::LocalPlatformOptions;
namespace res = kube::resources;

// A python function on route /<name>: sleeps ?sleep= seconds, answers "hello <name>".
json SlowFunction(const std::string& name, json scaling) {
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"runtime", "python3.11"},
            {"handler", "app.handler"},
            {"timeoutSeconds", 10},
            {"code",
             {{"inline",
               "import time\n"
               "def handler(event, context):\n"
               "    q = event.get('queryStringParameters') or {}\n"
               "    time.sleep(float(q.get('sleep', '0')))\n"
               "    return {'statusCode': 200, 'body': 'hello " +
                   name + "'}\n"}}},
            {"scaling", scaling},
            {"triggers", json::array({{{"http", {{"path", "/" + name}}}}})}}}};
}

// Closed-loop HTTP load: `threads` clients, each sending its next request when the last is
// answered. Counts successes (200 with the expected body) and failures (anything else).
class Load {
 public:
  Load(int port, std::string path, std::string want, int threads)
      : port_(port), path_(std::move(path)), want_(std::move(want)) {
    SetThreads(threads);
  }
  ~Load() { Stop(); }
  // Changes the number of client threads (extra ones finish their current request and stop).
  void SetThreads(int n) {
    while (static_cast<int>(threads_.size()) < n) {
      auto stop = std::make_shared<std::atomic<bool>>(false);
      stops_.push_back(stop);
      threads_.emplace_back([this, stop] { Run(*stop); });
    }
    while (static_cast<int>(threads_.size()) > n) {
      stops_.back()->store(true);
      threads_.back().join();
      threads_.pop_back();
      stops_.pop_back();
    }
  }
  void Stop() { SetThreads(0); }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  std::string first_failure() {
    absl::MutexLock l(&mu_);
    return first_failure_;
  }

 private:
  void Run(const std::atomic<bool>& stop) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(30, 0);
    client.set_keep_alive(true);
    while (!stop.load()) {
      auto res = client.Get(path_);
      if (res && res->status == 200 && absl::StrContains(res->body, want_)) {
        ok_++;
        continue;
      }
      failed_++;
      absl::MutexLock l(&mu_);
      if (first_failure_.empty()) {
        first_failure_ = res ? absl::StrCat(res->status, " ", res->body)
                             : absl::StrCat("error ", httplib::to_string(res.error()));
      }
    }
  }

  const int port_;
  const std::string path_, want_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<std::atomic<bool>>> stops_;
  std::atomic<int> ok_{0}, failed_{0};
  absl::Mutex mu_;
  std::string first_failure_;
};

class LocalE2ETest : public ::testing::Test {
 protected:
  void Start(LocalPlatformOptions options = {}) {
    auto p = LocalPlatform::Start(options);
    ASSERT_TRUE(p.ok()) << p.status();
    platform_ = std::move(*p);
  }
  void TearDown() override {
    if (HasFailure() && platform_) std::cerr << platform_->Describe();
    platform_.reset();
  }
  // One GET through the gateway: (status, body); status 0 when the connection failed.
  std::pair<int, std::string> Get(const std::string& path) {
    httplib::Client client("127.0.0.1", platform_->gateway_port());
    client.set_read_timeout(30, 0);
    auto res = client.Get(path);
    if (!res) return {0, httplib::to_string(res.error())};
    return {res->status, res->body};
  }
  bool Eventually(const std::function<bool()>& done, absl::Duration timeout) {
    return LocalPlatform::Eventually(done, timeout);
  }
  // The replica indexes of the Pods the kubelet keeps for `name` (from their names).
  std::vector<std::string> PodNames(const std::string& name) {
    std::vector<std::string> names;
    auto pods = platform_->client().List(res::Pods(), "default");
    if (!pods.ok()) return names;
    for (const json& pod : (*pods)["items"]) {
      std::string n = pod["metadata"].value("name", "");
      if (absl::StartsWith(n, name + "-")) names.push_back(n);
    }
    return names;
  }
  absl::Status Scale(const std::string& name, int replicas) {
    return platform_->client()
        .MergePatch(res::Functions(), "default", name, json{{"spec", {{"replicas", replicas}}}},
                    "scale")
        .status();
  }

  std::unique_ptr<LocalPlatform> platform_;
};

// Apply → Ready → curl → a step load scales it up → idle scales it to zero → the next request
// waits and succeeds → delete removes everything.
TEST_F(LocalE2ETest, ApplyServeScaleUpScaleToZeroWakeAndDelete) {
  Start();
  LocalPlatform& p = *platform_;
  ASSERT_TRUE(p.Apply(SlowFunction("life", {{"minScale", 0}, {"maxScale", 4}})).ok());
  ASSERT_TRUE(p.WaitReady("life")) << "not Ready";
  auto [status, body] = Get("/life");
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(body, "hello life");

  // A step from nothing to 6 concurrent clients of a 0.3 s handler: 1 pod cannot carry it.
  {
    Load load(p.gateway_port(), "/life?sleep=0.3", "hello life", 6);
    EXPECT_TRUE(Eventually([&] { return p.ReadyReplicas("life") >= 3; }, absl::Seconds(30)))
        << "desired " << p.DesiredReplicas("life") << ", ready " << p.ReadyReplicas("life");
    EXPECT_TRUE(Eventually([&] { return load.ok() >= 20; }, absl::Seconds(20)));
    load.Stop();
    EXPECT_EQ(load.failed(), 0) << load.first_failure();
  }

  // Idle: down to zero, no worker left.
  EXPECT_TRUE(Eventually(
      [&] { return p.DesiredReplicas("life") == 0 && p.WorkerProcesses("life") == 0; },
      absl::Seconds(40)))
      << "desired " << p.DesiredReplicas("life") << ", workers " << p.WorkerProcesses("life");
  EXPECT_TRUE(PodNames("life").empty());

  // From zero: the request waits for a worker and succeeds.
  std::tie(status, body) = Get("/life");
  EXPECT_EQ(status, 200) << body;
  EXPECT_EQ(body, "hello life");
  EXPECT_GE(p.DesiredReplicas("life"), 1);

  // Delete removes everything: the workload, its Pods and slices, the workers, the route.
  ASSERT_TRUE(p.Delete("life").ok());
  EXPECT_TRUE(Eventually(
      [&] {
        auto slices = p.client().List(res::EndpointSlices(), "default");
        return p.ReadyReplicas("life") == -1 && p.WorkerProcesses("life") == 0 &&
               PodNames("life").empty() && slices.ok() && (*slices)["items"].empty();
      },
      absl::Seconds(30)));
  EXPECT_TRUE(Eventually([&] { return Get("/life").first == 404; }, absl::Seconds(10)));
}

// Two operators; the leader is SIGKILLed while the gateway serves a steady load: not one
// request fails, the standby takes over, and the gateway follows it (a Function applied after
// the failover is routed).
TEST_F(LocalE2ETest, LeaderKilledUnderLoadGatewayKeepsServing) {
  LocalPlatformOptions options;
  options.operators = 2;
  Start(options);
  LocalPlatform& p = *platform_;
  ASSERT_TRUE(p.Apply(SlowFunction("steady", {{"minScale", 1}, {"maxScale", 3}})).ok());
  ASSERT_TRUE(p.WaitReady("steady"));
  ASSERT_EQ(Get("/steady").first, 200);

  Load load(p.gateway_port(), "/steady?sleep=0.05", "hello steady", 3);
  ASSERT_TRUE(Eventually([&] { return load.ok() >= 20; }, absl::Seconds(20)));
  ASSERT_EQ(p.LeaseHolder(), "op-0");
  p.operator_process(0).Kill();
  EXPECT_TRUE(Eventually([&] { return p.LeaseHolder() == "op-1"; }, absl::Seconds(30)));
  const int at_takeover = load.ok();
  EXPECT_TRUE(Eventually([&] { return load.ok() >= at_takeover + 30; }, absl::Seconds(20)));

  ASSERT_TRUE(p.Apply(SlowFunction("after", {{"minScale", 1}})).ok());
  EXPECT_TRUE(p.WaitReady("after"));
  EXPECT_TRUE(Eventually([&] { return Get("/after").first == 200; }, absl::Seconds(20)));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.first_failure();
  EXPECT_GT(load.ok(), at_takeover);
}

// Two operators, and the gateway's --operator names only the standby (op-1): its first stream
// lands on a replica whose autoscaler does nothing. It must follow the leader's advertised
// address so that its load scales the function up, and its demand wakes it from zero.
// Regression test: reports sent to a non-leader were ignored, so nothing ever scaled.
TEST_F(LocalE2ETest, GatewayOnTheStandbyScalesUpAndWakesFromZero) {
  LocalPlatformOptions options;
  options.operators = 2;
  options.gateway_operators = {1};
  Start(options);
  LocalPlatform& p = *platform_;
  ASSERT_EQ(p.LeaseHolder(), "op-0");
  ASSERT_TRUE(p.Apply(SlowFunction("follow", {{"minScale", 0}, {"maxScale", 4}})).ok());
  ASSERT_TRUE(p.WaitReady("follow")) << "not Ready";
  ASSERT_EQ(Get("/follow").first, 200);
  EXPECT_TRUE(Eventually(
      [&] { return absl::StrContains(p.gateway().Log(), "following the operator leader"); },
      absl::Seconds(10)));

  {
    Load load(p.gateway_port(), "/follow?sleep=0.3", "hello follow", 6);
    EXPECT_TRUE(Eventually([&] { return p.ReadyReplicas("follow") >= 3; }, absl::Seconds(30)))
        << "desired " << p.DesiredReplicas("follow") << ", ready " << p.ReadyReplicas("follow");
    load.Stop();
    EXPECT_EQ(load.failed(), 0) << load.first_failure();
  }
  EXPECT_TRUE(Eventually(
      [&] { return p.DesiredReplicas("follow") == 0 && p.WorkerProcesses("follow") == 0; },
      absl::Seconds(40)))
      << "desired " << p.DesiredReplicas("follow") << ", workers " << p.WorkerProcesses("follow");
  auto [status, body] = Get("/follow");
  EXPECT_EQ(status, 200) << body;
  EXPECT_EQ(body, "hello follow");
  EXPECT_GE(p.DesiredReplicas("follow"), 1);
}

// A restarted gateway subscribes again: it serves the routes it had, and new ones.
TEST_F(LocalE2ETest, GatewayRestartedResubscribesAndServes) {
  Start();
  LocalPlatform& p = *platform_;
  ASSERT_TRUE(p.Apply(SlowFunction("before", {{"minScale", 1}})).ok());
  ASSERT_TRUE(p.WaitReady("before"));
  ASSERT_EQ(Get("/before").first, 200);

  ASSERT_TRUE(p.RestartGateway().ok());
  auto [status, body] = Get("/before");
  EXPECT_EQ(status, 200) << body;
  ASSERT_TRUE(p.Apply(SlowFunction("later", {{"minScale", 1}})).ok());
  ASSERT_TRUE(p.WaitReady("later"));
  EXPECT_TRUE(Eventually([&] { return Get("/later").first == 200; }, absl::Seconds(20)));
}

// The autoscaler scales down while requests keep coming: not one fails.
TEST_F(LocalE2ETest, ScaleDownUnderLoadFailsNothing) {
  Start();
  LocalPlatform& p = *platform_;
  ASSERT_TRUE(p.Apply(SlowFunction("ebb", {{"minScale", 1}, {"maxScale", 4}})).ok());
  ASSERT_TRUE(p.WaitReady("ebb"));
  Load load(p.gateway_port(), "/ebb?sleep=0.3", "hello ebb", 6);
  ASSERT_TRUE(Eventually([&] { return p.ReadyReplicas("ebb") >= 3; }, absl::Seconds(30)))
      << "desired " << p.DesiredReplicas("ebb");
  // Down to one client (about 1 in flight, so 1 or 2 pods at 70% target utilisation): the
  // function scales down with requests in flight throughout.
  load.SetThreads(1);
  EXPECT_TRUE(Eventually(
      [&] {
        const int desired = p.DesiredReplicas("ebb");
        return desired >= 1 && desired <= 2 && p.WorkerProcesses("ebb") == desired;
      },
      absl::Seconds(40)))
      << "desired " << p.DesiredReplicas("ebb") << ", workers " << p.WorkerProcesses("ebb");
  const int before = load.ok();
  EXPECT_TRUE(Eventually([&] { return load.ok() >= before + 3; }, absl::Seconds(20)));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.first_failure();
  // The operator annotated the Pods before lowering the count.
  EXPECT_TRUE(absl::StrContains(p.Describe(), "chose a replica to remove"));
}

// Drain-aware scale-down, deterministically: the kubelet removes the Pods with the lowest
// pod-deletion-cost first (as the ReplicaSet controller does), and a removed worker finishes
// the call it is running (the worker drains on SIGTERM): nothing in flight is lost.
TEST_F(LocalE2ETest, ScaleDownRemovesCheapestPodsAndLosesNothingInFlight) {
  LocalPlatformOptions options;
  options.operator_args = {"--autoscale=false"};  // replica counts are set by this test
  Start(options);
  LocalPlatform& p = *platform_;
  ASSERT_TRUE(p.Apply(SlowFunction("drain", {{"minScale", 0}, {"maxScale", 3}})).ok());
  ASSERT_TRUE(Scale("drain", 3).ok());
  ASSERT_TRUE(Eventually([&] { return p.ReadyReplicas("drain") == 3; }, absl::Seconds(30)));
  ASSERT_TRUE(Eventually([&] { return PodNames("drain").size() == 3; }, absl::Seconds(10)));
  // The slices point at the Pods.
  auto slices = p.client().List(res::EndpointSlices(), "default");
  ASSERT_TRUE(slices.ok());
  for (const json& s : (*slices)["items"]) {
    EXPECT_EQ(s["endpoints"][0]["targetRef"].value("kind", ""), "Pod");
  }
  // Costs: drain-1 is the cheapest, then drain-0; drain-2 is busiest.
  for (auto [pod, cost] : std::vector<std::pair<std::string, std::string>>{
           {"drain-0", "500"}, {"drain-1", "0"}, {"drain-2", "900"}}) {
    ASSERT_TRUE(p.client()
                    .MergePatch(res::Pods(), "default", pod,
                                json{{"metadata",
                                      {{"annotations",
                                        {{"controller.kubernetes.io/pod-deletion-cost", cost}}}}}})
                    .ok());
  }
  // Three calls of 2 s in flight (one per worker, as each runs one at a time), then 3 → 1.
  Load load(p.gateway_port(), "/drain?sleep=2", "hello drain", 3);
  ASSERT_TRUE(Eventually(
      [&] {
        auto m = p.GatewayMetrics();
        return m.ok() && absl::StrContains(*m, "wisp_gateway_in_flight{function=\"drain\"} 3");
      },
      absl::Seconds(20)));
  ASSERT_TRUE(Scale("drain", 1).ok());
  EXPECT_TRUE(Eventually([&] { return PodNames("drain") == std::vector<std::string>{"drain-2"}; },
                         absl::Seconds(20)));
  EXPECT_TRUE(Eventually([&] { return p.WorkerProcesses("drain") == 1; }, absl::Seconds(30)));
  load.Stop();
  EXPECT_EQ(load.failed(), 0) << load.first_failure();
  EXPECT_GE(load.ok(), 3);
}

}  // namespace
}  // namespace wisp
