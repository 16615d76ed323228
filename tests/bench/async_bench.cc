// async_bench: durable async invocations end to end, beside raw XADD on the same Redis.
//
// Starts its own redis-server (appendonly yes, appendfsync always: the settings Wisp requires),
// one wisp-worker running the native `provided` echo bootstrap (so the function costs next to
// nothing and the figures are the platform's), and one wisp-gateway with --redis. Then, with
// `--connections` closed-loop callers each:
//   1. raw XADD      hiredis XADD of the same fields an accepted event has, straight to Redis
//                    (the floor: one fsynced append per event);
//   2. enqueue       POST .../invocations with X-Amz-Invocation-Type: Event -> 202 (stored),
//                    while the function has no endpoint, so nothing else competes for the CPU;
//   3. drain         then the worker's endpoint is added: the time until the gateway's
//                    wisp_async_events_succeeded_total reaches the number accepted, i.e. the
//                    rate at which stored events are read, run and acknowledged;
//   4. end to end    enqueue and dispatch at once: from the first request of a second flood
//                    until every accepted event completed.
// Prints a table and one JSON line. Not a test: run by hand (tests/bench/README.md).
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "controller/events/async_event.h"
#include "controller/redis/redis_client.h"
#include "controller/redis/streams.h"
#include "nlohmann/json.hpp"
#include "tests/testing/gateway_process.h"
#include "tests/testing/redis_process.h"
#include "tests/testing/worker_process.h"

ABSL_FLAG(int, events, 4000, "Events per phase");
ABSL_FLAG(int, connections, 16, "Closed-loop callers");
ABSL_FLAG(int, payload_bytes, 256, "Payload size");
ABSL_FLAG(int, concurrency, 8, "Execution environments of the echo worker");
ABSL_FLAG(std::string, build_dir, "", "Build folder (default: the binary's ../)");

namespace {

using wisp::testing::GatewayProcess;
using wisp::testing::RedisProcess;
using wisp::testing::WorkerProcess;

struct Stats {
  std::vector<double> us;
  double seconds = 0;
  int errors = 0;
  double p(double q) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))];
  }
  double rate() const { return seconds > 0 ? us.size() / seconds : 0; }
};

// Runs `per_call(i)` events/connections times on each of `connections` threads; each returns
// false on an error. Samples are per-call latencies.
template <typename MakeCaller>
Stats Run(int events, int connections, MakeCaller make) {
  Stats s;
  std::mutex mu;
  std::atomic<int> next{0};
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      auto call = make();
      std::vector<double> local;
      int errors = 0;
      for (int i = next++; i < events; i = next++) {
        absl::Time t = absl::Now();
        bool ok = call(i);
        double us = absl::ToDoubleMicroseconds(absl::Now() - t);
        if (ok) local.push_back(us);
        else ++errors;
      }
      std::lock_guard<std::mutex> lock(mu);
      s.us.insert(s.us.end(), local.begin(), local.end());
      s.errors += errors;
    });
  }
  for (auto& t : threads) t.join();
  s.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("async_bench: durable async invocations vs raw XADD");
  absl::ParseCommandLine(argc, argv);
  const int events = absl::GetFlag(FLAGS_events);
  const int connections = absl::GetFlag(FLAGS_connections);
  std::string build = absl::GetFlag(FLAGS_build_dir);
  if (build.empty()) {
    char self[4096] = {0};
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    std::string exe(self, n > 0 ? n : 0);
    build = exe.substr(0, exe.rfind('/')) + "/..";
  }
  setenv("WISP_BIN_DIR", (build + "/bin").c_str(), 0);
  setenv("TMPDIR", "/var/tmp", 0);

  auto redis = RedisProcess::Start();
  if (!redis.ok()) return fprintf(stderr, "redis: %s\n", redis.status().ToString().c_str()), 1;
  auto worker = WorkerProcess::Start({"--name=echo", "--runtime=provided", "--handler=echo",
                                      "--code=" + build + "/examples/provided-echo",
                                      absl::StrCat("--concurrency=", absl::GetFlag(FLAGS_concurrency))});
  if (!worker.ok()) return fprintf(stderr, "worker: %s\n", worker.status().ToString().c_str()), 1;
  auto catalog = [&](bool endpoint) {
    nlohmann::json eps = nlohmann::json::array();
    if (endpoint) {
      eps.push_back({{"address", (*worker)->target()}, {"capacity", absl::GetFlag(FLAGS_concurrency)}});
    }
    return nlohmann::json{{"functions", {{{"name", "echo"}, {"endpoints", eps}}}}}.dump();
  };
  auto gateway = GatewayProcess::Start(
      catalog(false), {"--async_platform_retry_ms=10", "--redis=" + (*redis)->address(), "--gateway_id=bench",
                       absl::StrCat("--async_per_function=", absl::GetFlag(FLAGS_concurrency) * 2),
                       "--async_backlog=10000000"});
  if (!gateway.ok()) return fprintf(stderr, "gateway: %s\n", gateway.status().ToString().c_str()), 1;
  const int port = (*gateway)->port();
  const std::string payload =
      nlohmann::json{{"pad", std::string(absl::GetFlag(FLAGS_payload_bytes), 'x')}}.dump();

  // 1. Raw XADD of an event's fields: run before and after the gateway phases, so that load
  // from elsewhere falls on both sides; the baseline is their pooled samples.
  auto raw_xadd = [&] { return Run(events, connections, [&] {
    auto client = std::make_shared<wisp::redis::Client>(
        wisp::redis::ClientOptions{.address = (*redis)->address()});
    return [client, &payload](int i) {
      wisp::events::AsyncEvent e;
      e.invocation_id = absl::StrCat("bench-", i);
      e.payload = payload;
      e.enqueued_ms = absl::ToUnixMillis(absl::Now());
      return client->Command(wisp::redis::XAddCommand("raw-baseline", wisp::events::ToFields(e))).ok();
    };
  }); };
  Stats xadd = raw_xadd();

  auto flood = [&] {
    return Run(events, connections, [&] {
      auto client = std::make_shared<httplib::Client>("127.0.0.1", port);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      return [client, &payload](int) {
        auto r = client->Post("/2015-03-31/functions/echo/invocations",
                              {{"X-Amz-Invocation-Type", "Event"}}, payload, "application/json");
        return r && r->status == 202;
      };
    });
  };
  const std::string succeeded = R"(wisp_async_events_succeeded_total{function="echo"})";
  // 2. Enqueue into a backlog (no endpoint yet); 3. drain it once the endpoint appears.
  Stats enqueue = flood();
  const int accepted = static_cast<int>(enqueue.us.size());
  absl::Time drain_start = absl::Now();
  (*gateway)->WriteCatalog(catalog(true));
  if (!(*gateway)->WaitForMetric(succeeded, accepted, absl::Seconds(300))) {
    fprintf(stderr, "async_bench: the backlog did not drain within 300 s\n");
    return 1;
  }
  double drain_seconds = absl::ToDoubleSeconds(absl::Now() - drain_start);
  // 4. Both at once.
  absl::Time first = absl::Now();
  Stats both = flood();
  const int accepted_both = static_cast<int>(both.us.size());
  if (!(*gateway)->WaitForMetric(succeeded, accepted + accepted_both, absl::Seconds(300))) {
    fprintf(stderr, "async_bench: not every accepted event completed within 300 s\n");
    return 1;
  }
  double e2e_seconds = absl::ToDoubleSeconds(absl::Now() - first);
  Stats again = raw_xadd();
  xadd.us.insert(xadd.us.end(), again.us.begin(), again.us.end());
  xadd.seconds += again.seconds;
  xadd.errors += again.errors;

  printf("%-22s %10s %10s %10s %8s\n", "phase", "ops/s", "p50 us", "p99 us", "errors");
  printf("%-22s %10.0f %10.0f %10.0f %8d\n", "raw XADD (baseline)", xadd.rate(), xadd.p(0.5),
         xadd.p(0.99), xadd.errors);
  printf("%-22s %10.0f %10.0f %10.0f %8d\n", "enqueue (202)", enqueue.rate(), enqueue.p(0.5),
         enqueue.p(0.99), enqueue.errors);
  printf("%-22s %10.0f %10s %10s %8s\n", "drain (stored->done)", accepted / drain_seconds, "-",
         "-", "-");
  printf("%-22s %10.0f %10.0f %10.0f %8d\n", "end to end: enqueue", both.rate(), both.p(0.5),
         both.p(0.99), both.errors);
  printf("%-22s %10.0f %10s %10s %8s\n", "end to end: completed", accepted_both / e2e_seconds,
         "-", "-", "-");
  printf("ratios to raw XADD: enqueue p50 %.2fx p99 %.2fx throughput %.2fx; drain %.2fx; "
         "end to end %.2fx\n",
         enqueue.p(0.5) / xadd.p(0.5), enqueue.p(0.99) / xadd.p(0.99),
         enqueue.rate() / xadd.rate(), (accepted / drain_seconds) / xadd.rate(),
         (accepted_both / e2e_seconds) / xadd.rate());
  nlohmann::json out = {
      {"events", events}, {"connections", connections},
      {"payload_bytes", absl::GetFlag(FLAGS_payload_bytes)},
      {"xadd", {{"rps", xadd.rate()}, {"p50_us", xadd.p(0.5)}, {"p99_us", xadd.p(0.99)}}},
      {"enqueue", {{"rps", enqueue.rate()}, {"p50_us", enqueue.p(0.5)}, {"p99_us", enqueue.p(0.99)},
                   {"errors", enqueue.errors}}},
      {"drain", {{"rps", accepted / drain_seconds}}},
      {"end_to_end", {{"enqueue_rps", both.rate()}, {"enqueue_p50_us", both.p(0.5)},
                      {"enqueue_p99_us", both.p(0.99)},
                      {"completed_rps", accepted_both / e2e_seconds}}}};
  printf("%s\n", out.dump().c_str());
  return xadd.errors + enqueue.errors + both.errors > 0 ? 1 : 0;
}
