#include "operator/leader.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"

namespace wisp::op {

using nlohmann::json;

namespace {

std::string MicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

absl::Time ParseMicroTime(const std::string& s) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", s, &t, &err)) return t;
  return absl::InfinitePast();
}

}  // namespace

LeaderElector::LeaderElector(kube::KubeClient* client, LeaderElectionConfig config,
                             std::function<void()> on_started_leading, std::function<void()> on_lost)
    : client_(client), config_(std::move(config)),
      on_started_leading_(std::move(on_started_leading)), on_lost_(std::move(on_lost)) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

bool LeaderElector::TryAcquireOrRenew(absl::Time now) {
  const kube::Resource& leases = kube::resources::Leases();
  absl::StatusOr<json> current = client_->Get(leases, config_.lease_namespace, config_.lease_name);
  json spec = {{"holderIdentity", config_.identity},
               {"leaseDurationSeconds", absl::ToInt64Seconds(config_.lease_duration)},
               {"renewTime", MicroTime(now)}};
  if (absl::IsNotFound(current.status())) {
    spec["acquireTime"] = MicroTime(now);
    spec["leaseTransitions"] = 0;
    json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                  {"kind", "Lease"},
                  {"metadata", {{"name", config_.lease_name}, {"namespace", config_.lease_namespace}}},
                  {"spec", spec}};
    return client_->Create(leases, config_.lease_namespace, lease).ok();
  }
  if (!current.ok()) return false;
  json lease = *current;
  const json& old = lease.contains("spec") ? lease["spec"] : json::object();
  std::string holder = old.value("holderIdentity", "");
  int64_t duration = old.value("leaseDurationSeconds", int64_t{15});
  absl::Time renewed = ParseMicroTime(old.value("renewTime", ""));
  bool ours = holder == config_.identity;
  bool expired = holder.empty() || renewed + absl::Seconds(duration) < now;
  if (!ours && !expired) return false;
  spec["acquireTime"] = ours ? old.value("acquireTime", MicroTime(now)) : MicroTime(now);
  spec["leaseTransitions"] = old.value("leaseTransitions", 0) + (ours ? 0 : 1);
  lease["spec"] = spec;
  // PUT with the resourceVersion we read: a 409 means another candidate won the race.
  return client_->Update(leases, config_.lease_namespace, config_.lease_name, lease).ok();
}

void LeaderElector::Run() {
  absl::Time last_renew = absl::InfinitePast();
  while (!stop_) {
    absl::Time now = absl::Now();
    bool held = TryAcquireOrRenew(now);
    if (held) {
      last_renew = now;
      if (!leader_.exchange(true)) {
        log::Info("became leader", {{"identity", config_.identity}, {"lease", config_.lease_name}});
        if (on_started_leading_) on_started_leading_();
      }
    } else if (leader_ && now - last_renew > config_.renew_deadline) {
      leader_ = false;
      log::Warn("lost leadership", {{"identity", config_.identity}});
      if (on_lost_) on_lost_();
    }
    absl::Time next = absl::Now() + config_.retry_period;
    while (!stop_ && absl::Now() < next) absl::SleepFor(absl::Milliseconds(20));
  }
  if (leader_) {
    // Release: clear the holder so that a standby takes over without waiting for expiry.
    auto current = client_->Get(kube::resources::Leases(), config_.lease_namespace, config_.lease_name);
    if (current.ok() && (*current)["spec"].value("holderIdentity", "") == config_.identity) {
      json lease = *current;
      lease["spec"]["holderIdentity"] = "";
      lease["spec"]["renewTime"] = MicroTime(absl::UnixEpoch());
      (void)client_->Update(kube::resources::Leases(), config_.lease_namespace, config_.lease_name, lease);
    }
    leader_ = false;
  }
}

}  // namespace wisp::op
