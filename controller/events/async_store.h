// Async invocations in Redis (layout: async_event.h): accept, promote due retries, settle
// after an attempt, fire a schedule tick once. Used by the gateway (Invoke API, dispatcher)
// and the operator (schedules).
//
// Durability: the stores are Redis writes; with Redis's `appendonly yes` and
// `appendfsync always` Redis answers only after the write is on disk, so a returned OK means
// the event survives a crash of Redis. Every multi-key change is one transaction or script.
//
// Errors: UNAVAILABLE (Redis unreachable or the call broke: the outcome is unknown),
// RESOURCE_EXHAUSTED (Enqueue: the function's backlog is at its cap), FAILED_PRECONDITION
// (Redis refused the command). Not thread-safe (the Client is not).
#ifndef WISP_CONTROLLER_EVENTS_ASYNC_STORE_H_
#define WISP_CONTROLLER_EVENTS_ASYNC_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/events/async_event.h"
#include "controller/redis/redis_client.h"

namespace wisp::events {

struct FunctionKey {
  std::string namespace_name;
  std::string name;
};

class AsyncStore {
 public:
  explicit AsyncStore(redis::Client* client) : client_(client) {}

  // Appends an accepted event to the function's stream unless its backlog (stream + delayed)
  // holds `backlog_cap` events already. Returns the entry id.
  absl::StatusOr<std::string> Enqueue(const FunctionKey& fn, const AsyncEvent& event,
                                      int64_t backlog_cap);

  // Moves up to `limit` retries that are due (by Redis's clock) back into the stream.
  absl::StatusOr<int> PromoteDue(const FunctionKey& fn, int limit);

  // After an attempt, in one transaction: acknowledge and delete the entry, and
  //   - retry:  add `retry` to the delayed set, due after `delay`
  //   - record: XADD `record` as {body, condition, requestId, function} to `record_stream`, or
  //             enqueue it as an event of `record_function` (same namespace)
  struct Settle {
    std::optional<AsyncEvent> retry;
    absl::Duration delay;
    std::string record;            // a destination record (JSON), if any
    std::string condition;
    std::string record_stream;     // exactly one of these two when record is set
    std::string record_function;
  };
  absl::Status Complete(const FunctionKey& fn, const std::string& entry_id,
                        const AsyncEvent& event, const Settle& settle, absl::Time now);

  // Many Completes in one round trip: each its own MULTI/EXEC (atomic alone), all sent at once
  // so that Redis fsyncs them together. The outer status fails (UNAVAILABLE) only when Redis
  // could not be asked or answered; then none or some may have been applied, and retrying all
  // is safe (a settled entry's XACK/XDEL do nothing; a record may be written twice). Otherwise
  // one status per item: ABORTED where Redis refused the transaction before running any of it
  // (OOM under maxmemory, ...: nothing applied, retry), FAILED_PRECONDITION where a command
  // failed inside EXEC (a destination key of another type: the rest, the acknowledge included,
  // ran).
  struct Completion {
    FunctionKey fn;
    std::string entry_id;
    AsyncEvent event;
    Settle settle;
  };
  absl::StatusOr<std::vector<absl::Status>> CompleteMany(const std::vector<Completion>& items,
                                                         absl::Time now);

  // Appends `event` unless tick `tick_ms` of schedule trigger `trigger` (or a later one) fired
  // already: true when this call fired it. Atomic, so two operators firing the same tick fire
  // it once.
  absl::StatusOr<bool> FireTick(const FunctionKey& fn, int trigger, int64_t tick_ms,
                                const AsyncEvent& event);
  // The last tick fired for the trigger (unix ms), if any.
  absl::StatusOr<std::optional<int64_t>> LastTick(const FunctionKey& fn, int trigger);

  // Backlog (stream length + delayed) and the age of the oldest event in the stream.
  struct Backlog {
    int64_t events = 0;
    absl::Duration oldest_age;
  };
  absl::StatusOr<Backlog> Measure(const FunctionKey& fn, absl::Time now);

 private:
  redis::Client* client_;
};

}  // namespace wisp::events

#endif  // WISP_CONTROLLER_EVENTS_ASYNC_STORE_H_
