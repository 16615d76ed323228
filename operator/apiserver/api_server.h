// The Kubernetes API test server's HTTP layer: the part of the Kubernetes REST
// API that Wisp's operator, its local mode and kubectl use, served from a Store
// over HTTP/1.1 (cpp-httplib).
//
//   /version /healthz /readyz /livez           server identity
//   (Kubernetes 1.32) and health /api /apis /apis/<g> /api/v1 /apis/<g>/<v>
//   discovery, legacy and aggregated (v2) /openapi/v3[/...] minimal OpenAPI v3
//   (index + per group-version) /api/v1/..., /apis/<g>/<v>/... CRUD, patch
//   (merge, strategic, JSON, apply),
//                                               list (selectors, paging,
//                                               Table), watch (bookmarks, 410
//                                               Expired), status and scale
//
// See docs/apiserver.md for what is simplified. Errors are Kubernetes Status
// objects; client input never crashes the server (bad JSON is 400).
//
// Threads: one pool thread per connection for its keep-alive life, and an open
// watch holds its connection's thread until the watch ends, so `threads` bounds
// connections plus watches. Thread safety: Start/Stop/port/store are safe from
// any thread; Stop is idempotent and ends open watches first.
#ifndef WISP_OPERATOR_APISERVER_API_SERVER_H_
#define WISP_OPERATOR_APISERVER_API_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "operator/apiserver/store.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace wisp::apiserver {

class ApiServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0 picks a free port; read it back with port()
    int threads = 64;
    absl::Duration bookmark_interval = absl::Seconds(1);
    // Watches without timeoutSeconds end after this (clients re-watch), as
    // Kubernetes'
    // --min-request-timeout does.
    absl::Duration default_watch_timeout = absl::Minutes(30);
    int keep_alive_timeout_seconds = 5;
    size_t max_body_bytes = 8 << 20;
  };

  // Binds host:port and starts serving `store`. Errors: UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Start(
      const Options& options, std::unique_ptr<Store> store);
  ~ApiServer();

  int port() const { return port_; }
  // http://host:port
  std::string url() const;
  Store& store() { return *store_; }

  void Stop();

 private:
  ApiServer(const Options& options, std::unique_ptr<Store> store);
  void Handle(const httplib::Request& req, httplib::Response& res);
  class Handler;

  const Options options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_API_SERVER_H_
