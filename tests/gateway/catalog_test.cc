// The catalog document (ParseCatalogJson) and the file-backed catalog that reloads it.
#include "gateway/catalog.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(ParseCatalogJsonTest, FullDocument) {
  absl::StatusOr<Snapshot> snap = ParseCatalogJson(R"({"functions": [
    {"name": "hello", "namespace": "team-a", "timeoutSeconds": 30, "memoryMB": 512,
     "reservedConcurrency": 10,
     "routes": [{"path": "/hello/{name}", "methods": ["GET", "post"]},
                {"path": "/files/{proxy+}"}],
     "endpoints": [{"address": "127.0.0.1:9000", "capacity": 4},
                   {"address": "10.0.0.2:9000"}]},
    {"name": "other", "reservedConcurrency": 0}
  ]})");
  ASSERT_TRUE(snap.ok()) << snap.status();
  ASSERT_EQ(snap->functions.size(), 2u);
  const FunctionInfo* fn = snap->Find("hello");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn->name, "hello");
  EXPECT_EQ(fn->namespace_, "team-a");
  EXPECT_EQ(fn->timeout_seconds, 30);
  EXPECT_EQ(fn->memory_mb, 512);
  EXPECT_EQ(fn->reserved_concurrency, 10);
  ASSERT_EQ(fn->routes.size(), 2u);
  EXPECT_EQ(fn->routes[0].path, "/hello/{name}");
  EXPECT_THAT(fn->routes[0].methods, ElementsAre("GET", "POST"));
  EXPECT_EQ(fn->routes[1].path, "/files/{proxy+}");
  EXPECT_THAT(fn->routes[1].methods, IsEmpty());
  EXPECT_THAT(fn->endpoints, ElementsAre(Endpoint{"127.0.0.1:9000", 4}, Endpoint{"10.0.0.2:9000", 1}));
  const FunctionInfo* other = snap->Find("other");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->reserved_concurrency, 0);  // zero is a limit, not "unset"
  EXPECT_EQ(snap->Find("missing"), nullptr);
}

TEST(ParseCatalogJsonTest, Defaults) {
  absl::StatusOr<Snapshot> snap = ParseCatalogJson(
      R"({"functions": [{"name": "x", "routes": [{"path": "/a", "methods": ["any"]}],
                         "endpoints": [{"address": "h:1"}]}]})");
  ASSERT_TRUE(snap.ok()) << snap.status();
  const FunctionInfo* fn = snap->Find("x");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ(fn->namespace_, "default");
  EXPECT_EQ(fn->timeout_seconds, 3);
  EXPECT_EQ(fn->memory_mb, 128);
  EXPECT_EQ(fn->reserved_concurrency, std::nullopt);
  ASSERT_EQ(fn->routes.size(), 1u);
  EXPECT_THAT(fn->routes[0].methods, IsEmpty());  // "ANY" (any case) means every method
  ASSERT_EQ(fn->endpoints.size(), 1u);
  EXPECT_EQ(fn->endpoints[0].capacity, 1);
}

TEST(ParseCatalogJsonTest, EmptyCatalogs) {
  for (const char* doc : {"{}", R"({"functions": []})", R"({"other": 1})"}) {
    SCOPED_TRACE(doc);
    absl::StatusOr<Snapshot> snap = ParseCatalogJson(doc);
    ASSERT_TRUE(snap.ok()) << snap.status();
    EXPECT_THAT(snap->functions, IsEmpty());
  }
}

TEST(ParseCatalogJsonTest, Bounds) {
  struct Case {
    std::string fields;
    bool want_ok;
  };
  const std::vector<Case> cases = {
      {R"("timeoutSeconds": 1)", true},      {R"("timeoutSeconds": 900)", true},
      {R"("timeoutSeconds": 0)", false},     {R"("timeoutSeconds": 901)", false},
      {R"("memoryMB": 128)", true},          {R"("memoryMB": 10240)", true},
      {R"("memoryMB": 127)", false},         {R"("memoryMB": 10241)", false},
      {R"("reservedConcurrency": 0)", true}, {R"("reservedConcurrency": 1000000)", true},
      {R"("reservedConcurrency": -1)", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.fields);
    absl::StatusOr<Snapshot> snap =
        ParseCatalogJson(absl::StrCat(R"({"functions": [{"name": "x", )", c.fields, "}]}"));
    EXPECT_EQ(snap.ok(), c.want_ok) << snap.status();
  }
}

TEST(ParseCatalogJsonTest, Errors) {
  struct Case {
    std::string name;
    std::string doc;
    std::string want_message;
  };
  const std::vector<Case> cases = {
      {"not json", "{", "catalog is not a JSON object"},
      {"not an object", "[]", "catalog is not a JSON object"},
      {"functions not a list", R"({"functions": {}})", "catalog: functions must be a list"},
      {"function not an object", R"({"functions": [1]})", "catalog: each function is an object"},
      {"no name", R"({"functions": [{}]})", "catalog: a function without a name"},
      {"empty name", R"({"functions": [{"name": ""}]})", "catalog: a function without a name"},
      {"name not a string", R"({"functions": [{"name": 5}]})",
       "catalog: a function without a name"},
      {"timeout out of range", R"({"functions": [{"name": "x", "timeoutSeconds": 0}]})",
       R"(function "x": timeoutSeconds must be an integer in 1..900)"},
      {"timeout a string", R"({"functions": [{"name": "x", "timeoutSeconds": "3"}]})",
       R"(function "x": timeoutSeconds must be an integer in 1..900)"},
      {"timeout fractional", R"({"functions": [{"name": "x", "timeoutSeconds": 1.5}]})",
       R"(function "x": timeoutSeconds must be an integer in 1..900)"},
      {"memory out of range", R"({"functions": [{"name": "x", "memoryMB": 64}]})",
       R"(function "x": memoryMB must be an integer in 128..10240)"},
      {"reserved negative", R"({"functions": [{"name": "x", "reservedConcurrency": -1}]})",
       R"(function "x": reservedConcurrency must be an integer in 0..1000000)"},
      {"routes not a list", R"({"functions": [{"name": "x", "routes": {}}]})",
       R"(function "x": routes must be a list)"},
      {"route without path", R"({"functions": [{"name": "x", "routes": [{}]}]})",
       R"(function "x": routes[].path must start with /)"},
      {"route path relative", R"({"functions": [{"name": "x", "routes": [{"path": "a"}]}]})",
       R"(function "x": routes[].path must start with /)"},
      {"route path empty", R"({"functions": [{"name": "x", "routes": [{"path": ""}]}]})",
       R"(function "x": routes[].path must start with /)"},
      {"route not an object", R"({"functions": [{"name": "x", "routes": [1]}]})",
       R"(function "x": routes[].path must start with /)"},
      {"methods not a list",
       R"({"functions": [{"name": "x", "routes": [{"path": "/", "methods": "GET"}]}]})",
       R"(function "x": routes[].methods must be a list)"},
      {"method not a string",
       R"({"functions": [{"name": "x", "routes": [{"path": "/", "methods": [1]}]}]})",
       R"(function "x": routes[].methods must be strings)"},
      {"endpoints not a list", R"({"functions": [{"name": "x", "endpoints": {}}]})",
       R"(function "x": endpoints must be a list)"},
      {"endpoint without address", R"({"functions": [{"name": "x", "endpoints": [{}]}]})",
       R"(function "x": endpoints[].address is required (host:port))"},
      {"endpoint empty address",
       R"({"functions": [{"name": "x", "endpoints": [{"address": ""}]}]})",
       R"(function "x": endpoints[].address is required (host:port))"},
      {"capacity zero",
       R"({"functions": [{"name": "x", "endpoints": [{"address": "h:1", "capacity": 0}]}]})",
       R"(function "x": endpoints[].capacity must be a positive integer)"},
      {"capacity a string",
       R"({"functions": [{"name": "x", "endpoints": [{"address": "h:1", "capacity": "2"}]}]})",
       R"(function "x": endpoints[].capacity must be a positive integer)"},
      {"duplicate function", R"({"functions": [{"name": "x"}, {"name": "x"}]})",
       R"(catalog: function "x" twice)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Snapshot> snap = ParseCatalogJson(c.doc);
    ASSERT_EQ(snap.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(snap.status().message(), c.want_message);
  }
}

// --- FileCatalog -----------------------------------------------------------------------------

std::string TempPath(absl::string_view name) {
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat(testing::TempDir(), "/catalog_test_", ::getpid(), "_", info->name(), "_",
                      name);
}

// Replaces the file atomically (write + rename), so the poller never sees half a file.
void WriteFile(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

std::string CatalogWith(const std::vector<std::string>& names) {
  std::string doc = R"({"functions": [)";
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&doc, i ? ", " : "", R"({"name": ")", names[i], R"("})");
  }
  return doc + "]}";
}

std::vector<std::string> Names(const Snapshot& snap) {
  std::vector<std::string> out;
  for (const auto& [name, fn] : snap.functions) out.push_back(name);
  return out;
}

// Polls `cond` until it holds or `timeout` passes; returns the last result.
bool Eventually(const std::function<bool()>& cond, absl::Duration timeout = absl::Seconds(5)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

// Redirects this process's stderr (where wisp::log writes) to a file while alive, so a test
// can wait for a log line.
class StderrCapture {
 public:
  explicit StderrCapture(std::string path) : path_(std::move(path)) {
    fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~StderrCapture() {
    fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    std::remove(path_.c_str());
  }
  std::string Text() const {
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

class FileCatalogTest : public testing::Test {
 protected:
  void SetUp() override { path_ = TempPath("catalog.json"); }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(FileCatalogTest, OpenMissingFile) {
  absl::StatusOr<std::unique_ptr<FileCatalog>> c = FileCatalog::Open(path_ + ".missing", 10);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FileCatalogTest, OpenInvalidFile) {
  WriteFile(path_, R"({"functions": 1})");
  absl::StatusOr<std::unique_ptr<FileCatalog>> c = FileCatalog::Open(path_, 10);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FileCatalogTest, OpenReadsTheFile) {
  WriteFile(path_, CatalogWith({"a", "b"}));
  absl::StatusOr<std::unique_ptr<FileCatalog>> c = FileCatalog::Open(path_, 10);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Names(*(*c)->Current()), ElementsAre("a", "b"));
}

TEST_F(FileCatalogTest, ReloadsOnChangeAndNotifies) {
  WriteFile(path_, CatalogWith({"a"}));
  absl::StatusOr<std::unique_ptr<FileCatalog>> opened = FileCatalog::Open(path_, 10);
  ASSERT_TRUE(opened.ok()) << opened.status();
  FileCatalog& catalog = **opened;
  absl::Mutex mu;
  std::vector<std::vector<std::string>> seen;
  catalog.OnChange([&](std::shared_ptr<const Snapshot> snap) {
    absl::MutexLock lock(&mu);
    seen.push_back(Names(*snap));
  });
  catalog.Start();
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(seen.size(), 1u);  // Start() reports the current snapshot at once
    EXPECT_THAT(seen[0], ElementsAre("a"));
  }

  WriteFile(path_, CatalogWith({"a", "bb"}));
  ASSERT_TRUE(Eventually([&] { return catalog.Current()->functions.size() == 2; }));
  EXPECT_THAT(Names(*catalog.Current()), ElementsAre("a", "bb"));

  WriteFile(path_, CatalogWith({"ccc"}));
  ASSERT_TRUE(Eventually([&] { return catalog.Current()->Find("ccc") != nullptr; }));
  EXPECT_THAT(Names(*catalog.Current()), ElementsAre("ccc"));

  // Current() changes just before the callback runs: wait for the callback too.
  ASSERT_TRUE(Eventually([&] {
    absl::MutexLock lock(&mu);
    return seen.size() >= 3;
  }));
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, ElementsAre(ElementsAre("a"), ElementsAre("a", "bb"), ElementsAre("ccc")));
}

TEST_F(FileCatalogTest, BadRewriteKeepsThePreviousSnapshot) {
  WriteFile(path_, CatalogWith({"a"}));
  absl::StatusOr<std::unique_ptr<FileCatalog>> opened = FileCatalog::Open(path_, 10);
  ASSERT_TRUE(opened.ok()) << opened.status();
  FileCatalog& catalog = **opened;
  absl::Mutex mu;
  int changes = 0;
  catalog.OnChange([&](std::shared_ptr<const Snapshot>) {
    absl::MutexLock lock(&mu);
    ++changes;
  });
  std::shared_ptr<const Snapshot> first = catalog.Current();
  {
    StderrCapture capture(TempPath("stderr.log"));
    catalog.Start();
    WriteFile(path_, R"({"functions": [{"name": "a", "timeoutSeconds": 0}]})");
    ASSERT_TRUE(Eventually([&] { return absl::StrContains(capture.Text(), "catalog not reloaded"); }))
        << capture.Text();
    EXPECT_THAT(capture.Text(), HasSubstr("timeoutSeconds"));
  }
  EXPECT_EQ(catalog.Current(), first);  // the very same snapshot
  {
    absl::MutexLock lock(&mu);
    EXPECT_EQ(changes, 1);  // only Start()'s
  }

  // Fixing the file is picked up.
  WriteFile(path_, CatalogWith({"fixed"}));
  ASSERT_TRUE(Eventually([&] { return catalog.Current()->Find("fixed") != nullptr; }));
  ASSERT_TRUE(Eventually([&] {
    absl::MutexLock lock(&mu);
    return changes == 2;
  }));
}

TEST_F(FileCatalogTest, DeletedFileKeepsThePreviousSnapshot) {
  WriteFile(path_, CatalogWith({"a"}));
  absl::StatusOr<std::unique_ptr<FileCatalog>> opened = FileCatalog::Open(path_, 10);
  ASSERT_TRUE(opened.ok()) << opened.status();
  FileCatalog& catalog = **opened;
  catalog.Start();
  std::remove(path_.c_str());
  // The file coming back with new content is picked up; in between nothing changed.
  EXPECT_THAT(Names(*catalog.Current()), ElementsAre("a"));
  WriteFile(path_, CatalogWith({"back", "again"}));
  ASSERT_TRUE(Eventually([&] { return catalog.Current()->Find("back") != nullptr; }));
}

TEST_F(FileCatalogTest, DestructorStopsThePoller) {
  WriteFile(path_, CatalogWith({"a"}));
  absl::StatusOr<std::unique_ptr<FileCatalog>> opened = FileCatalog::Open(path_, 60000);
  ASSERT_TRUE(opened.ok()) << opened.status();
  (*opened)->Start();
  absl::Time start = absl::Now();
  opened->reset();  // must not wait out the 60 s poll interval
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace wisp::gateway
