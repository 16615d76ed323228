// Autoscaling in the operator: one wisp::Autoscaler (controller/autoscaler.h) per Function, fed
// by the gateways' reports (it is a GatewayReportSink, operator/snapshot_service.h), and its
// decisions applied through the Function's scale subresource. The reconciler then makes the
// Deployment follow spec.replicas (controller/resources/deployment.h, DesiredReplicas).
//
// Only the leader decides: while `leading()` is false nothing is evaluated and every autoscaler
// is dropped, so a new leader starts fresh ones (the autoscaler's "fresh start" rules).
//
// Per evaluation (every `tick`, and at once for a function named by a demand signal):
//   load     = Σ over gateways of the latest average_in_flight + average_queued reported for
//              the function; a gateway whose latest report is older than `report_expiry` does
//              not count. No counting gateway → no Record (a gap is "unknown", not "idle").
//              Recorded at most once per second per function.
//   current  = the Function's spec.replicas, else the Deployment's spec.replicas, else
//              DesiredReplicas(spec); a write of ours not yet in the cache counts as current.
//   ready    = the Deployment's status.readyReplicas (0 without one).
//   decision = Autoscaler::Scale(now, current, ready); when decision.desired != current:
//              PATCH functions/<name>/scale {"spec":{"replicas":desired}}, then
//              PATCH functions/<name>/status {"status":{"lastScaleTime":now}}.
//              Before a scale-down (desired < current), the Pods behind the function's endpoints
//              get their controller.kubernetes.io/pod-deletion-cost from the gateways' per-endpoint
//              in-flight (PodDeletionCosts below), so the ReplicaSet controller (or, in local
//              mode, the process kubelet) removes idle pods first. A failure to annotate is
//              logged and does not stop the scale-down: the worker's drain covers the rest.
// The autoscaler of a Function is rebuilt when its scaling spec (minScale, maxScale, target,
// scaleToZeroAfterSeconds) changes. Invalid Functions are not scaled.
//
// Gateways name a function by its name alone (their catalog is keyed by name); a report for
// "name" applies to the first Function of that name in (namespace, name) order, as the routing
// snapshot does. A "namespace/name" key is accepted as well.
//
// Metrics: wisp_operator_autoscaler_desired_replicas{function} (gauge, function = "ns/name"),
// wisp_operator_scale_events_total{function,direction} (direction = up | down).
//
// Thread-safe. The sink methods never block on I/O (a demand wakes the background thread).
#ifndef WISP_OPERATOR_AUTOSCALING_H_
#define WISP_OPERATOR_AUTOSCALING_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/autoscaler.h"
#include "nlohmann/json.hpp"
#include "operator/informer_set.h"
#include "operator/kube/client.h"
#include "operator/snapshot_service.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace wisp::op {

// What autoscaling reads and writes: the seam tests replace. Implementations are thread-safe.
class ScaleClient {
 public:
  virtual ~ScaleClient() = default;
  // Every Function object (from a cache).
  virtual std::vector<nlohmann::json> Functions() = 0;
  // The Function's Deployment ("ns/name"), if any (from a cache).
  virtual std::optional<nlohmann::json> Deployment(const std::string& key) = 0;
  // The scale subresource's spec.replicas.
  virtual absl::Status SetReplicas(const std::string& ns, const std::string& name,
                                   int replicas) = 0;
  // status.lastScaleTime.
  virtual absl::Status SetLastScaleTime(const std::string& ns, const std::string& name,
                                        absl::Time when) = 0;
  // Sets controller.kubernetes.io/pod-deletion-cost on the Pods behind the Function's
  // endpoints, from `in_flight` (worker address "host:port" -> average in-flight calls summed
  // over the gateways; an address missing from it is idle). See PodDeletionCosts.
  virtual absl::Status MarkDeletionCosts(const std::string& ns, const std::string& name,
                                         const std::map<std::string, double>& in_flight) {
    return absl::OkStatus();
  }
};

// The annotation the ReplicaSet controller honours: pods with a lower cost are deleted first.
inline constexpr char kPodDeletionCostAnnotation[] = "controller.kubernetes.io/pod-deletion-cost";

// Pure. The deletion cost of each Pod (by name) behind `slices` (EndpointSlices of one
// Service): an endpoint's address is "<address>:<port named grpc>" and its Pod is its
// targetRef (kind Pod). cost = 0 for an idle endpoint (no in-flight calls: the cheapest to
// remove), else max(1, round(1000 × average in-flight)), at most 1e9. Endpoints without a Pod
// targetRef are skipped; a Pod behind several addresses gets the highest cost.
std::map<std::string, int> PodDeletionCosts(const std::vector<nlohmann::json>& slices,
                                            const std::map<std::string, double>& in_flight);

// Reads from the operator's caches, writes through the Kubernetes API. Borrows its arguments.
class KubeScaleClient : public ScaleClient {
 public:
  // `endpoint_slices` may be null (no deletion costs are then written).
  KubeScaleClient(kube::KubeClient* client, InformerSet* functions, InformerSet* deployments,
                  InformerSet* endpoint_slices = nullptr)
      : client_(client),
        functions_(functions),
        deployments_(deployments),
        endpoint_slices_(endpoint_slices) {}
  std::vector<nlohmann::json> Functions() override;
  std::optional<nlohmann::json> Deployment(const std::string& key) override;
  absl::Status SetReplicas(const std::string& ns, const std::string& name, int replicas) override;
  absl::Status SetLastScaleTime(const std::string& ns, const std::string& name,
                                absl::Time when) override;
  absl::Status MarkDeletionCosts(const std::string& ns, const std::string& name,
                                 const std::map<std::string, double>& in_flight) override;

 private:
  kube::KubeClient* client_;
  InformerSet* functions_;
  InformerSet* deployments_;
  InformerSet* endpoint_slices_;
};

struct AutoscalingOptions {
  // Operator-wide autoscaler settings; the per-Function fields are replaced from each Function.
  AutoscalerSpec defaults;
  absl::Duration tick = absl::Seconds(1);
  absl::Duration report_expiry = absl::Seconds(3);
  // How long a replica count we wrote stands for current while the cache still shows the old.
  absl::Duration write_grace = absl::Seconds(10);
  // When > 0, caps every Function's scaling.scaleToZeroAfterSeconds (tests and demos).
  absl::Duration scale_to_zero_after_cap = absl::ZeroDuration();
};

class Autoscaling : public GatewayReportSink {
 public:
  // `client` must outlive this. `now` is the clock (tests pass a fake one).
  Autoscaling(ScaleClient* client, std::function<bool()> leading,
              std::shared_ptr<prometheus::Registry> registry, AutoscalingOptions options = {},
              std::function<absl::Time()> now = [] { return absl::Now(); });
  ~Autoscaling() override;  // Stop()

  void OnConcurrency(const std::string& gateway,
                     const std::map<std::string, GatewayConcurrency>& loads) override;
  void OnDemand(const std::string& gateway, const std::string& function) override;
  void OnGatewayGone(const std::string& gateway) override;

  // A background thread that calls Tick() every `tick` and ProcessDemands() on each demand.
  void Start();
  void Stop();  // Idempotent.

  // One evaluation of every Function (and of pending demands). Tests call it directly.
  void Tick();
  // Demand(now) and an evaluation for each function named by a demand since the last call.
  void ProcessDemands();

 private:
  // The fields of AutoscalerSpec that come from the Function.
  struct Knobs {
    int min_scale = 0;
    int max_scale = 0;
    double target = 0;
    int64_t scale_to_zero_after_seconds = 0;
    bool operator==(const Knobs&) const = default;
  };
  struct State {
    Knobs knobs;
    std::unique_ptr<Autoscaler> autoscaler;
    int64_t last_record_second = INT64_MIN;
    std::optional<int> written;
    absl::Time written_at;
  };

  // Evaluates one Function object: `record` adds this second's load; a pending demand for it is
  // taken and applied. Without either, nothing is done.
  void Evaluate(const nlohmann::json& object, absl::Time now, bool record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(eval_mu_);
  // The summed fresh load for a Function, if any gateway's report counts.
  std::optional<double> Load(const std::string& name, const std::string& key, absl::Time now);
  // The fresh per-endpoint in-flight for a Function, summed over gateways.
  std::map<std::string, double> EndpointLoads(const std::string& name, const std::string& key,
                                              absl::Time now);
  // Takes (and clears) a pending demand for the Function.
  bool TakeDemand(const std::string& name, const std::string& key);
  // The Function objects, first of each name in (namespace, name) order first.
  std::vector<nlohmann::json> SortedFunctions();

  ScaleClient* client_;
  std::function<bool()> leading_;
  AutoscalingOptions options_;
  std::function<absl::Time()> now_;
  prometheus::Family<prometheus::Gauge>* desired_gauge_;
  prometheus::Family<prometheus::Counter>* scale_events_;

  absl::Mutex eval_mu_;  // one evaluation at a time
  std::map<std::string, State> states_ ABSL_GUARDED_BY(eval_mu_);  // by "ns/name"

  absl::Mutex mu_;
  // function (as reported) -> gateway -> latest report (received = our clock).
  std::map<std::string, std::map<std::string, GatewayConcurrency>> loads_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> demanded_ ABSL_GUARDED_BY(mu_);

  std::mutex wake_mu_;
  std::condition_variable wake_;
  bool stop_ = false;     // guarded by wake_mu_
  bool pending_ = false;  // guarded by wake_mu_: a demand arrived
  std::thread thread_;
};

// Hands every report to each of `sinks` in order (e.g. the metrics and autoscaling).
class TeeReportSink : public GatewayReportSink {
 public:
  explicit TeeReportSink(std::vector<GatewayReportSink*> sinks) : sinks_(std::move(sinks)) {}
  void OnConcurrency(const std::string& gateway,
                     const std::map<std::string, GatewayConcurrency>& loads) override {
    for (GatewayReportSink* s : sinks_) s->OnConcurrency(gateway, loads);
  }
  void OnDemand(const std::string& gateway, const std::string& function) override {
    for (GatewayReportSink* s : sinks_) s->OnDemand(gateway, function);
  }
  void OnGatewayGone(const std::string& gateway) override {
    for (GatewayReportSink* s : sinks_) s->OnGatewayGone(gateway);
  }

 private:
  std::vector<GatewayReportSink*> sinks_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_AUTOSCALING_H_
