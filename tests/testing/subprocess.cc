#include "tests/testing/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace wisp::testing {
namespace {

bool ParsePortPair(const std::string& text, int* port, int* admin_port) {
  std::vector<std::string> parts = absl::StrSplit(text, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], port) &&
         absl::SimpleAtoi(parts[1], admin_port);
}

}  // namespace

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(std::vector<std::string> argv,
                                                              SubprocessFiles files) {
  std::unique_ptr<Subprocess> p(new Subprocess());
  p->files_ = std::move(files);
  const SubprocessFiles& f = p->files_;
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const char* in_path = f.stdin_path.empty() ? "/dev/null" : f.stdin_path.c_str();
  const bool shared = !f.stderr_path.empty() && f.stderr_path == f.stdout_path;
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the parent has threads.
    int in = ::open(in_path, O_RDONLY);
    dup2(in, 0);
    if (!f.stdout_path.empty()) {
      int out = ::open(f.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, 1);
      if (shared) dup2(out, 2);
    }
    if (!f.stderr_path.empty() && !shared) {
      int err = ::open(f.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(err, 2);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  p->pid_ = pid;
  return p;
}

Subprocess::~Subprocess() { Kill(); }

bool Subprocess::Running() { return pid_ > 0 && Wait(absl::ZeroDuration()) == -1; }

int Subprocess::Wait(absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return status;
    }
    if (absl::Now() >= deadline) return -1;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

int Subprocess::Signal(int sig, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  return Wait(timeout);
}

void Subprocess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = status;
  pid_ = -1;
}

absl::StatusOr<std::string> Subprocess::WaitForFile(const std::string& path,
                                                    bool (*complete)(const std::string&),
                                                    absl::Time deadline) {
  while (true) {
    std::string contents = ReadFile(path);
    if (complete(contents)) return contents;
    if (!Running()) return absl::InternalError("the process exited");
    if (absl::Now() > deadline) return absl::DeadlineExceededError(path + " not written");
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::Status Subprocess::WaitForPorts(const std::string& port_file, absl::Time deadline,
                                      int* port, int* admin_port) {
  absl::StatusOr<std::string> text = WaitForFile(
      port_file,
      [](const std::string& contents) {
        int a = 0, b = 0;
        return ParsePortPair(contents, &a, &b);
      },
      deadline);
  if (!text.ok()) return text.status();
  ParsePortPair(*text, port, admin_port);
  return absl::OkStatus();
}

std::string Subprocess::Stdout() const {
  return files_.stdout_path.empty() ? "" : ReadFile(files_.stdout_path);
}

std::string Subprocess::Stderr() const {
  return files_.stderr_path.empty() ? "" : ReadFile(files_.stderr_path);
}

}  // namespace wisp::testing
