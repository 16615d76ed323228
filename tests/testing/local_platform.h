// Test and benchmark helper: the whole local platform as real processes on loopback, as
// `wisp up` runs it but with ports picked by the kernel and short autoscaler windows, so that
// end-to-end tests finish in seconds:
//   wisp-apiserver (port 0, in memory) + the Function CRD (deploy/crds), wisp-kubelet (workers
//   with the real python3/node), N wisp-operator (leader-elected when N > 1, each advertising
//   127.0.0.1:<its port> in the Lease), one wisp-gateway subscribed to every operator (a gRPC
//   `ipv4:` target listing them: pick-first, so it talks to the first one that answers, and
//   then follows the leader's advertised address).
// Every process gets a parent-death signal and is stopped at destruction (SIGTERM, then SIGKILL).
// Not thread-safe: one test thread drives it (the load it serves may come from any thread).
#ifndef WISP_TESTS_TESTING_LOCAL_PLATFORM_H_
#define WISP_TESTS_TESTING_LOCAL_PLATFORM_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "operator/kube/client.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {

// One child process with its output in a log file.
class ChildProcess {
 public:
  // argv[0] is a path. The child gets PR_SET_PDEATHSIG(SIGKILL) and stdin from /dev/null.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(std::string name,
                                                             std::vector<std::string> argv,
                                                             std::string log_path);
  ~ChildProcess();  // Stop(5 s)
  // SIGTERM, then SIGKILL after `grace`; reaps. Idempotent. Returns the wait status (or -1).
  int Stop(absl::Duration grace = absl::Seconds(5));
  // SIGKILL and reap. Idempotent.
  void Kill();
  bool Running();
  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  std::string Log() const;

 private:
  ChildProcess() = default;
  std::string name_;
  std::string log_;
  pid_t pid_ = -1;
};

struct LocalPlatformOptions {
  int operators = 1;
  // Autoscaler settings (operator flags); the defaults make a test's scale-down take seconds.
  int stable_window_seconds = 6;
  int panic_window_seconds = 2;
  int scale_down_delay_seconds = 2;
  int scale_to_zero_after_cap_seconds = 4;
  // Leader election (when operators > 1).
  int lease_duration_seconds = 3;
  int renew_deadline_seconds = 2;
  int retry_period_seconds = 1;
  std::vector<std::string> operator_args;  // extra flags
  std::vector<std::string> gateway_args;   // extra flags
  // The operators the gateway's --operator lists, by index, in order. Empty: all, in start
  // order (op-0, which leads, first).
  std::vector<int> gateway_operators;
  absl::Duration ready_timeout = absl::Seconds(30);
};

class LocalPlatform {
 public:
  static absl::StatusOr<std::unique_ptr<LocalPlatform>> Start(LocalPlatformOptions options = {});
  ~LocalPlatform();  // gateway, operators, kubelet (which stops its workers), API server

  kube::KubeClient& client() { return *client_; }
  const std::string& server_url() const { return server_url_; }
  int gateway_port() const { return gateway_port_; }
  const std::string& data_dir() const { return dir_.path(); }

  // Server-side applies a Function (wisp.dev/v1alpha1 object) in its namespace.
  absl::Status Apply(const nlohmann::json& function);
  absl::Status Delete(const std::string& name, const std::string& ns = "default");
  // Polls until the Function's Ready condition is True.
  bool WaitReady(const std::string& name, absl::Duration timeout = absl::Seconds(30));
  // The Function's spec.replicas (what the autoscaler asked for; -1 unset or unreadable).
  int DesiredReplicas(const std::string& name, const std::string& ns = "default");
  // The Deployment's status.readyReplicas (-1 when there is no Deployment).
  int ReadyReplicas(const std::string& name, const std::string& ns = "default");
  // Live wisp-worker processes whose command line mentions <data>/kubelet/<ns>/<name>/.
  int WorkerProcesses(const std::string& name, const std::string& ns = "default");

  // The operators (index in start order) and the Lease's holder identity ("op-<index>").
  ChildProcess& operator_process(int i) { return *operators_.at(i); }
  std::string LeaseHolder();
  // Stops the gateway (SIGTERM) and starts it again on the same port; waits until ready.
  absl::Status RestartGateway();
  ChildProcess& gateway() { return *gateway_; }
  // The gateway's admin /metrics.
  absl::StatusOr<std::string> GatewayMetrics();

  // The end of every component's log, for failure messages.
  std::string Describe() const;

  // Polls `done` every 20 ms until it holds or `timeout` passes.
  static bool Eventually(const std::function<bool()>& done, absl::Duration timeout);

 private:
  LocalPlatform() = default;
  absl::Status StartGateway(int port);

  LocalPlatformOptions options_;
  TempDir dir_;
  std::string server_url_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::unique_ptr<ChildProcess> apiserver_;
  std::unique_ptr<ChildProcess> kubelet_;
  std::vector<std::unique_ptr<ChildProcess>> operators_;
  std::vector<int> operator_ports_;
  std::unique_ptr<ChildProcess> gateway_;
  int gateway_port_ = 0;
  int gateway_admin_port_ = 0;
  int gateway_starts_ = 0;
};

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_LOCAL_PLATFORM_H_
