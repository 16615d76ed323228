#include "tests/testing/gateway_process.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace wisp::testing {

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
  absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
      std::move(argv), {.stdout_path = dir + "/stdout", .stderr_path = dir + "/stderr"});
  if (!process.ok()) return process.status();
  g->process_ = *std::move(process);
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  absl::Status listening =
      g->process_->WaitForPorts(port_file, deadline, &g->port_, &g->admin_port_);
  if (absl::IsDeadlineExceeded(listening)) {
    return absl::DeadlineExceededError(absl::StrCat("gateway did not listen: ", g->Stderr()));
  }
  if (!listening.ok()) {
    return absl::InternalError(absl::StrCat("gateway exited at start: ", g->Stderr()));
  }
  while (!HttpGet(g->admin_port_, "/readyz").ok()) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("gateway never became ready: ", g->Stderr()));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return g;
}

GatewayProcess::~GatewayProcess() = default;  // the Subprocess SIGKILLs

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
  return process_->Signal(sig, timeout);
}

std::string GatewayProcess::Stdout() const { return process_->Stdout(); }
std::string GatewayProcess::Stderr() const { return process_->Stderr(); }

}  // namespace wisp::testing
