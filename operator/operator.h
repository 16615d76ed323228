// The operator: informers over Functions, their Deployments and the EndpointSlices of Services
// (all namespaces, or the watched ones; the slices feed the gateways' routing snapshots,
// operator/snapshot_service.h), a work queue of Function keys, worker threads that reconcile, and leader election so
// that of several replicas exactly one writes. Non-leaders keep their caches warm and take over
// in a couple of seconds. Every Function is requeued when leadership is gained and every
// `resync`. The leader also autoscales (operator/autoscaling.h): feed it the gateways' reports
// through autoscaling(). Given a Redis address, the leader fires schedule triggers too
// (operator/scheduler.h).
//
// Who leads is reported through OnLeaderChange (for the snapshot server, which tells the
// gateways where to send their reports): whether this replica leads, and the address the
// leader advertises in its Lease (operator/leader.h; this replica's own is set with
// set_advertise_address). Without leader election this replica always leads. Thread-safe.
#ifndef WISP_OPERATOR_OPERATOR_H_
#define WISP_OPERATOR_OPERATOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "controller/operator_config.h"
#include "operator/autoscaling.h"
#include "operator/informer_set.h"
#include "operator/kube/client.h"
#include "operator/leader.h"
#include "operator/reconciler.h"
#include "operator/scheduler.h"
#include "operator/workqueue.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace wisp::op {

struct OperatorOptions {
  std::vector<std::string> namespaces;  // empty: all
  OperatorConfig config;
  int workers = 2;
  bool leader_elect = false;
  LeaderElectionConfig leader;
  absl::Duration resync = absl::Minutes(5);
  bool autoscale = true;
  AutoscalingOptions autoscaling;
  // The leader fires schedule triggers (operator/scheduler.h) when scheduler.redis is set.
  SchedulerOptions scheduler;
};

class Operator {
 public:
  Operator(kube::KubeClient* client, OperatorOptions options,
           std::shared_ptr<prometheus::Registry> registry);
  ~Operator();
  // Where this replica serves the gateways' stream ("host:port", see AdvertiseAddress), known
  // once that server is bound. Call before Start(). Empty (the default): advertise nothing.
  void set_advertise_address(std::string address);
  // `cb(leading, leader_address)` is called whenever either changes (on the elector's thread),
  // and once from Start() without leader election. leader_address is the live leader's
  // advertised address, "" when unknown. Call before Start().
  void OnLeaderChange(std::function<void(bool leading, const std::string& leader_address)> cb);
  void Start();
  void Stop();
  bool IsLeader();
  bool Synced();
  // The caches, for the snapshot server (add handlers before Start()).
  InformerSet* functions() { return &functions_; }
  InformerSet* endpoint_slices() { return &endpoint_slices_; }
  // Where the gateways' reports go (nullptr when options.autoscale is false).
  Autoscaling* autoscaling() { return autoscaling_.get(); }

 private:
  void Worker();
  void EnqueueAll();
  // Calls on_leader_change_ with the current state (elector thread, or Start()).
  void NotifyLeader();

  kube::KubeClient* client_;
  OperatorOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;  // owns the metric families below
  InformerSet functions_;
  InformerSet deployments_;
  InformerSet endpoint_slices_;
  EventRecorder events_;
  Reconciler reconciler_;
  WorkQueue queue_;
  std::unique_ptr<LeaderElector> elector_;
  std::unique_ptr<KubeScaleClient> scale_client_;
  std::unique_ptr<Autoscaling> autoscaling_;
  std::unique_ptr<Scheduler> scheduler_;
  std::atomic<bool> leading_{false};
  std::function<void(bool, const std::string&)> on_leader_change_;
  std::mutex leader_mu_;
  std::string leader_address_;  // guarded by leader_mu_
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
  std::thread resync_;
  prometheus::Family<prometheus::Counter>* reconciles_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* leader_gauge_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_OPERATOR_H_
