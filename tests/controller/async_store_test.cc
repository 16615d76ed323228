// The async store and stream operations against a real redis-server (AOF, appendfsync always).
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "controller/events/async_store.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/redis_process.h"

namespace wisp::events {
namespace {

using redis::Client;
using redis::StreamEntry;

class AsyncStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<testing::RedisProcess>> r = testing::RedisProcess::Start();
    ASSERT_TRUE(r.ok()) << r.status();
    redis_ = std::move(*r);
    client_ = std::make_unique<Client>(redis::ClientOptions{.address = redis_->address()});
    store_ = std::make_unique<AsyncStore>(client_.get());
  }

  AsyncEvent Event(const std::string& id) {
    AsyncEvent e;
    e.invocation_id = id;
    e.payload = "{\"id\":\"" + id + "\"}";
    e.enqueued_ms = absl::ToUnixMillis(absl::Now());
    return e;
  }

  std::vector<StreamEntry> Range(const std::string& key) {
    auto r = redis::ReadRange(*client_, key);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : std::vector<StreamEntry>{};
  }

  std::string Field(const StreamEntry& e, const std::string& name) {
    for (const auto& [k, v] : e.fields) {
      if (k == name) return v;
    }
    return "<none>";
  }

  const FunctionKey fn_{"default", "hello"};
  const std::string stream_ = AsyncStreamKey("default", "hello");
  std::unique_ptr<testing::RedisProcess> redis_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<AsyncStore> store_;
};

TEST_F(AsyncStoreTest, EnqueueAppendsAndRefusesBeyondTheBacklogCap) {
  ASSERT_TRUE(store_->Enqueue(fn_, Event("a"), 2).ok());
  ASSERT_TRUE(store_->Enqueue(fn_, Event("b"), 2).ok());
  absl::StatusOr<std::string> third = store_->Enqueue(fn_, Event("c"), 2);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted) << third.status();
  EXPECT_THAT(std::string(third.status().message()), ::testing::HasSubstr("2 async events"));
  std::vector<StreamEntry> entries = Range(stream_);
  ASSERT_EQ(entries.size(), 2u);
  absl::StatusOr<AsyncEvent> first = FromFields(entries[0].fields);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->invocation_id, "a");
}

TEST_F(AsyncStoreTest, AcceptedEventsSurviveRedisBeingKilled) {
  ASSERT_TRUE(store_->Enqueue(fn_, Event("durable"), 100).ok());
  redis_->Kill();
  absl::StatusOr<std::string> down = store_->Enqueue(fn_, Event("lost"), 100);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  ASSERT_TRUE(redis_->Restart().ok());
  std::vector<StreamEntry> entries = Range(stream_);  // reconnects
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(Field(entries[0], "id"), "durable");
}

TEST_F(AsyncStoreTest, CompleteWithRetryMovesTheEventToTheDelayedSetUntilDue) {
  ASSERT_TRUE(redis::EnsureGroup(*client_, stream_, kAsyncGroup).ok());
  ASSERT_TRUE(store_->Enqueue(fn_, Event("r"), 100).ok());
  auto read = redis::ReadNew(*client_, stream_, kAsyncGroup, "gw-1", 10, absl::Milliseconds(100));
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  absl::StatusOr<AsyncEvent> e = FromFields((*read)[0].fields);
  ASSERT_TRUE(e.ok());
  AsyncEvent next = *e;
  next.attempts = 1;
  next.retries = 1;
  AsyncStore::Settle settle;
  settle.retry = next;
  settle.delay = absl::Milliseconds(300);
  ASSERT_TRUE(store_->Complete(fn_, (*read)[0].id, *e, settle, absl::Now()).ok());
  EXPECT_TRUE(Range(stream_).empty());  // acknowledged and deleted
  absl::StatusOr<int> early = store_->PromoteDue(fn_, 10);
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_EQ(*early, 0);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  int promoted = 0;
  while (promoted == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    promoted = store_->PromoteDue(fn_, 10).value_or(0);
  }
  ASSERT_EQ(promoted, 1);
  std::vector<StreamEntry> back = Range(stream_);
  ASSERT_EQ(back.size(), 1u);
  absl::StatusOr<AsyncEvent> again = FromFields(back[0].fields);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->invocation_id, "r");
  EXPECT_EQ(again->attempts, 1);
  EXPECT_EQ(again->payload, e->payload);
  absl::StatusOr<AsyncStore::Backlog> backlog = store_->Measure(fn_, absl::Now());
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(backlog->events, 1);
}

TEST_F(AsyncStoreTest, CompleteWritesDestinationRecords) {
  ASSERT_TRUE(redis::EnsureGroup(*client_, stream_, kAsyncGroup).ok());
  ASSERT_TRUE(store_->Enqueue(fn_, Event("d1"), 100).ok());
  ASSERT_TRUE(store_->Enqueue(fn_, Event("d2"), 100).ok());
  auto read = redis::ReadNew(*client_, stream_, kAsyncGroup, "gw-1", 10, absl::Milliseconds(100));
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 2u);
  AsyncEvent e1 = *FromFields((*read)[0].fields);
  AsyncEvent e2 = *FromFields((*read)[1].fields);
  AsyncStore::Settle to_stream{.record = "{\"r\":1}", .condition = "RetriesExhausted",
                               .record_stream = "failures"};
  ASSERT_TRUE(store_->Complete(fn_, (*read)[0].id, e1, to_stream, absl::Now()).ok());
  AsyncStore::Settle to_function{.record = "{\"r\":2}", .condition = "Success",
                                 .record_function = "audit"};
  ASSERT_TRUE(store_->Complete(fn_, (*read)[1].id, e2, to_function, absl::Now()).ok());

  std::vector<StreamEntry> failures = Range("failures");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(Field(failures[0], "body"), "{\"r\":1}");
  EXPECT_EQ(Field(failures[0], "condition"), "RetriesExhausted");
  EXPECT_EQ(Field(failures[0], "requestId"), "d1");
  EXPECT_EQ(Field(failures[0], "function"), "hello");
  std::vector<StreamEntry> audit = Range(AsyncStreamKey("default", "audit"));
  ASSERT_EQ(audit.size(), 1u);
  absl::StatusOr<AsyncEvent> chained = FromFields(audit[0].fields);
  ASSERT_TRUE(chained.ok());
  EXPECT_EQ(chained->payload, "{\"r\":2}");
  EXPECT_EQ(chained->invocation_id, "d2-Success");
  EXPECT_TRUE(Range(stream_).empty());
  absl::StatusOr<redis::Reply> pending = client_->Command({"XPENDING", stream_, kAsyncGroup});
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->elements[0].integer, 0);
}

TEST_F(AsyncStoreTest, ATickFiresOnceAndNeverGoesBack) {
  AsyncEvent e = Event("tick");
  EXPECT_EQ(store_->FireTick(fn_, 0, 60000, e).value_or(false), true);
  EXPECT_EQ(store_->FireTick(fn_, 0, 60000, e).value_or(true), false);  // a second operator
  EXPECT_EQ(store_->FireTick(fn_, 0, 0, e).value_or(true), false);      // an older tick
  EXPECT_EQ(store_->FireTick(fn_, 1, 60000, e).value_or(false), true);  // another trigger
  EXPECT_EQ(store_->FireTick(fn_, 0, 120000, e).value_or(false), true);
  EXPECT_EQ(Range(stream_).size(), 3u);
  absl::StatusOr<std::optional<int64_t>> last = store_->LastTick(fn_, 0);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<int64_t>(120000));
  EXPECT_EQ(*store_->LastTick(fn_, 7), std::nullopt);
}

TEST_F(AsyncStoreTest, ClaimIdleTakesOverADeadConsumersEntriesAfterTheLease) {
  ASSERT_TRUE(redis::EnsureGroup(*client_, stream_, kAsyncGroup).ok());
  ASSERT_TRUE(store_->Enqueue(fn_, Event("x"), 100).ok());
  auto read = redis::ReadNew(*client_, stream_, kAsyncGroup, "dead", 10, absl::Milliseconds(100));
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);
  auto none = redis::ClaimIdle(*client_, stream_, kAsyncGroup, "alive", 10, absl::Hours(1),
                               absl::Hours(1));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());  // within the lease
  absl::SleepFor(absl::Milliseconds(120));
  auto claimed = redis::ClaimIdle(*client_, stream_, kAsyncGroup, "alive", 10, absl::Hours(1),
                                  absl::Milliseconds(100));
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  ASSERT_EQ(claimed->size(), 1u);
  EXPECT_EQ((*claimed)[0].deliveries, 2);
  EXPECT_EQ(Field((*claimed)[0], "id"), "x");
  // Its own entries come back after own_idle.
  absl::SleepFor(absl::Milliseconds(60));
  auto own = redis::ClaimIdle(*client_, stream_, kAsyncGroup, "alive", 10, absl::Milliseconds(50),
                              absl::Hours(1));
  ASSERT_TRUE(own.ok());
  ASSERT_EQ(own->size(), 1u);
  EXPECT_EQ((*own)[0].deliveries, 3);
}

TEST_F(AsyncStoreTest, UrlCredentialsAndDatabaseAreUsed) {
  ASSERT_TRUE(client_->Command({"CONFIG", "SET", "requirepass", "pw"}).ok());
  Client wrong({.address = "redis://:nope@" + redis_->address()});
  absl::StatusOr<redis::Reply> refused = wrong.Command({"PING"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  Client right({.address = "redis://:pw@" + redis_->address() + "/3"});
  ASSERT_TRUE(right.Command({"SET", "k", "v"}).ok());
  Client db3({.address = "redis://default:pw@" + redis_->address() + "/3"});
  EXPECT_EQ(db3.Command({"GET", "k"})->text(), "v");
  Client db0({.address = "redis://:pw@" + redis_->address()});
  EXPECT_TRUE(db0.Command({"GET", "k"})->is_nil());
}

TEST_F(AsyncStoreTest, ReadNewWithoutAGroupSaysNoGroup) {
  auto read = redis::ReadNew(*client_, "nostream", "g", "c", 1, absl::Milliseconds(10));
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(redis::ErrorCode(read.status()), "NOGROUP");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(RedisAddressTest, Parses) {
  EXPECT_EQ(redis::ParseAddress("10.0.0.1:6380")->port, 6380);
  EXPECT_EQ(redis::ParseAddress("redis://redis.wisp-system:6379/0")->host, "redis.wisp-system");
  EXPECT_EQ(redis::ParseAddress("redis")->port, 6379);
  EXPECT_EQ(redis::ParseAddress("[::1]:7000")->host, "::1");
  absl::StatusOr<redis::Address> full = redis::ParseAddress("redis://app:s3cr%t@redis.local:6380/2");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->user, "app");
  EXPECT_EQ(full->password, "s3cr%t");
  EXPECT_EQ(full->host, "redis.local");
  EXPECT_EQ(full->port, 6380);
  EXPECT_EQ(full->db, 2);
  EXPECT_EQ(redis::ParseAddress("redis://:pw@h")->password, "pw");
  absl::StatusOr<redis::Address> slashed = redis::ParseAddress("redis://u:a/b@c@h:7/1");
  ASSERT_TRUE(slashed.ok()) << slashed.status();
  EXPECT_EQ(slashed->password, "a/b@c");
  EXPECT_EQ(slashed->host, "h");
  EXPECT_EQ(slashed->port, 7);
  EXPECT_EQ(slashed->db, 1);
  EXPECT_EQ(redis::ParseAddress("redis://:pw@h")->user, "");
  EXPECT_FALSE(redis::ParseAddress("rediss://h:6379").ok());
  EXPECT_FALSE(redis::ParseAddress("redis://h:1/x").ok());
  EXPECT_FALSE(redis::ParseAddress(":1").ok());
  EXPECT_FALSE(redis::ParseAddress("h:99999").ok());
}

}  // namespace
}  // namespace wisp::events
