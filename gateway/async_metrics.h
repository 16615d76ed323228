// Metrics of async invocations (wisp_async_*), registered on the gateway's registry.
// Thread-safe (prometheus-cpp metrics are).
#ifndef WISP_GATEWAY_ASYNC_METRICS_H_
#define WISP_GATEWAY_ASYNC_METRICS_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace wisp::gateway {

class AsyncMetrics {
 public:
  explicit AsyncMetrics(std::shared_ptr<prometheus::Registry> registry);
  void Enqueued(const std::string& function, absl::Duration took);
  // reason: "redis_unavailable", "backlog_full", "too_large", ...
  void EnqueueRefused(const std::string& function, const std::string& reason);
  void Dispatched(const std::string& function);
  // reason: "function_error", "throttled", "platform_error", "shutdown"
  void Retried(const std::string& function, const std::string& reason);
  void Succeeded(const std::string& function);
  // condition: "RetriesExhausted", "EventAgeExceeded"
  void Failed(const std::string& function, const std::string& condition);
  // A destination record written: kind "stream" | "function", on "failure" | "success".
  // On failure the event is also counted as dead-lettered.
  void DestinationWritten(const std::string& function, const std::string& on,
                          const std::string& kind);
  // A failed event with no onFailure destination, or an entry that could not be read.
  void Dropped(const std::string& function, const std::string& reason);
  void Reclaimed(const std::string& function, int count);
  void RedisError(const std::string& operation);
  void Backlog(const std::string& function, int64_t events, absl::Duration oldest_age);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* enqueued_;
  prometheus::Family<prometheus::Counter>* refused_;
  prometheus::Family<prometheus::Histogram>* enqueue_seconds_;
  prometheus::Family<prometheus::Counter>* dispatched_;
  prometheus::Family<prometheus::Counter>* retried_;
  prometheus::Family<prometheus::Counter>* succeeded_;
  prometheus::Family<prometheus::Counter>* failed_;
  prometheus::Family<prometheus::Counter>* destinations_;
  prometheus::Family<prometheus::Counter>* dead_lettered_;
  prometheus::Family<prometheus::Counter>* dropped_;
  prometheus::Family<prometheus::Counter>* reclaimed_;
  prometheus::Family<prometheus::Counter>* redis_errors_;
  prometheus::Family<prometheus::Gauge>* backlog_;
  prometheus::Family<prometheus::Gauge>* oldest_age_;
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_ASYNC_METRICS_H_
