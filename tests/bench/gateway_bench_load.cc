// gateway_bench_load: the "worker invoked directly" baseline of gateway_bench. A closed-loop
// load generator over gRPC, shaped like wrk: `--connections` callers, each sending its next
// Invoke as soon as the previous one is answered, for `--duration_seconds`.
//
// It stands in for the gateway with nothing but the essentials: every caller shares one
// WorkerClient (one channel, as the gateway's GrpcInvoker does per worker), and since a worker
// refuses work past its `--concurrency` (RESOURCE_EXHAUSTED) instead of queueing, callers take
// one of `--capacity` slots first, waiting in FIFO order as the gateway's dispatcher queue does.
// A sample is the time from wanting to send (slot wait included) to the reply, as wrk measures
// from sending to the response, so both sides count queueing when connections > capacity.
//
// Each reply must echo the payload sent, with the caller's request id as its token.
// Prints one line: `LOAD_RESULT requests=… seconds=… rps=… p50_us=… p99_us=… max_us=…
// max_inside_us=… errors=…` (max_inside_us: the worker's own duration_ms of the slowest
// request); exit 1 when any invoke failed or echoed something else, or nothing was measured.
#include <signal.h>
#include <sys/prctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "worker/worker_client.h"

ABSL_FLAG(std::string, target, "", "host:port of the worker's gRPC server");
ABSL_FLAG(std::string, function_name, "", "The worker's function (empty: whatever it serves)");
ABSL_FLAG(int, connections, 1, "Concurrent callers (the wrk -c of the other cases)");
ABSL_FLAG(int, capacity, 1, "The worker's --concurrency: slots callers share");
ABSL_FLAG(double, duration_seconds, 10, "Measured time");
ABSL_FLAG(std::string, payload, R"({"token":"%ID%","pad":"xxxxxxxxxxxxxxxx"})",
          "Event sent; %ID% is replaced by a unique request id that the reply must contain");

namespace {

using Clock = std::chrono::steady_clock;

// A counting semaphore that hands slots out in arrival order.
class FifoSlots {
 public:
  explicit FifoSlots(int n) : free_(n) {}
  void Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    if (free_ > 0 && queue_.empty()) {
      --free_;
      return;
    }
    Waiter w;
    queue_.push_back(&w);
    w.cv.wait(lock, [&w] { return w.granted; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) {
      ++free_;
      return;
    }
    Waiter* w = queue_.front();
    queue_.pop_front();
    w->granted = true;
    w->cv.notify_one();
  }

 private:
  struct Waiter {
    std::condition_variable cv;
    bool granted = false;
  };
  std::mutex mu_;
  int free_;
  std::deque<Waiter*> queue_;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

std::string Expand(const std::string& pattern, const std::string& id) {
  std::string out = pattern;
  for (size_t at = out.find("%ID%"); at != std::string::npos; at = out.find("%ID%", at + id.size()))
    out.replace(at, 4, id);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "gateway_bench_load: N closed-loop gRPC callers against one wisp-worker");
  absl::ParseCommandLine(argc, argv);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const std::string target = absl::GetFlag(FLAGS_target);
  const int connections = absl::GetFlag(FLAGS_connections);
  const int capacity = absl::GetFlag(FLAGS_capacity);
  const double duration = absl::GetFlag(FLAGS_duration_seconds);
  if (target.empty() || connections < 1 || capacity < 1 || duration <= 0) {
    std::fprintf(stderr, "gateway_bench_load: need --target, --connections>=1, --capacity>=1, "
                         "--duration_seconds>0\n");
    return 2;
  }
  std::unique_ptr<wisp::worker::WorkerClient> client = wisp::worker::WorkerClient::Create(target);
  if (absl::Status s = client->CheckHealth(absl::Seconds(5)); !s.ok()) {
    std::fprintf(stderr, "gateway_bench_load: %s not serving: %s\n", target.c_str(),
                 s.ToString().c_str());
    return 1;
  }

  FifoSlots slots(capacity);
  std::atomic<bool> stop{false};
  std::atomic<long> errors{0};
  std::mutex error_mu;
  std::string first_error;
  std::vector<std::vector<double>> samples(connections);
  // Per caller, its slowest sample and the worker's own duration_ms for it (Offer -> outcome):
  // tells whether a stall was between worker and runtime or outside (gRPC, worker threads).
  std::vector<std::pair<double, double>> slowest(connections, {0.0, 0.0});
  const std::string pattern = absl::GetFlag(FLAGS_payload);
  const std::string function_name = absl::GetFlag(FLAGS_function_name);

  Clock::time_point start = Clock::now();
  Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(duration));
  std::vector<std::thread> callers;
  for (int c = 0; c < connections; ++c) {
    callers.emplace_back([&, c] {
      std::vector<double>& mine = samples[c];
      mine.reserve(1 << 16);
      for (long seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
        std::string id = absl::StrCat("load-", c, "-", seq);
        wisp::v1::InvokeRequest req;
        req.set_request_id(id);
        req.set_function_name(function_name);
        req.set_payload(Expand(pattern, id));
        Clock::time_point t0 = Clock::now();
        slots.Acquire();
        absl::StatusOr<wisp::v1::InvokeResponse> r = client->Invoke(req, absl::Seconds(10));
        slots.Release();
        Clock::time_point t1 = Clock::now();
        std::string problem;
        if (!r.ok()) {
          problem = r.status().ToString();
        } else if (r->has_error()) {
          problem = absl::StrCat(r->error().error_type(), ": ", r->error().error_message());
        } else if (r->payload().find(id) == std::string::npos) {
          problem = absl::StrCat("echoed ", r->payload().substr(0, 200));
        }
        if (!problem.empty()) {
          errors.fetch_add(1);
          std::lock_guard<std::mutex> lock(error_mu);
          if (first_error.empty()) first_error = absl::StrCat("invoke ", id, ": ", problem);
          continue;
        }
        if (t1 > end) break;  // finished after the window: not counted, as wrk does
        double us = std::chrono::duration<double, std::micro>(t1 - t0).count();
        mine.push_back(us);
        if (us > slowest[c].first) slowest[c] = {us, r->duration_ms() * 1000.0};
      }
    });
  }
  std::this_thread::sleep_until(end);
  stop = true;
  for (std::thread& t : callers) t.join();

  std::vector<double> all;
  for (const auto& v : samples) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  double seconds = std::chrono::duration<double>(end - start).count();
  std::pair<double, double> worst = *std::max_element(slowest.begin(), slowest.end());
  std::printf(
      "LOAD_RESULT requests=%zu seconds=%.3f rps=%.1f p50_us=%.1f p99_us=%.1f max_us=%.1f "
      "max_inside_us=%.1f errors=%ld\n",
      all.size(), seconds, static_cast<double>(all.size()) / seconds, Percentile(all, 50),
      Percentile(all, 99), all.empty() ? 0.0 : all.back(), worst.second, errors.load());
  std::fflush(stdout);
  if (!first_error.empty()) std::fprintf(stderr, "gateway_bench_load: %s\n", first_error.c_str());
  return errors.load() > 0 || all.empty() ? 1 : 0;
}
