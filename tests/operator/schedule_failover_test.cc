// Schedules fired by real wisp-operator processes into a real redis-server, with the schedule
// clock running 20 times faster than real time (--testonly_schedule_clock: a tick every 3 s):
//   - one operator fires a five-field `* * * * *` and a `rate(1 minute)` trigger once per tick;
//   - two operators with --leader_elect, the leader SIGKILLed right after it fired a tick: the
//     standby takes over and no tick is in the stream twice; a tick missed during the failover
//     is either fired by the new leader or counted as skipped by it (the newest missed one
//     fires while within the grace period), never both, never silently lost.
// The API server is the in-process test server; the stream is read back with XRANGE.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/events/async_event.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "operator/kube/client.h"
#include "tests/testing/operator_process.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/test_cluster.h"
#include "tests/testing/eventually.h"

namespace wisp::op {
namespace {

using nlohmann::json;
using testing::OperatorProcess;
namespace res = kube::resources;

constexpr int kSpeed = 20;  // schedule seconds per real second: a minute every 3 s
// Short leases so that a failover takes seconds (as operator_failover_test).
constexpr int kLeaseDurationSeconds = 3;
constexpr int kRenewDeadlineSeconds = 2;
constexpr int kRetryPeriodSeconds = 1;

using testing::Eventually;

json Ticker(const std::string& name) {
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec",
           {{"runtime", "python3.11"},
            {"handler", "app.handler"},
            {"code", {{"inline", "def handler(event, context):\n    return event\n"}}},
            {"triggers",
             {{{"schedule", {{"expression", "rate(1 minute)"}}}},
              {{"schedule", {{"expression", "* * * * *"}}}}}}}}};
}

struct Entry {
  int trigger = -1;
  absl::Time time;
  std::string invocation_id;
};

class ScheduleFailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::StartTestCluster();
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    server_ = std::move(cluster->server);
    client_ = std::move(cluster->client);
    auto r = testing::RedisProcess::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = std::move(*r);
    redis_client_ =
        std::make_unique<redis::Client>(redis::ClientOptions{.address = redis_->address()});
    clock_ = absl::StrCat(absl::ToUnixMillis(absl::Now()), ":", kSpeed);
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& p : operators_) std::cerr << p->Describe();
    }
    operators_.clear();
    if (server_) server_->Stop();
  }

  OperatorProcess* StartOperator(const std::string& identity, std::vector<std::string> args) {
    args.push_back("--redis=" + redis_->address());
    args.push_back("--testonly_schedule_clock=" + clock_);
    args.push_back("--autoscale=false");
    operators_.push_back(std::make_unique<OperatorProcess>(server_->url(), identity, args));
    return operators_.back().get();
  }

  // The function's stream, in order: which trigger and tick each entry is.
  std::vector<Entry> Stream(const std::string& name) {
    std::vector<Entry> out;
    auto r = redis::ReadRange(*redis_client_, events::AsyncStreamKey("default", name));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    for (const redis::StreamEntry& e : *r) {
      auto event = events::FromFields(e.fields);
      EXPECT_TRUE(event.ok()) << event.status();
      if (!event.ok()) continue;
      json payload = json::parse(event->payload, nullptr, false);
      EXPECT_TRUE(payload.is_object()) << event->payload;
      if (!payload.is_object()) continue;
      Entry entry;
      std::string rule = payload["resources"][0].get<std::string>();
      entry.trigger = rule.back() - '0';
      std::string error;
      EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, payload.value("time", ""), &entry.time,
                                  &error))
          << payload.dump();
      EXPECT_EQ(payload["id"], event->invocation_id);
      entry.invocation_id = event->invocation_id;
      out.push_back(entry);
    }
    return out;
  }
  std::vector<absl::Time> Ticks(const std::string& name, int trigger) {
    std::vector<absl::Time> out;
    for (const Entry& e : Stream(name)) {
      if (e.trigger == trigger) out.push_back(e.time);
    }
    return out;
  }

  // Per trigger: each tick at most once, in order, on whole minutes. Returns the ticks that are
  // missing between the first and the last (gaps).
  int64_t CheckOncePerTick(const std::string& name) {
    std::vector<Entry> entries = Stream(name);
    std::set<std::string> ids;
    for (const Entry& e : entries) {
      EXPECT_TRUE(ids.insert(e.invocation_id).second) << "invocation id twice: " << e.invocation_id;
    }
    int64_t gaps = 0;
    for (int trigger : {0, 1}) {
      SCOPED_TRACE(absl::StrCat("trigger ", trigger));
      std::vector<absl::Time> ticks = Ticks(name, trigger);
      for (size_t i = 0; i < ticks.size(); ++i) {
        EXPECT_EQ(absl::ToUnixSeconds(ticks[i]) % 60, 0) << ticks[i];
        if (i == 0) continue;
        EXPECT_GT(ticks[i], ticks[i - 1]) << "a tick twice or out of order at entry " << i;
        if (ticks[i] > ticks[i - 1]) gaps += (ticks[i] - ticks[i - 1]) / absl::Minutes(1) - 1;
      }
    }
    return gaps;
  }

  std::string Holder() {
    auto lease = client_->Get(res::Leases(), "default", "wisp-operator");
    if (!lease.ok() || !lease->contains("spec")) return "";
    return (*lease)["spec"].value("holderIdentity", "");
  }

  std::string clock_;
  std::unique_ptr<apiserver::ApiServer> server_;
  std::unique_ptr<kube::RestKubeClient> client_;
  std::unique_ptr<testing::RedisProcess> redis_;
  std::unique_ptr<redis::Client> redis_client_;
  std::vector<std::unique_ptr<OperatorProcess>> operators_;
};

TEST_F(ScheduleFailoverTest, OneOperatorFiresEachTickOnce) {
  OperatorProcess* op = StartOperator("operator", {});
  ASSERT_TRUE(Eventually([&] { return op->AdminPort() != 0; })) << "the operator did not start";
  ASSERT_TRUE(client_->Create(res::Functions(), "default", Ticker("ticker")).ok());

  ASSERT_TRUE(Eventually([&] { return Ticks("ticker", 0).size() >= 3 &&
                                      Ticks("ticker", 1).size() >= 3; }))
      << "fired: " << Stream("ticker").size();
  op->Kill();  // nothing fires while we read
  std::vector<absl::Time> rate = Ticks("ticker", 0);
  std::vector<absl::Time> cron = Ticks("ticker", 1);
  EXPECT_EQ(CheckOncePerTick("ticker"), 0);  // one operator keeping up: every tick, in turn
  // Both triggers tick on whole minutes and started together.
  size_t n = std::min(rate.size(), cron.size());
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(rate[i], cron[i]) << i;
  EXPECT_TRUE(op->Log().find("schedule tick fired") != std::string::npos);
}

TEST_F(ScheduleFailoverTest, LeaderKilledRightAfterATickTheStandbyFiresNoTickTwice) {
  std::vector<std::string> elect = {
      "--leader_elect",
      "--lease_namespace=default",
      absl::StrCat("--lease_duration_seconds=", kLeaseDurationSeconds),
      absl::StrCat("--renew_deadline_seconds=", kRenewDeadlineSeconds),
      absl::StrCat("--retry_period_seconds=", kRetryPeriodSeconds),
  };
  OperatorProcess* a = StartOperator("operator-a", elect);
  OperatorProcess* b = StartOperator("operator-b", elect);
  ASSERT_TRUE(Eventually([&] { return a->AdminPort() != 0 && b->AdminPort() != 0; }))
      << "the operators did not start";
  ASSERT_TRUE(Eventually([&] {
    std::string h = Holder();
    return h == a->identity() || h == b->identity();
  }));
  OperatorProcess* leader = Holder() == a->identity() ? a : b;
  OperatorProcess* standby = leader == a ? b : a;
  ASSERT_TRUE(Eventually([&] { return leader->Metric("wisp_operator_leader") == 1; }));

  ASSERT_TRUE(client_->Create(res::Functions(), "default", Ticker("ticker")).ok());
  ASSERT_TRUE(Eventually([&] { return Ticks("ticker", 0).size() >= 2; }));
  EXPECT_EQ(standby->Metric("wisp_schedule_ticks_fired_total"), 0);
  const double leader_skipped = leader->Metric("wisp_schedule_ticks_skipped_total");

  // Kill the leader the moment a new tick of trigger 0 is in the stream (trigger 1's entry for
  // that tick may or may not be written yet).
  size_t before = Ticks("ticker", 0).size();
  ASSERT_TRUE(Eventually([&] { return Ticks("ticker", 0).size() > before; }, absl::Seconds(10),
                         absl::Milliseconds(2)));
  leader->Kill();
  const absl::Time last_by_leader = Ticks("ticker", 0).back();

  // The standby takes over and keeps firing: two more ticks after the one at the kill.
  ASSERT_TRUE(Eventually([&] { return Holder() == standby->identity(); }, absl::Seconds(15)));
  ASSERT_TRUE(Eventually([&] { return standby->Metric("wisp_operator_leader") == 1; }));
  ASSERT_TRUE(Eventually([&] {
    std::vector<absl::Time> rate = Ticks("ticker", 0);
    std::vector<absl::Time> cron = Ticks("ticker", 1);
    return !rate.empty() && !cron.empty() && rate.back() >= last_by_leader + absl::Minutes(2) &&
           cron.back() >= last_by_leader + absl::Minutes(2);
  })) << "fired: " << Stream("ticker").size();
  const double standby_fired = standby->Metric("wisp_schedule_ticks_fired_total");
  const double standby_skipped = standby->Metric("wisp_schedule_ticks_skipped_total");
  standby->Kill();  // nothing fires while we read

  // Each tick once; every tick missing between the first and the last was counted as skipped
  // (by the new leader, for the ticks it missed while no one led).
  int64_t gaps = CheckOncePerTick("ticker");
  EXPECT_GE(standby_fired, 2) << "the new leader fired no tick";
  EXPECT_EQ(static_cast<double>(gaps), leader_skipped + standby_skipped)
      << "a missed tick neither fired nor counted";
  std::cerr << "ticks missed during the failover (skipped): " << gaps << "\n";
}

}  // namespace
}  // namespace wisp::op
