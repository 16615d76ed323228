// Queue triggers as values: Redis stream entries → the SQS-shaped event Lambda's SQS trigger
// delivers, and the handler's answer → which messages failed.
//
// A stream entry's `body` field is the message body; every other field becomes a String
// message attribute. An entry without `body` gets its fields as a JSON object for a body.
//
// Pure. Thread-compatible.
#ifndef WISP_CONTROLLER_EVENTS_SQS_EVENT_H_
#define WISP_CONTROLLER_EVENTS_SQS_EVENT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace wisp::events {

struct QueueMessage {
  std::string id;  // the stream entry id, "1700000000000-0": the SQS messageId
  std::vector<std::pair<std::string, std::string>> fields;
  int receive_count = 1;  // invocations with this message, this one included (throttled
                          // rounds that never reached the function do not count)
};

struct SqsContext {
  std::string stream;
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  int64_t now_ms = 0;  // ApproximateFirstReceiveTimestamp for first deliveries
};

std::string MessageBody(const QueueMessage& message);

// {"Records": [{messageId, receiptHandle, body, attributes {ApproximateReceiveCount,
// SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp}, messageAttributes, md5OfBody,
// eventSource "aws:sqs", eventSourceARN "arn:aws:sqs:<region>:<account>:<stream>",
// awsRegion}]}
std::string SqsEvent(const std::vector<QueueMessage>& messages, const SqsContext& context);

// Which messages of a batch failed, by Lambda's rules for ReportBatchItemFailures:
//   the function failed (error or timeout)                      -> all failed
//   result not a JSON object, or no / null / empty batchItemFailures -> none failed
//   batchItemFailures not a list, or an item whose itemIdentifier is missing, empty, not a
//   string or not in the batch                                  -> all failed (reason says why)
//   otherwise                                                   -> exactly the listed ids
struct BatchResult {
  bool all_failed = false;
  std::vector<std::string> failed;  // ids, in batch order (all of them when all_failed)
  std::string reason;               // why, for the dead-letter record
};
BatchResult ParseBatchResponse(absl::string_view payload, bool function_error,
                               absl::string_view error_summary,
                               const std::vector<std::string>& batch_ids);

}  // namespace wisp::events

#endif  // WISP_CONTROLLER_EVENTS_SQS_EVENT_H_
