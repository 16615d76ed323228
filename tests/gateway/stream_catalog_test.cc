// SnapshotFromProto: the operator's RoutingSnapshot as the gateway's Snapshot.
#include "gateway/stream_catalog.h"

#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

TEST(SnapshotFromProtoTest, CopiesEveryFieldAndKeepsTheFirstOfDuplicateNames) {
  v1::RoutingSnapshot in;
  in.set_version(7);
  v1::FunctionRouting* a = in.add_functions();
  a->set_name("hello");
  a->set_namespace_("default");
  a->set_timeout_seconds(30);
  a->set_memory_mb(512);
  a->set_reserved_concurrency(0);
  v1::HttpRoute* r = a->add_routes();
  r->set_path("/hello/{name}");
  r->add_methods("GET");
  a->add_routes()->set_path("/any");
  v1::Endpoint* e = a->add_endpoints();
  e->set_address("10.0.0.1:9000");
  e->set_capacity(4);
  a->add_endpoints()->set_address("10.0.0.2:9000");  // capacity 0 -> 1
  v1::FunctionRouting* b = in.add_functions();
  b->set_name("plain");
  b->set_namespace_("other");
  v1::FunctionRouting* dup = in.add_functions();
  dup->set_name("hello");
  dup->set_namespace_("zz");

  Snapshot out = SnapshotFromProto(in);
  ASSERT_EQ(out.functions.size(), 2u);
  const FunctionInfo* hello = out.Find("hello");
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->namespace_, "default");
  EXPECT_EQ(hello->timeout_seconds, 30);
  EXPECT_EQ(hello->memory_mb, 512);
  EXPECT_EQ(hello->reserved_concurrency, 0);  // set to 0 is not unset: no executions at all
  ASSERT_EQ(hello->routes.size(), 2u);
  EXPECT_EQ(hello->routes[0].path, "/hello/{name}");
  EXPECT_EQ(hello->routes[0].methods, std::vector<std::string>{"GET"});
  EXPECT_TRUE(hello->routes[1].methods.empty());
  EXPECT_EQ(hello->endpoints, (std::vector<Endpoint>{{"10.0.0.1:9000", 4}, {"10.0.0.2:9000", 1}}));
  const FunctionInfo* plain = out.Find("plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->namespace_, "other");
  EXPECT_FALSE(plain->reserved_concurrency.has_value());
}

}  // namespace
}  // namespace wisp::gateway
