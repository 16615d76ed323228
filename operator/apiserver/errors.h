// Kubernetes API errors carried as absl::Status values.
//
// The store and the HTTP layer return absl::Status; the HTTP layer turns each
// into a Kubernetes `Status` object (kind Status, apiVersion v1, status
// Failure, reason, code). The canonical code is chosen so that callers that
// only look at absl codes still do the right thing (NOT_FOUND, ALREADY_EXISTS,
// ABORTED = conflict: re-read and retry, INVALID_ARGUMENT = fix the request,
// OUT_OF_RANGE = the resourceVersion is too old: re-list). The Kubernetes
// reason rides in a payload, so two reasons that share a canonical code
// (BadRequest and Invalid) stay distinct. All functions are pure and
// thread-safe.
#ifndef WISP_OPERATOR_APISERVER_ERRORS_H_
#define WISP_OPERATOR_APISERVER_ERRORS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"

namespace wisp::apiserver {

namespace kerr {
absl::Status NotFound(absl::string_view message);       // 404 NotFound
absl::Status AlreadyExists(absl::string_view message);  // 409 AlreadyExists
absl::Status Conflict(absl::string_view message);       // 409 Conflict
absl::Status Invalid(absl::string_view message);        // 422 Invalid
// 422 Invalid listing the offending fields (Status details.causes: kubectl
// prints them). Each cause is "field.path: what is wrong".
absl::Status InvalidFields(absl::string_view message,
                           const std::vector<std::string>& causes);
absl::Status BadRequest(absl::string_view message);  // 400 BadRequest
absl::Status MethodNotAllowed(
    absl::string_view message);                   // 405 MethodNotAllowed
absl::Status Expired(absl::string_view message);  // 410 Expired
absl::Status UnsupportedMediaType(
    absl::string_view message);  // 415 UnsupportedMediaType
absl::Status NotAcceptable(absl::string_view message);  // 406 NotAcceptable
absl::Status Internal(absl::string_view message);       // 500 InternalError
}  // namespace kerr

// The HTTP code and Kubernetes reason for a status (OK maps to 200 with an
// empty reason). Statuses not made by kerr map by their canonical code.
struct KubeReason {
  int code = 200;
  std::string reason;
};
KubeReason ReasonOf(const absl::Status& status);

// The Kubernetes `Status` object for a failed status (`details` is added when
// not null).
Json StatusObject(const absl::Status& status, const Json& details = Json());

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_ERRORS_H_
