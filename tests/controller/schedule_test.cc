// Tests for controller/schedule.h: parsing rate(…), cron(…) and five-field cron with their
// error messages, the ticks each construct fires at (L, W, #, ranges, steps, names, years,
// Vixie's day rule), time zones and DST, Between for catching up, and TickId.
#include "controller/schedule.h"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/eventually.h"

namespace wisp {
namespace {

using testing::T;

absl::TimeZone Zone(absl::string_view name) {
  absl::TimeZone zone;
  if (name.empty()) return absl::UTCTimeZone();
  if (!absl::LoadTimeZone(name, &zone)) ADD_FAILURE() << "no time zone " << name;
  return zone;
}

// Local RFC 3339 with the offset, so DST cases read as wall-clock times (Z for UTC).
std::string Local(absl::Time t, absl::string_view zone) {
  if (zone.empty() || zone == "UTC") {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
  }
  return absl::FormatTime(absl::RFC3339_full, t, Zone(zone));
}

// The first `n` ticks after `after` by repeated Next, "none" once there are no more.
std::vector<std::string> NextTicks(const Schedule& schedule, absl::Time after, int n,
                                   absl::string_view zone) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::optional<absl::Time> next = schedule.Next(after);
    if (!next.has_value()) {
      out.push_back("none");
      break;
    }
    out.push_back(Local(*next, zone));
    after = *next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ParseSchedule: accepted forms

TEST(ParseScheduleTest, AcceptsEachForm) {
  struct Case {
    std::string name;
    std::string expression;
    std::string time_zone;
    Schedule::Kind want_kind;
    std::string want_time_zone;
  };
  const Case cases[] = {
      {"rate minute", "rate(1 minute)", "UTC", Schedule::Kind::kRate, "UTC"},
      {"rate minutes", "rate(5 minutes)", "UTC", Schedule::Kind::kRate, "UTC"},
      {"rate hour", "rate(1 hour)", "UTC", Schedule::Kind::kRate, "UTC"},
      {"rate hours", "rate(12 hours)", "UTC", Schedule::Kind::kRate, "UTC"},
      {"rate day", "rate(1 day)", "UTC", Schedule::Kind::kRate, "UTC"},
      {"rate days", "rate(7 days)", "UTC", Schedule::Kind::kRate, "UTC"},
      {"rate spaces inside", "rate(  5   minutes )", "UTC", Schedule::Kind::kRate, "UTC"},
      {"surrounding whitespace", "  rate(5 minutes)\n", "UTC", Schedule::Kind::kRate, "UTC"},
      {"cron daily", "cron(0 12 * * ? *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron weekdays by name", "cron(0 18 ? * MON-FRI *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron lower-case names", "cron(0 18 ? jan-mar mon,fri *)", "UTC", Schedule::Kind::kCron,
       "UTC"},
      {"cron steps", "cron(0/15 */2 1/3 */4 ? 2024/2)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron range step", "cron(5-50/5 8-17/3 * * ? *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron L", "cron(0 0 L * ? *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron LW", "cron(0 0 LW * ? *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron nW", "cron(0 0 15W * ? *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron lower-case lw", "cron(0 0 lw * ? *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron dow L", "cron(0 0 ? * L *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron dow nL", "cron(0 0 ? * 5L *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron dow nameL", "cron(0 0 ? * THUL *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron dow #", "cron(0 0 ? * 3#2 *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron dow name#", "cron(0 0 ? * TUE#2 *)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron year range", "cron(0 0 1 1 ? 1970-2199)", "UTC", Schedule::Kind::kCron, "UTC"},
      {"cron tabs and padding", "cron( 0\t12 * *  ? * )", "UTC", Schedule::Kind::kCron, "UTC"},
      {"unix every 5 minutes", "*/5 * * * *", "UTC", Schedule::Kind::kUnixCron, "UTC"},
      {"unix names", "0 9 * jan-jun Mon-Fri", "UTC", Schedule::Kind::kUnixCron, "UTC"},
      {"unix sunday 7", "0 0 * * 7", "UTC", Schedule::Kind::kUnixCron, "UTC"},
      {"unix range step", "0 0-23/6 1-31/2 * *", "UTC", Schedule::Kind::kUnixCron, "UTC"},
      {"time zone", "cron(0 12 * * ? *)", "America/New_York", Schedule::Kind::kCron,
       "America/New_York"},
      {"three-part zone", "0 12 * * *", "America/Argentina/Buenos_Aires", Schedule::Kind::kUnixCron,
       "America/Argentina/Buenos_Aires"},
      {"Etc zone with sign", "0 12 * * *", "Etc/GMT+5", Schedule::Kind::kUnixCron, "Etc/GMT+5"},
      {"empty zone is UTC", "0 12 * * *", "", Schedule::Kind::kUnixCron, "UTC"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Schedule> schedule = ParseSchedule(c.expression, c.time_zone);
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    EXPECT_EQ(schedule->kind(), c.want_kind);
    EXPECT_EQ(schedule->time_zone(), c.want_time_zone);
  }
}

TEST(ParseScheduleTest, KeepsTheTrimmedExpressionAndTheRate) {
  absl::StatusOr<Schedule> schedule =
      ParseSchedule(" rate(90 minutes) ", "Europe/Berlin", T("2024-01-01T10:00:30Z"));
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  EXPECT_EQ(schedule->expression(), "rate(90 minutes)");
  EXPECT_EQ(schedule->rate_period(), absl::Minutes(90));
  EXPECT_EQ(schedule->rate_anchor(), T("2024-01-01T10:00:30Z"));
  EXPECT_EQ(ParseSchedule("rate(7 days)")->rate_period(), absl::Hours(7 * 24));
}

// ---------------------------------------------------------------------------------------------
// ParseSchedule: rejected expressions, with the whole message

TEST(ParseScheduleTest, RejectsWithAMessageNamingTheField) {
  struct Case {
    std::string name;
    std::string expression;
    std::string time_zone;
    std::string want_message;
  };
  const Case cases[] = {
      // Shape.
      {"empty", "", "UTC", "schedule expression is empty"},
      {"blank", "  \t", "UTC", "schedule expression is empty"},
      {"prose", "every 5 minutes", "UTC",
       "schedule expression \"every 5 minutes\": expected rate(value unit), cron(minutes hours "
       "day-of-month month day-of-week year) or five-field cron (minutes hours day-of-month "
       "month day-of-week), got 3 fields"},
      {"six fields without cron()", "0 12 * * ? *", "UTC",
       "schedule expression \"0 12 * * ? *\": expected rate(value unit), cron(minutes hours "
       "day-of-month month day-of-week year) or five-field cron (minutes hours day-of-month "
       "month day-of-week), got 6 fields"},
      {"upper-case keyword", "RATE(5 minutes)", "UTC",
       "schedule expression \"RATE(5 minutes)\": expected rate(value unit), cron(minutes hours "
       "day-of-month month day-of-week year) or five-field cron (minutes hours day-of-month "
       "month day-of-week), got 2 fields"},
      {"unclosed", "rate(5 minutes", "UTC",
       "rate expression \"rate(5 minutes\": missing the closing \")\""},
      {"text after )", "cron(0 12 * * ? *) UTC", "UTC",
       "cron expression \"cron(0 12 * * ? *) UTC\": unexpected \" UTC\" after \")\""},

      // rate(value unit)
      {"rate empty", "rate()", "UTC",
       "rate expression \"rate()\": expected rate(value unit), e.g. rate(5 minutes), got 0 "
       "fields"},
      {"rate no unit", "rate(5)", "UTC",
       "rate expression \"rate(5)\": expected rate(value unit), e.g. rate(5 minutes), got 1 "
       "field"},
      {"rate zero", "rate(0 minutes)", "UTC",
       "rate expression \"rate(0 minutes)\": value: must be a whole number ≥ 1, got \"0\""},
      {"rate negative", "rate(-5 minutes)", "UTC",
       "rate expression \"rate(-5 minutes)\": value: must be a whole number ≥ 1, got \"-5\""},
      {"rate fraction", "rate(1.5 hours)", "UTC",
       "rate expression \"rate(1.5 hours)\": value: must be a whole number ≥ 1, got \"1.5\""},
      {"rate too large", "rate(3000000000 minutes)", "UTC",
       "rate expression \"rate(3000000000 minutes)\": value: 3000000000 is too large (at most "
       "2147483647)"},
      {"rate plural needed", "rate(5 hour)", "UTC",
       "rate expression \"rate(5 hour)\": unit: must be plural (hours) when the value is 5"},
      {"rate singular needed", "rate(1 hours)", "UTC",
       "rate expression \"rate(1 hours)\": unit: must be singular (hour) when the value is 1"},
      {"rate seconds", "rate(30 seconds)", "UTC",
       "rate expression \"rate(30 seconds)\": unit: \"seconds\" is not one of minute, "
       "minutes, hour, hours, day, days"},
      {"rate capitalised unit", "rate(5 Minutes)", "UTC",
       "rate expression \"rate(5 Minutes)\": unit: \"Minutes\" is not one of minute, "
       "minutes, hour, hours, day, days"},

      // cron(…): field count and the ? rule
      {"cron five fields", "cron(0 12 * * ?)", "UTC",
       "cron expression \"cron(0 12 * * ?)\": expected 6 fields (minutes hours day-of-month "
       "month day-of-week year), got 5"},
      {"cron both days given", "cron(0 12 * * * *)", "UTC",
       "cron expression \"cron(0 12 * * * *)\": day-of-month and day-of-week: exactly one of "
       "them must be ? (got \"*\" and \"*\"; e.g. cron(0 12 * * ? *) or cron(0 12 ? * "
       "MON-FRI *))"},
      {"cron both days ?", "cron(0 12 ? * ? *)", "UTC",
       "cron expression \"cron(0 12 ? * ? *)\": day-of-month and day-of-week: exactly one of "
       "them must be ? (got \"?\" and \"?\"; e.g. cron(0 12 * * ? *) or cron(0 12 ? * "
       "MON-FRI *))"},
      {"cron dom and dow values", "cron(0 12 1 * MON *)", "UTC",
       "cron expression \"cron(0 12 1 * MON *)\": day-of-month and day-of-week: exactly one of "
       "them must be ? (got \"1\" and \"MON\"; e.g. cron(0 12 * * ? *) or cron(0 12 ? * "
       "MON-FRI *))"},

      // cron(…): ranges of each field
      {"minutes 60", "cron(60 12 * * ? *)", "UTC",
       "cron expression \"cron(60 12 * * ? *)\": minutes: 60 is out of range 0-59"},
      {"hours 24", "cron(0 24 * * ? *)", "UTC",
       "cron expression \"cron(0 24 * * ? *)\": hours: 24 is out of range 0-23"},
      {"day-of-month 0", "cron(0 12 0 * ? *)", "UTC",
       "cron expression \"cron(0 12 0 * ? *)\": day-of-month: 0 is out of range 1-31"},
      {"day-of-month 32", "cron(0 12 1-32 * ? *)", "UTC",
       "cron expression \"cron(0 12 1-32 * ? *)\": day-of-month: 32 is out of range 1-31"},
      {"month 13", "cron(0 12 * 13 ? *)", "UTC",
       "cron expression \"cron(0 12 * 13 ? *)\": month: 13 is out of range 1-12 (JAN-DEC)"},
      {"month long name", "cron(0 12 * JANUARY ? *)", "UTC",
       "cron expression \"cron(0 12 * JANUARY ? *)\": month: \"JANUARY\" is not a value in "
       "1-12 (JAN-DEC)"},
      {"day-of-week 0 (Unix Sunday)", "cron(0 12 ? * 0 *)", "UTC",
       "cron expression \"cron(0 12 ? * 0 *)\": day-of-week: 0 is out of range 1-7 (SUN-SAT)"},
      {"day-of-week 8", "cron(0 12 ? * 8 *)", "UTC",
       "cron expression \"cron(0 12 ? * 8 *)\": day-of-week: 8 is out of range 1-7 (SUN-SAT)"},
      {"year 1969", "cron(0 12 * * ? 1969)", "UTC",
       "cron expression \"cron(0 12 * * ? 1969)\": year: 1969 is out of range 1970-2199"},
      {"year 2200", "cron(0 12 * * ? 2100-2200)", "UTC",
       "cron expression \"cron(0 12 * * ? 2100-2200)\": year: 2200 is out of range "
       "1970-2199"},

      // cron(…): lists, ranges and steps
      {"reversed range", "cron(0 22-2 * * ? *)", "UTC",
       "cron expression \"cron(0 22-2 * * ? *)\": hours: the range \"22-2\" is reversed "
       "(ranges do not wrap around)"},
      {"step zero", "cron(0/0 12 * * ? *)", "UTC",
       "cron expression \"cron(0/0 12 * * ? *)\": minutes: the step in \"0/0\" must be a "
       "whole number 1-60"},
      {"step missing", "cron(0/ 12 * * ? *)", "UTC",
       "cron expression \"cron(0/ 12 * * ? *)\": minutes: the step in \"0/\" must be a whole "
       "number 1-60"},
      {"empty list item", "cron(0 12 1,,15 * ? *)", "UTC",
       "cron expression \"cron(0 12 1,,15 * ? *)\": day-of-month: \"1,,15\" has an empty list "
       "item"},
      {"open range", "cron(0 12 1- * ? *)", "UTC",
       "cron expression \"cron(0 12 1- * ? *)\": day-of-month: \"1-\" is missing a value"},
      {"? in minutes", "cron(? 12 * * ? *)", "UTC",
       "cron expression \"cron(? 12 * * ? *)\": minutes: \"?\" is not allowed here "
       "(wildcards: , - * /)"},
      {"# in year", "cron(0 12 * * ? 2024#1)", "UTC",
       "cron expression \"cron(0 12 * * ? 2024#1)\": year: \"#\" is not allowed here "
       "(wildcards: , - * /)"},
      {"/ in day-of-week", "cron(0 12 ? * 1/2 *)", "UTC",
       "cron expression \"cron(0 12 ? * 1/2 *)\": day-of-week: \"/\" is not allowed here "
       "(wildcards: , - * ? L #)"},
      {"L in hours", "cron(0 L * * ? *)", "UTC",
       "cron expression \"cron(0 L * * ? *)\": hours: \"L\" is not a value in 0-23"},
      {"? inside a list", "cron(0 12 1,? * MON *)", "UTC",
       "cron expression \"cron(0 12 1,? * MON *)\": day-of-month: \"1,?\": ? stands alone"},

      // cron(…): L, W and #
      {"L-3 (Quartz, undocumented)", "cron(0 12 L-3 * ? *)", "UTC",
       "cron expression \"cron(0 12 L-3 * ? *)\": day-of-month: \"L-3\": L and W stand alone, "
       "as L, LW or <day>W (e.g. 15W)"},
      {"W in a list", "cron(0 12 1,15W * ? *)", "UTC",
       "cron expression \"cron(0 12 1,15W * ? *)\": day-of-month: \"1,15W\": L and W stand "
       "alone, as L, LW or <day>W (e.g. 15W)"},
      {"W alone", "cron(0 12 W * ? *)", "UTC",
       "cron expression \"cron(0 12 W * ? *)\": day-of-month: \"W\": L and W stand alone, as "
       "L, LW or <day>W (e.g. 15W)"},
      {"32W", "cron(0 12 32W * ? *)", "UTC",
       "cron expression \"cron(0 12 32W * ? *)\": day-of-month: \"32W\": the day before W "
       "must be 1-31"},
      {"two # expressions", "cron(0 12 ? * 3#1,6#3 *)", "UTC",
       "cron expression \"cron(0 12 ? * 3#1,6#3 *)\": day-of-week: \"3#1,6#3\": # stands "
       "alone, as one <weekday>#<n> (e.g. 3#2, the second Tuesday)"},
      {"#6", "cron(0 12 ? * 3#6 *)", "UTC",
       "cron expression \"cron(0 12 ? * 3#6 *)\": day-of-week: \"3#6\": the number after # "
       "must be 1-5"},
      {"#0", "cron(0 12 ? * 3#0 *)", "UTC",
       "cron expression \"cron(0 12 ? * 3#0 *)\": day-of-week: \"3#0\": the number after # "
       "must be 1-5"},
      {"#8 weekday", "cron(0 12 ? * 8#1 *)", "UTC",
       "cron expression \"cron(0 12 ? * 8#1 *)\": day-of-week: 8 is out of range 1-7 "
       "(SUN-SAT)"},
      {"nL in a list", "cron(0 12 ? * 5L,6 *)", "UTC",
       "cron expression \"cron(0 12 ? * 5L,6 *)\": day-of-week: \"5L,6\": L stands alone, as "
       "L or <weekday>L (e.g. 5L, the last Thursday)"},
      {"W in day-of-week", "cron(0 12 ? * 2W *)", "UTC",
       "cron expression \"cron(0 12 ? * 2W *)\": day-of-week: \"2W\" is not a value in 1-7 "
       "(SUN-SAT)"},

      // Five-field cron.
      {"unix day-of-week 8", "0 12 * * 8", "UTC",
       "cron expression \"0 12 * * 8\": day-of-week: 8 is out of range 0-7 (SUN-SAT; 0 and 7 "
       "are SUN)"},
      {"unix minutes 60", "60 * * * *", "UTC",
       "cron expression \"60 * * * *\": minutes: 60 is out of range 0-59"},
      {"unix bare a/n", "5/10 * * * *", "UTC",
       "cron expression \"5/10 * * * *\": minutes: \"5/10\": a step needs a range or * "
       "(5-59/10)"},
      {"unix ?", "0 12 ? * *", "UTC",
       "cron expression \"0 12 ? * *\": day-of-month: \"?\" is not allowed here (wildcards: , "
       "- * /); ?, L, W and # need the cron(...) form"},
      {"unix #", "0 12 * * 1#2", "UTC",
       "cron expression \"0 12 * * 1#2\": day-of-week: \"#\" is not allowed here (wildcards: "
       ", - * /); ?, L, W and # need the cron(...) form"},
      {"unix L", "0 12 L * *", "UTC",
       "cron expression \"0 12 L * *\": day-of-month: \"L\" is not a value in 1-31"},
      {"unix reversed range", "0 12 * * FRI-MON", "UTC",
       "cron expression \"0 12 * * FRI-MON\": day-of-week: the range \"FRI-MON\" is reversed "
       "(ranges do not wrap around)"},

      // Time zones.
      {"unknown zone", "cron(0 12 * * ? *)", "Mars/Olympus",
       "time zone \"Mars/Olympus\": not a known IANA time zone"},
      {"absolute path zone", "cron(0 12 * * ? *)", "/etc/passwd",
       "time zone \"/etc/passwd\": not an IANA time zone name (e.g. America/New_York)"},
      {"dot-dot zone", "cron(0 12 * * ? *)", "../../etc/passwd",
       "time zone \"../../etc/passwd\": not an IANA time zone name (e.g. America/New_York)"},
      {"localtime zone", "cron(0 12 * * ? *)", "localtime",
       "time zone \"localtime\": not an IANA time zone name (e.g. America/New_York)"},
      {"zone with a space", "cron(0 12 * * ? *)", "America/New York",
       "time zone \"America/New York\": not an IANA time zone name (e.g. America/New_York)"},
      {"POSIX TZ string", "cron(0 12 * * ? *)", "EST5EDT,M3.2.0,M11.1.0",
       "time zone \"EST5EDT,M3.2.0,M11.1.0\": not an IANA time zone name (e.g. "
       "America/New_York)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Schedule> schedule = ParseSchedule(c.expression, c.time_zone);
    ASSERT_FALSE(schedule.ok()) << c.expression << " parsed";
    EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(schedule.status().message(), c.want_message);
  }
}

TEST(ParseScheduleTest, RejectsAnInfiniteRateAnchor) {
  absl::StatusOr<Schedule> schedule =
      ParseSchedule("rate(5 minutes)", "UTC", absl::InfiniteFuture());
  EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(schedule.status().message(), "rate anchor must be a finite time");
}

// ---------------------------------------------------------------------------------------------
// Next: each construct

struct TickCase {
  std::string name;
  std::string expression;
  std::string time_zone;  // also the zone the expected ticks are written in
  std::string after;
  std::vector<std::string> want;  // the next ticks; "none" when Next returns nullopt
};

void RunTickCases(const std::vector<TickCase>& cases) {
  for (const TickCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.name, ": ", c.expression, " in ", c.time_zone, " after ", c.after));
    absl::StatusOr<Schedule> schedule = ParseSchedule(c.expression, c.time_zone);
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    EXPECT_EQ(NextTicks(*schedule, T(c.after), static_cast<int>(c.want.size()), c.time_zone),
              c.want);
  }
}

TEST(ScheduleNextTest, Rate) {
  RunTickCases({
      // Anchored at the Unix epoch by default: multiples of the period since 1970.
      {"every 5 minutes",
       "rate(5 minutes)",
       "UTC",
       "2024-01-01T00:02:00Z",
       {"2024-01-01T00:05:00Z", "2024-01-01T00:10:00Z", "2024-01-01T00:15:00Z"}},
      {"strictly after a tick",
       "rate(1 minute)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"}},
      {"90 minutes",
       "rate(90 minutes)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-01T01:30:00Z", "2024-01-01T03:00:00Z"}},
      // A day is 24 hours, whatever the zone says: the wall-clock hour moves with DST.
      {"1 day across spring-forward",
       "rate(1 day)",
       "America/New_York",
       "2024-03-09T12:00:00-05:00",
       {"2024-03-09T19:00:00-05:00", "2024-03-10T20:00:00-04:00"}},
      {"1 hour across fall-back",
       "rate(1 hour)",
       "America/New_York",
       "2024-11-03T00:30:00-04:00",
       {"2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"}},
  });
}

TEST(ScheduleNextTest, RateIsAnchored) {
  struct Case {
    std::string name;
    std::string after;
    std::string want;
  };
  // EventBridge starts a rate when the rule is created: the first tick is one period later.
  const absl::Time anchor = T("2024-01-01T10:00:30Z");
  absl::StatusOr<Schedule> schedule = ParseSchedule("rate(2 hours)", "UTC", anchor);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  const Case cases[] = {
      {"long before the anchor", "2020-01-01T00:00:00Z", "2024-01-01T12:00:30Z"},
      {"at the anchor", "2024-01-01T10:00:30Z", "2024-01-01T12:00:30Z"},
      {"between ticks", "2024-01-01T13:00:00Z", "2024-01-01T14:00:30Z"},
      {"at a tick", "2024-01-01T14:00:30Z", "2024-01-01T16:00:30Z"},
      {"just before a tick", "2024-01-01T16:00:29.999Z", "2024-01-01T16:00:30Z"},
      {"a year later", "2025-01-01T00:00:00Z", "2025-01-01T00:00:30Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(schedule->Next(T(c.after)), T(c.want));
  }
  EXPECT_EQ(schedule->Next(absl::InfinitePast()), T("2024-01-01T12:00:30Z"));
  EXPECT_EQ(schedule->Next(absl::InfiniteFuture()), std::nullopt);
}

TEST(ScheduleNextTest, EventBridgeCron) {
  RunTickCases({
      // Plain values, *, lists, ranges, steps and names.
      {"daily at noon",
       "cron(0 12 * * ? *)",
       "UTC",
       "2024-01-01T12:00:00Z",
       {"2024-01-02T12:00:00Z", "2024-01-03T12:00:00Z"}},
      {"seconds are floored",
       "cron(* * * * ? *)",
       "UTC",
       "2024-01-01T00:00:30Z",
       {"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"}},
      {"every 15 minutes",
       "cron(0/15 * * * ? *)",
       "UTC",
       "2024-01-01T00:50:00Z",
       {"2024-01-01T01:00:00Z", "2024-01-01T01:15:00Z", "2024-01-01T01:30:00Z"}},
      {"1/10 is 1, 11, 21, …",
       "cron(1/10 * * * ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-01T00:01:00Z", "2024-01-01T00:11:00Z", "2024-01-01T00:21:00Z",
        "2024-01-01T00:31:00Z", "2024-01-01T00:41:00Z", "2024-01-01T00:51:00Z",
        "2024-01-01T01:01:00Z"}},
      {"range with step",
       "cron(10-30/10 9 * * ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-01T09:10:00Z", "2024-01-01T09:20:00Z", "2024-01-01T09:30:00Z",
        "2024-01-02T09:10:00Z"}},
      {"weekdays at 18:00",
       "cron(0 18 ? * MON-FRI *)",
       "UTC",
       "2024-01-05T18:00:00Z",
       {"2024-01-08T18:00:00Z", "2024-01-09T18:00:00Z"}},
      {"every 5 minutes in office hours",
       "cron(0/5 8-17 ? * MON-FRI *)",
       "UTC",
       "2024-01-05T17:50:00Z",
       {"2024-01-05T17:55:00Z", "2024-01-08T08:00:00Z"}},
      {"first of the month",
       "cron(0 8 1 * ? *)",
       "UTC",
       "2024-01-15T00:00:00Z",
       {"2024-02-01T08:00:00Z", "2024-03-01T08:00:00Z"}},
      {"lists and lower-case months",
       "cron(0 0 1,15 JAN,jul ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-15T00:00:00Z", "2024-07-01T00:00:00Z", "2024-07-15T00:00:00Z",
        "2025-01-01T00:00:00Z"}},
      {"day-of-month step from 1",
       "cron(0 0 */10 * ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-11T00:00:00Z", "2024-01-21T00:00:00Z", "2024-01-31T00:00:00Z",
        "2024-02-01T00:00:00Z"}},
      {"31 skips short months",
       "cron(0 0 31 * ? *)",
       "UTC",
       "2024-01-31T00:00:00Z",
       {"2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z"}},
      {"month step",
       "cron(0 0 1 */4 ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-05-01T00:00:00Z", "2024-09-01T00:00:00Z", "2025-01-01T00:00:00Z"}},
      // Day-of-week: 1 = SUN … 7 = SAT.
      {"1 is Sunday",
       "cron(0 0 ? * 1 *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"}},
      {"7 is Saturday",
       "cron(0 0 ? * 7 *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-06T00:00:00Z", "2024-01-13T00:00:00Z"}},
      {"weekend by name",
       "cron(0 0 ? * SUN,SAT *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z", "2024-01-13T00:00:00Z"}},
      {"dow * with dom ?",
       "cron(0 0 ? * * *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"}},
      // L.
      {"L: last day, Feb 29 in a leap year",
       "cron(0 0 L * ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-31T00:00:00Z", "2024-02-29T00:00:00Z", "2024-03-31T00:00:00Z",
        "2024-04-30T00:00:00Z"}},
      {"L in February",
       "cron(0 0 L 2 ? *)",
       "UTC",
       "2023-01-01T00:00:00Z",
       {"2023-02-28T00:00:00Z", "2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"}},
      {"L in February 2100 (not a leap year)",
       "cron(0 0 L 2 ? *)",
       "UTC",
       "2099-03-01T00:00:00Z",
       {"2100-02-28T00:00:00Z", "2101-02-28T00:00:00Z"}},
      {"day-of-week L alone is Saturday",
       "cron(0 0 ? * L *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-06T00:00:00Z", "2024-01-13T00:00:00Z"}},
      {"6L: last Friday",
       "cron(0 10 ? * 6L *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-26T10:00:00Z", "2024-02-23T10:00:00Z", "2024-03-29T10:00:00Z"}},
      {"THUL: last Thursday",
       "cron(0 10 ? * THUL *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-25T10:00:00Z", "2024-02-29T10:00:00Z", "2024-03-28T10:00:00Z"}},
      // W.
      {"LW: last weekday",
       "cron(0 0 LW * ? *)",
       "UTC",
       "2024-03-01T00:00:00Z",
       {"2024-03-29T00:00:00Z",    // Mar 31 is a Sunday
        "2024-04-30T00:00:00Z",    // Tuesday
        "2024-05-31T00:00:00Z",    // Friday
        "2024-06-28T00:00:00Z",    // Jun 30 is a Sunday
        "2024-07-31T00:00:00Z",    // Wednesday
        "2024-08-30T00:00:00Z"}},  // Aug 31 is a Saturday
      {"15W",
       "cron(0 0 15W * ? *)",
       "UTC",
       "2024-06-01T00:00:00Z",
       {"2024-06-14T00:00:00Z",    // Jun 15 is a Saturday: Friday
        "2024-07-15T00:00:00Z",    // Monday
        "2024-08-15T00:00:00Z",    // Thursday
        "2024-09-16T00:00:00Z"}},  // Sep 15 is a Sunday: Monday
      {"1W never goes back a month",
       "cron(0 0 1W * ? *)",
       "UTC",
       "2024-05-15T00:00:00Z",
       {"2024-06-03T00:00:00Z",    // Jun 1 is a Saturday: Monday the 3rd, not May 31
        "2024-07-01T00:00:00Z",    // Monday
        "2024-08-01T00:00:00Z",    // Thursday
        "2024-09-02T00:00:00Z"}},  // Sep 1 is a Sunday: Monday
      {"31W: month end, none in 30-day months",
       "cron(0 0 31W * ? *)",
       "UTC",
       "2024-03-01T00:00:00Z",
       {"2024-03-29T00:00:00Z",    // Mar 31 is a Sunday: Friday, not April 1
        "2024-05-31T00:00:00Z",    // Friday; no April
        "2024-07-31T00:00:00Z",    // Wednesday; no June
        "2024-08-30T00:00:00Z"}},  // Aug 31 is a Saturday: Friday
      {"29W in February",
       "cron(0 0 29W 2 ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"}},  // Thursday; Tuesday
      {"30W in February never fires",
       "cron(0 0 30W 2 ? *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"none"}},
      // #.
      {"3#2: second Tuesday",
       "cron(0 0 ? * 3#2 *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-09T00:00:00Z", "2024-02-13T00:00:00Z", "2024-03-12T00:00:00Z"}},
      {"MON#1: first Monday",
       "cron(30 9 ? * MON#1 *)",
       "UTC",
       "2024-01-01T10:00:00Z",
       {"2024-02-05T09:30:00Z", "2024-03-04T09:30:00Z"}},
      {"6#5: only months with a fifth Friday",
       "cron(0 0 ? * 6#5 *)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-03-29T00:00:00Z", "2024-05-31T00:00:00Z", "2024-08-30T00:00:00Z",
        "2024-11-29T00:00:00Z"}},
      {"5#5 in February: leap years whose Feb 1 is a Thursday",
       "cron(0 0 ? 2 5#5 *)",
       "UTC",
       "2000-01-01T00:00:00Z",
       {"2024-02-29T00:00:00Z", "2052-02-29T00:00:00Z"}},
      // Leap years.
      {"Feb 29",
       "cron(0 0 29 2 ? *)",
       "UTC",
       "2023-01-01T00:00:00Z",
       {"2024-02-29T00:00:00Z", "2028-02-29T00:00:00Z"}},
      {"Feb 29 skips 2100",
       "cron(0 0 29 2 ? *)",
       "UTC",
       "2096-03-01T00:00:00Z",
       {"2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z"}},
      {"Feb 29 in 2000 (divisible by 400)",
       "cron(0 0 29 2 ? 1999-2001)",
       "UTC",
       "1990-01-01T00:00:00Z",
       {"2000-02-29T00:00:00Z", "none"}},
      // Years.
      {"year list",
       "cron(0 0 1 1 ? 2025,2027)",
       "UTC",
       "2024-06-01T00:00:00Z",
       {"2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "none"}},
      {"year step",
       "cron(0 0 1 1 ? 2030/50)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2030-01-01T00:00:00Z", "2080-01-01T00:00:00Z", "2130-01-01T00:00:00Z",
        "2180-01-01T00:00:00Z", "none"}},
      {"last year 2199",
       "cron(0 0 1 1 ? 2199)",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2199-01-01T00:00:00Z", "none"}},
      {"past the year range", "cron(0 0 1 1 ? 2020-2022)", "UTC", "2022-01-01T00:00:00Z", {"none"}},
      {"* stops after 2199",
       "cron(59 23 31 12 ? *)",
       "UTC",
       "2198-06-01T00:00:00Z",
       {"2198-12-31T23:59:00Z", "2199-12-31T23:59:00Z", "none"}},
      {"before 1970 starts in 1970",
       "cron(0 0 1 1 ? *)",
       "UTC",
       "1900-01-01T00:00:00Z",
       {"1970-01-01T00:00:00Z", "1971-01-01T00:00:00Z"}},
      {"after 2199", "cron(* * * * ? *)", "UTC", "2200-01-01T00:00:00Z", {"none"}},
  });
}

TEST(ScheduleNextTest, FiveFieldCron) {
  RunTickCases({
      {"every 15 minutes",
       "*/15 * * * *",
       "UTC",
       "2024-01-01T00:50:00Z",
       {"2024-01-01T01:00:00Z", "2024-01-01T01:15:00Z"}},
      {"weekdays at 9",
       "0 9 * * 1-5",
       "UTC",
       "2024-01-05T09:00:00Z",
       {"2024-01-08T09:00:00Z", "2024-01-09T09:00:00Z"}},
      {"every minute, seconds floored",
       "* * * * *",
       "UTC",
       "2024-01-01T00:00:30Z",
       {"2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"}},
      {"0 is Sunday",
       "0 0 * * 0",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"}},
      {"7 is Sunday",
       "0 0 * * 7",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"}},
      {"SUN is Sunday",
       "0 0 * * sun",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"}},
      {"5-7 is Friday to Sunday",
       "0 0 * * 5-7",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z",
        "2024-01-12T00:00:00Z"}},
      {"month names",
       "0 12 1 JAN,feb *",
       "UTC",
       "2024-01-15T00:00:00Z",
       {"2024-02-01T12:00:00Z", "2025-01-01T12:00:00Z"}},
      {"range step",
       "0 0-23/6 * * *",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-01T06:00:00Z", "2024-01-01T12:00:00Z", "2024-01-01T18:00:00Z",
        "2024-01-02T00:00:00Z"}},
      // Vixie's day rule: both restricted → either matches.
      {"13th OR Friday",
       "0 0 13 * 5",
       "UTC",
       "2024-09-01T00:00:00Z",
       {"2024-09-06T00:00:00Z", "2024-09-13T00:00:00Z", "2024-09-20T00:00:00Z",
        "2024-09-27T00:00:00Z", "2024-10-04T00:00:00Z", "2024-10-11T00:00:00Z",
        "2024-10-13T00:00:00Z",  // a Sunday: the 13th alone
        "2024-10-18T00:00:00Z"}},
      {"Feb 29 OR a Monday in February",
       "0 0 29 2 1",
       "UTC",
       "2025-01-01T00:00:00Z",
       {"2025-02-03T00:00:00Z", "2025-02-10T00:00:00Z", "2025-02-17T00:00:00Z",
        "2025-02-24T00:00:00Z", "2026-02-02T00:00:00Z"}},
      {"odd days by range OR Monday",
       "0 0 1-31/2 * 1",
       "UTC",
       "2024-01-01T00:00:00Z",
       {"2024-01-03T00:00:00Z", "2024-01-05T00:00:00Z", "2024-01-07T00:00:00Z",
        "2024-01-08T00:00:00Z",  // an even-dated Monday
        "2024-01-09T00:00:00Z"}},
      // A field beginning with * counts as unrestricted (Vixie's DOM_STAR): AND.
      {"*/2 AND Monday: odd-dated Mondays",
       "0 0 */2 * 1",
       "UTC",
       "2023-12-31T00:00:00Z",
       {"2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z", "2024-01-29T00:00:00Z",
        "2024-02-05T00:00:00Z", "2024-02-19T00:00:00Z"}},
      {"day-of-week * : day-of-month alone",
       "0 0 13 * *",
       "UTC",
       "2024-09-01T00:00:00Z",
       {"2024-09-13T00:00:00Z", "2024-10-13T00:00:00Z"}},
      {"Feb 29 every leap year",
       "0 0 29 2 *",
       "UTC",
       "2024-03-01T00:00:00Z",
       {"2028-02-29T00:00:00Z"}},
      {"Feb 31 never fires", "0 0 31 2 *", "UTC", "2024-01-01T00:00:00Z", {"none"}},
      {"horizon 2199",
       "0 0 1 1 *",
       "UTC",
       "2198-06-01T00:00:00Z",
       {"2199-01-01T00:00:00Z", "none"}},
  });
}

// ---------------------------------------------------------------------------------------------
// Next: time zones and DST. A skipped local time does not fire; a repeated one fires once, at
// its first occurrence.
//   America/New_York 2024: 03-10 02:00 EST → 03:00 EDT; 11-03 02:00 EDT → 01:00 EST.
//   Europe/Berlin 2024:    03-31 02:00 CET → 03:00 CEST; 10-27 03:00 CEST → 02:00 CET.

TEST(ScheduleNextTest, TimeZonesAndDst) {
  RunTickCases({
      {"noon follows the offset",
       "cron(0 12 * * ? *)",
       "America/New_York",
       "2024-03-09T12:00:00-05:00",
       {"2024-03-10T12:00:00-04:00", "2024-03-11T12:00:00-04:00"}},
      {"half-hour offset",
       "cron(0 0 * * ? *)",
       "Asia/Kolkata",
       "2024-01-01T00:00:00+05:30",
       {"2024-01-02T00:00:00+05:30"}},
      // Spring forward: 02:30 does not exist on 03-10.
      {"New York: skipped 02:30 does not fire",
       "cron(30 2 * * ? *)",
       "America/New_York",
       "2024-03-09T03:00:00-05:00",
       {"2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"}},
      {"New York: hourly skips 02:00",
       "cron(0 * * * ? *)",
       "America/New_York",
       "2024-03-10T00:30:00-05:00",
       {"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"}},
      {"New York: five-field skips too",
       "30 2 * * *",
       "America/New_York",
       "2024-03-09T03:00:00-05:00",
       {"2024-03-11T02:30:00-04:00"}},
      // Fall back: 01:00-01:59 happens twice on 11-03.
      {"New York: repeated 01:30 fires once, in EDT",
       "cron(30 1 * * ? *)",
       "America/New_York",
       "2024-11-02T12:00:00-04:00",
       {"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"}},
      {"New York: not again in the second 01:xx",
       "cron(30 1 * * ? *)",
       "America/New_York",
       "2024-11-03T01:10:00-05:00",
       {"2024-11-04T01:30:00-05:00"}},
      {"New York: hourly around fall-back",
       "cron(0 * * * ? *)",
       "America/New_York",
       "2024-11-03T00:30:00-04:00",
       {"2024-11-03T01:00:00-04:00", "2024-11-03T02:00:00-05:00", "2024-11-03T03:00:00-05:00"}},
      {"New York: each minute of the repeated hour once",
       "cron(0/20 1 3 11 ? 2024)",
       "America/New_York",
       "2024-11-01T00:00:00-04:00",
       {"2024-11-03T01:00:00-04:00", "2024-11-03T01:20:00-04:00", "2024-11-03T01:40:00-04:00",
        "none"}},
      {"Berlin: skipped 02:30 does not fire",
       "cron(30 2 * * ? *)",
       "Europe/Berlin",
       "2024-03-30T12:00:00+01:00",
       {"2024-04-01T02:30:00+02:00"}},
      {"Berlin: repeated 02:30 fires once, in CEST",
       "cron(30 2 * * ? *)",
       "Europe/Berlin",
       "2024-10-26T12:00:00+02:00",
       {"2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"}},
      {"Berlin: five-field, both transitions",
       "30 2 * * *",
       "Europe/Berlin",
       "2024-03-30T12:00:00+01:00",
       {"2024-04-01T02:30:00+02:00"}},
      {"Berlin: hourly around fall-back",
       "0 * * * *",
       "Europe/Berlin",
       "2024-10-27T01:30:00+02:00",
       {"2024-10-27T02:00:00+02:00", "2024-10-27T03:00:00+01:00"}},
      {"Berlin: last Sunday of March at 02:00 never exists",
       "cron(0 2 ? 3 1L *)",
       "Europe/Berlin",
       "2024-01-01T00:00:00+01:00",
       {"none"}},
      // Samoa skipped all of 2011-12-30 moving across the date line.
      {"Apia: a skipped day",
       "cron(0 12 * * ? *)",
       "Pacific/Apia",
       "2011-12-29T12:00:00-10:00",
       {"2011-12-31T12:00:00+14:00"}},
  });
}

// ---------------------------------------------------------------------------------------------
// Between

TEST(ScheduleBetweenTest, ListsMissedTicks) {
  struct Case {
    std::string name;
    std::string expression;
    std::string from;
    std::string to;
    int limit;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"from exclusive, to inclusive",
       "cron(0 * * * ? *)",
       "2024-01-01T00:00:00Z",
       "2024-01-01T03:00:00Z",
       10,
       {"2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z", "2024-01-01T03:00:00Z"}},
      {"limit keeps the earliest",
       "cron(0 * * * ? *)",
       "2024-01-01T00:00:00Z",
       "2024-01-01T03:00:00Z",
       2,
       {"2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"}},
      {"continue from the last",
       "cron(0 * * * ? *)",
       "2024-01-01T02:00:00Z",
       "2024-01-01T03:00:00Z",
       2,
       {"2024-01-01T03:00:00Z"}},
      {"limit 0", "cron(0 * * * ? *)", "2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z", 0, {}},
      {"negative limit",
       "cron(0 * * * ? *)",
       "2024-01-01T00:00:00Z",
       "2024-01-01T03:00:00Z",
       -1,
       {}},
      {"to before from",
       "cron(0 * * * ? *)",
       "2024-01-01T03:00:00Z",
       "2024-01-01T00:00:00Z",
       10,
       {}},
      {"nothing due", "cron(0 12 * * ? *)", "2024-01-01T12:00:00Z", "2024-01-02T11:59:59Z", 10, {}},
      {"rate",
       "rate(5 minutes)",
       "2024-01-01T00:00:00Z",
       "2024-01-01T00:20:00Z",
       10,
       {"2024-01-01T00:05:00Z", "2024-01-01T00:10:00Z", "2024-01-01T00:15:00Z",
        "2024-01-01T00:20:00Z"}},
      {"a weekend of downtime",
       "0 9 * * 1-5",
       "2024-01-05T08:00:00Z",
       "2024-01-08T10:00:00Z",
       10,
       {"2024-01-05T09:00:00Z", "2024-01-08T09:00:00Z"}},
      {"up to the horizon",
       "cron(0 0 1 1 ? 2198-2199)",
       "2190-01-01T00:00:00Z",
       "2300-01-01T00:00:00Z",
       10,
       {"2198-01-01T00:00:00Z", "2199-01-01T00:00:00Z"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Schedule> schedule = ParseSchedule(c.expression);
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    std::vector<std::string> got;
    for (absl::Time t : schedule->Between(T(c.from), T(c.to), c.limit)) {
      got.push_back(Local(t, "UTC"));
    }
    EXPECT_EQ(got, c.want);
  }
}

// ---------------------------------------------------------------------------------------------
// TickId

TEST(TickIdTest, IsFunctionAtUtcTime) {
  struct Case {
    std::string name;
    std::string function;
    std::string scheduled;
    std::string want;
  };
  const Case cases[] = {
      {"UTC", "hello", "2026-11-27T12:00:00Z", "hello@2026-11-27T12:00:00Z"},
      {"offset normalised to UTC", "hello", "2024-11-03T01:30:00-04:00",
       "hello@2024-11-03T05:30:00Z"},
      {"the repeated hour's second pass is another tick", "hello", "2024-11-03T01:30:00-05:00",
       "hello@2024-11-03T06:30:00Z"},
      {"fractional seconds kept", "hello", "2024-01-01T12:00:30.25Z",
       "hello@2024-01-01T12:00:30.25Z"},
      {"namespaced function", "team-a/report", "2024-01-01T00:00:00Z",
       "team-a/report@2024-01-01T00:00:00Z"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(TickId(c.function, T(c.scheduled)), c.want);
  }
}

TEST(TickIdTest, SameTickSameIdAcrossParses) {
  absl::StatusOr<Schedule> a = ParseSchedule("cron(0 12 * * ? *)", "Europe/Berlin");
  absl::StatusOr<Schedule> b = ParseSchedule("0 12 * * *", "Europe/Berlin");
  ASSERT_TRUE(a.ok() && b.ok());
  absl::Time after = T("2024-06-01T00:00:00Z");
  EXPECT_EQ(TickId("fn", *a->Next(after)), TickId("fn", *b->Next(after)));
  EXPECT_EQ(TickId("fn", *a->Next(after)), "fn@2024-06-01T10:00:00Z");
}

// ---------------------------------------------------------------------------------------------
// Performance sanity: rare and never-firing schedules end quickly (a loose bound for a shared
// machine; the real cost is microseconds).

TEST(SchedulePerformanceTest, RareSchedulesTerminateFast) {
  const auto start = std::chrono::steady_clock::now();

  absl::StatusOr<Schedule> feb29 = ParseSchedule("cron(0 0 29 2 ? *)");
  ASSERT_TRUE(feb29.ok());
  std::vector<absl::Time> all = feb29->Between(absl::InfinitePast(), absl::InfiniteFuture(), 1000);
  // Leap years 1972-2196 without 2100.
  ASSERT_EQ(all.size(), 56u);
  EXPECT_EQ(all.front(), T("1972-02-29T00:00:00Z"));
  EXPECT_EQ(all.back(), T("2196-02-29T00:00:00Z"));

  for (const char* never :
       {"cron(0 0 30 2 ? *)", "cron(0 0 31W 4 ? *)", "0 0 31 2 *", "0 0 30 2 *"}) {
    SCOPED_TRACE(never);
    absl::StatusOr<Schedule> schedule = ParseSchedule(never, "America/New_York");
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    for (int i = 0; i < 100; ++i) {
      EXPECT_EQ(schedule->Next(absl::InfinitePast()), std::nullopt);
    }
  }

  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

}  // namespace
}  // namespace wisp
