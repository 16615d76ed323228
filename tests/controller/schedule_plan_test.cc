// Tests for controller/schedule_plan.h: the decision table (new trigger, on time, missed ticks
// within and beyond the grace period, a horizon ahead of the clock, bad expressions), the
// event a tick delivers, and which triggers are schedules.
#include "controller/schedule_plan.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controller/events/scheduled_event.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/eventually.h"

namespace wisp {
namespace {

using testing::T;

std::string S(std::optional<absl::Time> t) {
  if (!t.has_value()) return "none";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", *t, absl::UTCTimeZone());
}

struct Case {
  std::string name;
  std::string expression;
  std::optional<std::string> last;  // the horizon; nullopt: a new trigger
  std::string now;
  absl::Duration grace = absl::Minutes(5);
  // Wanted ("none" when unset).
  std::string fire;
  std::string advance;
  int64_t skipped = 0;
  std::string oldest_skipped = "none";
  std::string newest_skipped = "none";
  std::string next;
};

TEST(PlanTriggerTest, DecisionTable) {
  const std::vector<Case> cases = {
      {.name = "a new trigger starts from now, no back-fill",
       .expression = "rate(5 minutes)", .last = std::nullopt, .now = "2026-03-01T12:02:30Z",
       .fire = "none", .advance = "2026-03-01T12:02:30Z", .next = "2026-03-01T12:05:00Z"},
      {.name = "a new cron trigger exactly on a tick does not fire it",
       .expression = "* * * * *", .last = std::nullopt, .now = "2026-03-01T12:03:00Z",
       .fire = "none", .advance = "2026-03-01T12:03:00Z", .next = "2026-03-01T12:04:00Z"},
      {.name = "on time: the tick just reached fires",
       .expression = "rate(5 minutes)", .last = "2026-03-01T12:00:00Z",
       .now = "2026-03-01T12:05:00.200Z",
       .fire = "2026-03-01T12:05:00Z", .advance = "none", .next = "2026-03-01T12:10:00Z"},
      {.name = "exactly at the tick",
       .expression = "cron(0/15 * * * ? *)", .last = "2026-03-01T12:00:00Z",
       .now = "2026-03-01T12:15:00Z",
       .fire = "2026-03-01T12:15:00Z", .advance = "none", .next = "2026-03-01T12:30:00Z"},
      {.name = "between ticks nothing fires",
       .expression = "rate(5 minutes)", .last = "2026-03-01T12:05:00Z",
       .now = "2026-03-01T12:07:00Z",
       .fire = "none", .advance = "none", .next = "2026-03-01T12:10:00Z"},
      {.name = "a horizon left by a start (not a tick) fires the next tick",
       .expression = "rate(5 minutes)", .last = "2026-03-01T12:02:30.123Z",
       .now = "2026-03-01T12:05:01Z",
       .fire = "2026-03-01T12:05:00Z", .advance = "none", .next = "2026-03-01T12:10:00Z"},
      {.name = "missed ticks within grace: only the newest fires",
       .expression = "* * * * *", .last = "2026-03-01T12:00:00Z",
       .now = "2026-03-01T12:03:10Z",
       .fire = "2026-03-01T12:03:00Z", .advance = "none", .skipped = 2,
       .oldest_skipped = "2026-03-01T12:01:00Z", .newest_skipped = "2026-03-01T12:02:00Z",
       .next = "2026-03-01T12:04:00Z"},
      {.name = "every missed tick older than grace: none fires, the horizon moves to now",
       .expression = "cron(0 * * * ? *)", .last = "2026-03-01T09:00:00Z",
       .now = "2026-03-01T12:10:00Z",
       .fire = "none", .advance = "2026-03-01T12:10:00Z", .skipped = 3,
       .oldest_skipped = "2026-03-01T10:00:00Z", .newest_skipped = "2026-03-01T12:00:00Z",
       .next = "2026-03-01T13:00:00Z"},
      {.name = "stale and fresh missed ticks: the newest fresh one fires",
       .expression = "* * * * *", .last = "2026-03-01T11:00:00Z",
       .now = "2026-03-01T12:00:30Z",
       .fire = "2026-03-01T12:00:00Z", .advance = "none", .skipped = 59,
       .oldest_skipped = "2026-03-01T11:01:00Z", .newest_skipped = "2026-03-01T11:59:00Z",
       .next = "2026-03-01T12:01:00Z"},
      {.name = "a tick exactly grace old is fresh",
       .expression = "rate(10 minutes)", .last = "2026-03-01T11:40:00Z",
       .now = "2026-03-01T12:05:00Z",
       .fire = "2026-03-01T12:00:00Z", .advance = "none", .skipped = 1,
       .oldest_skipped = "2026-03-01T11:50:00Z", .newest_skipped = "2026-03-01T11:50:00Z",
       .next = "2026-03-01T12:10:00Z"},
      {.name = "a tick a millisecond older than grace is stale",
       .expression = "rate(10 minutes)", .last = "2026-03-01T11:50:00Z",
       .now = "2026-03-01T12:05:00.001Z",
       .fire = "none", .advance = "2026-03-01T12:05:00.001Z", .skipped = 1,
       .oldest_skipped = "2026-03-01T12:00:00Z", .newest_skipped = "2026-03-01T12:00:00Z",
       .next = "2026-03-01T12:10:00Z"},
      {.name = "a longer grace fires an older missed tick",
       .expression = "cron(0 * * * ? *)", .last = "2026-03-01T09:00:00Z",
       .now = "2026-03-01T12:10:00Z", .grace = absl::Hours(2),
       .fire = "2026-03-01T12:00:00Z", .advance = "none", .skipped = 2,
       .oldest_skipped = "2026-03-01T10:00:00Z", .newest_skipped = "2026-03-01T11:00:00Z",
       .next = "2026-03-01T13:00:00Z"},
      {.name = "a horizon ahead of this clock (another operator's) waits for it",
       .expression = "rate(5 minutes)", .last = "2026-03-01T12:10:00Z",
       .now = "2026-03-01T12:05:00Z",
       .fire = "none", .advance = "none", .next = "2026-03-01T12:15:00Z"},
      {.name = "a horizon equal to now: nothing",
       .expression = "rate(5 minutes)", .last = "2026-03-01T12:05:00Z",
       .now = "2026-03-01T12:05:00Z",
       .fire = "none", .advance = "none", .next = "2026-03-01T12:10:00Z"},
      {.name = "a schedule that never fires",
       .expression = "cron(0 0 30 2 ? *)", .last = "2026-03-01T12:00:00Z",
       .now = "2026-03-01T12:05:00Z",
       .fire = "none", .advance = "none", .next = "none"},
      {.name = "a years-long gap of a rate counts at most kMaxCountedSkips",
       .expression = "rate(1 minute)", .last = "2020-01-01T00:00:00Z",
       .now = "2026-03-01T12:00:10Z",
       .fire = "2026-03-01T12:00:00Z", .advance = "none", .skipped = kMaxCountedSkips,
       .oldest_skipped = "2020-01-01T00:01:00Z", .newest_skipped = "2026-03-01T11:59:00Z",
       .next = "2026-03-01T12:01:00Z"},
      {.name = "a years-long gap of a cron counts at most kMaxCountedSkips",
       .expression = "cron(* * * * ? *)", .last = "2020-01-01T00:00:00Z",
       .now = "2026-03-01T12:00:10Z",
       .fire = "2026-03-01T12:00:00Z", .advance = "none", .skipped = kMaxCountedSkips,
       .oldest_skipped = "2020-01-01T00:01:00Z", .newest_skipped = "2026-03-01T11:59:00Z",
       .next = "2026-03-01T12:01:00Z"},
      {.name = "a grace beyond the maximum is clamped to a day",
       .expression = "cron(0 12 * * ? *)", .last = "2026-02-25T12:00:00Z",
       .now = "2026-03-01T13:00:00Z", .grace = absl::Hours(24 * 30),
       .fire = "2026-03-01T12:00:00Z", .advance = "none", .skipped = 3,
       .oldest_skipped = "2026-02-26T12:00:00Z", .newest_skipped = "2026-02-28T12:00:00Z",
       .next = "2026-03-02T12:00:00Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    SchedulePlanOptions options;
    options.grace = c.grace;
    std::optional<absl::Time> last;
    if (c.last.has_value()) last = T(*c.last);
    TriggerPlan plan = PlanTrigger("default", "tick", {3, c.expression}, last, T(c.now), options);
    EXPECT_EQ(plan.error, "");
    EXPECT_EQ(plan.trigger, 3);
    EXPECT_EQ(S(plan.fire), c.fire);
    EXPECT_EQ(S(plan.advance), c.advance);
    EXPECT_EQ(plan.skipped, c.skipped);
    if (c.skipped > 0) {
      EXPECT_EQ(S(plan.oldest_skipped), c.oldest_skipped);
      EXPECT_EQ(S(plan.newest_skipped), c.newest_skipped);
    }
    EXPECT_EQ(S(plan.next), c.next);
    // Every action moves the horizon forward, never back.
    if (plan.fire.has_value() && last.has_value()) {
      EXPECT_GT(*plan.fire, *last);
    }
    if (plan.advance.has_value() && last.has_value()) {
      EXPECT_GT(*plan.advance, *last);
    }
    EXPECT_FALSE(plan.fire.has_value() && plan.advance.has_value());
  }
}

TEST(PlanTriggerTest, ReplanningAfterTheActionIsANoOp) {
  // What the scheduler does after it applied a plan: the horizon is where the plan put it, and
  // the same `now` plans nothing more (no tick fires twice, no skip is counted twice).
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"rate(5 minutes)", std::nullopt},
      {"* * * * *", "2026-03-01T11:00:00Z"},
      {"cron(0 * * * ? *)", "2026-03-01T09:00:00Z"},
  };
  const absl::Time now = T("2026-03-01T12:10:30Z");
  for (const auto& [expression, last_text] : cases) {
    SCOPED_TRACE(expression);
    std::optional<absl::Time> last;
    if (last_text.has_value()) last = T(*last_text);
    TriggerPlan first = PlanTrigger("default", "tick", {0, expression}, last, now, {});
    std::optional<absl::Time> horizon = first.fire.has_value() ? first.fire : first.advance;
    ASSERT_TRUE(horizon.has_value());
    TriggerPlan again = PlanTrigger("default", "tick", {0, expression}, horizon, now, {});
    EXPECT_FALSE(again.fire.has_value());
    EXPECT_FALSE(again.advance.has_value());
    EXPECT_EQ(again.skipped, 0);
    EXPECT_EQ(S(again.next), S(first.next));
  }
}

TEST(PlanTriggerTest, BadExpressionIsAnErrorNotACrash) {
  for (absl::string_view expression : {"", "rate(0 minutes)", "cron(0 12 ? * 8 *)", "@hourly",
                                       "* * * *", "rate(5 hour)"}) {
    SCOPED_TRACE(expression);
    TriggerPlan plan = PlanTrigger("default", "tick", {1, std::string(expression)},
                                   T("2026-03-01T12:00:00Z"), T("2026-03-01T12:05:00Z"), {});
    EXPECT_NE(plan.error, "");
    EXPECT_FALSE(plan.fire.has_value());
    EXPECT_FALSE(plan.advance.has_value());
    EXPECT_FALSE(plan.next.has_value());
  }
}

TEST(PlanTriggerTest, TheFiredEventIsAScheduledEventWithTheTicksId) {
  SchedulePlanOptions options;
  options.region = "eu-west-1";
  options.account_id = "123456789012";
  const absl::Time now = T("2026-03-01T12:05:00.250Z");
  TriggerPlan plan = PlanTrigger("team-a", "report", {2, "rate(5 minutes)"},
                                 T("2026-03-01T12:00:00Z"), now, options);
  ASSERT_EQ(S(plan.fire), "2026-03-01T12:05:00Z");
  events::Tick tick{"team-a", "report", 2, T("2026-03-01T12:05:00Z")};
  EXPECT_EQ(plan.event.invocation_id, events::TickInvocationId(tick));
  EXPECT_EQ(plan.event.enqueued_ms, absl::ToUnixMillis(now));
  EXPECT_EQ(plan.event.attempts, 0);
  nlohmann::json payload = nlohmann::json::parse(plan.event.payload);
  EXPECT_EQ(payload["detail-type"], "Scheduled Event");
  EXPECT_EQ(payload["source"], "aws.events");
  EXPECT_EQ(payload["time"], "2026-03-01T12:05:00Z");
  EXPECT_EQ(payload["id"], plan.event.invocation_id);
  EXPECT_EQ(payload["region"], "eu-west-1");
  EXPECT_EQ(payload["account"], "123456789012");
  EXPECT_EQ(payload["resources"][0],
            "arn:aws:events:eu-west-1:123456789012:rule/team-a-report-schedule-2");

  // The same tick planned by another operator, later: the same id and payload.
  TriggerPlan other = PlanTrigger("team-a", "report", {2, "rate(5 minutes)"},
                                  T("2026-03-01T12:00:00Z"), now + absl::Seconds(3), options);
  EXPECT_EQ(other.event.invocation_id, plan.event.invocation_id);
  EXPECT_EQ(other.event.payload, plan.event.payload);
  // Another trigger's tick at the same time is another invocation.
  TriggerPlan sibling = PlanTrigger("team-a", "report", {0, "rate(5 minutes)"},
                                    T("2026-03-01T12:00:00Z"), now, options);
  EXPECT_NE(sibling.event.invocation_id, plan.event.invocation_id);
}

TEST(ScheduleTriggersTest, ListsScheduleTriggersWithTheirIndex) {
  Function fn;
  fn.spec.triggers.resize(4);
  fn.spec.triggers[0].http = HttpTriggerSpec{.path = "/x"};
  fn.spec.triggers[1].schedule = ScheduleTriggerSpec{.expression = "rate(1 minute)"};
  fn.spec.triggers[2].queue = QueueTriggerSpec{.stream = "jobs"};
  fn.spec.triggers[3].schedule = ScheduleTriggerSpec{.expression = "0 12 * * *"};
  std::vector<ScheduleTrigger> want = {{1, "rate(1 minute)"}, {3, "0 12 * * *"}};
  EXPECT_EQ(ScheduleTriggers(fn), want);
  EXPECT_TRUE(ScheduleTriggers(Function{}).empty());
}

}  // namespace
}  // namespace wisp
