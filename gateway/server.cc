#include "gateway/server.h"

#include <sys/socket.h>

#include <algorithm>

#include <httplib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/function_config.h"
#include "gateway/apigw.h"
#include "gateway/invoke_api.h"
#include "nlohmann/json.hpp"
#include "controller/base/request_id.h"

namespace wisp::gateway {
namespace {

constexpr char kInvokePattern[] = R"(/2015-03-31/functions/([^/]+)/invocations)";

// Reads the whole body through httplib's content reader. False when it could not be read, with
// res.status saying why: 413 over the payload limit (a Content-Length over it, which httplib
// checks, or a chunked body that grows past it, checked here so nothing unbounded is buffered),
// 400 for a body that was incomplete (the client stopped sending: the read timeout) or malformed.
// A request whose body was not read whole must not reach a function.
bool ReadBody(const httplib::Request& req, const httplib::ContentReader& reader,
              httplib::Response& res, std::string* body) {
  // Without Content-Length or Transfer-Encoding a request has no body (RFC 9112, 6.3); httplib
  // would wait for the connection to close instead (`curl -X POST` sends neither).
  if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) return true;
  bool too_large = false;
  bool ok = reader([body, &too_large](const char* data, size_t len) {
    if (body->size() + len > static_cast<size_t>(kMaxSyncPayloadBytes)) {
      too_large = true;
      return false;
    }
    body->append(data, len);
    return true;
  });
  if (ok && !too_large) return true;
  res.status = too_large || res.status == 413 ? 413 : 400;
  return false;
}

bool IsPseudoHeader(const std::string& name) {
  // httplib records the peer's and our address among the request headers.
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

void SendServiceError(httplib::Response& res, const ServiceError& e, const std::string& request_id) {
  res.status = e.status;
  res.set_header("x-amzn-ErrorType", e.type);
  res.set_header("x-amzn-RequestId", request_id);
  res.set_content(e.Body(), "application/json");
}

void SendHttpError(httplib::Response& res, int status, absl::string_view message,
                   const std::string& request_id, nlohmann::ordered_json extra = {}) {
  nlohmann::ordered_json body = {{"message", message}};
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) body[it.key()] = it.value();
  }
  res.status = status;
  if (!request_id.empty()) res.set_header("apigw-requestid", request_id);
  res.set_content(body.dump(), "application/json");
}

std::string RouteLabel(const std::string& route_key) { return route_key.empty() ? "none" : route_key; }

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Start(ServerOptions options,
                                                                  Dispatcher* dispatcher,
                                                                  GatewayMetrics* metrics,
                                                                  AsyncIntake* async) {
  std::unique_ptr<GatewayServer> g(new GatewayServer());
  g->options_ = options;
  g->dispatcher_ = dispatcher;
  g->async_ = async;
  g->metrics_ = metrics;
  {
    absl::MutexLock lock(&g->mu_);
    auto empty = std::make_shared<Snapshot>();
    g->tables_ = std::make_shared<Tables>(Tables{empty, Router::Build(*empty)});
  }
  g->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *g->server_;
  GatewayServer* self = g.get();
  const int pool = options.max_connections;
  srv.new_task_queue = [pool] { return new httplib::ThreadPool(pool); };
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(100000);
  srv.set_keep_alive_timeout(options.idle_timeout_seconds);
  srv.set_read_timeout(options.read_timeout_seconds, 0);
  srv.set_write_timeout(options.write_timeout_seconds, 0);
  srv.set_payload_max_length(static_cast<size_t>(kMaxSyncPayloadBytes));
  int listen_fd = -1;
  srv.set_socket_options([&listen_fd](int fd) {
    httplib::default_socket_options(fd);
    listen_fd = fd;
  });

  // Bodies are read through content readers: httplib's plain handlers refuse form-encoded
  // bodies over 8 KB (what `curl -d` sends), whatever the payload limit.
  srv.Post(kInvokePattern, [self](const httplib::Request& req, httplib::Response& res,
                                  const httplib::ContentReader& reader) {
    if (!self->CheckHeaders(req, res)) return;
    std::string body;
    if (!ReadBody(req, reader, res, &body)) {
      SendServiceError(res,
                       res.status == 413 ? RequestTooLarge(kMaxSyncPayloadBytes)
                                         : InvalidRequestContent("Could not read the request body: it "
                                                                 "was incomplete or malformed"),
                       "");
      if (self->metrics_) self->metrics_->Request("", "invoke-api", res.status, 0, 0);
      return;
    }
    self->HandleInvokeApi(req, res, std::move(body));
  });
  auto route_with_body = [self](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) {
    if (!self->CheckHeaders(req, res)) return;
    std::string body;
    if (!ReadBody(req, reader, res, &body)) {
      if (res.status == 413) {
        SendHttpError(res, 413, "Request Entity Too Large", "");
      } else {
        SendHttpError(res, 400, "Bad Request: the body was incomplete or malformed", "");
      }
      if (self->metrics_) self->metrics_->Request("", "none", res.status, 0, 0);
      return;
    }
    self->HandleRoute(req, res, std::move(body));
  };
  auto route = [self](const httplib::Request& req, httplib::Response& res) {
    if (!self->CheckHeaders(req, res)) return;
    self->HandleRoute(req, res, req.body);
  };
  srv.Get(".*", route);
  srv.Options(".*", route);
  srv.Post(".*", route_with_body);
  srv.Put(".*", route_with_body);
  srv.Patch(".*", route_with_body);
  srv.Delete(".*", route_with_body);
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    bool invoke_api = absl::StartsWith(req.path, "/2015-03-31/");
    if (res.status == 413) {
      if (invoke_api) {
        SendServiceError(res, RequestTooLarge(kMaxSyncPayloadBytes), "");
      } else {
        SendHttpError(res, 413, "Request Entity Too Large", "");
      }
    } else if (res.status == 400) {
      SendHttpError(res, 400, "Bad Request", "");
    } else if (res.status == 414) {
      SendHttpError(res, 414, "URI Too Long", "");
    } else if (res.status == 404) {
      SendHttpError(res, 404, "Not Found", "");
    } else if (res.status >= 400) {
      SendHttpError(res, res.status, "Error", "");
    }
  });

  int port = options.port == 0 ? srv.bind_to_any_port(options.host)
                               : (srv.bind_to_port(options.host, options.port) ? options.port : -1);
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.host, ":", options.port,
                                               " (port in use?)"));
  }
  // httplib listens with a backlog of 5; Linux lets us raise it on the listening socket.
  if (listen_fd >= 0) ::listen(listen_fd, options.backlog);
  g->port_ = port;
  g->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  while (!srv.is_running()) std::this_thread::yield();
  return g;
}

GatewayServer::~GatewayServer() { Stop(); }

void GatewayServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

void GatewayServer::Update(std::shared_ptr<const Snapshot> snapshot) {
  std::vector<std::string> conflicts;
  auto tables = std::make_shared<Tables>(Tables{snapshot, Router::Build(*snapshot, &conflicts)});
  for (const auto& c : conflicts) log::Warn("route conflict", {{"detail", c}});
  absl::MutexLock lock(&mu_);
  tables_ = std::move(tables);
}

std::shared_ptr<const GatewayServer::Tables> GatewayServer::tables() {
  absl::MutexLock lock(&mu_);
  return tables_;
}

bool GatewayServer::CheckHeaders(const httplib::Request& req, httplib::Response& res) {
  int count = 0;
  for (const auto& [name, value] : req.headers) count += IsPseudoHeader(name) ? 0 : 1;
  if (count > options_.max_headers) {
    SendHttpError(res, 431, absl::StrCat("Request Header Fields Too Large: more than ",
                                         options_.max_headers, " headers"), "");
    if (metrics_) metrics_->Request("", "none", 431, 0, 0);
    return false;
  }
  // httplib reads a Content-Length it cannot parse as 0, which would leave the body on the
  // connection to be read as the next request.
  if (req.has_header("Content-Length")) {
    std::string length = req.get_header_value("Content-Length");
    bool digits = !length.empty() && length.size() <= 18 &&
                  std::all_of(length.begin(), length.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || req.get_header_value_count("Content-Length") > 1) {
      SendHttpError(res, 400, "Bad Request: invalid Content-Length", "");
      if (metrics_) metrics_->Request("", "none", 400, 0, 0);
      return false;
    }
  }
  return true;
}

void GatewayServer::HandleInvokeApi(const httplib::Request& req, httplib::Response& res,
                                    std::string body) {
  absl::Time start = absl::Now();
  const std::string request_id = NewRequestId();
  std::string function_label;
  auto finish = [&](int status, double function_seconds) {
    if (metrics_) {
      metrics_->Request(function_label, "invoke-api", status,
                        absl::ToDoubleSeconds(absl::Now() - start), function_seconds);
    }
  };
  absl::StatusOr<FunctionRef> ref = ParseFunctionRef(req.matches[1].str());
  if (!ref.ok()) {
    SendServiceError(res, InvalidParameterValue(ref.status().message()), request_id);
    return finish(res.status, 0);
  }
  std::string qualifier = req.has_param("Qualifier") ? req.get_param_value("Qualifier") : ref->qualifier;
  std::string arn = FunctionArn(options_.region, options_.account_id, ref->name);
  auto t = tables();
  const FunctionInfo* fn = t->snapshot->Find(ref->name);
  if (fn == nullptr || (!qualifier.empty() && qualifier != "$LATEST")) {
    SendServiceError(res, ResourceNotFound(qualifier.empty() ? arn : absl::StrCat(arn, ":", qualifier)),
                     request_id);
    return finish(res.status, 0);
  }
  function_label = fn->name;
  absl::StatusOr<InvokeHeaders> headers = ParseInvokeHeaders(
      req.get_header_value("X-Amz-Invocation-Type"), req.get_header_value("X-Amz-Log-Type"),
      req.get_header_value("X-Amz-Client-Context"));
  if (!headers.ok()) {
    SendServiceError(res, ToServiceError(headers.status()), request_id);
    return finish(res.status, 0);
  }
  if (headers->type == InvocationType::kDryRun) {
    res.status = 204;
    res.set_header("x-amzn-RequestId", request_id);
    return finish(204, 0);
  }
  if (headers->type == InvocationType::kEvent && async_ == nullptr) {
    SendServiceError(res,
                     InvalidParameterValue("InvocationType Event (asynchronous invocation) is off "
                                           "on this gateway: it runs without --redis"),
                     request_id);
    return finish(res.status, 0);
  }
  if (body.empty()) body = "{}";
  std::string parse_error;
  if (!IsJson(body, &parse_error)) {
    SendServiceError(res,
                     InvalidRequestContent(absl::StrCat(
                         "Could not parse request body into json: Could not parse payload into json: ",
                         parse_error)),
                     request_id);
    return finish(res.status, 0);
  }
  if (headers->type == InvocationType::kEvent) {
    // 202 only once Redis has the event on disk; the id the caller gets is the handler's
    // request id on every attempt.
    absl::StatusOr<std::string> id = async_->Accept(*fn, std::move(body), headers->client_context);
    if (id.ok()) {
      res.status = 202;
      res.set_header("x-amzn-RequestId", *id);
      return finish(202, 0);
    }
    switch (id.status().code()) {
      case absl::StatusCode::kInvalidArgument:
        SendServiceError(res, RequestTooLarge(async_->max_payload_bytes()), request_id);
        break;
      case absl::StatusCode::kResourceExhausted:
        if (metrics_) metrics_->Throttle(fn->name, "async_backlog");
        SendServiceError(res, TooManyRequests("FunctionInvocationRateLimitExceeded",
                                              id.status().message()),
                         request_id);
        break;
      default:
        SendServiceError(res, ServiceFault(id.status().message()), request_id);
    }
    return finish(res.status, 0);
  }
  v1::InvokeRequest call;
  call.set_request_id(request_id);
  call.set_function_name(fn->name);
  call.set_payload(std::move(body));
  call.set_trace_id(req.get_header_value("X-Amzn-Trace-Id"));
  call.set_client_context(headers->client_context);
  call.set_invoked_function_arn(arn);
  call.set_log_tail(headers->log_tail);
  DispatchResult result = dispatcher_->Invoke(fn->name, call);
  switch (result.kind) {
    case DispatchResult::Kind::kOk: {
      const v1::InvokeResponse& r = result.response;
      res.status = 200;
      res.set_header("x-amzn-RequestId", request_id);
      res.set_header("X-Amz-Executed-Version",
                     r.executed_version().empty() ? "$LATEST" : r.executed_version());
      if (headers->log_tail) res.set_header("X-Amz-Log-Result", Base64Encode(r.log_tail()));
      if (r.has_error()) res.set_header("X-Amz-Function-Error", "Unhandled");
      res.set_content(r.payload(), "application/json");
      return finish(200, r.duration_ms() / 1000.0);
    }
    case DispatchResult::Kind::kNotFound:
      SendServiceError(res, ResourceNotFound(arn), request_id);
      break;
    case DispatchResult::Kind::kThrottled:
      if (metrics_) metrics_->Throttle(fn->name, "reserved");
      SendServiceError(res,
                       TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded", result.message),
                       request_id);
      break;
    case DispatchResult::Kind::kQueueFull:
      if (metrics_) metrics_->Throttle(fn->name, "queue_full");
      SendServiceError(res, TooManyRequests("ConcurrentInvocationLimitExceeded", result.message),
                       request_id);
      break;
    case DispatchResult::Kind::kInvalid:
      SendServiceError(res, RequestTooLarge(kMaxSyncPayloadBytes), request_id);
      break;
    case DispatchResult::Kind::kNoCapacity:
    case DispatchResult::Kind::kShuttingDown: {
      ServiceError e = ServiceFault(result.message.empty() ? "The gateway is shutting down" : result.message);
      e.status = 503;
      SendServiceError(res, e, request_id);
      break;
    }
    case DispatchResult::Kind::kTimeout: {
      ServiceError e = ServiceFault(result.message);
      e.status = 504;
      SendServiceError(res, e, request_id);
      break;
    }
    case DispatchResult::Kind::kWorkerFailed: {
      ServiceError e = ServiceFault(result.message);
      e.status = 502;
      SendServiceError(res, e, request_id);
      break;
    }
  }
  finish(res.status, 0);
}

void GatewayServer::HandleRoute(const httplib::Request& req, httplib::Response& res,
                                std::string body) {
  absl::Time start = absl::Now();
  const std::string request_id = NewRequestId();
  // The raw (still percent-encoded) path and query, as the 2.0 event wants them.
  std::string target = req.target.empty() ? req.path : req.target;
  size_t q = target.find('?');
  std::string raw_path = target.substr(0, q);
  std::string raw_query = q == std::string::npos ? "" : target.substr(q + 1);
  auto t = tables();
  RouteMatch match = t->router.Match(req.method == "HEAD" ? "GET" : req.method, raw_path);
  auto finish = [&](int status, double function_seconds) {
    if (metrics_) {
      metrics_->Request(match.function, RouteLabel(match.route_key), status,
                        absl::ToDoubleSeconds(absl::Now() - start), function_seconds);
    }
  };
  if (match.kind == RouteMatch::Kind::kNotFound) {
    SendHttpError(res, 404, "Not Found", request_id);
    return finish(404, 0);
  }
  if (match.kind == RouteMatch::Kind::kMethodNotAllowed) {
    res.set_header("Allow", absl::StrJoin(match.allowed_methods, ", "));
    SendHttpError(res, 405, "Method Not Allowed", request_id);
    return finish(405, 0);
  }
  HttpRequestView view;
  view.method = req.method;
  view.raw_path = raw_path;
  view.raw_query = raw_query;
  view.protocol = req.version.empty() ? "HTTP/1.1" : req.version;
  for (const auto& [k, v] : req.headers) {
    if (IsPseudoHeader(k)) continue;
    view.headers.emplace_back(k, v);
  }
  view.body = std::move(body);
  view.source_ip = req.remote_addr;
  EventContext ctx;
  ctx.route_key = match.route_key;
  ctx.path_parameters = match.path_parameters;
  ctx.request_id = request_id;
  ctx.account_id = options_.account_id;
  ctx.now_unix_ms = absl::ToUnixMillis(start);
  v1::InvokeRequest call;
  call.set_request_id(request_id);
  call.set_function_name(match.function);
  call.set_payload(BuildHttpEvent(view, ctx));
  call.set_trace_id(req.get_header_value("X-Amzn-Trace-Id"));
  call.set_invoked_function_arn(FunctionArn(options_.region, options_.account_id, match.function));
  if (match.async) {
    // An async route: 202 once the 2.0 event is stored; the handler runs it with this
    // request id (the event's requestContext.requestId).
    if (async_ == nullptr) {
      SendHttpError(res, 503, "Service Unavailable: this route is asynchronous and the gateway runs without --redis", request_id);
      return finish(503, 0);
    }
    const FunctionInfo* fn = t->snapshot->Find(match.function);
    if (fn == nullptr) {
      SendHttpError(res, 404, "Not Found", request_id);
      return finish(404, 0);
    }
    absl::StatusOr<std::string> id = async_->Accept(*fn, call.payload(), "", request_id);
    if (id.ok()) {
      res.status = 202;
      res.set_header("x-amzn-RequestId", *id);
      res.set_content(nlohmann::json{{"requestId", *id}}.dump(), "application/json");
      return finish(202, 0);
    }
    switch (id.status().code()) {
      case absl::StatusCode::kInvalidArgument:
        SendHttpError(res, 413, "Request Entity Too Large", request_id);
        break;
      case absl::StatusCode::kResourceExhausted:
        if (metrics_) metrics_->Throttle(fn->name, "async_backlog");
        SendHttpError(res, 429, "Too Many Requests", request_id);
        break;
      default:
        SendHttpError(res, 503, "Service Unavailable", request_id);
    }
    return finish(res.status, 0);
  }
  if (static_cast<int64_t>(call.payload().size()) > kMaxSyncPayloadBytes) {
    SendHttpError(res, 413, "Request Entity Too Large", request_id);
    return finish(413, 0);
  }
  DispatchResult result = dispatcher_->Invoke(match.function, call);
  switch (result.kind) {
    case DispatchResult::Kind::kOk: {
      const v1::InvokeResponse& r = result.response;
      double fn_seconds = r.duration_ms() / 1000.0;
      if (r.has_error()) {
        bool timeout = r.error().error_type() == "Sandbox.Timedout";
        SendHttpError(res, timeout ? 504 : 502, timeout ? "Gateway Timeout" : "Internal Server Error",
                      request_id,
                      {{"errorType", r.error().error_type()}, {"requestId", request_id}});
        return finish(res.status, fn_seconds);
      }
      absl::StatusOr<HttpResult> mapped = MapHttpResult(r.payload());
      if (!mapped.ok()) {
        SendHttpError(res, 502, "Malformed function response", request_id,
                      {{"detail", std::string(mapped.status().message())}, {"requestId", request_id}});
        return finish(502, fn_seconds);
      }
      res.status = mapped->status;
      for (const auto& [k, v] : mapped->headers) res.set_header(k, v);
      res.set_header("apigw-requestid", request_id);
      if (!mapped->body.empty() || !mapped->content_type.empty()) {
        res.set_content(mapped->body, mapped->content_type.empty() ? "application/json" : mapped->content_type);
      }
      return finish(res.status, fn_seconds);
    }
    case DispatchResult::Kind::kNotFound:
      SendHttpError(res, 404, "Not Found", request_id);
      break;
    case DispatchResult::Kind::kThrottled:
      if (metrics_) metrics_->Throttle(match.function, "reserved");
      SendHttpError(res, 429, "Too Many Requests", request_id,
                    {{"reason", "ReservedFunctionConcurrentInvocationLimitExceeded"}, {"detail", result.message}});
      break;
    case DispatchResult::Kind::kQueueFull:
      if (metrics_) metrics_->Throttle(match.function, "queue_full");
      SendHttpError(res, 429, "Too Many Requests", request_id,
                    {{"reason", "ConcurrentInvocationLimitExceeded"}, {"detail", result.message}});
      break;
    case DispatchResult::Kind::kInvalid:
      SendHttpError(res, 413, "Request Entity Too Large", request_id, {{"detail", result.message}});
      break;
    case DispatchResult::Kind::kNoCapacity:
    case DispatchResult::Kind::kShuttingDown:
      SendHttpError(res, 503, "Service Unavailable", request_id, {{"detail", result.message}});
      break;
    case DispatchResult::Kind::kTimeout:
      SendHttpError(res, 504, "Gateway Timeout", request_id, {{"detail", result.message}});
      break;
    case DispatchResult::Kind::kWorkerFailed:
      SendHttpError(res, 502, "Bad Gateway", request_id, {{"detail", result.message}});
      break;
  }
  finish(res.status, 0);
}

}  // namespace wisp::gateway
