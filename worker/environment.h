// One execution environment: a runtime process behind its own Runtime API, running one
// invocation at a time, as in Lambda.
//
// Lifecycle: Prepare() starts the runtime and waits (at most 10 s) until it first asks for an
// event. Invoke() runs one invocation to its end and returns the outcome; after a timeout, a
// crash, out of memory or an init failure the environment is torn down (process group killed,
// /tmp wiped) and NeedsReset() says so; Prepare() then makes a fresh one. An Invoke() on an
// environment that is not prepared prepares it first and reports the cold start.
//
// Not thread-safe: one thread (the pool's thread for this environment) drives it. Output
// callbacks arrive on the sandbox's threads and are serialised internally.
#ifndef WISP_WORKER_ENVIRONMENT_H_
#define WISP_WORKER_ENVIRONMENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controller/function_config.h"
#include "worker/lambda_env.h"
#include "worker/report.h"
#include "worker/runtime_api.h"
#include "worker/sandbox.h"

namespace wisp::worker {

// Where the function's log lines go (the worker's stdout). Thread-safe.
class FunctionLog {
 public:
  virtual ~FunctionLog() = default;
  // One line without its newline; request_id is empty outside invocations.
  virtual void Line(absl::string_view request_id, absl::string_view line) = 0;
};

struct EnvironmentOptions {
  FunctionConfig function;
  RuntimeSettings runtime;   // runtimes_dir, interpreters, region; tmp_dir filled per env
  SandboxCapabilities caps;
  std::string work_dir;      // per-environment scratch; /tmp lives in <work_dir>/tmp
  std::string name;          // unique in the worker, e.g. "1234-env0"
  // Called (on a sandbox thread) when the runtime process exits, whatever the reason, so the
  // owner can replace an environment whose runtime died while idle.
  std::function<void()> on_runtime_exit;
};

struct InvocationRequest {
  Invocation invocation;     // deadline_unix_ms may be 0 (= start + timeout)
  bool want_log_tail = false;
};

enum class Outcome {
  kSuccess,
  kFunctionError,   // the handler failed and the runtime reported it
  kTimeout,
  kCrash,           // the runtime exited mid-invocation
  kOutOfMemory,
  kInitError,
  kResponseTooLarge,
};
absl::string_view OutcomeName(Outcome outcome);

struct InvocationResult {
  Outcome outcome = Outcome::kSuccess;
  std::string payload;                      // result, or the error document
  std::optional<ParsedFunctionError> error; // set unless kSuccess
  bool cold_start = false;
  double init_duration_ms = 0;
  double duration_ms = 0;
  int64_t billed_duration_ms = 0;
  int64_t max_memory_used_mb = 0;
  int memory_size_mb = 0;
  std::string log_tail;
};

class Environment {
 public:
  Environment(EnvironmentOptions options, FunctionLog* log);
  ~Environment();

  // Starts the runtime if none is running. Returns the init failure, if any, as a result.
  std::optional<InvocationResult> Prepare();
  InvocationResult Invoke(const InvocationRequest& request);
  // True when the runtime is gone (or exited) and Prepare() must make a fresh one.
  bool NeedsReset() const { return sandbox_ == nullptr || api_->Terminated(); }
  // Kills the runtime and wipes /tmp.
  void Teardown();
  // Ends the running invocation at once (any thread): it returns Runtime.ExitError saying the
  // worker stopped. Used when a drain runs out of time, so that every delivered invocation gets
  // an explicit reply before the gRPC server shuts down.
  void Interrupt();
  // Peak init duration of the prepared runtime, for metrics.
  double last_init_ms() const { return init_ms_; }

 private:
  void OnOutput(int stream, absl::string_view data);
  void EmitLine(absl::string_view line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(log_mu_);
  void LogStart(const std::string& id, bool clear_tail);
  void LogEnd(const std::string& id, InvocationResult& r, bool want_tail, absl::Time end);
  InvocationResult FromInitFailure(const RuntimeEvent& ev, const std::string& request_id,
                                   double init_ms);

  const EnvironmentOptions options_;
  FunctionLog* const log_;
  std::string tmp_dir_;
  absl::Mutex api_mu_;  // guards api_ for Interrupt(); the owning thread reads it freely
  std::shared_ptr<RuntimeApi> api_;
  std::unique_ptr<RuntimeApiServer> server_;
  std::unique_ptr<Sandbox> sandbox_;
  bool fresh_ = false;  // prepared, no invocation yet: the next one is the cold start
  double init_ms_ = 0;

  absl::Mutex log_mu_;
  std::string partial_[3] ABSL_GUARDED_BY(log_mu_);  // per stream, an unfinished line
  std::string request_id_ ABSL_GUARDED_BY(log_mu_);
  LogTail tail_ ABSL_GUARDED_BY(log_mu_);
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_ENVIRONMENT_H_
