// The whole Kubernetes path on one machine: the API test server, the operator and the process
// kubelet (in-process, over loopback HTTP), with real wisp-worker processes and python3.
#include "operator/kubelet/process_kubelet.h"

#include <signal.h>

#include <fstream>
#include <sstream>

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
#include "tests/testing/worker_process.h"
#include "worker/worker_client.h"

namespace wisp::op {
namespace {

using nlohmann::json;
namespace res = kube::resources;

// Polls `done` until it holds or `timeout` passes.
bool Eventually(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(60)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return done();
}

std::string Condition(const json& fn, const std::string& type) {
  if (!fn.is_object() || !fn.contains("status") || !fn["status"].contains("conditions")) return "";
  for (const json& c : fn["status"]["conditions"]) {
    if (c.value("type", "") == type) return c.value("status", "");
  }
  return "";
}

class KubeletTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::StartTestCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    server_ = std::move(cluster->server);
    client_ = std::move(cluster->client);

    OperatorOptions o;
    o.config.worker_images = {{"python3.11", "wisp/worker-python3.11:test"},
                              {"nodejs20", "wisp/worker-nodejs20:test"},
                              {"provided", "wisp/worker-provided:test"}};
    o.config.gateway_url = "http://gateway.test";
    o.autoscale = false;
    operator_ = std::make_unique<Operator>(client_.get(), std::move(o),
                                           std::make_shared<prometheus::Registry>());
    operator_->Start();

    data_dir_ = std::make_unique<testing::TempDir>();
    ProcessKubeletOptions k;
    k.data_dir = data_dir_->path() + "/data";
    k.worker_binary = testing::BinDir() + "/wisp-worker";
    kubelet_ = std::make_unique<ProcessKubelet>(client_.get(), k);
    kubelet_->Start();
  }
  void TearDown() override {
    if (kubelet_) kubelet_->Stop();
    if (operator_) operator_->Stop();
    if (server_) server_->Stop();
  }

  json Get(const kube::Resource& r, const std::string& name) {
    auto got = client_->Get(r, "default", name);
    return got.ok() ? *got : json();
  }
  // The slices the kubelet wrote for Deployment `name`.
  std::vector<json> Slices(const std::string& name) {
    auto list = client_->List(res::EndpointSlices(), "default",
                              {.label_selector = "kubernetes.io/service-name=" + name});
    std::vector<json> out;
    if (list.ok()) {
      for (const json& s : (*list)["items"]) out.push_back(s);
    }
    return out;
  }
  // Ports of the ready endpoints among the slices of `name`.
  std::vector<int> ReadyPorts(const std::string& name) {
    std::vector<int> ports;
    for (const json& s : Slices(name)) {
      if (!s.contains("ports") || s["ports"].empty()) continue;
      bool ready = false;
      for (const json& ep : s["endpoints"]) {
        ready = ready || ep["conditions"].value("ready", false);
      }
      if (ready) ports.push_back(s["ports"][0].value("port", 0));
    }
    return ports;
  }
  absl::StatusOr<v1::InvokeResponse> Invoke(int port, const std::string& payload) {
    auto client = worker::WorkerClient::Create(absl::StrCat("127.0.0.1:", port));
    v1::InvokeRequest req;
    req.set_payload(payload);
    return client->Invoke(req, absl::Seconds(30));
  }
  int ReadyReplicas(const std::string& name) {
    int n = 0;
    for (const auto& r : kubelet_->Replicas("default", name)) n += r.ready ? 1 : 0;
    return n;
  }

  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::unique_ptr<Operator> operator_;
  std::unique_ptr<testing::TempDir> data_dir_;
  std::unique_ptr<ProcessKubelet> kubelet_;
};

TEST_F(KubeletTest, RunsScalesRestartsAndStopsFunctionsAsLocalProcesses) {
  json fn = {{"apiVersion", "wisp.dev/v1alpha1"},
             {"kind", "Function"},
             {"metadata", {{"name", "echo"}, {"namespace", "default"}}},
             {"spec",
              {{"runtime", "python3.11"},
               {"handler", "app.handler"},
               {"code",
                {{"inline",
                  "def handler(event, context):\n    return {'got': event, 'ok': True}\n"}}}}}};
  ASSERT_TRUE(client_->Create(res::Functions(), "default", fn).ok());

  // Ready through the Deployment's status, with a slice whose port serves the function.
  ASSERT_TRUE(Eventually([&] { return Condition(Get(res::Functions(), "echo"), "Ready") == "True"; }))
      << Get(res::Functions(), "echo").dump(2) << "\n"
      << Get(res::Deployments(), "echo")["status"].dump(2);
  std::vector<int> ports;
  ASSERT_TRUE(Eventually([&] { return (ports = ReadyPorts("echo")).size() == 1; }));
  ASSERT_GT(ports[0], 0);
  json slice = Slices("echo")[0];
  EXPECT_EQ(slice["metadata"]["name"], "echo-0");
  EXPECT_EQ(slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"], "wisp-kubelet");
  EXPECT_EQ(slice["endpoints"][0]["addresses"][0], "127.0.0.1");
  auto reply = Invoke(ports[0], R"({"x":1})");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_FALSE(reply->has_error()) << reply->payload();
  EXPECT_EQ(json::parse(reply->payload()), json::parse(R"({"got":{"x":1},"ok":true})"));
  json dep = Get(res::Deployments(), "echo");
  EXPECT_EQ(dep["status"].value("readyReplicas", 0), 1);
  EXPECT_EQ(dep["status"].value("observedGeneration", 0),
            dep["metadata"].value("generation", -1));

  // Scale to 2 through the Function's scale subresource.
  ASSERT_TRUE(client_
                  ->MergePatch(res::Functions(), "default", "echo",
                               json{{"spec", {{"replicas", 2}}}}, "scale")
                  .ok());
  ASSERT_TRUE(Eventually([&] { return ReadyPorts("echo").size() == 2 && ReadyReplicas("echo") == 2; }))
      << Slices("echo").size();
  ASSERT_TRUE(Eventually([&] {
    return Get(res::Deployments(), "echo")["status"].value("readyReplicas", 0) == 2;
  }));
  for (int port : ReadyPorts("echo")) {
    auto r = Invoke(port, R"("hi")");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(json::parse(r->payload()), json::parse(R"({"got":"hi","ok":true})"));
  }

  // A killed worker is restarted and becomes ready again.
  auto replicas = kubelet_->Replicas("default", "echo");
  ASSERT_EQ(replicas.size(), 2u);
  const pid_t killed = replicas[1].pid;
  ASSERT_GT(killed, 0);
  ASSERT_EQ(::kill(killed, SIGKILL), 0);
  ASSERT_TRUE(Eventually([&] {
    auto now = kubelet_->Replicas("default", "echo");
    return now.size() == 2 && now[1].pid > 0 && now[1].pid != killed && now[1].ready &&
           now[1].restarts == 1;
  }));
  ASSERT_TRUE(Eventually([&] {
    std::vector<int> p = ReadyPorts("echo");
    int new_port = kubelet_->Replicas("default", "echo")[1].port;
    return p.size() == 2 && std::find(p.begin(), p.end(), new_port) != p.end();
  }));
  auto again = Invoke(kubelet_->Replicas("default", "echo")[1].port, "1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(json::parse(again->payload()), json::parse(R"({"got":1,"ok":true})"));

  // New code replaces the processes (new ones first, then the old ones stop).
  const std::string old_hash = kubelet_->Replicas("default", "echo")[0].config_hash;
  ASSERT_TRUE(client_
                  ->MergePatch(res::Functions(), "default", "echo",
                               json{{"spec",
                                     {{"code",
                                       {{"inline",
                                         "def handler(event, context):\n    return 'v2'\n"}}}}}})
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    auto now = kubelet_->Replicas("default", "echo");
    return now.size() == 2 && now[0].ready && now[1].ready && now[0].config_hash != old_hash &&
           now[1].config_hash != old_hash && kubelet_->LiveProcesses() == 2 &&
           ReadyPorts("echo").size() == 2;
  }));
  for (int port : ReadyPorts("echo")) {
    auto r = Invoke(port, "{}");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->payload(), "\"v2\"");
  }

  // Scaling down removes the highest index: its slice, then its process.
  ASSERT_TRUE(client_
                  ->MergePatch(res::Functions(), "default", "echo",
                               json{{"spec", {{"replicas", 1}}}}, "scale")
                  .ok());
  ASSERT_TRUE(Eventually([&] {
    return kubelet_->LiveProcesses() == 1 && Slices("echo").size() == 1 &&
           Slices("echo")[0]["metadata"]["name"] == "echo-0" &&
           Get(res::Deployments(), "echo")["status"].value("replicas", 0) == 1;
  }));
  replicas = kubelet_->Replicas("default", "echo");

  // Deleting the Function stops the processes and removes the slices.
  ASSERT_TRUE(client_->Delete(res::Functions(), "default", "echo").ok());
  EXPECT_TRUE(Eventually([&] {
    return kubelet_->LiveProcesses() == 0 && Slices("echo").empty() &&
           kubelet_->Replicas("default", "echo").empty();
  })) << kubelet_->LiveProcesses() << " " << Slices("echo").size();
  for (const auto& r : replicas) {
    EXPECT_NE(::kill(r.pid, 0), 0) << "pid " << r.pid << " still exists";
  }
}

}  // namespace
}  // namespace wisp::op
