#include "worker/worker_server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "controller/base/request_id.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wisp/v1/worker.grpc.pb.h"

namespace wisp::worker {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// Marks a call the worker refused before any runtime saw it, so that callers may retry it
// elsewhere without breaking at-most-once delivery.
void Refuse(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor,
            const grpc::Status& status) {
  ctx->AddTrailingMetadata(std::string(kRejectedMetadataKey), "1");
  reactor->Finish(status);
}

void FillResponse(InvocationResult& r, v1::InvokeResponse* out) {
  out->set_payload(std::move(r.payload));
  if (r.error.has_value()) {
    v1::FunctionError* e = out->mutable_error();
    e->set_error_type(r.error->error_type);
    e->set_error_message(r.error->error_message);
    for (auto& frame : r.error->stack_trace) e->add_stack_trace(std::move(frame));
  }
  out->set_init_duration_ms(r.init_duration_ms);
  out->set_duration_ms(r.duration_ms);
  out->set_billed_duration_ms(r.billed_duration_ms);
  out->set_max_memory_used_mb(r.max_memory_used_mb);
  out->set_memory_size_mb(r.memory_size_mb);
  out->set_log_tail(std::move(r.log_tail));
  out->set_cold_start(r.cold_start);
  out->set_executed_version(std::string(kLatestVersion));
}

class WorkerService final : public v1::Worker::CallbackService {
 public:
  WorkerService(WorkerCore* core, WorkerMetrics* metrics) : core_(core), metrics_(metrics) {}

  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* ctx,
                                   const v1::InvokeRequest* req,
                                   v1::InvokeResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const FunctionConfig& fn = core_->options().function;
    if (static_cast<int64_t>(req->payload().size()) > kMaxSyncPayloadBytes) {
      if (metrics_) metrics_->Rejected("invalid");
      Refuse(ctx, reactor, grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("payload is ", req->payload().size(), " bytes, over the ",
                       kMaxSyncPayloadBytes, "-byte limit for a synchronous invocation")));
      return reactor;
    }
    if (!req->function_name().empty() && req->function_name() != fn.name) {
      if (metrics_) metrics_->Rejected("not_found");
      Refuse(ctx, reactor, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                   absl::StrCat("this worker serves function ", fn.name,
                                                ", not ", req->function_name())));
      return reactor;
    }
    InvocationRequest ir;
    ir.invocation.request_id = req->request_id().empty() ? NewRequestId() : req->request_id();
    ir.invocation.payload = req->payload();
    ir.invocation.deadline_unix_ms = req->deadline_unix_ms();
    ir.invocation.trace_id = req->trace_id();
    ir.invocation.client_context = req->client_context();
    ir.invocation.cognito_identity = req->cognito_identity();
    ir.invocation.invoked_function_arn = req->invoked_function_arn();
    ir.want_log_tail = req->log_tail();
    absl::Status s = core_->Submit(std::move(ir), [reactor, resp](InvocationResult r) {
      FillResponse(r, resp);
      reactor->Finish(grpc::Status::OK);
    });
    if (!s.ok()) Refuse(ctx, reactor, ToGrpc(s));
    return reactor;
  }

 private:
  WorkerCore* core_;
  WorkerMetrics* metrics_;
};

}  // namespace

struct WorkerServer::Impl {
  std::unique_ptr<WorkerService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

WorkerServer::WorkerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerServer::~WorkerServer() { Shutdown(absl::Now()); }

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(WorkerCore* core,
                                                                  const std::string& host,
                                                                  int port,
                                                                  WorkerMetrics* metrics) {
  auto impl = std::make_unique<Impl>();
  impl->service = std::make_unique<WorkerService>(core, metrics);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::string address = absl::StrCat(host.find(':') != std::string::npos ? "[" + host + "]" : host,
                                      ":", port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl->service.get());
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || impl->port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, " (port in use?)"));
  }
  impl->server->GetHealthCheckService()->SetServingStatus(false);
  return std::unique_ptr<WorkerServer>(new WorkerServer(std::move(impl)));
}

int WorkerServer::port() const { return impl_->port; }

void WorkerServer::SetServing(bool serving) {
  if (impl_->server) impl_->server->GetHealthCheckService()->SetServingStatus(serving);
}

void WorkerServer::Shutdown(absl::Time deadline) {
  if (!impl_ || !impl_->server) return;
  impl_->server->GetHealthCheckService()->SetServingStatus(false);
  impl_->server->Shutdown(absl::ToChronoTime(deadline));
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace wisp::worker
