// Table tests of PlanBatch: what a queue consumer acknowledges, leaves for a retry and
// dead-letters after each kind of batch outcome.
#include "gateway/queue_batch.h"

#include "absl/strings/str_cat.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

events::QueueMessage Msg(std::string id, int receive_count, std::string body = "x") {
  return {std::move(id), {{"body", std::move(body)}, {"kind", "order"}}, receive_count};
}

events::QueueTrigger Trigger(int max_receive_count) {
  events::QueueTrigger t;
  t.stream = "orders";
  t.max_receive_count = max_receive_count;
  t.dead_letter_stream = "orders-dlq";
  return t;
}

BatchOutcome Returned(std::string payload) {
  return {BatchOutcome::Kind::kInvoked, std::move(payload), false, ""};
}

std::vector<std::string> DeadIds(const BatchPlan& p) {
  std::vector<std::string> ids;
  for (const DeadLetter& d : p.dead_letters) ids.push_back(d.id);
  return ids;
}

TEST(PlanBatchTest, Table) {
  struct Case {
    std::string name;
    std::vector<events::QueueMessage> batch;
    BatchOutcome outcome;
    int max_receive_count;
    std::vector<std::string> ack, retry, dead, not_invoked;
    std::string reason;  // substring; "" = must be empty
  };
  const std::vector<Case> cases = {
      {"success acknowledges all", {Msg("1-0", 1), Msg("2-0", 1)}, Returned("null"), 5,
       {"1-0", "2-0"}, {}, {}, {}, ""},
      {"empty batchItemFailures is success", {Msg("1-0", 1)},
       Returned(R"({"batchItemFailures":[]})"), 5, {"1-0"}, {}, {}, {}, ""},
      {"non-JSON result is success", {Msg("1-0", 1)}, Returned("not json"), 5, {"1-0"}, {}, {},
       {}, ""},
      {"partial failure retries only the listed item",
       {Msg("1-0", 1), Msg("2-0", 1), Msg("3-0", 1)},
       Returned(R"({"batchItemFailures":[{"itemIdentifier":"2-0"}]})"), 5, {"1-0", "3-0"},
       {"2-0"}, {}, {}, "batchItemFailures"},
      {"partial failure on the last receive dead-letters the item",
       {Msg("1-0", 1), Msg("2-0", 5)},
       Returned(R"({"batchItemFailures":[{"itemIdentifier":"2-0"}]})"), 5, {"1-0"}, {},
       {"2-0"}, {}, "batchItemFailures"},
      {"receive count past the maximum (platform retries) dead-letters on failure",
       {Msg("1-0", 9)}, Returned(R"({"batchItemFailures":[{"itemIdentifier":"1-0"}]})"), 5, {},
       {}, {"1-0"}, {}, "batchItemFailures"},
      {"unknown itemIdentifier fails the whole batch", {Msg("1-0", 1), Msg("2-0", 1)},
       Returned(R"({"batchItemFailures":[{"itemIdentifier":"9-9"}]})"), 5, {}, {"1-0", "2-0"},
       {}, {}, "not in the batch"},
      {"function error fails all; only exhausted ones are dead-lettered",
       {Msg("1-0", 1), Msg("2-0", 3)},
       {BatchOutcome::Kind::kInvoked, R"({"errorType":"ValueError"})", true,
        "ValueError: boom"},
       3, {}, {"1-0"}, {"2-0"}, {}, "ValueError: boom"},
      {"timeout fails all", {Msg("1-0", 1)},
       {BatchOutcome::Kind::kTimedOut, "", false, "no answer within 5s"}, 5, {}, {"1-0"}, {},
       {}, "did not answer in time"},
      {"not invoked leaves all pending, even at the last receive", {Msg("1-0", 5), Msg("2-0", 1)},
       {BatchOutcome::Kind::kNotInvoked, "", false, "throttled"}, 5, {}, {}, {},
       {"1-0", "2-0"}, ""},
      {"maxReceiveCount 1: the first failure dead-letters", {Msg("1-0", 1)},
       {BatchOutcome::Kind::kInvoked, "{}", true, "E: x"}, 1, {}, {}, {"1-0"}, {}, "E: x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BatchPlan p = PlanBatch(c.batch, c.outcome, Trigger(c.max_receive_count), "default/fn");
    EXPECT_EQ(p.ack, c.ack);
    EXPECT_EQ(p.retry, c.retry);
    EXPECT_EQ(DeadIds(p), c.dead);
    EXPECT_EQ(p.not_invoked, c.not_invoked);
    if (c.reason.empty()) {
      EXPECT_THAT(p.reason, IsEmpty());
    } else {
      EXPECT_THAT(p.reason, HasSubstr(c.reason));
    }
  }
}

TEST(PlanBatchTest, DeadLetterKeepsTheMessageAndSaysWhy) {
  BatchPlan p = PlanBatch({Msg("7-1", 3, "poison")},
                          {BatchOutcome::Kind::kInvoked, "{}", true, "KeyError: 'sku'"},
                          Trigger(3), "shop/orders-fn");
  ASSERT_EQ(p.dead_letters.size(), 1u);
  EXPECT_THAT(p.dead_letters[0].fields,
              ElementsAre(Pair("body", "poison"), Pair("kind", "order"),
                          Pair("reason", "the function failed: KeyError: 'sku'"),
                          Pair("receiveCount", "3"), Pair("function", "shop/orders-fn"),
                          Pair("sourceStream", "orders"), Pair("messageId", "7-1")));
}

TEST(PlanBatchTest, DeadLetterKeepsTheFirstFieldsOfAVeryWideMessage) {
  events::QueueMessage wide{"7-2", {}, 1};
  for (size_t i = 0; i < kMaxDeadLetterFields + 500; ++i) {
    wide.fields.emplace_back(absl::StrCat("f", i), "x");
  }
  std::vector<std::pair<std::string, std::string>> f =
      DeadLetterFields(wide, "E: x", "orders", "default/fn");
  ASSERT_EQ(f.size(), kMaxDeadLetterFields + 6);
  EXPECT_EQ(f[kMaxDeadLetterFields - 1].first, absl::StrCat("f", kMaxDeadLetterFields - 1));
  EXPECT_THAT(std::vector(f.begin() + kMaxDeadLetterFields, f.end()),
              ElementsAre(Pair("truncated", "500"), Pair("reason", "E: x"),
                          Pair("receiveCount", "1"), Pair("function", "default/fn"),
                          Pair("sourceStream", "orders"), Pair("messageId", "7-2")));

  // The body is kept even when it comes after the cap.
  wide.fields.emplace_back("body", "the body");
  f = DeadLetterFields(wide, "E: x", "orders", "default/fn");
  ASSERT_EQ(f.size(), kMaxDeadLetterFields + 7);
  EXPECT_THAT(f[kMaxDeadLetterFields], Pair("body", "the body"));
  EXPECT_THAT(f[kMaxDeadLetterFields + 1], Pair("truncated", "500"));

  // Exactly at the cap: nothing is left out, no "truncated".
  wide.fields.resize(kMaxDeadLetterFields);
  EXPECT_EQ(DeadLetterFields(wide, "E: x", "orders", "default/fn").size(),
            kMaxDeadLetterFields + 5);
}

}  // namespace
}  // namespace wisp::gateway
