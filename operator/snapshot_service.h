// The operator's side of the gateways' stream (proto/wisp/v1/control.proto): a gRPC server
// whose ControlPlane.Subscribe pushes the routing table (controller/routing.h, built from the
// Function and EndpointSlice caches) to every subscribed gateway on every change, and hands
// the gateways' concurrency reports and demand signals to a GatewayReportSink.
//
// Every replica serves snapshots, leader or not. No snapshot is sent before both caches have
// synced (an empty table from a cold cache would make gateways drop every route).
//
// Only the leader's autoscaler acts on reports, so every snapshot also says whether this
// replica leads and where the leader serves (SetLeader: RoutingSnapshot.from_leader and
// leader_address); a gateway on a replica that does not lead resubscribes to the leader
// (gateway/stream_catalog.h). A change of either is pushed at once, like a routing change.
//
// grpcpp stays in snapshot_service.cc. Thread-safe.
#ifndef WISP_OPERATOR_SNAPSHOT_SERVICE_H_
#define WISP_OPERATOR_SNAPSHOT_SERVICE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/informer_set.h"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace wisp::op {

// One gateway's load for one function over one report interval.
struct GatewayConcurrency {
  double average_in_flight = 0;
  double average_queued = 0;
  int64_t interval_ms = 0;
  absl::Time received;
  // Worker address -> average in-flight calls on it over the interval (EndpointLoad).
  std::map<std::string, double> endpoints;
};

// Where reports from gateways go (the autoscaler, later). Called on gRPC threads: must not
// block. Implementations are thread-safe.
class GatewayReportSink {
 public:
  virtual ~GatewayReportSink() = default;
  // One ConcurrencyReport: the gateway's load per function.
  virtual void OnConcurrency(const std::string& gateway,
                             const std::map<std::string, GatewayConcurrency>& loads) = 0;
  virtual void OnDemand(const std::string& gateway, const std::string& function) = 0;
  // The gateway's stream ended: its last reports no longer describe anything.
  virtual void OnGatewayGone(const std::string& gateway) = 0;
};

// The sink for now: counts reports in metrics (wisp_operator_gateway_reports_total,
// wisp_operator_demand_signals_total{function}) and keeps each gateway's latest concurrency
// per function in memory.
class GatewayReports : public GatewayReportSink {
 public:
  explicit GatewayReports(std::shared_ptr<prometheus::Registry> registry);
  void OnConcurrency(const std::string& gateway,
                     const std::map<std::string, GatewayConcurrency>& loads) override;
  void OnDemand(const std::string& gateway, const std::string& function) override;
  void OnGatewayGone(const std::string& gateway) override;
  // function -> gateway -> its latest report.
  std::map<std::string, std::map<std::string, GatewayConcurrency>> Latest();

 private:
  prometheus::Counter* reports_;
  prometheus::Family<prometheus::Counter>* demand_;
  absl::Mutex mu_;
  std::map<std::string, std::map<std::string, GatewayConcurrency>> latest_ ABSL_GUARDED_BY(mu_);
};

class SnapshotServer {
 public:
  struct Options {
    std::string host = "0.0.0.0";
    int port = 9100;  // 0 picks a free one
  };
  // Adds handlers to `functions` and `endpoint_slices`: create it before they start. They and
  // `sink` must outlive the server. Errors: UNAVAILABLE when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<SnapshotServer>> Start(
      Options options, InformerSet* functions, InformerSet* endpoint_slices,
      GatewayReportSink* sink, std::shared_ptr<prometheus::Registry> registry);
  ~SnapshotServer();  // Stop()
  int port() const;
  // Who leads, as this replica sees it (Operator::OnLeaderChange): carried by every snapshot
  // from now on and pushed to every subscriber when it changes. Until called: leading, no
  // address (a lone operator). Never blocks on I/O.
  void SetLeader(bool leading, const std::string& leader_address);
  // Ends every stream with UNAVAILABLE and stops serving. Idempotent.
  void Stop();

  struct Impl;

 private:
  explicit SnapshotServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_SNAPSHOT_SERVICE_H_
