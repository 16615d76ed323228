// A FunctionCatalog fed by the operator: Subscribe (proto/wisp/v1/control.proto) keeps one
// stream open, every RoutingSnapshot received replaces the current Snapshot, and the gateway's
// load goes back up the same stream (a ConcurrencyReport every `report_interval`, averaged over
// samples of `loads` taken every `sample_interval`; a DemandSignal per Demand(), at most one per
// function per `demand_interval`).
//
// Degraded mode: while the operator is unreachable the last snapshot stays current (the gateway
// keeps serving) and the catalog resubscribes with backoff (100 ms doubling to 5 s; reset by a
// received snapshot). Each stream lives at most `stream_lifetime` (its deadline), then is
// replaced at once. Logged and counted (Reconnects(), Options::on_connected).
//
// Following the leader: only the operator's leader autoscales, so reports must reach it. Each
// snapshot says whether its sender leads and where the leader serves (from_leader,
// leader_address). Per snapshot received on a stream to target T:
//   from_leader, or leader_address empty, or leader_address == T -> stay on T;
//   otherwise -> install the snapshot, end the stream, resubscribe to leader_address (after a
//                delay of 100 ms doubling to 5 s over consecutive redirects; reset when a stream
//                ends without redirecting after a snapshot).
// A stream to a followed leader that fails before its first snapshot falls back to
// `Options::target` (the configured one) at once. Reports and demand signals are sent only on
// a stream that has delivered a snapshot and did not redirect; until then they wait (loads keep
// being sampled, demands are kept). The snapshot in force is kept throughout.
//
// grpcpp stays in stream_catalog.cc. Thread-safe; OnChange callbacks run on the catalog's thread.
#ifndef WISP_GATEWAY_STREAM_CATALOG_H_
#define WISP_GATEWAY_STREAM_CATALOG_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"
#include "wisp/v1/control.pb.h"

namespace wisp::gateway {

// The gateway's Snapshot for an operator's RoutingSnapshot. A function name seen twice (two
// namespaces) keeps the first; a capacity below 1 counts as 1. Pure.
Snapshot SnapshotFromProto(const v1::RoutingSnapshot& routing);

class StreamCatalog : public FunctionCatalog {
 public:
  struct Options {
    std::string target;      // the operator: "host:port" or any gRPC target ("dns:///...")
    std::string gateway_id;  // sent with every report
    absl::Duration report_interval = absl::Seconds(1);
    absl::Duration sample_interval = absl::Milliseconds(100);
    absl::Duration demand_interval = absl::Milliseconds(200);
    absl::Duration backoff_initial = absl::Milliseconds(100);
    absl::Duration backoff_max = absl::Seconds(5);
    absl::Duration stream_lifetime = absl::Minutes(5);
    // Called on the catalog's thread: true when a stream delivers its first snapshot, false
    // when a stream that did so ends (for metrics).
    std::function<void(bool)> on_connected;
  };
  using LoadsFn = std::function<std::map<std::string, FunctionLoad>()>;
  // `loads` (e.g. Dispatcher::Loads) is called on the catalog's thread, without its locks held.
  // INVALID_ARGUMENT for an empty target.
  static absl::StatusOr<std::unique_ptr<StreamCatalog>> Create(Options options, LoadsFn loads);
  ~StreamCatalog() override;  // Stop()

  std::shared_ptr<const Snapshot> Current() override;
  void OnChange(std::function<void(std::shared_ptr<const Snapshot>)> cb) override;
  void Start();
  // Ends the stream and the thread. Idempotent.
  void Stop();
  // A request for `function` found no capacity (the dispatcher's on_demand hook). Never blocks.
  void Demand(const std::string& function);
  // True once a snapshot has been received (from any stream).
  bool HasSnapshot();
  // Streams that ended (for any reason) since Start.
  int Reconnects();
  // The target of the stream in use: Options::target, or the leader's address it follows.
  std::string Target();

  struct Impl;

 private:
  explicit StreamCatalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_STREAM_CATALOG_H_
