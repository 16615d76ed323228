// Async invocations end to end, with real processes: a real redis-server (AOF, appendfsync
// always), real wisp-gateway processes and real wisp-worker processes running a python
// handler that records every attempt in a side-effect file. Covers the delivery contract of
// docs/async.md: 202 only once stored, at least once with a stable invocation id, retries,
// destinations, maximum age, and no acknowledged event lost when the gateway, Redis or a
// worker is SIGKILLed.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "controller/events/async_event.h"
#include "controller/routing.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/aws_sdk.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;

// Records {"id", "phase", "n"} lines: "start" before the work, "done" after it.
constexpr char kHandler[] = R"PY(
import json, time
EFFECTS = "@EFFECTS@"

def _record(context, phase, event):
    with open(EFFECTS, "a") as f:
        f.write(json.dumps({"id": context.aws_request_id, "phase": phase,
                            "n": event.get("n")}) + "\n")

def handler(event, context):
    _record(context, "start", event)
    if event.get("sleep_ms"):
        time.sleep(event["sleep_ms"] / 1000.0)  # simulated work
    if event.get("fail"):
        raise RuntimeError(event["fail"])
    _record(context, "done", event)
    return {"ok": event.get("n")}
)PY";

struct Effect {
  std::string id;
  std::string phase;
  json n;
};

class AsyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = RedisProcess::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = std::move(*r);
    effects_ = code_.path() + "/effects.log";
    std::string app = kHandler;
    app.replace(app.find("@EFFECTS@"), 9, effects_);
    code_.Write("app.py", app);
  }

  std::unique_ptr<WorkerProcess> StartWorker(const std::string& name, int concurrency = 4,
                                             int timeout = 10) {
    auto w = WorkerProcess::Start({"--name=" + name, "--runtime=python3.11",
                                   "--handler=app.handler", "--code=" + code_.path(),
                                   absl::StrCat("--concurrency=", concurrency),
                                   absl::StrCat("--timeout=", timeout)});
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? std::move(*w) : nullptr;
  }

  // One function per entry: {name, endpoints, async policy}.
  std::string Catalog(const std::vector<json>& functions) {
    return json{{"functions", functions}}.dump();
  }
  json Function(const std::string& name, const std::vector<const WorkerProcess*>& workers,
                int capacity, json async = json::object(), int timeout = 10) {
    json eps = json::array();
    for (const WorkerProcess* w : workers) eps.push_back({{"address", w->target()}, {"capacity", capacity}});
    return {{"name", name}, {"timeoutSeconds", timeout}, {"endpoints", eps}, {"async", async}};
  }

  std::vector<std::string> GatewayArgs(const std::string& id) {
    return {"--redis=" + redis_->address(), "--gateway_id=" + id,
            "--async_retry_delay_ms=100", "--async_platform_retry_ms=100",
            "--async_lease_margin_seconds=0", "--queue_timeout_ms=500"};
  }

  std::unique_ptr<GatewayProcess> StartGateway(const std::string& catalog,
                                               std::vector<std::string> args) {
    auto g = GatewayProcess::Start(catalog, std::move(args));
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? std::move(*g) : nullptr;
  }

 public:
  // POSTs an Event invoke; returns (status, x-amzn-RequestId).
  static std::pair<int, std::string> Event(int port, const std::string& function,
                                           const json& payload) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(2);
    c.set_read_timeout(10);
    auto r = c.Post(absl::StrCat("/2015-03-31/functions/", function, "/invocations").c_str(),
                    {{"X-Amz-Invocation-Type", "Event"}}, payload.dump(), "application/json");
    if (!r) return {0, ""};
    if (r->status == 202) {
      EXPECT_EQ(r->body, "");
    }
    return {r->status, r->get_header_value("x-amzn-RequestId")};
  }

 protected:
  std::vector<Effect> Effects() {
    std::vector<Effect> out;
    std::ifstream in(effects_);
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (j.is_discarded()) continue;  // a line being written
      out.push_back({j["id"], j["phase"], j["n"]});
    }
    return out;
  }

  // Polls until every id in `ids` has a "done" effect; returns the ids still missing.
  std::set<std::string> WaitDone(const std::set<std::string>& ids, absl::Duration timeout) {
    absl::Time deadline = absl::Now() + timeout;
    std::set<std::string> missing = ids;
    while (absl::Now() < deadline) {
      missing = ids;
      for (const Effect& e : Effects()) {
        if (e.phase == "done") missing.erase(e.id);
      }
      if (missing.empty()) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return missing;
  }

  std::vector<redis::StreamEntry> Stream(const std::string& key) {
    redis::Client c({.address = redis_->address()});
    auto r = redis::ReadRange(c, key);
    return r.ok() ? *r : std::vector<redis::StreamEntry>{};
  }
  std::vector<redis::StreamEntry> WaitStream(const std::string& key, size_t n,
                                             absl::Duration timeout = absl::Seconds(20)) {
    absl::Time deadline = absl::Now() + timeout;
    std::vector<redis::StreamEntry> got;
    while (absl::Now() < deadline) {
      got = Stream(key);
      if (got.size() >= n) break;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return got;
  }
  static std::string Field(const redis::StreamEntry& e, const std::string& k) {
    for (const auto& [key, v] : e.fields) {
      if (key == k) return v;
    }
    return "";
  }

  TempDir code_;
  std::string effects_;
  std::unique_ptr<RedisProcess> redis_;
};

TEST_F(AsyncTest, AcceptedEventsRunWithTheirInvocationIdAndLeaveNothingBehind) {
  auto worker = StartWorker("fn");
  ASSERT_TRUE(worker);
  auto gw = StartGateway(Catalog({Function("fn", {worker.get()}, 4)}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  std::set<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    auto [status, id] = Event(gw->port(), "fn", {{"n", i}});
    ASSERT_EQ(status, 202);
    ASSERT_EQ(id.size(), 36u);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 40u);
  EXPECT_THAT(WaitDone(ids, absl::Seconds(30)), ::testing::IsEmpty());
  // Each ran exactly once here (nothing failed), under the id the caller was given.
  std::map<std::string, int> starts;
  for (const Effect& e : Effects()) starts[e.id] += e.phase == "start";
  for (const std::string& id : ids) EXPECT_EQ(starts[id], 1) << id;
  EXPECT_TRUE(gw->WaitForMetric(R"(wisp_async_events_succeeded_total{function="fn"})", 40));
  EXPECT_TRUE(gw->WaitForMetric(R"(wisp_async_events_enqueued_total{function="fn"})", 40));
  EXPECT_TRUE(gw->WaitForMetric(R"(wisp_async_backlog_events{function="fn"})", 0));
  // Acknowledged events are deleted: the stream's length is the backlog.
  EXPECT_TRUE(Stream(events::AsyncStreamKey("default", "fn")).empty());

  // Unknown functions and bad payloads are refused before anything is stored.
  EXPECT_EQ(Event(gw->port(), "nope", json::object()).first, 404);
  httplib::Client c("127.0.0.1", gw->port());
  auto bad = c.Post("/2015-03-31/functions/fn/invocations", {{"X-Amz-Invocation-Type", "Event"}},
                    "{not json", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  std::string big(256 * 1024 + 1, 'x');
  auto large = c.Post("/2015-03-31/functions/fn/invocations", {{"X-Amz-Invocation-Type", "Event"}},
                      "\"" + big + "\"", "application/json");
  ASSERT_TRUE(large);
  EXPECT_EQ(large->status, 413);
  EXPECT_EQ(large->get_header_value("x-amzn-ErrorType"), "RequestTooLargeException");
  EXPECT_THAT(large->body, HasSubstr("262144"));
}

TEST_F(AsyncTest, TheAwsSdkInvokesAsynchronously) {
  absl::StatusOr<std::string> sdk = EnsureSdk();
  ASSERT_TRUE(sdk.ok()) << "the AWS SDK could not be installed, so this test cannot run: "
                        << sdk.status();
  auto worker = StartWorker("fn");
  ASSERT_TRUE(worker);
  auto gw = StartGateway(Catalog({Function("fn", {worker.get()}, 4)}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  absl::StatusOr<json> out = RunSdk(*sdk, gw->port(), "async");
  ASSERT_TRUE(out.ok()) << out.status();
  SCOPED_TRACE(out->dump(2));
  const json& e = (*out)["event"];
  EXPECT_EQ(e["ok"], true);
  EXPECT_EQ(e["statusCode"], 202);
  ASSERT_TRUE(e["requestId"].is_string());
  // The request id the SDK got back is the one the handler ran with.
  EXPECT_THAT(WaitDone({e["requestId"].get<std::string>()}, absl::Seconds(20)), ::testing::IsEmpty());
  EXPECT_EQ((*out)["missing"]["name"], "ResourceNotFoundException");
  EXPECT_EQ((*out)["missing"]["httpStatusCode"], 404);
}

TEST_F(AsyncTest, AFailingHandlerRunsMaxRetriesPlusOneTimesThenReachesOnFailure) {
  auto worker = StartWorker("fails");
  ASSERT_TRUE(worker);
  json two_retries = {{"maxRetries", 2}, {"onFailure", {{"stream", "failed-events"}}}};
  json no_retries = {{"maxRetries", 0}, {"onFailure", {{"function", "sink"}}}};
  json on_success = {{"onSuccess", {{"stream", "succeeded-events"}}}};
  auto gw = StartGateway(
      Catalog({Function("fails", {worker.get()}, 4, two_retries),
               Function("once", {worker.get()}, 4, no_retries),
               Function("sink", {worker.get()}, 4, json::object()),
               Function("fine", {worker.get()}, 4, on_success)}),
      GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  // The worker serves any name it is called with? No: it serves "fails" only, so the other
  // functions get their own workers.
  auto once_worker = StartWorker("once");
  auto sink_worker = StartWorker("sink");
  auto fine_worker = StartWorker("fine");
  ASSERT_TRUE(once_worker && sink_worker && fine_worker);
  gw->WriteCatalog(Catalog({Function("fails", {worker.get()}, 4, two_retries),
                            Function("once", {once_worker.get()}, 4, no_retries),
                            Function("sink", {sink_worker.get()}, 4, json::object()),
                            Function("fine", {fine_worker.get()}, 4, on_success)}));
  ASSERT_TRUE(gw->WaitForMetric(R"(wisp_async_backlog_events{function="fine"})", 0));

  auto [status, id] = Event(gw->port(), "fails", {{"n", 1}, {"fail", "always"}});
  ASSERT_EQ(status, 202);
  std::vector<redis::StreamEntry> failed = WaitStream("failed-events", 1);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(Field(failed[0], "condition"), "RetriesExhausted");
  EXPECT_EQ(Field(failed[0], "requestId"), id);
  json record = json::parse(Field(failed[0], "body"));
  EXPECT_EQ(record["requestContext"]["condition"], "RetriesExhausted");
  EXPECT_EQ(record["requestContext"]["approximateInvokeCount"], 3);
  EXPECT_EQ(record["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:000000000000:function:fails");
  EXPECT_EQ(record["requestPayload"]["fail"], "always");
  EXPECT_EQ(record["responseContext"]["functionError"], "Unhandled");
  EXPECT_EQ(record["responsePayload"]["errorMessage"], "always");
  int attempts = 0;
  for (const Effect& e : Effects()) attempts += e.id == id && e.phase == "start";
  EXPECT_EQ(attempts, 3) << "maxRetries 2: exactly three attempts, all with one request id";

  // maxRetries 0 and a function destination: one attempt, then the sink runs the record.
  auto [status2, id2] = Event(gw->port(), "once", {{"n", 2}, {"fail", "once"}});
  ASSERT_EQ(status2, 202);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::vector<Effect> sink_runs;
  while (sink_runs.empty() && absl::Now() < deadline) {
    for (const Effect& e : Effects()) {
      if (e.phase == "done" && e.id == id2 + "-RetriesExhausted") sink_runs.push_back(e);
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(sink_runs.size(), 1u) << "the sink function ran the failure record";
  attempts = 0;
  for (const Effect& e : Effects()) attempts += e.id == id2 && e.phase == "start";
  EXPECT_EQ(attempts, 1);

  // onSuccess: a record with the result.
  auto [status3, id3] = Event(gw->port(), "fine", {{"n", 3}});
  ASSERT_EQ(status3, 202);
  std::vector<redis::StreamEntry> ok = WaitStream("succeeded-events", 1);
  ASSERT_EQ(ok.size(), 1u);
  json success = json::parse(Field(ok[0], "body"));
  EXPECT_EQ(success["requestContext"]["condition"], "Success");
  EXPECT_EQ(success["requestContext"]["requestId"], id3);
  EXPECT_EQ(success["responsePayload"]["ok"], 3);
  EXPECT_TRUE(gw->WaitForMetric(
      R"(wisp_async_events_failed_total{condition="RetriesExhausted",function="fails"})", 1));
  EXPECT_TRUE(gw->WaitForMetric(R"(wisp_async_events_retried_total{function="fails",reason="function_error"})", 2));
  EXPECT_TRUE(gw->WaitForMetric(R"(wisp_async_events_dead_lettered_total{function="fails",kind="stream"})", 1));
  EXPECT_TRUE(gw->WaitForMetric(R"(wisp_async_events_dead_lettered_total{function="once",kind="function"})", 1));
}

TEST_F(AsyncTest, ADestinationRedisRefusesIsCountedAndDoesNotStallDispatch) {
  // onFailure names a key that holds a string: XADD to it fails with WRONGTYPE.
  redis::Client c({.address = redis_->address()});
  ASSERT_TRUE(c.Command({"SET", "taken", "not a stream"}).ok());
  auto worker = StartWorker("fn", 1);
  ASSERT_TRUE(worker);
  json policy = {{"maxRetries", 0}, {"onFailure", {{"stream", "taken"}}}};
  auto gw = StartGateway(Catalog({Function("fn", {worker.get()}, 1, policy)}),
                         {"--redis=" + redis_->address(), "--gateway_id=g1",
                          "--async_per_function=1", "--async_concurrency=1"});
  ASSERT_TRUE(gw);
  ASSERT_EQ(Event(gw->port(), "fn", {{"n", 1}, {"fail", "x"}}).first, 202);
  EXPECT_TRUE(gw->WaitForMetric(
      R"(wisp_async_events_dropped_total{function="fn",reason="destination_refused"})", 1));
  // The one executor is free again: the next event runs.
  auto [status, id] = Event(gw->port(), "fn", {{"n", 2}});
  ASSERT_EQ(status, 202);
  EXPECT_THAT(WaitDone({id}, absl::Seconds(20)), ::testing::IsEmpty());
  // Settled (acknowledged and deleted) shortly after the handler returned.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!Stream(events::AsyncStreamKey("default", "fn")).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(Stream(events::AsyncStreamKey("default", "fn")).empty());
}

TEST_F(AsyncTest, ASettlementRedisRefusesForMemoryIsWrittenLaterAndTheEventRunsOnce) {
  // Under maxmemory with noeviction Redis refuses every command of a MULTI (EXECABORT) while
  // plain reads and claims still work: the attempt's settlement must wait, not be taken as
  // written (which left the entry pending to be claimed and re-run every housekeeping round).
  auto worker = StartWorker("fn", 1);
  ASSERT_TRUE(worker);
  auto gw = StartGateway(Catalog({Function("fn", {worker.get()}, 1)}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  auto [status, id] = Event(gw->port(), "fn", {{"n", 1}, {"sleep_ms", 300}});
  ASSERT_EQ(status, 202);
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  bool started = false;
  while (!started && absl::Now() < deadline) {
    for (const Effect& e : Effects()) started |= e.id == id && e.phase == "start";
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(started);
  redis::Client c({.address = redis_->address()});
  ASSERT_TRUE(c.Command({"CONFIG", "SET", "maxmemory-policy", "noeviction"}).ok());
  ASSERT_TRUE(c.Command({"CONFIG", "SET", "maxmemory", "1"}).ok());
  EXPECT_THAT(WaitDone({id}, absl::Seconds(10)), ::testing::IsEmpty());
  absl::SleepFor(absl::Seconds(1));  // a second of housekeeping rounds while Redis refuses
  ASSERT_TRUE(c.Command({"CONFIG", "SET", "maxmemory", "0"}).ok());
  deadline = absl::Now() + absl::Seconds(10);
  while (!Stream(events::AsyncStreamKey("default", "fn")).empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(Stream(events::AsyncStreamKey("default", "fn")).empty()) << "never settled";
  int starts = 0;
  for (const Effect& e : Effects()) starts += e.id == id && e.phase == "start";
  EXPECT_EQ(starts, 1) << "the event ran again while its settlement waited";
}

TEST_F(AsyncTest, EventsOlderThanTheMaximumAgeGoToOnFailureUnrun) {
  // No endpoints: every attempt is a throttle (no capacity) retried until the age runs out.
  json policy = {{"maxEventAgeSeconds", 60}, {"onFailure", {{"stream", "expired"}}}};
  auto gw = StartGateway(Catalog({{{"name", "idle"}, {"timeoutSeconds", 1}, {"async", policy}}}),
                         GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  // An event accepted 61 s ago (written as the intake would have).
  redis::Client c({.address = redis_->address()});
  events::AsyncEvent old;
  old.invocation_id = "old-event";
  old.payload = R"({"n":9})";
  old.enqueued_ms = absl::ToUnixMillis(absl::Now() - absl::Seconds(61));
  ASSERT_TRUE(c.Command(redis::XAddCommand(events::AsyncStreamKey("default", "idle"),
                                           events::ToFields(old))).ok());
  std::vector<redis::StreamEntry> expired = WaitStream("expired", 1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(Field(expired[0], "condition"), "EventAgeExceeded");
  json record = json::parse(Field(expired[0], "body"));
  EXPECT_EQ(record["requestContext"]["approximateInvokeCount"], 0);
  EXPECT_EQ(record["requestPayload"]["n"], 9);
}

TEST_F(AsyncTest, RedisDownIsAnErrorNeverA202AndEventsSurviveItsRestart) {
  auto worker = StartWorker("fn");
  ASSERT_TRUE(worker);
  // A gateway with no workers reachable for "fn" yet would run events at once; keep them
  // stored instead by giving it no endpoints, then add the worker after Redis restarts.
  auto gw = StartGateway(Catalog({Function("fn", {}, 4)}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  auto [s1, before] = Event(gw->port(), "fn", {{"n", 1}});
  ASSERT_EQ(s1, 202);
  redis_->Kill();
  auto [s2, during] = Event(gw->port(), "fn", {{"n", 2}});
  EXPECT_GE(s2, 500);
  EXPECT_LT(s2, 600);
  ASSERT_TRUE(redis_->Restart().ok());
  auto [s3, after] = Event(gw->port(), "fn", {{"n", 3}});
  ASSERT_EQ(s3, 202);
  gw->WriteCatalog(Catalog({Function("fn", {worker.get()}, 4)}));
  EXPECT_THAT(WaitDone({before, after}, absl::Seconds(30)), ::testing::IsEmpty());
}

// A flood of events from a client thread while something is SIGKILLed; returns the ids that
// got a 202.
class Flood {
 public:
  Flood(std::function<int()> port, std::string function)
      : port_(std::move(port)), function_(std::move(function)) {
    thread_ = std::thread([this] {
      int n = 0;
      while (!stop_) {
        auto [status, id] = AsyncTest::Event(port_(), function_, {{"n", n++}});
        std::lock_guard<std::mutex> lock(mu_);
        if (status == 202) accepted_.insert(id);
        else ++refused_;
      }
    });
  }
  std::set<std::string> Stop() {
    stop_ = true;
    thread_.join();
    return accepted_;
  }
  int refused() const { return refused_; }

 private:
  std::function<int()> port_;
  std::string function_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<std::string> accepted_;
  int refused_ = 0;
  std::thread thread_;
};

TEST_F(AsyncTest, SigkillingTheGatewayDuringAFloodLosesNoAcceptedEvent) {
  auto worker = StartWorker("fn", 4);
  ASSERT_TRUE(worker);
  std::string catalog = Catalog({Function("fn", {worker.get()}, 4)});
  std::unique_ptr<GatewayProcess> gw = StartGateway(catalog, GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  std::atomic<int> port{gw->port()};
  Flood flood([&] { return port.load(); }, "fn");
  for (int kill = 0; kill < 4; ++kill) {
    absl::SleepFor(absl::Milliseconds(400));  // let the flood run between kills
    gw->Signal(SIGKILL);
    gw = StartGateway(catalog, GatewayArgs("g1"));  // the same consumer: takes its events back
    ASSERT_TRUE(gw);
    port = gw->port();
  }
  absl::SleepFor(absl::Milliseconds(300));
  std::set<std::string> accepted = flood.Stop();
  ASSERT_GT(accepted.size(), 20u);
  EXPECT_THAT(WaitDone(accepted, absl::Seconds(40)), ::testing::IsEmpty())
      << accepted.size() << " accepted";
}

TEST_F(AsyncTest, SigkillingRedisDuringAFloodLosesNoAcceptedEvent) {
  auto worker = StartWorker("fn", 4);
  ASSERT_TRUE(worker);
  auto gw = StartGateway(Catalog({Function("fn", {worker.get()}, 4)}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  Flood flood([&] { return gw->port(); }, "fn");
  for (int kill = 0; kill < 2; ++kill) {
    absl::SleepFor(absl::Milliseconds(500));
    redis_->Kill();
    absl::SleepFor(absl::Milliseconds(200));
    ASSERT_TRUE(redis_->Restart().ok());
  }
  absl::SleepFor(absl::Milliseconds(500));
  std::set<std::string> accepted = flood.Stop();
  ASSERT_GT(accepted.size(), 20u);
  EXPECT_GT(flood.refused(), 0) << "some requests met Redis down and were refused, not accepted";
  EXPECT_THAT(WaitDone(accepted, absl::Seconds(40)), ::testing::IsEmpty())
      << accepted.size() << " accepted";
}

TEST_F(AsyncTest, AWorkerKilledMidEventIsRetriedElsewhereAndCompletes) {
  auto a = StartWorker("fn", 1);
  auto b = StartWorker("fn", 1);
  ASSERT_TRUE(a && b);
  auto gw = StartGateway(Catalog({Function("fn", {a.get(), b.get()}, 1)}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  auto [status, id] = Event(gw->port(), "fn", {{"n", 1}, {"sleep_ms", 1500}});
  ASSERT_EQ(status, 202);
  // Wait for the attempt to start, then kill whichever worker runs it (the one whose
  // environment is busy: the handler has not finished).
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  bool started = false;
  while (!started && absl::Now() < deadline) {
    for (const Effect& e : Effects()) started |= e.id == id && e.phase == "start";
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(started);
  auto busy = [](WorkerProcess& w) {
    auto m = HttpGet(w.admin_port(), "/metrics");
    return m.ok() && m->find("} 1") != std::string::npos &&
           m->find("wisp_worker_in_flight{function=\"fn\"} 1") != std::string::npos;
  };
  WorkerProcess* victim = busy(*a) ? a.get() : b.get();
  victim->Signal(SIGKILL, absl::Seconds(5));
  EXPECT_THAT(WaitDone({id}, absl::Seconds(30)), ::testing::IsEmpty());
  int starts = 0;
  for (const Effect& e : Effects()) starts += e.id == id && e.phase == "start";
  EXPECT_EQ(starts, 2) << "the killed attempt and the retry, with one invocation id";
}

TEST_F(AsyncTest, AnotherGatewayTakesOverADeadGatewaysEventsAfterTheLease) {
  auto worker = StartWorker("fn", 4, 2);
  ASSERT_TRUE(worker);
  std::string catalog = Catalog({Function("fn", {worker.get()}, 4, json::object(), 2)});
  auto g1 = StartGateway(catalog, GatewayArgs("g1"));
  ASSERT_TRUE(g1);
  std::set<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto [status, id] = Event(g1->port(), "fn", {{"n", i}, {"sleep_ms", 1000}});
    ASSERT_EQ(status, 202);
    ids.insert(id);
  }
  // g1 dies with the events running; g2 (another consumer) must take them over.
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  int started = 0;
  while (started < 4 && absl::Now() < deadline) {
    started = 0;
    for (const Effect& e : Effects()) started += ids.contains(e.id) && e.phase == "start";
    absl::SleepFor(absl::Milliseconds(20));
  }
  g1->Signal(SIGKILL);
  auto g2 = StartGateway(catalog, GatewayArgs("g2"));
  ASSERT_TRUE(g2);
  EXPECT_THAT(WaitDone(ids, absl::Seconds(30)), ::testing::IsEmpty());
  EXPECT_TRUE(g2->WaitForMetric(R"(wisp_async_events_reclaimed_total{function="fn"})", 4));
}

TEST_F(AsyncTest, AnAsyncHttpRouteAnswers202AndTheHandlerGetsTheEventWithThatId) {
  // A handler that records the 2.0 event's request ids beside its own.
  TempDir code;
  code.Write("app.py", std::string(R"PY(
import json
def handler(event, context):
    with open(")PY") + code.path() + R"PY(/seen.log", "a") as f:
        f.write(json.dumps({"context": context.aws_request_id,
                            "event": event["requestContext"]["requestId"],
                            "path": event["rawPath"], "body": event.get("body")}) + "\n")
    return {"statusCode": 200}
)PY");
  auto w = WorkerProcess::Start({"--name=hooks", "--runtime=python3.11", "--handler=app.handler",
                                 "--code=" + code.path()});
  ASSERT_TRUE(w.ok()) << w.status();
  json fn = Function("hooks", {w->get()}, 1);
  fn["routes"] = {{{"path", "/hook"}, {"methods", {"POST"}}, {"async", true}}};
  auto gw = StartGateway(Catalog({fn}), GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  httplib::Client c("127.0.0.1", gw->port());
  auto r = c.Post("/hook", R"({"order":7})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  std::string id = r->get_header_value("x-amzn-RequestId");
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(json::parse(r->body)["requestId"], id);
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  json seen;
  while (seen.is_null() && absl::Now() < deadline) {
    std::ifstream in(code.path() + "/seen.log");
    std::string line;
    if (std::getline(in, line)) seen = json::parse(line, nullptr, false);
    if (seen.is_null()) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(seen.is_object()) << "the handler never ran";
  EXPECT_EQ(seen["context"], id);
  EXPECT_EQ(seen["event"], id);
  EXPECT_EQ(seen["path"], "/hook");
  EXPECT_EQ(seen["body"], R"({"order":7})");

  // The same route on a gateway without Redis is a clear 503, never a 202.
  auto plain = StartGateway(Catalog({fn}), {});
  ASSERT_TRUE(plain);
  httplib::Client p("127.0.0.1", plain->port());
  auto refused = p.Post("/hook", "{}", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_THAT(refused->body, HasSubstr("--redis"));
}

TEST_F(AsyncTest, TheAsyncExampleRunsAsDocumented) {
  // deploy/examples/async-python.yaml as the operator reads it: its inline code in a worker,
  // its async policy through the routing snapshot into the gateway's catalog.
  RunResult yaml = RunProcess(
      {"/usr/bin/python3", "-c",
       "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
       SourceDir() + "/deploy/examples/async-python.yaml"},
      "", absl::Seconds(30));
  ASSERT_EQ(yaml.exit_code, 0) << yaml.stderr_text;
  json object = json::parse(yaml.stdout_text);
  RoutingTable table = BuildRouting({object}, {});
  ASSERT_EQ(table.functions.size(), 1u) << "the example is not a valid Function";
  const RoutingFunction& fn = table.functions[0];
  EXPECT_EQ(fn.async.max_retries, 2);
  EXPECT_EQ(fn.async.on_failure.stream, "async-python-failed");
  TempDir code;
  code.Write("app.py", object["spec"]["code"]["inline"].get<std::string>());
  auto w = WorkerProcess::Start({"--name=async-python", "--runtime=python3.11",
                                 "--handler=" + object["spec"]["handler"].get<std::string>(),
                                 "--code=" + code.path(), "--concurrency=2"});
  ASSERT_TRUE(w.ok()) << w.status();
  json async = {{"maxRetries", fn.async.max_retries},
                {"maxEventAgeSeconds", fn.async.max_event_age_seconds},
                {"onFailure", {{"stream", fn.async.on_failure.stream}}},
                {"onSuccess", {{"stream", fn.async.on_success.stream}}}};
  auto gw = StartGateway(Catalog({Function("async-python", {w->get()}, 2, async)}),
                         GatewayArgs("g1"));
  ASSERT_TRUE(gw);
  auto [ok_status, ok_id] = Event(gw->port(), "async-python", {{"order", 1}});
  auto [fail_status, fail_id] = Event(gw->port(), "async-python", {{"order", 2}, {"fail", true}});
  ASSERT_EQ(ok_status, 202);
  ASSERT_EQ(fail_status, 202);
  std::vector<redis::StreamEntry> done = WaitStream("async-python-done", 1);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(json::parse(Field(done[0], "body"))["responsePayload"]["processed"], 1);
  std::vector<redis::StreamEntry> failed = WaitStream("async-python-failed", 1);
  ASSERT_EQ(failed.size(), 1u);
  json record = json::parse(Field(failed[0], "body"));
  EXPECT_EQ(record["requestContext"]["requestId"], fail_id);
  EXPECT_EQ(record["requestContext"]["approximateInvokeCount"], 3);
  EXPECT_EQ(record["responsePayload"]["errorMessage"], "order 2 cannot be processed");
  // Three attempts, each logged with the one invocation id.
  std::string log = (*w)->Stdout();
  int attempts = 0;
  for (size_t at = log.find("attempt for " + fail_id); at != std::string::npos;
       at = log.find("attempt for " + fail_id, at + 1)) {
    ++attempts;
  }
  EXPECT_EQ(attempts, 3);
}

}  // namespace
}  // namespace wisp::testing
