// Reports reach the leader: two operator replicas' snapshot servers (in-process, over one API
// test server) and the gateway's StreamCatalog. Each server is told who leads (SetLeader, as
// Operator::OnLeaderChange does from the Lease); a catalog subscribed to the replica that does
// not lead must follow the leader's address, send its concurrency reports and demand signals
// there and nowhere else, and keep serving its last snapshot throughout. Regression test for
// "a gateway on a non-leader replica never scales its functions".
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gateway/stream_catalog.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/informer_set.h"
#include "operator/snapshot_service.h"
#include "tests/testing/test_cluster.h"
#include "tests/testing/eventually.h"

namespace wisp::op {
namespace {

using nlohmann::json;

using testing::Eventually;

// Records what reached one replica.
class RecordingSink : public GatewayReportSink {
 public:
  void OnConcurrency(const std::string& gateway,
                     const std::map<std::string, GatewayConcurrency>& loads) override {
    absl::MutexLock l(&mu_);
    ++reports_[gateway];
    for (const auto& [fn, load] : loads) in_flight_[fn] = load.average_in_flight;
  }
  void OnDemand(const std::string& gateway, const std::string& function) override {
    absl::MutexLock l(&mu_);
    demands_.push_back(gateway + "/" + function);
  }
  void OnGatewayGone(const std::string&) override {}

  int Reports(const std::string& gateway) {
    absl::MutexLock l(&mu_);
    return reports_[gateway];
  }
  double InFlight(const std::string& function) {
    absl::MutexLock l(&mu_);
    return in_flight_.contains(function) ? in_flight_[function] : -1;
  }
  std::vector<std::string> Demands() {
    absl::MutexLock l(&mu_);
    return demands_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> reports_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, double> in_flight_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> demands_ ABSL_GUARDED_BY(mu_);
};

// One operator replica: its caches, its sink and its snapshot server.
struct Replica {
  std::unique_ptr<InformerSet> functions;
  std::unique_ptr<InformerSet> slices;
  RecordingSink sink;
  // Owns the server's metrics: outlives it.
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<SnapshotServer> server;
  std::string address;
  ~Replica() {
    if (server) server->Stop();
    if (functions) functions->Stop();
    if (slices) slices->Stop();
  }
};

// A loopback port nothing listens on (bound, then closed).
int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

class LeaderRoutingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::StartTestCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    api_ = std::move(cluster->server);
    client_ = std::move(cluster->client);
    json fn = {{"apiVersion", "wisp.dev/v1alpha1"},
               {"kind", "Function"},
               {"metadata", {{"name", "hello"}, {"namespace", "default"}}},
               {"spec",
                {{"runtime", "nodejs20"},
                 {"handler", "index.handler"},
                 {"code", {{"inline", "exports.handler = async () => 'hi';"}}},
                 {"triggers", json::array({{{"http", {{"path", "/hello"}}}}})}}}};
    ASSERT_TRUE(client_->Create(kube::resources::Functions(), "default", fn).ok());
    for (int i = 0; i < 2; ++i) {
      auto r = std::make_unique<Replica>();
      r->functions = std::make_unique<InformerSet>(client_.get(), kube::resources::Functions(),
                                                   std::vector<std::string>{});
      r->slices = std::make_unique<InformerSet>(
          client_.get(), kube::resources::EndpointSlices(), std::vector<std::string>{},
          kube::ListOptions{.label_selector = "kubernetes.io/service-name"});
      auto server = SnapshotServer::Start({"127.0.0.1", 0}, r->functions.get(), r->slices.get(),
                                          &r->sink, r->registry);
      ASSERT_TRUE(server.ok()) << server.status();
      r->server = std::move(*server);
      r->address = absl::StrCat("127.0.0.1:", r->server->port());
      r->functions->Start();
      r->slices->Start();
      replicas_.push_back(std::move(r));
    }
  }
  void TearDown() override {
    if (catalog_) catalog_->Stop();
    catalog_.reset();
    replicas_.clear();
    if (api_) api_->Stop();
  }

  // A catalog subscribed to `target`, reporting 2 calls in flight for "hello".
  void StartCatalog(const std::string& target) {
    gateway::StreamCatalog::Options o;
    o.target = target;
    o.gateway_id = "gw-1";
    o.report_interval = absl::Milliseconds(100);
    o.sample_interval = absl::Milliseconds(20);
    o.backoff_initial = absl::Milliseconds(50);
    o.backoff_max = absl::Milliseconds(400);
    auto created = gateway::StreamCatalog::Create(o, [] {
      std::map<std::string, gateway::FunctionLoad> loads;
      loads["hello"].in_flight = 2;
      return loads;
    });
    ASSERT_TRUE(created.ok()) << created.status();
    catalog_ = std::move(*created);
    // Wake from zero before the first snapshot: the signal must wait for the leader too.
    catalog_->Demand("hello");
    catalog_->Start();
  }
  bool Serving() {
    return catalog_->HasSnapshot() && catalog_->Current()->Find("hello") != nullptr;
  }

  Replica& leader() { return *replicas_[0]; }
  Replica& standby() { return *replicas_[1]; }

  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::unique_ptr<gateway::StreamCatalog> catalog_;
};

TEST_F(LeaderRoutingTest, GatewayOnTheStandbySendsReportsAndDemandToTheLeaderOnly) {
  leader().server->SetLeader(true, leader().address);
  standby().server->SetLeader(false, leader().address);
  StartCatalog(standby().address);

  ASSERT_TRUE(Eventually([&] { return leader().sink.Reports("gw-1") >= 3; }))
      << "reports at the leader " << leader().sink.Reports("gw-1") << ", at the standby "
      << standby().sink.Reports("gw-1") << "; catalog on " << catalog_->Target();
  EXPECT_TRUE(Eventually([&] { return !leader().sink.Demands().empty(); }));
  EXPECT_EQ(leader().sink.Demands(), std::vector<std::string>{"gw-1/hello"});
  EXPECT_DOUBLE_EQ(leader().sink.InFlight("hello"), 2);
  EXPECT_EQ(catalog_->Target(), leader().address);
  EXPECT_TRUE(Serving());
  // Nothing was sent to the replica that ignores it.
  EXPECT_EQ(standby().sink.Reports("gw-1"), 0);
  EXPECT_TRUE(standby().sink.Demands().empty());
}

TEST_F(LeaderRoutingTest, GatewayFollowsWhenLeadershipMoves) {
  leader().server->SetLeader(true, leader().address);
  standby().server->SetLeader(false, leader().address);
  StartCatalog(standby().address);
  ASSERT_TRUE(Eventually([&] { return leader().sink.Reports("gw-1") >= 1; }));

  // The standby takes over (as after the leader lost its Lease): both replicas push new
  // snapshots, and the gateway moves to the new leader.
  standby().server->SetLeader(true, standby().address);
  leader().server->SetLeader(false, standby().address);
  ASSERT_TRUE(Eventually([&] { return standby().sink.Reports("gw-1") >= 3; }))
      << "catalog on " << catalog_->Target();
  EXPECT_EQ(catalog_->Target(), standby().address);
  EXPECT_TRUE(Serving());
  // And it stays there: the old leader hears nothing more.
  const int old_leader_reports = leader().sink.Reports("gw-1");
  const int new_leader_reports = standby().sink.Reports("gw-1");
  ASSERT_TRUE(Eventually([&] { return standby().sink.Reports("gw-1") >= new_leader_reports + 3; }));
  EXPECT_EQ(leader().sink.Reports("gw-1"), old_leader_reports);
}

TEST_F(LeaderRoutingTest, UnreachableLeaderFallsBackToTheConfiguredTargetAndKeepsServing) {
  const std::string dead = absl::StrCat("127.0.0.1:", UnusedPort());
  standby().server->SetLeader(false, dead);
  StartCatalog(standby().address);
  ASSERT_TRUE(Eventually([&] { return Serving(); }));
  // It tries the dead address, falls back to its --operator, is redirected again, and so on
  // (with growing delays), serving its snapshot all along.
  const int reconnects = catalog_->Reconnects();
  ASSERT_TRUE(Eventually([&] { return catalog_->Reconnects() >= reconnects + 4; }));
  EXPECT_TRUE(Serving());
  EXPECT_EQ(standby().sink.Reports("gw-1"), 0);

  // The replica it is configured with becomes the leader: reports and the demand arrive there.
  standby().server->SetLeader(true, standby().address);
  ASSERT_TRUE(Eventually([&] { return standby().sink.Reports("gw-1") >= 3; }))
      << "catalog on " << catalog_->Target();
  EXPECT_EQ(standby().sink.Demands(), std::vector<std::string>{"gw-1/hello"});
  EXPECT_EQ(catalog_->Target(), standby().address);
  EXPECT_TRUE(Serving());
}

// No leader address known (leader without --advertise_address, or none elected): the gateway
// stays where it is and reports there, as before.
TEST_F(LeaderRoutingTest, NoKnownLeaderAddressKeepsTheStream) {
  standby().server->SetLeader(false, "");
  StartCatalog(standby().address);
  ASSERT_TRUE(Eventually([&] { return standby().sink.Reports("gw-1") >= 3; }));
  EXPECT_EQ(catalog_->Target(), standby().address);
  EXPECT_EQ(catalog_->Reconnects(), 0);
  EXPECT_EQ(leader().sink.Reports("gw-1"), 0);
}

}  // namespace
}  // namespace wisp::op
