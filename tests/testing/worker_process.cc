#include "tests/testing/worker_process.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace wisp::testing {
namespace {

std::vector<std::string> WorkerArgv(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/wisp-worker"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

}  // namespace

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = absl::StrCat(base ? base : "/tmp", "/wisp-test-XXXXXX");
  char* made = mkdtemp(tmpl.data());
  path_ = made ? made : tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::Write(const std::string& relative, const std::string& content, int mode) const {
  std::filesystem::path p = std::filesystem::path(path_) / relative;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
  ::chmod(p.c_str(), mode);
}

std::string BinDir() {
  const char* d = getenv("WISP_BIN_DIR");
  return d ? d : "build/bin";
}

std::string SourceDir() {
  const char* d = getenv("WISP_SOURCE_DIR");
  return d ? d : ".";
}

absl::StatusOr<std::unique_ptr<WorkerProcess>> WorkerProcess::Start(std::vector<std::string> args) {
  std::unique_ptr<WorkerProcess> w(new WorkerProcess());
  w->dir_ = std::make_unique<TempDir>();
  std::string port_file = w->dir_->path() + "/ports";
  args.insert(args.end(), {"--listen=127.0.0.1", "--port=0", "--admin_port=0",
                           "--port_file=" + port_file,
                           "--work_dir=" + w->dir_->path() + "/work"});
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
      WorkerArgv(args),
      {.stdout_path = w->dir_->path() + "/stdout", .stderr_path = w->dir_->path() + "/stderr"});
  if (!process.ok()) return process.status();
  w->process_ = *std::move(process);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::Status listening =
      w->process_->WaitForPorts(port_file, deadline, &w->port_, &w->admin_port_);
  if (absl::IsDeadlineExceeded(listening)) return absl::DeadlineExceededError("worker did not listen");
  if (!listening.ok()) {
    return absl::InternalError(absl::StrCat("worker exited at start: ", w->Stderr()));
  }
  w->client_ = worker::WorkerClient::Create(w->target());
  while (!w->client_->CheckHealth(absl::Seconds(2)).ok()) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("worker never became SERVING");
    absl::SleepFor(absl::Milliseconds(10));
  }
  return w;
}

WorkerProcess::~WorkerProcess() = default;  // the Subprocess SIGKILLs

std::string WorkerProcess::target() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<v1::InvokeResponse> WorkerProcess::Invoke(const std::string& payload, bool log_tail,
                                                         absl::Duration timeout) {
  v1::InvokeRequest req;
  req.set_payload(payload);
  req.set_log_tail(log_tail);
  return client_->Invoke(req, timeout);
}

int WorkerProcess::Signal(int sig, absl::Duration timeout) {
  return process_->Signal(sig, timeout);
}

std::string WorkerProcess::Stdout() const { return process_->Stdout(); }
std::string WorkerProcess::Stderr() const { return process_->Stderr(); }

RunResult RunWorkerToExit(const std::vector<std::string>& args, absl::Duration timeout) {
  return RunProcess(WorkerArgv(args), "", timeout);
}

RunResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_text,
                     absl::Duration timeout) {
  TempDir dir;
  dir.Write("stdin", stdin_text);
  RunResult r;
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(argv, {.stdin_path = dir.path() + "/stdin",
                               .stdout_path = dir.path() + "/stdout",
                               .stderr_path = dir.path() + "/stderr"});
  if (!process.ok()) return r;
  int status = (*process)->Wait(timeout);
  if (status == -1) {
    (*process)->Kill();
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  }
  r.stdout_text = (*process)->Stdout();
  r.stderr_text = (*process)->Stderr();
  return r;
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  auto res = c.Get(path.c_str());
  if (!res) return absl::UnavailableError("connection failed");
  if (res->status != 200) return absl::UnknownError(absl::StrCat("HTTP ", res->status, ": ", res->body));
  return res->body;
}

}  // namespace wisp::testing
