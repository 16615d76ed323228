// Test helper: the real AWS SDK for JavaScript v3 Lambda client, installed from the npm registry
// (pinned in tests/gateway/sdk/package.json) into <build>/sdk-cache, and driven through
// tests/gateway/sdk/invoke_sdk.js scenarios that print what the SDK saw as JSON.
#ifndef WISP_TESTS_TESTING_AWS_SDK_H_
#define WISP_TESTS_TESTING_AWS_SDK_H_

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace wisp::testing {

// The first `program` on $PATH, or "".
std::string Which(const std::string& program);
// Installs the pinned SDK unless that version is there; returns the folder holding node_modules.
absl::StatusOr<std::string> EnsureSdk();
// Runs one scenario of invoke_sdk.js against http://127.0.0.1:port.
absl::StatusOr<nlohmann::json> RunSdk(const std::string& sdk_dir, int port,
                                      const std::string& scenario);

}  // namespace wisp::testing

#endif  // WISP_TESTS_TESTING_AWS_SDK_H_
