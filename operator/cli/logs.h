// `wisp logs`: a function's worker logs in local mode (the process kubelet's files).
#ifndef WISP_OPERATOR_CLI_LOGS_H_
#define WISP_OPERATOR_CLI_LOGS_H_

#include <string>
#include <vector>

namespace wisp::cli {

// Exit codes: 0 printed (or followed until SIGINT), 1 no logs for the function, 2 usage.
int RunLogs(const std::vector<std::string>& args);

}  // namespace wisp::cli

#endif  // WISP_OPERATOR_CLI_LOGS_H_
