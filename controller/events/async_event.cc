#include "controller/events/async_event.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace wisp::events {
namespace {

using nlohmann::json;

std::string Tag(absl::string_view ns, absl::string_view fn) {
  return absl::StrCat("wisp:{", ns, "/", fn, "}:");
}

// JSON if it parses as JSON, else the text as a string.
json Embed(const std::string& text) {
  if (text.empty()) return nullptr;
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return text;
  return parsed;
}

absl::Duration Doubling(absl::Duration base, int n, absl::Duration cap) {
  absl::Duration d = base;
  for (int i = 0; i < n && d < cap; ++i) d *= 2;
  return std::min(d, cap);
}

}  // namespace

std::string AsyncStreamKey(absl::string_view ns, absl::string_view fn) {
  return Tag(ns, fn) + "async";
}
std::string DelayedKey(absl::string_view ns, absl::string_view fn) {
  return Tag(ns, fn) + "delayed";
}
std::string TickKey(absl::string_view ns, absl::string_view fn, int trigger) {
  return absl::StrCat(Tag(ns, fn), "tick:", trigger);
}
std::string DeadLetterStream(absl::string_view stream) { return absl::StrCat(stream, "-dlq"); }

std::vector<std::pair<std::string, std::string>> ToFields(const AsyncEvent& e) {
  std::vector<std::pair<std::string, std::string>> out = {
      {"id", e.invocation_id},
      {"payload", e.payload},
      {"enqueued", absl::StrCat(e.enqueued_ms)},
      {"attempts", absl::StrCat(e.attempts)},
      {"retries", absl::StrCat(e.retries)},
  };
  if (!e.client_context.empty()) out.emplace_back("ctx", e.client_context);
  if (!e.last_error.empty()) out.emplace_back("error", e.last_error);
  return out;
}

absl::StatusOr<AsyncEvent> FromFields(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  AsyncEvent e;
  bool has_id = false, has_payload = false, has_enqueued = false;
  for (const auto& [k, v] : fields) {
    auto number = [&](auto* out) -> absl::Status {
      if (!absl::SimpleAtoi(v, out)) {
        return absl::InvalidArgumentError(absl::StrCat("field ", k, ": not a number: ", v));
      }
      return absl::OkStatus();
    };
    absl::Status s;
    if (k == "id") {
      e.invocation_id = v;
      has_id = true;
    } else if (k == "payload") {
      e.payload = v;
      has_payload = true;
    } else if (k == "enqueued") {
      s = number(&e.enqueued_ms);
      has_enqueued = true;
    } else if (k == "attempts") {
      s = number(&e.attempts);
    } else if (k == "retries") {
      s = number(&e.retries);
    } else if (k == "ctx") {
      e.client_context = v;
    } else if (k == "error") {
      e.last_error = v;
    }
    if (!s.ok()) return s;
  }
  if (!has_id || e.invocation_id.empty()) return absl::InvalidArgumentError("no field id");
  if (!has_payload) return absl::InvalidArgumentError("no field payload");
  if (!has_enqueued) return absl::InvalidArgumentError("no field enqueued");
  return e;
}

std::string EncodeDelayed(const AsyncEvent& event) {
  json array = json::array();
  for (auto& [k, v] : ToFields(event)) {
    array.push_back(k);
    array.push_back(v);
  }
  std::vector<uint8_t> bytes = json::to_msgpack(array);
  return std::string(bytes.begin(), bytes.end());
}

absl::StatusOr<AsyncEvent> DecodeDelayed(absl::string_view member) {
  json array = json::from_msgpack(member.begin(), member.end(), true, false);
  if (array.is_discarded() || !array.is_array() || array.size() % 2 != 0) {
    return absl::InvalidArgumentError("delayed event: not a MessagePack array of pairs");
  }
  std::vector<std::pair<std::string, std::string>> fields;
  for (size_t i = 0; i < array.size(); i += 2) {
    if (!array[i].is_string() || !array[i + 1].is_string()) {
      return absl::InvalidArgumentError("delayed event: fields must be strings");
    }
    fields.emplace_back(array[i].get<std::string>(), array[i + 1].get<std::string>());
  }
  return FromFields(fields);
}

bool Expired(const AsyncEvent& event, const AsyncPolicy& policy, absl::Time now) {
  return now > absl::FromUnixMillis(event.enqueued_ms) + absl::Seconds(policy.max_event_age_seconds);
}

Decision Decide(const AsyncEvent& event, Outcome outcome, std::string error,
                const AsyncPolicy& policy, const RetryOptions& retry, absl::Time now) {
  Decision d;
  d.next = event;
  if (outcome == Outcome::kSuccess) {
    d.kind = Decision::Kind::kSucceed;
    return d;
  }
  if (!error.empty()) d.next.last_error = std::move(error);
  if (outcome == Outcome::kFunctionError) {
    d.next.attempts = event.attempts + 1;
    if (d.next.attempts > policy.max_retries) {
      d.kind = Decision::Kind::kFail;
      d.condition = "RetriesExhausted";
      return d;
    }
    d.delay = Doubling(retry.function_error_base, d.next.attempts - 1, absl::InfiniteDuration());
  } else {
    d.delay = Doubling(retry.platform_base, event.retries, retry.platform_max);
  }
  d.next.retries = event.retries + 1;
  if (Expired(d.next, policy, now + d.delay)) {
    d.kind = Decision::Kind::kFail;
    d.condition = "EventAgeExceeded";
    return d;
  }
  d.kind = Decision::Kind::kRetry;
  return d;
}

std::string DestinationRecord(const RecordInput& in) {
  json response_context = {{"statusCode", 200}, {"executedVersion", "$LATEST"}};
  if (in.function_error) response_context["functionError"] = "Unhandled";
  json record = {
      {"version", "1.0"},
      {"timestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", in.now, absl::UTCTimeZone())},
      {"requestContext",
       {{"requestId", in.event->invocation_id},
        {"functionArn", in.function_arn},
        {"condition", in.condition},
        {"approximateInvokeCount", in.invoke_count}}},
      {"requestPayload", Embed(in.event->payload)},
  };
  if (in.invoke_count > 0) {
    record["responseContext"] = response_context;
    record["responsePayload"] = Embed(in.response);
  }
  return record.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace wisp::events
