#include "controller/events/sqs_event.h"

#include <openssl/evp.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace wisp::events {
namespace {

using nlohmann::json;

std::string Md5Hex(absl::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(digest), len));
}

// "1700000000123-4" -> "1700000000123".
std::string SentTimestamp(const std::string& id) { return id.substr(0, id.find('-')); }

BatchResult AllFailed(const std::vector<std::string>& ids, std::string reason) {
  return BatchResult{true, ids, std::move(reason)};
}

}  // namespace

std::string MessageBody(const QueueMessage& m) {
  for (const auto& [k, v] : m.fields) {
    if (k == "body") return v;
  }
  json object = json::object();
  for (const auto& [k, v] : m.fields) object[k] = v;
  return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SqsEvent(const std::vector<QueueMessage>& messages, const SqsContext& c) {
  json records = json::array();
  std::string arn = absl::StrCat("arn:aws:sqs:", c.region, ":", c.account_id, ":", c.stream);
  for (const QueueMessage& m : messages) {
    std::string body = MessageBody(m);
    json attributes = json::object();
    for (const auto& [k, v] : m.fields) {
      if (k == "body") continue;
      attributes[k] = {{"stringValue", v},
                       {"stringListValues", json::array()},
                       {"binaryListValues", json::array()},
                       {"dataType", "String"}};
    }
    std::string sent = SentTimestamp(m.id);
    records.push_back({
        {"messageId", m.id},
        {"receiptHandle", absl::Base64Escape(absl::StrCat(c.stream, "\n", m.id))},
        {"body", body},
        {"attributes",
         {{"ApproximateReceiveCount", absl::StrCat(m.receive_count)},
          {"SentTimestamp", sent},
          {"SenderId", "wisp"},
          {"ApproximateFirstReceiveTimestamp",
           m.receive_count <= 1 ? absl::StrCat(c.now_ms) : sent}}},
        {"messageAttributes", attributes},
        {"md5OfBody", Md5Hex(body)},
        {"eventSource", "aws:sqs"},
        {"eventSourceARN", arn},
        {"awsRegion", c.region},
    });
  }
  return json{{"Records", records}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

BatchResult ParseBatchResponse(absl::string_view payload, bool function_error,
                               absl::string_view error_summary,
                               const std::vector<std::string>& ids) {
  if (function_error) {
    return AllFailed(ids, absl::StrCat("the function failed: ", error_summary));
  }
  json result = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (result.is_discarded() || !result.is_object()) return {};
  auto it = result.find("batchItemFailures");
  if (it == result.end() || it->is_null()) return {};
  if (!it->is_array()) {
    return AllFailed(ids, "batchItemFailures is not a list: the whole batch failed");
  }
  std::set<std::string> in_batch(ids.begin(), ids.end());
  std::set<std::string> failed;
  for (const json& item : *it) {
    const json* id = item.is_object() && item.contains("itemIdentifier")
                         ? &item["itemIdentifier"]
                         : nullptr;
    if (id == nullptr || !id->is_string() || id->get<std::string>().empty()) {
      return AllFailed(ids, "a batchItemFailures entry has no itemIdentifier: the whole batch failed");
    }
    if (!in_batch.contains(id->get<std::string>())) {
      return AllFailed(ids, absl::StrCat("batchItemFailures names ", id->get<std::string>(),
                                         ", which is not in the batch: the whole batch failed"));
    }
    failed.insert(id->get<std::string>());
  }
  BatchResult out;
  for (const std::string& id : ids) {
    if (failed.contains(id)) out.failed.push_back(id);
  }
  if (!out.failed.empty()) out.reason = "reported in batchItemFailures";
  return out;
}

}  // namespace wisp::events
