// wisp-gateway: the HTTP front door. Flags become options, objects are wired, the process
// serves until SIGTERM, then drains.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/admin/admin_server.h"
#include "controller/base/log.h"
#include "controller/base/signals.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"
#include "gateway/grpc_invoker.h"
#include "gateway/metrics.h"
#include "gateway/server.h"
#include "gateway/stream_catalog.h"

ABSL_FLAG(std::string, catalog, "",
          "Catalog file (JSON: functions, routes, endpoints), reloaded on change (standalone)");
ABSL_FLAG(std::string, operator, "",
          "The operator's routing stream, HOST:PORT or a gRPC target (dns:///...); "
          "exactly one of --catalog and --operator");
ABSL_FLAG(std::string, gateway_id, "", "This gateway's id in reports to the operator "
          "(default: hostname-pid)");
ABSL_FLAG(std::string, redis, "",
          "Redis (host:port) for async invocations and queue triggers; it must run with "
          "appendonly yes and appendfsync always. Empty: both are off (Event invokes get 400)");
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

  if (absl::GetFlag(FLAGS_catalog).empty() == absl::GetFlag(FLAGS_operator).empty()) {
    log::Error("exactly one of --catalog (standalone) and --operator is required");
    return 2;
  }
  auto registry = std::make_shared<prometheus::Registry>();
  gateway::GatewayMetrics metrics(registry);
  gateway::GrpcInvoker invoker;
  gateway::Dispatcher::Options dopts;
  dopts.queue_size = absl::GetFlag(FLAGS_queue_size);
  dopts.queue_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_queue_timeout_ms));
  // The stream catalog needs the dispatcher's loads and the dispatcher its demand hook: the
  // hook reaches the catalog through this pointer, set before any request can arrive.
  std::atomic<gateway::StreamCatalog*> stream{nullptr};
  gateway::Dispatcher dispatcher(dopts, &invoker, [&stream](const std::string& fn) {
    log::Debug("demand", {{"function", fn}});
    if (gateway::StreamCatalog* s = stream.load()) s->Demand(fn);
  });
  std::unique_ptr<gateway::FunctionCatalog> catalog;
  gateway::FileCatalog* file_catalog = nullptr;
  if (!absl::GetFlag(FLAGS_catalog).empty()) {
    auto opened = gateway::FileCatalog::Open(absl::GetFlag(FLAGS_catalog));
    if (!opened.ok()) {
      log::Error("cannot load the catalog", {{"error", std::string(opened.status().message())}});
      return 2;
    }
    file_catalog = opened->get();
    catalog = std::move(*opened);
  } else {
    gateway::StreamCatalog::Options copts;
    copts.target = absl::GetFlag(FLAGS_operator);
    copts.gateway_id = absl::GetFlag(FLAGS_gateway_id);
    copts.on_connected = [&metrics](bool connected) { metrics.OperatorStream(connected); };
    if (copts.gateway_id.empty()) {
      char host[256] = "gateway";
      gethostname(host, sizeof(host) - 1);
      copts.gateway_id = absl::StrCat(host, "-", getpid());
    }
    auto created = gateway::StreamCatalog::Create(copts, [&dispatcher] { return dispatcher.Loads(); });
    if (!created.ok()) {
      log::Error("bad --operator", {{"error", std::string(created.status().message())}});
      return 2;
    }
    stream = created->get();
    catalog = std::move(*created);
  }
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
  catalog->OnChange([&dispatcher, srv](std::shared_ptr<const gateway::Snapshot> snap) {
    dispatcher.Update(snap);
    srv->Update(snap);
  });
  if (file_catalog != nullptr) file_catalog->Start();
  if (stream.load() != nullptr) stream.load()->Start();

  std::atomic<bool> draining{false};
  auto admin = AdminServer::Start(sopts.host, absl::GetFlag(FLAGS_admin_port), registry,
                                  [&draining, &stream] {
                                    // Fed by the operator: ready once routes have arrived.
                                    gateway::StreamCatalog* s = stream.load();
                                    return !draining.load() && (s == nullptr || s->HasSnapshot());
                                  });
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
                                  {"functions", catalog->Current()->functions.size()}});
  int sig = WaitForTerminationSignal();
  draining = true;
  log::Info("draining", {{"signal", sig}});
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_shutdown_delay_seconds)));
  srv->Stop();  // finishes in-flight requests
  if (stream.load() != nullptr) stream.load()->Stop();
  dispatcher.Shutdown();
  (*admin)->Stop();
  log::Info("stopped");
  return 0;
}
