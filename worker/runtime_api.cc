#include "worker/runtime_api.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "controller/base/log.h"
#include "nlohmann/json.hpp"

namespace wisp::worker {
namespace {

constexpr char kPrefix[] = "/2018-06-01/runtime";
const char kAccepted[] = "{\"status\":\"OK\"}";

HttpReply Accepted() {
  HttpReply r;
  r.status = 202;
  r.body = kAccepted;
  return r;
}

}  // namespace

RuntimeApi::RuntimeApi(int64_t max_response_bytes) : max_response_bytes_(max_response_bytes) {}

bool RuntimeApi::HasEventLocked() const {
  return result_.has_value() || terminal_.has_value() || shutdown_;
}

std::optional<RuntimeEvent> RuntimeApi::WaitInitDone(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return init_done_ || HasEventLocked(); };
  if (!mu_.AwaitWithDeadline(absl::Condition(&done), deadline)) {
    return RuntimeEvent{.kind = RuntimeEvent::Kind::kTimeout};
  }
  if (result_.has_value()) return result_;  // an init error
  if (terminal_.has_value()) return terminal_;
  if (!init_done_) return RuntimeEvent{.kind = RuntimeEvent::Kind::kKilled, .reason = "shutdown"};
  return std::nullopt;
}

void RuntimeApi::Offer(Invocation inv) {
  absl::MutexLock lock(&mu_);
  active_id_ = inv.request_id;
  delivered_ = false;
  result_.reset();
  pending_ = std::move(inv);
}

RuntimeEvent RuntimeApi::WaitOutcome(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return HasEventLocked(); };
  bool in_time = mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  const bool delivered = delivered_;
  // Whatever the runtime posts for this id from now on is refused.
  active_id_.clear();
  pending_.reset();
  if (result_.has_value()) {
    // An answer wins over an exit that follows it (a runtime may exit right after replying).
    RuntimeEvent ev = std::move(*result_);
    result_.reset();
    return ev;
  }
  if (terminal_.has_value()) {
    RuntimeEvent ev = *terminal_;
    ev.delivered = delivered;
    return ev;
  }
  if (!in_time) return RuntimeEvent{.kind = RuntimeEvent::Kind::kTimeout};
  return RuntimeEvent{.kind = RuntimeEvent::Kind::kKilled, .reason = "shutdown"};
}

void RuntimeApi::NotifyExited(int wait_status) {
  absl::MutexLock lock(&mu_);
  // A kill by a limit explains the exit better than the signal does; keep it.
  if (terminal_.has_value()) return;
  terminal_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kExited, .exit_status = wait_status};
}

void RuntimeApi::NotifyKilled(std::string reason) {
  absl::MutexLock lock(&mu_);
  if (terminal_.has_value()) return;
  terminal_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kKilled, .reason = std::move(reason)};
}

bool RuntimeApi::Terminated() {
  absl::MutexLock lock(&mu_);
  return terminal_.has_value();
}

void RuntimeApi::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

std::optional<Invocation> RuntimeApi::Next() {
  absl::MutexLock lock(&mu_);
  if (!init_done_) init_done_ = true;
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return shutdown_ || (pending_.has_value() && !delivered_);
  };
  mu_.Await(absl::Condition(&ready));
  if (shutdown_) return std::nullopt;
  delivered_ = true;
  Invocation inv = std::move(*pending_);
  pending_.reset();
  return inv;
}

void RuntimeApi::Undeliver(const Invocation& inv) {
  absl::MutexLock lock(&mu_);
  if (active_id_ != inv.request_id || !delivered_ || result_.has_value()) return;
  delivered_ = false;
  pending_ = inv;
}

HttpReply RuntimeApi::PostResponse(absl::string_view request_id, std::string body) {
  absl::MutexLock lock(&mu_);
  if (request_id.empty() || request_id != active_id_ || !delivered_ || result_.has_value()) {
    return ErrorReply(400, "InvalidRequestID", "Invalid request ID");
  }
  if (static_cast<int64_t>(body.size()) > max_response_bytes_) {
    result_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kTooLarge,
                          .payload = absl::StrCat(body.size())};
    return ErrorReply(413, "RequestEntityTooLarge",
                      absl::StrCat("Exceeded maximum allowed payload size (", max_response_bytes_,
                                   " bytes)."));
  }
  result_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kResponse, .payload = std::move(body)};
  return Accepted();
}

HttpReply RuntimeApi::PostError(absl::string_view request_id, std::string body,
                                std::string error_type) {
  absl::MutexLock lock(&mu_);
  if (request_id.empty() || request_id != active_id_ || !delivered_ || result_.has_value()) {
    return ErrorReply(400, "InvalidRequestID", "Invalid request ID");
  }
  if (static_cast<int64_t>(body.size()) > max_response_bytes_) {
    result_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kTooLarge,
                           .payload = absl::StrCat(body.size())};
    return ErrorReply(413, "RequestEntityTooLarge",
                      absl::StrCat("Exceeded maximum allowed payload size (", max_response_bytes_,
                                   " bytes)."));
  }
  result_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kError,
                        .payload = std::move(body),
                        .error_type_header = std::move(error_type)};
  return Accepted();
}

HttpReply RuntimeApi::PostInitError(std::string body, std::string error_type) {
  absl::MutexLock lock(&mu_);
  if (init_done_) {
    // Lambda accepts /init/error only during initialisation.
    return ErrorReply(403, "InvalidStateTransition",
                      "State transition from Ready to InitError failed for runtime");
  }
  if (!result_.has_value()) {
    result_ = RuntimeEvent{.kind = RuntimeEvent::Kind::kInitError,
                          .payload = std::move(body),
                          .error_type_header = std::move(error_type)};
  }
  return Accepted();
}

HttpReply RuntimeApi::NextReply(const Invocation& inv) {
  HttpReply r;
  r.status = 200;
  r.body = inv.payload;
  r.headers.emplace_back("Lambda-Runtime-Aws-Request-Id", inv.request_id);
  r.headers.emplace_back("Lambda-Runtime-Deadline-Ms", absl::StrCat(inv.deadline_unix_ms));
  r.headers.emplace_back("Lambda-Runtime-Invoked-Function-Arn", inv.invoked_function_arn);
  if (!inv.trace_id.empty()) r.headers.emplace_back("Lambda-Runtime-Trace-Id", inv.trace_id);
  if (!inv.client_context.empty()) {
    r.headers.emplace_back("Lambda-Runtime-Client-Context", inv.client_context);
  }
  if (!inv.cognito_identity.empty()) {
    r.headers.emplace_back("Lambda-Runtime-Cognito-Identity", inv.cognito_identity);
  }
  return r;
}

HttpReply RuntimeApi::ErrorReply(int status, absl::string_view error_type,
                                 absl::string_view message) {
  HttpReply r;
  r.status = status;
  nlohmann::json doc = {{"errorMessage", message}, {"errorType", error_type}};
  r.body = doc.dump();
  return r;
}

// ---------------------------------------------------------------------------------------------

namespace {

std::string ReadBody(const httplib::ContentReader& reader) {
  std::string body;
  reader([&body](const char* data, size_t len) {
    body.append(data, len);
    return true;
  });
  return body;
}

void Send(httplib::Response& res, const HttpReply& reply) {
  res.status = reply.status;
  for (const auto& [k, v] : reply.headers) res.set_header(k, v);
  res.set_content(reply.body, reply.content_type);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RuntimeApiServer>> RuntimeApiServer::Start(
    std::shared_ptr<RuntimeApi> api) {
  std::unique_ptr<RuntimeApiServer> s(new RuntimeApiServer());
  s->api_ = api;
  s->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *s->server_;
  // A runtime holds one or two keep-alive connections; each takes a pool thread for its life.
  srv.new_task_queue = [] { return new httplib::ThreadPool(4); };
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(1 << 30);
  srv.set_keep_alive_timeout(600);
  srv.set_read_timeout(60, 0);
  srv.set_write_timeout(60, 0);
  srv.set_payload_max_length(static_cast<size_t>(64) << 20);

  srv.Get(absl::StrCat(kPrefix, "/invocation/next"),
          [api](const httplib::Request&, httplib::Response& res) {
            std::optional<Invocation> inv = api->Next();
            if (!inv.has_value()) {
              Send(res, RuntimeApi::ErrorReply(500, "ServiceUnavailable",
                                               "execution environment is shutting down"));
              return;
            }
            // The event goes out through a content provider, whose completion tells whether
            // it reached the runtime's socket: if not (the runtime died while parked on /next),
            // it is taken back so that it can run elsewhere.
            HttpReply reply = RuntimeApi::NextReply(*inv);
            res.status = reply.status;
            for (const auto& [k, v] : reply.headers) res.set_header(k, v);
            auto body = std::make_shared<std::string>(std::move(reply.body));
            auto taken = std::make_shared<Invocation>(std::move(*inv));
            res.set_content_provider(
                body->size(), reply.content_type,
                [body](size_t offset, size_t length, httplib::DataSink& sink) {
                  return sink.write(body->data() + offset, length);
                },
                [api, taken](bool success) {
                  if (!success) api->Undeliver(*taken);
                });
          });
  // Bodies are read through a content reader: httplib's plain handlers refuse form-encoded
  // bodies over 8 KB (curl -d sends that content type), whatever the payload limit.
  srv.Post(absl::StrCat(kPrefix, R"(/invocation/([^/]+)/response)"),
           [api](const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) {
             Send(res, api->PostResponse(req.matches[1].str(), ReadBody(reader)));
           });
  srv.Post(absl::StrCat(kPrefix, R"(/invocation/([^/]+)/error)"),
           [api](const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) {
             Send(res, api->PostError(req.matches[1].str(), ReadBody(reader),
                                      req.get_header_value("Lambda-Runtime-Function-Error-Type")));
           });
  srv.Post(absl::StrCat(kPrefix, "/init/error"),
           [api](const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader) {
             Send(res, api->PostInitError(
                           ReadBody(reader), req.get_header_value("Lambda-Runtime-Function-Error-Type")));
           });
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      Send(res, RuntimeApi::ErrorReply(404, "NotFound",
                                       absl::StrCat("no such Runtime API path: ", req.path)));
    } else if (res.status == 413) {
      Send(res, RuntimeApi::ErrorReply(413, "RequestEntityTooLarge", "request too large"));
    }
  });

  int port = srv.bind_to_any_port("127.0.0.1");
  if (port <= 0) return absl::UnavailableError("cannot bind the Runtime API on 127.0.0.1");
  s->port_ = port;
  s->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  // httplib ignores stop() until its loop runs: wait for it, so Stop() can never be lost.
  while (!srv.is_running()) std::this_thread::yield();
  return s;
}

std::string RuntimeApiServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

void RuntimeApiServer::Stop() {
  if (api_) api_->Shutdown();
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

RuntimeApiServer::~RuntimeApiServer() { Stop(); }

}  // namespace wisp::worker
