#include "operator/leader.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
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

std::string Annotation(const json& lease) {
  if (!lease.contains("metadata") || !lease["metadata"].is_object()) return "";
  const json& meta = lease["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return "";
  auto it = meta["annotations"].find(kLeaderAddressAnnotation);
  return it != meta["annotations"].end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<std::string> AdvertiseAddress(absl::string_view in, int port) {
  if (in.empty()) return std::string();
  for (char c : in) {
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat("advertise address \"", in, "\" has whitespace"));
    }
  }
  absl::string_view host = in;
  absl::string_view port_text;
  bool bracketed = false;
  if (in.front() == '[') {
    size_t close = in.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("advertise address \"", in, "\" has no ']'"));
    }
    host = in.substr(1, close - 1);
    absl::string_view rest = in.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return absl::InvalidArgumentError(
            absl::StrCat("advertise address \"", in, "\": expected ':' after ']'"));
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("advertise address \"", in, "\" has no port"));
      }
    }
    bracketed = true;
  } else if (size_t colon = in.find(':'); colon != absl::string_view::npos) {
    if (in.find(':', colon + 1) != absl::string_view::npos) {
      bracketed = true;  // two colons or more: a bare IPv6 address, no port
    } else {
      host = in.substr(0, colon);
      port_text = in.substr(colon + 1);
      if (port_text.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("advertise address \"", in, "\" has no port"));
      }
    }
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("advertise address \"", in, "\" has no host"));
  }
  int p = port;
  if (!port_text.empty() && !absl::SimpleAtoi(port_text, &p)) p = -1;
  if (p < 1 || p > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "advertise address \"", in, "\": port ", port_text.empty() ? absl::StrCat(port) : std::string(port_text),
        " is not 1-65535"));
  }
  return bracketed ? absl::StrCat("[", host, "]:", p) : absl::StrCat(host, ":", p);
}

LeaderElector::LeaderElector(kube::KubeClient* client, LeaderElectionConfig config,
                             std::function<void()> on_started_leading, std::function<void()> on_lost,
                             std::function<void(const std::string&)> on_leader_address)
    : client_(client), config_(std::move(config)),
      on_started_leading_(std::move(on_started_leading)), on_lost_(std::move(on_lost)),
      on_leader_address_(std::move(on_leader_address)) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  thread_ = std::thread([this] { Run(); });
}

void LeaderElector::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void LeaderElector::Advertise(json& lease) const {
  if (!lease["metadata"].is_object()) return;  // not a Lease from an API server: the write fails
  json& meta = lease["metadata"];
  if (!config_.advertise_address.empty()) {
    if (!meta.contains("annotations") || !meta["annotations"].is_object()) {
      meta["annotations"] = json::object();
    }
    meta["annotations"][kLeaderAddressAnnotation] = config_.advertise_address;
  } else if (meta.contains("annotations") && meta["annotations"].is_object()) {
    // The annotation belongs to the holder: a holder without an address must not keep the
    // previous holder's.
    meta["annotations"].erase(kLeaderAddressAnnotation);
  }
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenew(absl::Time now) {
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
    Advertise(lease);
    if (client_->Create(leases, config_.lease_namespace, lease).ok()) {
      return {true, config_.advertise_address};
    }
    return {false, std::nullopt};  // someone else created it first: read it next time
  }
  if (!current.ok()) return {false, std::nullopt};
  json lease = *current;
  const json old = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  std::string holder = old.value("holderIdentity", "");
  int64_t duration = old.value("leaseDurationSeconds", int64_t{15});
  absl::Time renewed = ParseMicroTime(old.value("renewTime", ""));
  bool ours = holder == config_.identity;
  bool expired = holder.empty() || renewed + absl::Seconds(duration) < now;
  std::string live_address = expired ? "" : Annotation(lease);
  if (!ours && !expired) return {false, live_address};
  spec["acquireTime"] = ours ? old.value("acquireTime", MicroTime(now)) : MicroTime(now);
  spec["leaseTransitions"] = old.value("leaseTransitions", 0) + (ours ? 0 : 1);
  lease["spec"] = spec;
  Advertise(lease);
  // PUT with the resourceVersion we read: a 409 means another candidate won the race.
  if (client_->Update(leases, config_.lease_namespace, config_.lease_name, lease).ok()) {
    return {true, config_.advertise_address};
  }
  return {false, live_address};
}

void LeaderElector::Run() {
  absl::Time last_renew = absl::InfinitePast();
  while (!stop_) {
    absl::Time now = absl::Now();
    Attempt attempt = TryAcquireOrRenew(now);
    bool held = attempt.held;
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
    if (attempt.leader_address && *attempt.leader_address != leader_address_) {
      leader_address_ = *attempt.leader_address;
      log::Info("leader address", {{"identity", config_.identity}, {"leader_address", leader_address_}});
      if (on_leader_address_) on_leader_address_(leader_address_);
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
      if (lease.contains("metadata") && lease["metadata"].contains("annotations") &&
          lease["metadata"]["annotations"].is_object()) {
        lease["metadata"]["annotations"].erase(kLeaderAddressAnnotation);
      }
      (void)client_->Update(kube::resources::Leases(), config_.lease_namespace, config_.lease_name, lease);
    }
    leader_ = false;
  }
}

}  // namespace wisp::op
