// Queue triggers, the deciding part: what happens to each message of a batch after the
// function was invoked with it. Pure (no clock, no I/O); the consumer (queue_consumer.h) runs
// the decision against Redis. Thread-compatible.
//
// Decision table, per batch outcome:
//   kInvoked, no function error      -> ParseBatchResponse: messages not reported failed are
//                                       acknowledged; reported ones failed (a malformed
//                                       batchItemFailures fails them all)
//   kInvoked with a function error,  -> every message failed
//   kTimedOut
//   kNotInvoked (throttled, no capacity, worker failed, shutting down, no such function)
//                                    -> nothing acknowledged, nothing failed: every message stays
//                                       pending and comes back after the retry delay
// and per failed message:
//   receive_count >= max_receive_count -> dead-lettered: added to the dead-letter stream with its
//                                         reason and acknowledged, in one transaction
//   otherwise                          -> left pending (re-delivered after the retry delay)
#ifndef WISP_GATEWAY_QUEUE_BATCH_H_
#define WISP_GATEWAY_QUEUE_BATCH_H_

#include <string>
#include <utility>
#include <vector>

#include "controller/events/async_event.h"
#include "controller/events/sqs_event.h"

namespace wisp::gateway {

struct BatchOutcome {
  enum class Kind {
    kInvoked,     // the function ran and answered (its error, if any, in function_error)
    kTimedOut,    // the worker did not answer in time: counted as the function's failure
    kNotInvoked,  // throttled or a platform failure: not the function's fault
  };
  Kind kind = Kind::kInvoked;
  std::string payload;         // the function's result, or its error document
  bool function_error = false;
  std::string error_summary;   // "<errorType>: <errorMessage>", or why it was not invoked
};

struct DeadLetter {
  std::string id;  // the source entry's id
  std::vector<std::pair<std::string, std::string>> fields;  // its fields, then wisp's
};

struct BatchPlan {
  std::vector<std::string> ack;           // succeeded: acknowledged
  std::vector<std::string> retry;         // failed, left pending for a re-delivery
  std::vector<DeadLetter> dead_letters;   // failed for the last time: dead-lettered + acked
  std::vector<std::string> not_invoked;   // left pending without counting as a failure
  std::string reason;                     // why messages failed (empty when none did)
};

// `function` names the function in dead-letter records ("<namespace>/<name>").
BatchPlan PlanBatch(const std::vector<events::QueueMessage>& batch, const BatchOutcome& outcome,
                    const events::QueueTrigger& trigger, const std::string& function);

// At most this many of a message's own fields are copied into its dead-letter entry (a Lua
// script cannot pass many more than 8000 values to one command).
inline constexpr size_t kMaxDeadLetterFields = 1000;

// The dead-letter entry's fields: the message's own fields (the first kMaxDeadLetterFields,
// plus its `body` if that came later, then `truncated: <how many were left out>` when any
// were), then reason, receiveCount, function, sourceStream and messageId (wisp's come last, so
// XRANGE readers that keep the last value of a repeated field see wisp's).
std::vector<std::pair<std::string, std::string>> DeadLetterFields(
    const events::QueueMessage& message, const std::string& reason,
    const std::string& source_stream, const std::string& function);

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_QUEUE_BATCH_H_
