#include "gateway/queue_batch.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace wisp::gateway {

std::vector<std::pair<std::string, std::string>> DeadLetterFields(
    const events::QueueMessage& message, const std::string& reason,
    const std::string& source_stream, const std::string& function) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (message.fields.size() <= kMaxDeadLetterFields) {
    fields = message.fields;
  } else {
    fields.assign(message.fields.begin(), message.fields.begin() + kMaxDeadLetterFields);
    bool has_body = false;
    for (const auto& [k, v] : fields) has_body = has_body || k == "body";
    if (!has_body) {
      for (auto it = message.fields.begin() + kMaxDeadLetterFields; it != message.fields.end();
           ++it) {
        if (it->first == "body") {
          fields.push_back(*it);
          break;
        }
      }
    }
    fields.emplace_back("truncated", absl::StrCat(message.fields.size() - fields.size()));
  }
  fields.emplace_back("reason", reason);
  fields.emplace_back("receiveCount", absl::StrCat(message.receive_count));
  fields.emplace_back("function", function);
  fields.emplace_back("sourceStream", source_stream);
  fields.emplace_back("messageId", message.id);
  return fields;
}

BatchPlan PlanBatch(const std::vector<events::QueueMessage>& batch, const BatchOutcome& outcome,
                    const events::QueueTrigger& trigger, const std::string& function) {
  BatchPlan plan;
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (const events::QueueMessage& m : batch) ids.push_back(m.id);
  if (outcome.kind == BatchOutcome::Kind::kNotInvoked) {
    plan.not_invoked = std::move(ids);
    return plan;
  }
  events::BatchResult result;
  if (outcome.kind == BatchOutcome::Kind::kTimedOut) {
    result.all_failed = true;
    result.failed = ids;
    result.reason = absl::StrCat("the function did not answer in time: ", outcome.error_summary);
  } else {
    result = events::ParseBatchResponse(outcome.payload, outcome.function_error,
                                        outcome.error_summary, ids);
  }
  plan.reason = result.reason;
  std::set<std::string> failed(result.failed.begin(), result.failed.end());
  for (const events::QueueMessage& m : batch) {
    if (!failed.contains(m.id)) {
      plan.ack.push_back(m.id);
    } else if (m.receive_count >= trigger.max_receive_count) {
      plan.dead_letters.push_back(
          {m.id, DeadLetterFields(m, result.reason, trigger.stream, function)});
    } else {
      plan.retry.push_back(m.id);
    }
  }
  return plan;
}

}  // namespace wisp::gateway
