#include "controller/operator_config.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace wisp {

absl::StatusOr<std::string> WorkerImage(const OperatorConfig& config, absl::string_view runtime) {
  auto it = config.worker_images.find(runtime);
  if (it == config.worker_images.end() || it->second.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no worker image is configured for runtime \"", runtime, "\""));
  }
  return it->second;
}

std::string FunctionUrl(const OperatorConfig& config, absl::string_view name) {
  if (config.gateway_url.empty()) return "";
  absl::string_view base = config.gateway_url;
  while (absl::ConsumeSuffix(&base, "/")) {
  }
  return absl::StrCat(base, "/function/", name);
}

}  // namespace wisp
