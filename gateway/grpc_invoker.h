// The Invoker over gRPC: one reused channel (WorkerClient) per worker address. Thread-safe.
#ifndef WISP_GATEWAY_GRPC_INVOKER_H_
#define WISP_GATEWAY_GRPC_INVOKER_H_

#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "gateway/dispatcher.h"
#include "worker/worker_client.h"

namespace wisp::gateway {

class GrpcInvoker : public Invoker {
 public:
  absl::StatusOr<v1::InvokeResponse> Invoke(const std::string& address,
                                            const v1::InvokeRequest& request,
                                            absl::Duration timeout) override;
  bool Probe(const std::string& address) override;
  bool NeverDelivered(const absl::Status& status) override;

 private:
  worker::WorkerClient* Client(const std::string& address);
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<worker::WorkerClient>> clients_ ABSL_GUARDED_BY(mu_);
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_GRPC_INVOKER_H_
