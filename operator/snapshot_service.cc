#include "operator/snapshot_service.h"

#include <condition_variable>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/routing.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/gauge.h"
#include "wisp/v1/control.grpc.pb.h"

namespace wisp::op {

// ---------------------------------------------------------------------------------------------
// GatewayReports

GatewayReports::GatewayReports(std::shared_ptr<prometheus::Registry> registry) {
  using namespace prometheus;
  reports_ = &BuildCounter().Name("wisp_operator_gateway_reports_total")
                  .Help("Concurrency reports received from gateways").Register(*registry).Add({});
  demand_ = &BuildCounter().Name("wisp_operator_demand_signals_total")
                 .Help("Demand signals (a request found no capacity) from gateways, by function")
                 .Register(*registry);
}

void GatewayReports::OnConcurrency(const std::string& gateway,
                                   const std::map<std::string, GatewayConcurrency>& loads) {
  reports_->Increment();
  absl::MutexLock l(&mu_);
  for (const auto& [function, load] : loads) latest_[function][gateway] = load;
}

void GatewayReports::OnDemand(const std::string& gateway, const std::string& function) {
  demand_->Add({{"function", function}}).Increment();
}

void GatewayReports::OnGatewayGone(const std::string& gateway) {
  absl::MutexLock l(&mu_);
  for (auto it = latest_.begin(); it != latest_.end();) {
    it->second.erase(gateway);
    it = it->second.empty() ? latest_.erase(it) : std::next(it);
  }
}

std::map<std::string, std::map<std::string, GatewayConcurrency>> GatewayReports::Latest() {
  absl::MutexLock l(&mu_);
  return latest_;
}

// ---------------------------------------------------------------------------------------------
// SnapshotServer

namespace {

using Snapshot = std::shared_ptr<const v1::RoutingSnapshot>;

v1::RoutingSnapshot ToProto(const RoutingTable& table, uint64_t version) {
  v1::RoutingSnapshot out;
  out.set_version(version);
  for (const RoutingFunction& f : table.functions) {
    v1::FunctionRouting* p = out.add_functions();
    p->set_name(f.name);
    p->set_namespace_(f.namespace_name);
    p->set_timeout_seconds(f.timeout_seconds);
    p->set_memory_mb(f.memory_mb);
    if (f.reserved_concurrency) p->set_reserved_concurrency(*f.reserved_concurrency);
    for (const RoutingRoute& r : f.routes) {
      v1::HttpRoute* pr = p->add_routes();
      pr->set_path(r.path);
      for (const std::string& m : r.methods) pr->add_methods(m);
      pr->set_async(r.async);
    }
    for (const RoutingEndpoint& e : f.endpoints) {
      v1::Endpoint* pe = p->add_endpoints();
      pe->set_address(e.address);
      pe->set_capacity(e.capacity);
    }
    v1::AsyncPolicy* async = p->mutable_async();
    async->set_max_retries(f.async.max_retries);
    async->set_max_event_age_seconds(f.async.max_event_age_seconds);
    auto destination = [](const events::Destination& d, v1::Destination* out) {
      if (!d.stream.empty()) out->set_stream(d.stream);
      if (!d.function.empty()) out->set_function(d.function);
    };
    if (!f.async.on_failure.empty()) destination(f.async.on_failure, async->mutable_on_failure());
    if (!f.async.on_success.empty()) destination(f.async.on_success, async->mutable_on_success());
    for (const events::QueueTrigger& q : f.queues) {
      v1::QueueTrigger* pq = p->add_queues();
      pq->set_stream(q.stream);
      pq->set_batch_size(q.batch_size);
      pq->set_batch_window_seconds(q.batch_window_seconds);
      pq->set_max_receive_count(q.max_receive_count);
      pq->set_dead_letter_stream(q.dead_letter_stream);
    }
  }
  return out;
}

// Set by the informers' handlers (which must not block); shared so that a handler outliving
// the server stays harmless.
struct ChangeSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool dirty = true;
  bool stop = false;
  void Mark() {
    std::lock_guard<std::mutex> l(mu);
    dirty = true;
    cv.notify_one();
  }
};

class SubscribeReactor;

}  // namespace

struct SnapshotServer::Impl : public v1::ControlPlane::CallbackService {
  InformerSet* functions = nullptr;
  InformerSet* endpoint_slices = nullptr;
  GatewayReportSink* sink = nullptr;
  std::shared_ptr<ChangeSignal> signal = std::make_shared<ChangeSignal>();
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::thread publisher;
  prometheus::Gauge* subscribers_gauge = nullptr;
  prometheus::Counter* snapshots = nullptr;

  absl::Mutex mu;
  std::set<SubscribeReactor*> subscribers ABSL_GUARDED_BY(mu);
  Snapshot current ABSL_GUARDED_BY(mu);
  bool stopped ABSL_GUARDED_BY(mu) = false;
  bool leading ABSL_GUARDED_BY(mu) = true;
  std::string leader_address ABSL_GUARDED_BY(mu);

  grpc::ServerBidiReactor<v1::GatewayReport, v1::RoutingSnapshot>* Subscribe(
      grpc::CallbackServerContext* context) override;
  void Remove(SubscribeReactor* reactor, const std::string& gateway);
  void Publish();
  void HandleReport(const v1::GatewayReport& report, std::string* gateway);
};

namespace {

// One gateway's stream. At most one snapshot in flight; newer ones replace a queued one.
class SubscribeReactor
    : public grpc::ServerBidiReactor<v1::GatewayReport, v1::RoutingSnapshot> {
 public:
  SubscribeReactor(SnapshotServer::Impl* impl, std::string peer)
      : impl_(impl), peer_(std::move(peer)) {
    StartRead(&report_);
  }

  // Queues `snapshot` (replacing one not yet written). Callers hold impl_->mu.
  void Push(Snapshot snapshot) {
    absl::MutexLock l(&mu_);
    if (finishing_) return;
    next_ = std::move(snapshot);
    if (!writing_) WriteNextLocked();
  }

  // Ends the stream once the write in flight (if any) completes.
  void End(grpc::Status status) {
    absl::MutexLock l(&mu_);
    EndLocked(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock l(&mu_);
    writing_ = false;
    in_flight_.reset();
    if (!ok) {
      EndLocked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
    } else if (finishing_) {
      FinishLocked();
    } else if (next_) {
      WriteNextLocked();
    }
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the gateway closed its side, or the call broke
      End(grpc::Status::OK);
      return;
    }
    impl_->HandleReport(report_, &gateway_);
    StartRead(&report_);
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    impl_->Remove(this, gateway_);
    delete this;
  }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    in_flight_ = std::move(next_);
    writing_ = true;
    StartWrite(in_flight_.get());
  }
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) return;
    finishing_ = true;
    status_ = std::move(status);
    next_.reset();
    if (!writing_) FinishLocked();
  }
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status_);
  }

  SnapshotServer::Impl* const impl_;
  const std::string peer_;
  v1::GatewayReport report_;  // reads are sequential: only reaction threads touch it
  std::string gateway_;       // likewise
  absl::Mutex mu_;
  Snapshot in_flight_ ABSL_GUARDED_BY(mu_);
  Snapshot next_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerBidiReactor<v1::GatewayReport, v1::RoutingSnapshot>*
SnapshotServer::Impl::Subscribe(grpc::CallbackServerContext* context) {
  auto* reactor = new SubscribeReactor(this, context->peer());
  absl::MutexLock l(&mu);
  if (stopped) {
    reactor->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "operator shutting down"));
    return reactor;
  }
  subscribers.insert(reactor);
  subscribers_gauge->Set(subscribers.size());
  if (current) reactor->Push(current);  // resend on subscribe
  log::Info("gateway subscribed", {{"peer", context->peer()}});
  return reactor;
}

void SnapshotServer::Impl::Remove(SubscribeReactor* reactor, const std::string& gateway) {
  {
    absl::MutexLock l(&mu);
    subscribers.erase(reactor);
    subscribers_gauge->Set(subscribers.size());
  }
  if (!gateway.empty()) {
    sink->OnGatewayGone(gateway);
    log::Info("gateway unsubscribed", {{"gateway", gateway}});
  }
}

void SnapshotServer::Impl::HandleReport(const v1::GatewayReport& report, std::string* gateway) {
  if (!report.gateway_id().empty()) *gateway = report.gateway_id();
  if (report.has_concurrency()) {
    absl::Time now = absl::Now();
    std::map<std::string, GatewayConcurrency> loads;
    for (const v1::FunctionConcurrency& f : report.concurrency().functions()) {
      GatewayConcurrency& load = loads[f.function()];
      load = {f.average_in_flight(), f.average_queued(), report.concurrency().interval_ms(), now};
      for (const v1::EndpointLoad& e : f.endpoints()) {
        load.endpoints[e.address()] = e.average_in_flight();
      }
    }
    sink->OnConcurrency(*gateway, loads);
  } else if (report.has_demand()) {
    sink->OnDemand(*gateway, report.demand().function());
  }
}

// Rebuilds the table after changes (coalesced) and pushes it when it differs from the last.
void SnapshotServer::Impl::Publish() {
  RoutingTable last;
  bool last_leading = true;
  std::string last_leader_address;
  bool have_last = false;
  uint64_t version = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> l(signal->mu);
      signal->cv.wait_for(l, std::chrono::milliseconds(have_last ? 1000 : 50),
                          [this] { return signal->dirty || signal->stop; });
      if (signal->stop) return;
      if (!signal->dirty) continue;
      if (!functions->WaitForSync(absl::ZeroDuration()) ||
          !endpoint_slices->WaitForSync(absl::ZeroDuration())) {
        continue;  // dirty stays set: a cold cache must not empty the gateways' tables
      }
      signal->dirty = false;
    }
    RoutingTable table = BuildRouting(functions->List(), endpoint_slices->List());
    bool now_leading;
    std::string now_leader_address;
    {
      absl::MutexLock l(&mu);
      now_leading = leading;
      now_leader_address = leader_address;
    }
    if (have_last && table == last && now_leading == last_leading &&
        now_leader_address == last_leader_address) {
      continue;
    }
    last = std::move(table);
    last_leading = now_leading;
    last_leader_address = now_leader_address;
    have_last = true;
    v1::RoutingSnapshot proto = ToProto(last, ++version);
    proto.set_from_leader(last_leading);
    proto.set_leader_address(last_leader_address);
    auto snapshot = std::make_shared<const v1::RoutingSnapshot>(std::move(proto));
    snapshots->Increment();
    absl::MutexLock l(&mu);
    current = snapshot;
    for (SubscribeReactor* r : subscribers) r->Push(snapshot);
    log::Info("routing snapshot", {{"version", static_cast<int64_t>(version)},
                                   {"functions", static_cast<int64_t>(last.functions.size())},
                                   {"leading", last_leading ? "true" : "false"},
                                   {"leader_address", last_leader_address},
                                   {"subscribers", static_cast<int64_t>(subscribers.size())}});
  }
}

absl::StatusOr<std::unique_ptr<SnapshotServer>> SnapshotServer::Start(
    Options options, InformerSet* functions, InformerSet* endpoint_slices,
    GatewayReportSink* sink, std::shared_ptr<prometheus::Registry> registry) {
  auto impl = std::make_unique<Impl>();
  impl->functions = functions;
  impl->endpoint_slices = endpoint_slices;
  impl->sink = sink;
  using namespace prometheus;
  impl->subscribers_gauge = &BuildGauge().Name("wisp_operator_gateway_subscribers")
                                 .Help("Gateways subscribed to routing snapshots")
                                 .Register(*registry).Add({});
  impl->snapshots = &BuildCounter().Name("wisp_operator_routing_snapshots_total")
                         .Help("Routing snapshots built (each sent to every subscriber)")
                         .Register(*registry).Add({});
  std::shared_ptr<ChangeSignal> signal = impl->signal;
  auto mark = [signal](const std::string&, const nlohmann::json*) { signal->Mark(); };
  functions->AddHandler(mark);
  endpoint_slices->AddHandler(mark);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat(options.host, ":", options.port),
                           grpc::InsecureServerCredentials(), &impl->port);
  // Gateways ping every 10 s to notice a dead operator; allow it.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(impl.get());
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port));
  }
  Impl* raw = impl.get();
  impl->publisher = std::thread([raw] { raw->Publish(); });
  return std::unique_ptr<SnapshotServer>(new SnapshotServer(std::move(impl)));
}

SnapshotServer::SnapshotServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SnapshotServer::~SnapshotServer() { Stop(); }

int SnapshotServer::port() const { return impl_->port; }

void SnapshotServer::SetLeader(bool leading, const std::string& leader_address) {
  {
    absl::MutexLock l(&impl_->mu);
    if (impl_->leading == leading && impl_->leader_address == leader_address) return;
    impl_->leading = leading;
    impl_->leader_address = leader_address;
  }
  impl_->signal->Mark();
}

void SnapshotServer::Stop() {
  {
    absl::MutexLock l(&impl_->mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
    for (SubscribeReactor* r : impl_->subscribers) {
      r->End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "operator shutting down"));
    }
  }
  {
    std::lock_guard<std::mutex> l(impl_->signal->mu);
    impl_->signal->stop = true;
    impl_->signal->cv.notify_one();
  }
  if (impl_->publisher.joinable()) impl_->publisher.join();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  impl_->server->Wait();
}

}  // namespace wisp::op
