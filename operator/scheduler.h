// Schedule triggers fired by the leading operator: for every valid Function in the cache and
// each of its `schedule` triggers, plan (controller/schedule_plan.h) from the trigger's horizon
// in Redis and the clock, then append the tick's Scheduled Event to the function's async stream
// with AsyncStore::FireTick — atomic in Redis, so a tick fires once even when two operators
// both believe they lead (a deposed leader that has not noticed yet, or a failover right at a
// tick). The gateways dispatch it from there. docs/schedules.md is the user's contract.
//
// Only the leader fires: while `leading()` is false the loop idles (it is woken when the
// predicate may have changed, and polls every second besides), and a new leader starts from the
// horizons in Redis, so ticks missed during a failover fire per the plan's grace rule.
//
// The loop: a pass over every Function, then sleep until the earliest next tick (or a Function
// change, or `poll`). Redis unreachable or refusing: the pass stops, the error is logged and
// counted, a Warning event `ScheduleFireFailed` is recorded on the Function (once per failure
// streak), and the pass is retried after a backoff (min_backoff doubling to max_backoff) — never
// a crash. Skips and fires are counted only when Redis took them (so two operators count a tick
// once).
//
// Metrics (counters, label function = "ns/name"):
//   wisp_schedule_ticks_fired_total     ticks this operator appended to a stream
//   wisp_schedule_ticks_skipped_total   missed ticks that will never fire (beyond the grace)
//   wisp_schedule_fire_errors_total     Redis calls that failed (each is retried)
//
// Thread safety: Start, Stop and Wake are thread-safe. RunOnce is for tests and must not run
// while the loop does (the Redis client is the loop's).
#ifndef WISP_OPERATOR_SCHEDULER_H_
#define WISP_OPERATOR_SCHEDULER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/events/async_store.h"
#include "controller/redis/redis_client.h"
#include "controller/schedule_plan.h"
#include "nlohmann/json.hpp"
#include "prometheus/counter.h"
#include "prometheus/registry.h"

namespace wisp::op {

struct SchedulerOptions {
  std::string redis;  // host:port
  SchedulePlanOptions plan;
  // The schedule clock (what ticks are compared with): absl::Now when null. `speed` is how many
  // schedule seconds pass per real second (1 but for tests that run minutes in seconds); sleeps
  // are converted with it.
  std::function<absl::Time()> now;
  double speed = 1;
  // Real time: look again at least this often (a Function change also wakes the loop).
  absl::Duration poll = absl::Seconds(30);
  // Real time: waits after a failed pass.
  absl::Duration min_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  absl::Duration redis_timeout = absl::Seconds(2);
};

// The schedule clock of SchedulerOptions for tests: `speed` times faster than real time from
// `origin` (now = origin + (real − origin)·speed), so two processes given the same origin and
// speed agree on the time.
std::function<absl::Time()> ScaledClock(absl::Time origin, double speed);

class Scheduler {
 public:
  // `functions` lists the Function objects (the informer cache); `leading` says whether to fire
  // (leader and caches synced); `on_failure(object, message)` records a Warning event on a
  // Function (may be null). All three are called from the loop's thread.
  Scheduler(std::function<std::vector<nlohmann::json>()> functions,
            std::function<bool()> leading, std::shared_ptr<prometheus::Registry> registry,
            SchedulerOptions options,
            std::function<void(const nlohmann::json&, const std::string&)> on_failure = nullptr);
  ~Scheduler();  // Stop()

  void Start();
  void Stop();  // Idempotent.
  // Look again now: a Function changed, or leadership may have changed.
  void Wake();

  // One pass over every Function, as the leader: fire what is due. Returns the earliest next
  // tick (nullopt: none), or the first error that stopped the pass (UNAVAILABLE: Redis
  // unreachable; FAILED_PRECONDITION: Redis refused a call).
  absl::StatusOr<std::optional<absl::Time>> RunOnce();

 private:
  // Plans and applies the schedule triggers of one Function object, lowering `wake` to its
  // earliest next tick.
  absl::Status RunFunction(const nlohmann::json& object, absl::Time now,
                           std::optional<absl::Time>* wake);
  void Failed(const nlohmann::json& object, const std::string& key, const absl::Status& status);
  void Loop();
  // Sleeps (real time) up to `d`, less when woken or stopped.
  void Wait(absl::Duration d);
  absl::Time Now() const;

  std::function<std::vector<nlohmann::json>()> functions_;
  std::function<bool()> leading_;
  SchedulerOptions options_;
  std::function<void(const nlohmann::json&, const std::string&)> on_failure_;
  redis::Client client_;
  events::AsyncStore store_;
  std::set<std::string> failing_;  // functions in a failure streak (loop thread only)
  prometheus::Family<prometheus::Counter>* fired_;
  prometheus::Family<prometheus::Counter>* skipped_;
  prometheus::Family<prometheus::Counter>* errors_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_SCHEDULER_H_
