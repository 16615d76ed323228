// Lambda Invoke API: function names, invocation headers and the service error documents the
// AWS SDKs turn into typed exceptions.
#include "gateway/invoke_api.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseFunctionRefTest, Valid) {
  struct Case {
    std::string raw;
    std::string want_name;
    std::string want_qualifier;
  };
  const std::vector<Case> cases = {
      {"hello", "hello", ""},
      {"my-function_2", "my-function_2", ""},
      {std::string(64, 'a'), std::string(64, 'a'), ""},
      {"hello:$LATEST", "hello", "$LATEST"},
      {"hello:prod", "hello", "prod"},
      {"hello:7", "hello", "7"},
      {"123456789012:function:hello", "hello", ""},
      {"123456789012:function:hello:prod", "hello", "prod"},
      {"arn:aws:lambda:us-east-1:123456789012:function:hello", "hello", ""},
      {"arn:aws:lambda:us-east-1:123456789012:function:hello:$LATEST", "hello", "$LATEST"},
      {"arn:aws:lambda:eu-west-2:123456789012:function:hello:blue-1", "hello", "blue-1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.raw);
    absl::StatusOr<FunctionRef> ref = ParseFunctionRef(c.raw);
    ASSERT_TRUE(ref.ok()) << ref.status();
    EXPECT_EQ(ref->name, c.want_name);
    EXPECT_EQ(ref->qualifier, c.want_qualifier);
  }
}

TEST(ParseFunctionRefTest, Invalid) {
  const std::vector<std::string> cases = {
      "",
      "bad name",
      "bad/name",
      "bad.name",
      std::string(65, 'a'),
      "hello:bad.qualifier",
      "hello:" + std::string(129, 'q'),
      "a:b:c",
      "123456789012:function:",
      "123456789012:function:hello:prod:extra",
      "arn:aws:s3:us-east-1:123456789012:function:hello",
      "arn:aws:lambda:us-east-1:123456789012:layer:hello",
      "arn:aws:lambda:us-east-1:123456789012:function",
      "arn:aws:lambda:us-east-1:123456789012:function:hello:prod:extra",
      "arn:aws:lambda:us-east-1:123456789012:function:bad name",
  };
  for (const std::string& raw : cases) {
    SCOPED_TRACE(raw);
    absl::StatusOr<FunctionRef> ref = ParseFunctionRef(raw);
    ASSERT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(ref.status().message()),
                StartsWith("1 validation error detected: Value '" + raw +
                           "' at 'functionName' failed to satisfy constraint"));
    ServiceError e = ToServiceError(ref.status());
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "InvalidParameterValueException");
    EXPECT_EQ(e.message, ref.status().message());
  }
}

// Regression (fixed; the text says what broke):
// The pattern ParseFunctionRef quotes in its own error message, (arn:...)?(\d{12}:)?
// (function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?, rejects an empty qualifier after
// a colon and a non-numeric account; invoke_api.cc accepts both ("hello:" parses as name
// "hello" with no qualifier because an empty qualifier skips ValidQualifier, and the account
// part is never checked).
TEST(ParseFunctionRefTest, RejectsEmptyQualifierAndMalformedAccount) {
  for (const char* raw : {"hello:", "123456789012:function:hello:",
                          "arn:aws:lambda:us-east-1:123456789012:function:hello:",
                          "not-an-account:function:hello"}) {
    SCOPED_TRACE(raw);
    EXPECT_EQ(ParseFunctionRef(raw).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ParseInvokeHeadersTest, Valid) {
  struct Case {
    std::string name;
    std::string type;
    std::string log;
    std::string context_b64;
    InvocationType want_type;
    bool want_tail;
    std::string want_context;
  };
  const std::vector<Case> cases = {
      {"defaults", "", "", "", InvocationType::kRequestResponse, false, ""},
      {"request response", "RequestResponse", "None", "", InvocationType::kRequestResponse, false,
       ""},
      {"event", "Event", "", "", InvocationType::kEvent, false, ""},
      {"dry run", "DryRun", "", "", InvocationType::kDryRun, false, ""},
      {"tail", "", "Tail", "", InvocationType::kRequestResponse, true, ""},
      {"client context", "", "", absl::Base64Escape(R"({"custom":{"a":"1"}})"),
       InvocationType::kRequestResponse, false, R"({"custom":{"a":"1"}})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<InvokeHeaders> h = ParseInvokeHeaders(c.type, c.log, c.context_b64);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->type, c.want_type);
    EXPECT_EQ(h->log_tail, c.want_tail);
    EXPECT_EQ(h->client_context, c.want_context);
  }
}

TEST(ParseInvokeHeadersTest, Invalid) {
  struct Case {
    std::string name;
    std::string type;
    std::string log;
    std::string context_b64;
    std::string want_message;  // substring
  };
  const std::vector<Case> cases = {
      {"unknown type", "Async", "", "",
       "Value 'Async' at 'invocationType' failed to satisfy constraint: Member must satisfy "
       "enum value set: [Event, RequestResponse, DryRun]"},
      {"type is case-sensitive", "event", "", "", "Value 'event' at 'invocationType'"},
      {"unknown log type", "", "Full", "",
       "Value 'Full' at 'logType' failed to satisfy constraint: Member must satisfy enum value "
       "set: [None, Tail]"},
      {"log type is case-sensitive", "", "tail", "", "Value 'tail' at 'logType'"},
      {"client context not base64", "", "", "%%%not-base64%%%",
       "Client context must be a valid Base64-encoded JSON object"},
      {"client context not json", "", "", absl::Base64Escape("not json"),
       "Client context must be a valid Base64-encoded JSON object."},
      {"client context too long", "", "", absl::Base64Escape(std::string(2700, ' ') + "{}"),
       "at most 3583 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<InvokeHeaders> h = ParseInvokeHeaders(c.type, c.log, c.context_b64);
    ASSERT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(h.status().message()), HasSubstr(c.want_message));
    ServiceError e = ToServiceError(h.status());
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.type, "InvalidParameterValueException");
  }
}

TEST(ParseInvokeHeadersTest, ClientContextSizeLimit) {
  // The limit is on the base64 text: 3583 characters.
  std::string fits = std::string(2683, ' ') + "{}";      // 2685 bytes -> 3580 characters
  std::string too_big = std::string(2684, ' ') + "{}";   // 2686 bytes -> 3584 characters
  ASSERT_EQ(absl::Base64Escape(fits).size(), 3580u);
  ASSERT_EQ(absl::Base64Escape(too_big).size(), 3584u);
  absl::StatusOr<InvokeHeaders> h = ParseInvokeHeaders("", "", absl::Base64Escape(fits));
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->client_context, fits);
  EXPECT_EQ(ParseInvokeHeaders("", "", absl::Base64Escape(too_big)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ServiceErrorTest, StatusTypeAndBody) {
  struct Case {
    std::string name;
    ServiceError error;
    int want_status;
    std::string want_type;
    std::string want_body;
  };
  const std::vector<Case> cases = {
      {"not found", ResourceNotFound("arn:aws:lambda:us-east-1:000000000000:function:x"), 404,
       "ResourceNotFoundException",
       R"({"Type":"User","message":"Function not found: arn:aws:lambda:us-east-1:000000000000:function:x"})"},
      {"invalid content", InvalidRequestContent("Could not parse request body into json"), 400,
       "InvalidRequestContentException",
       R"({"Type":"User","message":"Could not parse request body into json"})"},
      {"invalid parameter", InvalidParameterValue("bad"), 400, "InvalidParameterValueException",
       R"({"Type":"User","message":"bad"})"},
      {"too large", RequestTooLarge(6291456), 413, "RequestTooLargeException",
       R"({"Type":"User","message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"})"},
      {"throttled", TooManyRequests("ReservedFunctionConcurrentInvocationLimitExceeded", "Rate Exceeded."),
       429, "TooManyRequestsException",
       R"({"Type":"User","message":"Rate Exceeded.","Reason":"ReservedFunctionConcurrentInvocationLimitExceeded"})"},
      {"service fault", ServiceFault("boom"), 500, "ServiceException",
       R"({"Type":"Service","message":"boom"})"},
      {"media type", UnsupportedMediaType("nope"), 415, "UnsupportedMediaTypeException",
       R"({"Type":"User","message":"nope"})"},
      {"message escaped", InvalidParameterValue("say \"hi\"\n"), 400,
       "InvalidParameterValueException", R"({"Type":"User","message":"say \"hi\"\n"})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(c.error.status, c.want_status);
    EXPECT_EQ(c.error.type, c.want_type);
    EXPECT_EQ(c.error.Body(), c.want_body);
  }
}

TEST(ServiceErrorTest, ReasonOnlyForThrottles) {
  EXPECT_EQ(TooManyRequests("ConcurrentInvocationLimitExceeded", "m").reason,
            "ConcurrentInvocationLimitExceeded");
  for (const ServiceError& e : {ResourceNotFound("x"), InvalidRequestContent("x"),
                                InvalidParameterValue("x"), RequestTooLarge(1), ServiceFault("x"),
                                UnsupportedMediaType("x")}) {
    SCOPED_TRACE(e.type);
    EXPECT_EQ(e.reason, "");
    EXPECT_THAT(e.Body(), ::testing::Not(HasSubstr("Reason")));
  }
}

TEST(ServiceErrorTest, InvalidUtf8InMessageStillGivesJson) {
  std::string body = InvalidParameterValue("bad \xFF byte").Body();
  EXPECT_TRUE(IsJson(body, nullptr)) << body;
}

TEST(FunctionArnTest, Format) {
  EXPECT_EQ(FunctionArn("us-east-1", "123456789012", "hello"),
            "arn:aws:lambda:us-east-1:123456789012:function:hello");
  absl::StatusOr<FunctionRef> ref =
      ParseFunctionRef(FunctionArn("eu-west-1", "000000000000", "round-trip"));
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->name, "round-trip");
}

TEST(IsJsonTest, Table) {
  struct Case {
    std::string payload;
    bool want;
  };
  const std::vector<Case> cases = {
      {"{}", true},
      {R"({"a":[1,2,{"b":null}]})", true},
      {"[]", true},
      {R"("text")", true},
      {"42", true},
      {"null", true},
      {"true", true},
      {" \n {} \t", true},
      {"", false},
      {"{", false},
      {"{} {}", false},
      {"hello", false},
      {"{'a':1}", false},
      {R"({"a":1,})", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.payload);
    std::string error;
    EXPECT_EQ(IsJson(c.payload, &error), c.want);
    if (c.want) {
      EXPECT_EQ(error, "");
    } else {
      EXPECT_NE(error, "");  // the parser's message, for the 400 body
    }
    EXPECT_EQ(IsJson(c.payload, nullptr), c.want);
  }
}

}  // namespace
}  // namespace wisp::gateway
