// The operator's own settings that shape what it builds: worker images per runtime and the
// gateway's address. A plain value, filled from flags in the operator's main (or by local mode);
// the builders in controller/resources/ and ComputeStatus read it. Thread-compatible.
#ifndef WISP_CONTROLLER_OPERATOR_CONFIG_H_
#define WISP_CONTROLLER_OPERATOR_CONFIG_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wisp {

struct OperatorConfig {
  // The worker image of each runtime, by runtime name:
  // {"python3.11", "wisp/worker-python3.11:0.1.0"}, {"provided", "wisp/worker-provided:0.1.0"}.
  std::map<std::string, std::string, std::less<>> worker_images;
  // The worker container's imagePullPolicy (Always, IfNotPresent, Never); empty: the cluster's
  // default. Init containers running the function's own images keep the default.
  std::string worker_image_pull_policy;
  // The gateway's base URL as users reach it, e.g. "http://wisp-gateway.wisp-system.svc:8080".
  // A Function's status.url is <gateway_url>/function/<name>; empty: no url.
  std::string gateway_url;
};

// The worker image for `runtime`; FAILED_PRECONDITION naming the runtime when none is set.
absl::StatusOr<std::string> WorkerImage(const OperatorConfig& config, absl::string_view runtime);

// "<gateway_url>/function/<name>" (one '/' between them), or "" without a gateway_url.
std::string FunctionUrl(const OperatorConfig& config, absl::string_view name);

}  // namespace wisp

#endif  // WISP_CONTROLLER_OPERATOR_CONFIG_H_
