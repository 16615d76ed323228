#include "worker/metrics.h"

#include "worker/environment.h"
#include "worker/report.h"

namespace wisp::worker {
namespace {

const prometheus::Histogram::BucketBoundaries& DurationBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900};
  return *b;
}

}  // namespace

WorkerMetrics::WorkerMetrics(std::shared_ptr<prometheus::Registry> registry,
                             const std::string& function)
    : registry_(std::move(registry)), function_(function) {
  using namespace prometheus;
  const Labels fn{{"function", function}};
  invocations_ = &BuildCounter()
                      .Name("wisp_worker_invocations_total")
                      .Help("Invocations by outcome")
                      .Register(*registry_);
  duration_ = &BuildHistogram()
                   .Name("wisp_worker_invocation_duration_seconds")
                   .Help("Run time of invocations")
                   .Register(*registry_)
                   .Add(fn, DurationBuckets());
  billed_ms_ = &BuildCounter()
                    .Name("wisp_worker_billed_milliseconds_total")
                    .Help("Billed duration, whole milliseconds")
                    .Register(*registry_)
                    .Add(fn);
  gb_seconds_ = &BuildCounter()
                     .Name("wisp_worker_gb_seconds_total")
                     .Help("Memory in GB times billed seconds")
                     .Register(*registry_)
                     .Add(fn);
  cold_starts_ = &BuildCounter()
                      .Name("wisp_worker_cold_starts_total")
                      .Help("Invocations that paid for an environment's initialisation")
                      .Register(*registry_)
                      .Add(fn);
  init_duration_ = &BuildHistogram()
                        .Name("wisp_worker_init_duration_seconds")
                        .Help("Time to initialise an execution environment")
                        .Register(*registry_)
                        .Add(fn, DurationBuckets());
  in_flight_ = &BuildGauge()
                    .Name("wisp_worker_in_flight")
                    .Help("Invocations running now")
                    .Register(*registry_)
                    .Add(fn);
  environments_ = &BuildGauge()
                       .Name("wisp_worker_environments")
                       .Help("Execution environments by state")
                       .Register(*registry_);
  rejected_ = &BuildCounter()
                   .Name("wisp_worker_rejected_total")
                   .Help("Invocations refused before reaching a runtime, by reason")
                   .Register(*registry_);
  for (const char* state : {"initializing", "idle", "busy", "failed"}) environments(state);
}

void WorkerMetrics::RecordInvocation(const InvocationResult& r) {
  invocations_->Add({{"function", function_}, {"outcome", std::string(OutcomeName(r.outcome))}})
      .Increment();
  duration_->Observe(r.duration_ms / 1000.0);
  billed_ms_->Increment(static_cast<double>(r.billed_duration_ms));
  gb_seconds_->Increment(GbSeconds(r.memory_size_mb, r.billed_duration_ms));
  if (r.cold_start) cold_starts_->Increment();
}

void WorkerMetrics::RecordInit(double init_ms) { init_duration_->Observe(init_ms / 1000.0); }

void WorkerMetrics::Rejected(const std::string& reason) {
  rejected_->Add({{"function", function_}, {"reason", reason}}).Increment();
}

prometheus::Gauge& WorkerMetrics::environments(const std::string& state) {
  return environments_->Add({{"function", function_}, {"state", state}});
}

}  // namespace wisp::worker
