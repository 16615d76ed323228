#include "gateway/async_invocations.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/base/request_id.h"
#include "controller/events/async_store.h"
#include "gateway/invoke_api.h"
#include "nlohmann/json.hpp"

namespace wisp::gateway {
namespace {

redis::ClientOptions ClientOptionsFor(const AsyncOptions& o) {
  redis::ClientOptions c;
  c.address = o.redis_address;
  c.connect_timeout = absl::Seconds(1);
  c.command_timeout = absl::Seconds(5);
  return c;
}

// Error text from the function's error document (or the platform's message).
std::string ErrorJson(const v1::InvokeResponse& r) {
  if (!r.payload().empty()) return r.payload();
  return nlohmann::json{{"errorType", r.error().error_type()},
                        {"errorMessage", r.error().error_message()}}
      .dump();
}

std::string PlatformErrorJson(absl::string_view type, absl::string_view message) {
  return nlohmann::json{{"errorType", std::string(type)}, {"errorMessage", std::string(message)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// An entry in AsyncDispatcher::working_: its stream and id.
std::string WorkingKey(const std::string& stream, const std::string& id) {
  return absl::StrCat(stream, "\n", id);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// AsyncIntake

AsyncIntake::AsyncIntake(AsyncOptions options, AsyncMetrics* metrics)
    : options_(std::move(options)), metrics_(metrics), pool_(ClientOptionsFor(options_), 64) {}

absl::StatusOr<std::string> AsyncIntake::Accept(const FunctionInfo& fn, std::string payload,
                                                std::string client_context,
                                                std::string invocation_id) {
  if (static_cast<int64_t>(payload.size()) > options_.max_payload_bytes) {
    if (metrics_) metrics_->EnqueueRefused(fn.name, "too_large");
    return absl::InvalidArgumentError(absl::StrCat(
        payload.size(), " byte payload is too large for the Event invocation type (limit ",
        options_.max_payload_bytes, " bytes)"));
  }
  events::AsyncEvent event;
  event.invocation_id = invocation_id.empty() ? NewRequestId() : std::move(invocation_id);
  event.payload = std::move(payload);
  event.client_context = std::move(client_context);
  absl::Time start = absl::Now();
  event.enqueued_ms = absl::ToUnixMillis(start);
  absl::StatusOr<std::string> id = pool_.With([&](redis::Client& client) {
    return events::AsyncStore(&client).Enqueue({fn.namespace_, fn.name}, event,
                                               options_.backlog_cap);
  });
  if (!id.ok()) {
    bool full = id.status().code() == absl::StatusCode::kResourceExhausted;
    if (metrics_) metrics_->EnqueueRefused(fn.name, full ? "backlog_full" : "redis_unavailable");
    if (!full) {
      log::Warn("async event not stored",
                {{"function", fn.name}, {"error", std::string(id.status().message())}});
      return absl::UnavailableError(
          absl::StrCat("the async event store is unavailable: ", id.status().message()));
    }
    return id.status();
  }
  if (metrics_) metrics_->Enqueued(fn.name, absl::Now() - start);
  return event.invocation_id;
}

// ---------------------------------------------------------------------------------------------
// AsyncDispatcher

struct AsyncDispatcher::Lane {
  std::string name;
  std::string namespace_name;
  FunctionInfo info;  // guarded by AsyncDispatcher::mu_ (replaced on policy changes)
  int in_flight = 0;  // guarded by AsyncDispatcher::mu_
  std::string stream;  // its async stream key
  bool stop = false;  // guarded by AsyncDispatcher::mu_
  std::thread reader;
};

AsyncDispatcher::AsyncDispatcher(AsyncOptions options, Dispatcher* dispatcher,
                                 AsyncMetrics* metrics)
    : options_(std::move(options)),
      dispatcher_(dispatcher),
      metrics_(metrics),
      free_slots_(std::max(1, options_.concurrency)) {
  for (int i = 0; i < std::max(1, options_.concurrency); ++i) {
    executors_.emplace_back([this] { ExecLoop(); });
  }
  settler_ = std::thread([this] { SettleLoop(); });
}

AsyncDispatcher::~AsyncDispatcher() { Stop(); }

void AsyncDispatcher::Update(std::shared_ptr<const Snapshot> snapshot) {
  std::vector<std::shared_ptr<Lane>> stopped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    for (auto it = lanes_.begin(); it != lanes_.end();) {
      const FunctionInfo* fn = snapshot->Find(it->first);
      if (fn == nullptr || fn->namespace_ != it->second->namespace_name) {
        it->second->stop = true;
        stopped.push_back(it->second);
        it = lanes_.erase(it);
      } else {
        it->second->info = *fn;
        ++it;
      }
    }
    for (const auto& [name, fn] : snapshot->functions) {
      if (lanes_.contains(name)) continue;
      auto lane = std::make_shared<Lane>();
      lane->name = name;
      lane->namespace_name = fn.namespace_;
      lane->stream = events::AsyncStreamKey(fn.namespace_, name);
      lane->info = fn;
      lanes_[name] = lane;
      lane->reader = std::thread([this, lane] { ReadLoop(lane); });
    }
  }
  slots_cv_.notify_all();  // readers of stopped lanes
  for (auto& lane : stopped) {
    if (lane->reader.joinable()) lane->reader.join();
  }
}

void AsyncDispatcher::Stop() {
  std::lock_guard<std::mutex> once(stop_mu_);  // concurrent Stop() calls run one at a time
  std::map<std::string, std::shared_ptr<Lane>> lanes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && lanes_.empty() && executors_.empty()) return;
    stopping_ = true;
    lanes.swap(lanes_);
    for (auto& [name, lane] : lanes) lane->stop = true;
  }
  slots_cv_.notify_all();
  settle_space_cv_.notify_all();
  for (auto& [name, lane] : lanes) {
    if (lane->reader.joinable()) lane->reader.join();
  }
  // Only now: what the readers pushed before they stopped still runs here.
  {
    std::lock_guard<std::mutex> lock(mu_);
    executors_stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : executors_) {
    if (t.joinable()) t.join();
  }
  executors_.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    settler_stop_ = true;
  }
  settle_cv_.notify_all();
  if (settler_.joinable()) settler_.join();
}

int AsyncDispatcher::LaneCap(const Lane& lane) const {
  return std::max(1, std::min(options_.per_function,
                              lane.info.reserved_concurrency.value_or(options_.per_function)));
}

int AsyncDispatcher::Reserve(Lane& lane, int want) {
  std::lock_guard<std::mutex> lock(mu_);
  int cap = LaneCap(lane);
  int n = std::min({want, cap - lane.in_flight, free_slots_});
  if (n <= 0) return 0;
  lane.in_flight += n;
  free_slots_ -= n;
  return n;
}

void AsyncDispatcher::Release(Lane& lane, int n) {
  if (n <= 0) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    lane.in_flight -= n;
    free_slots_ += n;
  }
  slots_cv_.notify_all();
}

void AsyncDispatcher::Push(const std::shared_ptr<Lane>& lane,
                           std::vector<redis::StreamEntry> entries) {
  if (entries.empty()) return;
  const size_t n = entries.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (redis::StreamEntry& e : entries) {
      working_.insert(WorkingKey(lane->stream, e.id));
      queue_.push_back(Work{lane, std::move(e)});
    }
  }
  for (size_t i = 0; i < n; ++i) work_cv_.notify_one();
}

void AsyncDispatcher::ReadLoop(std::shared_ptr<Lane> lane) {
  redis::Client client(ClientOptionsFor(options_));
  events::AsyncStore store(&client);
  const std::string stream = events::AsyncStreamKey(lane->namespace_name, lane->name);
  const events::FunctionKey key{lane->namespace_name, lane->name};
  const std::string consumer = options_.gateway_id;
  bool group_ready = false;
  bool claim_due = false;
  bool healthy = true;
  absl::Duration backoff = absl::Milliseconds(100);
  absl::Time next_housekeeping = absl::InfinitePast();
  absl::Time next_measure = absl::InfinitePast();

  auto stopped = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    return lane->stop || stopping_;
  };
  auto wait = [&](absl::Duration d) {
    std::unique_lock<std::mutex> lock(mu_);
    slots_cv_.wait_for(lock, absl::ToChronoMilliseconds(d), [&] { return lane->stop || stopping_; });
  };
  auto failed = [&](const char* operation, const absl::Status& s) {
    if (metrics_) metrics_->RedisError(operation);
    if (redis::ErrorCode(s) == "NOGROUP") group_ready = false;
    if (healthy) {
      log::Warn("async dispatch: Redis call failed; retrying",
                {{"function", lane->name}, {"operation", operation},
                 {"error", std::string(s.message())}});
    }
    healthy = false;
    wait(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  };

  while (!stopped()) {
    if (!group_ready) {
      absl::Status s = redis::EnsureGroup(client, stream, events::kAsyncGroup);
      if (!s.ok()) {
        failed("create_group", s);
        continue;
      }
      group_ready = true;
    }
    absl::Time now = absl::Now();
    if (now >= next_housekeeping) {
      next_housekeeping = now + options_.housekeeping;
      // A promote that fails (Redis down, or a delayed member it cannot move) must not stop
      // the lane from claiming and reading: count it and go on.
      if (absl::StatusOr<int> promoted = store.PromoteDue(key, 1000); !promoted.ok()) {
        if (metrics_) metrics_->RedisError("promote");
        if (healthy) {
          log::Warn("async dispatch: moving due retries failed",
                    {{"function", lane->name}, {"error", std::string(promoted.status().message())}});
        }
      }
      claim_due = true;  // claimed with the next free slots, before any new entry is read
      // The backlog gauges are for humans and alerts: once a second is plenty (three more
      // Redis calls per function on every round was most of an idle gateway's Redis traffic).
      if (metrics_ != nullptr && now >= next_measure) {
        next_measure = now + absl::Seconds(1);
        if (absl::StatusOr<events::AsyncStore::Backlog> b = store.Measure(key, now); b.ok()) {
          metrics_->Backlog(lane->name, b->events, b->oldest_age);
        }
      }
    }
    {
      // Under load, slots come back one by one as attempts finish; a read per slot would cost
      // one fsynced XREADGROUP per event (the group's pending list is written). Wait a moment
      // for half the lane's slots, so each read takes a batch.
      std::unique_lock<std::mutex> lock(mu_);
      int cap = LaneCap(*lane);
      slots_cv_.wait_for(lock, std::chrono::milliseconds(2), [&] {
        return lane->stop || stopping_ || lane->in_flight == 0 ||
               cap - lane->in_flight >= std::max(1, cap / 2);
      });
    }
    int k = Reserve(*lane, options_.per_function);
    if (k == 0) {
      std::unique_lock<std::mutex> lock(mu_);
      slots_cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.housekeeping));
      continue;
    }
    if (claim_due) {
      // Pending entries first, so that a busy lane cannot starve them: own ones nobody here
      // works on (a previous run's, after a restart with the same id; or entries whose read
      // reply was lost when Redis or the connection failed), and other gateways' past the lease.
      claim_due = false;
      absl::Duration lease;
      {
        std::lock_guard<std::mutex> lock(mu_);
        lease = absl::Seconds(lane->info.timeout_seconds) + options_.queue_timeout +
                options_.lease_margin;
      }
      auto busy = [&](const std::string& id) {
        std::lock_guard<std::mutex> lock(mu_);
        return working_.contains(WorkingKey(stream, id));
      };
      auto claimed = redis::ClaimIdle(client, stream, events::kAsyncGroup, consumer, k,
                                      absl::ZeroDuration(), lease, busy);
      if (!claimed.ok()) {
        Release(*lane, k);
        failed("claim", claimed.status());
        continue;
      }
      Release(*lane, k - static_cast<int>(claimed->size()));
      if (!claimed->empty()) {
        if (metrics_) metrics_->Reclaimed(lane->name, static_cast<int>(claimed->size()));
        log::Info("async dispatch: took over pending events",
                  {{"function", lane->name}, {"count", static_cast<int>(claimed->size())}});
        // More may wait behind these: look again with the next free slots.
        claim_due = static_cast<int>(claimed->size()) == k;
      }
      Push(lane, std::move(*claimed));
      continue;
    }
    absl::Duration block =
        std::max(absl::Milliseconds(1), std::min(options_.poll, next_housekeeping - absl::Now()));
    auto entries = redis::ReadNew(client, stream, events::kAsyncGroup, consumer, k, block);
    if (!entries.ok()) {
      Release(*lane, k);
      failed("read", entries.status());
      continue;
    }
    if (!healthy) log::Info("async dispatch: Redis is back", {{"function", lane->name}});
    healthy = true;
    backoff = absl::Milliseconds(100);
    Release(*lane, k - static_cast<int>(entries->size()));
    Push(lane, std::move(*entries));
  }
}

void AsyncDispatcher::ExecLoop() {
  while (true) {
    Work work;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return !queue_.empty() || executors_stop_; });
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    // Process queues the outcome for the settler, waiting while too many are unwritten, so a
    // Redis that cannot take settlements holds the slots and stops new reads instead of
    // letting outcomes pile up in memory. The entry stays in working_ until it is written.
    Process(work);
    Release(*work.lane, 1);
  }
}

void AsyncDispatcher::Settle(std::shared_ptr<Lane> lane, const events::AsyncEvent& event,
                             const std::string& entry_id, events::AsyncStore::Settle settle) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Bounded: at most a few rounds of executors' outcomes wait (not when stopping, when the
    // settler may be giving up on an unreachable Redis).
    const size_t cap = 4 * static_cast<size_t>(std::max(1, options_.concurrency));
    settle_space_cv_.wait(lock, [&] { return settlements_.size() < cap || stopping_; });
    events::FunctionKey key{lane->namespace_name, lane->name};
    settlements_.push_back(
        Settlement{std::move(lane), {std::move(key), entry_id, event, std::move(settle)}});
  }
  settle_cv_.notify_one();
}

void AsyncDispatcher::SettleLoop() {
  redis::Client client(ClientOptionsFor(options_));
  events::AsyncStore store(&client);
  constexpr size_t kBatch = 128;
  absl::Duration backoff = absl::Milliseconds(50);
  std::vector<Settlement> batch;
  // Gives the slot and the working-set place of a written (or abandoned) settlement back.
  auto done = [&](const Settlement& s) {
    std::lock_guard<std::mutex> lock(mu_);
    working_.erase(WorkingKey(s.lane->stream, s.completion.entry_id));
  };
  while (true) {
    if (batch.empty()) {
      std::unique_lock<std::mutex> lock(mu_);
      settle_cv_.wait(lock, [&] { return !settlements_.empty() || settler_stop_; });
      if (settlements_.empty()) return;  // stopped, nothing left
      while (!settlements_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(settlements_.front()));
        settlements_.pop_front();
      }
      settle_space_cv_.notify_all();
    }
    std::vector<events::AsyncStore::Completion> items;
    items.reserve(batch.size());
    for (const Settlement& s : batch) items.push_back(s.completion);
    absl::StatusOr<std::vector<absl::Status>> results = store.CompleteMany(items, absl::Now());
    std::vector<Settlement> again;  // not applied: written again after a backoff
    std::string retry_error;
    if (!results.ok()) {
      // Redis unreachable: retry the whole batch (settling twice is harmless).
      again = std::move(batch);
      retry_error = std::string(results.status().message());
    } else {
      for (size_t i = 0; i < batch.size(); ++i) {
        const absl::Status& st = (*results)[i];
        if (absl::IsAborted(st)) {
          // Redis refused the transaction before running it (OOM under maxmemory, ...): the
          // entry is still pending and must not be re-run: keep it here and write it again.
          retry_error = std::string(st.message());
          again.push_back(std::move(batch[i]));
          continue;
        }
        if (!st.ok()) {
          // A command failed inside EXEC (a destination key of another type): the rest of that
          // transaction ran, so the entry is settled but the record is lost: logged whole.
          const Settlement& s = batch[i];
          log::Error("async dispatch: Redis refused the destination write; the record is lost",
                     {{"function", s.lane->name},
                      {"invocation_id", s.completion.event.invocation_id},
                      {"error", std::string(st.message())},
                      {"record", s.completion.settle.record}});
          if (metrics_) metrics_->RedisError("settle");
          if (metrics_) metrics_->Dropped(s.lane->name, "destination_refused");
        }
        done(batch[i]);
      }
    }
    batch.clear();
    if (again.empty()) {
      backoff = absl::Milliseconds(50);
      continue;
    }
    if (metrics_) metrics_->RedisError("settle");
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      stopping = settler_stop_;
      if (!stopping) {
        settle_cv_.wait_for(lock, absl::ToChronoMilliseconds(backoff), [&] { return settler_stop_; });
      }
    }
    backoff = std::min(backoff * 2, absl::Seconds(2));
    if (stopping) {
      // Gateway stopping: the entries stay pending for a reclaim (they run again: at least once).
      log::Warn("async dispatch: stopping before events were settled; they stay pending",
                {{"events", static_cast<int64_t>(again.size())}, {"error", retry_error}});
      for (const Settlement& s : again) done(s);
      continue;
    }
    batch = std::move(again);
  }
}

void AsyncDispatcher::Process(const Work& work) {
  Lane& lane = *work.lane;
  FunctionInfo info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    info = lane.info;
  }
  const std::string arn = FunctionArn(options_.region, options_.account_id, lane.name);

  auto settle = [&](const events::AsyncEvent& event, const events::AsyncStore::Settle& s) {
    Settle(work.lane, event, work.entry.id, s);
  };

  absl::StatusOr<events::AsyncEvent> parsed = events::FromFields(work.entry.fields);
  if (!parsed.ok()) {
    log::Error("async dispatch: unreadable entry dropped",
               {{"function", lane.name}, {"entry", work.entry.id},
                {"error", std::string(parsed.status().message())}});
    if (metrics_) metrics_->Dropped(lane.name, "unreadable");
    settle(events::AsyncEvent{}, {});
    return;
  }
  const events::AsyncEvent& event = *parsed;

  auto finish_failed = [&](const std::string& condition, const events::AsyncEvent& last,
                           int invokes, const std::string& response, bool function_error) {
    if (metrics_) metrics_->Failed(lane.name, condition);
    events::AsyncStore::Settle s;
    const events::Destination& d = info.async.on_failure;
    if (!d.empty()) {
      s.record = events::DestinationRecord(
          {&last, arn, condition, invokes, response, function_error, absl::Now()});
      s.condition = condition;
      s.record_stream = d.stream;
      s.record_function = d.function;
      if (metrics_) {
        metrics_->DestinationWritten(lane.name, "failure", d.stream.empty() ? "function" : "stream");
      }
    } else if (metrics_) {
      metrics_->Dropped(lane.name, "no_destination");
    }
    log::Info("async event failed",
              {{"function", lane.name}, {"invocation_id", last.invocation_id},
               {"condition", condition}, {"attempts", last.attempts}});
    settle(last, s);
  };

  if (events::Expired(event, info.async, absl::Now())) {
    finish_failed("EventAgeExceeded", event, event.attempts, event.last_error,
                  !event.last_error.empty());
    return;
  }

  if (metrics_) metrics_->Dispatched(lane.name);
  v1::InvokeRequest request;
  request.set_request_id(event.invocation_id);
  request.set_function_name(lane.name);
  request.set_payload(event.payload);
  request.set_client_context(event.client_context);
  request.set_invoked_function_arn(arn);
  DispatchResult result = dispatcher_->Invoke(lane.name, request);

  events::Outcome outcome;
  std::string error;
  const char* reason = "";
  switch (result.kind) {
    case DispatchResult::Kind::kOk:
      if (result.response.has_error()) {
        outcome = events::Outcome::kFunctionError;
        error = ErrorJson(result.response);
        reason = "function_error";
      } else {
        outcome = events::Outcome::kSuccess;
      }
      break;
    case DispatchResult::Kind::kInvalid:
      // The worker refused the event itself: retrying is counted like a function error.
      outcome = events::Outcome::kFunctionError;
      error = PlatformErrorJson("InvalidRequestContentException", result.message);
      reason = "function_error";
      break;
    case DispatchResult::Kind::kThrottled:
    case DispatchResult::Kind::kQueueFull:
    case DispatchResult::Kind::kNoCapacity:
      outcome = events::Outcome::kThrottled;
      error = PlatformErrorJson("TooManyRequestsException", result.message);
      reason = "throttled";
      break;
    case DispatchResult::Kind::kShuttingDown: {
      // Not attempted: straight back into the stream for another gateway.
      if (metrics_) metrics_->Retried(lane.name, "shutdown");
      events::AsyncStore::Settle s;
      s.retry = event;
      settle(event, s);
      return;
    }
    default:  // kNotFound (a stale snapshot), kTimeout, kWorkerFailed
      outcome = events::Outcome::kPlatformError;
      error = PlatformErrorJson("ServiceException", result.message);
      reason = "platform_error";
      break;
  }

  events::Decision d =
      events::Decide(event, outcome, error, info.async, options_.retry, absl::Now());
  switch (d.kind) {
    case events::Decision::Kind::kSucceed: {
      if (metrics_) metrics_->Succeeded(lane.name);
      events::AsyncStore::Settle s;
      const events::Destination& dest = info.async.on_success;
      if (!dest.empty()) {
        s.record = events::DestinationRecord({&event, arn, "Success", event.attempts + 1,
                                              result.response.payload(), false, absl::Now()});
        s.condition = "Success";
        s.record_stream = dest.stream;
        s.record_function = dest.function;
        if (metrics_) {
          metrics_->DestinationWritten(lane.name, "success",
                                       dest.stream.empty() ? "function" : "stream");
        }
      }
      settle(event, s);
      return;
    }
    case events::Decision::Kind::kRetry: {
      if (metrics_) metrics_->Retried(lane.name, reason);
      events::AsyncStore::Settle s;
      s.retry = d.next;
      s.delay = d.delay;
      settle(event, s);
      return;
    }
    case events::Decision::Kind::kFail:
      finish_failed(d.condition, d.next, d.next.attempts, d.next.last_error, outcome == events::Outcome::kFunctionError);
      return;
  }
}

}  // namespace wisp::gateway
