// Test helper: one child process (fork/exec) with its standard streams in files, that the test
// can signal, wait for, and SIGKILL. The process helpers (worker_process.h, gateway_process.h,
// operator_process.h, redis_process.h) are built on it.
// Not thread-safe: one test thread drives a Subprocess.
#ifndef WISP_TESTS_TESTING_SUBPROCESS_H_
#define WISP_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wisp::testing {

// Where the child's standard streams go. Files are created (truncated) by the child.
struct SubprocessFiles {
  std::string stdin_path;   // "" = /dev/null
  std::string stdout_path;  // "" = the test's own stdout
  std::string stderr_path;  // "" = the test's own stderr; == stdout_path: one file for both
};

class Subprocess {
 public:
  // Forks and execs `argv` (argv[0] a path, or a name looked up in $PATH). An exec that fails
  // shows as exit status 127. Errors: INTERNAL when fork fails.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(std::vector<std::string> argv,
                                                           SubprocessFiles files = {});
  ~Subprocess();  // Kill()

  // The process id; -1 once the process has been reaped.
  pid_t pid() const { return pid_; }
  // The wait status once the process has been reaped, else -1.
  int exit_status() const { return exit_status_; }
  // Whether it is still running (reaps it when it has exited).
  bool Running();
  // Waits up to `timeout` for the exit; the wait status, or -1 if it is still running.
  int Wait(absl::Duration timeout);
  // Sends `sig` and Wait(timeout).
  int Signal(int sig, absl::Duration timeout);
  // SIGKILL and reap. Idempotent.
  void Kill();

  // Polls `path` until `complete` accepts its contents, and returns them. Errors: INTERNAL when
  // the process exits first, DEADLINE_EXCEEDED at `deadline`.
  absl::StatusOr<std::string> WaitForFile(const std::string& path,
                                          bool (*complete)(const std::string& contents),
                                          absl::Time deadline);
  // WaitForFile until `port_file` holds "<port> <admin port>" (what wisp-worker's and
  // wisp-gateway's --port_file hold once both listen), and sets the two ports.
  absl::Status WaitForPorts(const std::string& port_file, absl::Time deadline, int* port,
                            int* admin_port);

  // What the process wrote so far to its stdout / stderr file ("" when not redirected).
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  Subprocess() = default;
  SubprocessFiles files_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

// The whole file, or "" when it cannot be read.
std::string ReadFile(const std::string& path);

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_SUBPROCESS_H_
