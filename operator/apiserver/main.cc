// wisp-apiserver: the Kubernetes API test server as a process (local mode's
// embedded API server, and a target for kubectl in tests). Flags become
// options, the server runs until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "controller/base/log.h"
#include "operator/apiserver/api_server.h"
#include "operator/apiserver/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1", "Address to listen on");
ABSL_FLAG(int, port, 6443, "Port (0 picks a free one; see --port_file)");
ABSL_FLAG(std::string, data_dir, "",
          "Folder to persist the store in (empty: memory only)");
ABSL_FLAG(std::string, port_file, "",
          "Write the bound port here once listening");
ABSL_FLAG(int, threads, 64,
          "Server threads: bounds open connections plus watches");
ABSL_FLAG(int, history, 10000, "Watch events kept for resuming watches");
ABSL_FLAG(bool, verbose, false, "Log every request");

namespace {

bool WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wisp;
  absl::SetProgramUsageMessage(
      "wisp-apiserver: a stateful subset of the Kubernetes API (kubectl "
      "--server http://HOST:PORT)");
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_verbose)) log::SetMinLevel(log::Level::kDebug);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  apiserver::Store::Options store_options;
  store_options.data_dir = absl::GetFlag(FLAGS_data_dir);
  store_options.history_limit =
      static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_history)));
  absl::StatusOr<std::unique_ptr<apiserver::Store>> store =
      apiserver::Store::Open(store_options);
  if (!store.ok()) {
    log::Error("cannot open the store", {{"error", store.status().ToString()}});
    return 1;
  }

  apiserver::ApiServer::Options options;
  options.host = absl::GetFlag(FLAGS_listen);
  options.port = absl::GetFlag(FLAGS_port);
  options.threads = absl::GetFlag(FLAGS_threads);
  absl::StatusOr<std::unique_ptr<apiserver::ApiServer>> server =
      apiserver::ApiServer::Start(options, *std::move(store));
  if (!server.ok()) {
    log::Error("cannot start the API server",
               {{"error", server.status().ToString()}});
    return 1;
  }
  log::Info("apiserver listening",
            {{"url", (*server)->url()}, {"data_dir", store_options.data_dir}});
  if (std::string port_file = absl::GetFlag(FLAGS_port_file);
      !port_file.empty()) {
    if (!WriteFileAtomically(port_file,
                             absl::StrCat((*server)->port(), "\n"))) {
      log::Error("cannot write the port file", {{"path", port_file}});
      return 1;
    }
  }

  int sig = 0;
  sigwait(&signals, &sig);
  log::Info("apiserver stopping", {{"signal", sig}});
  (*server)->Stop();
  return 0;
}
