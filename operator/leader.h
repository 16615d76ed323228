// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: a candidate takes
// the Lease when it is free or its holder has not renewed within leaseDurationSeconds, renews it
// every `renew_period`, and steps down (calling on_lost) when a renewal fails for longer than
// `renew_deadline`. Conflicts (409) mean someone else wrote first: re-read and retry. On a clean
// stop the leader releases the Lease (holder cleared) so another takes over at once.
//
// The leader also advertises where it serves the gateways' stream: while it holds the Lease it
// writes `advertise_address` into the Lease's wisp.dev/leader-address annotation (removing it
// when the address is empty), so the annotation always belongs to the current holder. Every
// candidate reads the Lease each `retry_period` and reports the address of the live holder
// (empty when the Lease is free, expired, or carries no address) through on_leader_address
// whenever it changes, after the leadership callbacks of the same attempt.
// Thread-safe; callbacks run on the elector's thread.
#ifndef WISP_OPERATOR_LEADER_H_
#define WISP_OPERATOR_LEADER_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "operator/kube/client.h"

namespace wisp::op {

struct LeaderElectionConfig {
  std::string lease_namespace = "wisp-system";
  std::string lease_name = "wisp-operator";
  std::string identity;  // unique per process (pod name + pid)
  absl::Duration lease_duration = absl::Seconds(15);
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  // "host:port" of this replica's ControlPlane server, written to the Lease while leading.
  // Empty: advertise nothing.
  std::string advertise_address;
};

// The Lease annotation that carries the leader's advertise_address.
inline constexpr char kLeaderAddressAnnotation[] = "wisp.dev/leader-address";

// The address to advertise from the --advertise_address flag (or $POD_IP when the flag is
// empty) and the port the routing stream is bound to:
//   ""                               -> "" (advertise nothing)
//   "10.0.0.7", "op-0.example"       -> "10.0.0.7:<port>", "op-0.example:<port>"
//   "fd00::7", "[fd00::7]"           -> "[fd00::7]:<port>" (a bare IPv6 address)
//   "10.0.0.7:9100", "[fd00::7]:9100" -> as given
// INVALID_ARGUMENT for an empty host, an unclosed '[', whitespace, or a port (given, or
// `port` when none is) outside 1-65535. Pure.
absl::StatusOr<std::string> AdvertiseAddress(absl::string_view host_or_address, int port);

class LeaderElector {
 public:
  // on_leader_address (may be empty) gets the live leader's advertised address when it changes.
  LeaderElector(kube::KubeClient* client, LeaderElectionConfig config,
                std::function<void()> on_started_leading, std::function<void()> on_lost,
                std::function<void(const std::string&)> on_leader_address = nullptr);
  ~LeaderElector();
  void Start();
  // Stops trying; a leader releases the Lease.
  void Stop();
  bool IsLeader() const { return leader_.load(); }

 private:
  struct Attempt {
    bool held = false;  // we hold the Lease afterwards
    // The live holder's advertised address as read (or written); nullopt when the Lease could
    // not be read.
    std::optional<std::string> leader_address;
  };
  void Run();
  // One attempt to acquire or renew.
  Attempt TryAcquireOrRenew(absl::Time now);
  // Sets or removes the address annotation on `lease` (a Lease object we are about to write).
  void Advertise(nlohmann::json& lease) const;

  kube::KubeClient* client_;
  LeaderElectionConfig config_;
  std::function<void()> on_started_leading_;
  std::function<void()> on_lost_;
  std::function<void(const std::string&)> on_leader_address_;
  std::string leader_address_;  // the last one reported; only the elector's thread touches it
  std::atomic<bool> leader_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_LEADER_H_
