// Async invocations (Invoke API InvocationType Event) on Redis Streams: the intake that
// stores an accepted event before the 202, and the dispatcher that runs stored events on
// workers with retries, a maximum age and destinations. Layout and rules: controller/events.
//
// Delivery contract (docs/async.md):
//   - 202 only after Redis has the event on disk (appendfsync always); Redis unreachable is an
//     error, never a 202;
//   - every stored event is invoked at least once, with its invocation id as the request id on
//     every attempt;
//   - each gateway is one consumer in the group of every function's stream; an event whose
//     dispatcher died is taken over after a lease (the function's timeout + the capacity wait
//     + a margin); a restarted gateway with the same id takes its own pending events back at
//     once;
//   - function errors and timeouts are retried up to maxRetries with backoff; throttles and
//     platform failures until maxEventAgeSeconds; then the onFailure destination or a counted
//     drop; onSuccess records successes.
#ifndef WISP_GATEWAY_ASYNC_INVOCATIONS_H_
#define WISP_GATEWAY_ASYNC_INVOCATIONS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/events/async_event.h"
#include "controller/events/async_store.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "gateway/async_metrics.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"

namespace wisp::gateway {

inline constexpr int kDefaultAsyncPayloadBytes = 256 * 1024;
inline constexpr int kMaxAsyncPayloadBytes = 1024 * 1024;

struct AsyncOptions {
  std::string redis_address;
  std::string gateway_id;  // the consumer name: stable across restarts of one gateway
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  int max_payload_bytes = kDefaultAsyncPayloadBytes;  // up to kMaxAsyncPayloadBytes
  int64_t backlog_cap = 100000;       // events waiting per function (429 beyond)
  int concurrency = 64;               // events in flight from this gateway, all functions
  int per_function = 16;              // events in flight per function from this gateway
  events::RetryOptions retry;
  absl::Duration queue_timeout = absl::Seconds(10);  // the Dispatcher's capacity wait
  absl::Duration lease_margin = absl::Seconds(30);
  absl::Duration poll = absl::Seconds(1);             // longest blocking read
  absl::Duration housekeeping = absl::Milliseconds(250);
};

// Stores accepted events. Thread-safe.
class AsyncIntake {
 public:
  AsyncIntake(AsyncOptions options, AsyncMetrics* metrics);
  // Returns the invocation id. Errors: INVALID_ARGUMENT (payload over the limit: message
  // says the limit), RESOURCE_EXHAUSTED (the function's backlog is full), UNAVAILABLE (Redis
  // unreachable or the write's outcome unknown).
  // `invocation_id` empty: a new UUID.
  absl::StatusOr<std::string> Accept(const FunctionInfo& function, std::string payload,
                                     std::string client_context, std::string invocation_id = "");
  int max_payload_bytes() const { return options_.max_payload_bytes; }

 private:
  const AsyncOptions options_;
  AsyncMetrics* const metrics_;
  redis::ClientPool pool_;
};

// Runs stored events. Thread-safe; Update() and Stop() from any thread.
class AsyncDispatcher {
 public:
  // `dispatcher` and `metrics` must outlive this.
  AsyncDispatcher(AsyncOptions options, Dispatcher* dispatcher, AsyncMetrics* metrics);
  ~AsyncDispatcher();  // Stop()

  // Starts a consumer for every function in the snapshot, stops those of functions gone, and
  // applies changed policies to the next attempts.
  void Update(std::shared_ptr<const Snapshot> snapshot);
  // Stops reading; events in flight finish and are settled (or stay pending for a reclaim).
  void Stop();

 private:
  struct Lane;
  struct Work {
    std::shared_ptr<Lane> lane;
    redis::StreamEntry entry;
  };

  // An attempt's outcome waiting to be written (acknowledge, retry, record).
  struct Settlement {
    std::shared_ptr<Lane> lane;
    events::AsyncStore::Completion completion;
  };

  void ReadLoop(std::shared_ptr<Lane> lane);
  void ExecLoop();
  void Process(const Work& work);
  // Writes settlements in batches (one round trip, one fsync for many events); an entry stays
  // in its lane's working set until its settlement is written.
  void SettleLoop();
  void Settle(std::shared_ptr<Lane> lane, const events::AsyncEvent& event, const std::string& entry_id,
              events::AsyncStore::Settle settle);
  // The most events `lane` may have in flight here.
  int LaneCap(const Lane& lane) const;
  // Reserves up to `want` slots for `lane` (0 when none are free).
  int Reserve(Lane& lane, int want);
  void Release(Lane& lane, int n);
  void Push(const std::shared_ptr<Lane>& lane, std::vector<redis::StreamEntry> entries);

  const AsyncOptions options_;
  Dispatcher* const dispatcher_;
  AsyncMetrics* const metrics_;

  std::mutex mu_;
  // Separate waits, so that an event wakes only who can act on it (64 executors woken by every
  // freed slot burned most of the gateway's CPU under load).
  std::condition_variable work_cv_;    // executors: work queued, stopping
  std::condition_variable slots_cv_;   // readers: slots freed, lane stopped, stopping
  std::condition_variable settle_cv_;  // the settler: settlements queued, stop
  std::condition_variable settle_space_cv_;  // executors: room for another settlement
  bool stopping_ = false;              // guarded by mu_
  int free_slots_;                     // guarded by mu_
  std::deque<Work> queue_;             // guarded by mu_
  std::deque<Settlement> settlements_;  // guarded by mu_
  // "<stream>\n<entry id>" of every entry handed to an executor and not settled yet, across
  // lanes (a lane re-created for a function must not take over its predecessor's attempts):
  // this gateway's pending entries not in it are taken back.
  std::set<std::string> working_;      // guarded by mu_
  bool executors_stop_ = false;        // guarded by mu_: set once the readers are gone
  bool settler_stop_ = false;          // guarded by mu_: set once the executors are gone
  std::mutex stop_mu_;                 // serialises Stop()
  std::map<std::string, std::shared_ptr<Lane>> lanes_;  // guarded by mu_
  std::vector<std::thread> executors_;
  std::thread settler_;
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_ASYNC_INVOCATIONS_H_
