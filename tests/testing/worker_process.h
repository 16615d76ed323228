// Test helper: runs a real wisp-worker process on loopback (port 0) and talks to it.
#ifndef WISP_TESTS_TESTING_WORKER_PROCESS_H_
#define WISP_TESTS_TESTING_WORKER_PROCESS_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"
#include "worker/worker_client.h"

namespace wisp::testing {

// A folder under $TMPDIR removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/relative (creating folders); `mode` e.g. 0755 for a bootstrap.
  void Write(const std::string& relative, const std::string& content, int mode = 0644) const;

 private:
  std::string path_;
};

std::string BinDir();     // $WISP_BIN_DIR
std::string SourceDir();  // $WISP_SOURCE_DIR

class WorkerProcess {
 public:
  // Starts wisp-worker with `args` (plus --port 0 --admin_port 0 --port_file ...) and waits
  // until it is listening and its environments are initialised (gRPC health SERVING).
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Start(std::vector<std::string> args);
  ~WorkerProcess();  // SIGKILL if still running

  std::string target() const;
  int admin_port() const { return admin_port_; }
  pid_t pid() const { return process_->pid(); }
  worker::WorkerClient& client() { return *client_; }

  // One invocation with a fresh request id; the reply or the gRPC status.
  absl::StatusOr<v1::InvokeResponse> Invoke(const std::string& payload, bool log_tail = false,
                                            absl::Duration timeout = absl::Seconds(30));
  // Sends `sig` and waits (up to `timeout`) for the exit; returns the wait status, or -1.
  int Signal(int sig, absl::Duration timeout = absl::Seconds(30));
  // Everything the worker wrote to stdout (the function log) / stderr so far.
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  WorkerProcess() = default;
  std::unique_ptr<TempDir> dir_;  // outlives process_, whose output it holds
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
  int admin_port_ = 0;
  std::unique_ptr<worker::WorkerClient> client_;
};

// Runs wisp-worker with `args` to completion (for start-up failures): exit status and stderr.
struct RunResult {
  int exit_code = -1;
  std::string stdout_text;
  std::string stderr_text;
};
RunResult RunWorkerToExit(const std::vector<std::string>& args, absl::Duration timeout);

// Runs any program (argv[0] a path) with `stdin_text` on its stdin, to completion.
RunResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_text,
                     absl::Duration timeout);

// HTTP GET on 127.0.0.1:port, returning the body, or the status code as an error.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_WORKER_PROCESS_H_
