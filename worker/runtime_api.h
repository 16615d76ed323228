// Lambda's Runtime API (version 2018-06-01) for one execution environment.
//
// RuntimeApi is the environment's mailbox: the worker offers an invocation and waits for its
// outcome; the runtime process long-polls /next for it and posts /response or /error. It also
// collects what else can end an invocation (the process exited, a limit killed it). All methods
// are thread-safe. One RuntimeApi serves one runtime process: after a reset the environment
// makes a new one, so a request from a dead process can never receive a new invocation.
//
// RuntimeApiServer is the HTTP shell around it on 127.0.0.1 (cpp-httplib, keep-alive, a long
// poll that waits indefinitely), answering exactly as Lambda does:
//   GET  /2018-06-01/runtime/invocation/next            200 + event and Lambda-Runtime-* headers
//   POST /2018-06-01/runtime/invocation/{id}/response   202 {"status":"OK"}
//   POST /2018-06-01/runtime/invocation/{id}/error      202 {"status":"OK"}
//   POST /2018-06-01/runtime/init/error                 202 {"status":"OK"}
//   unknown or finished id                              400 InvalidRequestID
//   response over 6 MiB + 100 bytes                     413 RequestEntityTooLarge
//   anything else                                       404 / 405 with an error body
#ifndef WISP_WORKER_RUNTIME_API_H_
#define WISP_WORKER_RUNTIME_API_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}

namespace wisp::worker {

// One event handed to the runtime.
struct Invocation {
  std::string request_id;
  std::string payload;
  int64_t deadline_unix_ms = 0;
  std::string invoked_function_arn;
  std::string trace_id;
  std::string client_context;
  std::string cognito_identity;
};

// A reply to the runtime's HTTP request.
struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// What ended (or stopped) an invocation or the environment's initialisation.
struct RuntimeEvent {
  enum class Kind {
    kResponse,       // runtime posted /response; payload = the result
    kError,          // runtime posted /error; payload = the error document
    kTooLarge,       // runtime posted a response over the limit
    kInitError,      // runtime posted /init/error; payload = the error document
    kExited,         // the process exited; exit_status = wait status
    kKilled,         // a limit killed it; reason = which
    kTimeout,        // the deadline passed
  };
  Kind kind = Kind::kTimeout;
  std::string payload;
  std::string error_type_header;  // Lambda-Runtime-Function-Error-Type
  int exit_status = 0;            // waitpid() status for kExited
  std::string reason;             // for kKilled: "oom", "ephemeral-storage"
  // For kExited / kKilled: whether the runtime had received the invocation. When it had not,
  // the invocation can run in a fresh environment without breaking at-most-once delivery.
  bool delivered = true;
};

class RuntimeApi {
 public:
  explicit RuntimeApi(int64_t max_response_bytes);

  // --- the worker's side ---
  // Blocks until the runtime first asks for /next (init done) or something ends it.
  // Returns nullopt on init done; otherwise the event that ended initialisation.
  std::optional<RuntimeEvent> WaitInitDone(absl::Time deadline);
  // Hands `inv` to the runtime's (current or next) /next. Precondition: none in progress.
  void Offer(Invocation inv);
  // Blocks until the offered invocation ends or `deadline` passes (kTimeout).
  RuntimeEvent WaitOutcome(absl::Time deadline);
  // The process exited / was killed by a limit: ends whatever is waiting.
  void NotifyExited(int wait_status);
  void NotifyKilled(std::string reason);
  // Wakes every parked /next with an error; later calls fail fast.
  void Shutdown();
  // True once the process exited or was killed.
  bool Terminated();

  // --- the runtime's side (HTTP handlers) ---
  // Long poll: blocks until an invocation is offered; nullopt once shut down.
  std::optional<Invocation> Next();
  // The event handed out by Next() never reached the runtime (the write failed): offer it
  // again, and count it as not delivered.
  void Undeliver(const Invocation& inv);
  HttpReply PostResponse(absl::string_view request_id, std::string body);
  HttpReply PostError(absl::string_view request_id, std::string body, std::string error_type);
  HttpReply PostInitError(std::string body, std::string error_type);

  // Builds the reply for a delivered invocation (body + Lambda-Runtime-* headers). Pure.
  static HttpReply NextReply(const Invocation& inv);
  static HttpReply ErrorReply(int status, absl::string_view error_type, absl::string_view message);

 private:
  bool HasEventLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t max_response_bytes_;
  absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool init_done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<Invocation> pending_ ABSL_GUARDED_BY(mu_);  // offered, not yet delivered
  std::string active_id_ ABSL_GUARDED_BY(mu_);              // offered or delivered
  bool delivered_ ABSL_GUARDED_BY(mu_) = false;
  // The runtime's answer to the current invocation (or its init error), until consumed.
  std::optional<RuntimeEvent> result_ ABSL_GUARDED_BY(mu_);
  // The process exited or was killed: final for this RuntimeApi.
  std::optional<RuntimeEvent> terminal_ ABSL_GUARDED_BY(mu_);
};

// Serves a RuntimeApi over HTTP on 127.0.0.1:<ephemeral port>.
class RuntimeApiServer {
 public:
  static absl::StatusOr<std::unique_ptr<RuntimeApiServer>> Start(std::shared_ptr<RuntimeApi> api);
  ~RuntimeApiServer();
  // "127.0.0.1:PORT", the value of AWS_LAMBDA_RUNTIME_API.
  std::string address() const;
  void Stop();

 private:
  RuntimeApiServer() = default;
  std::shared_ptr<RuntimeApi> api_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_RUNTIME_API_H_
