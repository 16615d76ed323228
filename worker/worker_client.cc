#include "worker/worker_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "wisp/v1/worker.grpc.pb.h"

namespace wisp::worker {
namespace {

constexpr char kNotDeliveredPayload[] = "wisp.dev/never-delivered";

}  // namespace

bool NeverDelivered(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kNotDeliveredPayload).has_value();
}

struct WorkerClient::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Worker::Stub> stub;
};

WorkerClient::WorkerClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerClient::~WorkerClient() = default;

std::unique_ptr<WorkerClient> WorkerClient::Create(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(8 * 1024 * 1024);
  args.SetMaxSendMessageSize(8 * 1024 * 1024);
  auto impl = std::make_unique<Impl>();
  impl->channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  impl->stub = v1::Worker::NewStub(impl->channel);
  return std::unique_ptr<WorkerClient>(new WorkerClient(std::move(impl)));
}

absl::StatusOr<v1::InvokeResponse> WorkerClient::Invoke(const v1::InvokeRequest& request,
                                                        absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::InvokeResponse response;
  grpc::Status s = impl_->stub->Invoke(&ctx, request, &response);
  if (!s.ok()) {
    absl::Status status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    const auto& trailers = ctx.GetServerTrailingMetadata();
    // gRPC reports "failed to connect" when no connection (hence no request) was made.
    bool refused = trailers.find("wisp-rejected") != trailers.end();
    bool no_connection = s.error_code() == grpc::StatusCode::UNAVAILABLE &&
                         s.error_message().find("failed to connect") != std::string::npos;
    // The worker replies to every call it delivered before its gRPC server shuts down, so a
    // call cancelled by the server (a shutdown racing the call) never reached a runtime.
    bool cancelled_by_server = s.error_code() == grpc::StatusCode::CANCELLED;
    if (refused || no_connection || cancelled_by_server) {
      status.SetPayload(kNotDeliveredPayload, absl::Cord("1"));
    }
    return status;
  }
  return response;
}

absl::Status WorkerClient::CheckHealth(absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  auto stub = grpc::health::v1::Health::NewStub(impl_->channel);
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (!s.ok()) return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  if (resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError("worker is not serving");
  }
  return absl::OkStatus();
}

}  // namespace wisp::worker
