// Test helper: one wisp-operator process against a test API server, with its admin port read
// back from --port_file and its metrics scraped. SIGKILLed and reaped at destruction.
#ifndef WISP_TESTS_TESTING_OPERATOR_PROCESS_H_
#define WISP_TESTS_TESTING_OPERATOR_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/testing/subprocess.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {

class OperatorProcess {
 public:
  // Starts $WISP_BIN_DIR/wisp-operator --server=<server_url> --identity=<identity> with
  // loopback listeners on port 0, worker images for every runtime, and `args` after those.
  // Its stdout and stderr go to Log().
  OperatorProcess(const std::string& server_url, const std::string& identity,
                  const std::vector<std::string>& args);
  ~OperatorProcess();  // Kill()

  // SIGKILL (no clean release of anything) and reap. Idempotent.
  void Kill();
  // Whether the process is still running (it has not exited on its own).
  bool Running();
  // The admin port once the process has written it, else 0.
  int AdminPort() const;
  // The value of an unlabelled metric, or the sum of a labelled family; -1 when unreachable.
  double Metric(const std::string& name) const;
  const std::string& identity() const { return identity_; }
  std::string Log() const;
  // "--- identity (exit status N) ---" and the log, for a failing test's output.
  std::string Describe() const;

 private:
  std::string identity_;
  TempDir dir_;  // outlives process_, whose output it holds
  std::unique_ptr<Subprocess> process_;
};

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_OPERATOR_PROCESS_H_
