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
#include "controller/redis/redis_client.h"
#include "gateway/async_invocations.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"
#include "gateway/grpc_invoker.h"
#include "gateway/metrics.h"
#include "gateway/queue_consumer.h"
#include "gateway/server.h"
#include "gateway/stream_catalog.h"

ABSL_FLAG(std::string, catalog, "",
          "Catalog file (JSON: functions, routes, endpoints), reloaded on change (standalone)");
ABSL_FLAG(std::string, operator, "",
          "The operator's routing stream, HOST:PORT or a gRPC target (dns:///...); "
          "exactly one of --catalog and --operator");
ABSL_FLAG(std::string, gateway_id, "", "This gateway's id in reports to the operator and its "
          "consumer name in Redis; keep it stable across restarts (default: hostname-pid)");
ABSL_FLAG(std::string, redis, "",
          "Redis (host:port) for async invocations and queue triggers; it must run with "
          "appendonly yes and appendfsync always. Empty: both are off (Event invokes get 400)");
ABSL_FLAG(int, async_max_payload_bytes, 256 * 1024,
          "Largest Event (async) payload accepted (413 beyond); at most 1048576");
ABSL_FLAG(int64_t, async_backlog, 100000,
          "Async events that may wait per function (429 beyond)");
ABSL_FLAG(int, async_concurrency, 64, "Async events this gateway runs at once, all functions");
ABSL_FLAG(int, async_per_function, 16, "Async events this gateway runs at once per function");
ABSL_FLAG(int, async_retry_delay_ms, 60000,
          "Delay before the first retry of an async event after a function error (doubles "
          "after each; Lambda waits 1 and 2 minutes)");
ABSL_FLAG(int, async_platform_retry_ms, 1000,
          "First delay after a throttle or platform error (doubles, at most 5 minutes)");
ABSL_FLAG(int, async_lease_margin_seconds, 30,
          "An event whose gateway died is taken over after the function's timeout + "
          "--queue_timeout_ms + this");
ABSL_FLAG(int, queue_retry_delay_ms, 30000,
          "Queue triggers: a failed message is delivered again this long after its last "
          "delivery (SQS's visibility timeout)");
ABSL_FLAG(int, queue_lease_margin_ms, 30000,
          "Queue triggers: another gateway's batch is taken over once idle for its batch "
          "window + --queue_timeout_ms + the function timeout + this");
ABSL_FLAG(int, queue_claim_interval_ms, 1000,
          "Queue triggers: how often pending messages are looked at for re-delivery");
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

namespace {

// A 202 promises the event is on disk: say so loudly if Redis is not set up to keep that
// promise (it is not fatal: the operator of the Redis may fix it without restarting us).
void WarnUnlessDurable(const std::string& address) {
  wisp::redis::Client client({.address = address, .connect_timeout = absl::Seconds(1)});
  absl::StatusOr<wisp::redis::Reply> aof = client.Command({"CONFIG", "GET", "appendonly"});
  absl::StatusOr<wisp::redis::Reply> fsync = client.Command({"CONFIG", "GET", "appendfsync"});
  if (!aof.ok() || !fsync.ok()) {
    wisp::log::Warn("Redis is not reachable yet; async invocations get 5xx until it is",
                    {{"redis", address}, {"error", std::string((aof.ok() ? fsync : aof).status().message())}});
    return;
  }
  auto value = [](const wisp::redis::Reply& r) {
    return r.elements.size() == 2 ? r.elements[1].text() : std::string("?");
  };
  if (value(*aof) != "yes" || value(*fsync) != "always") {
    wisp::log::Warn("Redis does not fsync every write: an accepted (202) event can be lost if "
                    "Redis crashes; run it with --appendonly yes --appendfsync always",
                    {{"redis", address}, {"appendonly", value(*aof)}, {"appendfsync", value(*fsync)}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wisp;
  absl::SetProgramUsageMessage("wisp-gateway: HTTP routes and the Lambda Invoke API over workers");
  absl::ParseCommandLine(argc, argv);
  BlockTerminationSignals();

  if (absl::GetFlag(FLAGS_catalog).empty() == absl::GetFlag(FLAGS_operator).empty()) {
    log::Error("exactly one of --catalog (standalone) and --operator is required");
    return 2;
  }
  std::string gateway_id = absl::GetFlag(FLAGS_gateway_id);
  if (gateway_id.empty()) {
    char host[256] = "gateway";
    gethostname(host, sizeof(host) - 1);
    gateway_id = absl::StrCat(host, "-", getpid());
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
    copts.gateway_id = gateway_id;
    copts.on_connected = [&metrics](bool connected) { metrics.OperatorStream(connected); };
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
  // Async invocations: the intake stores events before the 202, the dispatcher runs them.
  std::unique_ptr<gateway::AsyncMetrics> async_metrics;
  std::unique_ptr<gateway::AsyncIntake> async_intake;
  std::unique_ptr<gateway::AsyncDispatcher> async_dispatcher;
  if (!absl::GetFlag(FLAGS_redis).empty()) {
    gateway::AsyncOptions aopts;
    aopts.redis_address = absl::GetFlag(FLAGS_redis);
    if (absl::StatusOr<redis::Address> a = redis::ParseAddress(aopts.redis_address); !a.ok()) {
      log::Error("bad --redis", {{"error", std::string(a.status().message())}});
      return 2;
    }
    aopts.gateway_id = gateway_id;
    aopts.region = absl::GetFlag(FLAGS_region);
    aopts.account_id = absl::GetFlag(FLAGS_account_id);
    aopts.max_payload_bytes = absl::GetFlag(FLAGS_async_max_payload_bytes);
    if (aopts.max_payload_bytes < 1 || aopts.max_payload_bytes > gateway::kMaxAsyncPayloadBytes) {
      log::Error("--async_max_payload_bytes must be 1..1048576",
                 {{"value", aopts.max_payload_bytes}});
      return 2;
    }
    aopts.backlog_cap = absl::GetFlag(FLAGS_async_backlog);
    aopts.concurrency = absl::GetFlag(FLAGS_async_concurrency);
    aopts.per_function = absl::GetFlag(FLAGS_async_per_function);
    aopts.retry.function_error_base = absl::Milliseconds(absl::GetFlag(FLAGS_async_retry_delay_ms));
    aopts.retry.platform_base = absl::Milliseconds(absl::GetFlag(FLAGS_async_platform_retry_ms));
    aopts.queue_timeout = dopts.queue_timeout;
    aopts.lease_margin = absl::Seconds(absl::GetFlag(FLAGS_async_lease_margin_seconds));
    WarnUnlessDurable(aopts.redis_address);
    async_metrics = std::make_unique<gateway::AsyncMetrics>(registry);
    async_intake = std::make_unique<gateway::AsyncIntake>(aopts, async_metrics.get());
    async_dispatcher =
        std::make_unique<gateway::AsyncDispatcher>(aopts, &dispatcher, async_metrics.get());
  }
  auto server = gateway::GatewayServer::Start(sopts, &dispatcher, &metrics, async_intake.get());
  if (!server.ok()) {
    log::Error("cannot start the HTTP server", {{"error", std::string(server.status().message())}});
    return 1;
  }
  gateway::GatewayServer* srv = server->get();
  // Queue triggers: consumers of Redis streams, invoking through the dispatcher.
  std::unique_ptr<gateway::QueueConsumers> queues;
  if (!absl::GetFlag(FLAGS_redis).empty()) {
    gateway::QueueConsumerOptions qopts;
    qopts.redis_address = absl::GetFlag(FLAGS_redis);
    qopts.consumer = gateway_id;
    qopts.retry_delay = absl::Milliseconds(absl::GetFlag(FLAGS_queue_retry_delay_ms));
    qopts.lease_margin = absl::Milliseconds(absl::GetFlag(FLAGS_queue_lease_margin_ms));
    qopts.claim_interval = absl::Milliseconds(absl::GetFlag(FLAGS_queue_claim_interval_ms));
    qopts.queue_wait = dopts.queue_timeout;
    qopts.region = sopts.region;
    qopts.account_id = sopts.account_id;
    queues = std::make_unique<gateway::QueueConsumers>(
        qopts,
        [&dispatcher](const std::string& fn, const v1::InvokeRequest& request) {
          return dispatcher.Invoke(fn, request);
        },
        registry);
  }
  gateway::QueueConsumers* queue_consumers = queues.get();
  gateway::AsyncDispatcher* async = async_dispatcher.get();
  catalog->OnChange([&dispatcher, srv, async, queue_consumers](std::shared_ptr<const gateway::Snapshot> snap) {
    dispatcher.Update(snap);
    srv->Update(snap);
    if (async != nullptr) async->Update(snap);
    if (queue_consumers != nullptr) queue_consumers->Update(snap);
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
  if (queues) queues->Stop();  // finishes and settles running batches, before the dispatcher
  if (async_dispatcher) async_dispatcher->Stop();  // finishes (or leaves pending) its events
  if (stream.load() != nullptr) stream.load()->Stop();
  dispatcher.Shutdown();
  (*admin)->Stop();
  log::Info("stopped");
  return 0;
}
