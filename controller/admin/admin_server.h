// The admin HTTP endpoint every Wisp binary serves beside its main port:
//   GET /metrics  Prometheus text exposition of a prometheus::Registry
//   GET /healthz  200 "ok" while the process is alive
//   GET /readyz   200 "ready" when the readiness callback says so, 503 otherwise
// Runs its own small cpp-httplib server on one thread. Thread-safe; Stop() is idempotent.
#ifndef WISP_CONTROLLER_ADMIN_ADMIN_SERVER_H_
#define WISP_CONTROLLER_ADMIN_ADMIN_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}
namespace prometheus {
class Registry;
}

namespace wisp {

class AdminServer {
 public:
  // Binds host:port (0 picks a free port) and starts serving. `registry` must outlive the
  // server; `ready` is called on every /readyz.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(
      const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
      std::function<bool()> ready);
  ~AdminServer();

  int port() const { return port_; }
  void Stop();

 private:
  AdminServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace wisp

#endif  // WISP_CONTROLLER_ADMIN_ADMIN_SERVER_H_
