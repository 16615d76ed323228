#include "operator/operator.h"

#include "absl/time/clock.h"
#include "controller/base/log.h"

namespace wisp::op {

using nlohmann::json;

Operator::Operator(kube::KubeClient* client, OperatorOptions options,
                   std::shared_ptr<prometheus::Registry> registry)
    : client_(client),
      options_(std::move(options)),
      registry_(registry),
      functions_(client, kube::resources::Functions(), options_.namespaces),
      deployments_(client, kube::resources::Deployments(), options_.namespaces,
                   kube::ListOptions{.label_selector = "app.kubernetes.io/managed-by=wisp-operator"}),
      // Every Service's slices carry kubernetes.io/service-name; the routing keeps the Functions'.
      endpoint_slices_(client, kube::resources::EndpointSlices(), options_.namespaces,
                       kube::ListOptions{.label_selector = "kubernetes.io/service-name"}),
      events_(client, "wisp-operator"),
      reconciler_(client, &functions_, &deployments_, options_.config, &events_) {
  using namespace prometheus;
  reconciles_ = &BuildCounter().Name("wisp_operator_reconciles_total")
                     .Help("Reconciles by result (success, error)").Register(*registry);
  queue_depth_ = &BuildGauge().Name("wisp_operator_queue_depth")
                      .Help("Function keys waiting to be reconciled").Register(*registry).Add({});
  leader_gauge_ = &BuildGauge().Name("wisp_operator_leader")
                       .Help("1 while this replica is the leader").Register(*registry).Add({});
  functions_.AddHandler([this](const std::string& key, const json*) { queue_.Add(key); });
  // A Deployment's change (rollout, readiness) is its Function's change: same key.
  deployments_.AddHandler([this](const std::string& key, const json*) { queue_.Add(key); });
  if (options_.autoscale) {
    scale_client_ = std::make_unique<KubeScaleClient>(client_, &functions_, &deployments_,
                                                      &endpoint_slices_);
    autoscaling_ = std::make_unique<Autoscaling>(
        scale_client_.get(),
        [this] {
          // A cold cache would read as "no Functions" or "no Deployments": decide only once
          // both are synced.
          return leading_.load() && functions_.WaitForSync(absl::ZeroDuration()) &&
                 deployments_.WaitForSync(absl::ZeroDuration());
        },
        registry_,
        options_.autoscaling);
  }
  if (!options_.scheduler.redis.empty()) {
    scheduler_ = std::make_unique<Scheduler>(
        [this] { return functions_.List(); },
        // A cold cache reads as "no Functions": fire only once it is synced.
        [this] { return leading_.load() && functions_.WaitForSync(absl::ZeroDuration()); },
        registry_, options_.scheduler,
        [this](const json& fn, const std::string& message) {
          events_.Record(fn, "Warning", "ScheduleFireFailed", message);
        });
    functions_.AddHandler([this](const std::string&, const json*) { scheduler_->Wake(); });
  }
}

Operator::~Operator() { Stop(); }

void Operator::set_advertise_address(std::string address) {
  options_.leader.advertise_address = std::move(address);
}

void Operator::OnLeaderChange(std::function<void(bool, const std::string&)> cb) {
  on_leader_change_ = std::move(cb);
}

void Operator::NotifyLeader() {
  if (!on_leader_change_) return;
  std::string address;
  {
    std::lock_guard<std::mutex> l(leader_mu_);
    address = leader_address_;
  }
  on_leader_change_(leading_.load(), address);
}

void Operator::Start() {
  functions_.Start();
  deployments_.Start();
  endpoint_slices_.Start();
  if (options_.leader_elect) {
    elector_ = std::make_unique<LeaderElector>(
        client_, options_.leader,
        [this] {
          leading_ = true;
          leader_gauge_->Set(1);
          EnqueueAll();
          if (scheduler_) scheduler_->Wake();
          NotifyLeader();
        },
        [this] {
          leading_ = false;
          leader_gauge_->Set(0);
          NotifyLeader();
        },
        [this](const std::string& address) {
          {
            std::lock_guard<std::mutex> l(leader_mu_);
            leader_address_ = address;
          }
          NotifyLeader();
        });
    elector_->Start();
  } else {
    leading_ = true;
    leader_gauge_->Set(1);
    {
      std::lock_guard<std::mutex> l(leader_mu_);
      leader_address_ = options_.leader.advertise_address;
    }
    NotifyLeader();
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Worker(); });
  if (autoscaling_) autoscaling_->Start();
  if (scheduler_) scheduler_->Start();
  resync_ = std::thread([this] {
    absl::Time next = absl::Now() + options_.resync;
    while (!stop_) {
      absl::SleepFor(absl::Milliseconds(100));
      queue_depth_->Set(queue_.Len());
      if (absl::Now() >= next) {
        next = absl::Now() + options_.resync;
        if (leading_) EnqueueAll();
      }
    }
  });
}

void Operator::EnqueueAll() {
  for (const json& fn : functions_.List()) queue_.Add(ObjectKey(fn));
}

void Operator::Worker() {
  while (true) {
    std::optional<std::string> key = queue_.Get();
    if (!key.has_value()) return;
    if (!leading_) {
      // Standby: keep the key for when we lead (EnqueueAll covers it too).
      queue_.Done(*key);
      queue_.AddAfter(*key, absl::Seconds(1));
      continue;
    }
    absl::Status s = reconciler_.Reconcile(*key);
    if (s.ok()) {
      queue_.Forget(*key);
      reconciles_->Add({{"result", "success"}}).Increment();
    } else {
      log::Warn("reconcile failed", {{"key", *key}, {"error", std::string(s.message())},
                                     {"retries", queue_.Failures(*key)}});
      reconciles_->Add({{"result", "error"}}).Increment();
      queue_.AddRateLimited(*key);
    }
    queue_.Done(*key);
  }
}

void Operator::Stop() {
  if (stop_.exchange(true)) return;
  if (autoscaling_) autoscaling_->Stop();
  if (scheduler_) scheduler_->Stop();
  queue_.ShutDown();
  for (auto& t : workers_) t.join();
  if (resync_.joinable()) resync_.join();
  if (elector_) elector_->Stop();
  functions_.Stop();
  deployments_.Stop();
  endpoint_slices_.Stop();
}

bool Operator::IsLeader() { return leading_.load(); }

bool Operator::Synced() {
  return functions_.WaitForSync(absl::ZeroDuration()) &&
         endpoint_slices_.WaitForSync(absl::ZeroDuration());
}

}  // namespace wisp::op
