#include "tests/testing/gateway_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace wisp::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int WaitForExit(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayProcess>> GatewayProcess::Start(
    const std::string& catalog_json, std::vector<std::string> args) {
  std::unique_ptr<GatewayProcess> g(new GatewayProcess());
  g->dir_ = std::make_unique<TempDir>();
  const std::string& dir = g->dir_->path();
  std::string port_file = dir + "/ports";
  std::vector<std::string> argv = {BinDir() + "/wisp-gateway", "--listen=127.0.0.1", "--port=0",
                                   "--admin_port=0", "--port_file=" + port_file};
  if (!catalog_json.empty()) {
    g->WriteCatalog(catalog_json);
    argv.push_back("--catalog=" + dir + "/catalog.json");
  }
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::string out = dir + "/stdout", err = dir + "/stderr";
  g->pid_ = fork();
  if (g->pid_ == 0) {
    int i = ::open("/dev/null", O_RDONLY);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(i, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (true) {
    std::vector<std::string> parts =
        absl::StrSplit(ReadFile(port_file), absl::ByAnyChar(" \n"), absl::SkipEmpty());
    if (parts.size() == 2 && absl::SimpleAtoi(parts[0], &g->port_) &&
        absl::SimpleAtoi(parts[1], &g->admin_port_)) {
      break;
    }
    int status = 0;
    if (waitpid(g->pid_, &status, WNOHANG) == g->pid_) {
      g->pid_ = -1;
      return absl::InternalError(absl::StrCat("gateway exited at start: ", g->Stderr()));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("gateway did not listen: ", g->Stderr()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  while (!HttpGet(g->admin_port_, "/readyz").ok()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("gateway never became ready: ", g->Stderr()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return g;
}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    WaitForExit(pid_, absl::Seconds(10));
  }
}

void GatewayProcess::WriteCatalog(const std::string& catalog_json) {
  std::string path = dir_->path() + "/catalog.json";
  std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << catalog_json;
  std::rename(tmp.c_str(), path.c_str());
}

absl::StatusOr<std::string> GatewayProcess::Metrics() const { return HttpGet(admin_port_, "/metrics"); }

absl::StatusOr<double> GatewayProcess::MetricValue(const std::string& series) const {
  absl::StatusOr<std::string> text = Metrics();
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double v = 0;
    if (absl::SimpleAtod(line, &v)) return v;
  }
  return absl::NotFoundError(absl::StrCat("no series ", series));
}

bool GatewayProcess::WaitForMetric(const std::string& series, double value,
                                   absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<double> v = MetricValue(series);
    if (v.ok() && *v == value) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

int GatewayProcess::Signal(int sig, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int status = WaitForExit(pid_, timeout);
  if (status != -1) pid_ = -1;
  return status;
}

std::string GatewayProcess::Stdout() const { return ReadFile(dir_->path() + "/stdout"); }
std::string GatewayProcess::Stderr() const { return ReadFile(dir_->path() + "/stderr"); }

}  // namespace wisp::testing
