// `wisp apply -f FILE`, `wisp get [NAME]`, `wisp delete NAME`: Functions on an API server
// (default: local mode's embedded one, http://127.0.0.1:6443) without kubectl.
#ifndef WISP_OPERATOR_CLI_KUBE_COMMANDS_H_
#define WISP_OPERATOR_CLI_KUBE_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace wisp::cli {

// Exit codes: 0 success, 1 an API error (printed), 2 usage.
int RunApply(const std::vector<std::string>& args);
int RunGet(const std::vector<std::string>& args);
int RunDelete(const std::vector<std::string>& args);

// Every non-empty document of a YAML stream as JSON (plain scalars typed by YAML 1.2's core
// schema, quoted ones strings). Errors: INVALID_ARGUMENT with the parser's message.
absl::StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(absl::string_view text);

}  // namespace wisp::cli

#endif  // WISP_OPERATOR_CLI_KUBE_COMMANDS_H_
