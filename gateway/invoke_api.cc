#include "gateway/invoke_api.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"

namespace wisp::gateway {
namespace {

bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

bool ValidQualifier(absl::string_view q) {
  if (q == "$LATEST") return true;
  if (q.empty() || q.size() > 128) return false;
  for (char c : q) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

}  // namespace

std::string ServiceError::Body() const {
  nlohmann::ordered_json doc = {{"Type", user_fault ? "User" : "Service"}, {"message", message}};
  if (!reason.empty()) doc["Reason"] = reason;
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

ServiceError ResourceNotFound(absl::string_view arn) {
  return {404, "ResourceNotFoundException", absl::StrCat("Function not found: ", arn), "", true};
}
ServiceError InvalidRequestContent(absl::string_view message) {
  return {400, "InvalidRequestContentException", std::string(message), "", true};
}
ServiceError InvalidParameterValue(absl::string_view message) {
  return {400, "InvalidParameterValueException", std::string(message), "", true};
}
ServiceError RequestTooLarge(size_t limit) {
  return {413, "RequestTooLargeException",
          absl::StrCat("Request must be smaller than ", limit, " bytes for the InvokeFunction operation"),
          "", true};
}
ServiceError TooManyRequests(absl::string_view reason, absl::string_view message) {
  return {429, "TooManyRequestsException", std::string(message), std::string(reason), true};
}
ServiceError ServiceFault(absl::string_view message) {
  return {500, "ServiceException", std::string(message), "", false};
}
ServiceError UnsupportedMediaType(absl::string_view message) {
  return {415, "UnsupportedMediaTypeException", std::string(message), "", true};
}

std::string FunctionArn(absl::string_view region, absl::string_view account, absl::string_view name) {
  return absl::StrCat("arn:aws:lambda:", region, ":", account, ":function:", name);
}

absl::StatusOr<FunctionRef> ParseFunctionRef(absl::string_view raw) {
  std::vector<absl::string_view> parts = absl::StrSplit(raw, ':');
  FunctionRef ref;
  auto bad = [&] {
    return Invalid(absl::StrCat(
        "1 validation error detected: Value '", raw,
        "' at 'functionName' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?"
        "(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"));
  };
  if (parts.size() >= 7 && parts[0] == "arn") {
    // arn:aws:lambda:region:account:function:name[:qualifier]
    if (parts[2] != "lambda" || parts[5] != "function" || parts.size() > 8) return bad();
    ref.name = std::string(parts[6]);
    if (parts.size() == 8) ref.qualifier = std::string(parts[7]);
  } else if (parts.size() >= 3 && parts[1] == "function") {
    // account:function:name[:qualifier]
    if (parts.size() > 4) return bad();
    ref.name = std::string(parts[2]);
    if (parts.size() == 4) ref.qualifier = std::string(parts[3]);
  } else if (parts.size() <= 2) {
    ref.name = std::string(parts[0]);
    if (parts.size() == 2) ref.qualifier = std::string(parts[1]);
  } else {
    return bad();
  }
  if (!ValidName(ref.name)) return bad();
  // A ':' promises a qualifier: an empty one is malformed.
  bool has_qualifier = (parts[0] == "arn" && parts.size() == 8) ||
                       (parts.size() >= 3 && parts[1] == "function" && parts.size() == 4) ||
                       (parts.size() == 2);
  if (has_qualifier && !ValidQualifier(ref.qualifier)) return bad();
  // The partial ARN's account is twelve digits.
  if (parts.size() >= 3 && parts[1] == "function" && parts[0] != "arn") {
    if (parts[0].size() != 12 || !std::all_of(parts[0].begin(), parts[0].end(), absl::ascii_isdigit)) {
      return bad();
    }
  }
  return ref;
}

absl::StatusOr<InvokeHeaders> ParseInvokeHeaders(absl::string_view invocation_type,
                                                 absl::string_view log_type,
                                                 absl::string_view client_context_b64) {
  InvokeHeaders h;
  if (invocation_type.empty() || invocation_type == "RequestResponse") {
    h.type = InvocationType::kRequestResponse;
  } else if (invocation_type == "Event") {
    h.type = InvocationType::kEvent;
  } else if (invocation_type == "DryRun") {
    h.type = InvocationType::kDryRun;
  } else {
    return Invalid(absl::StrCat("1 validation error detected: Value '", invocation_type,
                                "' at 'invocationType' failed to satisfy constraint: Member must "
                                "satisfy enum value set: [Event, RequestResponse, DryRun]"));
  }
  if (log_type.empty() || log_type == "None") {
    h.log_tail = false;
  } else if (log_type == "Tail") {
    h.log_tail = true;
  } else {
    return Invalid(absl::StrCat("1 validation error detected: Value '", log_type,
                                "' at 'logType' failed to satisfy constraint: Member must "
                                "satisfy enum value set: [None, Tail]"));
  }
  if (!client_context_b64.empty()) {
    std::string decoded;
    if (client_context_b64.size() > 3583 || !absl::Base64Unescape(client_context_b64, &decoded)) {
      return Invalid("Client context must be a valid Base64-encoded JSON object of at most 3583 bytes.");
    }
    std::string error;
    if (!IsJson(decoded, &error)) {
      return Invalid("Client context must be a valid Base64-encoded JSON object.");
    }
    h.client_context = std::move(decoded);
  }
  return h;
}

ServiceError ToServiceError(const absl::Status& status) {
  return InvalidParameterValue(status.message());
}

bool IsJson(absl::string_view payload, std::string* error) {
  if (nlohmann::json::accept(payload.begin(), payload.end())) return true;
  try {
    nlohmann::json ignored = nlohmann::json::parse(payload.begin(), payload.end());
    (void)ignored;
  } catch (const nlohmann::json::parse_error& e) {
    if (error) *error = e.what();
  }
  return false;
}

}  // namespace wisp::gateway
