// The async invocation model, as values: an accepted event, where it lives in Redis, the
// function's delivery policy, what to do after each attempt, and the destination record.
// The gateway's async dispatcher and the operator's schedules share it.
//
// Redis layout per function (one hash tag, so a transaction or script touching both keys of a
// function also works on a Redis Cluster):
//   wisp:{<namespace>/<name>}:async     stream of events waiting or running (acknowledged
//                                        events are deleted: its length is the backlog)
//   wisp:{<namespace>/<name>}:delayed   sorted set of events waiting for a retry, scored by
//                                        the unix ms they are due (members: EncodeDelayed)
//   wisp:{<namespace>/<name>}:tick:<n>  the last fired tick (unix ms) of schedule trigger n
// Consumer group on every async stream: kAsyncGroup; consumers are gateway ids.
//
// Pure: no clock (time is passed in), no I/O. Thread-compatible.
#ifndef WISP_CONTROLLER_EVENTS_ASYNC_EVENT_H_
#define WISP_CONTROLLER_EVENTS_ASYNC_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wisp::events {

inline constexpr char kAsyncGroup[] = "wisp-async";

std::string AsyncStreamKey(absl::string_view namespace_name, absl::string_view function);
std::string DelayedKey(absl::string_view namespace_name, absl::string_view function);
std::string TickKey(absl::string_view namespace_name, absl::string_view function, int trigger);

// Where an invocation's record goes: exactly one of a stream or a function (same namespace).
struct Destination {
  std::string stream;
  std::string function;
  bool empty() const { return stream.empty() && function.empty(); }
  friend bool operator==(const Destination&, const Destination&) = default;
};

// spec.async, defaulted.
struct AsyncPolicy {
  int max_retries = 2;              // 0 - 2
  int max_event_age_seconds = 21600;  // 60 - 21600
  Destination on_failure;           // empty: dropped (and counted)
  Destination on_success;           // empty: none
  friend bool operator==(const AsyncPolicy&, const AsyncPolicy&) = default;
};

// spec.triggers[].queue, defaulted.
struct QueueTrigger {
  std::string stream;
  int batch_size = 10;
  int batch_window_seconds = 0;
  int max_receive_count = 5;
  std::string dead_letter_stream;  // "<stream>-dlq"
  friend bool operator==(const QueueTrigger&, const QueueTrigger&) = default;
};
std::string DeadLetterStream(absl::string_view stream);

// One accepted async invocation. The invocation id is the handler's request id on every
// attempt (the idempotency key).
struct AsyncEvent {
  std::string invocation_id;
  std::string payload;
  int64_t enqueued_ms = 0;   // when it was first accepted (202)
  int attempts = 0;          // attempts that ended in a function error or timeout
  int retries = 0;           // times it was put back for any reason
  std::string client_context;  // X-Amz-Client-Context (base64), passed through
  std::string last_error;    // the last failed attempt's error (JSON), for the failure record
  friend bool operator==(const AsyncEvent&, const AsyncEvent&) = default;
};

// Stream entry fields ("id", "payload", "enqueued", "attempts", "retries", "ctx", "error";
// empty values left out) and back. FromFields ignores unknown fields and fails with
// INVALID_ARGUMENT naming what is missing or malformed.
std::vector<std::pair<std::string, std::string>> ToFields(const AsyncEvent& event);
absl::StatusOr<AsyncEvent> FromFields(const std::vector<std::pair<std::string, std::string>>& fields);

// A delayed-set member: the entry's fields as a MessagePack array [k1, v1, k2, v2, ...]
// (the promote script turns it back into an XADD), and back.
std::string EncodeDelayed(const AsyncEvent& event);
absl::StatusOr<AsyncEvent> DecodeDelayed(absl::string_view member);

enum class Outcome {
  kSuccess,        // the function returned
  kFunctionError,  // the function failed or timed out (counts against maxRetries)
  kThrottled,      // no capacity: reserved concurrency, full queue, scaled to zero too long
  kPlatformError,  // the worker failed or vanished, or no endpoint: not the function's fault
};

struct RetryOptions {
  // Delay before retry n (1-based) after a function error: base * 2^(n-1). Lambda: 1 min, 2 min.
  absl::Duration function_error_base = absl::Minutes(1);
  // Delay after throttles and platform errors: base * 2^(retries), capped.
  absl::Duration platform_base = absl::Seconds(1);
  absl::Duration platform_max = absl::Minutes(5);
};

// What to do with an event after an attempt. Decision table:
//   kSuccess                                     -> kSucceed
//   kFunctionError, attempts+1 <= max_retries    -> kRetry after function delay (attempts+1)
//   kFunctionError, retries used up              -> kFail "RetriesExhausted"
//   kThrottled / kPlatformError                  -> kRetry after platform delay (not an attempt)
//   any retry that would be due after the event's maximum age
//                                                -> kFail "EventAgeExceeded"
// CheckAge is the same age rule before an attempt.
struct Decision {
  enum class Kind { kSucceed, kRetry, kFail };
  Kind kind = Kind::kSucceed;
  absl::Duration delay;     // kRetry
  std::string condition;    // kFail: "RetriesExhausted" | "EventAgeExceeded"
  AsyncEvent next;          // the event as it is put back or recorded (counters advanced)
};
Decision Decide(const AsyncEvent& event, Outcome outcome, std::string error,
                const AsyncPolicy& policy, const RetryOptions& retry, absl::Time now);
bool Expired(const AsyncEvent& event, const AsyncPolicy& policy, absl::Time now);

// Lambda's destination record (version 1.0): requestContext {requestId, functionArn,
// condition, approximateInvokeCount}, requestPayload, responseContext {statusCode,
// executedVersion, functionError?}, responsePayload. Payloads that are JSON are embedded as
// JSON, others as strings.
struct RecordInput {
  const AsyncEvent* event = nullptr;
  std::string function_arn;
  std::string condition;  // "Success", "RetriesExhausted", "EventAgeExceeded"
  int invoke_count = 0;
  std::string response;   // the function's result or error JSON ("" if never invoked)
  bool function_error = false;
  absl::Time now;
};
std::string DestinationRecord(const RecordInput& input);

}  // namespace wisp::events

#endif  // WISP_CONTROLLER_EVENTS_ASYNC_EVENT_H_
