// The operator's scheduler (operator/scheduler.h) against a real redis-server, with a fake
// schedule clock: one stream entry per tick (rate and five-field cron), two schedulers that both
// believe they lead fire each tick once, missed ticks beyond the grace period are skipped and
// counted, Redis killed and restarted (errors counted, one Warning event, no crash, the missed
// tick fires after), invalid Functions are not fired, and the loop fires only while leading.
#include "operator/scheduler.h"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/events/async_event.h"
#include "controller/events/scheduled_event.h"
#include "controller/function.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/apiserver/yaml.h"
#include "prometheus/metric_family.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/eventually.h"

namespace wisp::op {
namespace {

using nlohmann::json;

absl::Time T(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) ADD_FAILURE() << text << error;
  return t;
}

std::string S(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

json Function(const std::string& name, const std::vector<json>& triggers) {
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}}},
          {"spec",
           {{"runtime", "python3.11"},
            {"handler", "app.handler"},
            {"code", {{"inline", "def handler(event, context):\n    return event\n"}}},
            {"triggers", triggers}}}};
}

json Schedule(const std::string& expression) {
  return {{"schedule", {{"expression", expression}}}};
}

// The sum of a counter family over its labels (0 when it has none yet).
double Metric(prometheus::Registry& registry, const std::string& name) {
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) sum += m.counter.value;
  }
  return sum;
}

// Polls `done` until it holds or `timeout` passes.
using testing::Eventually;

// One fired tick as read back from the stream.
struct Fired {
  std::string time;  // the Scheduled Event's "time"
  std::string resource;
  events::AsyncEvent event;
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = testing::RedisProcess::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = std::move(*r);
    client_ = std::make_unique<redis::Client>(redis::ClientOptions{.address = redis_->address()});
  }

  // A scheduler over `functions_` on the fake clock, leading unless `leading_` says otherwise.
  std::unique_ptr<Scheduler> NewScheduler(std::shared_ptr<prometheus::Registry> registry,
                                          absl::Duration grace = absl::Minutes(5)) {
    SchedulerOptions options;
    options.redis = redis_->address();
    options.plan.grace = grace;
    options.now = [this] { return absl::FromUnixMillis(now_ms_.load()); };
    options.redis_timeout = absl::Milliseconds(500);
    options.min_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(100);
    return std::make_unique<Scheduler>(
        [this] {
          std::lock_guard<std::mutex> l(mu_);
          return functions_;
        },
        [this] { return leading_.load(); }, registry, options,
        [this](const json& fn, const std::string& message) {
          std::lock_guard<std::mutex> l(mu_);
          warnings_.push_back(fn["metadata"]["name"].get<std::string>() + ": " + message);
        });
  }

  void SetFunctions(std::vector<json> functions) {
    std::lock_guard<std::mutex> l(mu_);
    functions_ = std::move(functions);
  }
  void SetNow(const std::string& t) { now_ms_ = absl::ToUnixMillis(T(t)); }

  std::vector<Fired> Stream(const std::string& name) {
    std::vector<Fired> out;
    auto r = redis::ReadRange(*client_, events::AsyncStreamKey("default", name));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    for (const redis::StreamEntry& e : *r) {
      auto event = events::FromFields(e.fields);
      EXPECT_TRUE(event.ok()) << event.status();
      if (!event.ok()) continue;
      json payload = json::parse(event->payload, nullptr, false);
      EXPECT_TRUE(payload.is_object()) << event->payload;
      if (!payload.is_object()) continue;
      out.push_back({payload.value("time", ""), payload["resources"][0].get<std::string>(),
                     *event});
    }
    return out;
  }

  // The scheduled times in the stream whose rule is trigger `trigger`.
  std::vector<std::string> Times(const std::string& name, int trigger) {
    std::vector<std::string> out;
    for (const Fired& f : Stream(name)) {
      if (absl::EndsWith(f.resource, absl::StrCat("-schedule-", trigger))) out.push_back(f.time);
    }
    return out;
  }

  std::unique_ptr<testing::RedisProcess> redis_;
  std::unique_ptr<redis::Client> client_;
  std::atomic<int64_t> now_ms_{0};
  std::atomic<bool> leading_{true};
  std::mutex mu_;
  std::vector<json> functions_;
  std::vector<std::string> warnings_;
};

TEST_F(SchedulerTest, FiresOncePerTickFromTheFirstTickAfterTheStart) {
  SetFunctions({Function("tick", {Schedule("rate(1 minute)"), {{"http", {{"path", "/t"}}}},
                                  Schedule("* * * * *")})});
  auto registry = std::make_shared<prometheus::Registry>();
  auto scheduler = NewScheduler(registry);

  // The first pass starts the triggers: nothing fires (no back-fill), the next tick is the wake.
  SetNow("2026-03-01T12:00:30Z");
  auto wake = scheduler->RunOnce();
  ASSERT_TRUE(wake.ok()) << wake.status();
  ASSERT_TRUE(wake->has_value());
  EXPECT_EQ(S(**wake), "2026-03-01T12:01:00Z");
  EXPECT_TRUE(Stream("tick").empty());

  // Several passes per minute, as wake-ups from Function changes would cause.
  for (const char* now : {"2026-03-01T12:00:59Z", "2026-03-01T12:01:00Z", "2026-03-01T12:01:00.5Z",
                          "2026-03-01T12:01:40Z", "2026-03-01T12:02:00.01Z",
                          "2026-03-01T12:02:59.999Z", "2026-03-01T12:03:00Z"}) {
    SCOPED_TRACE(now);
    SetNow(now);
    wake = scheduler->RunOnce();
    ASSERT_TRUE(wake.ok()) << wake.status();
    ASSERT_TRUE(scheduler->RunOnce().ok());
  }
  std::vector<std::string> want = {"2026-03-01T12:01:00Z", "2026-03-01T12:02:00Z",
                                   "2026-03-01T12:03:00Z"};
  EXPECT_EQ(Times("tick", 0), want);  // rate(1 minute)
  EXPECT_EQ(Times("tick", 2), want);  // * * * * *
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_fired_total"), 6);
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_skipped_total"), 0);
  EXPECT_EQ(Metric(*registry, "wisp_schedule_fire_errors_total"), 0);
  EXPECT_EQ(S(**wake), "2026-03-01T12:04:00Z");

  // The event: a Scheduled Event whose id is the invocation id, the tick's deterministic id.
  std::vector<Fired> fired = Stream("tick");
  ASSERT_FALSE(fired.empty());
  const Fired& first = fired.front();
  events::Tick tick{"default", "tick", 0, T("2026-03-01T12:01:00Z")};
  EXPECT_EQ(first.event.invocation_id, events::TickInvocationId(tick));
  EXPECT_EQ(first.resource, "arn:aws:events:us-east-1:000000000000:rule/default-tick-schedule-0");
  EXPECT_EQ(first.event.enqueued_ms, absl::ToUnixMillis(T("2026-03-01T12:01:00Z")));
  EXPECT_EQ(first.event.attempts, 0);
}

TEST_F(SchedulerTest, TwoSchedulersThatBothLeadFireEachTickOnce) {
  SetFunctions({Function("a", {Schedule("rate(1 minute)")}),
                Function("b", {Schedule("*/2 * * * *"), Schedule("cron(0/1 * * * ? *)")})});
  auto registry_1 = std::make_shared<prometheus::Registry>();
  auto registry_2 = std::make_shared<prometheus::Registry>();
  auto one = NewScheduler(registry_1);
  auto two = NewScheduler(registry_2);
  SetNow("2026-03-01T12:00:00.100Z");
  ASSERT_TRUE(one->RunOnce().ok());
  ASSERT_TRUE(two->RunOnce().ok());

  // Each minute both fire the same due ticks: in turn, then at the same time on two threads.
  for (int minute = 1; minute <= 10; ++minute) {
    now_ms_ += 60 * 1000;
    if (minute % 2 == 0) {
      ASSERT_TRUE(one->RunOnce().ok());
      ASSERT_TRUE(two->RunOnce().ok());
      ASSERT_TRUE(one->RunOnce().ok());
    } else {
      absl::Status s1, s2;
      std::thread t1([&] { s1 = one->RunOnce().status(); });
      std::thread t2([&] { s2 = two->RunOnce().status(); });
      t1.join();
      t2.join();
      ASSERT_TRUE(s1.ok()) << s1;
      ASSERT_TRUE(s2.ok()) << s2;
    }
  }
  std::vector<std::string> every, even;
  for (int minute = 1; minute <= 10; ++minute) {
    std::string t = absl::StrCat("2026-03-01T12:", minute < 10 ? "0" : "", minute, ":00Z");
    every.push_back(t);
    if (minute % 2 == 0) even.push_back(t);
  }
  EXPECT_EQ(Times("a", 0), every);
  EXPECT_EQ(Times("b", 0), even);
  EXPECT_EQ(Times("b", 1), every);
  // Between them, each tick counted once as fired.
  EXPECT_EQ(Metric(*registry_1, "wisp_schedule_ticks_fired_total") +
                Metric(*registry_2, "wisp_schedule_ticks_fired_total"),
            25);
}

TEST_F(SchedulerTest, MissedTicksFireTheNewestWithinGraceAndSkipTheRest) {
  SetFunctions({Function("tick", {Schedule("rate(1 minute)")})});
  auto registry = std::make_shared<prometheus::Registry>();
  auto scheduler = NewScheduler(registry, absl::Minutes(5));
  SetNow("2026-03-01T12:00:10Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());

  // No leader for 20 minutes: the newest missed tick fires, the 19 before it are skipped.
  SetNow("2026-03-01T12:20:10Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());
  ASSERT_TRUE(scheduler->RunOnce().ok());
  EXPECT_EQ(Times("tick", 0), std::vector<std::string>{"2026-03-01T12:20:00Z"});
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_skipped_total"), 19);

  // 15 minutes more: the newest (12:35) fires; 12:21 - 12:34 are skipped (10 of them beyond
  // the grace period, 4 within it but older than the newest).
  SetNow("2026-03-01T12:35:30Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());
  EXPECT_EQ(Times("tick", 0),
            (std::vector<std::string>{"2026-03-01T12:20:00Z", "2026-03-01T12:35:00Z"}));
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_skipped_total"), 19 + 14);

  // An hourly schedule whose only missed tick is older than the grace: skipped, not fired.
  SetFunctions({Function("hourly", {Schedule("cron(0 * * * ? *)")})});
  SetNow("2026-03-01T12:35:30Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());  // starts
  SetNow("2026-03-01T13:10:00Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());
  ASSERT_TRUE(scheduler->RunOnce().ok());
  EXPECT_TRUE(Times("hourly", 0).empty());
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_skipped_total"), 19 + 14 + 1);
  SetNow("2026-03-01T14:00:01Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());
  EXPECT_EQ(Times("hourly", 0), std::vector<std::string>{"2026-03-01T14:00:00Z"});
}

TEST_F(SchedulerTest, RedisDownIsCountedReportedOnceAndRetriedThenTheMissedTickFires) {
  SetFunctions({Function("tick", {Schedule("rate(1 minute)")})});
  auto registry = std::make_shared<prometheus::Registry>();
  auto scheduler = NewScheduler(registry);
  SetNow("2026-03-01T12:00:10Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());

  redis_->Kill();
  SetNow("2026-03-01T12:01:10Z");
  for (int i = 0; i < 3; ++i) {
    auto r = scheduler->RunOnce();
    EXPECT_TRUE(absl::IsUnavailable(r.status())) << r.status();
  }
  EXPECT_EQ(Metric(*registry, "wisp_schedule_fire_errors_total"), 3);
  {
    std::lock_guard<std::mutex> l(mu_);
    ASSERT_EQ(warnings_.size(), 1u);  // one event per failure streak
    EXPECT_TRUE(absl::StartsWith(warnings_[0], "tick: cannot fire schedule ticks")) << warnings_[0];
  }

  ASSERT_TRUE(redis_->Restart().ok());
  SetNow("2026-03-01T12:02:10Z");
  auto r = scheduler->RunOnce();
  ASSERT_TRUE(r.ok()) << r.status();
  // The tick missed while Redis was down is older than the newest: skipped; the newest fires.
  EXPECT_EQ(Times("tick", 0), std::vector<std::string>{"2026-03-01T12:02:00Z"});
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_skipped_total"), 1);

  // A new streak is reported again.
  redis_->Kill();
  SetNow("2026-03-01T12:03:10Z");
  EXPECT_FALSE(scheduler->RunOnce().ok());
  std::lock_guard<std::mutex> l(mu_);
  EXPECT_EQ(warnings_.size(), 2u);
}

TEST_F(SchedulerTest, InvalidFunctionsAndOtherTriggersAreNotFired) {
  json invalid = Function("invalid", {Schedule("rate(1 minute)")});
  invalid["spec"]["memoryMB"] = 64;  // below the minimum: the Function is invalid
  json bad_expression = Function("bad", {Schedule("rate(1 minutes)")});
  SetFunctions({invalid, bad_expression,
                Function("http", {{{"http", {{"path", "/x"}}}}}),
                Function("none", {})});
  auto registry = std::make_shared<prometheus::Registry>();
  auto scheduler = NewScheduler(registry);
  SetNow("2026-03-01T12:00:10Z");
  auto wake = scheduler->RunOnce();
  ASSERT_TRUE(wake.ok()) << wake.status();
  EXPECT_FALSE(wake->has_value());
  SetNow("2026-03-01T12:05:10Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());
  for (const char* name : {"invalid", "bad", "http", "none"}) EXPECT_TRUE(Stream(name).empty());
  EXPECT_EQ(Metric(*registry, "wisp_schedule_ticks_fired_total"), 0);
}

TEST_F(SchedulerTest, TheDocumentedExampleIsValidAndFires) {
  std::ifstream in(testing::SourceDir() + "/deploy/examples/scheduled-python.yaml");
  std::stringstream text;
  text << in.rdbuf();
  auto object = apiserver::ParseYaml(text.str());
  ASSERT_TRUE(object.ok()) << object.status();
  ParsedFunction loaded = LoadFunction(*object);
  EXPECT_EQ(JoinViolations(loaded.violations), "");
  ASSERT_EQ(ScheduleTriggers(loaded.function).size(), 2u);

  SetFunctions({*object});
  auto registry = std::make_shared<prometheus::Registry>();
  auto scheduler = NewScheduler(registry);
  SetNow("2026-03-02T08:59:00Z");  // a Monday
  ASSERT_TRUE(scheduler->RunOnce().ok());
  SetNow("2026-03-02T09:00:00Z");
  ASSERT_TRUE(scheduler->RunOnce().ok());
  EXPECT_EQ(Times("scheduled-python", 0), std::vector<std::string>{"2026-03-02T09:00:00Z"});
  EXPECT_EQ(Times("scheduled-python", 1), std::vector<std::string>{"2026-03-02T09:00:00Z"});
}

TEST_F(SchedulerTest, TheLoopFiresOnlyWhileLeading) {
  // Real time, 60 times faster: a tick a second.
  SetFunctions({Function("tick", {Schedule("* * * * *")})});
  auto registry = std::make_shared<prometheus::Registry>();
  SchedulerOptions options;
  options.redis = redis_->address();
  options.now = ScaledClock(absl::Now(), 60);
  options.speed = 60;
  leading_ = false;
  std::atomic<int> standby_checks{0};  // times the loop found it does not lead
  Scheduler scheduler(
      [this] {
        std::lock_guard<std::mutex> l(mu_);
        return functions_;
      },
      [&] {
        bool leading = leading_.load();
        if (!leading) ++standby_checks;
        return leading;
      },
      registry, options);
  scheduler.Start();

  // Standby: it does not even start the trigger.
  absl::Time until = absl::Now() + absl::Milliseconds(2500);
  while (absl::Now() < until) {
    ASSERT_EQ(client_->Command({"EXISTS", events::TickKey("default", "tick", 0)})->integer, 0);
    absl::SleepFor(absl::Milliseconds(50));  // sampling interval
  }

  leading_ = true;
  scheduler.Wake();
  ASSERT_TRUE(Eventually([&] { return Times("tick", 0).size() >= 3; }, absl::Seconds(15)));

  leading_ = false;
  // Once the loop has seen it (a pass in flight has ended), nothing more fires.
  int checks = standby_checks.load();
  scheduler.Wake();
  ASSERT_TRUE(Eventually([&] { return standby_checks.load() > checks; }));
  size_t fired = Times("tick", 0).size();
  until = absl::Now() + absl::Milliseconds(2500);
  while (absl::Now() < until) {
    ASSERT_EQ(Times("tick", 0).size(), fired);
    absl::SleepFor(absl::Milliseconds(50));
  }
  scheduler.Stop();

  // The ticks fired are consecutive minutes, each once.
  std::vector<std::string> times = Times("tick", 0);
  for (size_t i = 1; i < times.size(); ++i) {
    EXPECT_EQ(T(times[i]) - T(times[i - 1]), absl::Minutes(1)) << times[i - 1] << " " << times[i];
  }
}

}  // namespace
}  // namespace wisp::op
