// wisp-kubelet: the process kubelet of local mode (operator/kubelet/process_kubelet.h) as a
// binary. Runs until SIGTERM/SIGINT, then stops every worker it started.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "controller/base/log.h"
#include "controller/base/signals.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/kubelet/process_kubelet.h"

ABSL_FLAG(std::string, server, "", "API server URL (local mode's embedded API server)");
ABSL_FLAG(std::string, data_dir, "", "Folder for the replicas' files, work folders and logs");
ABSL_FLAG(std::string, worker_binary, "", "wisp-worker to run (default: <this binary's folder>/wisp-worker)");
ABSL_FLAG(std::string, runtimes_dir, "", "Passed to the workers as --runtimes_dir when set");
ABSL_FLAG(std::string, python, "", "Passed to the workers as --python when set");
ABSL_FLAG(std::string, node, "", "Passed to the workers as --node when set");
ABSL_FLAG(std::vector<std::string>, watch_namespaces, {}, "Namespaces to watch (default: all)");

namespace {

std::string ExeDir() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : exe.parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wisp;
  BlockTerminationSignals();
  absl::SetProgramUsageMessage("Runs the Deployments of Functions as local wisp-worker processes");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_server).empty() || absl::GetFlag(FLAGS_data_dir).empty()) {
    log::Error("--server and --data_dir are required");
    return 2;
  }
  op::ProcessKubeletOptions options;
  std::error_code ec;
  options.data_dir = std::filesystem::absolute(absl::GetFlag(FLAGS_data_dir), ec).string();
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    log::Error("cannot create the data folder", {{"data_dir", options.data_dir}, {"error", ec.message()}});
    return 1;
  }
  options.worker_binary = absl::GetFlag(FLAGS_worker_binary).empty()
                              ? ExeDir() + "/wisp-worker"
                              : absl::GetFlag(FLAGS_worker_binary);
  if (::access(options.worker_binary.c_str(), X_OK) != 0) {
    log::Error("the worker binary is not executable", {{"worker_binary", options.worker_binary}});
    return 1;
  }
  options.runtimes_dir = absl::GetFlag(FLAGS_runtimes_dir);
  options.python = absl::GetFlag(FLAGS_python);
  options.node = absl::GetFlag(FLAGS_node);
  options.namespaces = absl::GetFlag(FLAGS_watch_namespaces);

  kube::RestKubeClient client(kube::ServerOnly(absl::GetFlag(FLAGS_server)));
  op::ProcessKubelet kubelet(&client, options);
  kubelet.Start();
  log::Info("kubelet started", {{"server", absl::GetFlag(FLAGS_server)},
                                {"data_dir", options.data_dir},
                                {"worker_binary", options.worker_binary}});
  int sig = WaitForTerminationSignal();
  log::Info("stopping", {{"signal", sig}});
  kubelet.Stop();
  return 0;
}
