// Autoscaling in the operator (operator/autoscaling.h) driven with a fake clock against a
// stateful fake of the caches and the scale subresource: tests assert the resulting world.
#include "operator/autoscaling.h"

#include <map>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "prometheus/metric_family.h"

namespace wisp::op {
namespace {

using nlohmann::json;

// Functions and Deployments by "ns/name". A scale write also moves the Deployment, as the
// reconciler would.
class FakeWorld : public ScaleClient {
 public:
  std::vector<json> Functions() override {
    absl::MutexLock l(&mu_);
    std::vector<json> out;
    for (const auto& [key, fn] : functions) out.push_back(fn);
    return out;
  }
  std::optional<json> Deployment(const std::string& key) override {
    absl::MutexLock l(&mu_);
    auto it = deployments.find(key);
    if (it == deployments.end()) return std::nullopt;
    return it->second;
  }
  absl::Status SetReplicas(const std::string& ns, const std::string& name,
                           int replicas) override {
    absl::MutexLock l(&mu_);
    const std::string key = ns + "/" + name;
    functions[key]["spec"]["replicas"] = replicas;
    deployments[key]["spec"]["replicas"] = replicas;
    ++writes;
    return absl::OkStatus();
  }
  absl::Status SetLastScaleTime(const std::string& ns, const std::string& name,
                                absl::Time when) override {
    absl::MutexLock l(&mu_);
    functions[ns + "/" + name]["status"]["lastScaleTime"] = absl::FormatTime(when);
    return absl::OkStatus();
  }

  void AddFunction(const std::string& name, json spec, int deployment_replicas) {
    json base = {{"runtime", "python3.11"},
                 {"handler", "app.handler"},
                 {"code", {{"inline", "def handler(e, c):\n    return e\n"}}}};
    base.merge_patch(spec);
    absl::MutexLock l(&mu_);
    functions["default/" + name] = {{"apiVersion", "wisp.dev/v1alpha1"},
                                    {"kind", "Function"},
                                    {"metadata", {{"name", name}, {"namespace", "default"}}},
                                    {"spec", base}};
    deployments["default/" + name] = {
        {"spec", {{"replicas", deployment_replicas}}},
        {"status", {{"readyReplicas", deployment_replicas}}}};
  }
  json Function(const std::string& name) {
    absl::MutexLock l(&mu_);
    return functions["default/" + name];
  }
  std::optional<int64_t> Replicas(const std::string& name) {
    json fn = Function(name);
    if (!fn["spec"].contains("replicas")) return std::nullopt;
    return fn["spec"]["replicas"].get<int64_t>();
  }

  absl::Mutex mu_;
  std::map<std::string, json> functions;
  std::map<std::string, json> deployments;
  int writes = 0;
};

double Metric(prometheus::Registry& registry, const std::string& name,
              const std::map<std::string, std::string>& labels) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      std::map<std::string, std::string> got;
      for (const auto& l : m.label) got[l.name] = l.value;
      if (got != labels) continue;
      return family.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

class AutoscalingTest : public ::testing::Test {
 protected:
  AutoscalingTest()
      : registry_(std::make_shared<prometheus::Registry>()),
        autoscaling_(&world_, [this] { return leading_; }, registry_, {},
                     [this] { return now_; }) {}

  // The gateway "gw" reports `in_flight` for `function`, then a tick, one second apart.
  void ReportAndTick(const std::string& function, double in_flight, int seconds,
                     const std::string& gateway = "gw") {
    for (int i = 0; i < seconds; ++i) {
      autoscaling_.OnConcurrency(gateway, {{function, {.average_in_flight = in_flight}}});
      autoscaling_.Tick();
      now_ += absl::Seconds(1);
    }
  }

  FakeWorld world_;
  bool leading_ = true;
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
  std::shared_ptr<prometheus::Registry> registry_;
  Autoscaling autoscaling_;
};

TEST_F(AutoscalingTest, SteadyLoadScalesUpThroughTheScaleSubresource) {
  world_.AddFunction("busy", json::object(), 1);
  ReportAndTick("busy", 5, 3);
  // target 1 (perInstance) × utilization 0.7: ceil(5 / 0.7) = 8.
  EXPECT_EQ(world_.Replicas("busy"), 8);
  EXPECT_EQ(world_.deployments["default/busy"]["spec"]["replicas"], 8);
  EXPECT_TRUE(world_.Function("busy")["status"].contains("lastScaleTime"));
  EXPECT_EQ(Metric(*registry_, "wisp_operator_scale_events_total",
                   {{"function", "default/busy"}, {"direction", "up"}}),
            1);
  EXPECT_EQ(Metric(*registry_, "wisp_operator_autoscaler_desired_replicas",
                   {{"function", "default/busy"}}),
            8);
}

TEST_F(AutoscalingTest, LoadIsSummedOverGateways) {
  world_.AddFunction("two", json::object(), 1);
  autoscaling_.OnConcurrency("a", {{"two", {.average_in_flight = 2, .average_queued = 1}}});
  autoscaling_.OnConcurrency("b", {{"two", {.average_in_flight = 2}}});
  autoscaling_.Tick();
  EXPECT_EQ(world_.Replicas("two"), 8);  // ceil(5 / 0.7)
}

TEST_F(AutoscalingTest, AGatewayThatStoppedReportingStopsCounting) {
  world_.AddFunction("stale", json::object(), 1);
  autoscaling_.OnConcurrency("gone", {{"stale", {.average_in_flight = 50}}});
  now_ += absl::Seconds(4);  // > report_expiry: its report no longer counts
  ReportAndTick("stale", 0.5, 1, "live");
  EXPECT_EQ(world_.writes, 0) << world_.Function("stale").dump();
}

TEST_F(AutoscalingTest, SpecChangeRebuildsTheAutoscaler) {
  world_.AddFunction("capped", json::object(), 1);
  ReportAndTick("capped", 5, 2);
  ASSERT_EQ(world_.Replicas("capped"), 8);
  {
    absl::MutexLock l(&world_.mu_);
    world_.functions["default/capped"]["spec"]["scaling"] = {{"maxScale", 3}};
  }
  ReportAndTick("capped", 5, 1);
  EXPECT_EQ(world_.Replicas("capped"), 3);
}

TEST_F(AutoscalingTest, NoLoadScalesToZeroAfterScaleToZeroAfterSeconds) {
  world_.AddFunction("quiet", {{"scaling", {{"scaleToZeroAfterSeconds", 30}}}}, 1);
  ReportAndTick("quiet", 0, 30);  // t0 … t0+29 s
  EXPECT_EQ(world_.writes, 0) << "kept warm until idle for 30 s";
  ReportAndTick("quiet", 0, 1);  // t0+30 s
  EXPECT_EQ(world_.Replicas("quiet"), 0);
  EXPECT_EQ(world_.deployments["default/quiet"]["spec"]["replicas"], 0);
  EXPECT_EQ(Metric(*registry_, "wisp_operator_scale_events_total",
                   {{"function", "default/quiet"}, {"direction", "down"}}),
            1);
}

TEST_F(AutoscalingTest, MinScaleKeepsItFromZero) {
  world_.AddFunction("kept", {{"scaling", {{"minScale", 1}, {"scaleToZeroAfterSeconds", 30}}}},
                     1);
  ReportAndTick("kept", 0, 40);
  EXPECT_EQ(world_.writes, 0);
}

TEST_F(AutoscalingTest, DemandAtZeroScalesToOneAtOnce) {
  world_.AddFunction("cold", {{"replicas", 0}}, 0);
  autoscaling_.Tick();
  ASSERT_EQ(world_.Replicas("cold"), 0) << "no traffic: stays at zero";
  autoscaling_.OnDemand("gw", "cold");
  autoscaling_.ProcessDemands();  // same `now`: no tick needed
  EXPECT_EQ(world_.Replicas("cold"), 1);
  EXPECT_TRUE(world_.Function("cold")["status"].contains("lastScaleTime"));
}

TEST_F(AutoscalingTest, DemandByNamespacedKeyAlsoWakesIt) {
  world_.AddFunction("cold", {{"replicas", 0}}, 0);
  autoscaling_.OnDemand("gw", "default/cold");
  autoscaling_.ProcessDemands();
  EXPECT_EQ(world_.Replicas("cold"), 1);
}

TEST_F(AutoscalingTest, OnlyTheLeaderWrites) {
  leading_ = false;
  world_.AddFunction("standby", json::object(), 1);
  ReportAndTick("standby", 5, 3);
  autoscaling_.OnDemand("gw", "standby");
  autoscaling_.ProcessDemands();
  EXPECT_EQ(world_.writes, 0);
  leading_ = true;
  ReportAndTick("standby", 5, 1);
  EXPECT_EQ(world_.Replicas("standby"), 8);
}

TEST_F(AutoscalingTest, InvalidFunctionIsNotScaled) {
  world_.AddFunction("bad", {{"environment", {{"1BAD", "x"}}}}, 1);
  ReportAndTick("bad", 5, 3);
  EXPECT_EQ(world_.writes, 0);
}

}  // namespace
}  // namespace wisp::op
