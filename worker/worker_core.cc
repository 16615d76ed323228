#include "worker/worker_core.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "controller/base/log.h"

namespace wisp::worker {
namespace {

const char* StateName(int state) {
  static const char* kNames[] = {"initializing", "idle", "busy", "failed"};
  return kNames[state];
}

}  // namespace

WorkerCore::WorkerCore(WorkerOptions options, FunctionLog* log, WorkerMetrics* metrics)
    : options_(std::move(options)), log_(log), metrics_(metrics) {
  for (int i = 0; i < options_.concurrency; ++i) {
    auto slot = std::make_unique<Slot>();
    EnvironmentOptions eo;
    eo.function = options_.function;
    eo.runtime = options_.runtime;
    eo.runtime.log_stream_name =
        absl::StrCat(absl::FormatTime("%Y/%m/%d", absl::Now(), absl::UTCTimeZone()), "/[",
                     kLatestVersion, "]", getpid(), "e", i);
    eo.caps = options_.caps;
    eo.work_dir = absl::StrCat(options_.work_dir, "/env-", i);
    eo.name = absl::StrCat(getpid(), "-env", i);
    Slot* raw = slot.get();
    eo.on_runtime_exit = [this, raw] {
      absl::MutexLock lock(&mu_);
      raw->runtime_exited = true;
    };
    slot->env = std::make_unique<Environment>(std::move(eo), log_);
    slots_.push_back(std::move(slot));
  }
  absl::MutexLock lock(&mu_);
  if (metrics_) metrics_->environments("initializing").Set(options_.concurrency);
}

WorkerCore::~WorkerCore() { Stop(); }

void WorkerCore::Start() {
  for (auto& slot : slots_) {
    Slot* raw = slot.get();
    slot->thread = std::thread([this, raw] { Loop(raw); });
  }
}

void WorkerCore::SetState(Slot* slot, State state) {
  if (metrics_) {
    metrics_->environments(StateName(static_cast<int>(slot->state))).Decrement();
    metrics_->environments(StateName(static_cast<int>(state))).Increment();
  }
  slot->state = state;
}

void WorkerCore::PrepareSlot(Slot* slot) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    SetState(slot, State::kInitializing);
  }
  std::optional<InvocationResult> failed = slot->env->Prepare();
  if (metrics_) metrics_->RecordInit(slot->env->last_init_ms());
  absl::MutexLock lock(&mu_);
  slot->prepared = true;
  if (slot->state == State::kInitializing) {
    SetState(slot, failed.has_value() ? State::kFailed : State::kIdle);
  }
}

void WorkerCore::Loop(Slot* slot) {
  PrepareSlot(slot);
  while (true) {
    std::pair<InvocationRequest, Done> job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this, slot]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || slot->job.has_value() || slot->runtime_exited;
      };
      mu_.Await(absl::Condition(&ready));
      if (!slot->job.has_value() && slot->runtime_exited && !stopping_) {
        // The runtime died while idle: replace it now so the next invocation finds it warm.
        slot->runtime_exited = false;
        mu_.Unlock();
        if (slot->env->NeedsReset()) PrepareSlot(slot);
        mu_.Lock();
        continue;
      }
      if (!slot->job.has_value()) break;  // stopping with nothing queued
      slot->runtime_exited = false;
      job = std::move(*slot->job);
      slot->job.reset();
      SetState(slot, State::kBusy);
    }
    InvocationResult result = slot->env->Invoke(job.first);
    if (metrics_) {
      metrics_->RecordInvocation(result);
      metrics_->in_flight().Decrement();
    }
    bool reset = slot->env->NeedsReset();
    {
      absl::MutexLock lock(&mu_);
      slot->busy = false;
      --in_flight_;
      SetState(slot, reset ? State::kInitializing : State::kIdle);
    }
    job.second(std::move(result));
    if (reset) PrepareSlot(slot);
  }
  slot->env->Teardown();
}

absl::Status WorkerCore::Submit(InvocationRequest request, Done done) {
  absl::MutexLock lock(&mu_);
  if (draining_ || stopping_) {
    if (metrics_) metrics_->Rejected("draining");
    return absl::UnavailableError("worker is draining");
  }
  // Round-robin over free environments spreads warm-up and keeps every runtime exercised.
  for (size_t n = 0; n < slots_.size(); ++n) {
    Slot* slot = slots_[(next_ + n) % slots_.size()].get();
    if (slot->busy) continue;
    next_ = (next_ + n + 1) % slots_.size();
    slot->busy = true;
    slot->job.emplace(std::move(request), std::move(done));
    ++in_flight_;
    if (metrics_) metrics_->in_flight().Increment();
    return absl::OkStatus();
  }
  if (metrics_) metrics_->Rejected("busy");
  return absl::ResourceExhaustedError(
      absl::StrCat("all ", slots_.size(), " execution environments are busy"));
}

bool WorkerCore::Drain(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  draining_ = true;
  auto idle = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return in_flight_ == 0; };
  return mu_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

void WorkerCore::Stop() {
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    stopping_ = true;
  }
  for (auto& slot : slots_) slot->env->Interrupt();
  for (auto& slot : slots_) {
    if (slot->thread.joinable()) slot->thread.join();
  }
}

bool WorkerCore::Ready() {
  absl::MutexLock lock(&mu_);
  if (draining_) return false;
  for (const auto& slot : slots_) {
    if (!slot->prepared) return false;
  }
  return true;
}

bool WorkerCore::WaitReady(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (stopping_) return true;
    for (const auto& slot : slots_) {
      if (!slot->prepared) return false;
    }
    return true;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&ready), deadline) && !stopping_;
}

int WorkerCore::InFlight() {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

}  // namespace wisp::worker
