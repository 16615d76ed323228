#include "operator/autoscaling.h"

#include <algorithm>
#include <cmath>
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

std::map<std::string, int> PodDeletionCosts(const std::vector<json>& slices,
                                            const std::map<std::string, double>& in_flight) {
  std::map<std::string, int> costs;
  for (const json& slice : slices) {
    if (!slice.is_object()) continue;
    int port = 0;
    if (slice.contains("ports") && slice["ports"].is_array()) {
      for (const json& p : slice["ports"]) {
        if (p.is_object() && p.value("name", "") == "grpc" && p.contains("port") &&
            p["port"].is_number_integer()) {
          port = p["port"].get<int>();
        }
      }
    }
    if (port == 0 || !slice.contains("endpoints") || !slice["endpoints"].is_array()) continue;
    for (const json& e : slice["endpoints"]) {
      if (!e.is_object() || !e.contains("targetRef") || !e["targetRef"].is_object()) continue;
      const json& ref = e["targetRef"];
      if (ref.value("kind", "") != "Pod" || ref.value("name", "").empty()) continue;
      const std::string pod = ref.value("name", "");
      int cost = 0;
      if (e.contains("addresses") && e["addresses"].is_array()) {
        for (const json& a : e["addresses"]) {
          if (!a.is_string()) continue;
          auto it = in_flight.find(absl::StrCat(a.get<std::string>(), ":", port));
          if (it == in_flight.end() || !(it->second > 0)) continue;
          const double scaled = std::min(1e9, std::round(it->second * 1000));
          cost = std::max(cost, std::max(1, static_cast<int>(scaled)));
        }
      }
      auto [it, inserted] = costs.emplace(pod, cost);
      if (!inserted) it->second = std::max(it->second, cost);
    }
  }
  return costs;
}

absl::Status KubeScaleClient::MarkDeletionCosts(const std::string& ns, const std::string& name,
                                                const std::map<std::string, double>& in_flight) {
  if (endpoint_slices_ == nullptr) return absl::OkStatus();
  std::vector<json> slices;
  for (json& s : endpoint_slices_->List()) {
    const json& md = s["metadata"];
    if (md.value("namespace", "") != ns) continue;
    if (!md.contains("labels") || !md["labels"].is_object() ||
        md["labels"].value("kubernetes.io/service-name", "") != name) {
      continue;
    }
    slices.push_back(std::move(s));
  }
  absl::Status result = absl::OkStatus();
  for (const auto& [pod, cost] : PodDeletionCosts(slices, in_flight)) {
    auto patched = client_->MergePatch(
        kube::resources::Pods(), ns, pod,
        json{{"metadata", {{"annotations", {{kPodDeletionCostAnnotation, std::to_string(cost)}}}}}});
    if (!patched.ok() && result.ok()) result = patched.status();
  }
  return result;
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

std::map<std::string, double> Autoscaling::EndpointLoads(const std::string& name,
                                                         const std::string& key, absl::Time now) {
  absl::MutexLock l(&mu_);
  std::map<std::string, double> sum;
  for (const std::string* reported : {&name, &key}) {
    auto it = loads_.find(*reported);
    if (it == loads_.end()) continue;
    for (const auto& [gateway, load] : it->second) {
      if (now - load.received > options_.report_expiry) continue;
      for (const auto& [address, in_flight] : load.endpoints) sum[address] += in_flight;
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
  if (options_.scale_to_zero_after_cap > absl::ZeroDuration()) {
    knobs.scale_to_zero_after_seconds =
        std::min(knobs.scale_to_zero_after_seconds,
                 std::max<int64_t>(1, absl::ToInt64Seconds(options_.scale_to_zero_after_cap)));
  }
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
  if (decision.desired < current) {
    // Idle pods first: whatever removes pods (the ReplicaSet controller, the process kubelet)
    // honours the deletion cost.
    if (absl::Status s = client_->MarkDeletionCosts(fn.metadata.namespace_name, name,
                                                    EndpointLoads(name, key, now));
        !s.ok()) {
      log::Warn("cannot set pod deletion costs before a scale-down",
                {{"function", key}, {"error", std::string(s.message())}});
    }
  }
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
