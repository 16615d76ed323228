#include "controller/schedule_plan.h"

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"
#include "controller/events/scheduled_event.h"
#include "controller/schedule.h"

namespace wisp {
namespace {

// Ticks per Between call while paging.
constexpr int kPage = 512;

// Redis keeps the horizon in milliseconds: plan in the same unit so that a horizon read back
// equals the one written.
absl::Time Millis(absl::Time t) { return absl::FromUnixMillis(absl::ToUnixMillis(t)); }

struct Span {
  int64_t count = 0;
  absl::Time oldest;
  absl::Time newest;
};

// The ticks t with from < t < to: how many (at most kMaxCountedSkips), the oldest and the
// newest counted. A rate is counted by arithmetic, a cron by stepping.
Span Stale(const Schedule& schedule, absl::Time from, absl::Time to) {
  Span span;
  if (to <= from) return span;
  if (schedule.kind() == Schedule::Kind::kRate) {
    const absl::Duration p = schedule.rate_period();
    const absl::Time anchor = schedule.rate_anchor();
    // Ticks are anchor + k·p, k ≥ 1. The index of the first tick after `from` and of the last
    // tick before `to`.
    auto index_after = [&](absl::Time t) -> int64_t {
      if (t < anchor) return 1;
      absl::Duration remainder;  // IDivDuration writes it: never pass nullptr
      return absl::IDivDuration(t - anchor, p, &remainder) + 1;
    };
    int64_t first = index_after(from);
    int64_t last = index_after(to - absl::Nanoseconds(1)) - 1;
    if (last < first) return span;
    span.count = std::min(last - first + 1, kMaxCountedSkips);
    span.oldest = anchor + first * p;
    span.newest = anchor + last * p;
    return span;
  }
  absl::Time cursor = from;
  while (span.count < kMaxCountedSkips) {
    std::optional<absl::Time> next = schedule.Next(cursor);
    if (!next.has_value() || *next >= to) break;
    if (span.count == 0) span.oldest = *next;
    span.newest = *next;
    ++span.count;
    cursor = *next;
  }
  return span;
}

}  // namespace

std::vector<ScheduleTrigger> ScheduleTriggers(const Function& function) {
  std::vector<ScheduleTrigger> out;
  for (size_t i = 0; i < function.spec.triggers.size(); ++i) {
    const TriggerSpec& t = function.spec.triggers[i];
    if (!t.schedule.has_value() || !t.schedule->expression.has_value()) continue;
    out.push_back({static_cast<int>(i), *t.schedule->expression});
  }
  return out;
}

events::AsyncEvent TickEvent(absl::string_view ns, absl::string_view name, int trigger,
                             absl::Time scheduled, absl::Time now,
                             const SchedulePlanOptions& options) {
  events::Tick tick{std::string(ns), std::string(name), trigger, scheduled};
  events::AsyncEvent event;
  event.invocation_id = events::TickInvocationId(tick);
  event.payload = events::ScheduledEvent(tick, options.region, options.account_id);
  event.enqueued_ms = absl::ToUnixMillis(now);
  return event;
}

TriggerPlan PlanTrigger(absl::string_view ns, absl::string_view name,
                        const ScheduleTrigger& trigger, std::optional<absl::Time> last,
                        absl::Time now, const SchedulePlanOptions& options) {
  TriggerPlan plan;
  plan.trigger = trigger.index;
  absl::StatusOr<Schedule> schedule = ParseSchedule(trigger.expression);
  if (!schedule.ok()) {
    plan.error = std::string(schedule.status().message());
    return plan;
  }
  now = Millis(now);
  if (!last.has_value()) {
    // A new trigger starts from now: no back-fill.
    plan.advance = now;
    plan.next = schedule->Next(now);
    return plan;
  }
  const absl::Time horizon = Millis(*last);
  plan.next = schedule->Next(std::max(now, horizon));
  if (horizon >= now) return plan;

  // Fresh ticks are scheduled at or after cut; older ones are stale.
  const absl::Duration grace = std::clamp(options.grace, kMinScheduleGrace, kMaxScheduleGrace);
  const absl::Time cut = std::max(horizon, now - grace);
  Span stale = Stale(*schedule, horizon, cut);

  // The fresh ticks, t in [cut, now] (and t > horizon): the newest fires, the others are skipped.
  Span fresh;
  absl::Time before_newest;  // the fresh tick before the newest, when there are two or more
  absl::Time cursor = cut > horizon ? cut - absl::Nanoseconds(1) : horizon;
  while (true) {
    std::vector<absl::Time> page = schedule->Between(cursor, now, kPage);
    if (page.empty()) break;
    if (fresh.count == 0) fresh.oldest = page.front();
    before_newest = page.size() >= 2 ? page[page.size() - 2] : fresh.newest;
    fresh.newest = page.back();
    fresh.count += static_cast<int64_t>(page.size());
    cursor = page.back();
    if (static_cast<int>(page.size()) < kPage) break;
  }

  if (fresh.count > 0) {
    plan.fire = fresh.newest;
    plan.event = TickEvent(ns, name, trigger.index, fresh.newest, now, options);
  } else if (stale.count > 0) {
    plan.advance = now;
  }
  // Skipped: every stale tick, and the fresh ones before the one that fires.
  const int64_t fresh_skipped = fresh.count > 0 ? fresh.count - 1 : 0;
  plan.skipped = std::min(stale.count + fresh_skipped, kMaxCountedSkips);
  if (plan.skipped > 0) {
    plan.oldest_skipped = stale.count > 0 ? stale.oldest : fresh.oldest;
    plan.newest_skipped = fresh_skipped > 0 ? before_newest : stale.newest;
  }
  return plan;
}

}  // namespace wisp
