#include "tests/testing/operator_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace wisp::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

OperatorProcess::OperatorProcess(const std::string& server_url, const std::string& identity,
                                 const std::vector<std::string>& extra)
    : identity_(identity) {
  std::vector<std::string> args = {
      BinDir() + "/wisp-operator",
      "--server=" + server_url,
      "--identity=" + identity,
      "--worker_images=python3.11=wisp/worker-python3.11:test,"
      "nodejs20=wisp/worker-nodejs20:test,provided=wisp/worker-provided:test",
      "--listen=127.0.0.1",
      "--port=0",  // the gateways' stream: each process needs its own port
      "--admin_port=0",
      "--port_file=" + dir_.path() + "/port",
  };
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string log = dir_.path() + "/stderr";
  pid_ = fork();
  if (pid_ == 0) {
    // Only async-signal-safe calls between fork and exec: the parent has threads.
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

OperatorProcess::~OperatorProcess() { Kill(); }

void OperatorProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = status;
  pid_ = -1;
}

bool OperatorProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

int OperatorProcess::AdminPort() const {
  int port = 0;
  std::string text = ReadFile(dir_.path() + "/port");
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port)) return 0;
  return port;
}

double OperatorProcess::Metric(const std::string& name) const {
  int port = AdminPort();
  if (port == 0) return -1;
  auto body = HttpGet(port, "/metrics");
  if (!body.ok()) return -1;
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(*body, '\n')) {
    if (absl::StartsWith(line, "#")) continue;
    if (!absl::StartsWith(line, name)) continue;
    absl::string_view rest = line.substr(name.size());
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '{') continue;  // a longer name
    double v = 0;
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() >= 2 && absl::SimpleAtod(parts.back(), &v)) sum += v;
  }
  return sum;
}

std::string OperatorProcess::Log() const { return ReadFile(dir_.path() + "/stderr"); }

std::string OperatorProcess::Describe() const {
  return absl::StrCat("--- ", identity_, " (exit status ", exit_status_, ") ---\n", Log());
}

}  // namespace wisp::testing
