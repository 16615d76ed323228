// Table tests of BuildRouting: the world (Functions, EndpointSlices) in, the routing table out.
#include "controller/routing.h"

#include "gtest/gtest.h"

namespace wisp {
namespace {

using nlohmann::json;

json Fn(const std::string& name, json spec = json::object(), const std::string& ns = "default") {
  json base = {{"runtime", "python3.11"},
               {"handler", "app.handler"},
               {"code", {{"inline", "def handler(e, c):\n    return e\n"}}}};
  base.merge_patch(spec);
  return {{"apiVersion", "wisp.dev/v1alpha1"},
          {"kind", "Function"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", base}};
}

json Slice(const std::string& name, const std::string& service, json endpoints,
           json ports = json::array({{{"name", "grpc"}, {"port", 9000}}}),
           const std::string& ns = "default", const std::string& type = "IPv4") {
  return {{"apiVersion", "discovery.k8s.io/v1"},
          {"kind", "EndpointSlice"},
          {"metadata",
           {{"name", name}, {"namespace", ns}, {"labels", {{kServiceNameLabel, service}}}}},
          {"addressType", type},
          {"ports", ports},
          {"endpoints", endpoints}};
}

json Ep(const std::string& address, std::optional<bool> ready = std::nullopt) {
  json e = {{"addresses", json::array({address})}};
  if (ready) e["conditions"] = {{"ready", *ready}};
  return e;
}

RoutingFunction Want(const std::string& name, std::vector<RoutingEndpoint> endpoints = {},
                     std::vector<RoutingRoute> routes = {}) {
  RoutingFunction f;
  f.name = name;
  f.namespace_name = "default";
  f.timeout_seconds = 3;
  f.memory_mb = 128;
  f.endpoints = std::move(endpoints);
  f.routes = std::move(routes);
  return f;
}

TEST(BuildRoutingTest, Table) {
  json http = {{"triggers", json::array({{{"http", {{"path", "/hello/{name}"}, {"methods", {"GET", "POST"}}}}},
                                         {{"http", {{"path", "/any"}}}},
                                         {{"schedule", {{"expression", "rate(5 minutes)"}}}}})}};
  json async_spec = {
      {"async", {{"maxRetries", 0}, {"maxEventAgeSeconds", 120},
                 {"onFailure", {{"stream", "failed"}}}, {"onSuccess", {{"function", "audit"}}}}},
      {"triggers", json::array({{{"http", {{"path", "/hook"}, {"async", true}}}},
                                {{"queue", {{"stream", "orders"}, {"batchSize", 5}}}},
                                {{"queue", {{"stream", "refunds"}, {"batchWindowSeconds", 2},
                                            {"maxReceiveCount", 9}}}}})}};
  RoutingFunction async_want = Want("as", {}, {{"/hook", {}, true}});
  async_want.async = {0, 120, {"failed", ""}, {"", "audit"}};
  async_want.queues = {{"orders", 5, 0, 5, "orders-dlq"}, {"refunds", 10, 2, 9, "refunds-dlq"}};
  RoutingFunction limits = Want("lim");
  limits.timeout_seconds = 30;
  limits.memory_mb = 512;
  limits.reserved_concurrency = 7;
  struct Case {
    std::string name;
    std::vector<json> functions;
    std::vector<json> slices;
    RoutingTable want;
  };
  std::vector<Case> cases = {
      {"empty world", {}, {}, {}},
      {"function without endpoints", {Fn("a")}, {}, {{Want("a")}}},
      {"routes; ANY and absent methods mean every method",
       {Fn("a", http)},
       {},
       {{Want("a", {}, {{"/hello/{name}", {"GET", "POST"}}, {"/any", {}}})}}},
      {"limits",
       {Fn("lim", {{"timeoutSeconds", 30}, {"memoryMB", 512}, {"concurrency", {{"reserved", 7}}}})},
       {},
       {{limits}}},
      {"async policy, async route and queue triggers, defaulted",
       {Fn("as", async_spec)},
       {},
       {{async_want}}},
      {"invalid function is left out", {Fn("bad", {{"memoryMB", 64}}), Fn("a")}, {}, {{Want("a")}}},
      {"deleting function is left out",
       {[] { json f = Fn("gone"); f["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"; return f; }()},
       {},
       {}},
      {"ready endpoints with perInstance capacity; not-ready left out; absent ready is ready",
       {Fn("a", {{"concurrency", {{"perInstance", 4}}}})},
       {Slice("a-1", "a", json::array({Ep("10.0.0.2", true), Ep("10.0.0.1"), Ep("10.0.0.3", false)}))},
       {{Want("a", {{"10.0.0.1:9000", 4}, {"10.0.0.2:9000", 4}})}}},
      {"port from the grpc port, the only port, or 9000",
       {Fn("a"), Fn("b"), Fn("c")},
       {Slice("a-1", "a", json::array({Ep("10.0.0.1")}),
              json::array({{{"name", "metrics"}, {"port", 9001}}, {{"name", "grpc"}, {"port", 7000}}})),
        Slice("b-1", "b", json::array({Ep("10.0.0.2")}), json::array({{{"port", 7001}}})),
        Slice("c-1", "c", json::array({Ep("10.0.0.3")}), json::array())},
       {{Want("a", {{"10.0.0.1:7000", 1}}), Want("b", {{"10.0.0.2:7001", 1}}),
         Want("c", {{"10.0.0.3:9000", 1}})}}},
      {"several slices merge; duplicates once; IPv6 bracketed",
       {Fn("a")},
       {Slice("a-1", "a", json::array({Ep("10.0.0.1")})),
        Slice("a-2", "a", json::array({Ep("10.0.0.1"), Ep("10.0.0.9")})),
        Slice("a-3", "a", json::array({Ep("fd00::1")}), json::array({{{"name", "grpc"}, {"port", 9000}}}),
              "default", "IPv6")},
       {{Want("a", {{"10.0.0.1:9000", 1}, {"10.0.0.9:9000", 1}, {"[fd00::1]:9000", 1}})}}},
      {"slices of other services or namespaces are ignored",
       {Fn("a")},
       {Slice("x-1", "x", json::array({Ep("10.0.0.1")})),
        Slice("a-1", "a", json::array({Ep("10.0.0.2")}), json::array({{{"name", "grpc"}, {"port", 9000}}}),
              "other")},
       {{Want("a")}}},
      {"sorted by namespace then name",
       {Fn("b"), Fn("a", json::object(), "zz"), Fn("a")},
       {},
       {{Want("a"), Want("b"), [] { RoutingFunction f = Want("a"); f.namespace_name = "zz"; return f; }()}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(BuildRouting(c.functions, c.slices), c.want);
  }
}

}  // namespace
}  // namespace wisp
