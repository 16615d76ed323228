// Leader election with a coordination.k8s.io/v1 Lease, as client-go does it: a candidate takes
// the Lease when it is free or its holder has not renewed within leaseDurationSeconds, renews it
// every `renew_period`, and steps down (calling on_lost) when a renewal fails for longer than
// `renew_deadline`. Conflicts (409) mean someone else wrote first: re-read and retry. On a clean
// stop the leader releases the Lease (holder cleared) so another takes over at once.
// Thread-safe; callbacks run on the elector's thread.
#ifndef WISP_OPERATOR_LEADER_H_
#define WISP_OPERATOR_LEADER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

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
};

class LeaderElector {
 public:
  LeaderElector(kube::KubeClient* client, LeaderElectionConfig config,
                std::function<void()> on_started_leading, std::function<void()> on_lost);
  ~LeaderElector();
  void Start();
  // Stops trying; a leader releases the Lease.
  void Stop();
  bool IsLeader() const { return leader_.load(); }

 private:
  void Run();
  // One attempt to acquire or renew. True when we hold the Lease afterwards.
  bool TryAcquireOrRenew(absl::Time now);

  kube::KubeClient* client_;
  LeaderElectionConfig config_;
  std::function<void()> on_started_leading_;
  std::function<void()> on_lost_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_LEADER_H_
