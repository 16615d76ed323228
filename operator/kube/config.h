// Where the Kubernetes API is and how to authenticate: in-cluster (the pod's service-account
// token and CA, KUBERNETES_SERVICE_HOST/PORT) or a kubeconfig file (for running outside).
#ifndef WISP_OPERATOR_KUBE_CONFIG_H_
#define WISP_OPERATOR_KUBE_CONFIG_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace wisp::kube {

struct KubeConfig {
  std::string server;       // "https://10.0.0.1:443" or "http://127.0.0.1:8001"
  std::string token;        // bearer token, may be empty
  std::string token_file;   // re-read on each request when set (tokens rotate)
  std::string ca_file;      // PEM bundle to verify the server
  std::string ca_data;      // PEM, from certificate-authority-data
  std::string client_cert_file, client_key_file;  // mutual TLS
  bool insecure_skip_tls_verify = false;
  std::string namespace_ = "default";  // the namespace this process runs in
};

// The in-cluster configuration. `getenv` and `read_file` are injected for tests; a missing
// piece is FAILED_PRECONDITION saying which.
absl::StatusOr<KubeConfig> InClusterConfig(
    std::function<std::string(const std::string&)> getenv,
    std::function<absl::StatusOr<std::string>(const std::string&)> read_file);
absl::StatusOr<KubeConfig> InClusterConfig();

// Reads a kubeconfig's current context (server, certificate-authority[-data],
// insecure-skip-tls-verify, token, client-certificate/key[-data] written to temp files).
absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path);

// A server URL alone (e.g. "http://127.0.0.1:6443" for local mode's API server).
KubeConfig ServerOnly(const std::string& server);

}  // namespace wisp::kube

#endif  // WISP_OPERATOR_KUBE_CONFIG_H_
