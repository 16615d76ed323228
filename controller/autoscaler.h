// The autoscaler: how many pods one Function should have, decided from the concurrency the
// gateways observe. Concurrency-based in the manner of Knative's KPA (stable and panic windows,
// bounded scale rates, scale to zero and back), with a few fixes listed at the end.
//
// Pure: time and observations are passed in; no clock, no I/O. One Autoscaler per Function,
// owned by the operator (or local mode). Thread-compatible: the caller serialises calls.
// The caller applies `AutoscalerDecision::desired` through the Deployment's scale subresource
// (spec.replicas) when it differs from what is there.
//
// Inputs
//   Record(now, c)   c = in-flight + queued requests for the function, averaged over the
//                    gateway's report interval and summed over all gateways (the caller sums).
//                    Reporters must report zeros: a missing report means "unknown", not "idle".
//   Demand(now)      a request is waiting for a function with no capacity (a gateway holds it
//                    in the scale-from-zero queue). Call Scale(now, …) right after: scale from
//                    zero happens on this signal, without waiting for the next tick.
//   Scale(now, current, ready)
//                    current = the scale subresource's spec.replicas (what was last asked for),
//                    ready   = the Deployment's status.readyReplicas.
//
// Metrics are kept in 1-second buckets (several Records in one second are averaged: each is
// already the total over the gateways). A window of W seconds at `now` holds the W buckets
// ending with the one containing `now`; its average is the mean of the buckets that have a
// Record. Buckets without one are left out, not counted as zero: a metric gap does not scale a
// function down. Gaps count as zero traffic only for idling (see "idle" below), so a function
// whose gateways stopped reporting still goes to zero after scale_to_zero_after. Times never go
// backwards: a `now` earlier than one already seen is taken as that one.
//
// Formulas (T = target_per_pod × target_utilization, the in-flight one pod should carry;
// ready' = max(1, ready); ceil(x) ignores float noise below 1e-9·max(1, x)):
//   stable_want  = ceil(stable_average / T)           over stable_window (60 s)
//   panic_want   = ceil(panic_average / T)            over panic_window (6 s; the stable
//                                                     average if the panic window is empty)
//   far_short(n) = panic_average / T ≥ panic_threshold × max(1, n)
//   over         = far_short(ready'), or while panicking also far_short(stable_want)
//   up_limit     = max(current, ceil(max_scale_up_rate × ready'))
//   down_limit   = min(current, floor(ready' / max_scale_down_rate))
//   limit(n)     = min(n, up_limit) if n > current; max(n, down_limit) if n < current; else n
//   idle         = min_scale == 0 and now − last_activity ≥ scale_to_zero_after, where
//                  last_activity is the latest Record with c > 0, Demand, or — for a fresh
//                  autoscaler (operator restart, failover) — its first call of any kind
//
// Decision table, applied in order (reason strings name the rows that applied):
//   1. idle                           → 0; panic and delay state cleared.   [scale to zero]
//   2. no Record in the stable window → current (nothing known: hold), then rows 6–8.
//                                                                           [no metrics]
//   3. panic state: `over` starts or extends panic (last_over = now); panic ends when
//      !over and now − last_over ≥ stable_window.
//      want = max(stable_want, panic_want) while panicking [panic], else stable_want [stable].
//   4. want = the largest want of the last scale_down_delay, so a count is given up only when
//      it has not been wanted for that long.                               [held]
//   5. n = limit(want); while panicking n = max(n, max_panic), max_panic = n: no scale-down
//      until the panic ends.                                                [rate limits]
//   6. min_scale == 0, n == 0 and (current > 0 or traffic since the autoscaler started)
//                                     → 1: kept warm until idle (row 1).    [kept warm]
//   7. n > 0                          → n = max(n, activation_scale).       [activationScale]
//   8. n = clamp(n, min_scale, max_scale).                                  [minScale/maxScale]
// Hence: from zero, a Demand gives ≥ activation_scale at once (rows 6, 7); a function goes to
// zero exactly scale_to_zero_after after its last traffic and not before (rows 1, 6), and
// never while min_scale > 0.
//
// Departures from Knative's KPA, on purpose:
//   - Panic also goes on while the panic window wants panic_threshold × the stable want, i.e.
//     while scaling down to the stable want would panic again at once. Knative compares only
//     with the ready pods, so recurring bursts make it cycle: panic, hold, drop, panic.
//   - Rate limits never move against the direction of the change: with pods still starting
//     (ready < current) the scale-up limit does not scale down, and vice versa.
//   - scale_down_delay defaults to 30 s (Knative: 0), which is what keeps a load sitting on a
//     pod boundary from flapping between two counts on every tick. It holds the want before the
//     rate limits, so once it lapses the scale-down runs at the full rate instead of waiting a
//     delay per rate-limited step.
//   - Idling is a single explicit period from the last traffic, not "stable average reached 0,
//     then a grace period"; metric gaps hold rather than scale down.
//   - Demand is an input, so scale from zero does not wait for a metric tick.
//
// Mapping from the Function resource (docs/function-resource.md): min_scale = scaling.minScale,
// max_scale = scaling.maxScale, target_per_pod = scaling.target (which defaults to
// concurrency.perInstance: the in-flight one pod is built for), scale_to_zero_after =
// scaling.scaleToZeroAfterSeconds. The other fields are operator-wide settings.
#ifndef WISP_CONTROLLER_AUTOSCALER_H_
#define WISP_CONTROLLER_AUTOSCALER_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace wisp {

struct AutoscalerSpec {
  int min_scale = 0;
  int max_scale = 100;
  // Target in-flight requests per pod (scaling.target; a pod runs concurrency.perInstance
  // execution environments, one request each).
  double target_per_pod = 1;
  // Fraction of the target to aim at, leaving headroom for bursts: T = target × utilization.
  double target_utilization = 0.7;
  absl::Duration stable_window = absl::Seconds(60);
  absl::Duration panic_window = absl::Seconds(6);
  // Panic when the panic window wants this many times the ready pods (2.0 = 200%).
  double panic_threshold = 2.0;
  // Per decision: at most ×max_scale_up_rate and at least ÷max_scale_down_rate the ready pods.
  double max_scale_up_rate = 1000;
  double max_scale_down_rate = 2.0;
  absl::Duration scale_down_delay = absl::Seconds(30);
  absl::Duration scale_to_zero_after = absl::Seconds(300);
  // The least non-zero scale, so also the scale a function wakes up to.
  int activation_scale = 1;
};

// Replaces out-of-range values with the nearest valid ones so the arithmetic is always defined
// (the Function's validation already rejects them): min_scale ≥ 0, max_scale ≥ max(1,
// min_scale), target_per_pod > 0 (else 1), target_utilization in (0, 1] (else 0.7), windows
// whole seconds with 1 s ≤ panic_window ≤ stable_window, panic_threshold ≥ 1, rates ≥ 1,
// scale_down_delay ≥ 0, scale_to_zero_after ≥ 1 s, activation_scale ≥ 1. NaN → the default.
AutoscalerSpec NormalizeAutoscalerSpec(AutoscalerSpec spec);

struct AutoscalerDecision {
  int desired = 0;
  bool panicking = false;
  // One line for events and logs: which rows of the decision table applied, with numbers.
  std::string reason;
  // The earliest time at which this decision could change without a new Record or Demand (a
  // window's oldest bucket ages out, the idle period ends, panic ends, a delayed count lapses).
  // nullopt when it cannot (at zero). A caller that ticks anyway may ignore it; an event-driven
  // caller sleeps until it or the next input.
  std::optional<absl::Time> next_evaluation;
  // The window averages this decision used; nullopt when the window had no Record.
  std::optional<double> stable_average;
  std::optional<double> panic_average;
};

class Autoscaler {
 public:
  explicit Autoscaler(AutoscalerSpec spec);

  // Observed in-flight + queued requests (≥ 0; NaN and negatives count as 0).
  void Record(absl::Time now, double in_flight_plus_queued);
  // A request is waiting and the function has no capacity for it.
  void Demand(absl::Time now);
  // The decision at `now`; advances the panic and delay state, so call it once per evaluation.
  AutoscalerDecision Scale(absl::Time now, int current_replicas, int ready_replicas);

  // The normalised spec in use.
  const AutoscalerSpec& spec() const { return spec_; }

 private:
  struct Bucket {
    int64_t second;  // absl::ToUnixSeconds of the times it holds.
    double sum;
    int64_t count;
  };
  struct Wanted {
    absl::Time at;
    int desired;
  };

  absl::Time Observe(absl::Time now);
  void Prune(absl::Time now);
  // The mean of the buckets in the last `seconds` seconds up to `now`, or nullopt.
  std::optional<double> Average(absl::Time now, int64_t seconds) const;
  std::optional<absl::Time> NextEvaluation(absl::Time now) const;

  AutoscalerSpec spec_;
  int64_t stable_seconds_;
  int64_t panic_seconds_;

  absl::Time latest_ = absl::InfinitePast();
  std::optional<absl::Time> first_seen_;
  std::optional<absl::Time> last_traffic_;  // Latest Record with c > 0, or Demand.
  std::deque<Bucket> buckets_;              // Ascending; only the stable window's.
  std::optional<absl::Time> last_over_;     // Set while panicking.
  int max_panic_ = 0;
  std::deque<Wanted> wanted_;  // Scale-down delay: strictly decreasing `desired`, a max-queue.
};

}  // namespace wisp

#endif  // WISP_CONTROLLER_AUTOSCALER_H_
