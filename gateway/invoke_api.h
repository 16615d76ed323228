// Lambda's Invoke API (POST /2015-03-31/functions/{FunctionName}/invocations) as pure request
// parsing and error documents, so that an AWS SDK pointed at the gateway works as against
// Lambda. Service errors carry `x-amzn-ErrorType: <Name>` and a body `{"Type","message"}`
// (plus `Reason` for throttles), which the SDKs turn into their typed exceptions.
#ifndef WISP_GATEWAY_INVOKE_API_H_
#define WISP_GATEWAY_INVOKE_API_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wisp::gateway {

struct ServiceError {
  int status = 500;
  std::string type;     // ResourceNotFoundException, TooManyRequestsException, ...
  std::string message;
  std::string reason;   // TooManyRequestsException only
  bool user_fault = true;

  std::string Body() const;  // {"Type":"User","message":"…"[, "Reason":"…"]}
};

ServiceError ResourceNotFound(absl::string_view arn);
ServiceError InvalidRequestContent(absl::string_view message);
ServiceError InvalidParameterValue(absl::string_view message);
ServiceError RequestTooLarge(size_t limit);
ServiceError TooManyRequests(absl::string_view reason, absl::string_view message);
ServiceError ServiceFault(absl::string_view message);
ServiceError UnsupportedMediaType(absl::string_view message);

struct FunctionRef {
  std::string name;
  std::string qualifier;  // "" or "$LATEST" (or a version/alias the caller named)
};

// Accepts "name", "name:qualifier", "123456789012:function:name" and
// "arn:aws:lambda:region:123456789012:function:name[:qualifier]" (already URL-decoded).
// A malformed name is an InvalidParameterValueException-style error message.
absl::StatusOr<FunctionRef> ParseFunctionRef(absl::string_view raw);

enum class InvocationType { kRequestResponse, kEvent, kDryRun };

struct InvokeHeaders {
  InvocationType type = InvocationType::kRequestResponse;
  bool log_tail = false;
  std::string client_context;  // decoded JSON, or ""
};

// Reads X-Amz-Invocation-Type, X-Amz-Log-Type and X-Amz-Client-Context (base64 JSON).
// An unknown value is a 400 InvalidParameterValueException.
absl::StatusOr<InvokeHeaders> ParseInvokeHeaders(absl::string_view invocation_type,
                                                 absl::string_view log_type,
                                                 absl::string_view client_context_b64);
// The ServiceError carried in a status returned by ParseFunctionRef / ParseInvokeHeaders.
ServiceError ToServiceError(const absl::Status& status);

// "arn:aws:lambda:<region>:<account>:function:<name>".
std::string FunctionArn(absl::string_view region, absl::string_view account, absl::string_view name);

// True when `payload` is a JSON document (the Invoke API's requirement for sync payloads).
bool IsJson(absl::string_view payload, std::string* error);

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_INVOKE_API_H_
