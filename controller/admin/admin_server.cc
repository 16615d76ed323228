#include "controller/admin/admin_server.h"

#include <httplib.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace wisp {

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    const std::string& host, int port, std::shared_ptr<prometheus::Registry> registry,
    std::function<bool()> ready) {
  std::unique_ptr<AdminServer> admin(new AdminServer());
  admin->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *admin->server_;
  srv.new_task_queue = [] { return new httplib::ThreadPool(2); };
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(1000);
  srv.Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    prometheus::TextSerializer serializer;
    res.set_content(serializer.Serialize(registry->Collect()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  srv.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  srv.Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    bool ok = ready ? ready() : true;
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
  });
  int bound = port == 0 ? srv.bind_to_any_port(host) : (srv.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("admin server cannot listen on ", host, ":", port,
                                               " (port in use?)"));
  }
  admin->port_ = bound;
  admin->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  // httplib ignores stop() until its loop runs: wait for it, so Stop() can never be lost.
  while (!srv.is_running()) std::this_thread::yield();
  return admin;
}

void AdminServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

AdminServer::~AdminServer() { Stop(); }

}  // namespace wisp
