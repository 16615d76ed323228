// Queue triggers: functions fed in batches from Redis streams, as Lambda's SQS trigger feeds
// them from SQS queues (docs/queues.md).
//
// QueueConsumers runs one consumer thread per (function, stream) of the current catalog
// snapshot. A consumer reads the stream in the consumer group `wisp:<namespace>/<function>`
// (one group per function, so several functions can consume one stream) as consumer
// `<gateway id>`, gathers a batch (up to batchSize messages, waiting up to batchWindowSeconds
// once the first arrived), invokes the function synchronously with an SQS-shaped event, and
// settles the batch by PlanBatch's table (queue_batch.h): XACK what succeeded (never XDEL: other
// groups may still read the stream); leave failures pending; dead-letter a message that failed
// on its maxReceiveCount-th invocation (XADD to `<stream>-dlq` + XACK in one Lua script).
//
// Re-delivery: between batches a consumer claims (XPENDING IDLE + XCLAIM) its own pending
// entries idle for at least `retry_delay` (SQS's visibility timeout: failed messages come back)
// and any other consumer's idle for at least the lease (a dead gateway's batch: longer than
// the batch window + the dispatcher's queue wait + the function timeout + a margin, so a live
// gateway's batch is never taken from it).
//
// Degraded modes, all logged and counted (wisp_queue_redis_errors_total): Redis unreachable or
// failing -> retried with exponential backoff, nothing acknowledged that did not succeed (a
// settle that cannot reach Redis leaves the batch pending: it is delivered again, at least
// once); the stream or group vanished (NOGROUP) -> the group is created again. Throttles and
// platform failures leave the batch pending, take its delivery back (the delivery count, which
// is the event's ApproximateReceiveCount and what maxReceiveCount compares with, counts only
// deliveries that reached the function) and back the consumer off.
//
// Thread-safe. Update() and Stop() may block while stopping consumers finish their batch.
#ifndef WISP_GATEWAY_QUEUE_CONSUMER_H_
#define WISP_GATEWAY_QUEUE_CONSUMER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/catalog.h"
#include "gateway/dispatcher.h"
#include "prometheus/registry.h"

namespace wisp::gateway {

struct QueueConsumerOptions {
  std::string redis_address;  // host:port
  std::string consumer;       // this gateway's id: the consumer name in every group
  // Own failed (pending) messages come back after this long since their delivery.
  absl::Duration retry_delay = absl::Seconds(30);
  // Other consumers' entries are taken over after batch window + queue_wait + function
  // timeout + lease_margin (and never sooner than retry_delay).
  absl::Duration queue_wait = absl::Seconds(10);  // the dispatcher's longest capacity wait
  absl::Duration lease_margin = absl::Seconds(30);
  // How often pending entries are looked at (XPENDING) and the lag gauges refreshed.
  absl::Duration claim_interval = absl::Seconds(1);
  // Longest blocking read, so that a stop is noticed promptly.
  absl::Duration poll = absl::Seconds(1);
  // Backoff after a Redis failure, a throttle or a platform failure.
  absl::Duration backoff_base = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(5);
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
};

// The seam to the dispatcher (Dispatcher::Invoke in production).
using QueueInvokeFn =
    std::function<DispatchResult(const std::string& function, const v1::InvokeRequest& request)>;

// The consumer group of a function: "wisp:<namespace>/<name>".
std::string QueueGroup(const FunctionInfo& function);

class QueueConsumers {
 public:
  // `registry` receives the wisp_queue_* metrics; it must outlive this object.
  QueueConsumers(QueueConsumerOptions options, QueueInvokeFn invoke,
                 std::shared_ptr<prometheus::Registry> registry);
  ~QueueConsumers();  // Stop()

  // Starts consumers for triggers that appeared, updates those whose function or trigger
  // changed (from their next batch on), and stops those whose trigger disappeared. A trigger
  // that reappears while its stopped consumer still finishes a batch gets a consumer that
  // starts consuming once the stopped one has finished (never both at once: they share the
  // consumer name, so the running batch would be claimed and run again).
  void Update(std::shared_ptr<const Snapshot> snapshot);
  // Stops every consumer; each finishes (and settles) the batch it is running. Idempotent.
  void Stop();

  // Consumer threads running now, including stopped ones still finishing their last batch.
  int Running();

  struct Metrics;
  class Consumer;

 private:
  void ReapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const QueueConsumerOptions options_;
  QueueInvokeFn invoke_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<Metrics> metrics_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  // By "<namespace>/<function>\n<stream>".
  std::map<std::string, std::unique_ptr<Consumer>> consumers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Consumer>> stopping_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_QUEUE_CONSUMER_H_
