// Dispatcher: admission, capacity, waiting, retries and ejection, against a scripted fake
// Invoker that can hold calls in flight.
#include "gateway/dispatcher.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Kind = DispatchResult::Kind;

constexpr char kNeverDeliveredPayload[] = "type.wisp.dev/test.NeverDelivered";

// A failure the worker provably never received (connection refused, busy, draining...).
absl::Status Refused(absl::StatusCode code, absl::string_view message = "refused") {
  absl::Status s(code, message);
  s.SetPayload(kNeverDeliveredPayload, absl::Cord("1"));
  return s;
}

// A failure after the request may have reached the runtime.
absl::Status Delivered(absl::StatusCode code, absl::string_view message = "failed") {
  return absl::Status(code, message);
}

// Scripted worker calls: per address, a queue of results (then an OK reply whose payload is the
// address). While held, calls block in Invoke until released.
class FakeInvoker : public Invoker {
 public:
  using Result = absl::StatusOr<v1::InvokeResponse>;

  void Script(const std::string& address, std::vector<Result> results) {
    absl::MutexLock lock(&mu_);
    for (Result& r : results) scripts_[address].push_back(std::move(r));
  }
  // The result for `address` once its script is used up (default: an OK reply).
  void SetDefault(const std::string& address, Result result) {
    absl::MutexLock lock(&mu_);
    defaults_.insert_or_assign(address, std::move(result));
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    holding_ = true;
  }
  void ReleaseOne() {
    absl::MutexLock lock(&mu_);
    permits_++;
  }
  void ReleaseAll() {
    absl::MutexLock lock(&mu_);
    holding_ = false;
  }
  void SetHealthy(bool healthy) {
    absl::MutexLock lock(&mu_);
    healthy_ = healthy;
  }

  int Calls(const std::string& address) {
    absl::MutexLock lock(&mu_);
    return calls_[address];
  }
  int TotalCalls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(requests_.size());
  }
  int InFlight(const std::string& address) {
    absl::MutexLock lock(&mu_);
    return in_flight_[address];
  }
  int MaxInFlight(const std::string& address) {
    absl::MutexLock lock(&mu_);
    return max_in_flight_[address];
  }
  int Probes(const std::string& address) {
    absl::MutexLock lock(&mu_);
    return probes_[address];
  }
  std::vector<std::string> Payloads() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> out;
    for (const v1::InvokeRequest& r : requests_) out.push_back(r.payload());
    return out;
  }
  std::vector<absl::Duration> Timeouts() {
    absl::MutexLock lock(&mu_);
    return timeouts_;
  }
  // Waits until `n` calls are inside Invoke (held) and `calls` were made in all.
  bool AwaitInFlight(int n, int calls, absl::Duration timeout = absl::Seconds(5)) {
    absl::MutexLock lock(&mu_);
    auto cond = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return total_in_flight_ == n && static_cast<int>(requests_.size()) == calls;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), timeout);
  }

  Result Invoke(const std::string& address, const v1::InvokeRequest& request,
                absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    calls_[address]++;
    requests_.push_back(request);
    timeouts_.push_back(timeout);
    Result result = absl::UnknownError("unset");
    if (auto& q = scripts_[address]; !q.empty()) {
      result = std::move(q.front());
      q.pop_front();
    } else if (auto d = defaults_.find(address); d != defaults_.end()) {
      result = d->second;
    } else {
      v1::InvokeResponse ok;
      ok.set_payload(address);
      result = ok;
    }
    in_flight_[address]++;
    total_in_flight_++;
    max_in_flight_[address] = std::max(max_in_flight_[address], in_flight_[address]);
    auto can_go = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !holding_ || permits_ > 0; };
    mu_.Await(absl::Condition(&can_go));
    if (holding_) permits_--;
    in_flight_[address]--;
    total_in_flight_--;
    return result;
  }

  bool Probe(const std::string& address) override {
    absl::MutexLock lock(&mu_);
    probes_[address]++;
    return healthy_;
  }

  bool NeverDelivered(const absl::Status& status) override {
    return status.GetPayload(kNeverDeliveredPayload).has_value();
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::deque<Result>> scripts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Result> defaults_ ABSL_GUARDED_BY(mu_);
  bool holding_ ABSL_GUARDED_BY(mu_) = false;
  int permits_ ABSL_GUARDED_BY(mu_) = 0;
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> max_in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> probes_ ABSL_GUARDED_BY(mu_);
  int total_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::InvokeRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Duration> timeouts_ ABSL_GUARDED_BY(mu_);
};

struct FnSpec {
  std::string name;
  std::vector<Endpoint> endpoints;
  std::optional<int> reserved;
  int timeout_seconds = 3;
};

std::shared_ptr<const Snapshot> Catalog(const std::vector<FnSpec>& fns) {
  auto snap = std::make_shared<Snapshot>();
  for (const FnSpec& f : fns) {
    FunctionInfo info;
    info.name = f.name;
    info.endpoints = f.endpoints;
    info.reserved_concurrency = f.reserved;
    info.timeout_seconds = f.timeout_seconds;
    snap->functions[f.name] = info;
  }
  return snap;
}

v1::InvokeRequest Request(const std::string& payload) {
  v1::InvokeRequest r;
  r.set_payload(payload);
  return r;
}

bool Eventually(const std::function<bool()>& cond, absl::Duration timeout = absl::Seconds(5)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// One Invoke() running on its own thread.
struct Call {
  std::thread thread;
  absl::Notification done;
  DispatchResult result;
  bool Wait(absl::Duration timeout = absl::Seconds(5)) {
    return done.WaitForNotificationWithTimeout(timeout);
  }
};

class DispatcherTest : public testing::Test {
 protected:

  static Dispatcher::Options FastOptions() {
    Dispatcher::Options o;
    o.queue_size = 10;
    // Long enough that a waiter outlasts a slow, shared machine; tests of the timeout itself
    // use ShortQueueOptions().
    o.queue_timeout = absl::Seconds(5);
    o.timeout_margin = absl::Seconds(1);
    o.eject_base = absl::Seconds(30);  // ejections end by probing unless a test says otherwise
    o.eject_max = absl::Seconds(60);
    o.probe_interval = absl::Milliseconds(20);
    return o;
  }

  static Dispatcher::Options ShortQueueOptions() {
    Dispatcher::Options o = FastOptions();
    o.queue_timeout = absl::Milliseconds(300);
    return o;
  }

  void Make(Dispatcher::Options options = FastOptions()) {
    dispatcher_ = std::make_unique<Dispatcher>(options, &invoker_, [this](const std::string& fn) {
      absl::MutexLock lock(&mu_);
      demanded_.push_back(fn);
    });
    dispatcher_->SetLoadObserver([this](const std::string& fn, FunctionLoad load) {
      absl::MutexLock lock(&mu_);
      observed_[fn] = load;
    });
    dispatcher_->SetEjectionObserver([this](const std::string& fn, const std::string& address) {
      absl::MutexLock lock(&mu_);
      ejected_.push_back(fn + " " + address);
    });
  }

  void TearDown() override {
    invoker_.ReleaseAll();
    if (dispatcher_) dispatcher_->Shutdown();
    for (auto& c : calls_) c->thread.join();
    dispatcher_.reset();
  }

  Call* Start(const std::string& function, const std::string& payload = "{}") {
    calls_.push_back(std::make_unique<Call>());
    Call* c = calls_.back().get();
    c->thread = std::thread([this, c, function, payload] {
      c->result = dispatcher_->Invoke(function, Request(payload));
      c->done.Notify();
    });
    return c;
  }

  FunctionLoad Load(const std::string& fn) { return dispatcher_->Loads()[fn]; }
  bool LoadIs(const std::string& fn, int in_flight, int queued) {
    FunctionLoad l = Load(fn);
    return l.in_flight == in_flight && l.queued == queued;
  }
  FunctionLoad Observed(const std::string& fn) {
    absl::MutexLock lock(&mu_);
    return observed_[fn];
  }
  std::vector<std::string> Demanded() {
    absl::MutexLock lock(&mu_);
    return demanded_;
  }
  std::vector<std::string> Ejected() {
    absl::MutexLock lock(&mu_);
    return ejected_;
  }

  FakeInvoker invoker_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::vector<std::unique_ptr<Call>> calls_;
  absl::Mutex mu_;
  std::vector<std::string> demanded_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, FunctionLoad> observed_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> ejected_ ABSL_GUARDED_BY(mu_);
};

TEST_F(DispatcherTest, InvokesAnEndpoint) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}, std::nullopt, /*timeout_seconds=*/5}}));
  DispatchResult r = dispatcher_->Invoke("fn", Request(R"({"x":1})"));
  ASSERT_EQ(r.kind, Kind::kOk) << r.message;
  EXPECT_EQ(r.response.payload(), "w1:1");
  EXPECT_THAT(invoker_.Payloads(), ElementsAre(R"({"x":1})"));
  // The worker gets the function's timeout plus the margin.
  EXPECT_THAT(invoker_.Timeouts(), ElementsAre(absl::Seconds(6)));
  EXPECT_TRUE(LoadIs("fn", 0, 0));
}

TEST_F(DispatcherTest, UnknownFunctionIsNotFound) {
  Make();
  EXPECT_EQ(dispatcher_->Invoke("fn", Request("{}")).kind, Kind::kNotFound);
  dispatcher_->Update(Catalog({{"other", {{"w1:1", 1}}}}));
  EXPECT_EQ(dispatcher_->Invoke("fn", Request("{}")).kind, Kind::kNotFound);
  EXPECT_EQ(invoker_.TotalCalls(), 0);
  EXPECT_TRUE(Demanded().empty());
}

TEST_F(DispatcherTest, ReservedConcurrencyThrottlesAtOnce) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 4}}, /*reserved=*/1}}));
  invoker_.Hold();
  Call* first = Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  absl::Time start = absl::Now();
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  EXPECT_EQ(r.kind, Kind::kThrottled);
  EXPECT_THAT(r.message, HasSubstr("reserved concurrency of 1"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));  // not queued (that would take 5 s)
  EXPECT_EQ(invoker_.TotalCalls(), 1);
  invoker_.ReleaseAll();
  ASSERT_TRUE(first->Wait());
  EXPECT_EQ(first->result.kind, Kind::kOk);
  // Released: admitted again.
  EXPECT_EQ(dispatcher_->Invoke("fn", Request("{}")).kind, Kind::kOk);
}

TEST_F(DispatcherTest, ZeroReservedConcurrencyThrottlesEverything) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 4}}, /*reserved=*/0}}));
  EXPECT_EQ(dispatcher_->Invoke("fn", Request("{}")).kind, Kind::kThrottled);
  EXPECT_EQ(invoker_.TotalCalls(), 0);
}

TEST_F(DispatcherTest, CapacityIsRespectedPerEndpoint) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"big:1", 2}, {"small:1", 1}}}}));
  invoker_.Hold();
  for (int i = 0; i < 3; ++i) Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(3, 3));
  EXPECT_EQ(invoker_.InFlight("big:1"), 2);
  EXPECT_EQ(invoker_.InFlight("small:1"), 1);
  EXPECT_TRUE(LoadIs("fn", 3, 0));
  // A fourth waits: every endpoint is full.
  Call* fourth = Start("fn");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 3, 1); }));
  EXPECT_EQ(invoker_.TotalCalls(), 3);
  invoker_.ReleaseAll();
  for (auto& c : calls_) {
    ASSERT_TRUE(c->Wait());
    EXPECT_EQ(c->result.kind, Kind::kOk) << c->result.message;
  }
  EXPECT_EQ(fourth->result.kind, Kind::kOk);
  EXPECT_EQ(invoker_.TotalCalls(), 4);
  EXPECT_LE(invoker_.MaxInFlight("big:1"), 2);
  EXPECT_LE(invoker_.MaxInFlight("small:1"), 1);
  EXPECT_TRUE(LoadIs("fn", 0, 0));
}

TEST_F(DispatcherTest, WaitersAreHandedReleasesInArrivalOrder) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Hold();
  Start("fn", "A");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  Call* b = Start("fn", "B");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 1, 1); }));
  Call* c = Start("fn", "C");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 1, 2); }));

  invoker_.ReleaseOne();  // A finishes; its slot goes straight to B
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 2));
  EXPECT_THAT(invoker_.Payloads(), ElementsAre("A", "B"));
  EXPECT_TRUE(LoadIs("fn", 1, 1));
  EXPECT_FALSE(b->done.HasBeenNotified());

  invoker_.ReleaseOne();
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 3));
  EXPECT_THAT(invoker_.Payloads(), ElementsAre("A", "B", "C"));
  invoker_.ReleaseAll();
  ASSERT_TRUE(b->Wait());
  ASSERT_TRUE(c->Wait());
  EXPECT_EQ(b->result.kind, Kind::kOk);
  EXPECT_EQ(c->result.kind, Kind::kOk);
  EXPECT_EQ(invoker_.MaxInFlight("w1:1"), 1);
}

TEST_F(DispatcherTest, FullQueueRefusesAtOnce) {
  Dispatcher::Options o = FastOptions();
  o.queue_size = 1;
  o.queue_timeout = absl::Seconds(5);
  Make(o);
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Hold();
  Call* a = Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  Call* b = Start("fn");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 1, 1); }));
  absl::Time start = absl::Now();
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  EXPECT_EQ(r.kind, Kind::kQueueFull);
  EXPECT_THAT(r.message, HasSubstr("already waiting"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));  // not queued (that would take 5 s)
  invoker_.ReleaseAll();
  ASSERT_TRUE(a->Wait());
  ASSERT_TRUE(b->Wait());
  EXPECT_EQ(a->result.kind, Kind::kOk);
  EXPECT_EQ(b->result.kind, Kind::kOk);
  EXPECT_EQ(invoker_.TotalCalls(), 2);
}

TEST_F(DispatcherTest, QueueTimeoutIsNoCapacity) {
  Make(ShortQueueOptions());
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Hold();
  Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  absl::Time start = absl::Now();
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(r.kind, Kind::kNoCapacity);
  EXPECT_THAT(r.message, HasSubstr("No capacity for function fn"));
  EXPECT_GE(waited, absl::Milliseconds(290));
  EXPECT_LT(waited, absl::Seconds(3));
  EXPECT_EQ(invoker_.TotalCalls(), 1);
  EXPECT_TRUE(LoadIs("fn", 1, 0));  // the timed-out waiter left the queue
  EXPECT_THAT(Demanded(), ElementsAre("fn"));
}

TEST_F(DispatcherTest, FunctionWithoutEndpointsWaitsForOne) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {}}}));
  Call* c = Start("fn");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 0, 1); }));
  ASSERT_TRUE(Eventually([&] { return Demanded().size() == 1; }));
  EXPECT_THAT(Demanded(), ElementsAre("fn"));  // scale from zero
  EXPECT_FALSE(c->done.HasBeenNotified());

  dispatcher_->Update(Catalog({{"fn", {{"new:1", 1}}}}));
  ASSERT_TRUE(c->Wait());
  ASSERT_EQ(c->result.kind, Kind::kOk) << c->result.message;
  EXPECT_EQ(c->result.response.payload(), "new:1");
  EXPECT_TRUE(LoadIs("fn", 0, 0));
}

TEST_F(DispatcherTest, FunctionRemovedWhileWaitingIsNotFound) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {}}}));
  Call* c = Start("fn");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 0, 1); }));
  dispatcher_->Update(Catalog({}));
  ASSERT_TRUE(c->Wait(absl::Seconds(2)));
  EXPECT_EQ(c->result.kind, Kind::kNotFound);
}

TEST_F(DispatcherTest, UpdateKeepsInFlightCounts) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Hold();
  Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  // w1 stays and is still full; the next call must go to the new endpoint.
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}, {"w2:1", 1}}}}));
  EXPECT_TRUE(LoadIs("fn", 1, 0));
  Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(2, 2));
  EXPECT_EQ(invoker_.Calls("w1:1"), 1);
  EXPECT_EQ(invoker_.Calls("w2:1"), 1);
  invoker_.ReleaseAll();
  for (auto& c : calls_) {
    ASSERT_TRUE(c->Wait());
    EXPECT_EQ(c->result.kind, Kind::kOk);
  }
  EXPECT_EQ(invoker_.MaxInFlight("w1:1"), 1);
}

// Worker call outcomes, per the decision table in dispatcher.h. "big" (capacity 2) is always
// tried first: with equal load the balancer prefers the endpoint with more free capacity.
TEST_F(DispatcherTest, WorkerOutcomes) {
  struct Case {
    std::string name;
    absl::Status first;  // big's answer to the first call
    Kind want_kind;
    std::string want_message;  // substring
    int want_big_calls;
    int want_small_calls;
    bool want_big_ejected;
  };
  const std::vector<Case> cases = {
      {"busy: another endpoint", Refused(absl::StatusCode::kResourceExhausted, "busy"),
       Kind::kOk, "", 1, 1, false},
      {"unavailable: ejected, another endpoint", Refused(absl::StatusCode::kUnavailable),
       Kind::kOk, "", 1, 1, true},
      {"stale endpoint: ejected, another endpoint", Refused(absl::StatusCode::kNotFound),
       Kind::kOk, "", 1, 1, true},
      {"refused as malformed: no retry", Refused(absl::StatusCode::kInvalidArgument, "too large"),
       Kind::kInvalid, "too large", 1, 0, false},
      {"failed after delivery: no retry", Delivered(absl::StatusCode::kUnavailable, "reset"),
       Kind::kWorkerFailed, "The worker failed during the invocation: reset", 1, 0, true},
      {"internal error after delivery: no retry", Delivered(absl::StatusCode::kInternal, "boom"),
       Kind::kWorkerFailed, "boom", 1, 0, true},
      {"deadline: no retry", Delivered(absl::StatusCode::kDeadlineExceeded), Kind::kTimeout,
       "did not answer within 4s", 1, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeInvoker invoker;
    std::vector<std::string> ejected;
    {
      Dispatcher d(FastOptions(), &invoker);
      d.SetEjectionObserver([&](const std::string& fn, const std::string& address) {
        ejected.push_back(fn + " " + address);
      });
      d.Update(Catalog({{"fn", {{"big:1", 2}, {"small:1", 1}}}}));
      invoker.Script("big:1", {c.first});
      DispatchResult r = d.Invoke("fn", Request("{}"));
      EXPECT_EQ(r.kind, c.want_kind) << r.message;
      EXPECT_THAT(r.message, HasSubstr(c.want_message));
      EXPECT_EQ(invoker.Calls("big:1"), c.want_big_calls);
      EXPECT_EQ(invoker.Calls("small:1"), c.want_small_calls);
      if (c.want_kind == Kind::kOk) {
        EXPECT_EQ(r.response.payload(), "small:1");
      }
      // Whether big was ejected shows in where the next call goes.
      DispatchResult next = d.Invoke("fn", Request("{}"));
      EXPECT_EQ(next.kind, Kind::kOk);
      EXPECT_EQ(next.response.payload(), c.want_big_ejected ? "small:1" : "big:1");
      EXPECT_EQ(d.Loads()["fn"].in_flight, 0);
    }
    if (c.want_big_ejected) {
      EXPECT_THAT(ejected, ElementsAre("fn big:1"));
    } else {
      EXPECT_THAT(ejected, ::testing::IsEmpty());
    }
  }
}

TEST_F(DispatcherTest, EveryEndpointRefusingEndsAsNoCapacity) {
  Make(ShortQueueOptions());
  dispatcher_->Update(Catalog({{"fn", {{"a:1", 1}, {"b:1", 1}}}}));
  invoker_.Script("a:1", {Refused(absl::StatusCode::kUnavailable)});
  invoker_.Script("b:1", {Refused(absl::StatusCode::kUnavailable)});
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  EXPECT_EQ(r.kind, Kind::kNoCapacity);
  EXPECT_EQ(invoker_.Calls("a:1"), 1);
  EXPECT_EQ(invoker_.Calls("b:1"), 1);
  EXPECT_THAT(Ejected(), ::testing::UnorderedElementsAre("fn a:1", "fn b:1"));
  // Both stay ejected and the prober keeps asking them.
  EXPECT_TRUE(Eventually([&] { return invoker_.Probes("a:1") >= 1 && invoker_.Probes("b:1") >= 1; }));
}

TEST_F(DispatcherTest, EjectedEndpointIsProbedBackAndUsedAgain) {
  Make();  // eject_base 30 s: only a successful probe brings the endpoint back in time
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Script("w1:1", {Refused(absl::StatusCode::kUnavailable)});
  Call* c = Start("fn");
  // Ejected and unhealthy: probed again and again, not used; the call waits.
  ASSERT_TRUE(Eventually([&] { return invoker_.Probes("w1:1") >= 3; }));
  EXPECT_THAT(Ejected(), ElementsAre("fn w1:1"));
  EXPECT_EQ(invoker_.Calls("w1:1"), 1);
  EXPECT_TRUE(LoadIs("fn", 0, 1));
  EXPECT_FALSE(c->done.HasBeenNotified());

  // Healthy again: the prober reinstates it and hands it to the waiting call.
  invoker_.SetHealthy(true);
  ASSERT_TRUE(c->Wait());
  ASSERT_EQ(c->result.kind, Kind::kOk) << c->result.message;
  EXPECT_EQ(c->result.response.payload(), "w1:1");
  EXPECT_EQ(invoker_.Calls("w1:1"), 2);
  // And it serves new calls directly.
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  ASSERT_EQ(r.kind, Kind::kOk) << r.message;
  EXPECT_EQ(invoker_.Calls("w1:1"), 3);
  EXPECT_TRUE(LoadIs("fn", 0, 0));
}

TEST_F(DispatcherTest, EjectionEndsOnItsOwnClock) {
  Dispatcher::Options o = FastOptions();
  o.eject_base = absl::Milliseconds(50);
  o.queue_timeout = absl::Seconds(3);
  Make(o);  // probes fail: only the ejection's end brings the endpoint back
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Script("w1:1", {Refused(absl::StatusCode::kUnavailable)});
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  ASSERT_EQ(r.kind, Kind::kOk) << r.message;
  EXPECT_EQ(invoker_.Calls("w1:1"), 2);
}

TEST_F(DispatcherTest, ShutdownWakesWaiters) {
  Dispatcher::Options o = FastOptions();
  o.queue_timeout = absl::Seconds(30);
  Make(o);
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}, {"empty", {}}}));
  invoker_.Hold();
  Call* running = Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  Call* waiting = Start("fn");
  Call* waiting_empty = Start("empty");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 1, 1) && LoadIs("empty", 0, 1); }));

  absl::Time start = absl::Now();
  dispatcher_->Shutdown();
  ASSERT_TRUE(waiting->Wait());
  ASSERT_TRUE(waiting_empty->Wait());
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));  // long before the 30 s queue timeout
  EXPECT_EQ(waiting->result.kind, Kind::kShuttingDown);
  EXPECT_EQ(waiting_empty->result.kind, Kind::kShuttingDown);
  EXPECT_EQ(dispatcher_->Invoke("fn", Request("{}")).kind, Kind::kShuttingDown);
  // The call already running finishes normally.
  invoker_.ReleaseAll();
  ASSERT_TRUE(running->Wait());
  EXPECT_EQ(running->result.kind, Kind::kOk);
  EXPECT_EQ(invoker_.TotalCalls(), 1);
}

TEST_F(DispatcherTest, LoadsAndLoadObserver) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}, {"idle", {{"w2:1", 1}}}}));
  EXPECT_EQ(dispatcher_->Loads().size(), 2u);
  EXPECT_TRUE(LoadIs("idle", 0, 0));
  FunctionLoad idle = Observed("idle");  // reported on Update
  EXPECT_EQ(idle.in_flight, 0);
  EXPECT_EQ(idle.queued, 0);

  invoker_.Hold();
  Start("fn");
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 1));
  EXPECT_TRUE(LoadIs("fn", 1, 0));
  EXPECT_EQ(Observed("fn").in_flight, 1);
  EXPECT_EQ(Observed("fn").queued, 0);

  Start("fn");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 1, 1); }));
  ASSERT_TRUE(Eventually([&] { return Observed("fn").queued == 1; }));
  EXPECT_EQ(Observed("fn").in_flight, 1);

  invoker_.ReleaseAll();
  for (auto& c : calls_) ASSERT_TRUE(c->Wait());
  EXPECT_TRUE(LoadIs("fn", 0, 0));
  EXPECT_EQ(Observed("fn").in_flight, 0);
  EXPECT_EQ(Observed("fn").queued, 0);
}

// Regression (fixed; the text says what broke): The load observer is "called after each Update/Invoke change" (dispatcher.h), but the
// hand-offs made by ProbeLoop() and by a waiter's periodic re-check in Acquire() call
// HandOffLocked() without NotifyLoadLocked(): a waiter served by a probed-back endpoint is
// still reported as queued (in_flight 0, queued 1) for as long as its call runs.
TEST_F(DispatcherTest, LoadObserverSeesHandOffAfterProbe) {
  Make();
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.Script("w1:1", {Refused(absl::StatusCode::kUnavailable)});
  Start("fn");
  ASSERT_TRUE(Eventually([&] { return LoadIs("fn", 0, 1); }));  // refused, ejected, waiting
  invoker_.Hold();
  invoker_.SetHealthy(true);
  ASSERT_TRUE(invoker_.AwaitInFlight(1, 2));  // handed over by the prober, now running
  EXPECT_TRUE(LoadIs("fn", 1, 0));
  EXPECT_EQ(Observed("fn").in_flight, 1);
  EXPECT_EQ(Observed("fn").queued, 0);
}

// Regression (fixed; the text says what broke):
// A busy refusal (RESOURCE_EXHAUSTED) from the only endpoint should make the call wait for
// capacity ("try another endpoint, else wait", dispatcher.h). Invoke() in dispatcher.cc
// instead clears `exclude` as soon as every endpoint has been tried once
// (`exclude.size() >= endpoints.size()`), so Acquire() hands the same endpoint straight back
// and the gateway re-sends the request in a tight loop until the queue deadline: thousands of
// calls in 300 ms against an already saturated worker.
TEST_F(DispatcherTest, BusyOnlyEndpointIsNotRetriedInATightLoop) {
  Make(ShortQueueOptions());
  dispatcher_->Update(Catalog({{"fn", {{"w1:1", 1}}}}));
  invoker_.SetDefault("w1:1", Refused(absl::StatusCode::kResourceExhausted, "busy"));
  DispatchResult r = dispatcher_->Invoke("fn", Request("{}"));
  EXPECT_EQ(r.kind, Kind::kNoCapacity);
  // Waiting between attempts (the dispatcher's own 100 ms re-check) allows a handful.
  EXPECT_LE(invoker_.Calls("w1:1"), 10);
}

}  // namespace
}  // namespace wisp::gateway
