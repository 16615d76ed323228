// Which schedule ticks a Function's triggers fire now, and when to look again: the pure half of
// the operator's scheduler (operator/scheduler.h). docs/schedules.md is the user's contract.
//
// Per schedule trigger the scheduler keeps one number in Redis, the trigger's horizon (key
// events::TickKey): every tick at or before it is settled (fired, or deliberately skipped).
// AsyncStore::FireTick moves it to the tick it fires; a start or a skip moves it without
// firing. The plan for one trigger, given its horizon `last` and `now` (grace = PlanOptions):
//
//   horizon        ticks in (last, now]                    plan
//   ------------   -------------------------------------   ------------------------------------
//   absent         (a new trigger: no back-fill)            advance to now; fire nothing
//   last ≥ now     none                                     nothing
//   last < now     none                                     nothing
//                  some, the newest no older than grace    fire the newest; skip the others
//                  some, all older than grace              skip them all; advance to now
//
// "Older than grace" means scheduled before now − grace. So a leader that runs keeps up tick by
// tick; ticks missed while no leader ran (or Redis was unreachable) fire at most once — the
// most recent — and only while it is fresh, as Kubernetes CronJob's startingDeadlineSeconds.
// `next` is the first tick after max(now, last): when to look again.
//
// Both leader candidates compute the same ticks (rates are anchored at the Unix epoch; cron
// reads UTC), so a tick's identity (namespace, function, trigger index, scheduled time) is the
// same whichever operator fires it, and FireTick's atomic horizon check fires it once.
//
// Pure: values in, values out; `now` is a parameter. Thread-compatible.
#ifndef WISP_CONTROLLER_SCHEDULE_PLAN_H_
#define WISP_CONTROLLER_SCHEDULE_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controller/events/async_event.h"
#include "controller/function.h"

namespace wisp {

inline constexpr absl::Duration kDefaultScheduleGrace = absl::Minutes(5);
// The grace period's bounds (a longer one would page through too many ticks per plan).
inline constexpr absl::Duration kMinScheduleGrace = absl::Seconds(1);
inline constexpr absl::Duration kMaxScheduleGrace = absl::Hours(24);

struct SchedulePlanOptions {
  absl::Duration grace = kDefaultScheduleGrace;
  // For the Scheduled Event's ARN fields.
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
};

// One schedule trigger of a Function: its index in spec.triggers (part of the tick's identity)
// and its expression.
struct ScheduleTrigger {
  int index = 0;
  std::string expression;
  friend bool operator==(const ScheduleTrigger&, const ScheduleTrigger&) = default;
};

// The schedule triggers of a Function, in spec order (triggers of other kinds are left out;
// one without an expression too).
std::vector<ScheduleTrigger> ScheduleTriggers(const Function& function);

// What to do for one trigger now.
struct TriggerPlan {
  int trigger = 0;
  // Set when the expression does not parse (ValidateFunction refuses such a Function, so this
  // is a Function that bypassed validation): nothing else is set.
  std::string error;
  // The tick to fire (AsyncStore::FireTick(fn, trigger, ToUnixMillis(*fire), event)).
  std::optional<absl::Time> fire;
  events::AsyncEvent event;  // when fire is set
  // Move the horizon here without firing (a new trigger, or every missed tick skipped).
  std::optional<absl::Time> advance;
  // Ticks in (last, now] that will never fire, and the oldest and newest of them. When there
  // are more than kMaxCountedSkips, skipped is kMaxCountedSkips (a floor).
  int64_t skipped = 0;
  absl::Time oldest_skipped;
  absl::Time newest_skipped;
  // The first tick after max(now, last); nullopt when the schedule has no more ticks.
  std::optional<absl::Time> next;
};

inline constexpr int64_t kMaxCountedSkips = 100000;

// Plans one trigger of function `ns`/`name` whose horizon is `last` (nullopt: none yet).
TriggerPlan PlanTrigger(absl::string_view ns, absl::string_view name,
                        const ScheduleTrigger& trigger, std::optional<absl::Time> last,
                        absl::Time now, const SchedulePlanOptions& options);

// The async event a tick delivers: payload events::ScheduledEvent, invocation id
// events::TickInvocationId (so the handler's request id is the same whoever fires the tick),
// enqueued at `now`.
events::AsyncEvent TickEvent(absl::string_view ns, absl::string_view name, int trigger,
                             absl::Time scheduled, absl::Time now,
                             const SchedulePlanOptions& options);

}  // namespace wisp

#endif  // WISP_CONTROLLER_SCHEDULE_PLAN_H_
