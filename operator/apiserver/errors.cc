#include "operator/apiserver/errors.h"

#include <string>

#include "absl/strings/cord.h"

namespace wisp::apiserver {
namespace {

constexpr char kReasonPayload[] = "type.wisp.dev/k8s.reason";
constexpr char kCausesPayload[] = "type.wisp.dev/k8s.causes";

absl::Status WithReason(absl::StatusCode code, absl::string_view reason,
                        absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kReasonPayload, absl::Cord(reason));
  return status;
}

}  // namespace

namespace kerr {
absl::Status NotFound(absl::string_view m) {
  return WithReason(absl::StatusCode::kNotFound, "NotFound", m);
}
absl::Status AlreadyExists(absl::string_view m) {
  return WithReason(absl::StatusCode::kAlreadyExists, "AlreadyExists", m);
}
absl::Status Conflict(absl::string_view m) {
  return WithReason(absl::StatusCode::kAborted, "Conflict", m);
}
absl::Status Invalid(absl::string_view m) {
  return WithReason(absl::StatusCode::kInvalidArgument, "Invalid", m);
}
absl::Status InvalidFields(absl::string_view m,
                           const std::vector<std::string>& causes) {
  absl::Status status = Invalid(m);
  Json list = Json::array();
  for (const std::string& cause : causes) {
    size_t colon = cause.find(": ");
    if (colon == std::string::npos) {
      list.push_back({{"reason", "FieldValueInvalid"}, {"message", cause}});
    } else {
      list.push_back({{"reason", "FieldValueInvalid"},
                      {"field", cause.substr(0, colon)},
                      {"message", cause.substr(colon + 2)}});
    }
  }
  status.SetPayload(kCausesPayload, absl::Cord(Dump(list)));
  return status;
}
absl::Status BadRequest(absl::string_view m) {
  return WithReason(absl::StatusCode::kInvalidArgument, "BadRequest", m);
}
absl::Status MethodNotAllowed(absl::string_view m) {
  return WithReason(absl::StatusCode::kUnimplemented, "MethodNotAllowed", m);
}
absl::Status Expired(absl::string_view m) {
  return WithReason(absl::StatusCode::kOutOfRange, "Expired", m);
}
absl::Status UnsupportedMediaType(absl::string_view m) {
  return WithReason(absl::StatusCode::kInvalidArgument, "UnsupportedMediaType",
                    m);
}
absl::Status NotAcceptable(absl::string_view m) {
  return WithReason(absl::StatusCode::kInvalidArgument, "NotAcceptable", m);
}
absl::Status Internal(absl::string_view m) {
  return WithReason(absl::StatusCode::kInternal, "InternalError", m);
}
}  // namespace kerr

KubeReason ReasonOf(const absl::Status& status) {
  if (status.ok()) return {200, ""};
  auto payload = status.GetPayload(kReasonPayload);
  if (payload.has_value()) {
    std::string reason(*payload);
    if (reason == "NotFound") return {404, reason};
    if (reason == "AlreadyExists" || reason == "Conflict") return {409, reason};
    if (reason == "Invalid") return {422, reason};
    if (reason == "BadRequest") return {400, reason};
    if (reason == "MethodNotAllowed") return {405, reason};
    if (reason == "Expired") return {410, reason};
    if (reason == "UnsupportedMediaType") return {415, reason};
    if (reason == "NotAcceptable") return {406, reason};
    return {500, "InternalError"};
  }
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return {404, "NotFound"};
    case absl::StatusCode::kAlreadyExists:
      return {409, "AlreadyExists"};
    case absl::StatusCode::kAborted:
      return {409, "Conflict"};
    case absl::StatusCode::kInvalidArgument:
      return {400, "BadRequest"};
    case absl::StatusCode::kFailedPrecondition:
      return {422, "Invalid"};
    case absl::StatusCode::kOutOfRange:
      return {410, "Expired"};
    case absl::StatusCode::kUnimplemented:
      return {405, "MethodNotAllowed"};
    case absl::StatusCode::kDeadlineExceeded:
      return {504, "Timeout"};
    case absl::StatusCode::kUnavailable:
      return {503, "ServiceUnavailable"};
    case absl::StatusCode::kResourceExhausted:
      return {429, "TooManyRequests"};
    default:
      return {500, "InternalError"};
  }
}

Json StatusObject(const absl::Status& status, const Json& details) {
  KubeReason r = ReasonOf(status);
  Json out = {{"kind", "Status"},
              {"apiVersion", "v1"},
              {"metadata", Json::object()},
              {"status", status.ok() ? "Success" : "Failure"},
              {"message", std::string(status.message())},
              {"reason", r.reason},
              {"code", r.code}};
  if (!details.is_null()) out["details"] = details;
  if (auto causes = status.GetPayload(kCausesPayload); causes.has_value()) {
    Json parsed = Json::parse(std::string(*causes), nullptr, false);
    if (parsed.is_array()) {
      if (!out["details"].is_object()) out["details"] = Json::object();
      out["details"]["causes"] = std::move(parsed);
    }
  }
  return out;
}

}  // namespace wisp::apiserver
