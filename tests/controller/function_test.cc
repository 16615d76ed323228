// Tests for controller/function.h: parsing a Function object, defaulting, validation (every
// violation, with its field path and message) and the worker's FunctionConfig.
#include "controller/function.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controller/function_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace wisp {
namespace {

using json = nlohmann::json;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Pair;

// A valid Function as the API server returns it; cases change it with a JSON merge patch
// (RFC 7386: objects merge, null removes).
json BaseObject() {
  return json::parse(R"json({
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "metadata": {"name": "hello", "namespace": "default", "uid": "uid-1", "generation": 3},
    "spec": {
      "runtime": "python3.11",
      "handler": "app.handler",
      "code": {"inline": "def handler(event, context):\n    return 1\n"}
    }
  })json");
}

json Patched(const json& patch) {
  json object = BaseObject();
  object.merge_patch(patch);
  return object;
}

std::vector<Violation> Validate(const json& patch) {
  ParsedFunction parsed = LoadFunction(Patched(patch));
  return parsed.violations;
}

// ---------------------------------------------------------------------------------------------
// ParseFunction

TEST(ParseFunctionTest, ReadsEveryField) {
  json object = json::parse(R"json({
    "metadata": {"name": "full", "namespace": "team-a", "uid": "u-9", "generation": 7},
    "spec": {
      "runtime": "nodejs20",
      "handler": "index.handler",
      "code": {"inline": "exports.handler = async () => 1;", "fileName": "index.js",
               "configMap": {"name": "cm"}},
      "image": "example.com/code:1",
      "memoryMB": 512,
      "timeoutSeconds": 30,
      "ephemeralStorageMB": 1024,
      "environment": {"B": "2", "A": "1"},
      "layers": [{"configMap": {"name": "libs"}}, {"image": "example.com/layer:1"}],
      "concurrency": {"perInstance": 4, "reserved": 50},
      "scaling": {"minScale": 1, "maxScale": 10, "target": 3, "scaleToZeroAfterSeconds": 60},
      "async": {"maxRetries": 1, "maxEventAgeSeconds": 120,
                "onFailure": {"stream": "failed"}, "onSuccess": {"function": "next"}},
      "triggers": [
        {"http": {"path": "/hello", "methods": ["GET", "POST"]}},
        {"queue": {"stream": "orders", "batchSize": 5, "batchWindowSeconds": 2,
                   "maxReceiveCount": 3}},
        {"schedule": {"expression": "rate(5 minutes)"}}
      ],
      "serviceAccountName": "reader",
      "replicas": 2,
      "unknownField": "ignored"
    },
    "status": {"replicas": 9}
  })json");
  ParsedFunction parsed = ParseFunction(object);
  EXPECT_THAT(parsed.violations, IsEmpty());
  const FunctionMeta& m = parsed.function.metadata;
  EXPECT_EQ(m.name, "full");
  EXPECT_EQ(m.namespace_name, "team-a");
  EXPECT_EQ(m.uid, "u-9");
  EXPECT_EQ(m.generation, 7);
  const FunctionSpec& s = parsed.function.spec;
  EXPECT_EQ(s.runtime, "nodejs20");
  EXPECT_EQ(s.handler, "index.handler");
  EXPECT_EQ(s.code.inline_source, "exports.handler = async () => 1;");
  EXPECT_EQ(s.code.file_name, "index.js");
  EXPECT_EQ(s.code.config_map_name, "cm");
  EXPECT_EQ(s.image, "example.com/code:1");
  EXPECT_EQ(s.memory_mb, 512);
  EXPECT_EQ(s.timeout_seconds, 30);
  EXPECT_EQ(s.ephemeral_storage_mb, 1024);
  EXPECT_THAT(s.environment, ElementsAre(Pair("A", "1"), Pair("B", "2")));
  ASSERT_EQ(s.layers.size(), 2u);
  EXPECT_EQ(s.layers[0].config_map_name, "libs");
  EXPECT_EQ(s.layers[0].image, std::nullopt);
  EXPECT_EQ(s.layers[1].image, "example.com/layer:1");
  EXPECT_EQ(s.concurrency.per_instance, 4);
  EXPECT_EQ(s.concurrency.reserved, 50);
  EXPECT_EQ(s.scaling.min_scale, 1);
  EXPECT_EQ(s.scaling.max_scale, 10);
  EXPECT_EQ(s.scaling.target, 3);
  EXPECT_EQ(s.scaling.scale_to_zero_after_seconds, 60);
  EXPECT_EQ(s.async.max_retries, 1);
  EXPECT_EQ(s.async.max_event_age_seconds, 120);
  ASSERT_TRUE(s.async.on_failure.has_value());
  EXPECT_EQ(s.async.on_failure->stream, "failed");
  EXPECT_EQ(s.async.on_failure->function, std::nullopt);
  ASSERT_TRUE(s.async.on_success.has_value());
  EXPECT_EQ(s.async.on_success->function, "next");
  ASSERT_EQ(s.triggers.size(), 3u);
  ASSERT_TRUE(s.triggers[0].http.has_value());
  EXPECT_EQ(s.triggers[0].http->path, "/hello");
  EXPECT_EQ(s.triggers[0].http->methods, (std::vector<std::string>{"GET", "POST"}));
  EXPECT_FALSE(s.triggers[0].queue.has_value());
  ASSERT_TRUE(s.triggers[1].queue.has_value());
  EXPECT_EQ(s.triggers[1].queue->stream, "orders");
  EXPECT_EQ(s.triggers[1].queue->batch_size, 5);
  EXPECT_EQ(s.triggers[1].queue->batch_window_seconds, 2);
  EXPECT_EQ(s.triggers[1].queue->max_receive_count, 3);
  ASSERT_TRUE(s.triggers[2].schedule.has_value());
  EXPECT_EQ(s.triggers[2].schedule->expression, "rate(5 minutes)");
  EXPECT_EQ(s.service_account_name, "reader");
  EXPECT_EQ(s.replicas, 2);
}

TEST(ParseFunctionTest, AbsentAndNullFieldsStayUnset) {
  ParsedFunction parsed = ParseFunction(json::parse(R"json({
    "metadata": {"name": "bare"},
    "spec": {"runtime": "provided", "memoryMB": null, "code": {"configMap": {}}}
  })json"));
  EXPECT_THAT(parsed.violations, IsEmpty());
  const FunctionSpec& s = parsed.function.spec;
  EXPECT_EQ(s.handler, std::nullopt);
  EXPECT_EQ(s.memory_mb, std::nullopt);
  EXPECT_EQ(s.code.inline_source, std::nullopt);
  EXPECT_EQ(s.code.config_map_name, "");  // Present without a name: validation says so.
  EXPECT_EQ(s.scaling.max_scale, std::nullopt);
  EXPECT_EQ(s.replicas, std::nullopt);
  EXPECT_EQ(parsed.function.metadata.generation, 0);
}

TEST(ParseFunctionTest, WrongTypesAreViolations) {
  struct Case {
    std::string name;
    json patch;
    std::vector<Violation> want;
  };
  const std::vector<Case> cases = {
      {"string for integer",
       {{"spec", {{"memoryMB", "512"}}}},
       {{"spec.memoryMB", "must be an integer, got a string"}}},
      {"fraction for integer",
       {{"spec", {{"timeoutSeconds", 1.5}}}},
       {{"spec.timeoutSeconds", "must be an integer, got 1.5"}}},
      {"number for string",
       {{"spec", {{"handler", 7}}}},
       {{"spec.handler", "must be a string, got 7"},
        {"spec.handler", "required for runtime python3.11 (e.g. app.handler)"}}},
      {"list for object",
       {{"spec", {{"scaling", json::array({1})}}}},
       {{"spec.scaling", "must be an object, got a list"}}},
      {"object for list",
       {{"spec", {{"triggers", {{"http", {{"path", "/x"}}}}}}}},
       {{"spec.triggers", "must be a list, got an object"}}},
      {"environment value not a string",
       {{"spec", {{"environment", {{"DEBUG", true}}}}}},
       {{"spec.environment[DEBUG]", "must be a string, got a boolean"}}},
      {"trigger item not an object",
       {{"spec", {{"triggers", json::array({"http"})}}}},
       {{"spec.triggers[0]", "must be an object, got a string"}}},
      {"method not a string",
       {{"spec",
         {{"triggers",
           json::array({{{"http", {{"path", "/x"}, {"methods", json::array({"GET", 1})}}}}})}}}},
       {{"spec.triggers[0].http.methods[1]", "must be a string, got 1"}}},
      {"async route flag not a boolean",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/x"}, {"async", "yes"}}}}})}}}},
       {{"spec.triggers[0].http.async", "must be true or false, got a string"}}},
      {"layer not an object",
       {{"spec", {{"layers", json::array({"libs"})}}}},
       {{"spec.layers[0]", "must be an object, got a string"}}},
      {"configMap name not a string",
       {{"spec", {{"code", {{"inline", nullptr}, {"configMap", {{"name", 1}}}}}}}},
       {{"spec.code.configMap.name", "must be a string, got 1"},
        {"spec.code.configMap.name", "required"}}},
      {"spec not an object",
       {{"spec", "python"}},
       {{"spec", "must be an object, got a string"},
        {"spec.runtime", "required: use one of python3.11, nodejs20, provided"},
        {"spec.code", "required: set exactly one of code.inline, code.configMap or image"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(Validate(c.patch), ElementsAreArray(c.want));
  }
}

TEST(ParseFunctionTest, NotAnObject) {
  ParsedFunction parsed = ParseFunction(json::array());
  EXPECT_THAT(parsed.violations,
              ElementsAre(Violation{"", "a Function must be an object, got a list"}));
  EXPECT_EQ(parsed.violations[0].ToString(), "a Function must be an object, got a list");
}

TEST(ParseFunctionTest, HugeNumbersAreReportedNotWrapped) {
  EXPECT_THAT(
      Validate({{"spec", {{"memoryMB", 18446744073709551615ULL}}}}),
      ElementsAre(Violation{"spec.memoryMB", "9223372036854775807 is above the maximum 10240"}));
  EXPECT_THAT(Validate({{"spec", {{"memoryMB", 4294967424LL}}}}),
              ElementsAre(Violation{"spec.memoryMB", "4294967424 is above the maximum 10240"}));
}

// ---------------------------------------------------------------------------------------------
// ApplyDefaults

TEST(ApplyDefaultsTest, FillsEveryDefault) {
  Function f = ApplyDefaults(
      ParseFunction(Patched({{"spec",
                              {{"triggers", json::array({{{"http", {{"path", "/h"}}}},
                                                         {{"queue", {{"stream", "q"}}}}})}}}}))
          .function);
  const FunctionSpec& s = f.spec;
  EXPECT_EQ(s.code.file_name, "app.py");
  EXPECT_EQ(s.memory_mb, 128);
  EXPECT_EQ(s.timeout_seconds, 3);
  EXPECT_EQ(s.ephemeral_storage_mb, 512);
  EXPECT_EQ(s.concurrency.per_instance, 1);
  EXPECT_EQ(s.concurrency.reserved, std::nullopt);
  EXPECT_EQ(s.scaling.min_scale, 0);
  EXPECT_EQ(s.scaling.max_scale, 100);
  EXPECT_EQ(s.scaling.target, 1);
  EXPECT_EQ(s.scaling.scale_to_zero_after_seconds, 300);
  EXPECT_EQ(s.async.max_retries, 2);
  EXPECT_EQ(s.async.max_event_age_seconds, 21600);
  EXPECT_EQ(s.async.on_failure, std::nullopt);
  EXPECT_EQ(s.triggers[0].http->methods, std::vector<std::string>{"ANY"});
  EXPECT_EQ(s.triggers[1].queue->batch_size, 10);
  EXPECT_EQ(s.triggers[1].queue->batch_window_seconds, 0);
  EXPECT_EQ(s.triggers[1].queue->max_receive_count, 5);
  EXPECT_EQ(s.service_account_name, std::nullopt);
  EXPECT_EQ(s.replicas, std::nullopt);
}

TEST(ApplyDefaultsTest, KeepsWhatIsWritten) {
  Function f = ApplyDefaults(
      ParseFunction(
          Patched({{"spec",
                    {{"memoryMB", 2048},
                     {"concurrency", {{"perInstance", 8}}},
                     {"scaling", {{"target", 2}, {"maxScale", 3}}},
                     {"code", {{"fileName", "main.py"}}},
                     {"triggers",
                      json::array(
                          {{{"http", {{"path", "/h"}, {"methods", json::array({"GET"})}}}}})}}}}))
          .function);
  EXPECT_EQ(f.spec.memory_mb, 2048);
  EXPECT_EQ(f.spec.scaling.target, 2);
  EXPECT_EQ(f.spec.scaling.max_scale, 3);
  EXPECT_EQ(f.spec.code.file_name, "main.py");
  EXPECT_EQ(f.spec.triggers[0].http->methods, std::vector<std::string>{"GET"});
}

TEST(ApplyDefaultsTest, EmptyMethodsAreEveryMethod) {
  Function f = ApplyDefaults(
      ParseFunction(
          Patched({{"spec",
                    {{"triggers",
                      json::array({{{"http", {{"path", "/h"}, {"methods", json::array()}}}}})}}}}))
          .function);
  EXPECT_EQ(f.spec.triggers[0].http->methods, std::vector<std::string>{"ANY"});
}

TEST(ApplyDefaultsTest, TargetDefaultsToPerInstance) {
  Function f = ApplyDefaults(
      ParseFunction(Patched({{"spec", {{"concurrency", {{"perInstance", 8}}}}}})).function);
  EXPECT_EQ(f.spec.scaling.target, 8);
}

TEST(ApplyDefaultsTest, IsIdempotent) {
  Function once = ApplyDefaults(ParseFunction(BaseObject()).function);
  Function twice = ApplyDefaults(once);
  EXPECT_EQ(twice.spec.code.file_name, once.spec.code.file_name);
  EXPECT_EQ(twice.spec.scaling.target, once.spec.scaling.target);
  EXPECT_EQ(twice.spec.memory_mb, once.spec.memory_mb);
}

TEST(DefaultCodeFileNameTest, FromRuntimeAndHandler) {
  struct Case {
    std::string name;
    std::string runtime;
    std::optional<std::string> handler;
    std::optional<std::string> want;
  };
  const std::vector<Case> cases = {
      {"python module", "python3.11", "app.handler", "app.py"},
      {"python dotted module", "python3.11", "pkg.mod.handler", "pkg.mod.py"},
      {"node", "nodejs20", "index.handler", "index.js"},
      {"no dot: the whole handler", "python3.11", "main", "main.py"},
      {"provided ignores the handler", "provided", "anything.here", "bootstrap"},
      {"provided without handler", "provided", std::nullopt, "bootstrap"},
      {"python without handler", "python3.11", std::nullopt, std::nullopt},
      {"unknown runtime", "ruby3.2", "app.handler", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(DefaultCodeFileName(c.runtime, c.handler), c.want);
  }
}

// ---------------------------------------------------------------------------------------------
// ValidateFunction

TEST(ValidateFunctionTest, ValidFunctions) {
  struct Case {
    std::string name;
    json patch;
  };
  const std::vector<Case> cases = {
      {"minimal inline python", json::object()},
      {"node from a ConfigMap",
       {{"spec",
         {{"runtime", "nodejs20"},
          {"handler", "index.handler"},
          {"code", {{"inline", nullptr}, {"configMap", {{"name", "hello-src.v1"}}}}}}}}},
      {"provided from an image, no handler",
       {{"spec",
         {{"runtime", "provided"},
          {"handler", nullptr},
          {"code", nullptr},
          {"image", "registry.example.com/team/hello@sha256:abc"}}}}},
      {"every bound at its minimum",
       {{"spec",
         {{"memoryMB", 128},
          {"timeoutSeconds", 1},
          {"ephemeralStorageMB", 512},
          {"concurrency", {{"perInstance", 1}, {"reserved", 0}}},
          {"scaling",
           {{"minScale", 0}, {"maxScale", 1}, {"target", 1}, {"scaleToZeroAfterSeconds", 30}}},
          {"async", {{"maxRetries", 0}, {"maxEventAgeSeconds", 60}}},
          {"replicas", 0}}}}},
      {"every bound at its maximum",
       {{"spec",
         {{"memoryMB", 10240},
          {"timeoutSeconds", 900},
          {"ephemeralStorageMB", 10240},
          {"concurrency", {{"perInstance", 1000}, {"reserved", 1000}}},
          {"scaling",
           {{"minScale", 5},
            {"maxScale", 5},
            {"target", 1000},
            {"scaleToZeroAfterSeconds", 86400}}},
          {"async", {{"maxRetries", 2}, {"maxEventAgeSeconds", 21600}}}}}}},
      {"inline code of exactly 256 KiB",
       {{"spec", {{"code", {{"inline", std::string(262144, 'x')}}}}}}},
      {"environment of exactly 4096 bytes",
       {{"spec", {{"environment", {{"A", std::string(4095, 'v')}}}}}}},
      {"five layers",
       {{"spec",
         {{"layers", json::array({{{"configMap", {{"name", "a"}}}},
                                  {{"image", "l:1"}},
                                  {{"configMap", {{"name", "b"}}}},
                                  {{"image", "l:2"}},
                                  {{"configMap", {{"name", "c"}}}}})}}}}},
      {"every trigger kind",
       {{"spec",
         {{"triggers",
           json::array(
               {{{"http", {{"path", "/"}}}},
                {{"http", {{"path", "/users/{id}/files/{proxy+}"}, {"methods", {"GET", "ANY"}}}}},
                {{"http",
                  {{"path", "/a/b"},
                   {"methods", {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}}}}},
                {{"queue",
                  {{"stream", "orders"},
                   {"batchSize", 10000},
                   {"batchWindowSeconds", 300},
                   {"maxReceiveCount", 1}}}},
                {{"schedule", {{"expression", "cron(0 12 * * ? *)"}}}}})}}}}},
      {"empty methods mean every method",
       {{"spec",
         {{"triggers", json::array({{{"http", {{"path", "/a"}, {"methods", json::array()}}}}})}}}}},
      {"sixty-four triggers",
       {{"spec",
         {{"triggers", std::vector<json>(64, {{"schedule", {{"expression", "rate(1 day)"}}}})}}}}},
      {"destinations",
       {{"spec",
         {{"async",
           {{"onFailure", {{"stream", "dlq"}}}, {"onSuccess", {{"function", "next-step"}}}}}}}}},
      {"service account", {{"spec", {{"serviceAccountName", "reader.sa"}}}}},
      {"name of 63 characters", {{"metadata", {{"name", "a" + std::string(62, '0')}}}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(Validate(c.patch), IsEmpty());
  }
}

TEST(ValidateFunctionTest, Violations) {
  struct Case {
    std::string name;
    json patch;
    std::vector<Violation> want;
  };
  const std::string kFileNameRule =
      "use letters, digits, '.', '_' and '-', starting with a letter, digit or '_'";
  const std::string kMethods = "use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY";
  const std::vector<Case> cases = {
      // metadata.name
      {"name missing", {{"metadata", {{"name", nullptr}}}}, {{"metadata.name", "required"}}},
      {"name with capitals",
       {{"metadata", {{"name", "Hello"}}}},
       {{"metadata.name",
         "\"Hello\" is not a valid function name: use at most 63 lowercase letters, digits and "
         "'-', starting with a letter and ending with a letter or digit"}}},
      {"name of 64 characters",
       {{"metadata", {{"name", std::string(64, 'a')}}}},
       {{"metadata.name",
         "\"" + std::string(64, 'a') +
             "\" is not a valid function name: use at most 63 lowercase letters, digits and "
             "'-', starting with a letter and ending with a letter or digit"}}},
      {"name starting with a digit (the Service needs a DNS-1035 label)",
       {{"metadata", {{"name", "1hello"}}}},
       {{"metadata.name",
         "\"1hello\" is not a valid function name: use at most 63 lowercase letters, digits and "
         "'-', starting with a letter and ending with a letter or digit"}}},
      // runtime and handler
      {"runtime missing",
       {{"spec", {{"runtime", nullptr}}}},
       {{"spec.runtime", "required: use one of python3.11, nodejs20, provided"}}},
      {"runtime unknown",
       {{"spec", {{"runtime", "python3.12"}}}},
       {{"spec.runtime",
         "\"python3.12\" is not supported; use one of python3.11, nodejs20, provided"}}},
      {"handler missing for python",
       {{"spec", {{"handler", nullptr}}}},
       {{"spec.handler", "required for runtime python3.11 (e.g. app.handler)"}}},
      {"handler empty for node",
       {{"spec", {{"runtime", "nodejs20"}, {"handler", ""}}}},
       {{"spec.handler", "required for runtime nodejs20 (e.g. app.handler)"}}},
      {"handler too long",
       {{"spec", {{"handler", std::string(125, 'a') + ".hdl"}}}},
       {{"spec.handler", "is 129 characters, above the maximum 128"}}},
      {"empty handler for provided",
       {{"spec", {{"runtime", "provided"}, {"handler", ""}}}},
       {{"spec.handler", "must not be empty: leave it out instead"}}},
      {"handler with a space",
       {{"spec", {{"handler", "app. handler"}}}},
       {{"spec.handler", "\"app. handler\" must not contain whitespace"}}},
      // code
      {"no code source",
       {{"spec", {{"code", nullptr}}}},
       {{"spec.code", "required: set exactly one of code.inline, code.configMap or image"}}},
      {"inline and image",
       {{"spec", {{"image", "hello:1"}}}},
       {{"spec.code",
         "set exactly one of code.inline, code.configMap or image, not code.inline and image"}}},
      {"all three sources",
       {{"spec", {{"image", "hello:1"}, {"code", {{"configMap", {{"name", "src"}}}}}}}},
       {{"spec.code",
         "set exactly one of code.inline, code.configMap or image, not code.inline "
         "and code.configMap and image"}}},
      {"inline over 256 KiB",
       {{"spec", {{"code", {{"inline", std::string(262145, 'x')}}}}}},
       {{"spec.code.inline", "262145 bytes is above the maximum 262144 (256 KiB)"}}},
      {"fileName without inline",
       {{"spec",
         {{"code",
           {{"inline", nullptr}, {"fileName", "app.py"}, {"configMap", {{"name", "src"}}}}}}}},
       {{"spec.code.fileName", "only allowed with spec.code.inline"}}},
      {"fileName with a slash",
       {{"spec", {{"code", {{"fileName", "src/app.py"}}}}}},
       {{"spec.code.fileName", "\"src/app.py\" is not a plain file name: " + kFileNameRule}}},
      {"fileName ..",
       {{"spec", {{"code", {{"fileName", ".."}}}}}},
       {{"spec.code.fileName", "\"..\" is not a plain file name: " + kFileNameRule}}},
      {"fileName starting with a dot",
       {{"spec", {{"code", {{"fileName", ".env"}}}}}},
       {{"spec.code.fileName", "\".env\" is not a plain file name: " + kFileNameRule}}},
      {"defaulted fileName from a handler with a folder",
       {{"spec", {{"handler", "src/app.handler"}}}},
       {{"spec.code.fileName",
         "\"src/app.py\" (the default from spec.handler) is not a plain file name: " +
             kFileNameRule}}},
      {"configMap without a name",
       {{"spec", {{"code", {{"inline", nullptr}, {"configMap", json::object()}}}}}},
       {{"spec.code.configMap.name", "required"}}},
      {"configMap with a bad name",
       {{"spec", {{"code", {{"inline", nullptr}, {"configMap", {{"name", "My_Code"}}}}}}}},
       {{"spec.code.configMap.name", "\"My_Code\" is not a valid ConfigMap name"}}},
      {"empty image", {{"spec", {{"code", nullptr}, {"image", ""}}}}, {{"spec.image", "required"}}},
      {"image with a space",
       {{"spec", {{"code", nullptr}, {"image", "hello :1"}}}},
       {{"spec.image", "\"hello :1\" must not contain whitespace"}}},
      {"image too long",
       {{"spec", {{"code", nullptr}, {"image", std::string(1025, 'i')}}}},
       {{"spec.image", "is 1025 characters, above the maximum 1024"}}},
      // limits
      {"memory below",
       {{"spec", {{"memoryMB", 64}}}},
       {{"spec.memoryMB", "64 is below the minimum 128"}}},
      {"memory above",
       {{"spec", {{"memoryMB", 10241}}}},
       {{"spec.memoryMB", "10241 is above the maximum 10240"}}},
      {"timeout zero",
       {{"spec", {{"timeoutSeconds", 0}}}},
       {{"spec.timeoutSeconds", "0 is below the minimum 1"}}},
      {"timeout above",
       {{"spec", {{"timeoutSeconds", 901}}}},
       {{"spec.timeoutSeconds", "901 is above the maximum 900"}}},
      {"ephemeral storage below",
       {{"spec", {{"ephemeralStorageMB", 511}}}},
       {{"spec.ephemeralStorageMB", "511 is below the minimum 512"}}},
      {"ephemeral storage above",
       {{"spec", {{"ephemeralStorageMB", 10241}}}},
       {{"spec.ephemeralStorageMB", "10241 is above the maximum 10240"}}},
      // environment
      {"reserved variable",
       {{"spec", {{"environment", {{"AWS_REGION", "eu-west-1"}}}}}},
       {{"spec.environment[AWS_REGION]", "AWS_REGION is reserved by the platform"}}},
      {"reserved _HANDLER and LAMBDA_TASK_ROOT",
       {{"spec", {{"environment", {{"_HANDLER", "x"}, {"LAMBDA_TASK_ROOT", "/x"}}}}}},
       {{"spec.environment[LAMBDA_TASK_ROOT]", "LAMBDA_TASK_ROOT is reserved by the platform"},
        {"spec.environment[_HANDLER]", "_HANDLER is reserved by the platform"}}},
      {"name starting with a digit",
       {{"spec", {{"environment", {{"1ST", "x"}}}}}},
       {{"spec.environment[1ST]",
         "\"1ST\" is not a valid name: start with a letter, then letters, digits or "
         "underscores"}}},
      {"name with a dash",
       {{"spec", {{"environment", {{"MY-VAR", "x"}}}}}},
       {{"spec.environment[MY-VAR]",
         "\"MY-VAR\" is not a valid name: start with a letter, then letters, digits or "
         "underscores"}}},
      {"environment over 4096 bytes",
       {{"spec", {{"environment", {{"A", std::string(4000, 'v')}, {"B", std::string(100, 'v')}}}}}},
       {{"spec.environment", "variables total 4102 bytes, over the 4 KB (4096 bytes) limit"}}},
      // layers
      {"six layers",
       {{"spec",
         {{"layers", json::array({{{"image", "l:1"}},
                                  {{"image", "l:2"}},
                                  {{"image", "l:3"}},
                                  {{"image", "l:4"}},
                                  {{"image", "l:5"}},
                                  {{"image", "l:6"}}})}}}},
       {{"spec.layers", "6 layers, at most 5 are allowed"}}},
      {"layer with both sources",
       {{"spec", {{"layers", json::array({{{"image", "l:1"}, {"configMap", {{"name", "a"}}}}})}}}},
       {{"spec.layers[0]", "set exactly one of configMap or image"}}},
      {"layer with neither",
       {{"spec", {{"layers", json::array({json::object()})}}}},
       {{"spec.layers[0]", "set exactly one of configMap or image"}}},
      {"layer with a bad ConfigMap name",
       {{"spec", {{"layers", json::array({{{"configMap", {{"name", "-libs"}}}}})}}}},
       {{"spec.layers[0].configMap.name", "\"-libs\" is not a valid ConfigMap name"}}},
      // concurrency and scaling
      {"perInstance zero",
       {{"spec", {{"concurrency", {{"perInstance", 0}}}}}},
       {{"spec.concurrency.perInstance", "0 is below the minimum 1"}}},
      {"perInstance above",
       {{"spec", {{"concurrency", {{"perInstance", 1001}}}}}},
       {{"spec.concurrency.perInstance", "1001 is above the maximum 1000"}}},
      {"reserved negative",
       {{"spec", {{"concurrency", {{"reserved", -1}}}}}},
       {{"spec.concurrency.reserved", "-1 is below the minimum 0"}}},
      {"reserved above",
       {{"spec", {{"concurrency", {{"reserved", 1001}}}}}},
       {{"spec.concurrency.reserved", "1001 is above the maximum 1000"}}},
      {"minScale negative",
       {{"spec", {{"scaling", {{"minScale", -1}}}}}},
       {{"spec.scaling.minScale", "-1 is below the minimum 0"}}},
      {"maxScale zero",
       {{"spec", {{"scaling", {{"maxScale", 0}}}}}},
       {{"spec.scaling.maxScale", "0 is below the minimum 1"}}},
      {"maxScale below minScale",
       {{"spec", {{"scaling", {{"minScale", 5}, {"maxScale", 3}}}}}},
       {{"spec.scaling.maxScale", "3 is below spec.scaling.minScale 5"}}},
      {"default maxScale below minScale",
       {{"spec", {{"scaling", {{"minScale", 200}}}}}},
       {{"spec.scaling.maxScale", "100 (the default) is below spec.scaling.minScale 200"}}},
      {"target zero",
       {{"spec", {{"scaling", {{"target", 0}}}}}},
       {{"spec.scaling.target", "0 is below the minimum 1"}}},
      {"target above perInstance",
       {{"spec", {{"concurrency", {{"perInstance", 4}}}, {"scaling", {{"target", 5}}}}}},
       {{"spec.scaling.target", "5 is above spec.concurrency.perInstance 4"}}},
      {"target above the default perInstance",
       {{"spec", {{"scaling", {{"target", 2}}}}}},
       {{"spec.scaling.target", "2 is above spec.concurrency.perInstance 1"}}},
      {"scaleToZeroAfterSeconds below",
       {{"spec", {{"scaling", {{"scaleToZeroAfterSeconds", 29}}}}}},
       {{"spec.scaling.scaleToZeroAfterSeconds", "29 is below the minimum 30"}}},
      {"scaleToZeroAfterSeconds above",
       {{"spec", {{"scaling", {{"scaleToZeroAfterSeconds", 86401}}}}}},
       {{"spec.scaling.scaleToZeroAfterSeconds", "86401 is above the maximum 86400"}}},
      // async
      {"maxRetries above",
       {{"spec", {{"async", {{"maxRetries", 3}}}}}},
       {{"spec.async.maxRetries", "3 is above the maximum 2"}}},
      {"maxRetries negative",
       {{"spec", {{"async", {{"maxRetries", -1}}}}}},
       {{"spec.async.maxRetries", "-1 is below the minimum 0"}}},
      {"maxEventAgeSeconds below",
       {{"spec", {{"async", {{"maxEventAgeSeconds", 59}}}}}},
       {{"spec.async.maxEventAgeSeconds", "59 is below the minimum 60"}}},
      {"maxEventAgeSeconds above",
       {{"spec", {{"async", {{"maxEventAgeSeconds", 21601}}}}}},
       {{"spec.async.maxEventAgeSeconds", "21601 is above the maximum 21600"}}},
      {"destination with both",
       {{"spec", {{"async", {{"onFailure", {{"stream", "s"}, {"function", "f"}}}}}}}},
       {{"spec.async.onFailure", "set exactly one of stream or function"}}},
      {"destination with neither",
       {{"spec", {{"async", {{"onSuccess", json::object()}}}}}},
       {{"spec.async.onSuccess", "set exactly one of stream or function"}}},
      {"destination function with a bad name",
       {{"spec", {{"async", {{"onFailure", {{"function", "Next_Step"}}}}}}}},
       {{"spec.async.onFailure.function",
         "\"Next_Step\" is not a valid function name: use at most 63 lowercase letters, digits "
         "and '-', starting with a letter and ending with a letter or digit"}}},
      {"destination stream with a tab",
       {{"spec", {{"async", {{"onFailure", {{"stream", "a\tb"}}}}}}}},
       {{"spec.async.onFailure.stream", "\"a\tb\" must not contain whitespace"}}},
      {"destination stream empty",
       {{"spec", {{"async", {{"onFailure", {{"stream", ""}}}}}}}},
       {{"spec.async.onFailure.stream", "required"}}},
      // triggers
      {"trigger with no kind",
       {{"spec", {{"triggers", json::array({json::object()})}}}},
       {{"spec.triggers[0]", "set exactly one of http, queue or schedule"}}},
      {"trigger with two kinds",
       {{"spec",
         {{"triggers", json::array({{{"http", {{"path", "/a"}}},
                                     {"schedule", {{"expression", "rate(1 minute)"}}}}})}}}},
       {{"spec.triggers[0]", "set exactly one of http, queue or schedule, not http and schedule"}}},
      {"http without path",
       {{"spec", {{"triggers", json::array({{{"http", json::object()}}})}}}},
       {{"spec.triggers[0].http.path", "required"}}},
      {"http path without a leading slash",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "hello"}}}}})}}}},
       {{"spec.triggers[0].http.path", "\"hello\" must start with \"/\""}}},
      {"http path with a query",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/a?b=1"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/a?b=1\": segment \"a?b=1\" may only contain letters, digits and ._~!$&()*,;=:@%-"}}},
      {"http path with a space",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/a b"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/a b\": segment \"a b\" may only contain letters, digits and ._~!$&()*,;=:@%-"}}},
      {"http path too long",
       {{"spec",
         {{"triggers", json::array({{{"http", {{"path", "/" + std::string(1024, 'p')}}}}})}}}},
       {{"spec.triggers[0].http.path", "is 1025 characters, above the maximum 1024"}}},
      {"param name starting with a digit",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/users/{1d}"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/users/{1d}\": segment \"{1d}\" needs a parameter name of letters, digits and '_', "
         "not starting with a digit"}}},
      {"http path with an empty segment",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/a//b"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/a//b\" has an empty segment (\"//\" or a trailing \"/\")"}}},
      {"http path with a trailing slash",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/a/"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/a/\" has an empty segment (\"//\" or a trailing \"/\")"}}},
      {"proxy+ not last",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/a/{proxy+}/b"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/a/{proxy+}/b\": \"{proxy+}\" may only be the last segment"}}},
      {"param inside a segment",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/users/id-{id}"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/users/id-{id}\": segment \"id-{id}\" must be a whole {param} or {proxy+}"}}},
      {"param without a name",
       {{"spec", {{"triggers", json::array({{{"http", {{"path", "/users/{}"}}}}})}}}},
       {{"spec.triggers[0].http.path",
         "\"/users/{}\": segment \"{}\" needs a parameter name of letters, digits and '_', not "
         "starting with a digit"}}},
      {"unknown method",
       {{"spec",
         {{"triggers",
           json::array({{{"http", {{"path", "/a"}, {"methods", {"GET", "get", "FETCH"}}}}}})}}}},
       {{"spec.triggers[0].http.methods[1]", "\"get\" is not a method: " + kMethods},
        {"spec.triggers[0].http.methods[2]", "\"FETCH\" is not a method: " + kMethods}}},
      {"method listed twice",
       {{"spec",
         {{"triggers",
           json::array({{{"http", {{"path", "/a"}, {"methods", {"GET", "POST", "GET"}}}}}})}}}},
       {{"spec.triggers[0].http.methods[2]", "\"GET\" is listed twice"}}},
      {"65 triggers",
       {{"spec",
         {{"triggers", std::vector<json>(65, {{"schedule", {{"expression", "rate(1 day)"}}}})}}}},
       {{"spec.triggers", "65 triggers, at most 64 are allowed"}}},
      {"queue without stream",
       {{"spec", {{"triggers", json::array({{{"queue", json::object()}}})}}}},
       {{"spec.triggers[0].queue.stream", "required"}}},
      {"queue bounds",
       {{"spec",
         {{"triggers", json::array({{{"queue",
                                      {{"stream", "q"},
                                       {"batchSize", 0},
                                       {"batchWindowSeconds", 301},
                                       {"maxReceiveCount", 0}}}}})}}}},
       {{"spec.triggers[0].queue.batchSize", "0 is below the minimum 1"},
        {"spec.triggers[0].queue.batchWindowSeconds", "301 is above the maximum 300"},
        {"spec.triggers[0].queue.maxReceiveCount", "0 is below the minimum 1"}}},
      {"queue stream with a space",
       {{"spec", {{"triggers", json::array({{{"queue", {{"stream", "my orders"}}}}})}}}},
       {{"spec.triggers[0].queue.stream", "\"my orders\" must not contain whitespace"}}},
      {"queue stream too long",
       {{"spec", {{"triggers", json::array({{{"queue", {{"stream", std::string(257, 's')}}}}})}}}},
       {{"spec.triggers[0].queue.stream", "is 257 characters, above the maximum 256"}}},
      {"queue batch too big",
       {{"spec",
         {{"triggers", json::array({{{"queue", {{"stream", "q"}, {"batchSize", 10001}}}}})}}}},
       {{"spec.triggers[0].queue.batchSize", "10001 is above the maximum 10000"}}},
      {"schedule without expression",
       {{"spec", {{"triggers", json::array({{{"schedule", {{"expression", "  "}}}}})}}}},
       {{"spec.triggers[0].schedule.expression", "required"}}},
      {"schedule expression that does not parse",
       {{"spec", {{"triggers", json::array({{{"schedule", {{"expression", "cron(0 12 ? * 8 *)"}}}}})}}}},
       {{"spec.triggers[0].schedule.expression",
         "cron expression \"cron(0 12 ? * 8 *)\": day-of-week: 8 is out of range 1-7 (SUN-SAT)"}}},
      {"second trigger is the broken one",
       {{"spec",
         {{"triggers",
           json::array({{{"http", {{"path", "/ok"}}}}, {{"http", {{"path", "bad"}}}}})}}}},
       {{"spec.triggers[1].http.path", "\"bad\" must start with \"/\""}}},
      // the rest
      {"service account with a bad name",
       {{"spec", {{"serviceAccountName", "Reader"}}}},
       {{"spec.serviceAccountName", "\"Reader\" is not a valid ServiceAccount name"}}},
      {"negative replicas",
       {{"spec", {{"replicas", -1}}}},
       {{"spec.replicas", "-1 is below the minimum 0"}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_THAT(Validate(c.patch), ElementsAreArray(c.want));
  }
}

TEST(ValidateFunctionTest, ReportsEveryViolationInFieldOrder) {
  std::vector<Violation> got = Validate({{"metadata", {{"name", "Bad"}}},
                                         {"spec",
                                          {{"handler", nullptr},
                                           {"memoryMB", 64},
                                           {"timeoutSeconds", 901},
                                           {"environment", {{"AWS_REGION", "x"}}},
                                           {"scaling", {{"minScale", 3}, {"maxScale", 2}}}}}});
  std::vector<std::string> fields;
  for (const Violation& v : got) fields.push_back(v.field);
  EXPECT_THAT(fields,
              ElementsAre("metadata.name", "spec.handler", "spec.memoryMB", "spec.timeoutSeconds",
                          "spec.environment[AWS_REGION]", "spec.scaling.maxScale"));
}

TEST(ValidateFunctionTest, SameFieldsBeforeAndAfterDefaults) {
  const std::vector<json> patches = {
      json::object(),
      {{"spec", {{"scaling", {{"minScale", 200}}}}}},
      {{"spec", {{"handler", "src/app.handler"}}}},
      {{"spec", {{"memoryMB", 64}, {"scaling", {{"target", 3}}}}}},
  };
  auto fields = [](const std::vector<Violation>& violations) {
    std::vector<std::string> out;
    for (const Violation& v : violations) out.push_back(v.field);
    return out;
  };
  for (const json& patch : patches) {
    SCOPED_TRACE(patch.dump());
    Function raw = ParseFunction(Patched(patch)).function;
    EXPECT_EQ(fields(ValidateFunction(raw)), fields(ValidateFunction(ApplyDefaults(raw))));
  }
}

TEST(ViolationTest, ToStringAndJoin) {
  std::vector<Violation> v = {
      {"spec.memoryMB", "64 is below the minimum 128"},
      {"spec.handler", "required for runtime python3.11 (e.g. app.handler)"}};
  EXPECT_EQ(v[0].ToString(), "spec.memoryMB: 64 is below the minimum 128");
  EXPECT_EQ(JoinViolations(v),
            "spec.memoryMB: 64 is below the minimum 128; spec.handler: required for runtime "
            "python3.11 (e.g. app.handler)");
  EXPECT_EQ(JoinViolations({}), "");
}

// ---------------------------------------------------------------------------------------------
// Names

TEST(NamesTest, KubernetesNameRules) {
  struct Case {
    std::string input;
    bool label1123;
    bool label1035;
    bool subdomain;
  };
  const std::vector<Case> cases = {
      {"hello", true, true, true},
      {"hello-world-2", true, true, true},
      {"2fast", true, false, true},
      {"a", true, true, true},
      {"", false, false, false},
      {"-a", false, false, false},
      {"a-", false, false, false},
      {"Hello", false, false, false},
      {"a_b", false, false, false},
      {"a.b", false, false, true},
      {"a..b", false, false, false},
      {".a", false, false, false},
      {std::string(63, 'a'), true, true, true},
      {std::string(64, 'a'), false, false, true},
      {std::string(253, 'a'), false, false, true},
      {std::string(254, 'a'), false, false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(IsDns1123Label(c.input), c.label1123);
    EXPECT_EQ(IsDns1035Label(c.input), c.label1035);
    EXPECT_EQ(IsDns1123Subdomain(c.input), c.subdomain);
  }
}

// ---------------------------------------------------------------------------------------------
// MakeFunctionConfig / FunctionConfigToJson

TEST(MakeFunctionConfigTest, FromAValidFunction) {
  ParsedFunction loaded =
      LoadFunction(Patched({{"spec",
                             {{"memoryMB", 256},
                              {"timeoutSeconds", 10},
                              {"environment", {{"GREETING", "hi"}, {"DEBUG", "1"}}},
                              {"concurrency", {{"perInstance", 4}}}}}}));
  ASSERT_THAT(loaded.violations, IsEmpty());
  absl::StatusOr<FunctionConfig> config = MakeFunctionConfig(loaded.function);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "hello");
  EXPECT_EQ(config->runtime_name, "python3.11");
  EXPECT_EQ(config->runtime, Runtime::kPython311);
  EXPECT_EQ(config->handler, "app.handler");
  EXPECT_EQ(config->code_path, "/var/task");
  EXPECT_EQ(config->memory_mb, 256);
  EXPECT_EQ(config->timeout_seconds, 10);
  EXPECT_EQ(config->ephemeral_storage_mb, 512);
  EXPECT_THAT(config->environment, ElementsAre(Pair("DEBUG", "1"), Pair("GREETING", "hi")));
}

TEST(MakeFunctionConfigTest, DefaultsAnUndefaultedFunction) {
  absl::StatusOr<FunctionConfig> config = MakeFunctionConfig(ParseFunction(BaseObject()).function);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->memory_mb, 128);
  EXPECT_EQ(config->timeout_seconds, 3);
}

TEST(MakeFunctionConfigTest, ProvidedWithoutHandler) {
  absl::StatusOr<FunctionConfig> config = MakeFunctionConfig(
      LoadFunction(Patched({{"spec", {{"runtime", "provided"}, {"handler", nullptr}}}})).function);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->runtime, Runtime::kProvided);
  EXPECT_EQ(config->handler, "");
}

TEST(MakeFunctionConfigTest, RefusesAnInvalidFunction) {
  absl::StatusOr<FunctionConfig> config =
      MakeFunctionConfig(LoadFunction(Patched({{"spec", {{"memoryMB", 64}}}})).function);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(), "spec.memoryMB: 64 is below the minimum 128");
}

TEST(FunctionConfigToJsonTest, RoundTripsThroughTheWorkersParser) {
  absl::StatusOr<FunctionConfig> config = MakeFunctionConfig(
      LoadFunction(Patched({{"spec", {{"memoryMB", 1024}, {"environment", {{"K", "V"}}}}}}))
          .function);
  ASSERT_TRUE(config.ok()) << config.status();
  json doc = FunctionConfigToJson(*config);
  EXPECT_EQ(doc, json::parse(R"json({"name": "hello", "runtime": "python3.11",
                                  "handler": "app.handler", "codePath": "/var/task",
                                  "memoryMB": 1024, "timeoutSeconds": 3,
                                  "ephemeralStorageMB": 512, "environment": {"K": "V"}})json"));
  absl::StatusOr<FunctionConfig> back = ParseFunctionConfigJson(doc.dump());
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(ValidateFunctionConfig(*back).ok());
  EXPECT_EQ(back->name, config->name);
  EXPECT_EQ(back->runtime, config->runtime);
  EXPECT_EQ(back->handler, config->handler);
  EXPECT_EQ(back->code_path, config->code_path);
  EXPECT_EQ(back->memory_mb, config->memory_mb);
  EXPECT_EQ(back->timeout_seconds, config->timeout_seconds);
  EXPECT_EQ(back->ephemeral_storage_mb, config->ephemeral_storage_mb);
  EXPECT_EQ(back->environment, config->environment);
}

}  // namespace
}  // namespace wisp
