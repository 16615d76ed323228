#include "gateway/async_metrics.h"

namespace wisp::gateway {

AsyncMetrics::AsyncMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)) {
  using namespace prometheus;
  auto counter = [&](const char* name, const char* help) {
    return &BuildCounter().Name(name).Help(help).Register(*registry_);
  };
  enqueued_ = counter("wisp_async_events_enqueued_total",
                      "Async invocations accepted (202): durably in Redis");
  refused_ = counter("wisp_async_enqueue_refused_total",
                     "Async invocations refused, by reason (no 202 was sent)");
  enqueue_seconds_ = &BuildHistogram()
                          .Name("wisp_async_enqueue_seconds")
                          .Help("Time to store an accepted event (fsynced by Redis)")
                          .Register(*registry_);
  dispatched_ = counter("wisp_async_events_dispatched_total", "Attempts started");
  retried_ = counter("wisp_async_events_retried_total", "Events put back for a retry, by reason");
  succeeded_ = counter("wisp_async_events_succeeded_total", "Events the function succeeded on");
  failed_ = counter("wisp_async_events_failed_total",
                    "Events given up on, by condition (RetriesExhausted, EventAgeExceeded)");
  destinations_ = counter("wisp_async_destination_records_total",
                          "Destination records written (on failure: dead-lettered)");
  dead_lettered_ = counter("wisp_async_events_dead_lettered_total",
                           "Failed events recorded to their onFailure destination");
  dropped_ = counter("wisp_async_events_dropped_total",
                     "Failed events with no onFailure destination, and unreadable entries");
  reclaimed_ = counter("wisp_async_events_reclaimed_total",
                       "Events taken over from a dispatcher that stopped mid-event");
  redis_errors_ = counter("wisp_async_redis_errors_total", "Failed Redis calls, by operation");
  backlog_ = &BuildGauge()
                  .Name("wisp_async_backlog_events")
                  .Help("Events waiting, running or delayed for a retry")
                  .Register(*registry_);
  oldest_age_ = &BuildGauge()
                     .Name("wisp_async_oldest_event_age_seconds")
                     .Help("Age of the oldest event in the function's stream")
                     .Register(*registry_);
}

void AsyncMetrics::Enqueued(const std::string& fn, absl::Duration took) {
  enqueued_->Add({{"function", fn}}).Increment();
  enqueue_seconds_
      ->Add({{"function", fn}},
            prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                    0.05, 0.1, 0.25, 0.5, 1, 2.5})
      .Observe(absl::ToDoubleSeconds(took));
}
void AsyncMetrics::EnqueueRefused(const std::string& fn, const std::string& reason) {
  refused_->Add({{"function", fn}, {"reason", reason}}).Increment();
}
void AsyncMetrics::Dispatched(const std::string& fn) {
  dispatched_->Add({{"function", fn}}).Increment();
}
void AsyncMetrics::Retried(const std::string& fn, const std::string& reason) {
  retried_->Add({{"function", fn}, {"reason", reason}}).Increment();
}
void AsyncMetrics::Succeeded(const std::string& fn) {
  succeeded_->Add({{"function", fn}}).Increment();
}
void AsyncMetrics::Failed(const std::string& fn, const std::string& condition) {
  failed_->Add({{"function", fn}, {"condition", condition}}).Increment();
}
void AsyncMetrics::DestinationWritten(const std::string& fn, const std::string& on,
                                      const std::string& kind) {
  destinations_->Add({{"function", fn}, {"on", on}, {"kind", kind}}).Increment();
  if (on == "failure") dead_lettered_->Add({{"function", fn}, {"kind", kind}}).Increment();
}
void AsyncMetrics::Dropped(const std::string& fn, const std::string& reason) {
  dropped_->Add({{"function", fn}, {"reason", reason}}).Increment();
}
void AsyncMetrics::Reclaimed(const std::string& fn, int count) {
  reclaimed_->Add({{"function", fn}}).Increment(count);
}
void AsyncMetrics::RedisError(const std::string& operation) {
  redis_errors_->Add({{"operation", operation}}).Increment();
}
void AsyncMetrics::Backlog(const std::string& fn, int64_t events, absl::Duration oldest_age) {
  backlog_->Add({{"function", fn}}).Set(static_cast<double>(events));
  oldest_age_->Add({{"function", fn}}).Set(absl::ToDoubleSeconds(oldest_age));
}

}  // namespace wisp::gateway
