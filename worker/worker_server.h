// The worker's gRPC front: wisp.v1.Worker/Invoke over a WorkerCore, plus the standard
// grpc.health.v1 service (NOT_SERVING until the environments are initialised and while
// draining). Uses gRPC's callback API: Invoke never blocks a gRPC thread; the environment's
// thread finishes the call. Message size limits fit a 6 MiB payload with room for framing,
// so an oversized payload gets a clear INVALID_ARGUMENT from us rather than gRPC's own limit.
// Thread-safe. The header keeps gRPC out of its includers.
#ifndef WISP_WORKER_WORKER_SERVER_H_
#define WISP_WORKER_WORKER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/worker_core.h"

namespace wisp::worker {

// Largest gRPC message either side accepts: a 6 MiB payload plus headroom.
inline constexpr int kMaxGrpcMessageBytes = 8 * 1024 * 1024;

// Trailing metadata key the worker sets on calls it refused before any runtime saw them.
inline constexpr char kRejectedMetadataKey[] = "wisp-rejected";

class WorkerServer {
 public:
  // Listens on host:port (port 0 picks one). `core` must outlive the server.
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(WorkerCore* core,
                                                             const std::string& host, int port,
                                                             WorkerMetrics* metrics);
  ~WorkerServer();
  int port() const;
  void SetServing(bool serving);
  // Stops accepting calls; waits for running ones until `deadline`, then cancels them.
  void Shutdown(absl::Time deadline);

 private:
  struct Impl;
  explicit WorkerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_WORKER_SERVER_H_
