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
  absl::Status MarkDeletionCosts(const std::string& ns, const std::string& name,
                                 const std::map<std::string, double>& in_flight) override {
    absl::MutexLock l(&mu_);
    json fn = functions[ns + "/" + name];
    marks.push_back({in_flight, fn["spec"].contains("replicas")
                                    ? fn["spec"]["replicas"].get<int>()
                                    : -1});
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
  // MarkDeletionCosts calls: the loads, and spec.replicas when they were marked.
  struct Mark {
    std::map<std::string, double> in_flight;
    int replicas_then;
  };
  std::vector<Mark> marks;
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

// Before the count goes down, the Pods are marked from the gateways' per-endpoint loads
// (summed over gateways), while the old count still stands.
TEST_F(AutoscalingTest, ScaleDownMarksDeletionCostsFirst) {
  world_.AddFunction("fn", {{"scaling", {{"minScale", 1}}}}, 4);
  world_.SetReplicas("default", "fn", 4);
  for (int i = 0; i < 200 && world_.Replicas("fn") == 4; ++i) {
    GatewayConcurrency load{.average_in_flight = 1};
    load.endpoints = {{"10.0.0.1:9000", 1.0}, {"10.0.0.2:9000", 0.0}};
    autoscaling_.OnConcurrency("gw", {{"fn", load}});
    GatewayConcurrency other{.average_in_flight = 0.5};
    other.endpoints = {{"10.0.0.1:9000", 0.25}, {"10.0.0.3:9000", 0.25}};
    autoscaling_.OnConcurrency("gw2", {{"fn", other}});
    autoscaling_.Tick();
    now_ += absl::Seconds(1);
  }
  ASSERT_LT(world_.Replicas("fn").value_or(4), 4);
  ASSERT_FALSE(world_.marks.empty());
  EXPECT_EQ(world_.marks[0].replicas_then, 4);
  EXPECT_EQ(world_.marks[0].in_flight,
            (std::map<std::string, double>{
                {"10.0.0.1:9000", 1.25}, {"10.0.0.2:9000", 0}, {"10.0.0.3:9000", 0.25}}));
}

TEST(PodDeletionCostsTest, IdlePodsCostNothingBusyOnesTheirLoad) {
  auto slice = [](int port, std::vector<std::pair<std::string, std::string>> endpoints) {
    json s = {{"ports", json::array({{{"name", "grpc"}, {"port", port}}})},
              {"endpoints", json::array()}};
    for (const auto& [address, pod] : endpoints) {
      json e = {{"addresses", json::array({address})}};
      if (!pod.empty()) e["targetRef"] = {{"kind", "Pod"}, {"name", pod}};
      s["endpoints"].push_back(e);
    }
    return s;
  };
  struct Case {
    std::string name;
    std::vector<json> slices;
    std::map<std::string, double> in_flight;
    std::map<std::string, int> want;
  };
  const std::vector<Case> cases = {
      {"idle and busy",
       {slice(9000, {{"10.0.0.1", "a"}, {"10.0.0.2", "b"}, {"10.0.0.3", "c"}})},
       {{"10.0.0.1:9000", 2.5}, {"10.0.0.2:9000", 0}},
       {{"a", 2500}, {"b", 0}, {"c", 0}}},
      {"a little load is never free", {slice(9000, {{"10.0.0.1", "a"}})},
       {{"10.0.0.1:9000", 0.0001}}, {{"a", 1}}},
      {"per-slice ports (local mode)",
       {slice(41001, {{"127.0.0.1", "fn-0"}}), slice(41002, {{"127.0.0.1", "fn-1"}})},
       {{"127.0.0.1:41002", 1}}, {{"fn-0", 0}, {"fn-1", 1000}}},
      {"no targetRef, no pod", {slice(9000, {{"10.0.0.1", ""}})}, {{"10.0.0.1:9000", 1}}, {}},
      {"capped", {slice(9000, {{"10.0.0.1", "a"}})}, {{"10.0.0.1:9000", 1e12}},
       {{"a", 1000000000}}},
      {"no grpc port", {json{{"endpoints", json::array()}}}, {}, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(PodDeletionCosts(c.slices, c.in_flight), c.want);
  }
}

}  // namespace
}  // namespace wisp::op
