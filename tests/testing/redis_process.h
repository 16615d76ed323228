// Test helper: a real redis-server on loopback with the durability Wisp requires (AOF,
// appendfsync always), in its own data folder, that tests can SIGKILL and restart on the
// same port and data (the AOF is replayed).
#ifndef WISP_TESTS_TESTING_REDIS_PROCESS_H_
#define WISP_TESTS_TESTING_REDIS_PROCESS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {

class RedisProcess {
 public:
  static absl::StatusOr<std::unique_ptr<RedisProcess>> Start();
  ~RedisProcess();  // SIGKILL

  std::string address() const;  // "127.0.0.1:PORT"
  int port() const { return port_; }
  // SIGKILL, no chance to flush anything.
  void Kill();
  // Starts again on the same port and data folder; waits until it answers PING.
  absl::Status Restart();

 private:
  RedisProcess() = default;
  absl::Status Launch();
  std::unique_ptr<TempDir> dir_;  // the data folder, kept across restarts
  std::unique_ptr<Subprocess> process_;
  int port_ = 0;
};

// A free TCP port on 127.0.0.1 (bound, then released).
int FreePort();

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_REDIS_PROCESS_H_
