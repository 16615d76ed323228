#include "tests/testing/operator_process.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace wisp::testing {

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
  std::string log = dir_.path() + "/stderr";
  // A fork that fails leaves no process: Running() is false and Describe() says exit status -1.
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(std::move(args), {.stdout_path = log, .stderr_path = log});
  if (process.ok()) process_ = *std::move(process);
}

OperatorProcess::~OperatorProcess() { Kill(); }

void OperatorProcess::Kill() {
  if (process_ != nullptr) process_->Kill();
}

bool OperatorProcess::Running() { return process_ != nullptr && process_->Running(); }

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
  int exit_status = process_ != nullptr ? process_->exit_status() : -1;
  return absl::StrCat("--- ", identity_, " (exit status ", exit_status, ") ---\n", Log());
}

}  // namespace wisp::testing
