// wisp-gateway's HTTP front door: Lambda's Invoke API and the functions' HTTP routes
// (API Gateway HTTP API payload format 2.0) over a Dispatcher.
//
//   POST /2015-03-31/functions/{name}/invocations   Invoke API (RequestResponse, Event, DryRun)
//   <any method> <a function's route>               the route's function, 2.0 event
//   ANY /function/{name}[/{rest}]                    every function's default route
//
// cpp-httplib with Nagle off, keep-alive, a bounded pool (one thread per open connection:
// `max_connections`), a raised listen backlog, read/write timeouts so a slow client cannot hold
// a worker, and limits: 6 MiB bodies (413), 8 KB header lines and `max_headers` headers (431).
// Thread-safe. Stop() finishes in-flight requests.
#ifndef WISP_GATEWAY_SERVER_H_
#define WISP_GATEWAY_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/async_invocations.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"
#include "gateway/metrics.h"
#include "gateway/router.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}

namespace wisp::gateway {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int port = 8080;
  int max_connections = 256;
  int max_headers = 100;
  int read_timeout_seconds = 10;
  int write_timeout_seconds = 10;
  int idle_timeout_seconds = 5;
  int backlog = 1024;
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
};

class GatewayServer {
 public:
  // `dispatcher`, `metrics` and `async` must outlive the server. Without `async`, Event
  // invocations are refused with a 400 that says async invocations are off.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Start(ServerOptions options,
                                                               Dispatcher* dispatcher,
                                                               GatewayMetrics* metrics,
                                                               AsyncIntake* async = nullptr);
  ~GatewayServer();
  int port() const { return port_; }
  // Installs a snapshot (routes and function names). Thread-safe.
  void Update(std::shared_ptr<const Snapshot> snapshot);
  // Stops accepting and waits for in-flight requests to finish.
  void Stop();

 private:
  struct Tables {
    std::shared_ptr<const Snapshot> snapshot;
    Router router;
  };
  GatewayServer() = default;
  std::shared_ptr<const Tables> tables();
  void HandleInvokeApi(const httplib::Request& req, httplib::Response& res, std::string body);
  void HandleRoute(const httplib::Request& req, httplib::Response& res, std::string body);
  bool CheckHeaders(const httplib::Request& req, httplib::Response& res);

  ServerOptions options_;
  Dispatcher* dispatcher_ = nullptr;
  AsyncIntake* async_ = nullptr;
  GatewayMetrics* metrics_ = nullptr;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  absl::Mutex mu_;
  std::shared_ptr<const Tables> tables_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_SERVER_H_
