// Queue triggers end to end: a real redis-server (AOF, fsync always), real wisp-worker processes
// running a real python handler written for Lambda's SQS trigger, and the gateway's
// QueueConsumers in-process in front of a real Dispatcher over gRPC (or the wisp-gateway
// process, for the SIGKILL test).
//
// The test handler appends one JSON line per record it saw to $EFFECTS/<stream>.log (the
// stream is read from eventSourceARN) and steers by the record's body:
//   "fail"          reported in batchItemFailures on every delivery (a poison message)
//   "flaky:N"       reported failed while ApproximateReceiveCount < N
//   "raise"         the handler raises after recording the batch (the whole batch fails)
//   "hold:<path>"   creates <path>.started, then waits until <path> exists
//   anything else   succeeds
// Nothing sleeps to wait: every wait polls Redis, the side-effect files or metrics with a deadline.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gateway/dispatcher.h"
#include "gateway/grpc_invoker.h"
#include "gateway/queue_consumer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "prometheus/text_serializer.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr char kHandler[] = R"PY(
import json, os, time

EFFECTS = os.environ["EFFECTS"]

def handler(event, context):
    records = event["Records"]
    stream = records[0]["eventSourceARN"].rsplit(":", 1)[1]
    failures, lines, crash = [], [], False
    for record in records:
        assert record["eventSource"] == "aws:sqs", record
        body = record["body"]
        count = int(record["attributes"]["ApproximateReceiveCount"])
        outcome = "ok"
        if body.startswith("hold:"):
            gate = body[5:]
            open(gate + ".started", "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.01)
        if body == "fail" or (body.startswith("flaky:") and count < int(body.split(":")[1])):
            failures.append({"itemIdentifier": record["messageId"]})
            outcome = "failed"
        if body == "raise":
            crash = True
            outcome = "raised"
        lines.append(json.dumps({"id": record["messageId"], "body": body, "count": count,
                                 "request": context.aws_request_id, "size": len(records),
                                 "outcome": outcome, "attributes": record["messageAttributes"],
                                 "function": context.function_name}))
    with open(os.path.join(EFFECTS, stream + "." + context.function_name + ".log"), "a") as f:
        f.write("\n".join(lines) + "\n")
    if crash:
        raise RuntimeError("raised on purpose")
    return {"batchItemFailures": failures}
)PY";

// Polls `cond` every 20 ms until it holds or `timeout` passes.
template <typename Cond>
bool WaitFor(Cond cond, absl::Duration timeout = absl::Seconds(30)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return cond();
}

class QueueTriggerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto redis = RedisProcess::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = redis->release();
    code_ = new TempDir();
    code_->Write("app.py", kHandler);
    effects_ = new TempDir();
    for (const char* name : {"sqs", "sqs2"}) {
      auto w = WorkerProcess::Start({absl::StrCat("--name=", name), "--runtime=python3.11",
                                     "--handler=app.handler", "--code=" + code_->path(),
                                     "--concurrency=2", "--timeout=5",
                                     "--env=EFFECTS=" + effects_->path()});
      ASSERT_TRUE(w.ok()) << w.status();
      workers_[name] = w->release();
    }
  }
  static void TearDownTestSuite() {
    for (auto& [name, w] : workers_) delete w;
    workers_.clear();
    delete code_;
    delete effects_;
    delete redis_;
  }

  void SetUp() override {
    if (redis_ == nullptr || workers_.size() != 2) GTEST_SKIP() << "set-up failed";
    redis::ClientOptions o;
    o.address = redis_->address();
    client_ = std::make_unique<redis::Client>(o);
  }
  void TearDown() override {
    if (consumers_) consumers_->Stop();
    consumers_.reset();
    dispatcher_.reset();
  }

  static gateway::FunctionInfo Function(const std::string& name) {
    gateway::FunctionInfo f;
    f.name = name;
    f.timeout_seconds = 5;
    f.endpoints = {{workers_.at(name)->target(), 2}};
    return f;
  }
  static events::QueueTrigger Trigger(const std::string& stream, int batch_size = 10,
                                      int window_seconds = 0, int max_receive_count = 5) {
    events::QueueTrigger t;
    t.stream = stream;
    t.batch_size = batch_size;
    t.batch_window_seconds = window_seconds;
    t.max_receive_count = max_receive_count;
    t.dead_letter_stream = events::DeadLetterStream(stream);
    return t;
  }
  static std::shared_ptr<const gateway::Snapshot> Snap(std::vector<gateway::FunctionInfo> fns) {
    auto s = std::make_shared<gateway::Snapshot>();
    for (auto& f : fns) s->functions[f.name] = f;
    return s;
  }

  // Starts in-process consumers (consumer name `consumer`) on `snapshot`.
  void StartConsumers(std::shared_ptr<const gateway::Snapshot> snapshot,
                      absl::Duration retry_delay = absl::Seconds(30),
                      const std::string& consumer = "test-gateway") {
    gateway::Dispatcher::Options dopts;
    dopts.queue_timeout = absl::Seconds(1);
    dispatcher_ = std::make_unique<gateway::Dispatcher>(dopts, &invoker_);
    dispatcher_->Update(snapshot);
    registry_ = std::make_shared<prometheus::Registry>();
    gateway::QueueConsumerOptions qopts;
    qopts.redis_address = redis_->address();
    qopts.consumer = consumer;
    qopts.retry_delay = retry_delay;
    qopts.queue_wait = dopts.queue_timeout;
    qopts.lease_margin = absl::ZeroDuration();
    qopts.claim_interval = absl::Milliseconds(50);
    qopts.poll = absl::Milliseconds(200);
    qopts.backoff_max = absl::Milliseconds(500);
    gateway::Dispatcher* d = dispatcher_.get();
    consumers_ = std::make_unique<gateway::QueueConsumers>(
        qopts,
        [this, d](const std::string& fn, const v1::InvokeRequest& r) {
          // The next `throttle_` batches are refused as the dispatcher refuses a throttled one.
          for (int left = throttle_.load(); left > 0;) {
            if (throttle_.compare_exchange_weak(left, left - 1)) {
              gateway::DispatchResult throttled;
              throttled.kind = gateway::DispatchResult::Kind::kThrottled;
              throttled.message = "throttled by the test";
              return throttled;
            }
          }
          return d->Invoke(fn, r);
        },
        registry_);
    consumers_->Update(snapshot);
  }

  std::string XAdd(const std::string& stream, const std::string& body,
                   std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> fields = {{"body", body}};
    fields.insert(fields.end(), extra.begin(), extra.end());
    absl::StatusOr<redis::Reply> r;
    // A Redis that was just restarted costs the client its connection once.
    WaitFor([&] { return (r = client_->Command(redis::XAddCommand(stream, fields))).ok(); },
            absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->text() : "";
  }

  // Every record the handler saw for `stream` as function `function`.
  static std::vector<json> Effects(const std::string& stream, const std::string& function = "sqs") {
    std::ifstream in(absl::StrCat(effects_->path(), "/", stream, ".", function, ".log"));
    std::vector<json> out;
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(j);
    }
    return out;
  }
  // Message ids the handler succeeded for.
  static std::set<std::string> Succeeded(const std::string& stream,
                                         const std::string& function = "sqs") {
    std::set<std::string> ids;
    for (const json& e : Effects(stream, function)) {
      if (e["outcome"] == "ok") ids.insert(e["id"].get<std::string>());
    }
    return ids;
  }

  // Entries of the group's pending list (-1 when Redis cannot say).
  int64_t Pending(const std::string& stream, const std::string& group = "wisp:default/sqs") {
    absl::StatusOr<redis::Reply> r = client_->Command({"XPENDING", stream, group});
    if (!r.ok() || !r->is_array() || r->elements.empty()) return -1;
    return r->elements[0].integer;
  }
  std::vector<redis::StreamEntry> Range(const std::string& stream) {
    auto r = redis::ReadRange(*client_, stream);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<redis::StreamEntry>{};
  }

  // A counter or gauge of the in-process consumers, by its exact series text.
  double Metric(const std::string& series) {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, registry_->Collect());
    std::istringstream lines(out.str());
    std::string line;
    while (std::getline(lines, line)) {
      if (absl::StartsWith(line, series + " ")) {
        double v = 0;
        if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
      }
    }
    return 0;
  }
  static std::string Series(const std::string& name, const std::string& stream,
                            const std::string& function = "sqs") {
    return absl::StrCat(name, "{function=\"", function, "\",stream=\"", stream, "\"}");
  }

  static RedisProcess* redis_;
  static TempDir* code_;
  static TempDir* effects_;
  static std::map<std::string, WorkerProcess*> workers_;

  gateway::GrpcInvoker invoker_;
  std::unique_ptr<gateway::Dispatcher> dispatcher_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<gateway::QueueConsumers> consumers_;
  std::unique_ptr<redis::Client> client_;
  std::atomic<int> throttle_{0};
};

RedisProcess* QueueTriggerTest::redis_ = nullptr;
TempDir* QueueTriggerTest::code_ = nullptr;
TempDir* QueueTriggerTest::effects_ = nullptr;
std::map<std::string, WorkerProcess*> QueueTriggerTest::workers_;

gateway::FunctionInfo WithQueue(gateway::FunctionInfo f, events::QueueTrigger t) {
  f.queues.push_back(std::move(t));
  return f;
}

TEST_F(QueueTriggerTest, EveryMessageIsDeliveredOnceInBatchesAndAcknowledged) {
  // Sent before the trigger exists: delivered too, as from an SQS queue.
  std::set<std::string> sent;
  for (int i = 0; i < 25; ++i) sent.insert(XAdd("everything", absl::StrCat("ok-", i)));
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("everything", 10))}));
  for (int i = 25; i < 30; ++i) sent.insert(XAdd("everything", absl::StrCat("ok-", i)));

  ASSERT_TRUE(WaitFor([&] { return Succeeded("everything") == sent; }))
      << Effects("everything").size() << " records seen";
  ASSERT_TRUE(WaitFor([&] { return Pending("everything") == 0; }));
  std::map<std::string, int> deliveries;
  for (const json& e : Effects("everything")) {
    ++deliveries[e["id"].get<std::string>()];
    EXPECT_LE(e["size"].get<int>(), 10) << e;
    EXPECT_EQ(e["count"], 1) << e;
  }
  for (const auto& [id, n] : deliveries) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(Metric(Series("wisp_queue_messages_received_total", "everything")), 30);
  ASSERT_TRUE(WaitFor([&] {
    return Metric(Series("wisp_queue_messages_succeeded_total", "everything")) == 30;
  }));
  EXPECT_EQ(Metric(Series("wisp_queue_messages_failed_total", "everything")), 0);
  // Acknowledged, never deleted: other consumer groups may still read the stream.
  EXPECT_EQ(Range("everything").size(), 30u);
  EXPECT_EQ(Range("everything-dlq").size(), 0u);
}

TEST_F(QueueTriggerTest, TheBatchWindowGathersUpToTheBatchSize) {
  // A long window: the batch is invoked as soon as it is full, not when the window ends.
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("window", 5, 60))}));
  std::set<std::string> sent;
  for (int i = 0; i < 5; ++i) sent.insert(XAdd("window", absl::StrCat("w-", i)));
  ASSERT_TRUE(WaitFor([&] { return Succeeded("window") == sent; }));
  std::set<std::string> requests;
  for (const json& e : Effects("window")) requests.insert(e["request"].get<std::string>());
  EXPECT_EQ(requests.size(), 1u) << "five messages within the window make one batch";
  EXPECT_EQ(Effects("window")[0]["size"], 5);

  // A short window: fewer messages than the batch size are invoked when it ends.
  consumers_->Update(Snap({WithQueue(Function("sqs"), Trigger("window", 5, 1))}));
  std::string a = XAdd("window", "late-1"), b = XAdd("window", "late-2");
  ASSERT_TRUE(WaitFor([&] { return Succeeded("window").contains(b); }));
  EXPECT_TRUE(Succeeded("window").contains(a));
  EXPECT_EQ(Metric(Series("wisp_queue_messages_received_total", "window")), 7);
}

TEST_F(QueueTriggerTest, PartialBatchFailuresRetryOnlyTheFailedItems) {
  std::set<std::string> ok;
  for (int i = 0; i < 4; ++i) ok.insert(XAdd("partial", absl::StrCat("ok-", i)));
  std::string flaky = XAdd("partial", "flaky:3");  // fails on deliveries 1 and 2
  for (int i = 4; i < 8; ++i) ok.insert(XAdd("partial", absl::StrCat("ok-", i)));
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("partial", 10, 0, 5))}),
                 absl::Milliseconds(300));

  ASSERT_TRUE(WaitFor([&] { return Succeeded("partial").contains(flaky); }));
  ASSERT_TRUE(WaitFor([&] { return Pending("partial") == 0; }));
  std::map<std::string, std::vector<int>> counts;
  for (const json& e : Effects("partial")) counts[e["id"]].push_back(e["count"].get<int>());
  for (const std::string& id : ok) {
    EXPECT_EQ(counts[id], std::vector<int>{1}) << id << ": succeeded, so never re-delivered";
  }
  EXPECT_EQ(counts[flaky], (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(Succeeded("partial").size(), 9u);
  EXPECT_EQ(Metric(Series("wisp_queue_messages_failed_total", "partial")), 2);
  EXPECT_EQ(Range("partial-dlq").size(), 0u);
}

TEST_F(QueueTriggerTest, APoisonMessageReachesTheDeadLetterStreamAfterMaxReceiveCount) {
  std::set<std::string> ok;
  ok.insert(XAdd("poison", "ok-a"));
  std::string poison = XAdd("poison", "fail", {{"customer", "ada"}});
  ok.insert(XAdd("poison", "ok-b"));
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("poison", 10, 0, 3))}),
                 absl::Milliseconds(200));

  ASSERT_TRUE(WaitFor([&] { return Range("poison-dlq").size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Pending("poison") == 0; }));
  std::vector<redis::StreamEntry> dead = Range("poison-dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::map<std::string, std::string> f(dead[0].fields.begin(), dead[0].fields.end());
  EXPECT_EQ(f["body"], "fail");
  EXPECT_EQ(f["customer"], "ada");
  EXPECT_EQ(f["messageId"], poison);
  EXPECT_EQ(f["receiveCount"], "3");
  EXPECT_EQ(f["function"], "default/sqs");
  EXPECT_EQ(f["sourceStream"], "poison");
  EXPECT_THAT(f["reason"], HasSubstr("batchItemFailures"));
  int attempts = 0;
  for (const json& e : Effects("poison")) {
    if (e["id"] == poison) {
      ++attempts;
      EXPECT_EQ(e["attributes"]["customer"]["stringValue"], "ada");
    }
  }
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(Succeeded("poison"), ok);
  EXPECT_EQ(Metric(Series("wisp_queue_messages_dead_lettered_total", "poison")), 1);
  // Nothing else is dead-lettered once the poison message is gone.
  std::string later = XAdd("poison", "ok-c");
  ASSERT_TRUE(WaitFor([&] { return Succeeded("poison").contains(later); }));
  EXPECT_EQ(Range("poison-dlq").size(), 1u);
}

// Batches that were not invoked (throttled, no capacity, the worker failed) come back without
// using up maxReceiveCount: the message's first real failure is not its last.
TEST_F(QueueTriggerTest, ThrottledDeliveriesDoNotCountTowardsMaxReceiveCount) {
  throttle_ = 3;
  std::string flaky = XAdd("throttled", "flaky:2");  // fails on its first invocation only
  std::string poison = XAdd("throttled", "fail");
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("throttled", 10, 0, 2))}),
                 absl::Milliseconds(200));

  ASSERT_TRUE(WaitFor([&] { return Range("throttled-dlq").size() == 1; }, absl::Seconds(15)));
  ASSERT_TRUE(WaitFor([&] { return Pending("throttled") == 0; }));
  EXPECT_EQ(throttle_.load(), 0);
  EXPECT_EQ(Metric("wisp_queue_batches_total{function=\"sqs\",outcome=\"not_invoked\","
                   "stream=\"throttled\"}"),
            3);
  // ApproximateReceiveCount counts the invocations with the message, not the throttled rounds.
  std::map<std::string, std::vector<int>> counts;
  for (const json& e : Effects("throttled")) counts[e["id"]].push_back(e["count"].get<int>());
  EXPECT_EQ(counts[flaky], (std::vector<int>{1, 2}));
  EXPECT_EQ(counts[poison], (std::vector<int>{1, 2}));
  EXPECT_EQ(Succeeded("throttled"), std::set<std::string>{flaky});
  std::vector<redis::StreamEntry> dead = Range("throttled-dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::map<std::string, std::string> f(dead[0].fields.begin(), dead[0].fields.end());
  EXPECT_EQ(f["messageId"], poison);
  EXPECT_EQ(f["receiveCount"], "2");
}

// A message with more fields than a Lua script can unpack in one call (about 8000 values)
// still reaches the dead-letter stream, with its first fields and how many were left out.
TEST_F(QueueTriggerTest, AMessageWithVeryManyFieldsCanBeDeadLettered) {
  std::vector<std::pair<std::string, std::string>> extra;
  for (int i = 0; i < 4999; ++i) extra.emplace_back(absl::StrCat("a", i), absl::StrCat("v", i));
  std::string wide = XAdd("wide", "fail", extra);  // 5000 fields: 10000 values
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("wide", 10, 0, 1))}),
                 absl::Milliseconds(200));

  ASSERT_TRUE(WaitFor([&] { return Range("wide-dlq").size() == 1; }, absl::Seconds(15)))
      << Metric(Series("wisp_queue_redis_errors_total", "wide")) << " redis errors";
  ASSERT_TRUE(WaitFor([&] { return Pending("wide") == 0; }));
  std::vector<redis::StreamEntry> dead = Range("wide-dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::map<std::string, std::string> f(dead[0].fields.begin(), dead[0].fields.end());
  EXPECT_EQ(f["body"], "fail");
  EXPECT_EQ(f["a998"], "v998");
  EXPECT_FALSE(f.contains("a999"));
  EXPECT_EQ(f["truncated"], "4000");
  EXPECT_EQ(f["messageId"], wide);
  EXPECT_EQ(f["receiveCount"], "1");
  EXPECT_EQ(dead[0].fields.size(), 1000u + 6u);
}

TEST_F(QueueTriggerTest, AFunctionErrorFailsTheWholeBatchWithItsReason) {
  std::string raise = XAdd("raising", "raise");
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("raising", 1, 0, 2))}),
                 absl::Milliseconds(200));
  ASSERT_TRUE(WaitFor([&] { return Range("raising-dlq").size() == 1; }));
  std::vector<redis::StreamEntry> dead = Range("raising-dlq");
  ASSERT_EQ(dead.size(), 1u);
  std::map<std::string, std::string> f(dead[0].fields.begin(), dead[0].fields.end());
  EXPECT_EQ(f["messageId"], raise);
  EXPECT_THAT(f["reason"], HasSubstr("the function failed"));
  EXPECT_THAT(f["reason"], HasSubstr("raised on purpose"));
  EXPECT_EQ(f["receiveCount"], "2");
}

TEST_F(QueueTriggerTest, TwoFunctionsOnOneStreamEachGetEveryMessage) {
  std::set<std::string> sent;
  for (int i = 0; i < 6; ++i) sent.insert(XAdd("shared", absl::StrCat("s-", i)));
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("shared", 4)),
                       WithQueue(Function("sqs2"), Trigger("shared", 4))}));
  ASSERT_TRUE(WaitFor([&] { return Succeeded("shared", "sqs") == sent; }));
  ASSERT_TRUE(WaitFor([&] { return Succeeded("shared", "sqs2") == sent; }));
  EXPECT_TRUE(WaitFor([&] { return Pending("shared", "wisp:default/sqs2") == 0; }));

  // A trigger that disappears stops its consumer; the other keeps going.
  consumers_->Update(Snap({WithQueue(Function("sqs"), Trigger("shared", 4)), Function("sqs2")}));
  // (Stopped without waiting: it may finish a batch it already read.)
  ASSERT_TRUE(WaitFor([&] { return consumers_->Running() == 1; }));
  std::string more = XAdd("shared", "after");
  ASSERT_TRUE(WaitFor([&] { return Succeeded("shared", "sqs").contains(more); }));
  EXPECT_FALSE(Succeeded("shared", "sqs2").contains(more));
}

// A trigger removed and added again while its old consumer still runs a batch: the new
// consumer (same consumer name) starts only once the old one has settled that batch, so the
// batch is not claimed and run a second time alongside it.
TEST_F(QueueTriggerTest, AReaddedTriggerDoesNotRunTheStoppingConsumersBatchAgain) {
  TempDir gates;
  std::string gate = gates.path() + "/gate";
  std::string held = XAdd("readd", "hold:" + gate);
  const auto with = Snap({WithQueue(Function("sqs"), Trigger("readd", 10))});
  StartConsumers(with, absl::Milliseconds(200));
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(gate + ".started"); }));
  consumers_->Update(Snap({Function("sqs")}));  // the old consumer stops after its batch
  consumers_->Update(with);
  EXPECT_EQ(consumers_->Running(), 2);
  // Well past the retry delay while the batch is still running: nobody delivers it again.
  EXPECT_FALSE(WaitFor(
      [&] { return Metric(Series("wisp_queue_messages_received_total", "readd")) > 1; },
      absl::Milliseconds(1500)));
  std::ofstream(gate) << "open";
  ASSERT_TRUE(WaitFor([&] { return Succeeded("readd").contains(held); }));
  ASSERT_TRUE(WaitFor([&] { return Pending("readd") == 0; }));
  ASSERT_TRUE(WaitFor([&] { return consumers_->Running() == 1; }));
  // The new consumer took over.
  std::string next = XAdd("readd", "next");
  ASSERT_TRUE(WaitFor([&] { return Succeeded("readd").contains(next); }));
  std::vector<std::string> seen;
  for (const json& e : Effects("readd")) seen.push_back(e["id"]);
  EXPECT_EQ(seen, (std::vector<std::string>{held, next}));
  EXPECT_EQ(Metric(Series("wisp_queue_messages_received_total", "readd")), 2);
}

TEST_F(QueueTriggerTest, RedisDownIsRetriedAndNothingIsLost) {
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("outage", 10))}));
  std::set<std::string> sent;
  for (int i = 0; i < 5; ++i) sent.insert(XAdd("outage", absl::StrCat("before-", i)));
  ASSERT_TRUE(WaitFor([&] { return Succeeded("outage") == sent; }));
  ASSERT_TRUE(WaitFor([&] { return Pending("outage") == 0; }));

  redis_->Kill();
  ASSERT_TRUE(WaitFor([&] {
    return Metric(Series("wisp_queue_redis_errors_total", "outage")) > 0;
  }));
  ASSERT_TRUE(redis_->Restart().ok());
  for (int i = 0; i < 5; ++i) sent.insert(XAdd("outage", absl::StrCat("after-", i)));
  ASSERT_TRUE(WaitFor([&] { return Succeeded("outage") == sent; }));
  ASSERT_TRUE(WaitFor([&] { return Pending("outage") == 0; }));
}

TEST_F(QueueTriggerTest, AVanishedStreamGetsItsGroupBack) {
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("vanish", 10))}));
  std::string first = XAdd("vanish", "first");
  ASSERT_TRUE(WaitFor([&] { return Succeeded("vanish").contains(first); }));
  ASSERT_TRUE(client_->Command({"DEL", "vanish"}).ok());
  std::string second = XAdd("vanish", "second");  // a new stream without the group
  ASSERT_TRUE(WaitFor([&] { return Succeeded("vanish").contains(second); }));
  EXPECT_GT(Metric(Series("wisp_queue_redis_errors_total", "vanish")), 0);
}

TEST_F(QueueTriggerTest, AHandlerWrittenForLambdasSqsTriggerRunsUnchanged) {
  auto w = WorkerProcess::Start({"--name=queue-python", "--runtime=python3.11",
                                 "--handler=app.handler",
                                 "--code=" + SourceDir() + "/examples/queue-python",
                                 "--timeout=10"});
  ASSERT_TRUE(w.ok()) << w.status();
  gateway::FunctionInfo f;
  f.name = "queue-python";
  f.timeout_seconds = 10;
  f.endpoints = {{(*w)->target(), 1}};
  f.queues.push_back(Trigger("orders", 10, 0, 2));
  XAdd("orders", R"({"orderId": "A-1", "amount": 42})", {{"customer", "ada"}});
  std::string bad = XAdd("orders", "not json");
  XAdd("orders", R"({"orderId": "A-2", "amount": 7.5})");
  StartConsumers(Snap({f}), absl::Milliseconds(200));

  ASSERT_TRUE(WaitFor([&] { return Range("orders-dlq").size() == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Pending("orders", "wisp:default/queue-python") == 0; }));
  std::string log = (*w)->Stdout();
  EXPECT_THAT(log, HasSubstr("processed order A-1 amount=42.00 customer=ada"));
  EXPECT_THAT(log, HasSubstr("processed order A-2 amount=7.50 customer=unknown"));
  EXPECT_THAT(log, HasSubstr("failed message " + bad));
  std::vector<redis::StreamEntry> entries = Range("orders-dlq");
  ASSERT_EQ(entries.size(), 1u);
  std::map<std::string, std::string> dead(entries[0].fields.begin(), entries[0].fields.end());
  EXPECT_EQ(dead["messageId"], bad);
  EXPECT_EQ(dead["body"], "not json");

  // The Function manifest inlines this same code.
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string app = read(SourceDir() + "/examples/queue-python/app.py");
  std::string inlined;
  for (absl::string_view line : absl::StrSplit(absl::StripSuffix(app, "\n"), '\n')) {
    absl::StrAppend(&inlined, line.empty() ? "" : "      ", line, "\n");
  }
  EXPECT_THAT(read(SourceDir() + "/deploy/examples/queue-python.yaml"), HasSubstr(inlined));
}

// The wisp-gateway process consumes; it is SIGKILLed while its batch runs. Another consumer
// takes the batch over after the lease and completes it: nothing is lost.
TEST_F(QueueTriggerTest, AGatewayKilledMidBatchIsTakenOverAndNothingIsLost) {
  TempDir gates;
  std::string gate = gates.path() + "/gate";
  std::set<std::string> sent;
  sent.insert(XAdd("killed", "k-0"));
  sent.insert(XAdd("killed", "hold:" + gate));
  sent.insert(XAdd("killed", "k-2"));
  json catalog = {{"functions",
                   {{{"name", "sqs"},
                     {"timeoutSeconds", 5},
                     {"endpoints", {{{"address", workers_.at("sqs")->target()}, {"capacity", 2}}}},
                     {"queues", {{{"stream", "killed"}, {"batchSize", 10}}}}}}}};
  auto g = GatewayProcess::Start(catalog.dump(),
                                 {"--redis=" + redis_->address(), "--gateway_id=doomed",
                                  "--queue_timeout_ms=1000", "--queue_lease_margin_ms=0",
                                  "--queue_claim_interval_ms=100"});
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(gate + ".started"); }))
      << (*g)->Stderr();
  EXPECT_EQ(Pending("killed"), 3);
  ASSERT_GT((*g)->Signal(SIGKILL), -1);
  std::ofstream(gate) << "open";  // the orphaned invocation ends; its result is lost with it

  // The survivor: lease = queue wait 1 s + timeout 5 s + 2 s margin, as the gateway's own.
  StartConsumers(Snap({WithQueue(Function("sqs"), Trigger("killed", 10))}),
                 absl::Milliseconds(500), "survivor");
  ASSERT_TRUE(WaitFor([&] { return Pending("killed") == 0; }, absl::Seconds(40)));
  std::set<std::string> completed_on_redelivery;
  for (const json& e : Effects("killed")) {
    if (e["outcome"] == "ok" && e["count"].get<int>() >= 2) completed_on_redelivery.insert(e["id"]);
  }
  EXPECT_EQ(completed_on_redelivery, sent);
  EXPECT_EQ(Metric(Series("wisp_queue_messages_succeeded_total", "killed")), 3);
}

}  // namespace
}  // namespace wisp::testing
