// The routing push end to end: the API test server and the operator with its snapshot server
// (in-process), a real wisp-gateway subscribed with --operator, and real wisp-worker processes
// behind EndpointSlices. Then the operator stops (the gateway keeps serving its last snapshot)
// and comes back on the same port (the gateway resubscribes and learns a new route).
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/apiserver/api_server.h"
#include "operator/apiserver/store.h"
#include "operator/apiserver/yaml.h"
#include "operator/kube/client.h"
#include "operator/operator.h"
#include "tests/testing/test_cluster.h"
#include "operator/snapshot_service.h"
#include "prometheus/metric_family.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/worker_process.h"
#include "tests/testing/eventually.h"

namespace wisp::op {
namespace {

using nlohmann::json;
using testing::GatewayProcess;
using testing::TempDir;
using testing::WorkerProcess;

constexpr char kNodeApp[] = R"JS(
exports.handler = async (event, context) => {
  return { statusCode: 200, body: "hi from " + context.functionName + " " + event.rawPath };
};
)JS";

using testing::Eventually;

json Function(const std::string& name, const std::string& path) {
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"runtime", "nodejs20"},
            {"handler", "index.handler"},
            {"code", {{"inline", kNodeApp}}},
            {"triggers", json::array({{{"http", {{"path", path}, {"methods", {"GET"}}}}}})}}}};
}

// What Kubernetes' EndpointSlice controller would write for the Function's Service.
json EndpointSlice(const std::string& function, const WorkerProcess& worker) {
  std::string target = worker.target();
  int port = 0;
  EXPECT_TRUE(absl::SimpleAtoi(target.substr(target.rfind(':') + 1), &port)) << target;
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", function + "-x1"},
            {"namespace", "default"},
            {"labels", {{"kubernetes.io/service-name", function}}}}},
          {"addressType", "IPv4"},
          {"ports", json::array({{{"name", "grpc"}, {"port", port}, {"protocol", "TCP"}}})},
          {"endpoints",
           json::array({{{"addresses", json::array({"127.0.0.1"})},
                         {"conditions", {{"ready", true}}}}})}};
}

// A counter's value in `registry`, by name and one label (empty: unlabelled); -1 when absent.
double CounterValue(prometheus::Registry& registry, const std::string& name,
                    const std::string& label = "", const std::string& value = "") {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      bool match = label.empty();
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == label && l.value == value) match = true;
      }
      if (match) return m.counter.value;
    }
  }
  return -1;
}

class RoutingStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::StartTestCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    api_ = std::move(cluster->server);
    client_ = std::move(cluster->client);
    code_.Write("index.js", kNodeApp);
  }
  void TearDown() override {
    StopOperator();
    if (api_) api_->Stop();
  }

  // The operator and its snapshot server on `port` (0 picks one); returns the port.
  int StartOperator(int port) {
    OperatorOptions o;
    o.config.worker_images = {{"nodejs20", "wisp/worker-nodejs20:test"}};
    o.workers = 1;
    registry_ = std::make_shared<prometheus::Registry>();
    operator_ = std::make_unique<Operator>(client_.get(), o, registry_);
    reports_ = std::make_unique<GatewayReports>(registry_);
    auto snapshots = SnapshotServer::Start({"127.0.0.1", port}, operator_->functions(),
                                           operator_->endpoint_slices(), reports_.get(),
                                           registry_);
    EXPECT_TRUE(snapshots.ok()) << snapshots.status();
    if (!snapshots.ok()) return 0;
    snapshots_ = std::move(*snapshots);
    operator_->Start();
    return snapshots_->port();
  }
  void StopOperator() {
    if (snapshots_) snapshots_->Stop();
    if (operator_) operator_->Stop();
    snapshots_.reset();
    operator_.reset();
  }

  std::unique_ptr<WorkerProcess> StartWorker(const std::string& name) {
    auto w = WorkerProcess::Start({"--name=" + name, "--runtime=nodejs20",
                                   "--handler=index.handler", "--code=" + code_.path(),
                                   "--concurrency=1", "--timeout=30"});
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }

  void Create(const kube::Resource& r, const json& object) {
    auto created = client_->Create(r, "default", object);
    ASSERT_TRUE(created.ok()) << created.status();
  }

  std::unique_ptr<apiserver::ApiServer> api_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Operator> operator_;
  std::unique_ptr<GatewayReports> reports_;
  std::unique_ptr<SnapshotServer> snapshots_;
  TempDir code_;
};

TEST_F(RoutingStreamTest, GatewayServesPushedRoutesAndSurvivesOperatorRestart) {
  int port = StartOperator(0);
  ASSERT_GT(port, 0);
  auto hello = StartWorker("hello");
  ASSERT_NE(hello, nullptr);
  Create(kube::resources::Functions(), Function("hello", "/hello"));
  Create(kube::resources::EndpointSlices(), EndpointSlice("hello", *hello));

  // No endpoints (yet): requests wait briefly, then 503, and the operator hears of the demand.
  json cold = Function("cold", "/cold");
  Create(kube::resources::Functions(), cold);

  auto gw = GatewayProcess::Start("", {absl::StrCat("--operator=127.0.0.1:", port),
                                       "--gateway_id=gw-test", "--queue_timeout_ms=300"});
  ASSERT_TRUE(gw.ok()) << gw.status();
  absl::StatusOr<std::string> body;
  ASSERT_TRUE(Eventually([&] {
    body = testing::HttpGet((*gw)->port(), "/hello");
    return body.ok();
  })) << body.status() << "\n" << (*gw)->Stderr();
  EXPECT_EQ(*body, "hi from hello /hello");

  // Reports flow back: the gateway's concurrency per function, once a second.
  EXPECT_TRUE(Eventually([&] {
    auto latest = reports_->Latest();
    return latest.contains("hello") && latest["hello"].contains("gw-test");
  })) << (*gw)->Stderr();
  EXPECT_TRUE((*gw)->WaitForMetric("wisp_gateway_operator_connected", 1));

  EXPECT_FALSE(testing::HttpGet((*gw)->port(), "/cold").ok());
  EXPECT_TRUE(Eventually([&] {
    return CounterValue(*registry_, "wisp_operator_demand_signals_total", "function", "cold") >= 1;
  })) << (*gw)->Stderr();
  EXPECT_GE(CounterValue(*registry_, "wisp_operator_gateway_reports_total"), 1);

  // The operator goes away: the gateway keeps its last snapshot and keeps serving.
  StopOperator();
  EXPECT_TRUE((*gw)->WaitForMetric("wisp_gateway_operator_connected", 0)) << (*gw)->Stderr();
  EXPECT_TRUE(absl::StrContains((*gw)->Stderr(), "operator stream ended")) << (*gw)->Stderr();
  for (int i = 0; i < 3; ++i) {
    body = testing::HttpGet((*gw)->port(), "/hello");
    ASSERT_TRUE(body.ok()) << body.status() << "\n" << (*gw)->Stderr();
    EXPECT_EQ(*body, "hi from hello /hello");
  }
  auto ready = testing::HttpGet((*gw)->admin_port(), "/readyz");
  EXPECT_TRUE(ready.ok()) << ready.status();

  // Meanwhile a new Function appears; the operator comes back on the same port and the
  // gateway, resubscribed, routes to it.
  auto second = StartWorker("second");
  ASSERT_NE(second, nullptr);
  Create(kube::resources::Functions(), Function("second", "/second"));
  Create(kube::resources::EndpointSlices(), EndpointSlice("second", *second));
  ASSERT_EQ(StartOperator(port), port);
  ASSERT_TRUE(Eventually([&] {
    body = testing::HttpGet((*gw)->port(), "/second");
    return body.ok();
  })) << body.status() << "\n" << (*gw)->Stderr();
  EXPECT_EQ(*body, "hi from second /second");
  EXPECT_TRUE((*gw)->WaitForMetric("wisp_gateway_operator_connected", 1));
  body = testing::HttpGet((*gw)->port(), "/hello");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "hi from hello /hello");
}

}  // namespace
}  // namespace wisp::op
