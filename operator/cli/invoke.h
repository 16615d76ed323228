// `wisp invoke`: calls a function and prints its result.
#ifndef WISP_OPERATOR_CLI_INVOKE_H_
#define WISP_OPERATOR_CLI_INVOKE_H_

#include <string>
#include <vector>

namespace wisp::cli {

// Exit codes: 0 success, 1 function error, 2 platform or usage error.
int RunInvoke(const std::vector<std::string>& args);

}  // namespace wisp::cli

#endif  // WISP_OPERATOR_CLI_INVOKE_H_
