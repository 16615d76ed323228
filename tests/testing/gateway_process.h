// Test helper: runs a real wisp-gateway process on loopback (port 0) in front of a catalog file
// the test writes, and reads back its ports. Not thread-safe: one test thread drives it.
#ifndef WISP_TESTS_TESTING_GATEWAY_PROCESS_H_
#define WISP_TESTS_TESTING_GATEWAY_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {

class GatewayProcess {
 public:
  // Writes `catalog_json` (gateway/catalog.h's format) to a file and starts wisp-gateway with it,
  // on 127.0.0.1 with --port=0 --admin_port=0 --port_file plus `args` (later flags win), then
  // waits until it listens and /readyz answers 200. Errors carry the gateway's stderr.
  // An empty `catalog_json` passes no --catalog (for --operator=... in `args`).
  static absl::StatusOr<std::unique_ptr<GatewayProcess>> Start(const std::string& catalog_json,
                                                               std::vector<std::string> args = {});
  ~GatewayProcess();  // SIGKILL if still running

  int port() const { return port_; }
  int admin_port() const { return admin_port_; }
  pid_t pid() const { return process_->pid(); }

  // Replaces the catalog file atomically; the gateway notices within its poll interval.
  void WriteCatalog(const std::string& catalog_json);
  // GET /metrics on the admin port.
  absl::StatusOr<std::string> Metrics() const;
  // The value of one series, e.g. `wisp_gateway_in_flight{function="hello"}`; NotFound when the
  // series is absent.
  absl::StatusOr<double> MetricValue(const std::string& series) const;
  // Polls /metrics until `series` has `value`; false after `timeout`.
  bool WaitForMetric(const std::string& series, double value,
                     absl::Duration timeout = absl::Seconds(20)) const;
  // Sends `sig` and waits (up to `timeout`) for the exit; returns the wait status, or -1.
  int Signal(int sig, absl::Duration timeout = absl::Seconds(30));
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  GatewayProcess() = default;
  std::unique_ptr<TempDir> dir_;  // outlives process_, whose output it holds
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  int admin_port_ = 0;
};

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_GATEWAY_PROCESS_H_
