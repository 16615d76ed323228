// wisp-gateway: the HTTP front door. Flags become options, objects are wired, the process
// serves until SIGTERM, then drains.
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "controller/admin/admin_server.h"
#include "controller/base/log.h"
#include "controller/base/signals.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"
#include "gateway/grpc_invoker.h"
#include "gateway/metrics.h"
#include "gateway/server.h"

ABSL_FLAG(std::string, catalog, "", "Catalog file (JSON: functions, routes, endpoints), reloaded on change");
ABSL_FLAG(std::string, listen, "0.0.0.0", "Address for HTTP and admin HTTP");
ABSL_FLAG(int, port, 8080, "HTTP port (0 picks a free one)");
ABSL_FLAG(int, admin_port, 9102, "Admin HTTP port for /metrics /healthz /readyz (0 picks one)");
ABSL_FLAG(std::string, port_file, "", "Write \"<http port> <admin port>\" here once listening");
ABSL_FLAG(int, max_connections, 256, "Open client connections served at once (one thread each)");
ABSL_FLAG(int, max_headers, 100, "Most request headers accepted (431 beyond)");
ABSL_FLAG(int, read_timeout_seconds, 10, "Longest wait for a client's request bytes");
ABSL_FLAG(int, idle_timeout_seconds, 5, "Keep-alive idle time before a connection is closed");
ABSL_FLAG(int, queue_size, 100, "Requests per function that may wait for capacity (429 beyond)");
ABSL_FLAG(int, queue_timeout_ms, 10000, "Longest wait for capacity (503 after)");
ABSL_FLAG(std::string, region, "us-east-1", "Region in function ARNs");
ABSL_FLAG(std::string, account_id, "000000000000", "Account id in function ARNs");
ABSL_FLAG(int, shutdown_delay_seconds, 0, "On SIGTERM, stay up unready this long before draining "
          "(lets load balancers notice)");

int main(int argc, char** argv) {
  using namespace wisp;
  absl::SetProgramUsageMessage("wisp-gateway: HTTP routes and the Lambda Invoke API over workers");
  absl::ParseCommandLine(argc, argv);
  BlockTerminationSignals();

  if (absl::GetFlag(FLAGS_catalog).empty()) {
    log::Error("--catalog is required (the operator feed comes with the autoscaling release)");
    return 2;
  }
  auto catalog = gateway::FileCatalog::Open(absl::GetFlag(FLAGS_catalog));
  if (!catalog.ok()) {
    log::Error("cannot load the catalog", {{"error", std::string(catalog.status().message())}});
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  gateway::GatewayMetrics metrics(registry);
  gateway::GrpcInvoker invoker;
  gateway::Dispatcher::Options dopts;
  dopts.queue_size = absl::GetFlag(FLAGS_queue_size);
  dopts.queue_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_queue_timeout_ms));
  gateway::Dispatcher dispatcher(dopts, &invoker, [](const std::string& fn) {
    log::Debug("demand", {{"function", fn}});
  });
  dispatcher.SetLoadObserver([&metrics](const std::string& fn, gateway::FunctionLoad load) {
    metrics.Load(fn, load.in_flight, load.queued);
  });
  dispatcher.SetEjectionObserver([&metrics](const std::string& fn, const std::string&) {
    metrics.Ejection(fn);
  });

  gateway::ServerOptions sopts;
  sopts.host = absl::GetFlag(FLAGS_listen);
  sopts.port = absl::GetFlag(FLAGS_port);
  sopts.max_connections = absl::GetFlag(FLAGS_max_connections);
  sopts.max_headers = absl::GetFlag(FLAGS_max_headers);
  sopts.read_timeout_seconds = absl::GetFlag(FLAGS_read_timeout_seconds);
  sopts.idle_timeout_seconds = absl::GetFlag(FLAGS_idle_timeout_seconds);
  sopts.region = absl::GetFlag(FLAGS_region);
  sopts.account_id = absl::GetFlag(FLAGS_account_id);
  auto server = gateway::GatewayServer::Start(sopts, &dispatcher, &metrics);
  if (!server.ok()) {
    log::Error("cannot start the HTTP server", {{"error", std::string(server.status().message())}});
    return 1;
  }
  gateway::GatewayServer* srv = server->get();
  (*catalog)->OnChange([&dispatcher, srv](std::shared_ptr<const gateway::Snapshot> snap) {
    dispatcher.Update(snap);
    srv->Update(snap);
  });
  (*catalog)->Start();

  std::atomic<bool> draining{false};
  auto admin = AdminServer::Start(sopts.host, absl::GetFlag(FLAGS_admin_port), registry,
                                  [&draining] { return !draining.load(); });
  if (!admin.ok()) {
    log::Error("cannot start the admin server", {{"error", std::string(admin.status().message())}});
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << srv->port() << " " << (*admin)->port() << "\n";
    std::error_code ec;
    std::filesystem::rename(tmp, absl::GetFlag(FLAGS_port_file), ec);
  }
  log::Info("gateway listening", {{"port", srv->port()}, {"admin_port", (*admin)->port()},
                                  {"functions", (*catalog)->Current()->functions.size()}});
  int sig = WaitForTerminationSignal();
  draining = true;
  log::Info("draining", {{"signal", sig}});
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_shutdown_delay_seconds)));
  srv->Stop();  // finishes in-flight requests
  dispatcher.Shutdown();
  (*admin)->Stop();
  log::Info("stopped");
  return 0;
}
