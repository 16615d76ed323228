// Schedule parsing and evaluation; the grammar and the rules are in schedule.h.
#include "controller/schedule.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace wisp {
namespace {

constexpr absl::string_view kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                             "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr absl::string_view kDayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

enum class Names { kNone, kMonths, kWeekdays };

// One cron field's grammar, for parsing and for error messages. Names count from `min`
// (JAN = 1; SUN = 1 in EventBridge, 0 in five-field cron).
struct FieldSpec {
  absl::string_view name;  // as EventBridge's docs name it, lower case
  int min;
  int max;
  Names names;
  absl::string_view values;     // "1-12 (JAN-DEC)", for messages
  absl::string_view wildcards;  // as EventBridge's docs list them; its punctuation is allowed
};

// EventBridge's fields (docs: "Cron expressions reference"), then five-field cron's (crontab(5))
// under the same names.
// clang-format off
constexpr FieldSpec kMinutes{"minutes", 0, 59, Names::kNone, "0-59", ", - * /"};
constexpr FieldSpec kHours{"hours", 0, 23, Names::kNone, "0-23", ", - * /"};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, Names::kNone, "1-31", ", - * ? / L W"};
constexpr FieldSpec kMonth{"month", 1, 12, Names::kMonths, "1-12 (JAN-DEC)", ", - * /"};
constexpr FieldSpec kDayOfWeek{"day-of-week", 1, 7, Names::kWeekdays, "1-7 (SUN-SAT)",
                               ", - * ? L #"};
constexpr FieldSpec kYear{"year", kScheduleMinYear, kScheduleMaxYear, Names::kNone, "1970-2199",
                          ", - * /"};

constexpr FieldSpec kUnixMinutes{"minutes", 0, 59, Names::kNone, "0-59", ", - * /"};
constexpr FieldSpec kUnixHours{"hours", 0, 23, Names::kNone, "0-23", ", - * /"};
constexpr FieldSpec kUnixDayOfMonth{"day-of-month", 1, 31, Names::kNone, "1-31", ", - * /"};
constexpr FieldSpec kUnixMonth{"month", 1, 12, Names::kMonths, "1-12 (JAN-DEC)", ", - * /"};
constexpr FieldSpec kUnixDayOfWeek{"day-of-week", 0, 7, Names::kWeekdays,
                                   "0-7 (SUN-SAT; 0 and 7 are SUN)", ", - * /"};
// clang-format on

enum class Dialect { kEventBridge, kVixie };

absl::Status FieldError(const FieldSpec& spec, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(spec.name, ": ", problem));
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A decimal number of at most 9 digits (no sign), or -1.
int SmallNumber(absl::string_view s) {
  if (!AllDigits(s) || s.size() > 9) return -1;
  int n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

// Rejects punctuation the field does not allow; letters and digits are judged as values.
absl::Status CheckSymbols(absl::string_view text, const FieldSpec& spec, Dialect dialect) {
  for (char c : text) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (c != ' ' && absl::StrContains(spec.wildcards, c)) continue;
    std::string hint = dialect == Dialect::kVixie && absl::StrContains("?#", c)
                           ? "; ?, L, W and # need the cron(...) form"
                           : "";
    return FieldError(
        spec, absl::StrCat("\"", absl::string_view(&c, 1),
                           "\" is not allowed here (wildcards: ", spec.wildcards, ")", hint));
  }
  return absl::OkStatus();
}

// One value: a number in [min, max] or a name (case-insensitive).
absl::StatusOr<int> ParseValue(absl::string_view text, absl::string_view item,
                               const FieldSpec& spec) {
  if (text.empty()) {
    return FieldError(spec, absl::StrCat("\"", item, "\" is missing a value"));
  }
  if (AllDigits(text)) {
    int v = SmallNumber(text);
    if (v < spec.min || v > spec.max) {
      return FieldError(spec, absl::StrCat(text, " is out of range ", spec.values));
    }
    return v;
  }
  const absl::string_view* names = nullptr;
  int count = 0;
  if (spec.names == Names::kMonths) names = kMonthNames, count = 12;
  if (spec.names == Names::kWeekdays) names = kDayNames, count = 7;
  for (int i = 0; i < count; ++i) {
    if (absl::EqualsIgnoreCase(text, names[i])) return spec.min + i;
  }
  return FieldError(spec, absl::StrCat("\"", text, "\" is not a value in ", spec.values));
}

// A list of `*`, values, ranges and steps into a set indexed by value (size max + 1).
absl::StatusOr<std::vector<bool>> ParseList(absl::string_view text, const FieldSpec& spec,
                                            Dialect dialect) {
  std::vector<bool> set(spec.max + 1, false);
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    if (item.empty()) {
      return FieldError(spec, absl::StrCat("\"", text, "\" has an empty list item"));
    }
    absl::string_view range = item;
    int step = 1;
    bool stepped = false;
    if (size_t slash = item.find('/'); slash != absl::string_view::npos) {
      range = item.substr(0, slash);
      absl::string_view step_text = item.substr(slash + 1);
      int span = spec.max - spec.min + 1;
      step = SmallNumber(step_text);
      if (step < 1 || step > span) {
        return FieldError(
            spec, absl::StrCat("the step in \"", item, "\" must be a whole number 1-", span));
      }
      stepped = true;
    }
    int lo = 0;
    int hi = 0;
    if (range == "*") {
      lo = spec.min;
      hi = spec.max;
    } else if (size_t dash = range.find('-'); dash != absl::string_view::npos) {
      absl::StatusOr<int> first = ParseValue(range.substr(0, dash), item, spec);
      if (!first.ok()) return first.status();
      absl::StatusOr<int> last = ParseValue(range.substr(dash + 1), item, spec);
      if (!last.ok()) return last.status();
      lo = *first;
      hi = *last;
      if (lo > hi) {
        return FieldError(spec, absl::StrCat("the range \"", range,
                                             "\" is reversed (ranges do not wrap around)"));
      }
    } else {
      absl::StatusOr<int> value = ParseValue(range, item, spec);
      if (!value.ok()) return value.status();
      lo = *value;
      hi = *value;
      if (stepped) {
        // EventBridge: "1/10" is 1, 11, 21, …; Vixie cron steps only a range or `*`.
        if (dialect == Dialect::kVixie) {
          return FieldError(spec, absl::StrCat("\"", item, "\": a step needs a range or * (", range,
                                               "-", spec.max, "/", step, ")"));
        }
        hi = spec.max;
      }
    }
    for (int v = lo; v <= hi; v += step) set[v] = true;
  }
  return set;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

// 0 = Sunday … 6 = Saturday.
int WeekdayOf(int year, int month, int day) {
  // absl::Weekday counts from Monday = 0.
  return (static_cast<int>(absl::GetWeekday(absl::CivilDay(year, month, day))) + 1) % 7;
}

// The first member of `set` in [from, to], or -1.
int NextMember(const std::vector<bool>& set, int from, int to) {
  if (from < 0) from = 0;
  if (to >= static_cast<int>(set.size())) to = static_cast<int>(set.size()) - 1;
  for (int v = from; v <= to; ++v) {
    if (set[v]) return v;
  }
  return -1;
}

// Which days of a month fire. Decision table (EventBridge has exactly one `?`; five-field cron
// has none):
//   EventBridge, day-of-month `?`      the day-of-week rule decides
//   EventBridge, day-of-week `?`       the day-of-month rule decides
//   Vixie, either field begins with *  day-of-month AND day-of-week
//   Vixie, otherwise                   day-of-month OR day-of-week
struct DayRule {
  enum class Dom { kAny, kSet, kLast, kLastWeekday, kNearestWeekday };
  enum class Dow { kAny, kSet, kLast, kNth };
  Dom dom = Dom::kAny;
  std::vector<bool> dom_days = std::vector<bool>(32, false);  // kSet: day → fires
  int dom_day = 0;                                            // kNearestWeekday: n of nW
  Dow dow = Dow::kAny;
  std::vector<bool> dow_days = std::vector<bool>(7, false);  // kSet: 0 = SUN … 6 = SAT
  int dow_day = 0;                                           // kLast, kNth: 0 = SUN … 6 = SAT
  int dow_nth = 0;                                           // kNth: 1-5
  bool vixie = false;
  bool dom_star = false;  // vixie: the field began with '*'
  bool dow_star = false;

  // days[d]: whether day d (1-31) of (year, month) fires.
  std::vector<bool> DaysOf(int year, int month) const {
    const int last = DaysInMonth(year, month);
    const int first_weekday = WeekdayOf(year, month, 1);
    auto weekday = [&](int day) { return (first_weekday + day - 1) % 7; };
    std::vector<bool> by_dom(32, false);
    std::vector<bool> by_dow(32, false);
    switch (dom) {
      case Dom::kAny:
        break;
      case Dom::kSet:
        for (int d = 1; d <= last; ++d) by_dom[d] = dom_days[d];
        break;
      case Dom::kLast:
        by_dom[last] = true;
        break;
      case Dom::kLastWeekday: {
        int d = last;
        if (weekday(d) == 6) d -= 1;  // Saturday → Friday
        if (weekday(d) == 0) d -= 2;  // Sunday → Friday
        by_dom[d] = true;
        break;
      }
      case Dom::kNearestWeekday: {
        int d = dom_day;
        if (d > last) break;  // no such day this month: no tick
        int wd = weekday(d);
        // Quartz's rule, never leaving the month: Saturday → Friday unless that is in the
        // previous month (then Monday), Sunday → Monday unless in the next (then Friday).
        if (wd == 6)
          d = d == 1 ? d + 2 : d - 1;
        else if (wd == 0)
          d = d == last ? d - 2 : d + 1;
        by_dom[d] = true;
        break;
      }
    }
    switch (dow) {
      case Dow::kAny:
        break;
      case Dow::kSet:
        for (int d = 1; d <= last; ++d) by_dow[d] = dow_days[weekday(d)];
        break;
      case Dow::kLast: {
        int d = last;
        while (weekday(d) != dow_day) --d;
        by_dow[d] = true;
        break;
      }
      case Dow::kNth: {
        int d = 1 + (dow_day - first_weekday + 7) % 7 + 7 * (dow_nth - 1);
        if (d <= last) by_dow[d] = true;  // no fifth one: no tick
        break;
      }
    }
    if (!vixie) return dom == Dom::kAny ? by_dow : by_dom;
    std::vector<bool> days(32, false);
    for (int d = 1; d <= last; ++d) {
      days[d] = dom_star || dow_star ? by_dom[d] && by_dow[d] : by_dom[d] || by_dow[d];
    }
    return days;
  }
};

}  // namespace

struct Schedule::CronFields {
  std::vector<bool> minutes;  // index 0-59
  std::vector<bool> hours;    // 0-23
  std::vector<bool> months;   // 1-12
  std::vector<bool> years;    // 1970-2199 (index = year)
  DayRule days;
};

namespace {

absl::StatusOr<DayRule> ParseEventBridgeDays(absl::string_view dom_text,
                                             absl::string_view dow_text) {
  DayRule rule;
  // Day-of-month: ?, L, LW, nW, or a list.
  if (absl::Status s = CheckSymbols(dom_text, kDayOfMonth, Dialect::kEventBridge); !s.ok()) {
    return s;
  }
  std::string dom_upper = absl::AsciiStrToUpper(dom_text);
  if (dom_text == "?") {
    rule.dom = DayRule::Dom::kAny;
  } else if (absl::StrContains(dom_text, '?')) {
    return FieldError(kDayOfMonth, absl::StrCat("\"", dom_text, "\": ? stands alone"));
  } else if (absl::StrContains(dom_upper, 'L') || absl::StrContains(dom_upper, 'W')) {
    absl::string_view day = absl::string_view(dom_upper).substr(0, dom_upper.size() - 1);
    if (dom_upper == "L") {
      rule.dom = DayRule::Dom::kLast;
    } else if (dom_upper == "LW") {
      rule.dom = DayRule::Dom::kLastWeekday;
    } else if (absl::EndsWith(dom_upper, "W") && AllDigits(day)) {
      int n = SmallNumber(day);
      if (n < 1 || n > 31) {
        return FieldError(kDayOfMonth,
                          absl::StrCat("\"", dom_text, "\": the day before W must be 1-31"));
      }
      rule.dom = DayRule::Dom::kNearestWeekday;
      rule.dom_day = n;
    } else {
      return FieldError(
          kDayOfMonth,
          absl::StrCat("\"", dom_text, "\": L and W stand alone, as L, LW or <day>W (e.g. 15W)"));
    }
  } else {
    absl::StatusOr<std::vector<bool>> set = ParseList(dom_text, kDayOfMonth, Dialect::kEventBridge);
    if (!set.ok()) return set.status();
    rule.dom = DayRule::Dom::kSet;
    rule.dom_days = *std::move(set);
  }

  // Day-of-week: ?, L (= SAT), <weekday>L, <weekday>#<n>, or a list. 1 = SUN.
  if (absl::Status s = CheckSymbols(dow_text, kDayOfWeek, Dialect::kEventBridge); !s.ok()) {
    return s;
  }
  std::string dow_upper = absl::AsciiStrToUpper(dow_text);
  if (dow_text == "?") {
    rule.dow = DayRule::Dow::kAny;
  } else if (absl::StrContains(dow_text, '?')) {
    return FieldError(kDayOfWeek, absl::StrCat("\"", dow_text, "\": ? stands alone"));
  } else if (size_t hash = dow_text.find('#'); hash != absl::string_view::npos) {
    absl::string_view weekday = dow_text.substr(0, hash);
    absl::string_view nth = dow_text.substr(hash + 1);
    if (weekday.empty() || absl::StrContains(weekday, ',') || absl::StrContains(weekday, '-') ||
        absl::StrContains(weekday, '*') || absl::StrContains(nth, '#') ||
        absl::StrContains(nth, ',')) {
      return FieldError(kDayOfWeek,
                        absl::StrCat("\"", dow_text,
                                     "\": # stands alone, as one <weekday>#<n> (e.g. 3#2, the "
                                     "second Tuesday)"));
    }
    absl::StatusOr<int> day = ParseValue(weekday, dow_text, kDayOfWeek);
    if (!day.ok()) return day.status();
    int n = SmallNumber(nth);
    if (n < 1 || n > 5) {
      return FieldError(kDayOfWeek,
                        absl::StrCat("\"", dow_text, "\": the number after # must be 1-5"));
    }
    rule.dow = DayRule::Dow::kNth;
    rule.dow_day = *day - 1;
    rule.dow_nth = n;
  } else if (absl::StrContains(dow_upper, 'L')) {
    absl::string_view weekday = absl::string_view(dow_upper).substr(0, dow_upper.size() - 1);
    if (dow_upper == "L") {
      // Alone, L is the last day of the week: Saturday (every Saturday).
      rule.dow = DayRule::Dow::kSet;
      rule.dow_days[6] = true;
    } else if (absl::EndsWith(dow_upper, "L") && !absl::StrContains(weekday, 'L') &&
               !absl::StrContains(weekday, ',') && !absl::StrContains(weekday, '-') &&
               !absl::StrContains(weekday, '*')) {
      absl::StatusOr<int> day =
          ParseValue(dow_text.substr(0, weekday.size()), dow_text, kDayOfWeek);
      if (!day.ok()) return day.status();
      rule.dow = DayRule::Dow::kLast;
      rule.dow_day = *day - 1;
    } else {
      return FieldError(kDayOfWeek,
                        absl::StrCat("\"", dow_text,
                                     "\": L stands alone, as L or <weekday>L (e.g. 5L, the last "
                                     "Thursday)"));
    }
  } else {
    absl::StatusOr<std::vector<bool>> set = ParseList(dow_text, kDayOfWeek, Dialect::kEventBridge);
    if (!set.ok()) return set.status();
    rule.dow = DayRule::Dow::kSet;
    for (int v = 1; v <= 7; ++v) rule.dow_days[v - 1] = (*set)[v];
  }

  bool dom_any = rule.dom == DayRule::Dom::kAny;
  bool dow_any = rule.dow == DayRule::Dow::kAny;
  if (dom_any == dow_any) {
    return absl::InvalidArgumentError(absl::StrCat(
        "day-of-month and day-of-week: exactly one of them must be ? (got \"", dom_text,
        "\" and \"", dow_text, "\"; e.g. cron(0 12 * * ? *) or cron(0 12 ? * MON-FRI *))"));
  }
  return rule;
}

absl::StatusOr<std::vector<bool>> ParseField(absl::string_view text, const FieldSpec& spec,
                                             Dialect dialect) {
  if (absl::Status s = CheckSymbols(text, spec, dialect); !s.ok()) return s;
  if (absl::StrContains(text, '?')) {
    return FieldError(spec, absl::StrCat("\"", text, "\": ? stands alone"));
  }
  return ParseList(text, spec, dialect);
}

std::vector<absl::string_view> Fields(absl::string_view text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

bool ValidZoneName(absl::string_view name) {
  if (name.size() > 255 || name == "localtime") return false;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    // IANA names: letters, digits, '_', '-', '+', components starting with a letter. This also
    // keeps absolute paths and ".." away from the zoneinfo loader.
    if (part.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(part[0]))) return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '+') {
        return false;
      }
    }
  }
  return true;
}

absl::StatusOr<absl::TimeZone> LoadZone(absl::string_view name) {
  if (name.empty() || name == "UTC") return absl::UTCTimeZone();
  if (!ValidZoneName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "time zone \"", name, "\": not an IANA time zone name (e.g. America/New_York)"));
  }
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(name, &zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("time zone \"", name, "\": not a known IANA time zone"));
  }
  return zone;
}

struct Rate {
  absl::Duration period;
};

absl::StatusOr<Rate> ParseRate(absl::string_view inner) {
  std::vector<absl::string_view> parts = Fields(inner);
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected rate(value unit), e.g. rate(5 minutes), got ", parts.size(),
                     parts.size() == 1 ? " field" : " fields"));
  }
  absl::string_view value_text = parts[0];
  absl::string_view unit = parts[1];
  if (!AllDigits(value_text)) {
    return absl::InvalidArgumentError(
        absl::StrCat("value: must be a whole number ≥ 1, got \"", value_text, "\""));
  }
  int64_t value = 0;
  for (char c : value_text) {
    value = value * 10 + (c - '0');
    if (value > std::numeric_limits<int32_t>::max()) break;  // too large; stop before overflow
  }
  if (value < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("value: must be a whole number ≥ 1, got \"", value_text, "\""));
  }
  if (value > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("value: ", value_text, " is too large (at most 2147483647)"));
  }
  absl::Duration one;
  absl::string_view singular;
  if (unit == "minute" || unit == "minutes") {
    one = absl::Minutes(1);
    singular = "minute";
  } else if (unit == "hour" || unit == "hours") {
    one = absl::Hours(1);
    singular = "hour";
  } else if (unit == "day" || unit == "days") {
    one = absl::Hours(24);
    singular = "day";
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unit: \"", unit, "\" is not one of minute, minutes, hour, hours, day, days"));
  }
  bool plural = unit.size() != singular.size();
  if (value == 1 && plural) {
    return absl::InvalidArgumentError(
        absl::StrCat("unit: must be singular (", singular, ") when the value is 1"));
  }
  if (value > 1 && !plural) {
    return absl::InvalidArgumentError(
        absl::StrCat("unit: must be plural (", singular, "s) when the value is ", value));
  }
  return Rate{one * value};
}

absl::Status WithContext(absl::string_view what, absl::string_view expression,
                         const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " expression \"", expression, "\": ", status.message()));
}

}  // namespace

absl::StatusOr<Schedule> ParseSchedule(absl::string_view expression, absl::string_view time_zone,
                                       absl::Time rate_anchor) {
  absl::string_view text = absl::StripAsciiWhitespace(expression);
  if (text.empty()) return absl::InvalidArgumentError("schedule expression is empty");

  Schedule schedule;
  schedule.expression_ = std::string(text);
  absl::StatusOr<absl::TimeZone> zone = LoadZone(time_zone);
  if (!zone.ok()) return zone.status();
  schedule.zone_ = *zone;

  const bool is_rate = absl::StartsWith(text, "rate(");
  const bool is_cron = absl::StartsWith(text, "cron(");
  if (is_rate || is_cron) {
    absl::string_view what = is_rate ? "rate" : "cron";
    const size_t close = text.find(')');
    if (close == absl::string_view::npos) {
      return WithContext(what, text, absl::InvalidArgumentError("missing the closing \")\""));
    }
    if (close != text.size() - 1) {
      return WithContext(what, text,
                         absl::InvalidArgumentError(absl::StrCat(
                             "unexpected \"", text.substr(close + 1), "\" after \")\"")));
    }
    absl::string_view inner = text.substr(5, text.size() - 6);
    if (is_rate) {
      if (rate_anchor == absl::InfiniteFuture() || rate_anchor == absl::InfinitePast()) {
        return absl::InvalidArgumentError("rate anchor must be a finite time");
      }
      absl::StatusOr<Rate> rate = ParseRate(inner);
      if (!rate.ok()) return WithContext(what, text, rate.status());
      schedule.kind_ = Schedule::Kind::kRate;
      schedule.period_ = rate->period;
      schedule.anchor_ = rate_anchor;
      return schedule;
    }
    std::vector<absl::string_view> fields = Fields(inner);
    if (fields.size() != 6) {
      return WithContext(
          what, text,
          absl::InvalidArgumentError(absl::StrCat(
              "expected 6 fields (minutes hours day-of-month month day-of-week year), got ",
              fields.size())));
    }
    auto cron = std::make_shared<Schedule::CronFields>();
    const Dialect eb = Dialect::kEventBridge;
    absl::StatusOr<std::vector<bool>> minutes = ParseField(fields[0], kMinutes, eb);
    if (!minutes.ok()) return WithContext(what, text, minutes.status());
    absl::StatusOr<std::vector<bool>> hours = ParseField(fields[1], kHours, eb);
    if (!hours.ok()) return WithContext(what, text, hours.status());
    absl::StatusOr<std::vector<bool>> months = ParseField(fields[3], kMonth, eb);
    if (!months.ok()) return WithContext(what, text, months.status());
    absl::StatusOr<DayRule> days = ParseEventBridgeDays(fields[2], fields[4]);
    if (!days.ok()) return WithContext(what, text, days.status());
    absl::StatusOr<std::vector<bool>> years = ParseField(fields[5], kYear, eb);
    if (!years.ok()) return WithContext(what, text, years.status());
    cron->minutes = *std::move(minutes);
    cron->hours = *std::move(hours);
    cron->months = *std::move(months);
    cron->days = *std::move(days);
    cron->years = *std::move(years);
    schedule.kind_ = Schedule::Kind::kCron;
    schedule.cron_ = std::move(cron);
    return schedule;
  }

  std::vector<absl::string_view> fields = Fields(text);
  if (fields.size() != 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "schedule expression \"", text,
        "\": expected rate(value unit), cron(minutes hours day-of-month month day-of-week "
        "year) or five-field cron (minutes hours day-of-month month day-of-week), got ",
        fields.size(), fields.size() == 1 ? " field" : " fields"));
  }
  const Dialect vixie = Dialect::kVixie;
  auto cron = std::make_shared<Schedule::CronFields>();
  absl::StatusOr<std::vector<bool>> minutes = ParseField(fields[0], kUnixMinutes, vixie);
  if (!minutes.ok()) return WithContext("cron", text, minutes.status());
  absl::StatusOr<std::vector<bool>> hours = ParseField(fields[1], kUnixHours, vixie);
  if (!hours.ok()) return WithContext("cron", text, hours.status());
  absl::StatusOr<std::vector<bool>> dom = ParseField(fields[2], kUnixDayOfMonth, vixie);
  if (!dom.ok()) return WithContext("cron", text, dom.status());
  absl::StatusOr<std::vector<bool>> months = ParseField(fields[3], kUnixMonth, vixie);
  if (!months.ok()) return WithContext("cron", text, months.status());
  absl::StatusOr<std::vector<bool>> dow = ParseField(fields[4], kUnixDayOfWeek, vixie);
  if (!dow.ok()) return WithContext("cron", text, dow.status());
  cron->minutes = *std::move(minutes);
  cron->hours = *std::move(hours);
  cron->months = *std::move(months);
  cron->years = std::vector<bool>(kScheduleMaxYear + 1, false);
  for (int y = kScheduleMinYear; y <= kScheduleMaxYear; ++y) cron->years[y] = true;
  DayRule& rule = cron->days;
  rule.vixie = true;
  rule.dom = DayRule::Dom::kSet;
  rule.dom_days = *std::move(dom);
  rule.dow = DayRule::Dow::kSet;
  for (int v = 0; v <= 6; ++v) rule.dow_days[v] = (*dow)[v];
  if ((*dow)[7]) rule.dow_days[0] = true;  // 7 is Sunday too
  // Vixie sets DOM_STAR/DOW_STAR when the field's first character is '*'.
  rule.dom_star = absl::StartsWith(fields[2], "*");
  rule.dow_star = absl::StartsWith(fields[4], "*");
  schedule.kind_ = Schedule::Kind::kUnixCron;
  schedule.cron_ = std::move(cron);
  return schedule;
}

std::optional<absl::Time> Schedule::Next(absl::Time after) const {
  if (after == absl::InfiniteFuture()) return std::nullopt;
  if (kind_ != Kind::kRate) return NextCron(after);
  const absl::Time first = anchor_ + period_;
  if (after < first) return first;
  // after - anchor ≥ period > 0, so the quotient is the number of ticks at or before `after`.
  absl::Duration remainder;
  const int64_t k = absl::IDivDuration(after - anchor_, period_, &remainder);
  const absl::Time next = anchor_ + period_ * (k + 1);  // saturates to InfiniteFuture
  if (next == absl::InfiniteFuture()) return std::nullopt;
  return next;
}

// Walks local civil minutes from the one after `after`, skipping whole years, months, days
// and hours that cannot match, so each call takes at most a few thousand steps. Mapping each
// matching civil minute to absolute time with the pre-transition offset (the first occurrence
// of a repeated time) keeps ticks increasing with civil time; skipped civil times are dropped.
std::optional<absl::Time> Schedule::NextCron(absl::Time after) const {
  const CronFields& f = *cron_;
  int year = kScheduleMinYear, month = 1, day = 1, hour = 0, minute = 0;
  if (after != absl::InfinitePast()) {
    const absl::CivilSecond local = zone_.At(after).cs;
    if (local.year() > kScheduleMaxYear) return std::nullopt;
    if (local.year() >= kScheduleMinYear) {
      // The minute containing `after` ticks at or before it: start with the next one.
      const absl::CivilMinute start = absl::CivilMinute(local) + 1;
      year = static_cast<int>(start.year());
      month = start.month();
      day = start.day();
      hour = start.hour();
      minute = start.minute();
    }
  }
  auto next_month = [&] {
    day = 1, hour = 0, minute = 0;
    if (++month > 12) month = 1, ++year;
  };
  std::vector<bool> days;  // of (days_year, days_month)
  int days_year = 0, days_month = 0;
  while (year <= kScheduleMaxYear) {
    if (!f.years[year]) {
      int y = NextMember(f.years, year + 1, kScheduleMaxYear);
      if (y < 0) return std::nullopt;
      year = y, month = 1, day = 1, hour = 0, minute = 0;
      continue;
    }
    if (!f.months[month]) {
      int m = NextMember(f.months, month + 1, 12);
      if (m < 0) {
        month = 12;
        next_month();
      } else {
        month = m, day = 1, hour = 0, minute = 0;
      }
      continue;
    }
    if (days_year != year || days_month != month) {
      days = f.days.DaysOf(year, month);
      days_year = year, days_month = month;
    }
    int d = NextMember(days, day, 31);
    if (d < 0) {
      next_month();
      continue;
    }
    if (d != day) day = d, hour = 0, minute = 0;
    if (!f.hours[hour]) {
      int h = NextMember(f.hours, hour + 1, 23);
      if (h < 0) {
        ++day, hour = 0, minute = 0;  // past the month's end, NextMember finds no day
        continue;
      }
      hour = h, minute = 0;
    }
    int m = NextMember(f.minutes, minute, 59);
    if (m < 0) {
      ++hour, minute = 0;
      if (hour > 23) ++day, hour = 0;
      continue;
    }
    minute = m;
    const absl::TimeZone::TimeInfo info =
        zone_.At(absl::CivilSecond(year, month, day, hour, minute, 0));
    if (info.kind != absl::TimeZone::TimeInfo::SKIPPED && info.pre > after) return info.pre;
    // Skipped by DST, or the second pass of a repeated hour: try the next minute.
    if (++minute > 59) {
      minute = 0;
      if (++hour > 23) ++day, hour = 0;
    }
  }
  return std::nullopt;
}

std::vector<absl::Time> Schedule::Between(absl::Time from, absl::Time to, int limit) const {
  std::vector<absl::Time> ticks;
  absl::Time cursor = from;
  while (static_cast<int>(ticks.size()) < limit) {
    std::optional<absl::Time> next = Next(cursor);
    if (!next.has_value() || *next > to) break;
    ticks.push_back(*next);
    cursor = *next;
  }
  return ticks;
}

std::string TickId(absl::string_view function, absl::Time scheduled) {
  return absl::StrCat(function, "@",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", scheduled, absl::UTCTimeZone()));
}

}  // namespace wisp
