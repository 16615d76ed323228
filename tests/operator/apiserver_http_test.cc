// The API server over real HTTP on loopback: discovery, CRUD, patches,
// subresources, tables, watches and error handling, as the operator and kubectl
// use them.
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/apiserver/api_server.h"

namespace wisp::apiserver {
namespace {

using testing::HasSubstr;

Json J(const std::string& text) { return Json::parse(text); }

constexpr char kFunctions[] =
    "/apis/wisp.dev/v1alpha1/namespaces/default/functions";
constexpr char kConfigMaps[] = "/api/v1/namespaces/default/configmaps";
constexpr char kDeployments[] = "/apis/apps/v1/namespaces/default/deployments";

const char* kCrd =
    R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"functions.wisp.dev"},
  "spec":{"group":"wisp.dev","scope":"Namespaced",
    "names":{"plural":"functions","singular":"function","kind":"Function","shortNames":["fn"]},
    "versions":[{"name":"v1alpha1","served":true,"storage":true,
      "subresources":{"status":{},"scale":{"specReplicasPath":".spec.replicas",
                                           "statusReplicasPath":".status.replicas",
                                           "labelSelectorPath":".status.selector"}},
      "additionalPrinterColumns":[
        {"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"},
        {"name":"Replicas","type":"integer","jsonPath":".status.replicas"},
        {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}],
      "schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}})";

struct Reply {
  int status = 0;
  std::string content_type;
  Json body;
  std::string raw;
};

class HttpTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({});
    ASSERT_TRUE(store.ok());
    ApiServer::Options options;
    options.bookmark_interval = absl::Milliseconds(100);
    absl::StatusOr<std::unique_ptr<ApiServer>> server =
        ApiServer::Start(options, *std::move(store));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override { server_->Stop(); }

  std::unique_ptr<httplib::Client> Client() {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    c->set_read_timeout(10, 0);
    return c;
  }

  Reply Do(const std::string& method, const std::string& path,
           const std::string& body = "",
           const std::string& content_type = "application/json",
           const httplib::Headers& headers = {}) {
    auto c = Client();
    httplib::Result r =
        method == "GET"     ? c->Get(path, headers)
        : method == "POST"  ? c->Post(path, headers, body, content_type)
        : method == "PUT"   ? c->Put(path, headers, body, content_type)
        : method == "PATCH" ? c->Patch(path, headers, body, content_type)
                            : c->Delete(path, headers, body, content_type);
    Reply out;
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": "
                    << httplib::to_string(r.error());
      return out;
    }
    out.status = r->status;
    out.content_type = r->get_header_value("Content-Type");
    out.raw = r->body;
    out.body = Json::parse(r->body, nullptr, false);
    return out;
  }
  Reply Get(const std::string& path, const httplib::Headers& headers = {}) {
    return Do("GET", path, "", "", headers);
  }
  Reply Post(const std::string& path, const std::string& body) {
    return Do("POST", path, body);
  }
  Reply Patch(const std::string& path, const std::string& type,
              const std::string& body) {
    return Do("PATCH", path, body, type);
  }

  void CreateCrd() {
    Reply r =
        Post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kCrd);
    ASSERT_EQ(r.status, 201) << r.raw;
  }

  std::unique_ptr<ApiServer> server_;
};

// A watch stream read on its own thread, one JSON event per line.
class WatchStream {
 public:
  WatchStream(int port, std::string path, httplib::Headers headers = {}) {
    thread_ = std::thread([this, port, path, headers] {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(30, 0);
      auto r = c.Get(path, headers, [this](const char* data, size_t n) {
        std::lock_guard<std::mutex> lock(mu_);
        buffer_.append(data, n);
        size_t pos;
        while ((pos = buffer_.find('\n')) != std::string::npos) {
          lines_.push_back(Json::parse(buffer_.substr(0, pos), nullptr, false));
          buffer_.erase(0, pos + 1);
        }
        cv_.notify_all();
        return !stop_;
      });
      std::lock_guard<std::mutex> lock(mu_);
      status_ = r ? r->status : -1;
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~WatchStream() {
    stop_ = true;
    thread_.join();
  }

  // Waits (up to 10 s) until `pred` holds for the events so far.
  bool WaitFor(const std::function<bool(const std::vector<Json>&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10),
                        [&] { return pred(lines_); });
  }
  bool WaitEnded() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return ended_; });
  }
  std::vector<Json> Events() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }
  static std::vector<Json> OfType(const std::vector<Json>& events,
                                  const std::string& type) {
    std::vector<Json> out;
    for (const Json& e : events) {
      if (e.is_object() && e.value("type", "") == type) out.push_back(e);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string buffer_;
  std::vector<Json> lines_;
  bool ended_ = false;
  int status_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(HttpTest, VersionHealthAndLegacyDiscovery) {
  Reply v = Get("/version");
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.body["major"], "1");
  EXPECT_EQ(v.body["minor"], "32");
  EXPECT_EQ(v.body["gitVersion"], "v1.32.0");
  for (const char* path : {"/healthz", "/readyz", "/livez"})
    EXPECT_EQ(Get(path).status, 200);

  EXPECT_EQ(Get("/api").body["versions"], J(R"(["v1"])"));
  Reply groups = Get("/apis");
  EXPECT_EQ(groups.body["kind"], "APIGroupList");
  std::vector<std::string> names;
  for (const Json& g : groups.body["groups"]) names.push_back(g["name"]);
  EXPECT_THAT(names, testing::IsSupersetOf(
                         {"apps", "policy", "coordination.k8s.io",
                          "discovery.k8s.io", "networking.k8s.io",
                          "apiextensions.k8s.io"}));
  Reply apps = Get("/apis/apps/v1");
  EXPECT_EQ(apps.body["kind"], "APIResourceList");
  std::vector<std::string> resources;
  for (const Json& r : apps.body["resources"]) resources.push_back(r["name"]);
  EXPECT_THAT(resources,
              testing::IsSupersetOf(
                  {"deployments", "deployments/status", "deployments/scale"}));
  EXPECT_EQ(Get("/apis/apps").body["preferredVersion"]["version"], "v1");
  EXPECT_EQ(Get("/apis/nope/v1").status, 404);
  EXPECT_EQ(Get("/openapi/v2").status, 404);
}

TEST_F(HttpTest, AggregatedDiscoveryShowsCrdsAsSoonAsTheyExist) {
  httplib::Headers accept = {
      {"Accept",
       "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
       "application/"
       "json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
       "application/json"}};
  Reply core = Get("/api", accept);
  EXPECT_EQ(
      core.content_type,
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(core.body["kind"], "APIGroupDiscoveryList");
  EXPECT_EQ(core.body["items"][0]["metadata"]["name"], "");

  auto find_group = [&](const std::string& name) -> Json {
    Reply r = Get("/apis", accept);
    for (const Json& g : r.body["items"]) {
      if (g["metadata"]["name"] == name) return g;
    }
    return Json();
  };
  EXPECT_TRUE(find_group("wisp.dev").is_null());
  CreateCrd();
  Json group = find_group("wisp.dev");
  ASSERT_FALSE(group.is_null());
  Json resource = group["versions"][0]["resources"][0];
  EXPECT_EQ(resource["resource"], "functions");
  EXPECT_EQ(resource["scope"], "Namespaced");
  EXPECT_EQ(resource["singularResource"], "function");
  EXPECT_EQ(resource["responseKind"]["kind"], "Function");
  EXPECT_EQ(resource["shortNames"], J(R"(["fn"])"));
  std::vector<std::string> subs;
  for (const Json& s : resource["subresources"])
    subs.push_back(s["subresource"]);
  EXPECT_THAT(subs, testing::UnorderedElementsAre("status", "scale"));

  // Deleting the CRD takes the group away again.
  EXPECT_EQ(Do("DELETE",
               "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
               "functions.wisp.dev")
                .status,
            200);
  EXPECT_TRUE(find_group("wisp.dev").is_null());
  EXPECT_EQ(Get(kFunctions).status, 404);
}

TEST_F(HttpTest, OpenApiV3DeclaresFieldValidation) {
  CreateCrd();
  Reply index = Get("/openapi/v3");
  ASSERT_EQ(index.status, 200);
  ASSERT_TRUE(index.body["paths"].contains("apis/wisp.dev/v1alpha1"));
  std::string url = index.body["paths"]["apis/apps/v1"]["serverRelativeURL"];
  EXPECT_THAT(url, testing::StartsWith("/openapi/v3/apis/apps/v1?hash="));
  Reply doc = Get(url);
  ASSERT_EQ(doc.status, 200);
  const Json& patch =
      doc.body["paths"]
              ["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
              ["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "Deployment");
  bool field_validation = false;
  for (const Json& p : patch["parameters"]) {
    field_validation = field_validation ||
                       (p["name"] == "fieldValidation" && p["in"] == "query");
  }
  EXPECT_TRUE(field_validation);
  EXPECT_EQ(Get("/openapi/v3/api/v1").status, 200);
}

TEST_F(HttpTest, CrudWithStatusErrors) {
  Reply created = Post(kConfigMaps, R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"a","labels":{"app":"x"}},"data":{"k":"1"}})");
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["metadata"]["namespace"], "default");

  Reply dup = Post(kConfigMaps, R"({"metadata":{"name":"a"}})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.body["kind"], "Status");
  EXPECT_EQ(dup.body["apiVersion"], "v1");
  EXPECT_EQ(dup.body["status"], "Failure");
  EXPECT_EQ(dup.body["reason"], "AlreadyExists");
  EXPECT_EQ(dup.body["code"], 409);
  EXPECT_EQ(dup.body["message"], "configmaps \"a\" already exists");
  EXPECT_EQ(dup.body["details"]["name"], "a");

  Reply list =
      Get(absl::StrCat(kConfigMaps, "?labelSelector=app%20in%20(x,y)"));
  EXPECT_EQ(list.body["kind"], "ConfigMapList");
  EXPECT_EQ(list.body["items"].size(), 1u);
  EXPECT_FALSE(
      list.body["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(Get(absl::StrCat(kConfigMaps, "?fieldSelector=metadata.name%3Db"))
                .body["items"]
                .size(),
            0u);
  EXPECT_EQ(Get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault")
                .body["items"]
                .size(),
            1u);
  EXPECT_EQ(Get(absl::StrCat(kConfigMaps, "?labelSelector=a%20in")).status,
            400);

  Json stale = created.body;
  Json fresh = created.body;
  fresh["data"]["k"] = "2";
  Reply put = Do("PUT", absl::StrCat(kConfigMaps, "/a"), fresh.dump());
  ASSERT_EQ(put.status, 200) << put.raw;
  stale["data"]["k"] = "3";
  Reply conflict = Do("PUT", absl::StrCat(kConfigMaps, "/a"), stale.dump());
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.body["reason"], "Conflict");
  EXPECT_THAT(conflict.body["message"].get<std::string>(),
              HasSubstr("the object has been modified"));

  Reply deleted = Do("DELETE", absl::StrCat(kConfigMaps, "/a"),
                     R"({"propagationPolicy":"Background"})");
  EXPECT_EQ(deleted.status, 200) << deleted.raw;
  Reply missing = Get(absl::StrCat(kConfigMaps, "/a"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["reason"], "NotFound");
  EXPECT_EQ(missing.body["message"], "configmaps \"a\" not found");
  EXPECT_EQ(Do("DELETE", absl::StrCat(kConfigMaps, "/a")).status, 404);
}

TEST_F(HttpTest, BadInputGetsStatusErrorsNotCrashes) {
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"a"}})").status, 201);
  EXPECT_EQ(Post(kConfigMaps, "{not json").status, 400);
  EXPECT_EQ(Post(kConfigMaps, "[1,2]").status, 400);
  EXPECT_EQ(Post(kConfigMaps, std::string(50000, '[')).status, 400);
  EXPECT_EQ(Post(kConfigMaps, R"({"metadata":"x"})").status, 400);
  EXPECT_EQ(Post(kConfigMaps, R"({"metadata":{"name":7}})").status, 400);
  EXPECT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"../x"}})").status, 422);
  EXPECT_EQ(Post("/api/v1/namespaces/missing/configmaps",
                 R"({"metadata":{"name":"x"}})")
                .status,
            404);
  EXPECT_EQ(Get("/api/v1/namespaces/default/nothings").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/default/configmaps/a/b/c/d").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/default/configmaps/%FF%FE").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/default/configmaps/a/status").status, 404);
  EXPECT_EQ(Get("/nothing/here").status, 404);
  EXPECT_EQ(Patch(absl::StrCat(kConfigMaps, "/a"), "text/plain", "{}").status,
            415);
  EXPECT_EQ(Patch(absl::StrCat(kConfigMaps, "/a"),
                  "application/json-patch+json", "{}")
                .status,
            400);
  EXPECT_EQ(Get(absl::StrCat(kConfigMaps, "?limit=abc")).status, 400);
  EXPECT_EQ(
      Get(absl::StrCat(kConfigMaps, "?watch=true&timeoutSeconds=-1")).status,
      400);
  EXPECT_EQ(Do("DELETE", absl::StrCat(kConfigMaps, "/a"), "{bad").status, 400);
  Reply r = Post(kConfigMaps,
                 "{\"metadata\":{\"name\":\"a\"},\"data\":{\"k\":\"\xff\"}}");
  EXPECT_EQ(r.status, 400) << "invalid UTF-8 is a syntax error";
  EXPECT_EQ(Get("/version").status, 200) << "still serving";
}

TEST_F(HttpTest, PatchTypes) {
  ASSERT_EQ(Post(kDeployments, R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"d"},
      "spec":{"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},
        "spec":{"containers":[{"name":"main","image":"a:1","env":[{"name":"A","value":"1"}]},
                              {"name":"side","image":"s:1"}]}}}})")
                .status,
            201);
  std::string d = absl::StrCat(kDeployments, "/d");

  Reply smp = Patch(
      d, "application/strategic-merge-patch+json",
      R"({"spec":{"template":{"spec":{"containers":[{"name":"main","image":"a:2"}]}}}})");
  ASSERT_EQ(smp.status, 200) << smp.raw;
  Json containers = smp.body["spec"]["template"]["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u)
      << "strategic merge keeps the other containers";
  EXPECT_EQ(containers[0]["image"], "a:2");
  EXPECT_EQ(containers[0]["env"][0]["name"], "A");
  EXPECT_EQ(smp.body["metadata"]["generation"], 2);

  Reply merge = Patch(d, "application/merge-patch+json",
                      R"({"metadata":{"labels":{"x":"y"}}})");
  ASSERT_EQ(merge.status, 200);
  EXPECT_EQ(merge.body["metadata"]["labels"]["x"], "y");
  EXPECT_EQ(merge.body["metadata"]["generation"], 2) << "metadata-only change";

  Reply json_patch =
      Patch(d, "application/json-patch+json",
            R"([{"op":"replace","path":"/spec/replicas","value":4}])");
  ASSERT_EQ(json_patch.status, 200) << json_patch.raw;
  EXPECT_EQ(json_patch.body["spec"]["replicas"], 4);
  EXPECT_EQ(Patch(d, "application/json-patch+json",
                  R"([{"op":"test","path":"/spec/replicas","value":5}])")
                .status,
            422);

  // A patch carrying a stale resourceVersion is a precondition that fails.
  Reply stale =
      Patch(d, "application/merge-patch+json",
            R"({"metadata":{"resourceVersion":"1"},"spec":{"replicas":1}})");
  EXPECT_EQ(stale.status, 409);

  EXPECT_EQ(Patch(absl::StrCat(kDeployments, "/missing"),
                  "application/merge-patch+json", "{}")
                .status,
            404);
}

TEST_F(HttpTest, ServerSideApply) {
  std::string path = absl::StrCat(
      kConfigMaps, "/applied?fieldManager=wisp-operator&force=true");
  std::string type = "application/apply-patch+yaml";
  Reply created = Patch(path, type, R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"applied","labels":{"a":"1"}},"data":{"x":"1","y":"2"}})");
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.body["metadata"]["managedFields"][0]["manager"],
            "wisp-operator");
  EXPECT_EQ(created.body["metadata"]["managedFields"][0]["operation"], "Apply");
  std::string rv = created.body["metadata"]["resourceVersion"];

  // Re-applying the same intent is a no-op: same resourceVersion, no event.
  Reply same = Patch(path, type, R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"applied","labels":{"a":"1"}},"data":{"x":"1","y":"2"}})");
  ASSERT_EQ(same.status, 200) << same.raw;
  EXPECT_EQ(same.body["metadata"]["resourceVersion"], rv);

  // YAML bodies work too; fields the manager stops applying are removed.
  Reply updated =
      Patch(path, type,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n"
            "data:\n  x: \"9\"\n");
  ASSERT_EQ(updated.status, 200) << updated.raw;
  EXPECT_EQ(updated.body["data"], J(R"({"x":"9"})"));
  EXPECT_FALSE(updated.body["metadata"].contains("labels"));

  EXPECT_EQ(
      Patch(
          absl::StrCat(kConfigMaps, "/applied"), type,
          R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"}})")
          .status,
      400)
      << "fieldManager is required";
  EXPECT_EQ(
      Patch(
          absl::StrCat(kConfigMaps, "/other?fieldManager=m"), type,
          R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"different"}})")
          .status,
      400)
      << "name must match the URL";
}

TEST_F(HttpTest, StatusAndScaleSubresources) {
  CreateCrd();
  ASSERT_EQ(
      Post(kFunctions, R"({"apiVersion":"wisp.dev/v1alpha1","kind":"Function",
      "metadata":{"name":"f"},"spec":{"runtime":"provided","replicas":1}})")
          .status,
      201);
  std::string f = absl::StrCat(kFunctions, "/f");

  Reply status = Patch(
      absl::StrCat(f, "/status"), "application/merge-patch+json",
      R"({"spec":{"runtime":"changed"},"status":{"replicas":1,"selector":"app=f",
                           "conditions":[{"type":"Ready","status":"True"}]}})");
  ASSERT_EQ(status.status, 200) << status.raw;
  EXPECT_EQ(status.body["spec"]["runtime"], "provided")
      << "status writes change only status";
  EXPECT_EQ(status.body["metadata"]["generation"], 1);

  Reply main =
      Patch(f, "application/merge-patch+json", R"({"status":{"replicas":99}})");
  EXPECT_EQ(main.body["status"]["replicas"], 1) << "main writes ignore status";

  EXPECT_EQ(Patch(f, "application/strategic-merge-patch+json", "{}").status,
            415)
      << "custom resources do not take strategic merge patches, as in "
         "Kubernetes";

  Reply scale = Get(absl::StrCat(f, "/scale"));
  ASSERT_EQ(scale.status, 200) << scale.raw;
  EXPECT_EQ(scale.body["kind"], "Scale");
  EXPECT_EQ(scale.body["apiVersion"], "autoscaling/v1");
  EXPECT_EQ(scale.body["spec"]["replicas"], 1);
  EXPECT_EQ(scale.body["status"]["replicas"], 1);
  EXPECT_EQ(scale.body["status"]["selector"], "app=f");

  Reply scaled =
      Patch(absl::StrCat(f, "/scale"), "application/merge-patch+json",
            R"({"spec":{"replicas":3}})");
  ASSERT_EQ(scaled.status, 200) << scaled.raw;
  EXPECT_EQ(scaled.body["spec"]["replicas"], 3);
  Reply after = Get(f);
  EXPECT_EQ(after.body["spec"]["replicas"], 3);
  EXPECT_EQ(after.body["metadata"]["generation"], 2);
  EXPECT_EQ(Patch(absl::StrCat(f, "/scale"), "application/merge-patch+json",
                  R"({"spec":{"replicas":-1}})")
                .status,
            422);

  // PUT of a Scale with a stale resourceVersion conflicts.
  Json put = scale.body;
  put["spec"]["replicas"] = 5;
  EXPECT_EQ(Do("PUT", absl::StrCat(f, "/scale"), put.dump()).status, 409);
  put["metadata"]["resourceVersion"] =
      after.body["metadata"]["resourceVersion"];
  EXPECT_EQ(Do("PUT", absl::StrCat(f, "/scale"), put.dump()).status, 200);

  // Deployments: scale reads spec.replicas and the selector from spec.selector.
  ASSERT_EQ(Post(kDeployments, R"({"metadata":{"name":"d"},
      "spec":{"selector":{"matchLabels":{"app":"d"}}}})")
                .status,
            201);
  Reply dscale = Get(absl::StrCat(kDeployments, "/d/scale"));
  EXPECT_EQ(dscale.body["spec"]["replicas"], 1);
  EXPECT_EQ(dscale.body["status"]["selector"], "app=d");
  Json dstatus = Get(absl::StrCat(kDeployments, "/d")).body;
  dstatus["status"] = {{"readyReplicas", 1}, {"replicas", 1}};
  Reply put_status =
      Do("PUT", absl::StrCat(kDeployments, "/d/status"), dstatus.dump());
  ASSERT_EQ(put_status.status, 200) << put_status.raw;
  EXPECT_EQ(put_status.body["status"]["readyReplicas"], 1);
  EXPECT_EQ(put_status.body["metadata"]["generation"], 1);
}

TEST_F(HttpTest, TablesUsePrinterColumns) {
  CreateCrd();
  ASSERT_EQ(Post(kFunctions, R"({"metadata":{"name":"f"},"spec":{}})").status,
            201);
  ASSERT_EQ(
      Patch(
          absl::StrCat(kFunctions, "/f/status"), "application/merge-patch+json",
          R"({"status":{"replicas":2,"conditions":[{"type":"Ready","status":"True"}]}})")
          .status,
      200);
  httplib::Headers accept = {
      {"Accept",
       "application/json;as=Table;v=v1;g=meta.k8s.io,"
       "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"}};
  Reply table = Get(kFunctions, accept);
  ASSERT_EQ(table.status, 200) << table.raw;
  EXPECT_EQ(table.body["kind"], "Table");
  EXPECT_EQ(table.body["apiVersion"], "meta.k8s.io/v1");
  std::vector<std::string> columns;
  for (const Json& c : table.body["columnDefinitions"])
    columns.push_back(c["name"]);
  EXPECT_THAT(columns,
              testing::ElementsAre("Name", "Ready", "Replicas", "Age"));
  ASSERT_EQ(table.body["rows"].size(), 1u);
  Json cells = table.body["rows"][0]["cells"];
  EXPECT_EQ(cells[0], "f");
  EXPECT_EQ(cells[1], "True");
  EXPECT_EQ(cells[2], 2);
  EXPECT_THAT(cells[3].get<std::string>(), testing::EndsWith("s"));
  EXPECT_EQ(table.body["rows"][0]["object"]["kind"], "PartialObjectMetadata");

  Reply one = Get(absl::StrCat(kFunctions, "/f"), accept);
  EXPECT_EQ(one.body["kind"], "Table");
  Reply builtin = Get("/api/v1/namespaces", accept);
  columns.clear();
  for (const Json& c : builtin.body["columnDefinitions"])
    columns.push_back(c["name"]);
  EXPECT_THAT(columns, testing::ElementsAre("Name", "Age"));
}

TEST_F(HttpTest, WatchStreamsEventsAndBookmarks) {
  Reply list = Get(kConfigMaps);
  std::string rv = list.body["metadata"]["resourceVersion"];
  WatchStream watch(
      server_->port(),
      absl::StrCat(kConfigMaps,
                   "?watch=true&allowWatchBookmarks=true&resourceVersion=", rv,
                   "&labelSelector=app%3Dx"));
  ASSERT_EQ(
      Post(kConfigMaps, R"({"metadata":{"name":"a","labels":{"app":"x"}}})")
          .status,
      201);
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"ignored"}})").status,
            201);
  ASSERT_EQ(Patch(absl::StrCat(kConfigMaps, "/a"),
                  "application/merge-patch+json", R"({"data":{"k":"v"}})")
                .status,
            200);
  ASSERT_EQ(Do("DELETE", absl::StrCat(kConfigMaps, "/a")).status, 200);
  ASSERT_TRUE(watch.WaitFor([](const std::vector<Json>& events) {
    return WatchStream::OfType(events, "DELETED").size() == 1;
  }));
  std::vector<Json> objects;
  for (const Json& e : watch.Events()) {
    if (e["type"] != "BOOKMARK") objects.push_back(e);
  }
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_EQ(objects[0]["type"], "ADDED");
  EXPECT_EQ(objects[1]["type"], "MODIFIED");
  EXPECT_EQ(objects[1]["object"]["data"]["k"], "v");
  EXPECT_EQ(objects[2]["type"], "DELETED");
  EXPECT_EQ(objects[0]["object"]["kind"], "ConfigMap");

  // Bookmarks arrive periodically and carry the latest resourceVersion.
  std::string latest = absl::StrCat(server_->store().ResourceVersion());
  ASSERT_TRUE(watch.WaitFor([&](const std::vector<Json>& events) {
    for (const Json& b : WatchStream::OfType(events, "BOOKMARK")) {
      if (b["object"]["metadata"]["resourceVersion"] == latest) return true;
    }
    return false;
  }));
  Json bookmark = WatchStream::OfType(watch.Events(), "BOOKMARK").back();
  EXPECT_EQ(bookmark["object"]["kind"], "ConfigMap");
  EXPECT_EQ(bookmark["object"]["apiVersion"], "v1");
}

TEST_F(HttpTest, WatchEndsAtTimeoutAndSupportsSingleObjects) {
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"a"}})").status, 201);
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"b"}})").status, 201);
  WatchStream watch(
      server_->port(),
      absl::StrCat(
          kConfigMaps,
          "?watch=1&timeoutSeconds=1&fieldSelector=metadata.name%3Da"));
  ASSERT_TRUE(watch.WaitEnded())
      << "the server ends the watch after timeoutSeconds";
  std::vector<Json> events = watch.Events();
  ASSERT_EQ(events.size(), 1u)
      << "resourceVersion unset: synthetic ADDED of current objects";
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "a");

  WatchStream legacy(
      server_->port(),
      "/api/v1/watch/namespaces/default/configmaps/b?timeoutSeconds=1");
  ASSERT_TRUE(legacy.WaitEnded());
  ASSERT_EQ(legacy.Events().size(), 1u);
  EXPECT_EQ(legacy.Events()[0]["object"]["metadata"]["name"], "b");
}

TEST_F(HttpTest, WatchWithTableAcceptSendsTableRows) {
  CreateCrd();
  httplib::Headers accept = {
      {"Accept",
       "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}};
  WatchStream watch(
      server_->port(),
      absl::StrCat(kFunctions, "?watch=true&allowWatchBookmarks=true"), accept);
  ASSERT_EQ(Post(kFunctions, R"({"metadata":{"name":"f"},"spec":{}})").status,
            201);
  ASSERT_TRUE(watch.WaitFor(
      [](const std::vector<Json>& events) { return !events.empty(); }));
  ASSERT_TRUE(watch.WaitFor([](const std::vector<Json>& events) {
    return !WatchStream::OfType(events, "ADDED").empty();
  }));
  Json event = WatchStream::OfType(watch.Events(), "ADDED")[0];
  EXPECT_EQ(event["object"]["kind"], "Table");
  EXPECT_EQ(event["object"]["columnDefinitions"].size(), 4u);
  EXPECT_EQ(event["object"]["rows"][0]["cells"][0], "f");
}

TEST_F(HttpTest, WatchFromCompactedResourceVersionGets410ErrorEvent) {
  Reply a = Post(kConfigMaps, R"({"metadata":{"name":"a"}})");
  ASSERT_EQ(a.status, 201);
  std::string old_rv = a.body["metadata"]["resourceVersion"];
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"b"}})").status, 201);
  server_->store().Compact();
  WatchStream watch(
      server_->port(),
      absl::StrCat(kConfigMaps, "?watch=true&resourceVersion=", old_rv));
  ASSERT_TRUE(watch.WaitEnded());
  std::vector<Json> events = watch.Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["kind"], "Status");
  EXPECT_EQ(events[0]["object"]["code"], 410);
  EXPECT_EQ(events[0]["object"]["reason"], "Expired");
}

TEST_F(HttpTest, ExpiringOpenWatchesSendsErrorAndEndsThem) {
  WatchStream watch(
      server_->port(),
      absl::StrCat(kConfigMaps,
                   "?watch=true&allowWatchBookmarks=true&resourceVersion=",
                   server_->store().ResourceVersion()));
  ASSERT_TRUE(watch.WaitFor(
      [](const std::vector<Json>& events) { return !events.empty(); }));
  server_->store().ExpireWatches();
  ASSERT_TRUE(watch.WaitEnded());
  std::vector<Json> errors = WatchStream::OfType(watch.Events(), "ERROR");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["object"]["code"], 410);
}

TEST_F(HttpTest, StopEndsOpenWatches) {
  WatchStream watch(server_->port(), absl::StrCat(kConfigMaps, "?watch=true"));
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"a"}})").status, 201);
  ASSERT_TRUE(watch.WaitFor(
      [](const std::vector<Json>& events) { return !events.empty(); }));
  absl::Time start = absl::Now();
  server_->Stop();
  EXPECT_TRUE(watch.WaitEnded());
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
}

TEST_F(HttpTest, DeleteCascadesAndDeleteCollection) {
  CreateCrd();
  Reply fn = Post(kFunctions, R"({"metadata":{"name":"f"},"spec":{}})");
  ASSERT_EQ(fn.status, 201);
  Json child = {{"metadata",
                 {{"name", "f-config"},
                  {"labels", {{"wisp.dev/function", "f"}}},
                  {"ownerReferences",
                   {{{"apiVersion", "wisp.dev/v1alpha1"},
                     {"kind", "Function"},
                     {"name", "f"},
                     {"uid", fn.body["metadata"]["uid"]}}}}}}};
  ASSERT_EQ(Post(kConfigMaps, child.dump()).status, 201);
  ASSERT_EQ(Do("DELETE", absl::StrCat(kFunctions, "/f"),
               R"({"propagationPolicy":"Background"})")
                .status,
            200);
  EXPECT_EQ(Get(absl::StrCat(kConfigMaps, "/f-config")).status, 404);

  ASSERT_EQ(
      Post(kConfigMaps, R"({"metadata":{"name":"x1","labels":{"g":"1"}}})")
          .status,
      201);
  ASSERT_EQ(
      Post(kConfigMaps, R"({"metadata":{"name":"x2","labels":{"g":"1"}}})")
          .status,
      201);
  ASSERT_EQ(Post(kConfigMaps, R"({"metadata":{"name":"keep"}})").status, 201);
  Reply gone = Do("DELETE", absl::StrCat(kConfigMaps, "?labelSelector=g%3D1"));
  ASSERT_EQ(gone.status, 200) << gone.raw;
  EXPECT_EQ(gone.body["items"].size(), 2u);
  EXPECT_EQ(Get(kConfigMaps).body["items"].size(), 1u);
  EXPECT_EQ(Do("DELETE", absl::StrCat(kConfigMaps, "/keep"),
               R"({"propagationPolicy":"Sideways"})")
                .status,
            422);
}

TEST_F(HttpTest, LeaseRenewalConflicts) {
  std::string leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
  Reply lease = Post(leases, R"({"metadata":{"name":"wisp-operator"},
      "spec":{"holderIdentity":"a","leaseDurationSeconds":15}})");
  ASSERT_EQ(lease.status, 201);
  Json a = lease.body, b = lease.body;
  a["spec"]["holderIdentity"] = "a";
  b["spec"]["holderIdentity"] = "b";
  a["spec"]["leaseTransitions"] = 1;
  EXPECT_EQ(Do("PUT", absl::StrCat(leases, "/wisp-operator"), a.dump()).status,
            200);
  EXPECT_EQ(Do("PUT", absl::StrCat(leases, "/wisp-operator"), b.dump()).status,
            409);
  EXPECT_EQ(Get(absl::StrCat(leases, "/wisp-operator"))
                .body["spec"]["holderIdentity"],
            "a");
}

TEST_F(HttpTest, ListPagingAndDryRun) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post(kConfigMaps,
                   absl::StrCat(R"({"metadata":{"name":"c)", i, R"("}})"))
                  .status,
              201);
  }
  Reply page = Get(absl::StrCat(kConfigMaps, "?limit=2"));
  ASSERT_EQ(page.body["items"].size(), 2u);
  std::string token = page.body["metadata"]["continue"];
  EXPECT_EQ(page.body["metadata"]["remainingItemCount"], 1);
  Reply rest = Get(absl::StrCat(kConfigMaps, "?limit=2&continue=", token));
  ASSERT_EQ(rest.body["items"].size(), 1u);
  EXPECT_EQ(rest.body["items"][0]["metadata"]["name"], "c2");
  EXPECT_FALSE(rest.body["metadata"].contains("continue"));

  int64_t before = server_->store().ResourceVersion();
  Reply dry = Post(absl::StrCat(kConfigMaps, "?dryRun=All"),
                   R"({"metadata":{"name":"dry"}})");
  EXPECT_EQ(dry.status, 201);
  EXPECT_EQ(Get(absl::StrCat(kConfigMaps, "/dry")).status, 404);
  EXPECT_EQ(server_->store().ResourceVersion(), before);
}

}  // namespace
}  // namespace wisp::apiserver
