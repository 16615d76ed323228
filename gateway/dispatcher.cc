#include "gateway/dispatcher.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "gateway/balancer.h"

namespace wisp::gateway {

Dispatcher::Dispatcher(Options options, Invoker* invoker,
                       std::function<void(const std::string&)> on_demand)
    : options_(options), invoker_(invoker), on_demand_(std::move(on_demand)) {
  prober_ = std::thread([this] { ProbeLoop(); });
}

Dispatcher::~Dispatcher() {
  Shutdown();
  if (prober_.joinable()) prober_.join();
}

void Dispatcher::SetLoadObserver(std::function<void(const std::string&, FunctionLoad)> observer) {
  absl::MutexLock lock(&mu_);
  load_observer_ = std::move(observer);
}

void Dispatcher::SetEjectionObserver(
    std::function<void(const std::string&, const std::string&)> observer) {
  absl::MutexLock lock(&mu_);
  eject_observer_ = std::move(observer);
}

void Dispatcher::NotifyLoadLocked(const std::string& name, const FunctionState& fn) {
  if (load_observer_) {
    load_observer_(name, FunctionLoad{fn.in_flight, static_cast<int>(fn.waiters.size())});
  }
}

void Dispatcher::Update(std::shared_ptr<const Snapshot> snapshot) {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  std::map<std::string, FunctionState> next;
  for (const auto& [name, info] : snapshot->functions) {
    FunctionState& fn = next[name];
    fn.info = info;
    auto old = functions_.find(name);
    for (const Endpoint& ep : info.endpoints) {
      EndpointState st{ep};
      if (old != functions_.end()) {
        for (const EndpointState& prev : old->second.endpoints) {
          if (prev.endpoint.address == ep.address) {
            st.in_flight = prev.in_flight;
            st.failures = prev.failures;
            st.ejected_until = prev.ejected_until;
          }
        }
      }
      fn.endpoints.push_back(st);
    }
    if (old != functions_.end()) {
      fn.in_flight = old->second.in_flight;
      fn.waiters = std::move(old->second.waiters);
    }
  }
  // Waiters of functions that disappeared are woken and find the function gone.
  for (auto& [name, fn] : functions_) {
    if (next.count(name) == 0) {
      for (Waiter* w : fn.waiters) w->cancelled = true;
    }
  }
  functions_ = std::move(next);
  for (auto& [name, fn] : functions_) {
    HandOffLocked(fn, now);
    NotifyLoadLocked(name, fn);
  }
}

int Dispatcher::PickLocked(FunctionState& fn, const std::vector<std::string>& exclude,
                           absl::Time now) {
  std::vector<EndpointLoad> loads;
  loads.reserve(fn.endpoints.size());
  for (const EndpointState& ep : fn.endpoints) {
    bool excluded = std::find(exclude.begin(), exclude.end(), ep.endpoint.address) != exclude.end();
    loads.push_back({ep.in_flight, ep.endpoint.capacity, !excluded && ep.ejected_until <= now});
  }
  return PickEndpoint(loads, rng_);
}

void Dispatcher::HandOffLocked(FunctionState& fn, absl::Time now) {
  while (!fn.waiters.empty()) {
    if (fn.info.reserved_concurrency && fn.in_flight >= *fn.info.reserved_concurrency) return;
    int i = PickLocked(fn, {}, now);
    if (i < 0) return;
    Waiter* w = fn.waiters.front();
    fn.waiters.pop_front();
    fn.endpoints[i].in_flight++;
    fn.in_flight++;
    w->granted = fn.endpoints[i].endpoint.address;
  }
}

DispatchResult::Kind Dispatcher::Acquire(const std::string& function,
                                         const std::vector<std::string>& exclude,
                                         absl::Time deadline, Lease* lease, std::string* message) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return DispatchResult::Kind::kShuttingDown;
  auto it = functions_.find(function);
  if (it == functions_.end()) return DispatchResult::Kind::kNotFound;
  FunctionState& fn = it->second;
  lease->timeout_seconds = fn.info.timeout_seconds;
  if (fn.info.reserved_concurrency && fn.in_flight >= *fn.info.reserved_concurrency) {
    *message = absl::StrCat("Rate Exceeded. Function ", function, " is at its reserved concurrency of ",
                            *fn.info.reserved_concurrency);
    return DispatchResult::Kind::kThrottled;
  }
  absl::Time now = absl::Now();
  if (fn.waiters.empty()) {
    int i = PickLocked(fn, exclude, now);
    if (i >= 0) {
      fn.endpoints[i].in_flight++;
      fn.in_flight++;
      lease->address = fn.endpoints[i].endpoint.address;
      NotifyLoadLocked(function, fn);
      return DispatchResult::Kind::kOk;
    }
  }
  if (static_cast<int>(fn.waiters.size()) >= options_.queue_size) {
    *message = absl::StrCat("Rate Exceeded. ", fn.waiters.size(), " requests for function ", function,
                            " are already waiting for capacity");
    return DispatchResult::Kind::kQueueFull;
  }
  // Wait for capacity: a release, new endpoints, or an endpoint back from ejection.
  Waiter waiter;
  fn.waiters.push_back(&waiter);
  NotifyLoadLocked(function, fn);
  if (on_demand_) {
    mu_.Unlock();
    on_demand_(function);
    mu_.Lock();
  }
  auto done = [&waiter, this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !waiter.granted.empty() || waiter.cancelled || shutdown_;
  };
  // Ejections end on their own clock: wake now and then to look again.
  while (!mu_.AwaitWithDeadline(absl::Condition(&done), std::min(deadline, absl::Now() + absl::Milliseconds(100)))) {
    if (absl::Now() >= deadline) break;
    auto again = functions_.find(function);
    if (again == functions_.end()) break;
    HandOffLocked(again->second, absl::Now());
    NotifyLoadLocked(function, again->second);
  }
  if (!waiter.granted.empty()) {
    lease->address = waiter.granted;
    return DispatchResult::Kind::kOk;
  }
  auto again = functions_.find(function);
  if (again != functions_.end()) {
    again->second.waiters.remove(&waiter);
    NotifyLoadLocked(function, again->second);
  }
  if (shutdown_) return DispatchResult::Kind::kShuttingDown;
  if (waiter.cancelled || again == functions_.end()) return DispatchResult::Kind::kNotFound;
  *message = absl::StrCat("No capacity for function ", function, " within ",
                          absl::FormatDuration(options_.queue_timeout),
                          ": no ready worker had a free execution environment");
  return DispatchResult::Kind::kNoCapacity;
}

void Dispatcher::Release(const std::string& function, const std::string& address, bool eject) {
  absl::MutexLock lock(&mu_);
  auto it = functions_.find(function);
  if (it == functions_.end()) return;
  FunctionState& fn = it->second;
  fn.in_flight = std::max(0, fn.in_flight - 1);
  absl::Time now = absl::Now();
  for (EndpointState& ep : fn.endpoints) {
    if (ep.endpoint.address != address) continue;
    ep.in_flight = std::max(0, ep.in_flight - 1);
    if (eject) {
      ep.failures++;
      absl::Duration backoff = options_.eject_base * (1 << std::min(ep.failures - 1, 16));
      ep.ejected_until = now + std::min(backoff, options_.eject_max);
      log::Warn("endpoint ejected", {{"function", function}, {"address", address},
                                     {"failures", ep.failures}});
      if (eject_observer_) eject_observer_(function, address);
    } else {
      ep.failures = 0;
    }
  }
  HandOffLocked(fn, now);
  NotifyLoadLocked(function, fn);
}

DispatchResult Dispatcher::Invoke(const std::string& function, const v1::InvokeRequest& request) {
  DispatchResult result;
  absl::Time queue_deadline = absl::Now() + options_.queue_timeout;
  std::vector<std::string> exclude;
  int busy_rounds = 0;
  while (true) {
    Lease lease;
    result.kind = Acquire(function, exclude, queue_deadline, &lease, &result.message);
    if (result.kind != DispatchResult::Kind::kOk) return result;
    absl::Duration timeout = absl::Seconds(lease.timeout_seconds) + options_.timeout_margin;
    absl::StatusOr<v1::InvokeResponse> reply = invoker_->Invoke(lease.address, request, timeout);
    if (reply.ok()) {
      Release(function, lease.address, false);
      result.response = std::move(*reply);
      return result;
    }
    const absl::Status& s = reply.status();
    if (invoker_->NeverDelivered(s)) {
      switch (s.code()) {
        case absl::StatusCode::kResourceExhausted:
          // Busy (another gateway filled it): look elsewhere, or wait for a release.
          Release(function, lease.address, false);
          exclude.push_back(lease.address);
          break;
        case absl::StatusCode::kInvalidArgument:
          Release(function, lease.address, false);
          result.kind = DispatchResult::Kind::kInvalid;
          result.message = std::string(s.message());
          return result;
        default:  // draining, unreachable, or serving another function
          Release(function, lease.address, true);
          exclude.push_back(lease.address);
          break;
      }
      if (absl::Now() >= queue_deadline) {
        result.kind = DispatchResult::Kind::kNoCapacity;
        result.message = absl::StrCat("No worker of function ", function,
                                      " accepted the request: ", s.message());
        return result;
      }
      // Everything tried once: back off briefly (busy workers need a release, which another
      // gateway's traffic makes), then start over with all endpoints.
      bool all_tried = false;
      {
        absl::MutexLock lock(&mu_);
        auto it = functions_.find(function);
        all_tried = it != functions_.end() && exclude.size() >= it->second.endpoints.size();
      }
      if (all_tried) {
        exclude.clear();
        absl::Duration backoff = std::min(absl::Milliseconds(5) * (1 << std::min(busy_rounds++, 5)),
                                          absl::Milliseconds(100));
        absl::SleepFor(std::min(backoff, queue_deadline - absl::Now()));
      }
      continue;
    }
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      Release(function, lease.address, false);
      result.kind = DispatchResult::Kind::kTimeout;
      result.message = absl::StrCat("The worker did not answer within ", absl::FormatDuration(timeout));
      return result;
    }
    Release(function, lease.address, true);
    result.kind = DispatchResult::Kind::kWorkerFailed;
    result.message = absl::StrCat("The worker failed during the invocation: ", s.message());
    return result;
  }
}

void Dispatcher::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

std::map<std::string, FunctionLoad> Dispatcher::Loads() {
  absl::MutexLock lock(&mu_);
  std::map<std::string, FunctionLoad> out;
  for (const auto& [name, fn] : functions_) {
    FunctionLoad& load = out[name];
    load.in_flight = fn.in_flight;
    load.queued = static_cast<int>(fn.waiters.size());
    for (const EndpointState& e : fn.endpoints) load.endpoints[e.endpoint.address] = e.in_flight;
  }
  return out;
}

void Dispatcher::ProbeLoop() {
  while (true) {
    std::vector<std::pair<std::string, std::string>> ejected;  // (function, address)
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return shutdown_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.probe_interval)) return;
      absl::Time now = absl::Now();
      for (const auto& [name, fn] : functions_) {
        for (const EndpointState& ep : fn.endpoints) {
          if (ep.ejected_until > now) ejected.emplace_back(name, ep.endpoint.address);
        }
      }
    }
    for (const auto& [name, address] : ejected) {
      if (!invoker_->Probe(address)) continue;
      absl::MutexLock lock(&mu_);
      auto it = functions_.find(name);
      if (it == functions_.end()) continue;
      for (EndpointState& ep : it->second.endpoints) {
        if (ep.endpoint.address == address) ep.ejected_until = absl::InfinitePast();
      }
      HandOffLocked(it->second, absl::Now());
      NotifyLoadLocked(name, it->second);
    }
  }
}

}  // namespace wisp::gateway
