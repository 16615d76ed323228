// The worker without its transport: a fixed pool of execution environments, each driven by its
// own thread, that runs one invocation per environment at a time and never queues.
//
// Submit() hands an invocation to a free environment or refuses it at once:
//   RESOURCE_EXHAUSTED  every environment holds an invocation
//   UNAVAILABLE         draining (SIGTERM) or stopped
// `done` runs exactly once, on the environment's thread, when an accepted invocation ends.
// Environments initialise eagerly at Start() and again right after a reset, so that the next
// invocation finds a warm runtime. Thread-safe.
#ifndef WISP_WORKER_WORKER_CORE_H_
#define WISP_WORKER_WORKER_CORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "worker/environment.h"
#include "worker/metrics.h"

namespace wisp::worker {

struct WorkerOptions {
  FunctionConfig function;
  RuntimeSettings runtime;
  SandboxCapabilities caps;
  int concurrency = 1;
  std::string work_dir;  // environments live in <work_dir>/env-<i>
};

class WorkerCore {
 public:
  using Done = std::function<void(InvocationResult)>;

  WorkerCore(WorkerOptions options, FunctionLog* log, WorkerMetrics* metrics);
  ~WorkerCore();  // Stop()

  void Start();
  absl::Status Submit(InvocationRequest request, Done done);
  // Refuses new invocations and waits until in-flight ones end or `deadline` passes.
  // Returns true when nothing was left running.
  bool Drain(absl::Time deadline);
  // Drains without waiting: invocations still running are ended with an error reply
  // (Environment::Interrupt), then the threads stop and every runtime is killed.
  void Stop();

  // Every environment finished its first initialisation attempt, and not draining.
  bool Ready();
  // Blocks until Ready() or `deadline`.
  bool WaitReady(absl::Time deadline);
  int InFlight();
  const WorkerOptions& options() const { return options_; }

 private:
  enum class State { kInitializing, kIdle, kBusy, kFailed };
  struct Slot {
    std::unique_ptr<Environment> env;
    std::thread thread;
    std::optional<std::pair<InvocationRequest, Done>> job;
    bool busy = false;      // holds an invocation (queued or running)
    bool prepared = false;  // first initialisation attempt finished
    bool runtime_exited = false;  // the runtime died; replace it when idle
    State state = State::kInitializing;
  };
  void Loop(Slot* slot);
  void PrepareSlot(Slot* slot);
  void SetState(Slot* slot, State state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WorkerOptions options_;
  FunctionLog* const log_;
  WorkerMetrics* const metrics_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Slot>> slots_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wisp::worker

#endif  // WISP_WORKER_WORKER_CORE_H_
