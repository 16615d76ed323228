// Schedules for `triggers[].schedule.expression` (docs/function-resource.md): EventBridge's
// `rate(value unit)` and six-field `cron(...)` forms and standard five-field (Vixie) cron, each
// evaluated in one IANA time zone. Parsing validates the whole expression; `Next` and `Between`
// list the ticks it fires at. A tick's identity is (function, scheduled time): `TickId`.
//
// Pure: values in, values out; no clock (time arrives as a parameter) and no I/O except Abseil's
// loading of a time zone (from /usr/share/zoneinfo) inside `ParseSchedule`. A `Schedule` is an
// immutable value: copy it freely; const methods are safe to call from many threads at once.
//
// The forms (month and weekday names and the letters L and W are case-insensitive; `rate`,
// `cron` and the units are lower case; fields are separated by spaces or tabs):
//
//   rate(value unit)   value a whole number ≥ 1 (at most 2147483647); unit minute | minutes |
//                      hour | hours | day | days, singular exactly when value is 1
//                      (`rate(1 hours)` and `rate(5 hour)` are invalid). A rate is a fixed
//                      duration (a day is 24 hours, also across DST; the time zone is ignored).
//                      Ticks are anchor + k·period for k ≥ 1: the first one period after the
//                      anchor, as EventBridge starts a rate when the rule is created.
//
//   cron(Minutes Hours Day-of-month Month Day-of-week Year)      EventBridge; all six required
//     field          values               wildcards
//     Minutes        0-59                 , - * /
//     Hours          0-23                 , - * /
//     Day-of-month   1-31                 , - * ? / L W
//     Month          1-12 or JAN-DEC      , - * /
//     Day-of-week    1-7 or SUN-SAT       , - * ? L #      (1 = SUN … 7 = SAT)
//     Year           1970-2199            , - * /
//   Exactly one of Day-of-month and Day-of-week is `?` (the other decides the day).
//   `a-b` is a range (a ≤ b; no wrap-around), `*/n`, `a/n` and `a-b/n` step from a (or the
//   field's minimum) through b (or the field's maximum); n is 1 to the field's span (1-60 for
//   Minutes). `/` is not documented for Day-of-week, so it is refused there. Day-of-month `L`
//   is the month's last day, `LW` its last weekday (Mon–Fri), `nW` the weekday nearest day n
//   without leaving the month (1W on a Saturday is Monday the 3rd; 31W on a Sunday is Friday the
//   29th; a month shorter than n has none). Day-of-week `L` alone is 7 (SAT); `nL` is the month's
//   last weekday n (`5L` = last Thursday); `n#k` its k-th weekday n, k 1-5 (`3#2` = second Tuesday;
//   a month without a fifth one has no `#5` tick). `L`, `W` and `#` stand alone in their field
//   ("3#1,6#3" is invalid, as EventBridge documents).
//
//   minute hour day-of-month month day-of-week                   five-field Unix cron (Vixie)
//     0-59, 0-23, 1-31, 1-12 or JAN-DEC, 0-7 or SUN-SAT (0 and 7 are Sunday); `*`, lists,
//     ranges `a-b`, steps `*/n` and `a-b/n` (a bare `a/n` is invalid, as in Vixie cron;
//     names may appear in ranges and lists, as cronie allows).
//     Vixie's day rule: when both day fields are restricted, a day matches if EITHER matches
//     (`0 0 13 * 5` = every 13th and every Friday); a field that begins with `*` (including
//     `*/2`) counts as unrestricted, and then both must match (`0 0 */2 * 1` = odd-dated
//     Mondays). No `?`, `L`, `W`, `#` or @-macros.
//
// Time zones and DST (cron forms; `time_zone` is an IANA name such as "Europe/Berlin", empty
// meaning UTC): fields match local wall-clock time. A local time that DST skips does not fire
// (`cron(30 2 * * ? *)` in America/New_York has no tick on the spring-forward day); a local time
// that DST repeats fires once, at its first occurrence (`cron(30 1 * * ? *)` fires at 01:30 EDT
// on the fall-back day, not again at 01:30 EST). This is EventBridge Scheduler's behaviour.
// So an hourly cron has a 2-hour gap on fall-back day, and where DST starts at midnight
// (America/Santiago) `cron(0 0 * * ? *)` has no tick that day.
//
// Range: cron ticks lie in local years 1970–2199 (EventBridge's Year range; five-field cron
// uses the same horizon), so `Next` returns nullopt past the last one; finding it takes at most
// a few thousand cheap steps even for a schedule that never fires (`cron(0 0 30 2 ? *)`).
#ifndef WISP_CONTROLLER_SCHEDULE_H_
#define WISP_CONTROLLER_SCHEDULE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wisp {

class Schedule;

// Parses `expression` (rate(…), cron(…) or five-field cron; surrounding whitespace ignored) to
// be read in `time_zone` (IANA name; "" means UTC). `rate_anchor` is when a rate schedule
// starts counting — pass the trigger's creation time (e.g. the Function's
// metadata.creationTimestamp) for EventBridge's behaviour; the default, the Unix epoch, aligns
// rates to multiples of the period since 1970-01-01T00:00Z (rate(5 minutes) fires at :00,
// :05, …). It must be finite; cron schedules ignore it.
//
// Errors: INVALID_ARGUMENT, with a message quoting the expression and naming the field, e.g.
//   cron expression "cron(0 12 ? * 8 *)": day-of-week: 8 is out of range 1-7 (SUN-SAT)
//   rate expression "rate(5 hour)": unit: must be plural (hours) when the value is 5
//   time zone "Mars/Olympus": not a known IANA time zone
absl::StatusOr<Schedule> ParseSchedule(absl::string_view expression,
                                       absl::string_view time_zone = "UTC",
                                       absl::Time rate_anchor = absl::UnixEpoch());

inline constexpr int kScheduleMinYear = 1970;
inline constexpr int kScheduleMaxYear = 2199;

// A parsed schedule expression with its time zone (and, for a rate, its anchor).
class Schedule {
 public:
  enum class Kind {
    kRate,      // rate(value unit)
    kCron,      // cron(six fields), EventBridge
    kUnixCron,  // five fields, Vixie cron
  };

  Kind kind() const { return kind_; }
  // The expression as given, without surrounding whitespace.
  const std::string& expression() const { return expression_; }
  // The IANA name of the zone cron fields are read in ("UTC" by default).
  std::string time_zone() const { return zone_.name(); }
  // For kRate: the period and the anchor; otherwise zero and the Unix epoch.
  absl::Duration rate_period() const { return period_; }
  absl::Time rate_anchor() const { return anchor_; }

  // The first tick strictly after `after`, or nullopt when there is none (a cron past its last
  // tick in 2199 or that never matches, e.g. `cron(0 0 30 2 ? *)`; `after` is
  // InfiniteFuture). Ticks are whole local minutes (cron) or anchor + k·period (rate).
  std::optional<absl::Time> Next(absl::Time after) const;

  // The ticks t with from < t ≤ to, earliest first, at most `limit` of them (none when
  // limit ≤ 0): what a scheduler that last looked at `from` and now sees `to` has missed. When
  // the result is full, call again with from = its last element for the rest.
  std::vector<absl::Time> Between(absl::Time from, absl::Time to, int limit) const;

 private:
  struct CronFields;  // defined in schedule.cc
  friend absl::StatusOr<Schedule> ParseSchedule(absl::string_view, absl::string_view, absl::Time);

  Schedule() = default;
  std::optional<absl::Time> NextCron(absl::Time after) const;

  Kind kind_ = Kind::kRate;
  std::string expression_;
  absl::TimeZone zone_ = absl::UTCTimeZone();
  absl::Duration period_ = absl::ZeroDuration();
  absl::Time anchor_ = absl::UnixEpoch();
  std::shared_ptr<const CronFields> cron_;  // immutable; shared by copies
};

// The identity of one tick: "<function>@<scheduled time, RFC 3339 in UTC>", e.g.
// "hello@2026-11-27T12:00:00Z" (fractional seconds only when present). Deterministic, so a
// tick retried or seen by two schedulers has one id; the time part never contains '@', so the
// last '@' separates the two.
std::string TickId(absl::string_view function, absl::Time scheduled);

}  // namespace wisp

#endif  // WISP_CONTROLLER_SCHEDULE_H_
