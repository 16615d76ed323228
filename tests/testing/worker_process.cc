#include "tests/testing/worker_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace wisp::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& full_argv, const std::string& in,
            const std::string& out, const std::string& err) {
  std::vector<char*> argv;
  for (const auto& a : full_argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int i = ::open(in.empty() ? "/dev/null" : in.c_str(), O_RDONLY);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

pid_t SpawnWorker(const std::vector<std::string>& args, const std::string& out,
                  const std::string& err) {
  std::vector<std::string> argv = {BinDir() + "/wisp-worker"};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(argv, "", out, err);
}

int WaitFor(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
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
  w->pid_ = SpawnWorker(args, w->dir_->path() + "/stdout", w->dir_->path() + "/stderr");
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    std::string ports = ReadAll(port_file);
    std::vector<std::string> parts = absl::StrSplit(ports, absl::ByAnyChar(" \n"), absl::SkipEmpty());
    if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &w->port_) &&
        absl::SimpleAtoi(parts[1], &w->admin_port_)) {
      break;
    }
    int status = 0;
    if (waitpid(w->pid_, &status, WNOHANG) == w->pid_) {
      w->pid_ = -1;
      return absl::InternalError(absl::StrCat("worker exited at start: ", w->Stderr()));
    }
    if (absl::Now() > deadline) return absl::DeadlineExceededError("worker did not listen");
    absl::SleepFor(absl::Milliseconds(10));
  }
  w->client_ = worker::WorkerClient::Create(w->target());
  while (!w->client_->CheckHealth(absl::Seconds(2)).ok()) {
    if (absl::Now() > deadline) return absl::DeadlineExceededError("worker never became SERVING");
    absl::SleepFor(absl::Milliseconds(10));
  }
  return w;
}

WorkerProcess::~WorkerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    WaitFor(pid_, absl::Seconds(10));
  }
}

std::string WorkerProcess::target() const { return absl::StrCat("127.0.0.1:", port_); }

absl::StatusOr<v1::InvokeResponse> WorkerProcess::Invoke(const std::string& payload, bool log_tail,
                                                         absl::Duration timeout) {
  v1::InvokeRequest req;
  req.set_payload(payload);
  req.set_log_tail(log_tail);
  return client_->Invoke(req, timeout);
}

int WorkerProcess::Signal(int sig, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = WaitFor(pid_, timeout);
  if (status != -1) pid_ = -1;
  return status;
}

std::string WorkerProcess::Stdout() const { return ReadAll(dir_->path() + "/stdout"); }
std::string WorkerProcess::Stderr() const { return ReadAll(dir_->path() + "/stderr"); }

RunResult RunWorkerToExit(const std::vector<std::string>& args, absl::Duration timeout) {
  std::vector<std::string> argv = {BinDir() + "/wisp-worker"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, "", timeout);
}

RunResult RunProcess(const std::vector<std::string>& argv, const std::string& stdin_text,
                     absl::Duration timeout) {
  TempDir dir;
  dir.Write("stdin", stdin_text);
  pid_t pid = Spawn(argv, dir.path() + "/stdin", dir.path() + "/stdout", dir.path() + "/stderr");
  int status = WaitFor(pid, timeout);
  RunResult r;
  if (status == -1) {
    ::kill(pid, SIGKILL);
    WaitFor(pid, absl::Seconds(5));
  } else if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  }
  r.stdout_text = ReadAll(dir.path() + "/stdout");
  r.stderr_text = ReadAll(dir.path() + "/stderr");
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
