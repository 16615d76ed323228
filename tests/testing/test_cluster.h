// Test helper: the Kubernetes API test server in-process (port 0) with the Function CRD
// (deploy/crds) installed, and a client for it.
#ifndef WISP_TESTS_TESTING_TEST_CLUSTER_H_
#define WISP_TESTS_TESTING_TEST_CLUSTER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "operator/apiserver/api_server.h"
#include "operator/kube/client.h"

namespace wisp::testing {

struct TestCluster {
  std::unique_ptr<apiserver::ApiServer> server;
  std::unique_ptr<kube::RestKubeClient> client;
};

absl::StatusOr<TestCluster> StartTestCluster();

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_TEST_CLUSTER_H_
