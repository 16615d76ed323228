#include "gateway/grpc_invoker.h"

namespace wisp::gateway {

worker::WorkerClient* GrpcInvoker::Client(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& client = clients_[address];
  if (client == nullptr) client = worker::WorkerClient::Create(address);
  return client.get();
}

absl::StatusOr<v1::InvokeResponse> GrpcInvoker::Invoke(const std::string& address,
                                                       const v1::InvokeRequest& request,
                                                       absl::Duration timeout) {
  return Client(address)->Invoke(request, timeout);
}

bool GrpcInvoker::Probe(const std::string& address) {
  return Client(address)->CheckHealth(absl::Milliseconds(500)).ok();
}

bool GrpcInvoker::NeverDelivered(const absl::Status& status) {
  return worker::NeverDelivered(status);
}

}  // namespace wisp::gateway
