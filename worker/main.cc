// wisp-worker: runs one function's execution environments behind gRPC.
// Flags become a config, objects are wired, the process runs until SIGTERM and drains.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/admin/admin_server.h"
#include "controller/base/log.h"
#include "controller/base/signals.h"
#include "worker/function_log.h"
#include "worker/metrics.h"
#include "worker/worker_config.h"
#include "worker/worker_core.h"
#include "worker/worker_server.h"

ABSL_FLAG(std::string, config, "", "Function config file (JSON: name, runtime, handler, codePath, "
          "memoryMB, timeoutSeconds, ephemeralStorageMB, environment)");
ABSL_FLAG(std::optional<std::string>, name, std::nullopt, "Function name");
ABSL_FLAG(std::optional<std::string>, runtime, std::nullopt, "python3.11 | nodejs20 | provided");
ABSL_FLAG(std::optional<std::string>, handler, std::nullopt, "Handler, e.g. app.handler");
ABSL_FLAG(std::optional<std::string>, code, std::nullopt, "Folder with the function's code");
ABSL_FLAG(std::optional<int>, memory, std::nullopt, "Memory per environment in MB (128-10240)");
ABSL_FLAG(std::optional<int>, timeout, std::nullopt, "Timeout in seconds (1-900)");
ABSL_FLAG(std::optional<int>, ephemeral_storage, std::nullopt, "/tmp size in MB (512-10240)");
ABSL_FLAG(std::vector<std::string>, env, {}, "Environment variables NAME=VALUE, comma-separated");
ABSL_FLAG(int, concurrency, 1, "Execution environments (invocations at once)");
ABSL_FLAG(std::string, listen, "0.0.0.0", "Address for gRPC and admin HTTP");
ABSL_FLAG(int, port, 9000, "gRPC port (0 picks a free one)");
ABSL_FLAG(int, admin_port, 9001, "Admin HTTP port for /metrics /healthz /readyz (0 picks one)");
ABSL_FLAG(std::string, port_file, "", "Write \"<grpc port> <admin port>\" here once listening");
ABSL_FLAG(std::string, runtimes_dir, "", "Folder with the shipped runtimes "
          "(default: <binary>/../share/wisp/runtimes)");
ABSL_FLAG(std::string, work_dir, "", "Scratch folder (default: a new folder under $TMPDIR)");
ABSL_FLAG(std::string, region, "us-east-1", "AWS_REGION given to functions");
ABSL_FLAG(std::string, python, "python3", "Python interpreter for python3.11");
ABSL_FLAG(std::string, node, "node", "Node.js binary for nodejs20");
ABSL_FLAG(std::string, log_format, "text", "Function log format on stdout: text | json");
ABSL_FLAG(int, drain_seconds, -1, "Longest wait for in-flight work on SIGTERM "
          "(default: the function timeout + 5)");

namespace {

std::string ReadWholeFile(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The interpreter's real path. Shims (pyenv and the like) cost ~100 ms per start; asking once
// here saves that on every cold start. Falls back to the name as given.
std::string ResolvePython(const std::string& python) {
  std::string cmd = python + " -c 'import sys; print(sys.executable)' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return python;
  char buf[4096];
  std::string out;
  while (fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  int status = pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (status != 0 || out.empty() || access(out.c_str(), X_OK) != 0) return python;
  return out;
}

std::string DefaultRuntimesDir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "runtimes";
  return (exe.parent_path().parent_path() / "share/wisp/runtimes").string();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace wisp;
  absl::SetProgramUsageMessage("wisp-worker: runs a function behind the wisp.v1.Worker gRPC API");
  absl::ParseCommandLine(argc, argv);

  BlockTerminationSignals();

  std::string file_json;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    bool ok = false;
    file_json = ReadWholeFile(absl::GetFlag(FLAGS_config), &ok);
    if (!ok) {
      log::Error("cannot read the function config", {{"path", absl::GetFlag(FLAGS_config)}});
      return 2;
    }
  }
  worker::FunctionFlags flags{absl::GetFlag(FLAGS_name), absl::GetFlag(FLAGS_runtime),
                              absl::GetFlag(FLAGS_handler), absl::GetFlag(FLAGS_code),
                              absl::GetFlag(FLAGS_memory), absl::GetFlag(FLAGS_timeout),
                              absl::GetFlag(FLAGS_ephemeral_storage), absl::GetFlag(FLAGS_env)};
  absl::StatusOr<FunctionConfig> fn = worker::ResolveFunctionConfig(file_json, flags);
  if (!fn.ok()) {
    log::Error("invalid function config", {{"error", std::string(fn.status().message())}});
    return 2;
  }
  std::error_code ec;
  fn->code_path = std::filesystem::absolute(fn->code_path, ec).lexically_normal().string();
  if (fn->code_path.size() > 1 && fn->code_path.back() == '/') fn->code_path.pop_back();
  if (!std::filesystem::is_directory(fn->code_path, ec)) {
    log::Error("codePath is not a folder", {{"path", fn->code_path}});
    return 2;
  }
  if (absl::GetFlag(FLAGS_concurrency) < 1 || absl::GetFlag(FLAGS_concurrency) > 1000) {
    log::Error("--concurrency must be between 1 and 1000");
    return 2;
  }
  worker::LogFormat log_format;
  if (absl::GetFlag(FLAGS_log_format) == "text") {
    log_format = worker::LogFormat::kText;
  } else if (absl::GetFlag(FLAGS_log_format) == "json") {
    log_format = worker::LogFormat::kJson;
  } else {
    log::Error("--log_format must be text or json");
    return 2;
  }

  worker::WorkerOptions options;
  options.function = *fn;
  options.concurrency = absl::GetFlag(FLAGS_concurrency);
  options.runtime.runtimes_dir = absl::GetFlag(FLAGS_runtimes_dir).empty()
                                     ? DefaultRuntimesDir()
                                     : absl::GetFlag(FLAGS_runtimes_dir);
  options.runtime.python = fn->runtime == Runtime::kPython311
                               ? ResolvePython(absl::GetFlag(FLAGS_python))
                               : absl::GetFlag(FLAGS_python);
  options.runtime.node = absl::GetFlag(FLAGS_node);
  options.runtime.region = absl::GetFlag(FLAGS_region);
  options.work_dir = absl::GetFlag(FLAGS_work_dir);
  bool own_work_dir = options.work_dir.empty();
  if (own_work_dir) {
    const char* tmp = getenv("TMPDIR");
    options.work_dir = absl::StrCat(tmp ? tmp : "/tmp", "/wisp-worker-", getpid());
  }
  std::filesystem::create_directories(options.work_dir, ec);
  options.caps = worker::DetectSandboxCapabilities();
  log::Info("limits", {{"mechanisms", options.caps.Describe()}});

  auto registry = std::make_shared<prometheus::Registry>();
  worker::WorkerMetrics metrics(registry, fn->name);
  worker::StdoutFunctionLog function_log(log_format);
  worker::WorkerCore core(options, &function_log, &metrics);
  core.Start();

  auto server = worker::WorkerServer::Start(&core, absl::GetFlag(FLAGS_listen),
                                            absl::GetFlag(FLAGS_port), &metrics);
  if (!server.ok()) {
    log::Error("cannot start the gRPC server", {{"error", std::string(server.status().message())}});
    return 1;
  }
  auto admin = AdminServer::Start(absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_admin_port),
                                  registry, [&core] { return core.Ready(); });
  if (!admin.ok()) {
    log::Error("cannot start the admin server", {{"error", std::string(admin.status().message())}});
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::string tmp = absl::GetFlag(FLAGS_port_file) + ".tmp";
    std::ofstream(tmp) << (*server)->port() << " " << (*admin)->port() << "\n";
    std::filesystem::rename(tmp, absl::GetFlag(FLAGS_port_file), ec);
  }
  log::Info("worker listening", {{"function", fn->name},
                                 {"runtime", std::string(RuntimeName(fn->runtime))},
                                 {"port", (*server)->port()},
                                 {"admin_port", (*admin)->port()},
                                 {"concurrency", options.concurrency}});

  std::thread readiness([&core, &server] {
    if (core.WaitReady(absl::InfiniteFuture())) (*server)->SetServing(true);
  });

  int sig = WaitForTerminationSignal();
  int drain = absl::GetFlag(FLAGS_drain_seconds);
  if (drain < 0) drain = fn->timeout_seconds + 5;
  log::Info("draining", {{"signal", sig}, {"in_flight", core.InFlight()}, {"max_seconds", drain}});
  (*server)->SetServing(false);
  absl::Time deadline = absl::Now() + absl::Seconds(drain);
  bool clean = core.Drain(deadline);
  // Every delivered invocation gets an explicit reply before gRPC shuts down (Stop interrupts
  // the ones still running), so a call gRPC cancels during shutdown never reached a runtime.
  core.Stop();
  (*server)->Shutdown(absl::Now() + absl::Milliseconds(500));
  readiness.join();
  (*admin)->Stop();
  if (own_work_dir) std::filesystem::remove_all(options.work_dir, ec);
  log::Info("stopped", {{"drained", clean ? "true" : "false"}});
  return 0;
}
