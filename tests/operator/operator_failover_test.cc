// Leader failover between two wisp-operator PROCESSES against the Kubernetes API test server
// (in-process, real HTTP on loopback). The leader is SIGKILLed, so it cannot release the Lease:
// the standby must wait for the Lease to expire, take it, and reconcile.
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/apiserver/api_server.h"
#include "operator/apiserver/store.h"
#include "operator/apiserver/yaml.h"
#include "operator/kube/client.h"
#include "tests/testing/operator_process.h"
#include "tests/testing/test_cluster.h"
#include "tests/testing/eventually.h"

namespace wisp::op {
namespace {

using nlohmann::json;
using testing::OperatorProcess;
namespace res = kube::resources;

// Short leases so that a failover takes seconds. The leader renews every second and its claim
// lasts 3 s: a 2 s margin for a loaded machine before the standby could (wrongly) take over.
constexpr int kLeaseDurationSeconds = 3;
constexpr int kRenewDeadlineSeconds = 2;
constexpr int kRetryPeriodSeconds = 1;

// Polls `done` until it holds or `timeout` passes.
using testing::Eventually;

json Function(const std::string& name) {
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"runtime", "python3.11"},
            {"handler", "app.handler"},
            {"code",
             {{"inline",
               "def handler(event, context):\n    return event\n"}}}}}};
}

class OperatorFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::StartTestCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    server_ = std::move(cluster->server);
    client_ = std::move(cluster->client);
  }
  void TearDown() override {
    // On failure, what each operator logged says why.
    if (HasFailure()) {
      for (auto& p : operators_) std::cerr << p->Describe();
    }
    operators_.clear();  // SIGKILL and reap
    if (server_) server_->Stop();
  }
  OperatorProcess* StartOperator(const std::string& identity) {
    operators_.push_back(std::make_unique<OperatorProcess>(
        server_->url(), identity,
        std::vector<std::string>{
            "--leader_elect",
            "--lease_namespace=default",
            absl::StrCat("--lease_duration_seconds=", kLeaseDurationSeconds),
            absl::StrCat("--renew_deadline_seconds=", kRenewDeadlineSeconds),
            absl::StrCat("--retry_period_seconds=", kRetryPeriodSeconds),
            "--gateway_url=http://gateway.test",
        }));
    return operators_.back().get();
  }
  json Lease() {
    auto got = client_->Get(res::Leases(), "default", "wisp-operator");
    return got.ok() ? *got : json();
  }
  std::string Holder() {
    json lease = Lease();
    if (!lease.is_object() || !lease.contains("spec")) return "";
    return lease["spec"].value("holderIdentity", "");
  }
  bool Exists(const kube::Resource& r, const std::string& name) {
    return client_->Get(r, "default", name).ok();
  }

  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::vector<std::unique_ptr<OperatorProcess>> operators_;
};

TEST_F(OperatorFailoverTest, StandbyProcessTakesOverFromAKilledLeader) {
  OperatorProcess* a = StartOperator("operator-a");
  OperatorProcess* b = StartOperator("operator-b");
  ASSERT_TRUE(Eventually([&] { return a->AdminPort() != 0 && b->AdminPort() != 0; }))
      << "the operators did not start";

  // One of them takes the Lease, and knows it.
  ASSERT_TRUE(Eventually([&] {
    std::string h = Holder();
    return h == a->identity() || h == b->identity();
  })) << Lease().dump(2);
  std::string holder = Holder();
  OperatorProcess* leader = holder == a->identity() ? a : b;
  OperatorProcess* standby = leader == a ? b : a;
  ASSERT_TRUE(Eventually([&] { return leader->Metric("wisp_operator_leader") == 1; }));
  int64_t transitions = Lease()["spec"].value("leaseTransitions", int64_t{-1});

  // The leader reconciles a Function.
  ASSERT_TRUE(client_->Create(res::Functions(), "default", Function("before")).ok());
  ASSERT_TRUE(Eventually([&] { return Exists(res::Deployments(), "before"); }));
  ASSERT_TRUE(Eventually([&] { return leader->Metric("wisp_operator_reconciles_total") >= 1; }));

  // While both run, for longer than a lease lasts: the Lease never changes hands, only the
  // leader says it leads, and the standby reconciles nothing.
  absl::Time until = absl::Now() + absl::Seconds(kLeaseDurationSeconds + 1);
  int samples = 0;
  while (absl::Now() < until) {
    ASSERT_TRUE(a->Running() && b->Running());
    json lease = Lease();
    ASSERT_EQ(lease["spec"].value("holderIdentity", ""), leader->identity()) << lease.dump(2);
    ASSERT_EQ(lease["spec"].value("leaseTransitions", int64_t{-1}), transitions);
    ASSERT_EQ(leader->Metric("wisp_operator_leader"), 1);
    ASSERT_EQ(standby->Metric("wisp_operator_leader"), 0);
    ASSERT_EQ(standby->Metric("wisp_operator_reconciles_total"), 0);
    ++samples;
    absl::SleepFor(absl::Milliseconds(100));  // sampling interval, not a wait
  }
  EXPECT_GT(samples, 5);

  // Kill the leader: no release, so the standby takes over only once the Lease expires.
  absl::Time killed = absl::Now();
  leader->Kill();
  ASSERT_TRUE(Eventually([&] { return Holder() == standby->identity(); }, absl::Seconds(15)))
      << Lease().dump(2);
  absl::Duration takeover = absl::Now() - killed;
  std::cerr << "takeover after " << takeover << "\n";
  json lease = Lease();
  EXPECT_EQ(lease["spec"].value("leaseTransitions", int64_t{-1}), transitions + 1);
  // The leader renewed at most a retry period (plus a request) before the kill.
  EXPECT_GE(takeover, absl::Seconds(kLeaseDurationSeconds - kRetryPeriodSeconds) -
                          absl::Milliseconds(500))
      << "the standby took an unexpired Lease";
  ASSERT_TRUE(Eventually([&] { return standby->Metric("wisp_operator_leader") == 1; }));

  // The new leader reconciles a Function created after the kill.
  ASSERT_TRUE(client_->Create(res::Functions(), "default", Function("after")).ok());
  EXPECT_TRUE(Eventually([&] { return Exists(res::Deployments(), "after"); }, absl::Seconds(15)));
  EXPECT_TRUE(Eventually([&] { return Exists(res::ConfigMaps(), "after-config"); }));
  EXPECT_TRUE(Eventually([&] { return standby->Metric("wisp_operator_reconciles_total") >= 1; }));
  EXPECT_TRUE(standby->Running());
}

}  // namespace
}  // namespace wisp::op
