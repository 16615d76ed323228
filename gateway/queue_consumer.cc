#include "gateway/queue_consumer.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/base/request_id.h"
#include "controller/events/sqs_event.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gateway/queue_batch.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"

namespace wisp::gateway {
namespace {

// Settles a batch atomically. Successes are acknowledged first; then each dead letter is
// appended to the dead-letter stream and only then acknowledged, so a dead-letter stream that
// refuses the entry (say, a key of the wrong type) aborts the script before that message is
// acknowledged: it stays pending rather than being lost. (MULTI/EXEC would run the XACK even
// after the XADD failed.)
//   KEYS[1] source stream, KEYS[2] dead-letter stream
//   ARGV[1] group, ARGV[2] number of ids to acknowledge (a), ARGV[3] number of dead letters (n),
//   then the a ids, then per dead letter: id, field-and-value count k, the k items.
// Returns the number of entries acknowledged.
constexpr char kSettleScript[] = R"LUA(
local group = ARGV[1]
local a = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local acked = 0
local i = 4
while a > 0 do
  local chunk = math.min(a, 500)
  acked = acked + redis.call('XACK', KEYS[1], group, unpack(ARGV, i, i + chunk - 1))
  i = i + chunk
  a = a - chunk
end
for d = 1, n do
  local id = ARGV[i]
  local k = tonumber(ARGV[i + 1])
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, i + 2, i + 1 + k))
  acked = acked + redis.call('XACK', KEYS[1], group, id)
  i = i + 2 + k
end
return acked
)LUA";

// Takes back the delivery of entries the function was not invoked with (throttled, no
// capacity, the worker failed): each one still pending for this consumer gets its delivery
// count lowered by one (XCLAIM ... RETRYCOUNT <count-1> JUSTID, to the same consumer, keeping
// its idle time), so that only deliveries that reached the function count towards
// maxReceiveCount. Entries meanwhile acknowledged or taken over are left alone.
//   KEYS[1] source stream; ARGV[1] group, ARGV[2] consumer, then the ids.
// Returns the number of entries whose delivery was taken back.
constexpr char kUndeliverScript[] = R"LUA(
local undone = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p == 1 and p[1][4] > 0 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', p[1][3],
               'RETRYCOUNT', p[1][4] - 1, 'JUSTID')
    undone = undone + 1
  end
end
return undone
)LUA";

constexpr absl::Duration kDispatchTimeoutMargin = absl::Seconds(2);

std::string FunctionKey(const FunctionInfo& f) { return absl::StrCat(f.namespace_, "/", f.name); }

}  // namespace

std::string QueueGroup(const FunctionInfo& function) {
  return absl::StrCat("wisp:", FunctionKey(function));
}

// ---------------------------------------------------------------------------------------------
// Metrics.

struct QueueConsumers::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : received(prometheus::BuildCounter()
                     .Name("wisp_queue_messages_received_total")
                     .Help("Queue messages delivered to a function (re-deliveries included)")
                     .Register(r)),
        succeeded(prometheus::BuildCounter()
                      .Name("wisp_queue_messages_succeeded_total")
                      .Help("Queue messages the function succeeded for (acknowledged)")
                      .Register(r)),
        failed(prometheus::BuildCounter()
                   .Name("wisp_queue_messages_failed_total")
                   .Help("Queue messages the function failed for (left for a retry or "
                         "dead-lettered)")
                   .Register(r)),
        dead_lettered(prometheus::BuildCounter()
                          .Name("wisp_queue_messages_dead_lettered_total")
                          .Help("Queue messages moved to the dead-letter stream")
                          .Register(r)),
        batches(prometheus::BuildCounter()
                    .Name("wisp_queue_batches_total")
                    .Help("Batches by outcome: success, partial, failure, not_invoked")
                    .Register(r)),
        redis_errors(prometheus::BuildCounter()
                         .Name("wisp_queue_redis_errors_total")
                         .Help("Redis calls of queue consumers that failed (retried)")
                         .Register(r)),
        batch_size(prometheus::BuildHistogram()
                       .Name("wisp_queue_batch_size_messages")
                       .Help("Messages per batch delivered to a function")
                       .Register(r)),
        lag(prometheus::BuildGauge()
                .Name("wisp_queue_lag_messages")
                .Help("Stream entries not yet delivered to the function's group (XINFO lag)")
                .Register(r)),
        pending(prometheus::BuildGauge()
                    .Name("wisp_queue_pending_messages")
                    .Help("Entries delivered to the function's group and not yet acknowledged")
                    .Register(r)) {}

  prometheus::Family<prometheus::Counter>& received;
  prometheus::Family<prometheus::Counter>& succeeded;
  prometheus::Family<prometheus::Counter>& failed;
  prometheus::Family<prometheus::Counter>& dead_lettered;
  prometheus::Family<prometheus::Counter>& batches;
  prometheus::Family<prometheus::Counter>& redis_errors;
  prometheus::Family<prometheus::Histogram>& batch_size;
  prometheus::Family<prometheus::Gauge>& lag;
  prometheus::Family<prometheus::Gauge>& pending;
};

// ---------------------------------------------------------------------------------------------
// One consumer: a thread with its own Redis connection.

class QueueConsumers::Consumer {
 public:
  // Runs once every `predecessors` (stopping consumers of the same function and stream, whose
  // pending entries are this consumer's too) has finished.
  Consumer(const QueueConsumerOptions& options, QueueInvokeFn* invoke, Metrics* metrics,
           std::string key, FunctionInfo function, events::QueueTrigger trigger,
           std::vector<std::shared_ptr<absl::Notification>> predecessors)
      : options_(options),
        key_(std::move(key)),
        predecessors_(std::move(predecessors)),
        invoke_(invoke),
        metrics_(metrics),
        stream_(trigger.stream),
        group_(QueueGroup(function)),
        labels_{{"function", function.name}, {"stream", trigger.stream}},
        function_(std::move(function)),
        trigger_(std::move(trigger)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Consumer() {
    RequestStop();
    if (thread_.joinable()) thread_.join();
  }

  void Reconfigure(const FunctionInfo& function, const events::QueueTrigger& trigger) {
    absl::MutexLock lock(&mu_);
    function_ = function;
    trigger_ = trigger;
  }
  void RequestStop() {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  bool finished() const { return done_->HasBeenNotified(); }
  const std::string& key() const { return key_; }
  // Notified when the thread has finished (its last batch settled).
  std::shared_ptr<absl::Notification> done() const { return done_; }

 private:
  struct Config {
    FunctionInfo function;
    events::QueueTrigger trigger;
  };

  Config Current() {
    absl::MutexLock lock(&mu_);
    return {function_, trigger_};
  }
  bool Stopping() {
    absl::MutexLock lock(&mu_);
    return stop_;
  }
  // Waits `d` unless a stop is requested first; false when stopping.
  bool Wait(absl::Duration d) {
    mu_.LockWhenWithTimeout(absl::Condition(&stop_), d);
    bool stop = stop_;
    mu_.Unlock();
    return !stop;
  }
  void Backoff() {
    Wait(backoff_);
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
  }

  // How long another consumer's entry must sit idle before it is taken over.
  absl::Duration Lease(const Config& c) const {
    absl::Duration lease = absl::Seconds(c.trigger.batch_window_seconds) + options_.queue_wait +
                           absl::Seconds(c.function.timeout_seconds) + kDispatchTimeoutMargin +
                           options_.lease_margin;
    return std::max(lease, options_.retry_delay);
  }

  void RedisError(absl::string_view op, const absl::Status& status) {
    metrics_->redis_errors.Add(labels_).Increment();
    log::Warn("queue consumer: redis call failed",
              {{"function", labels_.at("function")}, {"stream", stream_}, {"op", op},
               {"error", std::string(status.message())}});
    if (redis::ErrorCode(status) == "NOGROUP") group_ready_ = false;
  }

  void Run() {
    // A consumer of the same function and stream that is stopping may still run a batch: its
    // entries are pending for this same consumer name, so starting now would claim and run
    // them a second time, alongside it, once they are idle for retry_delay.
    for (const std::shared_ptr<absl::Notification>& p : predecessors_) {
      while (!p->WaitForNotificationWithTimeout(absl::Milliseconds(10))) {
        if (Stopping()) break;
      }
    }
    predecessors_.clear();
    if (!Stopping()) Consume();
    done_->Notify();
  }

  void Consume() {
    redis::ClientOptions copts;
    copts.address = options_.redis_address;
    redis::Client client(copts);
    backoff_ = options_.backoff_base;
    log::Info("queue consumer started", {{"function", labels_.at("function")},
                                         {"stream", stream_}, {"group", group_},
                                         {"consumer", options_.consumer}});
    while (!Stopping()) {
      Config config = Current();
      if (!group_ready_) {
        // From the stream's start: messages sent before the trigger existed are delivered too,
        // as an SQS queue's are.
        absl::Status s = redis::EnsureGroup(client, stream_, group_, "0");
        if (!s.ok()) {
          RedisError("XGROUP CREATE", s);
          Backoff();
          continue;
        }
        group_ready_ = true;
      }
      std::vector<redis::StreamEntry> batch;
      if (absl::Status s = Gather(client, config, &batch); !s.ok() && batch.empty()) {
        Backoff();
        continue;
      }
      if (batch.empty()) continue;
      if (RunBatch(client, config, batch)) {
        backoff_ = options_.backoff_base;
      } else {
        Backoff();
      }
    }
    log::Info("queue consumer stopped",
              {{"function", labels_.at("function")}, {"stream", stream_}});
  }

  // Reclaims idle pending entries (every claim_interval), then reads new ones, then waits out
  // the batch window. An error after entries were gathered ends gathering with what is there.
  absl::Status Gather(redis::Client& client, const Config& c, std::vector<redis::StreamEntry>* batch) {
    const int size = std::max(1, c.trigger.batch_size);
    absl::Time now = absl::Now();
    if (now >= next_claim_) {
      next_claim_ = now + options_.claim_interval;
      RefreshLag(client);
      absl::StatusOr<std::vector<redis::StreamEntry>> claimed = redis::ClaimIdle(
          client, stream_, group_, options_.consumer, size, options_.retry_delay, Lease(c));
      if (!claimed.ok()) {
        RedisError("XPENDING/XCLAIM", claimed.status());
        return claimed.status();
      }
      *batch = std::move(*claimed);
    }
    auto read = [&](absl::Duration block) -> absl::Status {
      absl::StatusOr<std::vector<redis::StreamEntry>> got =
          redis::ReadNew(client, stream_, group_, options_.consumer,
                         size - static_cast<int>(batch->size()),
                         std::max(block, absl::Milliseconds(1)));  // BLOCK 0 would be forever
      if (!got.ok()) {
        RedisError("XREADGROUP", got.status());
        return got.status();
      }
      for (redis::StreamEntry& e : *got) batch->push_back(std::move(e));
      return absl::OkStatus();
    };
    if (static_cast<int>(batch->size()) < size) {
      // Block only when there is nothing to deliver yet, and never past the next claim.
      absl::Duration block =
          batch->empty() ? std::min(options_.poll, next_claim_ - absl::Now()) : absl::ZeroDuration();
      if (absl::Status s = read(block); !s.ok()) return s;
    }
    // The window counts from the first message. It is read again on every round, so that a
    // trigger changed to a shorter window does not hold a batch for the old one.
    const absl::Time first = absl::Now();
    while (!batch->empty() && !Stopping()) {
      const events::QueueTrigger now_trigger = Current().trigger;
      if (static_cast<int>(batch->size()) >= std::min(size, std::max(1, now_trigger.batch_size))) {
        break;
      }
      absl::Duration left = first + absl::Seconds(now_trigger.batch_window_seconds) - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      if (absl::Status s = read(std::min(left, options_.poll)); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  void RefreshLag(redis::Client& client) {
    absl::StatusOr<redis::Reply> groups = client.Command({"XINFO", "GROUPS", stream_});
    if (!groups.ok()) return;  // the read that follows reports a real failure
    for (const redis::Reply& g : groups->elements) {
      if (!g.is_array()) continue;
      std::string name;
      std::optional<int64_t> lag, pending;
      for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        const std::string& key = g.elements[i].text();
        const redis::Reply& v = g.elements[i + 1];
        if (key == "name") name = v.text();
        if (key == "lag" && v.type == redis::Reply::Type::kInteger) lag = v.integer;
        if (key == "pending" && v.type == redis::Reply::Type::kInteger) pending = v.integer;
      }
      if (name != group_) continue;
      if (lag) metrics_->lag.Add(labels_).Set(static_cast<double>(*lag));
      if (pending) metrics_->pending.Add(labels_).Set(static_cast<double>(*pending));
    }
  }

  // Invokes the function with the batch and settles it. False when the batch was not invoked
  // or could not be settled (the caller backs off).
  bool RunBatch(redis::Client& client, const Config& c,
                const std::vector<redis::StreamEntry>& entries) {
    std::vector<events::QueueMessage> messages;
    messages.reserve(entries.size());
    for (const redis::StreamEntry& e : entries) {
      messages.push_back({e.id, e.fields, std::max(1, e.deliveries)});
    }
    const double n = static_cast<double>(messages.size());
    metrics_->received.Add(labels_).Increment(n);
    metrics_->batch_size
        .Add(labels_, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 25, 50, 100, 500,
                                                              1000, 10000})
        .Observe(n);

    events::SqsContext context;
    context.stream = stream_;
    context.region = options_.region;
    context.account_id = options_.account_id;
    context.now_ms = absl::ToUnixMillis(absl::Now());
    v1::InvokeRequest request;
    request.set_request_id(NewRequestId());
    request.set_function_name(c.function.name);
    request.set_payload(events::SqsEvent(messages, context));
    request.set_invoked_function_arn(absl::StrCat("arn:aws:lambda:", options_.region, ":",
                                                  options_.account_id, ":function:",
                                                  c.function.name));
    DispatchResult result = (*invoke_)(c.function.name, request);

    BatchOutcome outcome;
    switch (result.kind) {
      case DispatchResult::Kind::kOk:
        outcome.kind = BatchOutcome::Kind::kInvoked;
        outcome.payload = result.response.payload();
        outcome.function_error = result.response.has_error();
        if (outcome.function_error) {
          outcome.error_summary = absl::StrCat(result.response.error().error_type(), ": ",
                                               result.response.error().error_message());
        }
        break;
      case DispatchResult::Kind::kTimeout:
        outcome.kind = BatchOutcome::Kind::kTimedOut;
        outcome.error_summary = result.message;
        break;
      case DispatchResult::Kind::kInvalid:
        // The worker refuses this batch as it is (too large): failing it is the way out, since
        // retrying the same batch could never succeed.
        outcome.kind = BatchOutcome::Kind::kInvoked;
        outcome.function_error = true;
        outcome.error_summary = absl::StrCat("the batch was refused: ", result.message);
        break;
      default:
        outcome.kind = BatchOutcome::Kind::kNotInvoked;
        outcome.error_summary = result.message;
        break;
    }
    BatchPlan plan = PlanBatch(messages, outcome, c.trigger, FunctionKey(c.function));

    if (!plan.not_invoked.empty()) {
      metrics_->batches.Add({{"function", c.function.name}, {"stream", stream_},
                             {"outcome", "not_invoked"}})
          .Increment();
      log::Warn("queue batch not invoked; it stays pending",
                {{"function", c.function.name}, {"stream", stream_},
                 {"messages", plan.not_invoked.size()}, {"error", outcome.error_summary}});
      Undeliver(client, plan.not_invoked);
      return false;
    }
    bool settled = Settle(client, c, plan);
    const size_t failed = plan.retry.size() + plan.dead_letters.size();
    std::string batch_outcome = failed == 0 ? "success" : plan.ack.empty() ? "failure" : "partial";
    metrics_->batches.Add({{"function", c.function.name}, {"stream", stream_},
                           {"outcome", batch_outcome}})
        .Increment();
    if (settled) {
      metrics_->succeeded.Add(labels_).Increment(static_cast<double>(plan.ack.size()));
      metrics_->dead_lettered.Add(labels_).Increment(static_cast<double>(plan.dead_letters.size()));
    }
    metrics_->failed.Add(labels_).Increment(static_cast<double>(failed));
    if (failed > 0) {
      log::Info("queue batch had failures",
                {{"function", c.function.name}, {"stream", stream_},
                 {"request_id", request.request_id()}, {"messages", messages.size()},
                 {"retry", plan.retry.size()}, {"dead_lettered", plan.dead_letters.size()},
                 {"reason", plan.reason}});
    }
    for (const DeadLetter& d : plan.dead_letters) {
      log::Warn("queue message dead-lettered",
                {{"function", c.function.name}, {"stream", stream_}, {"message_id", d.id},
                 {"dead_letter_stream", c.trigger.dead_letter_stream}, {"reason", plan.reason}});
    }
    return settled;
  }

  // Takes back this delivery of entries the function was not invoked with (kUndeliverScript).
  // If Redis fails here the delivery stays counted: logged and counted, not retried.
  void Undeliver(redis::Client& client, const std::vector<std::string>& ids) {
    std::vector<std::string> args = {group_, options_.consumer};
    args.insert(args.end(), ids.begin(), ids.end());
    absl::StatusOr<redis::Reply> r = client.Eval(kUndeliverScript, {stream_}, args);
    if (!r.ok()) RedisError("undeliver", r.status());
  }

  // Acknowledges and dead-letters by the plan, retrying Redis failures a few times. When it
  // gives up the batch stays pending and is delivered again (at least once).
  bool Settle(redis::Client& client, const Config& c, const BatchPlan& plan) {
    if (plan.ack.empty() && plan.dead_letters.empty()) return true;
    std::vector<std::string> args = {group_, absl::StrCat(plan.ack.size()),
                                     absl::StrCat(plan.dead_letters.size())};
    args.insert(args.end(), plan.ack.begin(), plan.ack.end());
    for (const DeadLetter& d : plan.dead_letters) {
      args.push_back(d.id);
      args.push_back(absl::StrCat(d.fields.size() * 2));
      for (const auto& [k, v] : d.fields) {
        args.push_back(k);
        args.push_back(v);
      }
    }
    std::string dlq = c.trigger.dead_letter_stream.empty()
                          ? events::DeadLetterStream(stream_)
                          : c.trigger.dead_letter_stream;
    absl::Duration wait = options_.backoff_base;
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<redis::Reply> r = client.Eval(kSettleScript, {stream_, dlq}, args);
      if (r.ok()) return true;
      RedisError("settle", r.status());
      if (attempt >= 5) break;
      // Keep trying through a stop too: the batch ran, its outcome should be recorded.
      absl::SleepFor(wait);
      wait = std::min(wait * 2, options_.backoff_max);
    }
    log::Error("queue batch could not be settled; it will be delivered again",
               {{"function", c.function.name}, {"stream", stream_},
                {"acknowledge", plan.ack.size()}, {"dead_letters", plan.dead_letters.size()}});
    return false;
  }

  const QueueConsumerOptions& options_;
  const std::string key_;
  std::vector<std::shared_ptr<absl::Notification>> predecessors_;  // consumer thread's
  const std::shared_ptr<absl::Notification> done_ = std::make_shared<absl::Notification>();
  QueueInvokeFn* const invoke_;
  Metrics* const metrics_;
  const std::string stream_;
  const std::string group_;
  const std::map<std::string, std::string> labels_;
  // Consumer-thread state.
  bool group_ready_ = false;
  absl::Time next_claim_ = absl::InfinitePast();
  absl::Duration backoff_;

  absl::Mutex mu_;
  FunctionInfo function_ ABSL_GUARDED_BY(mu_);
  events::QueueTrigger trigger_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------

QueueConsumers::QueueConsumers(QueueConsumerOptions options, QueueInvokeFn invoke,
                               std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)),
      invoke_(std::move(invoke)),
      registry_(std::move(registry)),
      metrics_(std::make_unique<Metrics>(*registry_)) {}

QueueConsumers::~QueueConsumers() { Stop(); }

void QueueConsumers::ReapLocked() {
  std::erase_if(stopping_, [](const std::unique_ptr<Consumer>& c) { return c->finished(); });
}

void QueueConsumers::Update(std::shared_ptr<const Snapshot> snapshot) {
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  std::map<std::string, std::pair<const FunctionInfo*, const events::QueueTrigger*>> want;
  for (const auto& [name, fn] : snapshot->functions) {
    for (const events::QueueTrigger& q : fn.queues) {
      // One consumer per (function, stream): a second trigger on the same stream adds nothing.
      want.try_emplace(absl::StrCat(FunctionKey(fn), "\n", q.stream), &fn, &q);
    }
  }
  for (auto it = consumers_.begin(); it != consumers_.end();) {
    if (want.contains(it->first)) {
      ++it;
      continue;
    }
    // Stopped without waiting here: it finishes its batch, then a later Update or Stop joins it.
    it->second->RequestStop();
    stopping_.push_back(std::move(it->second));
    it = consumers_.erase(it);
  }
  for (const auto& [key, value] : want) {
    auto [fn, trigger] = value;
    auto it = consumers_.find(key);
    if (it != consumers_.end()) {
      it->second->Reconfigure(*fn, *trigger);
    } else {
      // A trigger removed and added again: the new consumer waits for the old ones still
      // finishing a batch (they share the consumer name, so their pending entries).
      std::vector<std::shared_ptr<absl::Notification>> predecessors;
      for (const std::unique_ptr<Consumer>& old : stopping_) {
        if (old->key() == key && !old->finished()) predecessors.push_back(old->done());
      }
      consumers_.emplace(key, std::make_unique<Consumer>(options_, &invoke_, metrics_.get(), key,
                                                         *fn, *trigger,
                                                         std::move(predecessors)));
    }
  }
  ReapLocked();
}

void QueueConsumers::Stop() {
  std::map<std::string, std::unique_ptr<Consumer>> consumers;
  std::vector<std::unique_ptr<Consumer>> stopping;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    consumers.swap(consumers_);
    stopping.swap(stopping_);
  }
  for (auto& [key, c] : consumers) c->RequestStop();
  for (auto& c : stopping) c->RequestStop();
  consumers.clear();  // joins
  stopping.clear();
}

int QueueConsumers::Running() {
  absl::MutexLock lock(&mu_);
  ReapLocked();
  return static_cast<int>(consumers_.size() + stopping_.size());
}

}  // namespace wisp::gateway
