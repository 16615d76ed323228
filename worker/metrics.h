// The worker's Prometheus metrics (all prefixed wisp_worker_). Thread-safe.
//   wisp_worker_invocations_total{outcome}        success, error, timeout, crash, out_of_memory,
//                                                 init_error, response_too_large
//   wisp_worker_invocation_duration_seconds       histogram of run time
//   wisp_worker_billed_milliseconds_total
//   wisp_worker_gb_seconds_total                  memory (GB) x billed seconds
//   wisp_worker_cold_starts_total
//   wisp_worker_init_duration_seconds             histogram, every initialisation
//   wisp_worker_in_flight                         invocations running now
//   wisp_worker_environments{state}               initializing, idle, busy, failed
//   wisp_worker_rejected_total{reason}            busy, draining, invalid, not_found
// Every series carries the label function="<name>".
#ifndef WISP_WORKER_METRICS_H_
#define WISP_WORKER_METRICS_H_

#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace wisp::worker {

struct InvocationResult;

class WorkerMetrics {
 public:
  WorkerMetrics(std::shared_ptr<prometheus::Registry> registry, const std::string& function);

  void RecordInvocation(const InvocationResult& result);
  void RecordInit(double init_ms);
  void Rejected(const std::string& reason);
  prometheus::Gauge& in_flight() { return *in_flight_; }
  prometheus::Gauge& environments(const std::string& state);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::string function_;
  prometheus::Family<prometheus::Counter>* invocations_;
  prometheus::Histogram* duration_;
  prometheus::Counter* billed_ms_;
  prometheus::Counter* gb_seconds_;
  prometheus::Counter* cold_starts_;
  prometheus::Histogram* init_duration_;
  prometheus::Gauge* in_flight_;
  prometheus::Family<prometheus::Gauge>* environments_;
  prometheus::Family<prometheus::Counter>* rejected_;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_METRICS_H_
