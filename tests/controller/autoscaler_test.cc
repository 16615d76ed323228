// Tests for controller/autoscaler.h: the decision formula on single observations, then table
// tests over synthetic time series (step, ramp, spike, idle, demand from zero, clamps, metric
// gaps, flapping) run through a small simulated world of gateways reporting every second and
// pods that become ready after a lag.
#include "controller/autoscaler.h"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wisp {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795780800);  // 2026-11-27T12:00:00Z

absl::Time At(double seconds) { return kT0 + absl::Seconds(seconds); }

// ---------------------------------------------------------------------------------------------
// The formula, one observation at a time.

struct FormulaCase {
  std::string name;
  std::function<void(AutoscalerSpec&)> tweak;
  double load;
  int current;
  int ready;
  int want;
  bool want_panicking = false;
  std::string want_reason = "";  // A substring of the reason, if set.
};

TEST(AutoscalerTest, Formula) {
  auto none = [](AutoscalerSpec&) {};
  auto full = [](AutoscalerSpec& s) { s.target_utilization = 1.0; };
  const std::vector<FormulaCase> cases = {
      {"7 in flight at 1 per pod and 70% wants 10, float noise ignored", none, 7, 10, 10, 10,
       false, "stable: 7 in flight over 1m at 0.7 per pod wants 10"},
      {"utilization 100%", full, 7, 7, 7, 7},
      {"utilization 50%", [](AutoscalerSpec& s) { s.target_utilization = 0.5; }, 7, 14, 14, 14},
      {"target 10 per pod at 70%", [](AutoscalerSpec& s) { s.target_per_pod = 10; }, 70, 10, 10,
       10},
      {"a little over a boundary takes another pod",
       [](AutoscalerSpec& s) { s.target_per_pod = 10; }, 71, 10, 10, 11},
      {"scale-up rate 2 doubles at most",
       [](AutoscalerSpec& s) {
         s.target_utilization = 1;
         s.max_scale_up_rate = 2;
       },
       70, 4, 4, 8, true, "scale-up rate limits it to 8"},
      {"scale-up rate from no ready pod counts one",
       [](AutoscalerSpec& s) {
         s.target_utilization = 1;
         s.max_scale_up_rate = 2;
       },
       70, 0, 0, 2, true},
      {"scale-up limit never scales down while pods start",
       [](AutoscalerSpec& s) {
         s.target_utilization = 1;
         s.max_scale_up_rate = 2;
       },
       70, 10, 2, 10, true},
      {"scale-down rate 2 halves at most", full, 1, 64, 64, 32, false,
       "scale-down rate limits it to 32"},
      {"scale-down limit counts only ready pods", full, 1, 10, 3, 1},
      {"scale-down limit never scales up", full, 1, 2, 10, 2},
      {"maxScale caps", [](AutoscalerSpec& s) { s.max_scale = 10; }, 1000, 10, 10, 10, true,
       "capped at maxScale 10"},
      {"above maxScale drops at once, whatever the rate",
       [](AutoscalerSpec& s) { s.max_scale = 10; }, 1000, 50, 50, 10, true},
      {"minScale raises", [](AutoscalerSpec& s) { s.min_scale = 3; }, 0, 1, 1, 3, false,
       "raised to minScale 3"},
      {"activationScale is the least non-zero scale",
       [](AutoscalerSpec& s) { s.activation_scale = 3; }, 0.1, 1, 1, 3, false,
       "raised to activationScale 3"},
      {"no load scales down at the rate limit", none, 0, 5, 5, 2},
      {"no load keeps the last pod until idle", none, 0, 1, 1, 1, false, "kept warm"},
      {"panic at exactly the threshold (200% of ready)", full, 10, 5, 5, 10, true, "panic: 10"},
      {"no panic just below it", full, 9.9, 5, 5, 10, false},
      {"panic threshold 300%", [](AutoscalerSpec& s) {
         s.target_utilization = 1;
         s.panic_threshold = 3;
       },
       10, 5, 5, 10, false},
  };
  for (const FormulaCase& c : cases) {
    SCOPED_TRACE(c.name);
    AutoscalerSpec spec;
    c.tweak(spec);
    Autoscaler a(spec);
    a.Record(kT0, c.load);
    AutoscalerDecision d = a.Scale(kT0, c.current, c.ready);
    EXPECT_EQ(d.desired, c.want) << d.reason;
    EXPECT_EQ(d.panicking, c.want_panicking) << d.reason;
    if (!c.want_reason.empty()) {
      EXPECT_THAT(d.reason, HasSubstr(c.want_reason));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A simulated world: each second the gateways report the load (unless `reports` says there is
// a gap), a request that finds no ready pod is Demand, and the decision is applied at once.
// Pods asked for become ready `ready_lag` seconds after the decision after the one that asked
// for them; removed pods go at once.

struct Sim {
  AutoscalerSpec spec;
  std::function<double(int)> load;  // In-flight + queued at second s.
  int seconds = 600;
  int replicas = 0;  // current = ready at the start.
  int ready_lag = 0;
  std::function<bool(int)> reports;  // Whether the gateways report at second s; null: always.
};

struct Tick {
  int s;
  double load;
  int current;
  int ready;
  AutoscalerDecision decision;
};

std::vector<Tick> Simulate(const Sim& sim) {
  Autoscaler a(sim.spec);
  std::vector<Tick> trace;
  int current = sim.replicas;
  for (int s = 0; s < sim.seconds; ++s) {
    const absl::Time now = At(s);
    const int asked = s - 1 - sim.ready_lag >= 0
                          ? trace[s - 1 - sim.ready_lag].decision.desired
                          : sim.replicas;
    const int ready = std::min(current, asked);
    const double load = sim.load(s);
    if (!sim.reports || sim.reports(s)) a.Record(now, load);
    if (load > 0 && ready == 0) a.Demand(now);
    AutoscalerDecision d = a.Scale(now, current, ready);
    trace.push_back({s, load, current, ready, d});
    current = d.desired;
  }
  return trace;
}

// How many times the desired count changed at or after second `from`.
int Changes(const std::vector<Tick>& trace, int from = 0) {
  int n = 0;
  for (const Tick& t : trace) {
    if (t.s >= from && t.decision.desired != t.current) n++;
  }
  return n;
}

std::string Describe(const Tick& t) {
  return absl::StrCat("s=", t.s, " load=", t.load, " current=", t.current, " ready=", t.ready,
                      " desired=", t.decision.desired, " panicking=", t.decision.panicking,
                      " reason=", t.decision.reason);
}

// What holds at every tick of every series.
void ExpectInvariants(const Sim& sim, const std::vector<Tick>& trace) {
  const AutoscalerSpec spec = NormalizeAutoscalerSpec(sim.spec);
  for (size_t i = 0; i < trace.size(); ++i) {
    const Tick& t = trace[i];
    const int desired = t.decision.desired;
    ASSERT_LE(desired, spec.max_scale) << Describe(t);
    ASSERT_GE(desired, spec.min_scale) << Describe(t);
    if (i > 0 && t.decision.panicking && trace[i - 1].decision.panicking) {
      ASSERT_GE(desired, t.current) << "scaled down while panicking: " << Describe(t);
    }
    const double ready1 = std::max(1, t.ready);
    if (desired > t.current && desired > spec.min_scale && desired > spec.activation_scale) {
      ASSERT_LE(desired, std::max<double>(t.current, std::ceil(spec.max_scale_up_rate * ready1)))
          << "scale-up rate: " << Describe(t);
    }
    if (desired < t.current && desired > 0 && desired < spec.max_scale) {
      ASSERT_GE(desired, std::min<double>(t.current,
                                          std::floor(ready1 / spec.max_scale_down_rate)))
          << "scale-down rate: " << Describe(t);
    }
    if (desired == 0) {
      ASSERT_FALSE(t.decision.next_evaluation.has_value()) << Describe(t);
    } else {
      ASSERT_TRUE(t.decision.next_evaluation.has_value()) << Describe(t);
      ASSERT_GT(*t.decision.next_evaluation, At(t.s)) << Describe(t);
    }
  }
}

struct Checkpoint {
  int s;
  int desired;
  std::optional<bool> panicking = std::nullopt;
};

struct SeriesCase {
  std::string name;
  Sim sim;
  std::vector<Checkpoint> want;
  std::optional<int> max_changes = std::nullopt;  // Counted from changes_from.
  int changes_from = 0;
  bool never_decreases = false;
};

void RunCases(const std::vector<SeriesCase>& cases) {
  for (const SeriesCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::vector<Tick> trace = Simulate(c.sim);
    ExpectInvariants(c.sim, trace);
    for (const Checkpoint& w : c.want) {
      ASSERT_LT(w.s, static_cast<int>(trace.size()));
      const Tick& t = trace[w.s];
      EXPECT_EQ(t.decision.desired, w.desired) << Describe(t);
      if (w.panicking) {
        EXPECT_EQ(t.decision.panicking, *w.panicking) << Describe(t);
      }
    }
    if (c.max_changes) {
      EXPECT_LE(Changes(trace, c.changes_from), *c.max_changes);
    }
    if (c.never_decreases) {
      for (const Tick& t : trace) EXPECT_GE(t.decision.desired, t.current) << Describe(t);
    }
  }
}

AutoscalerSpec Spec(std::function<void(AutoscalerSpec&)> tweak = nullptr) {
  AutoscalerSpec spec;
  if (tweak) tweak(spec);
  return spec;
}

std::function<double(int)> Constant(double v) {
  return [v](int) { return v; };
}

std::function<double(int)> Step(int at, double before, double after) {
  return [=](int s) { return s < at ? before : after; };
}

// 1 → 50 concurrent at s = 60. At 1 per pod and 70%: 2 pods, then ceil(50 / 0.7) = 72. The
// panic window (6 s) sees the step first: at s = 60 it averages (5·1 + 50) / 6 = 9.17, which
// wants 14 ≥ 2 × 2 ready, so panic; the next five seconds climb 25, 37, 49, 60, 72. Panic goes
// on while the panic window (71.4 pods) wants at least twice the stable want, which the stable
// window reaches at s = 88 (want 36); so it ends a stable window after s = 87, at s = 147.
TEST(AutoscalerSeriesTest, Step) {
  RunCases({
      {"1 → 50",
       {Spec(), Step(60, 1, 50), 300, 2},
       {{59, 2, false},
        {60, 14, true},
        {61, 25, true},
        {65, 72, true},
        {146, 72, true},
        {147, 72, false},
        {299, 72, false}},
       6},
      {"1 → 50 with pods ready 10 s late",
       {Spec(), Step(60, 1, 50), 300, 2, 10},
       {{60, 14, true}, {65, 72, true}, {299, 72, false}}},
      {"50 → 1 scales down after the stable window and the delay, at the rate limit",
       {Spec(), Step(60, 50, 1), 300, 72},
       // Wants fall as the stable window drains (s = 60..119) and are held for 30 s: the 72
       // wanted at s = 59 until s = 89, the 71 of s = 60 until s = 90, …
       {{59, 72}, {88, 72}, {89, 71}, {90, 70}, {299, 2}}},
  });
}

// Load grows 1 + s/10 in-flight per second for ten minutes: the stable window trails it by
// 30 s, so at s = 300 it averages 1 + 27.05 = 28.05 → 41 pods, and at s = 600 58.05 → 83.
TEST(AutoscalerSeriesTest, Ramp) {
  RunCases({
      {"ramp up, never panicking",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 1; }),
        [](int s) { return 1 + s / 10.0; }, 601, 1},
       {{300, 41, false}, {600, 83, false}},
       std::nullopt,
       0,
       /*never_decreases=*/true},
      {"ramp down: follows at most one halving per tick",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 1; }),
        [](int s) { return std::max(1.0, 61 - s / 10.0); }, 900, 88},
       {{899, 2, false}}},
  });
}

// 10 in flight (15 pods) with a 10 s spike to 200 at s = 120..129. The panic window wants 60 at
// once (over 2 × 15 ready), then 105, 150, 196, 241, 286. The panic window last wants 2 × the
// stable want at s = 132, so panic holds 286 until s = 192. By then the stable window has
// wanted 60 while it held the whole spike (s = 129..179), then 55 at 180, 51, 46, … 15 at 189.
// The first two ticks go down at the scale-down rate (143, 71); the 30 s delay holds the 60
// until s = 209, after which the wants of s = 180… lapse one a second: 55 at 209 … 15 at 218.
TEST(AutoscalerSeriesTest, Spike) {
  auto spike = [](int s) { return s >= 120 && s < 130 ? 200.0 : 10.0; };
  RunCases({
      {"spike panics, holds, then drains",
       {Spec([](AutoscalerSpec& s) {
          s.min_scale = 1;
          s.max_scale = 1000;
        }),
        spike, 600, 15},
       {{119, 15, false},
        {120, 60, true},
        {125, 286, true},
        {150, 286, true},
        {191, 286, true},
        {192, 143, false},
        {193, 71, false},
        {194, 60, false},
        {208, 60, false},
        {209, 55, false},
        {210, 51, false},
        {218, 15, false},
        {599, 15, false}}},
      {"spike capped by maxScale",
       {Spec([](AutoscalerSpec& s) { s.max_scale = 100; }), spike, 600, 15},
       {{125, 100, true}, {599, 15, false}}},
      {"spike with scale-up rate 2",
       {Spec([](AutoscalerSpec& s) {
          s.max_scale = 1000;
          s.max_scale_up_rate = 2;
        }),
        spike, 600, 15},
       {{120, 30, true}, {121, 60, true}, {122, 120, true}, {123, 196, true}}},
  });
}

// 5 in flight (8 pods) for a minute, then nothing. The last traffic is at s = 59, so with the
// default 300 s the function goes to zero at s = 359 exactly.
TEST(AutoscalerSeriesTest, Idle) {
  auto burst = Step(60, 5, 0);
  RunCases({
      {"zero exactly scaleToZeroAfter after the last traffic",
       {Spec(), burst, 700, 8},
       {{59, 8}, {200, 1}, {358, 1}, {359, 0}, {699, 0}}},
      {"scaleToZeroAfter shorter than the stable window",
       {Spec([](AutoscalerSpec& s) { s.scale_to_zero_after = absl::Seconds(30); }), burst, 200,
        8},
       {{88, 8}, {89, 0}, {199, 0}}},
      {"never to zero with minScale 1",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 1; }), burst, 700, 8},
       {{358, 1}, {359, 1}, {699, 1}}},
      {"metric gap holds the count and still idles",
       {Spec(), burst, 700, 8, 0, [](int s) { return s < 60; }},
       {{100, 8}, {200, 8}, {358, 8}, {359, 0}}},
      {"a fresh autoscaler waits a whole period before zero",
       {Spec(), Constant(0), 400, 3},
       {{0, 1}, {299, 1}, {300, 0}}},
      {"never called stays at zero",
       {Spec(), Constant(0), 600, 0},
       {{0, 0}, {599, 0}},
       0},
      {"traffic returns after zero",
       {Spec(), [](int s) { return s < 60 ? 5.0 : s < 500 ? 0.0 : 2.0; }, 600, 8},
       {{359, 0}, {499, 0}, {500, 1}, {599, 3}}},
      {"a request every 4 minutes keeps one pod warm",
       // (The first second is the whole average, so it starts at 2 and comes down to 1.)
       {Spec(), [](int s) { return s % 240 == 0 ? 1.0 : 0.0; }, 1200, 1},
       {{1199, 1}},
       0,
       120},
  });
}

TEST(AutoscalerSeriesTest, DemandFromZero) {
  RunCases({
      {"first request wakes it within the same second",
       {Spec(), Step(100, 0, 1), 200, 0},
       {{99, 0}, {100, 1}, {199, 2}}},
      {"activationScale 3",
       {Spec([](AutoscalerSpec& s) { s.activation_scale = 3; }), Step(100, 0, 1), 200, 0},
       {{100, 3}, {199, 3}}},
      {"a burst from zero panics straight to its size",
       {Spec(), Step(100, 0, 20), 200, 0, 5},
       // The first report already fills the panic window's one bucket: 20 / 6 s → 3.3 → 5 pods.
       {{100, 5, true}, {101, 10, true}, {105, 29, true}, {199, 29}}},
  });
}

TEST(AutoscalerSeriesTest, Clamps) {
  RunCases({
      {"load beyond maxScale",
       {Spec([](AutoscalerSpec& s) { s.max_scale = 10; }), Constant(100), 300, 1},
       {{1, 10}, {299, 10}}},
      {"no load above minScale",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 3; }), Constant(0), 600, 10},
       {{0, 5}, {1, 3}, {599, 3}}},
      {"minScale above the load",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 20; }), Constant(5), 300, 20},
       {{299, 20}},
       0},
      {"scale-down rate 2 from 64 with a stable window of 1 s",
       {Spec([](AutoscalerSpec& s) {
          s.stable_window = absl::Seconds(1);
          s.panic_window = absl::Seconds(1);
          s.scale_down_delay = absl::ZeroDuration();
          s.target_utilization = 1;
        }),
        Constant(1), 10, 64},
       {{0, 32}, {1, 16}, {2, 8}, {3, 4}, {4, 2}, {5, 1}, {9, 1}}},
      {"scale-down rate 4",
       {Spec([](AutoscalerSpec& s) {
          s.stable_window = absl::Seconds(1);
          s.panic_window = absl::Seconds(1);
          s.scale_down_delay = absl::ZeroDuration();
          s.target_utilization = 1;
          s.max_scale_down_rate = 4;
        }),
        Constant(1), 10, 64},
       {{0, 16}, {1, 4}, {2, 1}}},
      {"scale-up rate 2 with pods ready 2 s late",
       {Spec([](AutoscalerSpec& s) {
          s.target_utilization = 1;
          s.max_scale_up_rate = 2;
        }),
        Constant(64), 30, 4, 2},
       // Each step waits for the pods of the one before: 8 at once, 16 when those are ready.
       {{0, 8}, {1, 8}, {2, 8}, {3, 16}, {6, 32}, {9, 64}, {29, 64}}},
  });
}

// Flapping input must not make the count flap. Changes are counted after a 2-minute warm-up.
TEST(AutoscalerSeriesTest, Flapping) {
  RunCases({
      {"a load on a pod boundary with jittered reports",
       // 3.4 and 3.6 alternate around 3.5 = 5 pods × 0.7; a report goes missing every 7 s, so
       // the stable average wobbles either side of the boundary.
       {Spec(), [](int s) { return s % 2 ? 3.6 : 3.4; }, 1200, 5, 0,
        [](int s) { return s % 7 != 3; }},
       {{1199, 6}},
       1,
       120},
      {"a square wave faster than the stable window",
       {Spec(), [](int s) { return s % 13 < 7 ? 16.0 : 4.0; }, 1200, 15},
       {},
       2,
       120},
      {"bursts that panic every 30 s",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 1; }),
        [](int s) { return s % 30 < 5 ? 40.0 : 2.0; }, 1200, 3},
       {},
       1,
       120},
      {"bursts that stop: panic ends and the count drains to the steady load",
       {Spec([](AutoscalerSpec& s) { s.min_scale = 1; }),
        [](int s) { return s < 600 && s % 30 < 5 ? 40.0 : 2.0; }, 1200, 3},
       {{599, 58, true}, {1199, 3, false}}},
  });
}

// The reason scale-down delay defaults to 30 s: without it the boundary load above flaps.
TEST(AutoscalerSeriesTest, WithoutScaleDownDelayABoundaryLoadFlaps) {
  Sim sim{Spec([](AutoscalerSpec& s) { s.scale_down_delay = absl::ZeroDuration(); }),
          [](int s) { return s % 2 ? 3.6 : 3.4; }, 1200, 5, 0,
          [](int s) { return s % 7 != 3; }};
  std::vector<Tick> trace = Simulate(sim);
  ExpectInvariants(sim, trace);
  EXPECT_GT(Changes(trace, 120), 20);
}

// ---------------------------------------------------------------------------------------------
// Single behaviours.

TEST(AutoscalerTest, DemandBetweenTicksScalesFromZeroAtOnce) {
  Autoscaler a(Spec());
  for (int s = 0; s < 100; ++s) {
    a.Record(At(s), 0);
    AutoscalerDecision d = a.Scale(At(s), 0, 0);
    ASSERT_EQ(d.desired, 0) << d.reason;
    ASSERT_FALSE(d.next_evaluation.has_value());
  }
  a.Demand(At(100.5));
  AutoscalerDecision d = a.Scale(At(100.5), 0, 0);
  EXPECT_EQ(d.desired, 1);
  EXPECT_THAT(d.reason, HasSubstr("scale from zero"));
  // Without further traffic it idles again a whole period after the demand.
  EXPECT_EQ(a.Scale(At(400.4), 1, 1).desired, 1);
  EXPECT_EQ(a.Scale(At(400.5), 1, 1).desired, 0);
}

TEST(AutoscalerTest, DemandOnAFreshAutoscaler) {
  Autoscaler a(Spec([](AutoscalerSpec& s) { s.activation_scale = 2; }));
  a.Demand(kT0);
  AutoscalerDecision d = a.Scale(kT0, 0, 0);
  EXPECT_EQ(d.desired, 2);
  EXPECT_FALSE(d.stable_average.has_value());
  EXPECT_THAT(d.reason, HasSubstr("no metrics"));
}

TEST(AutoscalerTest, NextEvaluation) {
  Autoscaler a(Spec());
  a.Record(At(10), 1);
  // The panic window's only bucket ages out first.
  EXPECT_EQ(a.Scale(At(10), 2, 2).next_evaluation, At(16));

  // In a metric gap, the idle deadline; then nothing.
  Autoscaler b(Spec());
  for (int s = 0; s < 60; ++s) b.Record(At(s), 5);
  AutoscalerDecision held = b.Scale(At(200), 8, 8);
  EXPECT_EQ(held.desired, 8);
  ASSERT_TRUE(held.next_evaluation.has_value());
  EXPECT_EQ(*held.next_evaluation, At(59 + 300));
  AutoscalerDecision zero = b.Scale(*held.next_evaluation, 8, 8);
  EXPECT_EQ(zero.desired, 0);
  EXPECT_THAT(zero.reason, HasSubstr("scale to zero: no traffic for 5m"));
  EXPECT_FALSE(zero.next_evaluation.has_value());
}

TEST(AutoscalerTest, TimeNeverGoesBackwards) {
  Autoscaler a(Spec([](AutoscalerSpec& s) { s.scale_down_delay = absl::ZeroDuration(); }));
  a.Record(At(100), 10);
  a.Record(At(40), 0);  // Taken as s = 100: that second averages 5.
  AutoscalerDecision d = a.Scale(At(40), 8, 8);
  EXPECT_EQ(d.desired, 8) << d.reason;  // ceil(5 / 0.7)
  ASSERT_TRUE(d.stable_average.has_value());
  EXPECT_DOUBLE_EQ(*d.stable_average, 5);
  ASSERT_TRUE(d.next_evaluation.has_value());
  EXPECT_GT(*d.next_evaluation, At(100));
}

TEST(AutoscalerTest, BadObservations) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::string name;
    double load;
    int want;
    double want_average;
  };
  const std::vector<Case> cases = {
      {"NaN counts as zero", nan, 1, 0},
      {"negative counts as zero", -3, 1, 0},
      {"infinity is capped, then maxScale", inf, 100, 1e9},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Autoscaler a(Spec());
    a.Record(kT0, c.load);
    AutoscalerDecision d = a.Scale(kT0, 1, 1);
    EXPECT_EQ(d.desired, c.want) << d.reason;
    ASSERT_TRUE(d.stable_average.has_value());
    EXPECT_EQ(*d.stable_average, c.want_average);
  }
  Autoscaler a(Spec());
  a.Record(kT0, 1);
  EXPECT_EQ(a.Scale(kT0, -4, -7).desired, 2);  // Negative counts are 0.
}

TEST(AutoscalerTest, NormalizeSpec) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    std::string name;
    std::function<void(AutoscalerSpec&)> in;
    std::function<void(AutoscalerSpec&)> want;  // Applied to the defaults.
  };
  const std::vector<Case> cases = {
      {"defaults are valid", [](AutoscalerSpec&) {}, [](AutoscalerSpec&) {}},
      {"negative minScale", [](AutoscalerSpec& s) { s.min_scale = -1; },
       [](AutoscalerSpec&) {}},
      {"maxScale below minScale",
       [](AutoscalerSpec& s) {
         s.min_scale = 5;
         s.max_scale = 2;
       },
       [](AutoscalerSpec& s) {
         s.min_scale = 5;
         s.max_scale = 5;
       }},
      {"maxScale 0", [](AutoscalerSpec& s) { s.max_scale = 0; },
       [](AutoscalerSpec& s) { s.max_scale = 1; }},
      {"target 0 and NaN utilization",
       [](AutoscalerSpec& s) {
         s.target_per_pod = 0;
         s.target_utilization = nan;
       },
       [](AutoscalerSpec&) {}},
      {"utilization above 100%", [](AutoscalerSpec& s) { s.target_utilization = 1.5; },
       [](AutoscalerSpec& s) { s.target_utilization = 1; }},
      {"windows in whole seconds, panic within stable",
       [](AutoscalerSpec& s) {
         s.stable_window = absl::Milliseconds(10500);
         s.panic_window = absl::Seconds(30);
       },
       [](AutoscalerSpec& s) {
         s.stable_window = absl::Seconds(10);
         s.panic_window = absl::Seconds(10);
       }},
      {"zero windows",
       [](AutoscalerSpec& s) {
         s.stable_window = absl::ZeroDuration();
         s.panic_window = -absl::Seconds(1);
       },
       [](AutoscalerSpec& s) {
         s.stable_window = absl::Seconds(1);
         s.panic_window = absl::Seconds(1);
       }},
      {"rates and threshold below 1",
       [](AutoscalerSpec& s) {
         s.max_scale_up_rate = 0.5;
         s.max_scale_down_rate = 0;
         s.panic_threshold = nan;
       },
       [](AutoscalerSpec& s) {
         s.max_scale_up_rate = 1;
         s.max_scale_down_rate = 1;
       }},
      {"durations and activation",
       [](AutoscalerSpec& s) {
         s.scale_down_delay = -absl::Seconds(5);
         s.scale_to_zero_after = absl::ZeroDuration();
         s.activation_scale = 0;
       },
       [](AutoscalerSpec& s) {
         s.scale_down_delay = absl::ZeroDuration();
         s.scale_to_zero_after = absl::Seconds(1);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    AutoscalerSpec in;
    c.in(in);
    AutoscalerSpec want;
    c.want(want);
    AutoscalerSpec got = NormalizeAutoscalerSpec(in);
    EXPECT_EQ(got.min_scale, want.min_scale);
    EXPECT_EQ(got.max_scale, want.max_scale);
    EXPECT_EQ(got.target_per_pod, want.target_per_pod);
    EXPECT_EQ(got.target_utilization, want.target_utilization);
    EXPECT_EQ(got.stable_window, want.stable_window);
    EXPECT_EQ(got.panic_window, want.panic_window);
    EXPECT_EQ(got.panic_threshold, want.panic_threshold);
    EXPECT_EQ(got.max_scale_up_rate, want.max_scale_up_rate);
    EXPECT_EQ(got.max_scale_down_rate, want.max_scale_down_rate);
    EXPECT_EQ(got.scale_down_delay, want.scale_down_delay);
    EXPECT_EQ(got.scale_to_zero_after, want.scale_to_zero_after);
    EXPECT_EQ(got.activation_scale, want.activation_scale);
  }
}

}  // namespace
}  // namespace wisp
