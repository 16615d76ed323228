// A client for wisp.v1.Worker: one reused channel to one worker. The header keeps gRPC out of
// its includers (protobuf message types only). Thread-safe.
#ifndef WISP_WORKER_WORKER_CLIENT_H_
#define WISP_WORKER_WORKER_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "wisp/v1/worker.pb.h"

namespace wisp::worker {

// True when the call failed before any runtime could have received it, so retrying it on
// another worker keeps at-most-once delivery.
bool NeverDelivered(const absl::Status& status);

class WorkerClient {
 public:
  // `target` is host:port. The channel connects lazily.
  static std::unique_ptr<WorkerClient> Create(const std::string& target);
  ~WorkerClient();

  // Calls Invoke with a deadline `timeout` from now. gRPC failures come back as the status
  // with the same code; function errors are in the response. A failure that provably never
  // reached a runtime (the worker refused it, or no connection could be made) carries the
  // payload kNotDeliveredPayload: see NeverDelivered().
  absl::StatusOr<v1::InvokeResponse> Invoke(const v1::InvokeRequest& request,
                                            absl::Duration timeout);
  // Standard health check of the worker ("" service): OK when SERVING.
  absl::Status CheckHealth(absl::Duration timeout);

 private:
  struct Impl;
  explicit WorkerClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_WORKER_CLIENT_H_
