// autoscale_bench: the local platform (tests/testing/local_platform.h: wisp-apiserver,
// wisp-kubelet, wisp-operator, wisp-gateway as processes) measured end to end. Not a test.
//
// (a) Scale from zero, per runtime (python3.11, nodejs20): the function is at zero (no worker
//     process); one GET of its route through the gateway; the sample is the time to the 200.
//     In the same cycle, as the baseline, the bare interpreter start: fork/exec/wait of
//     `python -c pass` / `node -e 0` (the same interpreters the kubelet's workers use).
//     p50/p99 over --cycles cycles, and the ratio cold / bare.
// (b) Autoscaler reaction to a step from 1 to 50 concurrent clients (closed loop, a python
//     handler that sleeps --step_sleep_ms), with the operator's production windows (60 s stable,
//     6 s panic, 30 s scale-down delay). The function has concurrency.perInstance 10 and
//     scaling.target 10 (target may not exceed perInstance), so the expected count is
//     ceil(50 / (10 × 0.7)) = 8 pods. Sampled every 100 ms for --hold_seconds:
//     time until spec.replicas reaches the target, until that many pods are ready, the highest
//     count asked for (overshoot = highest − target), and oscillations (direction changes of
//     spec.replicas after the target was first reached).
// Output: tables on stdout, then one JSON line. Exit 1 on a failed request or a start failure.
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/testing/local_platform.h"

ABSL_FLAG(int, cycles, 10, "Scale-from-zero cycles per runtime");
ABSL_FLAG(std::vector<std::string>, runtimes, std::vector<std::string>({"python3.11", "nodejs20"}),
          "Runtimes for the scale-from-zero benchmark");
ABSL_FLAG(int, step_repetitions, 2, "Step-load repetitions (each on a fresh platform)");
ABSL_FLAG(int, step_clients, 50, "Concurrent clients after the step");
ABSL_FLAG(int, hold_seconds, 40, "How long the step load is held");
ABSL_FLAG(int, step_sleep_ms, 200, "The step handler's sleep");
ABSL_FLAG(bool, skip_cold, false, "Only the step benchmark");
ABSL_FLAG(bool, skip_step, false, "Only the scale-from-zero benchmark");

namespace {

using nlohmann::json;
using wisp::testing::LocalPlatform;
using wisp::testing::LocalPlatformOptions;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p / 100.0 * v.size())) - 1;
  return v[std::min(i, v.size() - 1)];
}

std::string Interpreter(const std::string& runtime) {
  std::string cmd = runtime == "nodejs20" ? "command -v node"
                                          : "python3 -c 'import sys;print(sys.executable)'";
  FILE* f = popen(cmd.c_str(), "r");
  char buf[512] = {};
  if (f != nullptr) {
    if (fgets(buf, sizeof(buf), f) == nullptr) buf[0] = '\0';
    pclose(f);
  }
  return std::string(absl::StripAsciiWhitespace(buf));
}

// fork/exec/wait of the bare interpreter, in ms.
double BareStart(const std::string& interpreter, bool node) {
  absl::Time t0 = absl::Now();
  pid_t pid = fork();
  if (pid == 0) {
    if (node) {
      execl(interpreter.c_str(), interpreter.c_str(), "-e", "0", nullptr);
    } else {
      execl(interpreter.c_str(), interpreter.c_str(), "-c", "pass", nullptr);
    }
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return absl::ToDoubleMilliseconds(absl::Now() - t0);
}

json HelloFunction(const std::string& name, const std::string& runtime) {
  json spec = {{"runtime", runtime},
               {"scaling", {{"minScale", 0}, {"maxScale", 1}}},
               {"triggers", json::array({{{"http", {{"path", "/" + name}}}}})}};
  if (runtime == "nodejs20") {
    spec["handler"] = "index.handler";
    spec["code"] = {{"inline",
                     "exports.handler = async () => ({statusCode: 200, body: 'hello'});\n"}};
  } else {
    spec["handler"] = "app.handler";
    spec["code"] = {{"inline",
                     "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hello'}\n"}};
  }
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"spec", spec}};
}

int Get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  auto res = c.Get(path);
  return res ? res->status : 0;
}

int RunCold(json* out) {
  LocalPlatformOptions options;
  options.scale_to_zero_after_cap_seconds = 1;
  auto platform = LocalPlatform::Start(options);
  if (!platform.ok()) {
    std::cerr << platform.status() << "\n";
    return 1;
  }
  LocalPlatform& p = **platform;
  std::cout << "Scale from zero: GET through the gateway with the function at zero, beside the "
               "bare interpreter start (ms)\n";
  std::cout << absl::StrFormat("%-11s %-30s %9s %9s %9s %9s\n", "runtime", "measure", "p50", "p99",
                               "ratio p50", "ratio p99");
  for (const std::string& runtime : absl::GetFlag(FLAGS_runtimes)) {
    const bool node = runtime == "nodejs20";
    const std::string name = node ? "cold-node" : "cold-python";
    const std::string interpreter = Interpreter(runtime);
    if (!p.Apply(HelloFunction(name, runtime)).ok() || !p.WaitReady(name, absl::Seconds(60))) {
      std::cerr << "cannot deploy " << name << "\n" << p.Describe();
      return 1;
    }
    std::vector<double> cold, bare;
    for (int i = -1; i < absl::GetFlag(FLAGS_cycles); ++i) {  // -1: untimed warm-up
      if (!LocalPlatform::Eventually(
              [&] { return p.DesiredReplicas(name) == 0 && p.WorkerProcesses(name) == 0; },
              absl::Seconds(60))) {
        std::cerr << name << " did not go to zero\n" << p.Describe();
        return 1;
      }
      const double b = BareStart(interpreter, node);
      absl::Time t0 = absl::Now();
      int status = Get(p.gateway_port(), "/" + name);
      const double c = absl::ToDoubleMilliseconds(absl::Now() - t0);
      if (status != 200) {
        std::cerr << name << ": GET answered " << status << "\n" << p.Describe();
        return 1;
      }
      if (i >= 0) {
        cold.push_back(c);
        bare.push_back(b);
        std::cerr << runtime << " cycle " << i << ": cold " << c << " ms, bare " << b << " ms\n";
      }
    }
    const double b50 = Percentile(bare, 50), b99 = Percentile(bare, 99);
    const double c50 = Percentile(cold, 50), c99 = Percentile(cold, 99);
    std::cout << absl::StrFormat("%-11s %-30s %9.1f %9.1f %8.2fx %8.2fx\n", runtime,
                                 "bare interpreter start", b50, b99, 1.0, 1.0);
    std::cout << absl::StrFormat("%-11s %-30s %9.1f %9.1f %8.2fx %8.2fx\n", "",
                                 "scale from zero, first reply", c50, c99, c50 / b50, c99 / b99);
    (*out)[runtime] = {{"cold_p50_ms", c50}, {"cold_p99_ms", c99}, {"bare_p50_ms", b50},
                       {"bare_p99_ms", b99}, {"cycles", cold.size()}, {"cold_ms", cold},
                       {"bare_ms", bare}};
  }
  return 0;
}

int RunStep(int repetition, json* out) {
  LocalPlatformOptions options;
  options.stable_window_seconds = 60;
  options.panic_window_seconds = 6;
  options.scale_down_delay_seconds = 30;
  options.scale_to_zero_after_cap_seconds = 0;
  auto platform = LocalPlatform::Start(options);
  if (!platform.ok()) {
    std::cerr << platform.status() << "\n";
    return 1;
  }
  LocalPlatform& p = **platform;
  const int clients = absl::GetFlag(FLAGS_step_clients);
  const int target_per_pod = 10;
  const int expected = static_cast<int>(std::ceil(clients / (target_per_pod * 0.7) - 1e-9));
  json fn = {{"apiVersion", "wisp.dev/v1alpha1"},
             {"kind", "Function"},
             {"metadata", {{"name", "step"}, {"namespace", "default"}}},
             {"spec",
              {{"runtime", "python3.11"},
               {"handler", "app.handler"},
               {"timeoutSeconds", 10},
               {"code",
                {{"inline", absl::StrCat("import time\ndef handler(event, context):\n"
                                         "    time.sleep(",
                                         absl::GetFlag(FLAGS_step_sleep_ms) / 1000.0,
                                         ")\n    return {'statusCode': 200, 'body': 'ok'}\n")}}},
               {"concurrency", {{"perInstance", target_per_pod}}},
               {"scaling", {{"minScale", 1}, {"maxScale", 20}, {"target", target_per_pod}}},
               {"triggers", json::array({{{"http", {{"path", "/step"}}}}})}}}};
  if (absl::Status s = p.Apply(fn); !s.ok() || !p.WaitReady("step", absl::Seconds(60))) {
    std::cerr << "cannot deploy step: " << s << "\n" << p.Describe();
    return 1;
  }
  std::atomic<int> active{1};
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", p.gateway_port());
      c.set_read_timeout(60, 0);
      while (!stop.load()) {
        if (i >= active.load()) {
          absl::SleepFor(absl::Milliseconds(10));
          continue;
        }
        auto res = c.Get("/step");
        (res && res->status == 200) ? ok++ : failed++;
      }
    });
  }
  absl::SleepFor(absl::Seconds(8));  // 1 client: the function sits at 1 pod
  const int before = p.DesiredReplicas("step");
  const absl::Time t0 = absl::Now();
  active.store(clients);
  std::optional<double> reached_desired, reached_ready;
  int highest = 0, changes = 0, last = before, last_dir = 0;
  std::vector<std::pair<double, int>> series;
  while (absl::Now() - t0 < absl::Seconds(absl::GetFlag(FLAGS_hold_seconds))) {
    const double t = absl::ToDoubleSeconds(absl::Now() - t0);
    const int desired = p.DesiredReplicas("step");
    const int ready = p.ReadyReplicas("step");
    if (desired != last && desired > 0) {
      series.push_back({t, desired});
      const int dir = desired > last ? 1 : -1;
      if (reached_desired.has_value() && last_dir != 0 && dir != last_dir) ++changes;
      last_dir = dir;
      last = desired;
    }
    highest = std::max(highest, desired);
    if (!reached_desired && desired >= expected) reached_desired = t;
    if (!reached_ready && ready >= expected) reached_ready = t;
    absl::SleepFor(absl::Milliseconds(100));
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  json series_json = json::array();
  for (auto& [t, n] : series) series_json.push_back({t, n});
  (*out).push_back({{"repetition", repetition},
                    {"before", before},
                    {"expected", expected},
                    {"time_to_desired_s", reached_desired ? json(*reached_desired) : json()},
                    {"time_to_ready_s", reached_ready ? json(*reached_ready) : json()},
                    {"highest", highest},
                    {"overshoot", highest - expected},
                    {"oscillations", changes},
                    {"final", last},
                    {"ok", ok.load()},
                    {"failed", failed.load()},
                    {"series", series_json}});
  std::cout << absl::StrFormat(
      "%3d %6d %8d %14s %14s %7d %9d %12d %6d %8d %6d\n", repetition, before, expected,
      reached_desired ? absl::StrFormat("%.1f", *reached_desired) : "never",
      reached_ready ? absl::StrFormat("%.1f", *reached_ready) : "never", highest,
      highest - expected, changes, last, ok.load(), failed.load());
  return failed.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  json result = {{"benchmark", "autoscale_bench"}, {"date", absl::FormatTime(absl::Now())}};
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0) result["loadavg"] = {load[0], load[1], load[2]};
  int rc = 0;
  if (!absl::GetFlag(FLAGS_skip_cold)) {
    json cold = json::object();
    rc |= RunCold(&cold);
    result["scale_from_zero"] = cold;
  }
  if (!absl::GetFlag(FLAGS_skip_step) && rc == 0) {
    std::cout << "\nStep from 1 to " << absl::GetFlag(FLAGS_step_clients)
              << " concurrent clients (times in s from the step)\n";
    std::cout << absl::StrFormat("%3s %6s %8s %14s %14s %7s %9s %12s %6s %8s %6s\n", "rep",
                                 "before", "target", "t(desired)", "t(ready)", "highest",
                                 "overshoot", "oscillations", "final", "ok", "failed");
    json steps = json::array();
    for (int i = 0; i < absl::GetFlag(FLAGS_step_repetitions); ++i) rc |= RunStep(i, &steps);
    result["step"] = steps;
  }
  std::cout << result.dump() << std::endl;
  return rc;
}
