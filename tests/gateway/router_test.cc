// Router: API Gateway HTTP API route matching over the catalog's HTTP triggers and the default
// /function/{name} routes.
#include "gateway/router.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Kind = RouteMatch::Kind;

struct FnSpec {
  std::string name;
  std::vector<HttpRoute> routes;
};

Snapshot MakeSnapshot(const std::vector<FnSpec>& fns) {
  Snapshot snap;
  for (const FnSpec& f : fns) {
    FunctionInfo info;
    info.name = f.name;
    info.routes = f.routes;
    snap.functions[f.name] = info;
  }
  return snap;
}

// One table of functions exercising every precedence rule.
Snapshot World() {
  return MakeSnapshot({
      {"greet", {{"/hello/{name}", {"GET"}}}},
      {"me", {{"/hello/me", {}}}},  // ANY, literal
      {"hello-tail", {{"/hello/{proxy+}", {}}}},
      {"files", {{"/files/{proxy+}", {}}}},
      {"readme", {{"/files/readme", {"GET"}}}},
      {"items", {{"/items", {"POST", "PUT"}}}},
      {"things-any", {{"/things/{id}", {}}}},
      {"things-get", {{"/things/{id}", {"GET"}}}},
      {"multi", {{"/multi", {"GET", "HEAD"}}}},
      {"seg-param", {{"/a/{x}/c", {}}}},
      {"seg-literal", {{"/a/b/{y}", {}}}},
      {"root", {{"/", {"GET"}}}},
      {"shadow", {{"/function/greet", {"GET"}}}},
      {"users", {{"/users/{id}", {"GET"}}}},
  });
}

TEST(RouterTest, Match) {
  struct Case {
    std::string name;
    std::string method;
    std::string path;
    Kind want_kind;
    std::string want_function;
    std::string want_route_key;
    std::map<std::string, std::string> want_params;
    std::vector<std::string> want_allowed;
  };
  const std::vector<Case> cases = {
      // Parameters and literals.
      {"param", "GET", "/hello/bob", Kind::kMatched, "greet", "GET /hello/{name}",
       {{"name", "bob"}}, {}},
      {"literal beats param even when the literal route is ANY", "GET", "/hello/me",
       Kind::kMatched, "me", "ANY /hello/me", {}, {}},
      {"param beats greedy", "GET", "/hello/alice", Kind::kMatched, "greet", "GET /hello/{name}",
       {{"name", "alice"}}, {}},
      {"greedy takes the rest", "GET", "/hello/a/b/c", Kind::kMatched, "hello-tail",
       "ANY /hello/{proxy+}", {{"proxy", "a/b/c"}}, {}},
      {"literal beats greedy", "GET", "/files/readme", Kind::kMatched, "readme",
       "GET /files/readme", {}, {}},
      {"greedy single segment", "GET", "/files/x", Kind::kMatched, "files",
       "ANY /files/{proxy+}", {{"proxy", "x"}}, {}},
      {"method mismatch on literal falls back to ANY greedy", "POST", "/files/readme",
       Kind::kMatched, "files", "ANY /files/{proxy+}", {{"proxy", "readme"}}, {}},
      {"earlier literal segment decides", "GET", "/a/b/c", Kind::kMatched, "seg-literal",
       "ANY /a/b/{y}", {{"y", "c"}}, {}},
      {"root", "GET", "/", Kind::kMatched, "root", "GET /", {}, {}},
      // Methods.
      {"exact method beats ANY", "GET", "/things/7", Kind::kMatched, "things-get",
       "GET /things/{id}", {{"id", "7"}}, {}},
      {"other methods take ANY", "DELETE", "/things/7", Kind::kMatched, "things-any",
       "ANY /things/{id}", {{"id", "7"}}, {}},
      {"route key names the request's method", "HEAD", "/multi", Kind::kMatched, "multi",
       "HEAD /multi", {}, {}},
      {"405 lists allowed methods", "GET", "/items", Kind::kMethodNotAllowed, "", "", {},
       {"POST", "PUT"}},
      {"405 for a param route", "POST", "/users/1", Kind::kMethodNotAllowed, "", "", {},
       {"GET"}},
      {"method mismatch on param falls back to ANY greedy", "POST", "/hello/bob",
       Kind::kMatched, "hello-tail", "ANY /hello/{proxy+}", {{"proxy", "bob"}}, {}},
      {"methods are case-sensitive", "get", "/multi", Kind::kMethodNotAllowed, "", "", {},
       {"GET", "HEAD"}},
      // Default routes.
      {"default route", "POST", "/function/readme", Kind::kMatched, "readme",
       "ANY /function/readme", {}, {}},
      {"default greedy route", "GET", "/function/readme/x/y", Kind::kMatched, "readme",
       "ANY /function/readme/{proxy+}", {{"proxy", "x/y"}}, {}},
      {"explicit route beats default for its method", "GET", "/function/greet", Kind::kMatched,
       "shadow", "GET /function/greet", {}, {}},
      {"default still serves other methods", "POST", "/function/greet", Kind::kMatched, "greet",
       "ANY /function/greet", {}, {}},
      {"unknown function", "GET", "/function/nope", Kind::kNotFound, "", "", {}, {}},
      // Decoding.
      {"param percent-decoded", "GET", "/hello/J%C3%B6rg%20X", Kind::kMatched, "greet",
       "GET /hello/{name}", {{"name", "J\xC3\xB6rg X"}}, {}},
      {"encoded slash stays in one param", "GET", "/hello/a%2Fb", Kind::kMatched, "greet",
       "GET /hello/{name}", {{"name", "a/b"}}, {}},
      {"plus kept in path", "GET", "/hello/a+b", Kind::kMatched, "greet", "GET /hello/{name}",
       {{"name", "a+b"}}, {}},
      {"greedy percent-decoded", "GET", "/files/dir/a%20b", Kind::kMatched, "files",
       "ANY /files/{proxy+}", {{"proxy", "dir/a b"}}, {}},
      // Not found and trailing slashes.
      {"no route", "GET", "/nope", Kind::kNotFound, "", "", {}, {}},
      {"trailing slash is a different path", "GET", "/hello/bob/", Kind::kMatched, "hello-tail",
       "ANY /hello/{proxy+}", {{"proxy", "bob/"}}, {}},
      {"trailing slash on literal", "POST", "/items/", Kind::kNotFound, "", "", {}, {}},
      {"empty param segment", "GET", "/things/", Kind::kNotFound, "", "", {}, {}},
      {"greedy needs a segment", "GET", "/files", Kind::kNotFound, "", "", {}, {}},
      {"greedy needs a non-empty segment", "GET", "/files/", Kind::kNotFound, "", "", {}, {}},
      {"default greedy needs a non-empty segment", "GET", "/function/readme/", Kind::kNotFound,
       "", "", {}, {}},
      {"too many segments for params", "GET", "/things/1/2", Kind::kNotFound, "", "", {}, {}},
  };
  std::vector<std::string> conflicts;
  Router router = Router::Build(World(), &conflicts);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name + ": " + c.method + " " + c.path);
    RouteMatch m = router.Match(c.method, c.path);
    EXPECT_EQ(m.kind, c.want_kind);
    EXPECT_EQ(m.function, c.want_function);
    EXPECT_EQ(m.route_key, c.want_route_key);
    EXPECT_EQ(m.path_parameters, c.want_params);
    EXPECT_EQ(m.allowed_methods, c.want_allowed);
  }
}

TEST(RouterTest, ConflictsKeepTheFirstFunctionInNameOrder) {
  std::vector<std::string> conflicts;
  Router router = Router::Build(MakeSnapshot({
                                    {"beta", {{"/dup/{b}", {"GET"}}}},
                                    {"alpha", {{"/dup/{a}", {"GET"}}}},
                                    {"gamma", {{"/dup/{c}", {"POST"}}}},  // other method: fine
                                    {"delta", {{"/any", {}}}},
                                    {"epsilon", {{"/any", {}}}},
                                }),
                                &conflicts);
  ASSERT_EQ(conflicts.size(), 2u);
  EXPECT_THAT(conflicts[0], HasSubstr("beta"));
  EXPECT_THAT(conflicts[0], HasSubstr("GET/dup/*"));
  EXPECT_THAT(conflicts[1], HasSubstr("epsilon"));
  EXPECT_THAT(conflicts[1], HasSubstr("ANY/any"));

  RouteMatch get = router.Match("GET", "/dup/1");
  EXPECT_EQ(get.function, "alpha");
  EXPECT_EQ(get.path_parameters, (std::map<std::string, std::string>{{"a", "1"}}));
  EXPECT_EQ(router.Match("POST", "/dup/1").function, "gamma");
  EXPECT_EQ(router.Match("PUT", "/any").function, "delta");
}

TEST(RouterTest, ExplicitRouteTakesTheDefaultRoutesShape) {
  // An explicit ANY /function/greet has the default route's shape; the explicit one is kept
  // and the default is reported.
  std::vector<std::string> conflicts;
  Router router = Router::Build(
      MakeSnapshot({{"greet", {}}, {"shadow", {{"/function/greet", {}}}}}), &conflicts);
  ASSERT_EQ(conflicts.size(), 1u);
  EXPECT_THAT(conflicts[0], HasSubstr("greet: ANY/function/greet"));
  RouteMatch m = router.Match("GET", "/function/greet");
  EXPECT_EQ(m.function, "shadow");
  EXPECT_EQ(m.route_key, "ANY /function/greet");
  // The default greedy route is a different shape and still belongs to greet.
  EXPECT_EQ(router.Match("GET", "/function/greet/x").function, "greet");
}

TEST(RouterTest, NoConflictsWithoutOverlap) {
  std::vector<std::string> conflicts;
  Router::Build(World(), &conflicts);
  EXPECT_THAT(conflicts, IsEmpty());
  // A null conflicts pointer is allowed.
  Router router = Router::Build(MakeSnapshot({{"a", {{"/x", {}}}}, {"b", {{"/x", {}}}}}));
  EXPECT_EQ(router.Match("GET", "/x").function, "a");
}

TEST(RouterTest, AsyncRoutesSayTheyAreAsync) {
  Snapshot snap;
  FunctionInfo fn;
  fn.name = "hooks";
  fn.routes = {{"/hook", {"POST"}, true}, {"/sync", {}, false}};
  snap.functions["hooks"] = fn;
  Router router = Router::Build(snap);
  EXPECT_TRUE(router.Match("POST", "/hook").async);
  EXPECT_FALSE(router.Match("GET", "/sync").async);
  EXPECT_FALSE(router.Match("GET", "/function/hooks").async) << "default routes stay synchronous";
}

TEST(RouterTest, EmptyCatalogMatchesNothing) {
  Router router = Router::Build(Snapshot{});
  EXPECT_EQ(router.Match("GET", "/").kind, Kind::kNotFound);
  EXPECT_EQ(router.Match("GET", "/function/x").kind, Kind::kNotFound);
}

// Regression (fixed; the text says what broke):
// A route dropped for a conflict on one of its methods still reserves its other methods, so a
// later function's route for such a method is refused although nothing serves it.
// router.cc Build(): keys are inserted into `seen` one by one and the route is dropped at the
// first taken key, leaving the earlier keys in `seen`.
TEST(RouterTest, DroppedConflictingRouteDoesNotReserveItsOtherMethods) {
  std::vector<std::string> conflicts;
  Router router = Router::Build(MakeSnapshot({
                                    {"a", {{"/x", {"GET"}}}},
                                    {"b", {{"/x", {"POST", "GET"}}}},  // GET conflicts with a
                                    {"c", {{"/x", {"POST"}}}},
                                }),
                                &conflicts);
  // b's route is dropped; c's POST /x conflicts with nothing that is served.
  RouteMatch m = router.Match("POST", "/x");
  EXPECT_EQ(m.kind, Kind::kMatched);
  EXPECT_EQ(m.function, "c");
  EXPECT_EQ(conflicts.size(), 1u);
}

TEST(PercentDecodeTest, Table) {
  struct Case {
    std::string in;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"plain", "plain"},
      {"a%20b", "a b"},
      {"%2F", "/"},
      {"%2f", "/"},
      {"%41%42", "AB"},
      {"a+b", "a+b"},
      {"%zz", "%zz"},
      {"%4", "%4"},
      {"%", "%"},
      {"100%", "100%"},
      {"%%41", "%A"},
      {"%C3%B6", "\xC3\xB6"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    EXPECT_EQ(PercentDecode(c.in), c.want);
  }
}

}  // namespace
}  // namespace wisp::gateway
