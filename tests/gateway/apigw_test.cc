// API Gateway HTTP API payload format 2.0: the event built for a request and the mapping of a
// function's result back to HTTP, checked against the shape AWS documents.
#include "gateway/apigw.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace wisp::gateway {
namespace {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

json Event(const HttpRequestView& req, const EventContext& ctx) {
  std::string text = BuildHttpEvent(req, ctx);
  json ev = json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(ev.is_discarded()) << text;
  return ev;
}

HttpRequestView Get(std::string path) {
  HttpRequestView req;
  req.method = "GET";
  req.raw_path = std::move(path);
  return req;
}

TEST(BuildHttpEventTest, EveryField) {
  HttpRequestView req;
  req.method = "POST";
  req.raw_path = "/hello/J%C3%B6rg";
  req.raw_query = "a=1&b=x+y&a=2&c=%2B%26&flag";
  req.protocol = "HTTP/1.1";
  req.headers = {{"Host", "abc123.execute-api.example.com"},
                 {"User-Agent", "curl/8.0"},
                 {"Cookie", "s=1; t=2"},
                 {"X-Multi", "a"},
                 {"x-multi", "b"},
                 {"Content-Type", "application/json"},
                 {"cookie", "u=3"}};
  req.body = R"({"k":"v"})";
  req.source_ip = "203.0.113.5";
  EventContext ctx;
  ctx.route_key = "POST /hello/{name}";
  ctx.path_parameters = {{"name", "J\xC3\xB6rg"}};
  ctx.request_id = "req-1";
  ctx.now_unix_ms = 1584039838123;  // 2020-03-12T19:03:58.123Z

  json want = {
      {"version", "2.0"},
      {"routeKey", "POST /hello/{name}"},
      {"rawPath", "/hello/J%C3%B6rg"},
      {"rawQueryString", "a=1&b=x+y&a=2&c=%2B%26&flag"},
      {"cookies", {"s=1", "t=2", "u=3"}},
      {"headers",
       {{"host", "abc123.execute-api.example.com"},
        {"user-agent", "curl/8.0"},
        {"x-multi", "a,b"},
        {"content-type", "application/json"}}},
      {"queryStringParameters", {{"a", "1,2"}, {"b", "x y"}, {"c", "+&"}, {"flag", ""}}},
      {"pathParameters", {{"name", "J\xC3\xB6rg"}}},
      {"requestContext",
       {{"accountId", "000000000000"},
        {"apiId", "wisp"},
        {"domainName", "abc123.execute-api.example.com"},
        {"domainPrefix", "abc123"},
        {"http",
         {{"method", "POST"},
          {"path", "/hello/J\xC3\xB6rg"},
          {"protocol", "HTTP/1.1"},
          {"sourceIp", "203.0.113.5"},
          {"userAgent", "curl/8.0"}}},
        {"requestId", "req-1"},
        {"routeKey", "POST /hello/{name}"},
        {"stage", "$default"},
        {"time", "12/Mar/2020:19:03:58 +0000"},
        {"timeEpoch", 1584039838123}}},
      {"body", R"({"k":"v"})"},
      {"isBase64Encoded", false},
  };
  EXPECT_EQ(Event(req, ctx), want);
}

TEST(BuildHttpEventTest, AbsentOptionalFieldsAreOmitted) {
  EventContext ctx;
  ctx.route_key = "$default";
  ctx.request_id = "r";
  json ev = Event(Get("/"), ctx);
  for (const char* absent : {"cookies", "queryStringParameters", "pathParameters", "body"}) {
    SCOPED_TRACE(absent);
    EXPECT_FALSE(ev.contains(absent));
  }
  EXPECT_EQ(ev["version"], "2.0");
  EXPECT_EQ(ev["routeKey"], "$default");
  EXPECT_EQ(ev["rawPath"], "/");
  EXPECT_EQ(ev["rawQueryString"], "");
  EXPECT_EQ(ev["headers"], json::object());
  EXPECT_EQ(ev["isBase64Encoded"], false);
  EXPECT_EQ(ev["requestContext"]["routeKey"], "$default");
  EXPECT_EQ(ev["requestContext"]["domainName"], "");
  EXPECT_EQ(ev["requestContext"]["domainPrefix"], "");
  EXPECT_EQ(ev["requestContext"]["http"]["method"], "GET");
  EXPECT_EQ(ev["requestContext"]["http"]["userAgent"], "");
  EXPECT_EQ(ev["requestContext"]["time"], "01/Jan/1970:00:00:00 +0000");
  EXPECT_EQ(ev["requestContext"]["timeEpoch"], 0);
}

TEST(BuildHttpEventTest, ContextOverrides) {
  EventContext ctx;
  ctx.route_key = "ANY /x";
  ctx.account_id = "123456789012";
  ctx.api_id = "myapi";
  ctx.stage = "prod";
  ctx.request_id = "abc";
  HttpRequestView req = Get("/x");
  req.protocol = "HTTP/2.0";
  json rc = Event(req, ctx)["requestContext"];
  EXPECT_EQ(rc["accountId"], "123456789012");
  EXPECT_EQ(rc["apiId"], "myapi");
  EXPECT_EQ(rc["stage"], "prod");
  EXPECT_EQ(rc["requestId"], "abc");
  EXPECT_EQ(rc["http"]["protocol"], "HTTP/2.0");
}

TEST(BuildHttpEventTest, Headers) {
  struct Case {
    std::string name;
    Headers headers;
    json want_headers;
    json want_cookies;  // null: absent
  };
  const std::vector<Case> cases = {
      {"lower-cased", {{"X-Custom-Header", "V"}}, {{"x-custom-header", "V"}}, nullptr},
      {"repeated joined with commas in order",
       {{"Accept", "a"}, {"ACCEPT", "b"}, {"accept", "c"}},
       {{"accept", "a,b,c"}},
       nullptr},
      {"values kept as sent", {{"X-A", " spaced  value "}}, {{"x-a", " spaced  value "}}, nullptr},
      {"cookies split and removed from headers",
       {{"Cookie", "a=1; b=2"}, {"X-B", "1"}},
       {{"x-b", "1"}},
       {"a=1", "b=2"}},
      {"cookie header name is case-insensitive", {{"COOKIE", "a=1"}}, json::object(), {"a=1"}},
      {"empty cookie pieces skipped and trimmed",
       {{"Cookie", "a=1;;  b=2 ;"}},
       json::object(),
       {"a=1", "b=2"}},
      {"several cookie headers", {{"Cookie", "a=1"}, {"Cookie", "b=2"}}, json::object(),
       {"a=1", "b=2"}},
      {"empty cookie header gives no cookies", {{"Cookie", ""}}, json::object(), nullptr},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpRequestView req = Get("/");
    req.headers = c.headers;
    json ev = Event(req, EventContext{});
    EXPECT_EQ(ev["headers"], c.want_headers);
    if (c.want_cookies.is_null()) {
      EXPECT_FALSE(ev.contains("cookies"));
    } else {
      EXPECT_EQ(ev["cookies"], c.want_cookies);
    }
  }
}

TEST(BuildHttpEventTest, QueryStringParameters) {
  struct Case {
    std::string raw;
    json want;  // null: absent
  };
  const std::vector<Case> cases = {
      {"", nullptr},
      {"a=1", {{"a", "1"}}},
      {"a=1&a=2&a=3", {{"a", "1,2,3"}}},
      {"a=1&b=2", {{"a", "1"}, {"b", "2"}}},
      {"q=hello+world", {{"q", "hello world"}}},
      {"q=%2B1", {{"q", "+1"}}},
      {"q=a%20b", {{"q", "a b"}}},
      {"k%20ey=v", {{"k ey", "v"}}},
      {"k+ey=v", {{"k ey", "v"}}},
      {"flag", {{"flag", ""}}},
      {"a=", {{"a", ""}}},
      {"a=b=c", {{"a", "b=c"}}},
      {"a=1&&b=2", {{"a", "1"}, {"b", "2"}}},
      {"x=%E2%82%AC", {{"x", "\xE2\x82\xAC"}}},
      {"x=%zz", {{"x", "%zz"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.raw);
    HttpRequestView req = Get("/");
    req.raw_query = c.raw;
    json ev = Event(req, EventContext{});
    EXPECT_EQ(ev["rawQueryString"], c.raw);
    if (c.want.is_null()) {
      EXPECT_FALSE(ev.contains("queryStringParameters"));
    } else {
      EXPECT_EQ(ev["queryStringParameters"], c.want);
    }
  }
}

TEST(BuildHttpEventTest, DomainPrefix) {
  struct Case {
    std::string host;
    std::string want_prefix;
  };
  const std::vector<Case> cases = {
      {"abc123.execute-api.us-east-1.amazonaws.com", "abc123"},
      {"localhost", "localhost"},
      {"", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.host);
    HttpRequestView req = Get("/");
    if (!c.host.empty()) req.headers = {{"Host", c.host}};
    json rc = Event(req, EventContext{})["requestContext"];
    EXPECT_EQ(rc["domainName"], c.host);
    EXPECT_EQ(rc["domainPrefix"], c.want_prefix);
  }
}

TEST(BuildHttpEventTest, Body) {
  struct Case {
    std::string name;
    std::string content_type;  // "" = no header
    std::string body;
    json want_body;  // null: absent
    bool want_base64;
  };
  const std::vector<Case> cases = {
      {"text", "text/plain", "hello", "hello", false},
      {"no content type is text", "", "hello", "hello", false},
      {"json with charset", "application/json; charset=utf-8", R"({"a":1})", R"({"a":1})",
       false},
      {"content type case-insensitive", "APPLICATION/JSON", "[]", "[]", false},
      {"xml", "application/xml", "<a/>", "<a/>", false},
      {"form", "application/x-www-form-urlencoded", "a=1", "a=1", false},
      {"valid multi-byte utf-8", "text/plain", "caf\xC3\xA9 \xF0\x9F\x98\x80",
       "caf\xC3\xA9 \xF0\x9F\x98\x80", false},
      {"binary content type", "application/octet-stream", std::string("\x00\x01\xFF", 3),
       "AAH/", true},
      {"image even if ascii", "image/png", "abc", "YWJj", true},
      {"invalid utf-8 in text", "text/plain", "\xFF\xFE", "//4=", true},
      {"truncated multi-byte sequence", "text/plain", "a\xC3", "YcM=", true},
      {"stray continuation byte", "application/json", "\x80", "gA==", true},
      {"empty body omitted", "application/octet-stream", "", nullptr, false},
      {"empty text body omitted", "text/plain", "", nullptr, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpRequestView req = Get("/");
    req.method = "POST";
    if (!c.content_type.empty()) req.headers = {{"Content-Type", c.content_type}};
    req.body = c.body;
    json ev = Event(req, EventContext{});
    if (c.want_body.is_null()) {
      EXPECT_FALSE(ev.contains("body"));
    } else {
      EXPECT_EQ(ev["body"], c.want_body);
    }
    EXPECT_EQ(ev["isBase64Encoded"], c.want_base64);
    if (c.want_base64) {
      std::string decoded;
      ASSERT_TRUE(Base64Decode(ev["body"].get<std::string>(), &decoded));
      EXPECT_EQ(decoded, c.body);
    }
  }
}

// Regression (fixed; the text says what broke): Bytes that are not UTF-8 must travel base64-encoded. ValidUtf8() in apigw.cc accepts any
// lead byte followed by continuation bytes, so overlong forms (C0 80), UTF-16 surrogates
// (ED A0 80) and code points above U+10FFFF (F4 90 80 80) pass as text; the JSON serializer
// then replaces them with U+FFFD and the function receives different bytes than were sent.
TEST(BuildHttpEventTest, InvalidUtf8IsBase64EncodedNotReplaced) {
  struct Case {
    std::string name;
    std::string body;
  };
  const std::vector<Case> cases = {
      {"overlong NUL", "\xC0\x80"},
      {"surrogate", "\xED\xA0\x80"},
      {"above U+10FFFF", "\xF4\x90\x80\x80"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpRequestView req = Get("/");
    req.method = "POST";
    req.headers = {{"Content-Type", "text/plain"}};
    req.body = c.body;
    json ev = Event(req, EventContext{});
    EXPECT_EQ(ev["isBase64Encoded"], true);
    EXPECT_EQ(ev["body"], Base64Encode(c.body));
  }
}

TEST(IsTextContentTypeTest, Table) {
  struct Case {
    std::string content_type;
    bool want;
  };
  const std::vector<Case> cases = {
      {"", true},
      {"text/plain", true},
      {"text/html; charset=utf-8", true},
      {"application/json", true},
      {"application/vnd.api+json", true},
      {"application/xml", true},
      {"image/svg+xml", true},
      {"application/javascript", true},
      {"application/x-www-form-urlencoded", true},
      {"application/graphql", true},
      {"application/yaml", true},
      {"Text/Plain", true},
      {"application/octet-stream", false},
      {"image/png", false},
      {"multipart/form-data; boundary=x", false},
      {"application/pdf", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.content_type);
    EXPECT_EQ(IsTextContentType(c.content_type), c.want);
  }
}

TEST(RequestTimeTest, Table) {
  struct Case {
    int64_t unix_ms;
    std::string want;
  };
  const std::vector<Case> cases = {
      {0, "01/Jan/1970:00:00:00 +0000"},
      {1584039838123, "12/Mar/2020:19:03:58 +0000"},
      {1583348638390, "04/Mar/2020:19:03:58 +0000"},
      {1609819506999, "05/Jan/2021:04:05:06 +0000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.unix_ms);
    EXPECT_EQ(RequestTime(c.unix_ms), c.want);
  }
}

TEST(MapHttpResultTest, Results) {
  struct Case {
    std::string name;
    std::string payload;
    int want_status;
    Headers want_headers;
    std::string want_body;
    std::string want_content_type;
  };
  const std::vector<Case> cases = {
      {"json string is the body", R"("hello")", 200, {}, "hello", "application/json"},
      {"object without statusCode is a json body", R"({"message":"hi"})", 200, {},
       R"({"message":"hi"})", "application/json"},
      {"array", "[1, 2]", 200, {}, "[1, 2]", "application/json"},
      {"number", "42", 200, {}, "42", "application/json"},
      {"null", "null", 200, {}, "null", "application/json"},
      {"full object",
       R"({"statusCode":201,"headers":{"Content-Type":"text/plain","X-A":"1","X-N":5},)"
       R"("cookies":["a=1; Path=/","b=2"],"body":"created","isBase64Encoded":false})",
       201,
       {{"X-A", "1"}, {"X-N", "5"}, {"Set-Cookie", "a=1; Path=/"}, {"Set-Cookie", "b=2"}},
       "created",
       "text/plain"},
      {"content-type header any case", R"({"statusCode":404,"headers":{"content-type":"text/html"},"body":"<p>"})",
       404, {}, "<p>", "text/html"},
      {"base64 body decoded", R"({"statusCode":200,"body":"aGk=","isBase64Encoded":true})", 200,
       {}, "hi", "application/json"},
      {"binary body decoded", R"({"statusCode":200,"body":"AAH/","isBase64Encoded":true,"headers":{"Content-Type":"image/png"}})",
       200, {}, std::string("\x00\x01\xFF", 3), "image/png"},
      {"no body", R"({"statusCode":204})", 204, {}, "", ""},
      {"null body", R"({"statusCode":200,"body":null})", 200, {}, "", ""},
      {"non-string body serialised", R"({"statusCode":200,"body":{"a":1}})", 200, {},
       R"({"a":1})", "application/json"},
      {"lowest status", R"({"statusCode":100})", 100, {}, "", ""},
      {"highest status", R"({"statusCode":599})", 599, {}, "", ""},
      {"non-string cookies ignored", R"({"statusCode":200,"cookies":["a=1",5]})", 200,
       {{"Set-Cookie", "a=1"}}, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<HttpResult> r = MapHttpResult(c.payload);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, c.want_status);
    EXPECT_EQ(r->headers, c.want_headers);
    EXPECT_EQ(r->body, c.want_body);
    EXPECT_EQ(r->content_type, c.want_content_type);
  }
}

TEST(MapHttpResultTest, Errors) {
  struct Case {
    std::string name;
    std::string payload;
  };
  const std::vector<Case> cases = {
      {"not json", "hello"},
      {"empty", ""},
      {"truncated json", R"({"statusCode":200)"},
      {"string status", R"({"statusCode":"200"})"},
      {"fractional status", R"({"statusCode":200.5})"},
      {"null status", R"({"statusCode":null})"},
      {"status too low", R"({"statusCode":99})"},
      {"status too high", R"({"statusCode":600})"},
      {"negative status", R"({"statusCode":-200})"},
      {"bad base64 body", R"({"statusCode":200,"body":"@@@","isBase64Encoded":true})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<HttpResult> r = MapHttpResult(c.payload);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// Regression (fixed; the text says what broke): A function controls its result, so a malformed one must come back as an error (502), not as
// an exception. apigw.cc MapHttpResult: `v.value("isBase64Encoded", false)` throws
// nlohmann::json::type_error when the field is present but not a boolean.
TEST(MapHttpResultTest, NonBooleanIsBase64EncodedIsAnErrorNotAnException) {
  for (const char* payload : {R"({"statusCode":200,"body":"aGk=","isBase64Encoded":"true"})",
                              R"({"statusCode":200,"body":"aGk=","isBase64Encoded":1})"}) {
    SCOPED_TRACE(payload);
    absl::StatusOr<HttpResult> r = absl::UnknownError("not run");
    EXPECT_NO_THROW(r = MapHttpResult(payload));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(Base64Test, RoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (const std::string& in : {std::string(), std::string("f"), std::string("fo"),
                                std::string("foo"), std::string("foob"), all}) {
    SCOPED_TRACE(in.size());
    std::string out;
    ASSERT_TRUE(Base64Decode(Base64Encode(in), &out));
    EXPECT_EQ(out, in);
  }
}

TEST(Base64Test, KnownValues) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode(std::string("\xFB\xFF", 2)), "+/8=");  // standard alphabet
  std::string out;
  EXPECT_FALSE(Base64Decode("@@@@", &out));
}

}  // namespace
}  // namespace wisp::gateway
