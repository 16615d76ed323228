#include "operator/scheduler.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/function.h"
#include "operator/informer.h"

namespace wisp::op {
namespace {

using nlohmann::json;

// Moves a trigger's horizon forward without firing: 1 when it moved, 0 when it was there
// already (or later). KEYS: tick key. ARGV: unix ms. FireTick's check, without the XADD.
constexpr char kAdvanceScript[] = R"lua(
local last = tonumber(redis.call('GET', KEYS[1]) or '-1')
if last >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
)lua";

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

std::function<absl::Time()> ScaledClock(absl::Time origin, double speed) {
  return [origin, speed] { return origin + (absl::Now() - origin) * speed; };
}

Scheduler::Scheduler(std::function<std::vector<json>()> functions, std::function<bool()> leading,
                     std::shared_ptr<prometheus::Registry> registry, SchedulerOptions options,
                     std::function<void(const json&, const std::string&)> on_failure)
    : functions_(std::move(functions)),
      leading_(std::move(leading)),
      options_(std::move(options)),
      on_failure_(std::move(on_failure)),
      client_(redis::ClientOptions{.address = options_.redis,
                                   .connect_timeout = options_.redis_timeout,
                                   .command_timeout = options_.redis_timeout}),
      store_(&client_) {
  if (options_.speed <= 0) options_.speed = 1;
  using namespace prometheus;
  fired_ = &BuildCounter()
                .Name("wisp_schedule_ticks_fired_total")
                .Help("Schedule ticks appended to a function's async stream, by function")
                .Register(*registry);
  skipped_ = &BuildCounter()
                  .Name("wisp_schedule_ticks_skipped_total")
                  .Help("Missed schedule ticks that will not fire (older than the grace period, "
                        "or older than the missed tick that fired), by function")
                  .Register(*registry);
  errors_ = &BuildCounter()
                 .Name("wisp_schedule_fire_errors_total")
                 .Help("Redis calls of the scheduler that failed (each pass is retried), by "
                       "function")
                 .Register(*registry);
}

Scheduler::~Scheduler() { Stop(); }

absl::Time Scheduler::Now() const { return options_.now ? options_.now() : absl::Now(); }

void Scheduler::Start() {
  std::lock_guard<std::mutex> l(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Wake() {
  {
    std::lock_guard<std::mutex> l(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Scheduler::Wait(absl::Duration d) {
  std::unique_lock<std::mutex> l(mu_);
  if (d > absl::ZeroDuration()) {
    cv_.wait_for(l, absl::ToChronoNanoseconds(d), [this] { return stop_ || woken_; });
  }
  woken_ = false;
}

void Scheduler::Loop() {
  absl::Duration backoff = options_.min_backoff;
  while (true) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stop_) return;
    }
    if (!leading_()) {
      // Standby: a failure streak ends with the leadership; the next leader starts afresh.
      failing_.clear();
      backoff = options_.min_backoff;
      Wait(absl::Seconds(1));
      continue;
    }
    absl::StatusOr<std::optional<absl::Time>> wake = RunOnce();
    if (!wake.ok()) {
      log::Warn("schedule pass failed; retrying",
                {{"error", std::string(wake.status().message())},
                 {"retry_in", absl::FormatDuration(backoff)}});
      Wait(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = options_.min_backoff;
    absl::Duration sleep = options_.poll;
    if (wake->has_value()) {
      // Schedule time to real time; a little past the tick so that `now` has reached it.
      absl::Duration until = (**wake - Now()) / options_.speed + absl::Milliseconds(1);
      sleep = std::clamp(until, absl::ZeroDuration(), options_.poll);
    }
    Wait(sleep);
  }
}

absl::StatusOr<std::optional<absl::Time>> Scheduler::RunOnce() {
  std::optional<absl::Time> wake;
  absl::Status first_error;
  for (const json& object : functions_()) {
    absl::Status s = RunFunction(object, Now(), &wake);
    if (s.ok()) continue;
    if (first_error.ok()) first_error = s;
    // Unreachable Redis fails every function alike: stop the pass and back off.
    if (absl::IsUnavailable(s)) break;
  }
  if (!first_error.ok()) return first_error;
  return wake;
}

absl::Status Scheduler::RunFunction(const json& object, absl::Time now,
                                    std::optional<absl::Time>* wake) {
  ParsedFunction loaded = LoadFunction(object);
  // An invalid Function gets no workload (the reconciler reports why); it is not fired either.
  if (!loaded.violations.empty()) return absl::OkStatus();
  const Function& fn = loaded.function;
  const std::string key = ObjectKey(object);
  const events::FunctionKey fkey{fn.metadata.namespace_name, fn.metadata.name};
  for (const ScheduleTrigger& trigger : ScheduleTriggers(fn)) {
    absl::StatusOr<std::optional<int64_t>> last_ms = store_.LastTick(fkey, trigger.index);
    if (!last_ms.ok()) {
      Failed(object, key, last_ms.status());
      return last_ms.status();
    }
    std::optional<absl::Time> last;
    if (last_ms->has_value()) last = absl::FromUnixMillis(**last_ms);
    TriggerPlan plan = PlanTrigger(fn.metadata.namespace_name, fn.metadata.name, trigger, last,
                                   now, options_.plan);
    if (!plan.error.empty()) {
      // Validation parses with the same parser, so this is not reached; say so if it is.
      log::Warn("schedule expression does not parse",
                {{"function", key}, {"trigger", trigger.index}, {"error", plan.error}});
      continue;
    }
    bool applied = false;  // Redis took our action (not another operator's)
    if (plan.fire.has_value()) {
      absl::StatusOr<bool> fired =
          store_.FireTick(fkey, trigger.index, absl::ToUnixMillis(*plan.fire), plan.event);
      if (!fired.ok()) {
        Failed(object, key, fired.status());
        return fired.status();
      }
      applied = *fired;
      if (*fired) {
        fired_->Add({{"function", key}}).Increment();
        log::Info("schedule tick fired",
                  {{"function", key}, {"trigger", trigger.index},
                   {"expression", trigger.expression}, {"tick", Rfc3339(*plan.fire)},
                   {"invocation_id", plan.event.invocation_id}});
      } else {
        log::Debug("schedule tick fired already",
                   {{"function", key}, {"trigger", trigger.index}, {"tick", Rfc3339(*plan.fire)}});
      }
    } else if (plan.advance.has_value()) {
      absl::StatusOr<redis::Reply> moved = client_.Eval(
          kAdvanceScript, {events::TickKey(fkey.namespace_name, fkey.name, trigger.index)},
          {absl::StrCat(absl::ToUnixMillis(*plan.advance))});
      if (!moved.ok()) {
        Failed(object, key, moved.status());
        return moved.status();
      }
      applied = moved->integer == 1;
      if (applied && !last.has_value()) {
        log::Info("schedule started", {{"function", key}, {"trigger", trigger.index},
                                       {"expression", trigger.expression},
                                       {"next", plan.next ? Rfc3339(*plan.next) : "none"}});
      }
    }
    if (applied && plan.skipped > 0) {
      skipped_->Add({{"function", key}}).Increment(static_cast<double>(plan.skipped));
      log::Warn("schedule ticks skipped",
                {{"function", key}, {"trigger", trigger.index}, {"count", plan.skipped},
                 {"oldest", Rfc3339(plan.oldest_skipped)},
                 {"newest", Rfc3339(plan.newest_skipped)},
                 {"grace", absl::FormatDuration(options_.plan.grace)}});
    }
    if (plan.next.has_value() && (!wake->has_value() || *plan.next < **wake)) *wake = plan.next;
  }
  failing_.erase(key);
  return absl::OkStatus();
}

void Scheduler::Failed(const json& object, const std::string& key, const absl::Status& status) {
  errors_->Add({{"function", key}}).Increment();
  log::Warn("schedule fire failed",
            {{"function", key}, {"error", std::string(status.message())}});
  // One event per failure streak, not one per retry.
  if (!failing_.insert(key).second || !on_failure_) return;
  on_failure_(object, absl::StrCat("cannot fire schedule ticks (will retry): ", status.message()));
}

}  // namespace wisp::op
