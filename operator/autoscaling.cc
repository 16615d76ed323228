#include "operator/autoscaling.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/function.h"
#include "controller/resources/deployment.h"
#include "controller/status.h"
#include "operator/informer.h"

namespace wisp::op {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// KubeScaleClient

std::vector<json> KubeScaleClient::Functions() { return functions_->List(); }

std::optional<json> KubeScaleClient::Deployment(const std::string& key) {
  return deployments_->Get(key);
}

absl::Status KubeScaleClient::SetReplicas(const std::string& ns, const std::string& name,
                                          int replicas) {
  return client_
      ->MergePatch(kube::resources::Functions(), ns, name,
                   json{{"spec", {{"replicas", replicas}}}}, "scale")
      .status();
}

absl::Status KubeScaleClient::SetLastScaleTime(const std::string& ns, const std::string& name,
                                               absl::Time when) {
  return client_
      ->MergePatch(kube::resources::Functions(), ns, name,
                   json{{"status", {{"lastScaleTime", FormatKubernetesTime(when)}}}}, "status")
      .status();
}

// ---------------------------------------------------------------------------------------------
// Autoscaling

Autoscaling::Autoscaling(ScaleClient* client, std::function<bool()> leading,
                         std::shared_ptr<prometheus::Registry> registry,
                         AutoscalingOptions options, std::function<absl::Time()> now)
    : client_(client),
      leading_(std::move(leading)),
      options_(std::move(options)),
      now_(std::move(now)) {
  using namespace prometheus;
  desired_gauge_ = &BuildGauge()
                        .Name("wisp_operator_autoscaler_desired_replicas")
                        .Help("The autoscaler's latest desired replica count, by function")
                        .Register(*registry);
  scale_events_ = &BuildCounter()
                       .Name("wisp_operator_scale_events_total")
                       .Help("Replica count changes written by the autoscaler, by function and "
                             "direction (up, down)")
                       .Register(*registry);
}

Autoscaling::~Autoscaling() { Stop(); }

void Autoscaling::OnConcurrency(const std::string& gateway,
                                const std::map<std::string, GatewayConcurrency>& loads) {
  const absl::Time now = now_();
  absl::MutexLock l(&mu_);
  for (const auto& [function, load] : loads) {
    GatewayConcurrency& latest = loads_[function][gateway];
    latest = load;
    latest.received = now;  // freshness on our clock, whatever the caller set
  }
}

void Autoscaling::OnDemand(const std::string& gateway, const std::string& function) {
  {
    absl::MutexLock l(&mu_);
    demanded_.insert(function);
  }
  std::lock_guard<std::mutex> l(wake_mu_);
  pending_ = true;
  wake_.notify_all();
}

void Autoscaling::OnGatewayGone(const std::string& gateway) {
  absl::MutexLock l(&mu_);
  for (auto it = loads_.begin(); it != loads_.end();) {
    it->second.erase(gateway);
    it = it->second.empty() ? loads_.erase(it) : std::next(it);
  }
}

void Autoscaling::Start() {
  thread_ = std::thread([this] {
    absl::Time next_tick = now_();
    std::unique_lock<std::mutex> l(wake_mu_);
    while (!stop_) {
      absl::Duration wait = std::max(absl::ZeroDuration(), next_tick - now_());
      wake_.wait_for(l, absl::ToChronoMilliseconds(wait), [this] { return stop_ || pending_; });
      if (stop_) break;
      const bool demanded = std::exchange(pending_, false);
      l.unlock();
      if (now_() >= next_tick) {
        next_tick = now_() + options_.tick;
        Tick();
      } else if (demanded) {
        ProcessDemands();
      }
      l.lock();
    }
  });
}

void Autoscaling::Stop() {
  {
    std::lock_guard<std::mutex> l(wake_mu_);
    if (stop_) return;
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<json> Autoscaling::SortedFunctions() {
  std::vector<json> functions = client_->Functions();
  std::sort(functions.begin(), functions.end(), [](const json& a, const json& b) {
    return ObjectKey(a) < ObjectKey(b);
  });
  return functions;
}

void Autoscaling::Tick() {
  absl::MutexLock eval(&eval_mu_);
  const absl::Time now = now_();
  if (!leading_()) {
    for (const auto& [key, state] : states_) desired_gauge_->Remove(&desired_gauge_->Add({{"function", key}}));
    states_.clear();
    absl::MutexLock l(&mu_);
    demanded_.clear();
    return;
  }
  std::set<std::string> seen;
  for (const json& object : SortedFunctions()) {
    seen.insert(ObjectKey(object));
    Evaluate(object, now, /*record=*/true);
  }
  for (auto it = states_.begin(); it != states_.end();) {
    if (seen.contains(it->first)) {
      ++it;
      continue;
    }
    desired_gauge_->Remove(&desired_gauge_->Add({{"function", it->first}}));
    it = states_.erase(it);
  }
  absl::MutexLock l(&mu_);
  demanded_.clear();  // for functions that do not exist
}

void Autoscaling::ProcessDemands() {
  absl::MutexLock eval(&eval_mu_);
  const absl::Time now = now_();
  if (!leading_()) {
    absl::MutexLock l(&mu_);
    demanded_.clear();
    return;
  }
  {
    absl::MutexLock l(&mu_);
    if (demanded_.empty()) return;
  }
  for (const json& object : SortedFunctions()) {
    Evaluate(object, now, /*record=*/false);
  }
}

std::optional<double> Autoscaling::Load(const std::string& name, const std::string& key,
                                        absl::Time now) {
  absl::MutexLock l(&mu_);
  std::optional<double> sum;
  for (const std::string* reported : {&name, &key}) {
    auto it = loads_.find(*reported);
    if (it == loads_.end()) continue;
    for (const auto& [gateway, load] : it->second) {
      if (now - load.received > options_.report_expiry) continue;
      sum = sum.value_or(0) + load.average_in_flight + load.average_queued;
    }
  }
  return sum;
}

bool Autoscaling::TakeDemand(const std::string& name, const std::string& key) {
  absl::MutexLock l(&mu_);
  // erase() on both: the name is claimed by the first Function of that name.
  return (demanded_.erase(name) + demanded_.erase(key)) > 0;
}

void Autoscaling::Evaluate(const json& object, absl::Time now, bool record) {
  ParsedFunction parsed = LoadFunction(object);
  if (!parsed.violations.empty()) return;
  const Function& fn = parsed.function;
  const std::string key = ObjectKey(object);
  const std::string& name = fn.metadata.name;
  const bool demand = TakeDemand(name, key);
  if (!record && !demand) return;

  const ScalingSpec& s = fn.spec.scaling;
  Knobs knobs{
      .min_scale = static_cast<int>(s.min_scale.value_or(kDefaultMinScale)),
      .max_scale = static_cast<int>(s.max_scale.value_or(kDefaultMaxScale)),
      .target = static_cast<double>(
          s.target.value_or(fn.spec.concurrency.per_instance.value_or(kDefaultPerInstance))),
      .scale_to_zero_after_seconds =
          s.scale_to_zero_after_seconds.value_or(kDefaultScaleToZeroAfterSeconds)};
  State& state = states_[key];
  if (!state.autoscaler || !(state.knobs == knobs)) {
    AutoscalerSpec spec = options_.defaults;
    spec.min_scale = knobs.min_scale;
    spec.max_scale = knobs.max_scale;
    spec.target_per_pod = knobs.target;
    spec.scale_to_zero_after = absl::Seconds(knobs.scale_to_zero_after_seconds);
    state.knobs = knobs;
    state.autoscaler = std::make_unique<Autoscaler>(spec);
    state.last_record_second = INT64_MIN;
  }
  Autoscaler& autoscaler = *state.autoscaler;

  if (record && absl::ToUnixSeconds(now) != state.last_record_second) {
    if (std::optional<double> load = Load(name, key, now); load.has_value()) {
      autoscaler.Record(now, *load);
      state.last_record_second = absl::ToUnixSeconds(now);
    }
  }
  if (demand) autoscaler.Demand(now);

  std::optional<json> deployment = client_->Deployment(key);
  int current = 0;
  if (fn.spec.replicas.has_value()) {
    current = static_cast<int>(*fn.spec.replicas);
  } else if (deployment.has_value() && (*deployment)["spec"].contains("replicas")) {
    current = (*deployment)["spec"].value("replicas", 0);
  } else {
    current = resources::DesiredReplicas(fn.spec);
  }
  if (state.written.has_value()) {
    // Our own write, not yet in the cache, is what is there.
    if (current != *state.written && now - state.written_at < options_.write_grace) {
      current = *state.written;
    } else {
      state.written.reset();
    }
  }
  int ready = 0;
  if (deployment.has_value() && deployment->contains("status")) {
    ready = (*deployment)["status"].value("readyReplicas", 0);
  }

  AutoscalerDecision decision = autoscaler.Scale(now, current, ready);
  desired_gauge_->Add({{"function", key}}).Set(decision.desired);
  if (decision.desired == current) return;

  const std::string direction = decision.desired > current ? "up" : "down";
  absl::Status written = client_->SetReplicas(fn.metadata.namespace_name, name, decision.desired);
  if (!written.ok()) {
    log::Warn("cannot scale function", {{"function", key},
                                        {"desired", decision.desired},
                                        {"error", std::string(written.message())}});
    return;  // the next tick decides again
  }
  state.written = decision.desired;
  state.written_at = now;
  scale_events_->Add({{"function", key}, {"direction", direction}}).Increment();
  log::Info("scaled function", {{"function", key},
                                {"from", current},
                                {"to", decision.desired},
                                {"ready", ready},
                                {"reason", decision.reason}});
  if (absl::Status s = client_->SetLastScaleTime(fn.metadata.namespace_name, name, now); !s.ok()) {
    log::Warn("cannot set lastScaleTime",
              {{"function", key}, {"error", std::string(s.message())}});
  }
}

}  // namespace wisp::op
