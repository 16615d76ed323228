// Dispatches invocations to warm workers: admission (reserved concurrency), endpoint choice
// (least in-flight by power of two choices, never above an endpoint's capacity), a bounded,
// deadline-limited wait per function when every endpoint is full or none exists yet, retries
// only when the worker provably never received the request (at most once), and ejection of
// failing endpoints with background re-probing.
//
// Decision table for a worker call's result:
//   OK                                    -> the reply (function errors included)
//   refused RESOURCE_EXHAUSTED (busy)     -> try another endpoint, else wait; until the queue deadline
//   refused UNAVAILABLE / no connection   -> eject the endpoint, try another
//   refused INVALID_ARGUMENT              -> kInvalid (payload too large for the worker)
//   refused NOT_FOUND                     -> eject (stale endpoint), try another
//   DEADLINE_EXCEEDED                     -> kTimeout (outcome unknown: not retried)
//   anything else after delivery          -> eject, kWorkerFailed (not retried)
// Thread-safe. Invoke() blocks the calling thread.
#ifndef WISP_GATEWAY_DISPATCHER_H_
#define WISP_GATEWAY_DISPATCHER_H_

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/catalog.h"
#include "wisp/v1/worker.pb.h"

namespace wisp::gateway {

// The seam to workers (gRPC in production, fakes in tests).
class Invoker {
 public:
  virtual ~Invoker() = default;
  virtual absl::StatusOr<v1::InvokeResponse> Invoke(const std::string& address,
                                                    const v1::InvokeRequest& request,
                                                    absl::Duration timeout) = 0;
  // True when the worker at `address` answers its health check as SERVING.
  virtual bool Probe(const std::string& address) = 0;
  // True when a failed call provably never reached a runtime.
  virtual bool NeverDelivered(const absl::Status& status) = 0;
};

struct DispatchResult {
  enum class Kind {
    kOk,           // response holds the worker's reply
    kNotFound,     // no such function
    kThrottled,    // reserved concurrency used up (429 at once)
    kQueueFull,    // the function's wait queue is full (429)
    kNoCapacity,   // no capacity before the queue deadline (503)
    kInvalid,      // the worker refused the request as malformed (413/400)
    kTimeout,      // the worker did not answer within timeout + margin (504)
    kWorkerFailed, // the worker failed after it may have received the request (502)
    kShuttingDown, // the gateway is stopping (503)
  };
  Kind kind = Kind::kOk;
  v1::InvokeResponse response;
  std::string message;
};

struct FunctionLoad {
  int in_flight = 0;
  int queued = 0;
  // In-flight calls per endpoint address (every endpoint of the function, idle ones as 0).
  // Filled by Loads() only (not for the load observer).
  std::map<std::string, int> endpoints;
};

class Dispatcher {
 public:
  struct Options {
    int queue_size = 100;                          // waiting requests per function
    absl::Duration queue_timeout = absl::Seconds(10);
    absl::Duration timeout_margin = absl::Seconds(2);
    absl::Duration eject_base = absl::Milliseconds(500);
    absl::Duration eject_max = absl::Seconds(30);
    absl::Duration probe_interval = absl::Milliseconds(200);
  };
  // `on_demand` is called with a function's name when a request finds no capacity.
  Dispatcher(Options options, Invoker* invoker,
             std::function<void(const std::string&)> on_demand = nullptr);
  ~Dispatcher();  // Shutdown()

  // Installs a new catalog snapshot: functions, limits and endpoints. In-flight counts of
  // endpoints that stay are kept; waiters get newly added capacity at once.
  void Update(std::shared_ptr<const Snapshot> snapshot);
  DispatchResult Invoke(const std::string& function, const v1::InvokeRequest& request);
  // Wakes every waiter with kShuttingDown and refuses new calls.
  void Shutdown();

  std::map<std::string, FunctionLoad> Loads();
  // Called after each Update/Invoke change with (function, load): for gauges.
  void SetLoadObserver(std::function<void(const std::string&, FunctionLoad)> observer);
  // Called when an endpoint is ejected: (function, address).
  void SetEjectionObserver(std::function<void(const std::string&, const std::string&)> observer);

 private:
  struct EndpointState {
    Endpoint endpoint;
    int in_flight = 0;
    int failures = 0;
    absl::Time ejected_until = absl::InfinitePast();
  };
  struct Waiter {
    std::string granted;  // address, set by a handoff (in_flight already counted)
    bool cancelled = false;
  };
  struct FunctionState {
    FunctionInfo info;
    std::vector<EndpointState> endpoints;
    int in_flight = 0;
    std::list<Waiter*> waiters;
  };
  struct Lease {
    std::string address;
    int timeout_seconds = 3;
  };

  // Takes capacity for one call, waiting until `deadline` if needed.
  DispatchResult::Kind Acquire(const std::string& function, const std::vector<std::string>& exclude,
                               absl::Time deadline, Lease* lease, std::string* message);
  void Release(const std::string& function, const std::string& address, bool eject);
  int PickLocked(FunctionState& fn, const std::vector<std::string>& exclude, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandOffLocked(FunctionState& fn, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NotifyLoadLocked(const std::string& name, const FunctionState& fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ProbeLoop();

  const Options options_;
  Invoker* const invoker_;
  std::function<void(const std::string&)> on_demand_;
  std::function<void(const std::string&, FunctionLoad)> load_observer_;
  std::function<void(const std::string&, const std::string&)> eject_observer_;
  absl::Mutex mu_;
  std::map<std::string, FunctionState> functions_ ABSL_GUARDED_BY(mu_);
  absl::BitGen rng_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::thread prober_;
};

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_DISPATCHER_H_
