// The autoscaler's decision (see autoscaler.h for the formulas and the decision table).
#include "controller/autoscaler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace wisp {
namespace {

// Caps on observations and counts, so that no double → int conversion overflows.
constexpr double kMaxObserved = 1e9;
constexpr double kMaxCount = 1e9;

double Finite(double value, double fallback) { return std::isfinite(value) ? value : fallback; }

// Whole seconds, at least 1 s.
absl::Duration WholeSeconds(absl::Duration d) {
  return std::max(absl::Seconds(1), absl::Trunc(d, absl::Seconds(1)));
}

// ceil(x) for a pod count, ignoring float noise: 7 / 0.7 is 10.000000000000002, which wants 10
// pods, not 11.
int64_t CeilCount(double x) {
  if (!(x > 0)) return 0;
  x = std::min(x, kMaxCount);
  return static_cast<int64_t>(std::ceil(x - 1e-9 * std::max(1.0, x)));
}

int64_t FloorCount(double x) {
  if (!(x > 0)) return 0;
  x = std::min(x, kMaxCount);
  return static_cast<int64_t>(std::floor(x + 1e-9 * std::max(1.0, x)));
}

std::string Seconds(absl::Duration d) { return absl::FormatDuration(d); }

}  // namespace

AutoscalerSpec NormalizeAutoscalerSpec(AutoscalerSpec spec) {
  const AutoscalerSpec defaults;
  spec.min_scale = std::max(0, spec.min_scale);
  spec.max_scale = std::max({1, spec.min_scale, spec.max_scale});
  spec.target_per_pod = Finite(spec.target_per_pod, defaults.target_per_pod);
  if (!(spec.target_per_pod > 0)) spec.target_per_pod = defaults.target_per_pod;
  spec.target_utilization = Finite(spec.target_utilization, defaults.target_utilization);
  if (!(spec.target_utilization > 0)) spec.target_utilization = defaults.target_utilization;
  spec.target_utilization = std::min(1.0, spec.target_utilization);
  if (spec.stable_window == absl::InfiniteDuration()) spec.stable_window = defaults.stable_window;
  spec.stable_window = WholeSeconds(spec.stable_window);
  spec.panic_window = std::min(WholeSeconds(spec.panic_window), spec.stable_window);
  spec.panic_threshold = std::max(1.0, Finite(spec.panic_threshold, defaults.panic_threshold));
  spec.max_scale_up_rate =
      std::max(1.0, Finite(spec.max_scale_up_rate, defaults.max_scale_up_rate));
  spec.max_scale_down_rate =
      std::max(1.0, Finite(spec.max_scale_down_rate, defaults.max_scale_down_rate));
  if (spec.scale_down_delay == absl::InfiniteDuration()) {
    spec.scale_down_delay = defaults.scale_down_delay;
  }
  spec.scale_down_delay = std::max(absl::ZeroDuration(), spec.scale_down_delay);
  if (spec.scale_to_zero_after == absl::InfiniteDuration()) {
    spec.scale_to_zero_after = defaults.scale_to_zero_after;
  }
  spec.scale_to_zero_after = std::max(absl::Seconds(1), spec.scale_to_zero_after);
  spec.activation_scale = std::max(1, spec.activation_scale);
  return spec;
}

Autoscaler::Autoscaler(AutoscalerSpec spec)
    : spec_(NormalizeAutoscalerSpec(spec)),
      stable_seconds_(absl::ToInt64Seconds(spec_.stable_window)),
      panic_seconds_(absl::ToInt64Seconds(spec_.panic_window)) {}

absl::Time Autoscaler::Observe(absl::Time now) {
  latest_ = std::max(latest_, now);
  if (!first_seen_) first_seen_ = latest_;
  return latest_;
}

void Autoscaler::Prune(absl::Time now) {
  const int64_t oldest = absl::ToUnixSeconds(now) - stable_seconds_ + 1;
  while (!buckets_.empty() && buckets_.front().second < oldest) buckets_.pop_front();
  while (!wanted_.empty() && wanted_.front().at + spec_.scale_down_delay <= now) {
    wanted_.pop_front();
  }
}

void Autoscaler::Record(absl::Time now, double in_flight_plus_queued) {
  now = Observe(now);
  double value = in_flight_plus_queued > 0 ? std::min(in_flight_plus_queued, kMaxObserved) : 0;
  if (value > 0) last_traffic_ = now;
  const int64_t second = absl::ToUnixSeconds(now);
  if (!buckets_.empty() && buckets_.back().second == second) {
    buckets_.back().sum += value;
    buckets_.back().count++;
  } else {
    buckets_.push_back({second, value, 1});
  }
  Prune(now);
}

void Autoscaler::Demand(absl::Time now) { last_traffic_ = Observe(now); }

std::optional<double> Autoscaler::Average(absl::Time now, int64_t seconds) const {
  const int64_t oldest = absl::ToUnixSeconds(now) - seconds + 1;
  double sum = 0;
  int64_t n = 0;
  for (auto it = buckets_.rbegin(); it != buckets_.rend() && it->second >= oldest; ++it) {
    sum += it->sum / it->count;
    n++;
  }
  if (n == 0) return std::nullopt;
  return sum / n;
}

std::optional<absl::Time> Autoscaler::NextEvaluation(absl::Time now) const {
  std::optional<absl::Time> next;
  auto consider = [&](absl::Time t) {
    if (t > now && (!next || t < *next)) next = t;
  };
  // Either window's average moves when its oldest bucket ages out.
  const int64_t now_second = absl::ToUnixSeconds(now);
  if (!buckets_.empty()) {
    consider(absl::FromUnixSeconds(buckets_.front().second + stable_seconds_));
  }
  for (const Bucket& b : buckets_) {
    if (b.second > now_second - panic_seconds_) {
      consider(absl::FromUnixSeconds(b.second + panic_seconds_));
      break;
    }
  }
  if (spec_.min_scale == 0) {
    consider(std::max(*first_seen_, last_traffic_.value_or(absl::InfinitePast())) +
             spec_.scale_to_zero_after);
  }
  if (last_over_) consider(*last_over_ + spec_.stable_window);
  // The delayed maximum falls when the front of the max-queue lapses.
  if (wanted_.size() > 1) consider(wanted_.front().at + spec_.scale_down_delay);
  return next;
}

AutoscalerDecision Autoscaler::Scale(absl::Time now, int current_replicas, int ready_replicas) {
  now = Observe(now);
  Prune(now);
  const int64_t current = std::max(0, current_replicas);
  const int64_t ready = std::max(0, ready_replicas);

  AutoscalerDecision d;
  d.stable_average = Average(now, stable_seconds_);
  d.panic_average = Average(now, panic_seconds_);

  // Row 1: idle.
  const absl::Time last_activity =
      std::max(*first_seen_, last_traffic_.value_or(absl::InfinitePast()));
  if (spec_.min_scale == 0 && now - last_activity >= spec_.scale_to_zero_after) {
    last_over_.reset();
    max_panic_ = 0;
    wanted_.clear();
    d.desired = 0;
    d.reason = absl::StrCat("scale to zero: no traffic for ",
                            Seconds(now - last_activity), " (scaleToZeroAfter ",
                            Seconds(spec_.scale_to_zero_after), ")");
    return d;
  }

  int64_t n;
  if (!d.stable_average) {
    // Row 2: nothing known. Keep what there is; the idle rule still applies.
    n = current;
    d.panicking = last_over_.has_value();
    d.reason = absl::StrCat("no metrics in the stable window: keep ", current);
  } else {
    // Row 3: stable or panic.
    const double per_pod = spec_.target_per_pod * spec_.target_utilization;
    const double ready1 = static_cast<double>(std::max<int64_t>(1, ready));
    const double panic_average = d.panic_average.value_or(*d.stable_average);
    const double stable_pods = *d.stable_average / per_pod;
    const double panic_pods = panic_average / per_pod;
    const int64_t up_limit =
        std::max(current, CeilCount(spec_.max_scale_up_rate * ready1));
    const int64_t down_limit =
        std::min(current, FloorCount(ready1 / spec_.max_scale_down_rate));
    auto limit = [&](int64_t want) {
      if (want > current) return std::min(want, up_limit);
      if (want < current) return std::max(want, down_limit);
      return want;
    };
    const int64_t stable_want = CeilCount(stable_pods);
    const int64_t panic_want = CeilCount(panic_pods);

    // Panic starts when the ready pods are far short of the panic window's want. It also goes
    // on while the stable want is: otherwise recurring bursts would end the panic, scale down
    // to the stable want, and panic again at the next burst, over and over.
    auto far_short = [&](double pods) {
      return panic_pods >= spec_.panic_threshold * std::max(1.0, pods) * (1 - 1e-9);
    };
    const bool over = far_short(ready1) ||
                      (last_over_ && far_short(static_cast<double>(stable_want)));
    if (over) {
      if (!last_over_) max_panic_ = 0;
      last_over_ = now;
    } else if (last_over_ && now - *last_over_ >= spec_.stable_window) {
      last_over_.reset();
      max_panic_ = 0;
    }

    int64_t want = stable_want;
    if (last_over_) {
      d.panicking = true;
      want = std::max(stable_want, panic_want);
      d.reason = absl::StrCat("panic: ", panic_average, " in flight over ",
                              Seconds(spec_.panic_window), " at ", per_pod, " per pod wants ",
                              panic_want, " (stable ", stable_want, ")");
    } else {
      d.reason = absl::StrCat("stable: ", *d.stable_average, " in flight over ",
                              Seconds(spec_.stable_window), " at ", per_pod, " per pod wants ",
                              stable_want);
    }

    // Row 4: scale-down delay, a max-queue of the wants of the last scale_down_delay.
    if (spec_.scale_down_delay > absl::ZeroDuration()) {
      const int wanted = static_cast<int>(want);
      while (!wanted_.empty() && wanted_.back().desired <= wanted) wanted_.pop_back();
      wanted_.push_back({now, wanted});
      if (wanted_.front().desired > want) {
        want = wanted_.front().desired;
        absl::StrAppend(&d.reason, "; held at ", want, " (wanted within scaleDownDelay ",
                        Seconds(spec_.scale_down_delay), ")");
      }
    }

    // Row 5: rate limits, and no scale-down while panicking.
    n = limit(want);
    if (n < want) absl::StrAppend(&d.reason, "; scale-up rate limits it to ", n);
    if (n > want) absl::StrAppend(&d.reason, "; scale-down rate limits it to ", n);
    if (last_over_) {
      if (n < max_panic_) {
        n = max_panic_;
        absl::StrAppend(&d.reason, "; no scale-down while panicking: ", n);
      }
      max_panic_ = static_cast<int>(n);
    }
  }

  // Row 6: keep warm until idle.
  if (spec_.min_scale == 0 && n == 0 && (current > 0 || last_traffic_)) {
    n = 1;
    absl::StrAppend(&d.reason, "; kept warm until idle for ",
                    Seconds(spec_.scale_to_zero_after));
  }
  // Row 7: activation scale.
  if (n > 0 && n < spec_.activation_scale) {
    n = spec_.activation_scale;
    absl::StrAppend(&d.reason, "; raised to activationScale ", n);
  }
  if (current == 0 && n > 0) d.reason = absl::StrCat("scale from zero: ", d.reason);
  // Row 8: bounds.
  if (n < spec_.min_scale) {
    n = spec_.min_scale;
    absl::StrAppend(&d.reason, "; raised to minScale ", n);
  }
  if (n > spec_.max_scale) {
    n = spec_.max_scale;
    absl::StrAppend(&d.reason, "; capped at maxScale ", n);
  }

  d.desired = static_cast<int>(n);
  if (d.desired > 0) d.next_evaluation = NextEvaluation(now);
  return d;
}

}  // namespace wisp
