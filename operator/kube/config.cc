#include "operator/kube/config.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "yaml-cpp/yaml.h"

namespace wisp::kube {
namespace {

constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes decoded *-data to a private temp file (the TLS library wants files).
absl::StatusOr<std::string> WriteTemp(const std::string& base64, const std::string& what) {
  std::string data;
  if (!absl::Base64Unescape(base64, &data)) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig: ", what, " is not base64"));
  }
  const char* tmp = getenv("TMPDIR");
  std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/wisp-kube-", what, "-XXXXXX");
  int fd = mkstemp(path.data());
  if (fd < 0) return absl::InternalError("cannot create a temp file for kubeconfig data");
  ssize_t n = ::write(fd, data.data(), data.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(data.size())) return absl::InternalError("short write");
  return path;
}

}  // namespace

absl::StatusOr<KubeConfig> InClusterConfig(
    std::function<std::string(const std::string&)> env,
    std::function<absl::StatusOr<std::string>(const std::string&)> read_file) {
  std::string host = env("KUBERNETES_SERVICE_HOST");
  std::string port = env("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return absl::FailedPreconditionError(
        "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  KubeConfig c;
  bool ipv6 = host.find(':') != std::string::npos;
  c.server = absl::StrCat("https://", ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port);
  c.token_file = absl::StrCat(kServiceAccountDir, "/token");
  auto token = read_file(c.token_file);
  if (!token.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("no service-account token: ", token.status().message()));
  }
  c.token = std::string(absl::StripAsciiWhitespace(*token));
  c.ca_file = absl::StrCat(kServiceAccountDir, "/ca.crt");
  if (!read_file(c.ca_file).ok()) {
    return absl::FailedPreconditionError(absl::StrCat("no cluster CA at ", c.ca_file));
  }
  if (auto ns = read_file(absl::StrCat(kServiceAccountDir, "/namespace")); ns.ok()) {
    c.namespace_ = std::string(absl::StripAsciiWhitespace(*ns));
  }
  return c;
}

absl::StatusOr<KubeConfig> InClusterConfig() {
  return InClusterConfig(
      [](const std::string& k) {
        const char* v = getenv(k.c_str());
        return std::string(v ? v : "");
      },
      ReadFile);
}

KubeConfig ServerOnly(const std::string& server) {
  KubeConfig c;
  c.server = server;
  return c;
}

absl::StatusOr<KubeConfig> LoadKubeconfig(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read kubeconfig ", path, ": ", e.what()));
  }
  auto find_named = [&](const char* list, const std::string& name, const char* inner) -> YAML::Node {
    for (const auto& item : root[list]) {
      if (item["name"] && item["name"].as<std::string>() == name) return item[inner];
    }
    return YAML::Node();
  };
  try {
    std::string context_name = root["current-context"] ? root["current-context"].as<std::string>() : "";
    YAML::Node context = find_named("contexts", context_name, "context");
    if (!context) return absl::InvalidArgumentError(absl::StrCat("kubeconfig: no context \"", context_name, "\""));
    KubeConfig c;
    if (context["namespace"]) c.namespace_ = context["namespace"].as<std::string>();
    YAML::Node cluster = find_named("clusters", context["cluster"].as<std::string>(""), "cluster");
    if (!cluster || !cluster["server"]) return absl::InvalidArgumentError("kubeconfig: the context's cluster has no server");
    c.server = cluster["server"].as<std::string>();
    if (cluster["certificate-authority"]) c.ca_file = cluster["certificate-authority"].as<std::string>();
    if (cluster["certificate-authority-data"]) {
      auto f = WriteTemp(cluster["certificate-authority-data"].as<std::string>(), "ca");
      if (!f.ok()) return f.status();
      c.ca_file = *f;
    }
    if (cluster["insecure-skip-tls-verify"]) c.insecure_skip_tls_verify = cluster["insecure-skip-tls-verify"].as<bool>();
    YAML::Node user = find_named("users", context["user"].as<std::string>(""), "user");
    if (user) {
      if (user["token"]) c.token = user["token"].as<std::string>();
      if (user["tokenFile"]) c.token_file = user["tokenFile"].as<std::string>();
      if (user["client-certificate"]) c.client_cert_file = user["client-certificate"].as<std::string>();
      if (user["client-key"]) c.client_key_file = user["client-key"].as<std::string>();
      if (user["client-certificate-data"]) {
        auto f = WriteTemp(user["client-certificate-data"].as<std::string>(), "cert");
        if (!f.ok()) return f.status();
        c.client_cert_file = *f;
      }
      if (user["client-key-data"]) {
        auto f = WriteTemp(user["client-key-data"].as<std::string>(), "key");
        if (!f.ok()) return f.status();
        c.client_key_file = *f;
      }
    }
    return c;
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", path, ": ", e.what()));
  }
}

}  // namespace wisp::kube
