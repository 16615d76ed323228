// wisp: the command-line tool. Subcommands dispatch to small libraries.
#include <iostream>
#include <string>
#include <vector>

#include "operator/cli/invoke.h"
#include "operator/cli/kube_commands.h"
#include "operator/cli/logs.h"
#include "operator/cli/up.h"

namespace {

constexpr char kUsage[] = R"(usage: wisp <command> [options]

Commands:
  up       run Wisp locally (API server, kubelet, operator, gateway), supervised
  apply    apply Functions from a YAML file (-f FILE) to the API server
  get      list Functions (NAME READY REPLICAS URL AGE)
  delete   delete Functions
  invoke   call a function through the gateway's Invoke API (or a worker, with --worker)
  logs     print (or follow, -f) a function's worker logs in local mode

Run `wisp <command> --help` for a command's options.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "invoke") return wisp::cli::RunInvoke(args);
  if (command == "logs") return wisp::cli::RunLogs(args);
  if (command == "up") return wisp::cli::RunUp(args);
  if (command == "apply") return wisp::cli::RunApply(args);
  if (command == "get") return wisp::cli::RunGet(args);
  if (command == "delete") return wisp::cli::RunDelete(args);
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "wisp: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}
