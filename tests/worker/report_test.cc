// Tests for worker/report.h: billing arithmetic, the START / END / REPORT lines, error
// documents and the bounded log tail.
#include "worker/report.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace wisp::worker {
namespace {

using ::testing::IsEmpty;

TEST(BilledDurationMsTest, RoundsMicrosecondDurationUpToWholeMilliseconds) {
  struct Case {
    std::string name;
    double input;
    int64_t want;
  };
  const std::vector<Case> cases = {
      {"zero bills the 1 ms minimum", 0.0, 1},
      {"negative bills the minimum", -5.0, 1},
      {"NaN bills the minimum", std::numeric_limits<double>::quiet_NaN(), 1},
      {"one microsecond", 0.001, 1},
      {"just under 1 ms", 0.999, 1},
      {"exactly 1 ms", 1.0, 1},
      // 1000.4 us rounds to 1000 us: below microsecond resolution, not a started millisecond.
      {"sub-microsecond over 1 ms", 1.0004, 1},
      {"half a microsecond over 1 ms", 1.0005, 2},
      {"one microsecond over 1 ms", 1.001, 2},
      {"1.2 ms", 1.2, 2},
      {"just under 1 s", 999.99, 1000},
      {"exactly 1 s", 1000.0, 1000},
      {"float noise above 2 ms", 2.0000000001, 2},
      {"float noise below 2 ms", 1.9999999999, 2},
      {"0.1 + 0.2 ms", 0.1 + 0.2, 1},
      {"the 900 s maximum", 900000.0, 900000},
      {"900 s plus a microsecond", 900000.001, 900001},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(BilledDurationMs(c.input), c.want);
  }
}

TEST(GbSecondsTest, MultipliesGigabytesByBilledSeconds) {
  struct Case {
    std::string name;
    int memory_mb;
    int64_t billed_ms;
    double want;
  };
  const std::vector<Case> cases = {
      {"128 MB for 1 s", 128, 1000, 0.125},
      {"1 GB for 1 ms", 1024, 1, 0.001},
      {"128 MB for 1 ms", 128, 1, 0.000125},
      {"10 GB for 900 s", 10240, 900000, 9000.0},
      {"no memory", 0, 1000, 0.0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_DOUBLE_EQ(GbSeconds(c.memory_mb, c.billed_ms), c.want);
  }
}

TEST(FormatLinesTest, StartAndEndLines) {
  EXPECT_EQ(FormatStartLine("8f5c-11", "$LATEST"), "START RequestId: 8f5c-11 Version: $LATEST\n");
  EXPECT_EQ(FormatEndLine("8f5c-11"), "END RequestId: 8f5c-11\n");
}

TEST(FormatReportLineTest, MatchesLambdaReportLine) {
  struct Case {
    std::string name;
    ReportFields input;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"warm",
       {.request_id = "req-1",
        .duration_ms = 1.234,
        .billed_duration_ms = 2,
        .memory_size_mb = 128,
        .max_memory_used_mb = 35},
       "REPORT RequestId: req-1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
       "Max Memory Used: 35 MB\t\n"},
      {"cold start adds Init Duration",
       {.request_id = "req-2",
        .duration_ms = 100.0,
        .billed_duration_ms = 100,
        .memory_size_mb = 256,
        .max_memory_used_mb = 40,
        .init_duration_ms = 12.3456},
       "REPORT RequestId: req-2\tDuration: 100.00 ms\tBilled Duration: 100 ms\t"
       "Memory Size: 256 MB\tMax Memory Used: 40 MB\tInit Duration: 12.35 ms\t\n"},
      {"timeout",
       {.request_id = "req-3",
        .duration_ms = 3000.0,
        .billed_duration_ms = 3000,
        .memory_size_mb = 128,
        .max_memory_used_mb = 50,
        .status = "timeout"},
       "REPORT RequestId: req-3\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
       "Memory Size: 128 MB\tMax Memory Used: 50 MB\tStatus: timeout\t\n"},
      {"error with its type",
       {.request_id = "req-4",
        .duration_ms = 5.5,
        .billed_duration_ms = 6,
        .memory_size_mb = 128,
        .max_memory_used_mb = 20,
        .status = "error",
        .error_type = "Runtime.ExitError"},
       "REPORT RequestId: req-4\tDuration: 5.50 ms\tBilled Duration: 6 ms\tMemory Size: 128 MB\t"
       "Max Memory Used: 20 MB\tStatus: error\tError Type: Runtime.ExitError\t\n"},
      {"cold start that timed out: Init Duration before Status",
       {.request_id = "req-5",
        .duration_ms = 1000.0,
        .billed_duration_ms = 1000,
        .memory_size_mb = 128,
        .max_memory_used_mb = 30,
        .init_duration_ms = 250.0,
        .status = "timeout"},
       "REPORT RequestId: req-5\tDuration: 1000.00 ms\tBilled Duration: 1000 ms\t"
       "Memory Size: 128 MB\tMax Memory Used: 30 MB\tInit Duration: 250.00 ms\t"
       "Status: timeout\t\n"},
      {"error type without a status is not shown",
       {.request_id = "req-6",
        .duration_ms = 1.0,
        .billed_duration_ms = 1,
        .memory_size_mb = 128,
        .max_memory_used_mb = 20,
        .error_type = "Runtime.ExitError"},
       "REPORT RequestId: req-6\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t"
       "Max Memory Used: 20 MB\t\n"},
      {"large billed duration",
       {.request_id = "req-7",
        .duration_ms = 899999.999,
        .billed_duration_ms = 900000,
        .memory_size_mb = 10240,
        .max_memory_used_mb = 10240},
       "REPORT RequestId: req-7\tDuration: 900000.00 ms\tBilled Duration: 900000 ms\t"
       "Memory Size: 10240 MB\tMax Memory Used: 10240 MB\t\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(FormatReportLine(c.input), c.want);
  }
}

TEST(TimeoutMessageTest, SaysSecondsWithTwoDecimals) {
  struct Case {
    std::string name;
    std::string request_id;
    double seconds;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"default timeout", "X", 3, "RequestId: X Error: Task timed out after 3.00 seconds"},
      {"maximum timeout", "abc-123", 900,
       "RequestId: abc-123 Error: Task timed out after 900.00 seconds"},
      {"fractional", "r", 1.5, "RequestId: r Error: Task timed out after 1.50 seconds"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(TimeoutMessage(c.request_id, c.seconds), c.want);
  }
}

TEST(ErrorDocumentTest, ExactDocument) {
  EXPECT_EQ(ErrorDocument("Runtime.ExitError", "exit status 1"),
            R"({"errorMessage":"exit status 1","errorType":"Runtime.ExitError"})");
}

TEST(ErrorDocumentTest, IsValidJsonThatRoundTripsItsFields) {
  struct Case {
    std::string name;
    std::string type;
    std::string message;
    std::string want_message;  // What a JSON reader sees.
  };
  const std::vector<Case> cases = {
      {"plain", "Runtime.ExitError", "Runtime exited with error: exit status 1",
       "Runtime exited with error: exit status 1"},
      {"quotes and backslashes", "Custom", R"(said "hi" \ bye)", R"(said "hi" \ bye)"},
      {"newlines, tabs and control bytes", "Custom", "a\nb\tc\x01", "a\nb\tc\x01"},
      {"utf-8", "Custom", "caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93"},
      {"invalid utf-8 is replaced, not thrown", "Custom", "bad \xff byte",
       "bad \xef\xbf\xbd byte"},
      {"empty", "", "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string doc = ErrorDocument(c.type, c.message);
    nlohmann::json parsed = nlohmann::json::parse(doc, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(parsed.is_discarded()) << doc;
    ASSERT_TRUE(parsed.is_object()) << doc;
    EXPECT_EQ(parsed.size(), 2u) << doc;
    EXPECT_EQ(parsed.value("errorType", std::string("<missing>")), c.type);
    EXPECT_EQ(parsed.value("errorMessage", std::string("<missing>")), c.want_message);
  }
}

TEST(ParseFunctionErrorTest, ReadsRuntimeErrorDocuments) {
  struct Case {
    std::string name;
    std::string body;
    std::string header_type;
    ParsedFunctionError want;
  };
  const std::vector<Case> cases = {
      {"python shape with stackTrace",
       R"({"errorMessage": "division by zero", "errorType": "ZeroDivisionError",
           "requestId": "r1",
           "stackTrace": ["  File \"/var/task/app.py\", line 2, in handler\n",
                          "    return 1/0\n"]})",
       "Unhandled",
       {"ZeroDivisionError",
        "division by zero",
        {"  File \"/var/task/app.py\", line 2, in handler\n", "    return 1/0\n"}}},
      {"node shape with trace",
       R"json({"errorType": "Error", "errorMessage": "boom",
           "trace": ["Error: boom", "    at Runtime.handler (file:///var/task/index.mjs:2:9)"]})json",
       "",
       {"Error", "boom", {"Error: boom", "    at Runtime.handler (file:///var/task/index.mjs:2:9)"}}},
      {"stackTrace wins over trace",
       R"({"errorType": "E", "errorMessage": "m", "stackTrace": ["s"], "trace": ["t"]})",
       "",
       {"E", "m", {"s"}}},
      {"the body's errorType wins over the header",
       R"({"errorType": "FromBody", "errorMessage": "m"})",
       "FromHeader",
       {"FromBody", "m", {}}},
      {"header fills a missing errorType",
       R"({"errorMessage": "m"})",
       "Runtime.HandlerNotFound",
       {"Runtime.HandlerNotFound", "m", {}}},
      {"header fills a non-string errorType",
       R"({"errorType": 42, "errorMessage": "m"})",
       "FromHeader",
       {"FromHeader", "m", {}}},
      {"missing errorType and no header",
       R"({"errorMessage": "m"})",
       "",
       {"Unhandled", "m", {}}},
      {"non-JSON body keeps its raw text",
       "Segmentation fault (core dumped)",
       "",
       {"Unhandled", "Segmentation fault (core dumped)", {}}},
      {"non-JSON body with a header type",
       "oops",
       "Custom.Error",
       {"Custom.Error", "oops", {}}},
      {"JSON that is not an object keeps its raw text",
       R"(["a", "b"])",
       "",
       {"Unhandled", R"(["a", "b"])", {}}},
      {"empty body",
       "",
       "",
       {"Unhandled", "", {}}},
      {"non-string errorMessage is serialised",
       R"({"errorType": "E", "errorMessage": {"code": 7}})",
       "",
       {"E", R"({"code":7})", {}}},
      {"non-string frames are serialised",
       R"({"errorType": "E", "errorMessage": "m", "stackTrace": ["a", ["f", 1]]})",
       "",
       {"E", "m", {"a", R"(["f",1])"}}},
      {"stackTrace that is not an array is ignored",
       R"({"errorType": "E", "errorMessage": "m", "stackTrace": "oops"})",
       "",
       {"E", "m", {}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ParsedFunctionError got = ParseFunctionError(c.body, c.header_type);
    EXPECT_EQ(got.error_type, c.want.error_type);
    EXPECT_EQ(got.error_message, c.want.error_message);
    EXPECT_EQ(got.stack_trace, c.want.stack_trace);
  }
}

TEST(LogTailTest, KeepsTheLastLimitBytes) {
  struct Case {
    std::string name;
    size_t limit;
    std::vector<std::string> appends;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"nothing appended", 10, {}, ""},
      {"under the limit keeps everything", 10, {"ab\n", "cd\n"}, "ab\ncd\n"},
      {"exactly the limit", 6, {"ab\n", "cd\n"}, "ab\ncd\n"},
      {"over the limit drops the oldest bytes", 10, {"hello\n", "world\n"}, "llo\nworld\n"},
      {"one append larger than the limit", 4, {"0123456789"}, "6789"},
      {"many small appends", 3, {"a", "b", "c", "d", "e"}, "cde"},
      {"zero limit keeps nothing", 0, {"abc"}, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    LogTail tail(c.limit);
    for (const std::string& a : c.appends) tail.Append(a);
    EXPECT_EQ(tail.text(), c.want);
  }
}

TEST(LogTailTest, DefaultLimitIs4096Bytes) {
  LogTail tail;
  tail.Append(std::string(5000, 'x'));
  tail.Append("end");
  EXPECT_EQ(tail.text().size(), 4096u);
  EXPECT_EQ(tail.text().substr(4093), "end");
}

TEST(LogTailTest, ClearEmptiesAndKeepsWorking) {
  LogTail tail(5);
  tail.Append("abcdef");
  tail.Clear();
  EXPECT_THAT(tail.text(), IsEmpty());
  tail.Append("xy");
  EXPECT_EQ(tail.text(), "xy");
}

}  // namespace
}  // namespace wisp::worker
