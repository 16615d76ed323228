#include "gateway/stream_catalog.h"

#include <deque>
#include <set>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "grpcpp/grpcpp.h"
#include "wisp/v1/control.grpc.pb.h"

namespace wisp::gateway {

Snapshot SnapshotFromProto(const v1::RoutingSnapshot& routing) {
  Snapshot out;
  for (const v1::FunctionRouting& f : routing.functions()) {
    if (out.functions.contains(f.name())) continue;
    FunctionInfo info;
    info.name = f.name();
    info.namespace_ = f.namespace_();
    info.timeout_seconds = f.timeout_seconds();
    info.memory_mb = f.memory_mb();
    if (f.has_reserved_concurrency()) info.reserved_concurrency = f.reserved_concurrency();
    for (const v1::HttpRoute& r : f.routes()) {
      info.routes.push_back({r.path(), {r.methods().begin(), r.methods().end()}, r.async()});
    }
    for (const v1::Endpoint& e : f.endpoints()) {
      info.endpoints.push_back({e.address(), std::max(1, e.capacity())});
    }
    if (f.has_async()) {
      info.async.max_retries = f.async().max_retries();
      info.async.max_event_age_seconds = f.async().max_event_age_seconds();
      info.async.on_failure = {f.async().on_failure().stream(), f.async().on_failure().function()};
      info.async.on_success = {f.async().on_success().stream(), f.async().on_success().function()};
    }
    for (const v1::QueueTrigger& q : f.queues()) {
      info.queues.push_back({q.stream(), std::max(1, q.batch_size()), q.batch_window_seconds(),
                             std::max(1, q.max_receive_count()),
                             q.dead_letter_stream().empty()
                                 ? events::DeadLetterStream(q.stream())
                                 : q.dead_letter_stream()});
    }
    out.functions.emplace(info.name, std::move(info));
  }
  return out;
}

namespace {

class Stream;

}  // namespace

struct StreamCatalog::Impl {
  // One function's load summed over the samples of a report interval.
  struct Sums {
    double in_flight = 0;
    double queued = 0;
    std::map<std::string, double> endpoints;  // address -> in-flight
  };
  // What the reports carry across streams (the catalog's thread only).
  struct Reporting {
    absl::Time next_sample;
    absl::Time next_report;
    std::map<std::string, Sums> sums;  // by function
    int samples = 0;
    std::map<std::string, absl::Time> demand_sent;  // function -> last demand signal sent
  };
  // How a stream ended: whether it delivered a snapshot, and the leader address it was told to
  // follow (empty: none).
  struct StreamEnd {
    bool got_snapshot = false;
    std::string follow;
  };
  Options options;
  LoadsFn loads;
  grpc::ChannelArguments channel_args;
  std::unique_ptr<v1::ControlPlane::Stub> stub;  // to options.target
  // To the leader address followed (the catalog's thread only); replaced when it changes.
  std::string leader_target;
  std::unique_ptr<v1::ControlPlane::Stub> leader_stub;
  std::function<void(std::shared_ptr<const Snapshot>)> on_change;
  std::thread thread;

  absl::Mutex mu;
  std::shared_ptr<const Snapshot> current ABSL_GUARDED_BY(mu) = std::make_shared<Snapshot>();
  bool has_snapshot ABSL_GUARDED_BY(mu) = false;
  std::unique_ptr<v1::RoutingSnapshot> received ABSL_GUARDED_BY(mu);  // not yet installed
  bool stream_ended ABSL_GUARDED_BY(mu) = false;
  std::set<std::string> demand ABSL_GUARDED_BY(mu);
  bool demand_new ABSL_GUARDED_BY(mu) = false;
  bool stop ABSL_GUARDED_BY(mu) = false;
  int reconnects ABSL_GUARDED_BY(mu) = 0;
  std::string target ABSL_GUARDED_BY(mu);  // of the stream in use

  void Run();
  // Runs one stream to `target` until it ends, redirects to the leader, or Stop().
  StreamEnd RunStream(v1::ControlPlane::Stub* stub, const std::string& target, Reporting* r);
  void Received(const v1::RoutingSnapshot& snapshot) {
    absl::MutexLock l(&mu);
    received = std::make_unique<v1::RoutingSnapshot>(snapshot);
  }
  void ReadEnded() {
    absl::MutexLock l(&mu);
    stream_ended = true;
  }
};

namespace {

// One Subscribe call. Reads on gRPC's threads hand snapshots to the catalog's thread; writes
// come from the catalog's thread, one in flight, queued behind it. A hold keeps OnDone away
// until Close().
class Stream : public grpc::ClientBidiReactor<v1::GatewayReport, v1::RoutingSnapshot> {
 public:
  Stream(StreamCatalog::Impl* impl, v1::ControlPlane::Stub* stub, absl::Duration lifetime)
      : impl_(impl) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + lifetime));
    stub->async()->Subscribe(&context_, this);
    AddHold();
    StartRead(&snapshot_);
    StartCall();
  }

  void Send(v1::GatewayReport report) {
    absl::MutexLock l(&mu_);
    if (closed_ || outbox_.size() >= 64) return;  // a stuck stream drops reports
    outbox_.push_back(std::move(report));
    if (!writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }

  // No more writes; cancels the call and waits for its end. The status it ended with.
  grpc::Status Close() {
    {
      absl::MutexLock l(&mu_);
      closed_ = true;
    }
    context_.TryCancel();
    RemoveHold();
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(&done_));
    return status_;
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock l(&mu_);
    outbox_.pop_front();
    if (!ok || closed_ || outbox_.empty()) {
      writing_ = false;
      if (!ok) outbox_.clear();
      return;
    }
    StartWrite(&outbox_.front());
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      impl_->ReadEnded();
      return;
    }
    impl_->Received(snapshot_);
    StartRead(&snapshot_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock l(&mu_);
    status_ = status;
    done_ = true;
  }

 private:
  StreamCatalog::Impl* const impl_;
  grpc::ClientContext context_;
  v1::RoutingSnapshot snapshot_;  // reads are sequential
  absl::Mutex mu_;
  std::deque<v1::GatewayReport> outbox_ ABSL_GUARDED_BY(mu_);  // front is in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

StreamCatalog::Impl::StreamEnd StreamCatalog::Impl::RunStream(v1::ControlPlane::Stub* stub,
                                                               const std::string& target,
                                                               Reporting* r) {
  {
    absl::MutexLock l(&mu);
    stream_ended = false;
    received.reset();
  }
  auto stream = std::make_unique<Stream>(this, stub, options.stream_lifetime);
  StreamEnd end;
  while (true) {
    std::unique_ptr<v1::RoutingSnapshot> snapshot;
    bool ended = false;
    {
      absl::MutexLock l(&mu);
      auto woken = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu) {
        return stop || stream_ended || received != nullptr || demand_new;
      };
      mu.AwaitWithDeadline(absl::Condition(&woken), r->next_sample);
      if (stop) break;
      ended = stream_ended;
      snapshot = std::move(received);
      demand_new = false;
    }
    if (snapshot != nullptr) {
      auto snap = std::make_shared<const Snapshot>(SnapshotFromProto(*snapshot));
      {
        absl::MutexLock l(&mu);
        current = snap;
        has_snapshot = true;
      }
      if (!end.got_snapshot) {
        if (options.on_connected) options.on_connected(true);
        log::Info("routing snapshot received",
                  {{"operator", target},
                   {"version", static_cast<int64_t>(snapshot->version())},
                   {"functions", static_cast<int64_t>(snap->functions.size())},
                   {"from_leader", snapshot->from_leader() ? "true" : "false"},
                   {"leader_address", snapshot->leader_address()}});
      }
      end.got_snapshot = true;
      if (on_change) on_change(snap);
      // The sender does not lead and knows who does: reports sent here would be ignored.
      if (!snapshot->from_leader() && !snapshot->leader_address().empty() &&
          snapshot->leader_address() != target) {
        end.follow = snapshot->leader_address();
        break;
      }
    }
    absl::Time now = absl::Now();
    // Demands and reports wait for the stream's first snapshot: until then it is not known
    // whether this replica leads.
    if (end.got_snapshot) {
      std::vector<std::string> demands;
      {
        absl::MutexLock l(&mu);
        for (auto it = demand.begin(); it != demand.end();) {
          auto sent = r->demand_sent.find(*it);
          if (sent == r->demand_sent.end() || now - sent->second >= options.demand_interval) {
            demands.push_back(*it);
            r->demand_sent[*it] = now;
            it = demand.erase(it);
          } else {
            ++it;
          }
        }
      }
      for (const std::string& fn : demands) {
        v1::GatewayReport report;
        report.set_gateway_id(options.gateway_id);
        report.mutable_demand()->set_function(fn);
        stream->Send(std::move(report));
      }
    }
    if (now >= r->next_sample) {
      r->next_sample = now + options.sample_interval;
      for (const auto& [fn, load] : loads ? loads() : std::map<std::string, FunctionLoad>{}) {
        Sums& sum = r->sums[fn];
        sum.in_flight += load.in_flight;
        sum.queued += load.queued;
        // An endpoint missing from some samples counts as idle in them.
        for (const auto& [address, in_flight] : load.endpoints) sum.endpoints[address] += in_flight;
      }
      ++r->samples;
    }
    if (now >= r->next_report && end.got_snapshot) {
      v1::GatewayReport report;
      report.set_gateway_id(options.gateway_id);
      v1::ConcurrencyReport* c = report.mutable_concurrency();
      c->set_interval_ms(absl::ToInt64Milliseconds(options.report_interval));
      for (const auto& [fn, sum] : r->sums) {
        v1::FunctionConcurrency* f = c->add_functions();
        f->set_function(fn);
        f->set_average_in_flight(r->samples > 0 ? sum.in_flight / r->samples : 0);
        f->set_average_queued(r->samples > 0 ? sum.queued / r->samples : 0);
        for (const auto& [address, in_flight] : sum.endpoints) {
          v1::EndpointLoad* e = f->add_endpoints();
          e->set_address(address);
          e->set_average_in_flight(r->samples > 0 ? in_flight / r->samples : 0);
        }
      }
      stream->Send(std::move(report));
      r->sums.clear();
      r->samples = 0;
      r->next_report = now + options.report_interval;
    }
    if (ended) break;
  }
  grpc::Status status = stream->Close();
  int reconnects_now;
  {
    absl::MutexLock l(&mu);
    reconnects_now = ++reconnects;
  }
  if (end.got_snapshot && options.on_connected) options.on_connected(false);
  bool expected = !end.follow.empty() ||
                  (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && end.got_snapshot);
  if (!expected) {
    log::Warn("operator stream ended; keeping the last snapshot",
              {{"operator", target}, {"code", static_cast<int64_t>(status.error_code())},
               {"error", status.error_message()}, {"reconnects", static_cast<int64_t>(reconnects_now)}});
  }
  return end;
}

void StreamCatalog::Impl::Run() {
  absl::Duration backoff = options.backoff_initial;         // after a stream without a snapshot
  absl::Duration follow_backoff = options.backoff_initial;  // between consecutive redirects
  Reporting reporting;
  reporting.next_sample = absl::Now();
  reporting.next_report = absl::Now() + options.report_interval;
  std::string leader;  // the leader address followed; empty: options.target
  while (true) {
    {
      absl::MutexLock l(&mu);
      if (stop) return;
    }
    v1::ControlPlane::Stub* to = stub.get();
    std::string to_target = options.target;
    if (!leader.empty()) {
      if (leader != leader_target || leader_stub == nullptr) {
        leader_stub = v1::ControlPlane::NewStub(grpc::CreateCustomChannel(
            leader, grpc::InsecureChannelCredentials(), channel_args));
        leader_target = leader;
      }
      to = leader_stub.get();
      to_target = leader;
    }
    {
      absl::MutexLock l(&mu);
      target = to_target;
    }
    StreamEnd end = RunStream(to, to_target, &reporting);
    absl::Duration wait;
    if (!end.follow.empty()) {
      log::Info("following the operator leader", {{"from", to_target}, {"leader", end.follow},
                                                   {"delay_ms", absl::ToInt64Milliseconds(follow_backoff)}});
      leader = end.follow;
      wait = follow_backoff;
      follow_backoff = std::min(follow_backoff * 2, options.backoff_max);
      backoff = options.backoff_initial;
    } else if (end.got_snapshot) {
      backoff = options.backoff_initial;
      follow_backoff = options.backoff_initial;
      continue;  // a stream that worked is replaced at once
    } else if (!leader.empty()) {
      log::Warn("operator leader unreachable; back to the configured operator",
                {{"leader", leader}, {"operator", options.target}});
      leader.clear();
      continue;
    } else {
      wait = backoff;
      backoff = std::min(backoff * 2, options.backoff_max);
    }
    absl::MutexLock l(&mu);
    auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return stop; };
    if (mu.AwaitWithTimeout(absl::Condition(&stopped), wait)) return;
  }
}

absl::StatusOr<std::unique_ptr<StreamCatalog>> StreamCatalog::Create(Options options,
                                                                     LoadsFn loads) {
  if (options.target.empty()) return absl::InvalidArgumentError("the operator's address is empty");
  auto impl = std::make_unique<Impl>();
  grpc::ChannelArguments& args = impl->channel_args;
  // Notice a dead operator within ~15 s even when no write fails.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // The channel's own reconnect backoff must not outlast ours (gRPC's default grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.backoff_initial)));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.backoff_initial)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options.backoff_max)));
  impl->stub = v1::ControlPlane::NewStub(
      grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args));
  impl->options = std::move(options);
  impl->loads = std::move(loads);
  return std::unique_ptr<StreamCatalog>(new StreamCatalog(std::move(impl)));
}

StreamCatalog::StreamCatalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StreamCatalog::~StreamCatalog() { Stop(); }

std::shared_ptr<const Snapshot> StreamCatalog::Current() {
  absl::MutexLock l(&impl_->mu);
  return impl_->current;
}

void StreamCatalog::OnChange(std::function<void(std::shared_ptr<const Snapshot>)> cb) {
  impl_->on_change = std::move(cb);
}

void StreamCatalog::Start() {
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] { impl->Run(); });
}

void StreamCatalog::Stop() {
  {
    absl::MutexLock l(&impl_->mu);
    impl_->stop = true;
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

void StreamCatalog::Demand(const std::string& function) {
  absl::MutexLock l(&impl_->mu);
  impl_->demand.insert(function);
  impl_->demand_new = true;
}

bool StreamCatalog::HasSnapshot() {
  absl::MutexLock l(&impl_->mu);
  return impl_->has_snapshot;
}

int StreamCatalog::Reconnects() {
  absl::MutexLock l(&impl_->mu);
  return impl_->reconnects;
}

std::string StreamCatalog::Target() {
  absl::MutexLock l(&impl_->mu);
  return impl_->target.empty() ? impl_->options.target : impl_->target;
}

}  // namespace wisp::gateway
