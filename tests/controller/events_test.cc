// Table tests of the async/queue/schedule event model (pure).
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controller/events/async_event.h"
#include "controller/events/scheduled_event.h"
#include "controller/events/sqs_event.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace wisp::events {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

AsyncEvent Sample() {
  AsyncEvent e;
  e.invocation_id = "8f0c9d3e-0000-4000-8000-000000000001";
  e.payload = std::string("{\"k\":1}\0\xff binary", 17);
  e.enqueued_ms = 1795792161636;
  e.attempts = 1;
  e.retries = 3;
  e.client_context = "e30=";
  e.last_error = R"({"errorType":"Error"})";
  return e;
}

TEST(AsyncEventTest, KeysShareOneHashTagPerFunction) {
  EXPECT_EQ(AsyncStreamKey("default", "hello"), "wisp:{default/hello}:async");
  EXPECT_EQ(DelayedKey("default", "hello"), "wisp:{default/hello}:delayed");
  EXPECT_EQ(TickKey("team-a", "cron", 2), "wisp:{team-a/cron}:tick:2");
  EXPECT_EQ(DeadLetterStream("orders"), "orders-dlq");
}

TEST(AsyncEventTest, FieldsRoundTripBinaryPayloads) {
  AsyncEvent e = Sample();
  absl::StatusOr<AsyncEvent> back = FromFields(ToFields(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);
}

TEST(AsyncEventTest, DelayedMembersRoundTrip) {
  AsyncEvent e = Sample();
  absl::StatusOr<AsyncEvent> back = DecodeDelayed(EncodeDelayed(e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, e);
  EXPECT_FALSE(DecodeDelayed("not msgpack").ok());
}

TEST(AsyncEventTest, FromFieldsNamesWhatIsWrong) {
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string want;
  };
  std::vector<Case> cases = {
      {"no id", {{"payload", "x"}, {"enqueued", "1"}}, "no field id"},
      {"no payload", {{"id", "a"}, {"enqueued", "1"}}, "no field payload"},
      {"no enqueued", {{"id", "a"}, {"payload", ""}}, "no field enqueued"},
      {"bad number", {{"id", "a"}, {"payload", ""}, {"enqueued", "x"}}, "field enqueued"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<AsyncEvent> e = FromFields(c.fields);
    ASSERT_FALSE(e.ok());
    EXPECT_THAT(std::string(e.status().message()), ::testing::HasSubstr(c.want));
  }
}

TEST(AsyncEventTest, DecisionTable) {
  const absl::Time t0 = absl::FromUnixMillis(1795792161636);
  AsyncPolicy policy;  // 2 retries, 6 h
  RetryOptions retry;  // 1 min doubling; platform 1 s doubling to 5 min
  AsyncEvent fresh;
  fresh.invocation_id = "id";
  fresh.enqueued_ms = absl::ToUnixMillis(t0);
  AsyncEvent once = fresh;
  once.attempts = 1;
  once.retries = 1;
  AsyncEvent twice = fresh;
  twice.attempts = 2;
  twice.retries = 2;
  AsyncEvent many_platform = fresh;
  many_platform.retries = 20;
  AsyncPolicy short_age = policy;
  short_age.max_event_age_seconds = 60;
  AsyncPolicy no_retries = policy;
  no_retries.max_retries = 0;

  struct Case {
    std::string name;
    AsyncEvent event;
    Outcome outcome;
    AsyncPolicy policy;
    absl::Time now;
    Decision::Kind kind;
    absl::Duration delay;
    std::string condition;
    int attempts;
  };
  std::vector<Case> cases = {
      {"success", fresh, Outcome::kSuccess, policy, t0, Decision::Kind::kSucceed, {}, "", 0},
      {"first function error", fresh, Outcome::kFunctionError, policy, t0, Decision::Kind::kRetry,
       absl::Minutes(1), "", 1},
      {"second function error", once, Outcome::kFunctionError, policy, t0, Decision::Kind::kRetry,
       absl::Minutes(2), "", 2},
      {"third function error", twice, Outcome::kFunctionError, policy, t0, Decision::Kind::kFail,
       {}, "RetriesExhausted", 3},
      {"maxRetries 0", fresh, Outcome::kFunctionError, no_retries, t0, Decision::Kind::kFail, {},
       "RetriesExhausted", 1},
      {"throttle is not an attempt", twice, Outcome::kThrottled, policy, t0,
       Decision::Kind::kRetry, absl::Seconds(4), "", 2},
      {"platform backoff is capped", many_platform, Outcome::kPlatformError, policy, t0,
       Decision::Kind::kRetry, absl::Minutes(5), "", 0},
      {"retry after the maximum age", fresh, Outcome::kFunctionError, short_age,
       t0 + absl::Seconds(30), Decision::Kind::kFail, {}, "EventAgeExceeded", 1},
      {"platform retry within the age", fresh, Outcome::kPlatformError, short_age,
       t0 + absl::Seconds(30), Decision::Kind::kRetry, absl::Seconds(1), "", 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Decision d = Decide(c.event, c.outcome, "{}", c.policy, retry, c.now);
    EXPECT_EQ(d.kind, c.kind);
    if (c.kind == Decision::Kind::kRetry) {
      EXPECT_EQ(d.delay, c.delay);
      EXPECT_EQ(d.next.retries, c.event.retries + 1);
    }
    EXPECT_EQ(d.condition, c.condition);
    EXPECT_EQ(d.next.attempts, c.attempts);
    EXPECT_EQ(d.next.invocation_id, c.event.invocation_id);  // stable across retries
  }
}

TEST(AsyncEventTest, ExpiredAtTheMaximumAge) {
  AsyncEvent e;
  e.enqueued_ms = 0;
  AsyncPolicy p;
  p.max_event_age_seconds = 60;
  EXPECT_FALSE(Expired(e, p, absl::FromUnixSeconds(60)));
  EXPECT_TRUE(Expired(e, p, absl::FromUnixSeconds(61)));
}

TEST(AsyncEventTest, DestinationRecordHasLambdasShape) {
  AsyncEvent e = Sample();
  e.payload = R"({"order":7})";
  RecordInput in{&e, "arn:aws:lambda:us-east-1:000000000000:function:pay", "RetriesExhausted", 3,
                 R"({"errorType":"Error","errorMessage":"boom"})", true,
                 absl::FromUnixMillis(1795792161636)};
  json r = json::parse(DestinationRecord(in));
  EXPECT_EQ(r["version"], "1.0");
  EXPECT_EQ(r["timestamp"], "2026-11-27T15:09:21.636Z");
  EXPECT_EQ(r["requestContext"]["requestId"], e.invocation_id);
  EXPECT_EQ(r["requestContext"]["condition"], "RetriesExhausted");
  EXPECT_EQ(r["requestContext"]["approximateInvokeCount"], 3);
  EXPECT_EQ(r["requestContext"]["functionArn"], in.function_arn);
  EXPECT_EQ(r["requestPayload"]["order"], 7);
  EXPECT_EQ(r["responseContext"]["functionError"], "Unhandled");
  EXPECT_EQ(r["responseContext"]["statusCode"], 200);
  EXPECT_EQ(r["responsePayload"]["errorMessage"], "boom");

  e.payload = "plain text";
  in.function_error = false;
  in.condition = "Success";
  in.response = "\"ok\"";
  r = json::parse(DestinationRecord(in));
  EXPECT_EQ(r["requestPayload"], "plain text");
  EXPECT_FALSE(r["responseContext"].contains("functionError"));
  EXPECT_EQ(r["responsePayload"], "ok");

  in.invoke_count = 0;  // expired before any attempt
  r = json::parse(DestinationRecord(in));
  EXPECT_FALSE(r.contains("responsePayload"));
}

TEST(SqsEventTest, RecordsHaveTheSqsShape) {
  QueueMessage a{"1795792161636-0", {{"body", "{\"n\":1}"}, {"kind", "order"}}, 1};
  QueueMessage b{"1795792161637-3", {{"n", "2"}}, 4};
  SqsContext c{"orders", "eu-west-1", "123456789012", 1795792170000};
  json event = json::parse(SqsEvent({a, b}, c));
  ASSERT_EQ(event["Records"].size(), 2u);
  const json& r = event["Records"][0];
  EXPECT_EQ(r["messageId"], "1795792161636-0");
  EXPECT_EQ(r["body"], "{\"n\":1}");
  EXPECT_EQ(r["eventSource"], "aws:sqs");
  EXPECT_EQ(r["eventSourceARN"], "arn:aws:sqs:eu-west-1:123456789012:orders");
  EXPECT_EQ(r["awsRegion"], "eu-west-1");
  EXPECT_EQ(r["md5OfBody"], "082c26c8a6bc75226a31da5495cc9292");
  EXPECT_EQ(r["attributes"]["ApproximateReceiveCount"], "1");
  EXPECT_EQ(r["attributes"]["SentTimestamp"], "1795792161636");
  EXPECT_EQ(r["attributes"]["ApproximateFirstReceiveTimestamp"], "1795792170000");
  EXPECT_EQ(r["messageAttributes"]["kind"]["stringValue"], "order");
  EXPECT_EQ(r["messageAttributes"]["kind"]["dataType"], "String");
  EXPECT_FALSE(r["receiptHandle"].get<std::string>().empty());
  // No body field: the fields as a JSON object.
  EXPECT_EQ(json::parse(event["Records"][1]["body"].get<std::string>())["n"], "2");
  EXPECT_EQ(event["Records"][1]["attributes"]["ApproximateReceiveCount"], "4");
}

TEST(SqsEventTest, BatchResponseRules) {
  std::vector<std::string> ids = {"1-0", "2-0", "3-0"};
  struct Case {
    std::string name;
    std::string payload;
    bool function_error;
    bool all_failed;
    std::vector<std::string> failed;
  };
  std::vector<Case> cases = {
      {"function error", "{}", true, true, ids},
      {"null result", "null", false, false, {}},
      {"not JSON", "done", false, false, {}},
      {"no field", R"({"ok":true})", false, false, {}},
      {"empty list", R"({"batchItemFailures":[]})", false, false, {}},
      {"null list", R"({"batchItemFailures":null})", false, false, {}},
      {"two failed", R"({"batchItemFailures":[{"itemIdentifier":"3-0"},{"itemIdentifier":"1-0"}]})",
       false, false, {"1-0", "3-0"}},
      {"unknown id", R"({"batchItemFailures":[{"itemIdentifier":"9-0"}]})", false, true, ids},
      {"empty id", R"({"batchItemFailures":[{"itemIdentifier":""}]})", false, true, ids},
      {"missing id", R"({"batchItemFailures":[{}]})", false, true, ids},
      {"not a list", R"({"batchItemFailures":"1-0"})", false, true, ids},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BatchResult r = ParseBatchResponse(c.payload, c.function_error, "boom", ids);
    EXPECT_EQ(r.all_failed, c.all_failed);
    EXPECT_EQ(r.failed, c.failed);
    EXPECT_EQ(r.reason.empty(), c.failed.empty());
  }
}

TEST(ScheduledEventTest, EventBridgeShapeAndStableIds) {
  Tick tick{"default", "nightly", 1, absl::FromUnixSeconds(1795780800)};
  json e = json::parse(ScheduledEvent(tick, "us-east-1", "000000000000"));
  EXPECT_EQ(e["detail-type"], "Scheduled Event");
  EXPECT_EQ(e["source"], "aws.events");
  EXPECT_EQ(e["version"], "0");
  EXPECT_EQ(e["time"], "2026-11-27T12:00:00Z");
  EXPECT_EQ(e["account"], "000000000000");
  EXPECT_THAT(e["resources"],
              ElementsAre("arn:aws:events:us-east-1:000000000000:rule/default-nightly-schedule-1"));
  EXPECT_TRUE(e["detail"].is_object());
  EXPECT_THAT(e["detail"], IsEmpty());
  std::string id = TickInvocationId(tick);
  EXPECT_EQ(e["id"], id);
  EXPECT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '5');  // version 5
  EXPECT_EQ(TickInvocationId(tick), id);
  Tick next = tick;
  next.scheduled += absl::Minutes(1);
  EXPECT_NE(TickInvocationId(next), id);
  Tick other = tick;
  other.function = "hourly";
  EXPECT_NE(TickInvocationId(other), id);
}

}  // namespace
}  // namespace wisp::events
