// wisp: the command-line tool. Subcommands dispatch to small libraries.
#include <iostream>
#include <string>
#include <vector>

#include "operator/cli/invoke.h"

namespace {

constexpr char kUsage[] = R"(usage: wisp <command> [options]

Commands:
  invoke   call a function (today: a worker directly, with --worker HOST:PORT)

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
  if (command == "-h" || command == "--help" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << "wisp: unknown command \"" << command << "\"\n" << kUsage;
  return 2;
}
