// The operator against the Kubernetes API test server (in-process, real HTTP on
// loopback): reconciles assert the resulting world, not the calls made.
#include "operator/operator.h"
#include "tests/testing/test_cluster.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/apiserver/api_server.h"
#include "operator/apiserver/store.h"
#include "operator/apiserver/yaml.h"
#include "operator/kube/client.h"
#include "tests/testing/eventually.h"

namespace wisp::op {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace res = kube::resources;

// Polls `done` until it holds or 20 s pass.
using testing::Eventually;

json Function(const std::string& name, json spec_overrides = json::object()) {
  json spec = {
      {"runtime", "python3.11"},
      {"handler", "app.handler"},
      {"code",
       {{"inline", "def handler(event, context):\n    return event\n"}}}};
  spec.merge_patch(spec_overrides);
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

std::string Condition(const json& fn, const std::string& type,
                      const std::string& field = "status") {
  if (!fn.contains("status") || !fn["status"].contains("conditions")) return "";
  for (const json& c : fn["status"]["conditions"]) {
    if (c.value("type", "") == type) return c.value(field, "");
  }
  return "";
}

OperatorOptions Options() {
  OperatorOptions o;
  o.config.worker_images = {{"python3.11", "wisp/worker-python3.11:test"},
                            {"nodejs20", "wisp/worker-nodejs20:test"},
                            {"provided", "wisp/worker-provided:test"}};
  o.config.gateway_url = "http://gateway.test";
  o.workers = 2;
  o.leader.lease_namespace = "default";
  o.leader.lease_duration = absl::Seconds(2);
  o.leader.renew_deadline = absl::Milliseconds(1500);
  o.leader.retry_period = absl::Milliseconds(100);
  return o;
}

class OperatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::StartTestCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    server_ = std::move(cluster->server);
    client_ = std::move(cluster->client);
  }
  void TearDown() override {
    for (auto& o : operators_) o->Stop();
    operators_.clear();
    if (server_) server_->Stop();
  }
  Operator* StartOperator(OperatorOptions options) {
    operators_.push_back(
        std::make_unique<Operator>(client_.get(), std::move(options),
                                   std::make_shared<prometheus::Registry>()));
    operators_.back()->Start();
    return operators_.back().get();
  }
  json Get(const kube::Resource& r, const std::string& name) {
    auto got = client_->Get(r, "default", name);
    return got.ok() ? *got : json();
  }
  bool Exists(const kube::Resource& r, const std::string& name) {
    return client_->Get(r, "default", name).ok();
  }
  // What a kubelet would report for a Deployment whose pods are all ready.
  void MarkDeploymentReady(const std::string& name) {
    json dep = Get(res::Deployments(), name);
    int64_t replicas = dep["spec"].value("replicas", 1);
    json status = {
        {"status",
         {{"observedGeneration", dep["metadata"].value("generation", 1)},
          {"replicas", replicas},
          {"readyReplicas", replicas},
          {"availableReplicas", replicas},
          {"updatedReplicas", replicas},
          {"conditions",
           json::array({{{"type", "Available"}, {"status", "True"}},
                        {{"type", "Progressing"},
                         {"status", "True"},
                         {"reason", "NewReplicaSetAvailable"}}})}}}};
    ASSERT_TRUE(
        client_
            ->MergePatch(res::Deployments(), "default", name, status, "status")
            .ok());
  }

  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::vector<std::unique_ptr<Operator>> operators_;
};

TEST_F(OperatorTest, CreatesEveryChildWithOwnerReferencesAndReportsStatus) {
  StartOperator(Options());
  auto created =
      client_->Create(res::Functions(), "default", Function("hello"));
  ASSERT_TRUE(created.ok()) << created.status();
  std::string uid = (*created)["metadata"]["uid"];
  ASSERT_TRUE(Eventually([&] {
    return Exists(res::Deployments(), "hello") &&
           Exists(res::Services(), "hello") &&
           Exists(res::ConfigMaps(), "hello-config") &&
           Exists(res::ConfigMaps(), "hello-code");
  }));
  for (auto [r, name] :
       std::vector<std::pair<const kube::Resource*, std::string>>{
           {&res::Deployments(), "hello"},
           {&res::Services(), "hello"},
           {&res::ConfigMaps(), "hello-config"},
           {&res::ConfigMaps(), "hello-code"}}) {
    SCOPED_TRACE(name);
    json obj = Get(*r, name);
    ASSERT_TRUE(obj["metadata"].contains("ownerReferences"));
    EXPECT_EQ(obj["metadata"]["ownerReferences"][0]["uid"], uid);
    EXPECT_EQ(obj["metadata"]["ownerReferences"][0]["kind"], "Function");
    EXPECT_EQ(obj["metadata"]["labels"]["wisp.dev/function"], "hello");
  }
  json dep = Get(res::Deployments(), "hello");
  EXPECT_EQ(dep["spec"]["template"]["spec"]["containers"][0]["image"],
            "wisp/worker-python3.11:test");
  EXPECT_FALSE(Exists(res::PodDisruptionBudgets(), "hello"))
      << "minScale < 2: no PDB";
  ASSERT_TRUE(Eventually([&] {
    return Condition(Get(res::Functions(), "hello"), "ConfigValid") == "True";
  }));
  json fn = Get(res::Functions(), "hello");
  EXPECT_EQ(Condition(fn, "Ready"), "False") << "no replica is ready yet";
  EXPECT_EQ(fn["status"]["url"], "http://gateway.test/function/hello");
  EXPECT_EQ(fn["status"]["observedGeneration"], fn["metadata"]["generation"]);
}

TEST_F(OperatorTest, BecomesReadyWhenItsDeploymentIsReady) {
  StartOperator(Options());
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("ready")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(res::Deployments(), "ready"); }));
  MarkDeploymentReady("ready");
  ASSERT_TRUE(Eventually([&] {
    return Condition(Get(res::Functions(), "ready"), "Ready") == "True";
  }));
  json fn = Get(res::Functions(), "ready");
  EXPECT_EQ(fn["status"]["readyReplicas"], 1);
  // kubectl describe shows it: a Normal/Ready event about the Function.
  auto events = client_->List(res::Events(), "default");
  ASSERT_TRUE(events.ok());
  bool seen = false;
  for (const json& e : (*events)["items"]) {
    seen |= e["involvedObject"].value("name", "") == "ready" &&
            e.value("reason", "") == "Ready";
  }
  EXPECT_TRUE(seen);
}

TEST_F(OperatorTest, SpecChangeUpdatesTheWorkloadAndPdbFollowsMinScale) {
  StartOperator(Options());
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("grow")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(res::Deployments(), "grow"); }));
  json patch = {{"spec", {{"memoryMB", 256}, {"scaling", {{"minScale", 2}}}}}};
  ASSERT_TRUE(
      client_->MergePatch(res::Functions(), "default", "grow", patch).ok());
  ASSERT_TRUE(Eventually([&] {
    json dep = Get(res::Deployments(), "grow");
    return dep["spec"]["template"]["spec"]["containers"][0]["resources"]
              ["limits"]
                   .value("memory", "") == "320Mi" &&
           dep["spec"].value("replicas", 0) == 2 &&
           Exists(res::PodDisruptionBudgets(), "grow");
  })) << Get(res::Deployments(), "grow").dump(2);
  ASSERT_TRUE(client_
                  ->MergePatch(res::Functions(), "default", "grow",
                               json{{"spec", {{"scaling", {{"minScale", 0}}}}}})
                  .ok());
  EXPECT_TRUE(
      Eventually([&] { return !Exists(res::PodDisruptionBudgets(), "grow"); }));
}

TEST_F(OperatorTest, InvalidFunctionGetsReadyFalseWithTheReasonAndNoWorkload) {
  // The CRD cannot check variable names (a regex over map keys exceeds the CEL cost budget), so
  // this invalid spec passes admission and the operator is what refuses it.
  StartOperator(Options());
  ASSERT_TRUE(client_
                  ->Create(res::Functions(), "default",
                           Function("bad", {{"environment", {{"1BAD", "x"}}}}))
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    return Condition(Get(res::Functions(), "bad"), "Ready") == "False";
  }));
  json fn = Get(res::Functions(), "bad");
  EXPECT_EQ(Condition(fn, "Ready", "reason"), "InvalidSpec");
  EXPECT_THAT(Condition(fn, "ConfigValid", "message"),
              HasSubstr("spec.environment"));
  EXPECT_FALSE(Exists(res::Deployments(), "bad"));
  EXPECT_FALSE(Exists(res::ConfigMaps(), "bad-config"));
}

TEST_F(OperatorTest, DeletingTheFunctionDeletesItsChildren) {
  StartOperator(Options());
  ASSERT_TRUE(client_
                  ->Create(res::Functions(), "default",
                           Function("gone", {{"scaling", {{"minScale", 2}}}}))
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    return Exists(res::Deployments(), "gone") &&
           Exists(res::PodDisruptionBudgets(), "gone");
  }));
  ASSERT_TRUE(client_->Delete(res::Functions(), "default", "gone").ok());
  EXPECT_TRUE(Eventually([&] {
    return !Exists(res::Deployments(), "gone") &&
           !Exists(res::Services(), "gone") &&
           !Exists(res::ConfigMaps(), "gone-config") &&
           !Exists(res::ConfigMaps(), "gone-code") &&
           !Exists(res::PodDisruptionBudgets(), "gone");
  }));
}

TEST_F(OperatorTest, RecoversWhenWatchesExpire) {
  StartOperator(Options());
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("before")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(res::Deployments(), "before"); }));
  // Forget the history and end every watch with 410: informers must relist.
  server_->store().Compact();
  server_->store().ExpireWatches();
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("after")).ok());
  ASSERT_TRUE(client_->Delete(res::Functions(), "default", "before").ok());
  EXPECT_TRUE(Eventually([&] { return Exists(res::Deployments(), "after"); }));
  EXPECT_TRUE(
      Eventually([&] { return !Exists(res::Deployments(), "before"); }));
}

TEST_F(OperatorTest, ReconcilesAgainAfterAChildIsTamperedWith) {
  StartOperator(Options());
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("heal")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(res::Deployments(), "heal"); }));
  // Someone deletes the Deployment: the next reconcile (its watch event) puts
  // it back.
  ASSERT_TRUE(client_->Delete(res::Deployments(), "default", "heal").ok());
  EXPECT_TRUE(Eventually([&] { return Exists(res::Deployments(), "heal"); }));
}

// Reports go in through the snapshot service's sink (the Operator's autoscaling()); the
// decisions come out as spec.replicas through the scale subresource, and the reconciler makes
// the Deployment follow. Scaling to zero takes scaleToZeroAfterSeconds (≥ 30 s): see
// autoscaling_test for it with a fake clock.
TEST_F(OperatorTest, AutoscalesThroughTheScaleSubresource) {
  Operator* op = StartOperator(Options());
  ASSERT_NE(op->autoscaling(), nullptr);
  ASSERT_TRUE(client_->Create(res::Functions(), "default", Function("busy")).ok());
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("cold", {{"replicas", 0}})).ok());
  ASSERT_TRUE(Eventually(
      [&] { return Exists(res::Deployments(), "busy") && Exists(res::Deployments(), "cold"); }));

  // Steady load: 5 in flight with target 1 (perInstance) → up, the Deployment follows.
  ASSERT_TRUE(Eventually([&] {
    op->autoscaling()->OnConcurrency(
        "gw", {{"busy", {.average_in_flight = 5, .interval_ms = 1000}}});
    json fn = Get(res::Functions(), "busy");
    int64_t replicas = fn["spec"].value("replicas", 0);
    return replicas >= 2 &&
           Get(res::Deployments(), "busy")["spec"].value("replicas", 0) == replicas &&
           fn.contains("status") && fn["status"].contains("lastScaleTime");
  })) << Get(res::Functions(), "busy").dump(2);

  // A demand signal at zero → 1 at once (no load report needed).
  EXPECT_EQ(Get(res::Deployments(), "cold")["spec"].value("replicas", -1), 0);
  op->autoscaling()->OnDemand("gw", "cold");
  EXPECT_TRUE(Eventually([&] {
    return Get(res::Functions(), "cold")["spec"].value("replicas", 0) == 1 &&
           Get(res::Deployments(), "cold")["spec"].value("replicas", 0) == 1;
  })) << Get(res::Functions(), "cold").dump(2);
}

TEST_F(OperatorTest, OneLeaderAtATimeAndFailover) {
  OperatorOptions a = Options();
  a.leader_elect = true;
  a.leader.identity = "a";
  OperatorOptions b = a;
  b.leader.identity = "b";
  Operator* first = StartOperator(a);
  Operator* second = StartOperator(b);
  ASSERT_TRUE(
      Eventually([&] { return first->IsLeader() || second->IsLeader(); }));
  // Never both.
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(first->IsLeader() && second->IsLeader());
    absl::SleepFor(absl::Milliseconds(10));
  }
  Operator* leader = first->IsLeader() ? first : second;
  Operator* standby = leader == first ? second : first;
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("one")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(res::Deployments(), "one"); }));
  leader->Stop();
  ASSERT_TRUE(Eventually([&] { return standby->IsLeader(); }));
  json lease = Get(res::Leases(), "wisp-operator");
  EXPECT_EQ(lease["spec"]["holderIdentity"], standby == first ? "a" : "b");
  ASSERT_TRUE(
      client_->Create(res::Functions(), "default", Function("two")).ok());
  EXPECT_TRUE(Eventually([&] { return Exists(res::Deployments(), "two"); }));
}

// The leader writes its address into the Lease; every replica reports the live leader's
// address (and whether it leads) to OnLeaderChange, which feeds the gateways' snapshots.
TEST_F(OperatorTest, LeaderAdvertisesItsAddressAndEveryReplicaSeesIt) {
  struct Seen {
    absl::Mutex mu;
    bool leading = false;
    std::string address;
  };
  Seen seen_a, seen_b;
  auto start = [&](const std::string& identity, const std::string& address, Seen* seen) {
    OperatorOptions o = Options();
    o.leader_elect = true;
    o.leader.identity = identity;
    operators_.push_back(std::make_unique<Operator>(client_.get(), std::move(o),
                                                    std::make_shared<prometheus::Registry>()));
    Operator* op = operators_.back().get();
    op->set_advertise_address(address);
    op->OnLeaderChange([seen](bool leading, const std::string& leader_address) {
      absl::MutexLock l(&seen->mu);
      seen->leading = leading;
      seen->address = leader_address;
    });
    op->Start();
    return op;
  };
  auto state = [](Seen& seen) {
    absl::MutexLock l(&seen.mu);
    return std::make_pair(seen.leading, seen.address);
  };
  auto annotation = [&] {
    json lease = Get(res::Leases(), "wisp-operator");
    return lease["metadata"].value("annotations", json::object()).value(kLeaderAddressAnnotation, "");
  };
  Operator* a = start("a", "10.0.0.1:9100", &seen_a);
  ASSERT_TRUE(Eventually([&] { return a->IsLeader(); }));
  Operator* b = start("b", "10.0.0.2:9100", &seen_b);
  EXPECT_TRUE(Eventually([&] {
    return state(seen_a) == std::make_pair(true, std::string("10.0.0.1:9100")) &&
           state(seen_b) == std::make_pair(false, std::string("10.0.0.1:9100"));
  })) << state(seen_b).second;
  EXPECT_EQ(annotation(), "10.0.0.1:9100");

  a->Stop();  // releases the Lease
  ASSERT_TRUE(Eventually([&] { return b->IsLeader(); }));
  EXPECT_TRUE(Eventually(
      [&] { return state(seen_b) == std::make_pair(true, std::string("10.0.0.2:9100")); }));
  EXPECT_EQ(annotation(), "10.0.0.2:9100");
  for (auto& o : operators_) o->Stop();  // before seen_a and seen_b go
}

TEST(AdvertiseAddressTest, HostsGetThePortAndAddressesStayAsGiven) {
  struct Case {
    std::string name, in;
    int port;
    std::string want;  // "!" = INVALID_ARGUMENT
  };
  const std::vector<Case> cases = {
      {"empty advertises nothing", "", 9100, ""},
      {"IPv4 host", "10.0.0.7", 9100, "10.0.0.7:9100"},
      {"name", "op-0.example", 9100, "op-0.example:9100"},
      {"IPv4 with port", "10.0.0.7:9200", 9100, "10.0.0.7:9200"},
      {"bare IPv6", "fd00::7", 9100, "[fd00::7]:9100"},
      {"bracketed IPv6", "[fd00::7]", 9100, "[fd00::7]:9100"},
      {"bracketed IPv6 with port", "[fd00::7]:9200", 9100, "[fd00::7]:9200"},
      {"port 0 (bound port unknown)", "10.0.0.7", 0, "!"},
      {"port out of range", "10.0.0.7:70000", 9100, "!"},
      {"port not a number", "10.0.0.7:http", 9100, "!"},
      {"empty port", "10.0.0.7:", 9100, "!"},
      {"empty host", ":9100", 9100, "!"},
      {"unclosed bracket", "[fd00::7", 9100, "!"},
      {"junk after bracket", "[fd00::7]x", 9100, "!"},
      {"whitespace", "10.0.0.7 ", 9100, "!"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> got = AdvertiseAddress(c.in, c.port);
    if (c.want == "!") {
      EXPECT_TRUE(absl::IsInvalidArgument(got.status())) << got.status();
    } else {
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(*got, c.want);
    }
  }
}

}  // namespace
}  // namespace wisp::op
