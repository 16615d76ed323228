// `wisp up`: local mode. Starts the embedded API server, installs the Function CRD, starts the
// process kubelet, the operator and one gateway as child processes (from the folder of the
// `wisp` binary), waits for each to be ready, prints how to use it, then supervises them: a
// child that exits is restarted with backoff; SIGINT/SIGTERM stops them in reverse order.
#ifndef WISP_OPERATOR_CLI_UP_H_
#define WISP_OPERATOR_CLI_UP_H_

#include <string>
#include <vector>

namespace wisp::cli {

// Exit codes: 0 stopped by a signal, 1 could not start (port taken, child failed), 2 usage.
int RunUp(const std::vector<std::string>& args);

}  // namespace wisp::cli

#endif  // WISP_OPERATOR_CLI_UP_H_
