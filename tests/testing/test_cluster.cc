#include "tests/testing/test_cluster.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "operator/apiserver/store.h"
#include "operator/apiserver/yaml.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {

absl::StatusOr<TestCluster> StartTestCluster() {
  auto store = apiserver::Store::Open({});
  if (!store.ok()) return store.status();
  auto server = apiserver::ApiServer::Start({}, std::move(*store));
  if (!server.ok()) return server.status();
  TestCluster cluster;
  cluster.server = std::move(*server);
  cluster.client = std::make_unique<kube::RestKubeClient>(kube::ServerOnly(cluster.server->url()));
  std::ifstream in(absl::StrCat(SourceDir(), "/deploy/crds/functions.wisp.dev.yaml"));
  std::stringstream text;
  text << in.rdbuf();
  auto crd = apiserver::ParseYaml(text.str());
  if (!crd.ok()) return crd.status();
  kube::Resource crds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                      "CustomResourceDefinition", false};
  auto created = cluster.client->Create(crds, "", *crd);
  if (!created.ok()) return created.status();
  return cluster;
}

}  // namespace wisp::testing
