// The API server's Store: the semantics an operator relies on, without HTTP.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/apiserver/errors.h"
#include "operator/apiserver/store.h"

namespace wisp::apiserver {
namespace {

Json J(const char* text) { return Json::parse(text); }

int Code(const absl::Status& s) { return ReasonOf(s).code; }

const char* kCrd =
    R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"functions.wisp.dev"},
  "spec":{"group":"wisp.dev","scope":"Namespaced",
    "names":{"plural":"functions","singular":"function","kind":"Function","shortNames":["fn"]},
    "versions":[{"name":"v1alpha1","served":true,"storage":true,
      "subresources":{"status":{},"scale":{"specReplicasPath":".spec.replicas",
                                           "statusReplicasPath":".status.replicas"}},
      "schema":{"openAPIV3Schema":{"type":"object","properties":{
        "spec":{"type":"object","properties":{
          "memoryMB":{"type":"integer","minimum":128,"default":128},
          "runtime":{"type":"string"}}},
        "status":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}]}})";

class StoreTest : public testing::Test {
 protected:
  void SetUp() override { Open({}); }

  void Open(Store::Options options) {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store =
        Store::Open(std::move(options));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  ResourceType Type(const char* group, const char* version,
                    const char* resource) {
    std::optional<ResourceType> t =
        store_->FindResource(group, version, resource);
    EXPECT_TRUE(t.has_value()) << group << "/" << version << "/" << resource;
    return t.value_or(ResourceType());
  }
  ResourceType ConfigMaps() { return Type("", "v1", "configmaps"); }
  ResourceType Functions() {
    if (!store_->FindResource("wisp.dev", "v1alpha1", "functions")
             .has_value()) {
      absl::StatusOr<Json> crd = store_->Create(
          Type("apiextensions.k8s.io", "v1", "customresourcedefinitions"), "",
          J(kCrd));
      EXPECT_TRUE(crd.ok()) << crd.status();
    }
    return Type("wisp.dev", "v1alpha1", "functions");
  }

  Json MustCreate(const ResourceType& t, const char* ns, Json object) {
    absl::StatusOr<Json> created = store_->Create(t, ns, std::move(object));
    EXPECT_TRUE(created.ok()) << created.status();
    return created.value_or(Json());
  }

  static std::string Rv(const Json& o) {
    return o["metadata"]["resourceVersion"];
  }
  static int64_t Generation(const Json& o) {
    return o["metadata"].value("generation", 0);
  }

  // Drains a watch until `n` events arrived or a deadline passes.
  static std::vector<WatchEvent> Events(Watch& w, size_t n) {
    std::vector<WatchEvent> out;
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    int64_t progress;
    while (out.size() < n && absl::Now() < deadline) {
      if (w.Next(deadline, &out, &progress) == Watch::Result::kClosed) break;
    }
    return out;
  }

  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, CreateGetListAndServerSetFields) {
  Json cm = MustCreate(
      ConfigMaps(), "default",
      J(R"({"metadata":{"name":"a","labels":{"app":"x"}},"data":{"k":"v"}})"));
  EXPECT_EQ(cm["apiVersion"], "v1");
  EXPECT_EQ(cm["kind"], "ConfigMap");
  EXPECT_EQ(cm["metadata"]["namespace"], "default");
  EXPECT_FALSE(cm["metadata"]["uid"].get<std::string>().empty());
  EXPECT_FALSE(cm["metadata"]["creationTimestamp"].get<std::string>().empty());
  EXPECT_FALSE(cm["metadata"].contains("generation"));
  EXPECT_EQ(Rv(cm), absl::StrCat(store_->ResourceVersion()));

  EXPECT_EQ(Code(store_
                     ->Create(ConfigMaps(), "default",
                              J(R"({"metadata":{"name":"a"}})"))
                     .status()),
            409);
  Json generated = MustCreate(ConfigMaps(), "default",
                              J(R"({"metadata":{"generateName":"gen-"}})"));
  EXPECT_THAT(generated["metadata"]["name"].get<std::string>(),
              testing::StartsWith("gen-"));
  EXPECT_EQ(generated["metadata"]["name"].get<std::string>().size(), 9u);
  EXPECT_EQ(
      Code(store_->Create(ConfigMaps(), "default", J(R"({"metadata":{}})"))
               .status()),
      422);
  EXPECT_EQ(
      Code(store_
               ->Create(ConfigMaps(), "nope", J(R"({"metadata":{"name":"a"}})"))
               .status()),
      404);
  EXPECT_EQ(Code(store_
                     ->Create(ConfigMaps(), "default",
                              J(R"({"kind":"Secret","metadata":{"name":"s"}})"))
                     .status()),
            400);
  EXPECT_EQ(
      Code(store_
               ->Create(ConfigMaps(), "default",
                        J(R"({"metadata":{"name":"b","labels":{"n":1}}})"))
               .status()),
      400);

  EXPECT_EQ(store_->Get(ConfigMaps(), "default", "a")->at("data")["k"], "v");
  EXPECT_EQ(Code(store_->Get(ConfigMaps(), "default", "zz").status()), 404);

  ListOptions options;
  options.labels = *LabelSelector::Parse("app=x");
  absl::StatusOr<ListResult> list =
      store_->List(ConfigMaps(), "default", options);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->resource_version, store_->ResourceVersion());
  options = {};
  options.fields = *FieldSelector::Parse("metadata.name=a");
  EXPECT_EQ(store_->List(ConfigMaps(), "", options)->items.size(), 1u);
}

TEST_F(StoreTest, ListPages) {
  for (int i = 0; i < 5; ++i) {
    MustCreate(
        ConfigMaps(), "default",
        J(absl::StrCat(R"({"metadata":{"name":"c)", i, R"("}})").c_str()));
  }
  ListOptions options;
  options.limit = 2;
  std::vector<std::string> names;
  for (int page = 0; page < 5; ++page) {
    absl::StatusOr<ListResult> list =
        store_->List(ConfigMaps(), "default", options);
    ASSERT_TRUE(list.ok());
    for (const Json& item : list->items)
      names.push_back(item["metadata"]["name"]);
    if (list->continue_token.empty()) break;
    EXPECT_EQ(list->remaining, 5 - static_cast<int64_t>(names.size()));
    options.continue_token = list->continue_token;
  }
  EXPECT_THAT(names, testing::ElementsAre("c0", "c1", "c2", "c3", "c4"));
}

TEST_F(StoreTest, UpdateConflictsOnStaleResourceVersionAndSkipsNoOps) {
  Json cm = MustCreate(ConfigMaps(), "default",
                       J(R"({"metadata":{"name":"a"},"data":{"k":"1"}})"));
  Json stale = cm;
  cm["data"]["k"] = "2";
  absl::StatusOr<Json> updated =
      store_->Update(ConfigMaps(), "default", "a", cm, Subresource::kMain);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_NE(Rv(*updated), Rv(stale));

  stale["data"]["k"] = "3";
  absl::StatusOr<Json> conflict =
      store_->Update(ConfigMaps(), "default", "a", stale, Subresource::kMain);
  EXPECT_EQ(Code(conflict.status()), 409);
  EXPECT_EQ(ReasonOf(conflict.status()).reason, "Conflict");
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kAborted);

  // Without a resourceVersion the update is unconditional.
  stale["metadata"].erase("resourceVersion");
  EXPECT_TRUE(
      store_->Update(ConfigMaps(), "default", "a", stale, Subresource::kMain)
          .ok());

  int64_t before = store_->ResourceVersion();
  Json same = *store_->Get(ConfigMaps(), "default", "a");
  absl::StatusOr<Json> noop =
      store_->Update(ConfigMaps(), "default", "a", same, Subresource::kMain);
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ(store_->ResourceVersion(), before);
  EXPECT_EQ(Rv(*noop), Rv(same));

  EXPECT_EQ(
      Code(store_
               ->Update(ConfigMaps(), "default", "zz", same, Subresource::kMain)
               .status()),
      404);
  EXPECT_EQ(Code(store_
                     ->Update(ConfigMaps(), "default", "a",
                              J(R"({"metadata":{"name":"other"}})"),
                              Subresource::kMain)
                     .status()),
            400);
}

TEST_F(StoreTest, LeaseLeaderElectionConflict) {
  ResourceType leases = Type("coordination.k8s.io", "v1", "leases");
  Json lease =
      MustCreate(leases, "default", J(R"({"metadata":{"name":"wisp-operator"},
                                "spec":{"holderIdentity":"a","leaseDurationSeconds":15}})"));
  // Two candidates read the same version; only the first renewal wins.
  Json a = lease, b = lease;
  a["spec"]["holderIdentity"] = "a";
  a["spec"]["renewTime"] = "2026-01-01T00:00:00.000000Z";
  b["spec"]["holderIdentity"] = "b";
  EXPECT_TRUE(
      store_->Update(leases, "default", "wisp-operator", a, Subresource::kMain)
          .ok());
  EXPECT_EQ(Code(store_
                     ->Update(leases, "default", "wisp-operator", b,
                              Subresource::kMain)
                     .status()),
            409);
  EXPECT_EQ(store_->Get(leases, "default", "wisp-operator")
                ->at("spec")["holderIdentity"],
            "a");
  // PUT of a missing lease creates it (Kubernetes allows create-on-update for
  // leases).
  EXPECT_TRUE(store_
                  ->Update(leases, "default", "other",
                           J(R"({"spec":{"holderIdentity":"c"}})"),
                           Subresource::kMain)
                  .ok());
}

TEST_F(StoreTest, GenerationCountsSpecChangesOnly) {
  ResourceType fns = Functions();
  Json fn =
      MustCreate(fns, "default",
                 J(R"({"metadata":{"name":"f"},"spec":{"runtime":"provided"},
                             "status":{"replicas":5}})"));
  EXPECT_EQ(Generation(fn), 1);
  EXPECT_FALSE(fn.contains("status"))
      << "create ignores status when there is a status subresource";
  EXPECT_EQ(fn["spec"]["memoryMB"], 128) << "schema default";

  fn["metadata"]["labels"] = {{"a", "b"}};
  fn = *store_->Update(fns, "default", "f", fn, Subresource::kMain);
  EXPECT_EQ(Generation(fn), 1) << "metadata changes keep the generation";

  fn["spec"]["memoryMB"] = 256;
  fn["status"] = {{"replicas", 7}};
  fn = *store_->Update(fns, "default", "f", fn, Subresource::kMain);
  EXPECT_EQ(Generation(fn), 2);
  EXPECT_FALSE(fn.contains("status")) << "main writes ignore status";

  fn["status"] = {{"replicas", 3}};
  fn["spec"]["memoryMB"] = 999;
  fn = *store_->Update(fns, "default", "f", fn, Subresource::kStatus);
  EXPECT_EQ(Generation(fn), 2) << "status writes never bump the generation";
  EXPECT_EQ(fn["status"]["replicas"], 3);
  EXPECT_EQ(fn["spec"]["memoryMB"], 256) << "status writes change only status";

  // Validation against the CRD schema.
  fn["spec"]["memoryMB"] = 64;
  absl::StatusOr<Json> invalid =
      store_->Update(fns, "default", "f", fn, Subresource::kMain);
  EXPECT_EQ(Code(invalid.status()), 422);
  EXPECT_THAT(
      std::string(invalid.status().message()),
      testing::HasSubstr(
          "spec.memoryMB in body should be greater than or equal to 128"));

  // Deployments count spec changes too and default their replicas.
  ResourceType deployments = Type("apps", "v1", "deployments");
  Json d = MustCreate(
      deployments, "default",
      J(R"({"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}}}})"));
  EXPECT_EQ(Generation(d), 1);
  EXPECT_EQ(d["spec"]["replicas"], 1);
}

TEST_F(StoreTest, MutateIsAtomicReadModifyWrite) {
  MustCreate(ConfigMaps(), "default",
             J(R"({"metadata":{"name":"a"},"data":{"n":"0"}})"));
  absl::StatusOr<Store::MutateResult> r =
      store_->Mutate(ConfigMaps(), "default", "a", Subresource::kMain,
                     [](const Json* current) -> absl::StatusOr<Json> {
                       Json next = *current;
                       next["data"]["n"] = "1";
                       return next;
                     });
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->created);
  EXPECT_EQ(r->object["data"]["n"], "1");
  r = store_->Mutate(ConfigMaps(), "default", "b", Subresource::kMain,
                     [](const Json* current) -> absl::StatusOr<Json> {
                       EXPECT_EQ(current, nullptr);
                       return J(R"({"data":{"n":"new"}})");
                     });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->created);
  EXPECT_EQ(r->object["metadata"]["name"], "b");
}

TEST_F(StoreTest, DeleteCascadesToDependents) {
  ResourceType fns = Functions();
  Json fn = MustCreate(
      fns, "default",
      J(R"({"metadata":{"name":"f"},"spec":{"runtime":"provided"}})"));
  Json other = MustCreate(ConfigMaps(), "default",
                          J(R"({"metadata":{"name":"other-owner"}})"));
  std::string uid = fn["metadata"]["uid"];
  Json owned = {{"metadata",
                 {{"name", "f-config"},
                  {"ownerReferences",
                   {{{"apiVersion", "wisp.dev/v1alpha1"},
                     {"kind", "Function"},
                     {"name", "f"},
                     {"uid", uid},
                     {"controller", true}}}}}}};
  MustCreate(ConfigMaps(), "default", owned);
  Json shared = owned;
  shared["metadata"]["name"] = "shared";
  shared["metadata"]["ownerReferences"].push_back(
      {{"apiVersion", "v1"},
       {"kind", "ConfigMap"},
       {"name", "other-owner"},
       {"uid", other["metadata"]["uid"]}});
  MustCreate(ConfigMaps(), "default", shared);
  ResourceType deployments = Type("apps", "v1", "deployments");
  Json d = owned;
  d["metadata"]["name"] = "f";
  Json deployment = MustCreate(deployments, "default", d);
  Json pod = {{"metadata",
               {{"name", "f-pod"},
                {"ownerReferences",
                 {{{"kind", "Deployment"},
                   {"name", "f"},
                   {"uid", deployment["metadata"]["uid"]}}}}}}};
  MustCreate(Type("", "v1", "pods"), "default", pod);

  absl::StatusOr<Json> deleted = store_->Delete(fns, "default", "f");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(Code(store_->Get(fns, "default", "f").status()), 404);
  EXPECT_EQ(Code(store_->Get(ConfigMaps(), "default", "f-config").status()),
            404);
  EXPECT_EQ(Code(store_->Get(deployments, "default", "f").status()), 404);
  EXPECT_EQ(
      Code(store_->Get(Type("", "v1", "pods"), "default", "f-pod").status()),
      404)
      << "cascades through several levels";
  EXPECT_TRUE(store_->Get(ConfigMaps(), "default", "shared").ok())
      << "a dependent with another live owner stays";
  EXPECT_EQ(Code(store_->Delete(fns, "default", "f").status()), 404);
}

TEST_F(StoreTest, OrphanDeletionStripsOwnerReferences) {
  Json owner = MustCreate(ConfigMaps(), "default",
                          J(R"({"metadata":{"name":"owner"}})"));
  Json dependent = {{"metadata",
                     {{"name", "dep"},
                      {"ownerReferences",
                       {{{"kind", "ConfigMap"},
                         {"name", "owner"},
                         {"uid", owner["metadata"]["uid"]}}}}}}};
  MustCreate(ConfigMaps(), "default", dependent);
  DeleteOptions options;
  options.propagation = DeleteOptions::Propagation::kOrphan;
  ASSERT_TRUE(store_->Delete(ConfigMaps(), "default", "owner", options).ok());
  absl::StatusOr<Json> left = store_->Get(ConfigMaps(), "default", "dep");
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->at("metadata").contains("ownerReferences"));
}

TEST_F(StoreTest, DeletePreconditionsAndFinalizers) {
  Json cm = MustCreate(
      ConfigMaps(), "default",
      J(R"({"metadata":{"name":"a","finalizers":["wisp.dev/cleanup"]}})"));
  DeleteOptions wrong;
  wrong.precondition_uid = "not-it";
  EXPECT_EQ(Code(store_->Delete(ConfigMaps(), "default", "a", wrong).status()),
            409);

  absl::StatusOr<Json> marked = store_->Delete(ConfigMaps(), "default", "a");
  ASSERT_TRUE(marked.ok());
  EXPECT_TRUE(marked->at("metadata").contains("deletionTimestamp"));
  EXPECT_TRUE(store_->Get(ConfigMaps(), "default", "a").ok())
      << "finalizers hold the object";

  Json release = *marked;
  release["metadata"].erase("finalizers");
  ASSERT_TRUE(
      store_->Update(ConfigMaps(), "default", "a", release, Subresource::kMain)
          .ok());
  EXPECT_EQ(Code(store_->Get(ConfigMaps(), "default", "a").status()), 404)
      << "removing the last finalizer completes the deletion";
}

TEST_F(StoreTest, DeletingNamespaceAndCrdDeletesContents) {
  ResourceType namespaces = Type("", "v1", "namespaces");
  MustCreate(namespaces, "", J(R"({"metadata":{"name":"team"}})"));
  MustCreate(ConfigMaps(), "team", J(R"({"metadata":{"name":"a"}})"));
  ASSERT_TRUE(store_->Delete(namespaces, "", "team").ok());
  EXPECT_EQ(Code(store_->Get(ConfigMaps(), "team", "a").status()), 404);

  ResourceType fns = Functions();
  MustCreate(fns, "default",
             J(R"({"metadata":{"name":"f"},"spec":{"runtime":"provided"}})"));
  ASSERT_TRUE(store_
                  ->Delete(Type("apiextensions.k8s.io", "v1",
                                "customresourcedefinitions"),
                           "", "functions.wisp.dev")
                  .ok());
  EXPECT_FALSE(
      store_->FindResource("wisp.dev", "v1alpha1", "functions").has_value());
  ResourceType recreated = Functions();
  EXPECT_TRUE(store_->List(recreated, "default", {})->items.empty());
}

TEST_F(StoreTest, CrdGetsEstablishedStatus) {
  Functions();
  absl::StatusOr<Json> crd = store_->Get(
      Type("apiextensions.k8s.io", "v1", "customresourcedefinitions"), "",
      "functions.wisp.dev");
  ASSERT_TRUE(crd.ok());
  EXPECT_EQ((*crd)["status"]["acceptedNames"]["kind"], "Function");
  std::vector<std::string> types;
  for (const Json& c : (*crd)["status"]["conditions"]) {
    if (c["status"] == "True") types.push_back(c["type"]);
  }
  EXPECT_THAT(types,
              testing::UnorderedElementsAre("Established", "NamesAccepted"));
}

TEST_F(StoreTest, WatchDeliversChangesAfterResourceVersionInOrder) {
  Json a =
      MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"a"}})"));
  WatchOptions options;
  options.resource_version = Rv(a);
  absl::StatusOr<std::unique_ptr<Watch>> w =
      store_->StartWatch(ConfigMaps(), "default", options);
  ASSERT_TRUE(w.ok()) << w.status();

  MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"b"}})"));
  MustCreate(ConfigMaps(), "kube-system",
             J(R"({"metadata":{"name":"elsewhere"}})"));
  a["data"] = {{"k", "v"}};
  a["metadata"].erase("resourceVersion");
  ASSERT_TRUE(
      store_->Update(ConfigMaps(), "default", "a", a, Subresource::kMain).ok());
  ASSERT_TRUE(store_->Delete(ConfigMaps(), "default", "b").ok());

  std::vector<WatchEvent> events = Events(**w, 3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[0].object["metadata"]["name"], "b");
  EXPECT_EQ(events[1].type, "MODIFIED");
  EXPECT_EQ(events[1].object["data"]["k"], "v");
  EXPECT_EQ(events[2].type, "DELETED");
  EXPECT_EQ(events[2].object["metadata"]["name"], "b");
  EXPECT_EQ(events[2].object["apiVersion"], "v1");
  int64_t rv0, rv1, rv2;
  ASSERT_TRUE(absl::SimpleAtoi(Rv(events[0].object), &rv0));
  ASSERT_TRUE(absl::SimpleAtoi(Rv(events[1].object), &rv1));
  ASSERT_TRUE(absl::SimpleAtoi(Rv(events[2].object), &rv2));
  EXPECT_LT(rv0, rv1);
  EXPECT_LT(rv1, rv2);

  // Nothing else: the wait ends at its deadline and reports progress for
  // bookmarks.
  std::vector<WatchEvent> more;
  int64_t progress = 0;
  EXPECT_EQ((*w)->Next(absl::Now() + absl::Milliseconds(20), &more, &progress),
            Watch::Result::kTimeout);
  EXPECT_EQ(progress, store_->ResourceVersion());
}

TEST_F(StoreTest, WatchFromNowReplaysCurrentObjectsAndHonoursSelectors) {
  MustCreate(ConfigMaps(), "default",
             J(R"({"metadata":{"name":"in","labels":{"app":"x"}}})"));
  MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"out"}})"));
  WatchOptions options;
  options.labels = *LabelSelector::Parse("app=x");
  options.initial_events_end_bookmark = true;
  absl::StatusOr<std::unique_ptr<Watch>> w =
      store_->StartWatch(ConfigMaps(), "", options);
  ASSERT_TRUE(w.ok());
  std::vector<WatchEvent> initial = Events(**w, 2);
  ASSERT_EQ(initial.size(), 2u);
  EXPECT_EQ(initial[0].type, "ADDED");
  EXPECT_EQ(initial[0].object["metadata"]["name"], "in");
  EXPECT_EQ(initial[1].type, "BOOKMARK");
  EXPECT_EQ(
      initial[1].object["metadata"]["annotations"]["k8s.io/initial-events-end"],
      "true");

  // Label changes move objects into and out of the selection.
  Json out = *store_->Get(ConfigMaps(), "default", "out");
  out["metadata"]["labels"] = {{"app", "x"}};
  ASSERT_TRUE(
      store_->Update(ConfigMaps(), "default", "out", out, Subresource::kMain)
          .ok());
  Json in = *store_->Get(ConfigMaps(), "default", "in");
  in["metadata"]["labels"] = {{"app", "y"}};
  ASSERT_TRUE(
      store_->Update(ConfigMaps(), "default", "in", in, Subresource::kMain)
          .ok());
  std::vector<WatchEvent> events = Events(**w, 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "ADDED");
  EXPECT_EQ(events[0].object["metadata"]["name"], "out");
  EXPECT_EQ(events[1].type, "DELETED");
  EXPECT_EQ(events[1].object["metadata"]["name"], "in");
}

TEST_F(StoreTest, WatchFromCompactedResourceVersionIsExpired) {
  Json a =
      MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"a"}})"));
  MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"b"}})"));
  store_->Compact();
  WatchOptions options;
  options.resource_version = Rv(a);
  absl::StatusOr<std::unique_ptr<Watch>> w =
      store_->StartWatch(ConfigMaps(), "default", options);
  EXPECT_EQ(Code(w.status()), 410);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kOutOfRange);
  options.resource_version = absl::StrCat(store_->ResourceVersion());
  EXPECT_TRUE(store_->StartWatch(ConfigMaps(), "default", options).ok());
  options.resource_version = "abc";
  EXPECT_EQ(Code(store_->StartWatch(ConfigMaps(), "default", options).status()),
            400);
}

TEST_F(StoreTest, HistoryIsBounded) {
  Store::Options opts;
  opts.history_limit = 3;
  Open(opts);
  Json first =
      MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"c0"}})"));
  for (int i = 1; i < 5; ++i) {
    MustCreate(
        ConfigMaps(), "default",
        J(absl::StrCat(R"({"metadata":{"name":"c)", i, R"("}})").c_str()));
  }
  WatchOptions options;
  options.resource_version = Rv(first);
  EXPECT_EQ(Code(store_->StartWatch(ConfigMaps(), "default", options).status()),
            410);
  options.resource_version = absl::StrCat(store_->ResourceVersion() - 2);
  absl::StatusOr<std::unique_ptr<Watch>> w =
      store_->StartWatch(ConfigMaps(), "default", options);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(Events(**w, 2).size(), 2u);
}

TEST_F(StoreTest, ExpireWatchesEndsThemWithGone) {
  absl::StatusOr<std::unique_ptr<Watch>> w =
      store_->StartWatch(ConfigMaps(), "default", {});
  ASSERT_TRUE(w.ok());
  store_->ExpireWatches();
  std::vector<WatchEvent> events;
  int64_t progress;
  (*w)->Next(absl::Now() + absl::Seconds(5), &events, &progress);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "ERROR");
  EXPECT_EQ(events[0].object["code"], 410);
  EXPECT_EQ(events[0].object["reason"], "Expired");
  EXPECT_EQ((*w)->Next(absl::Now() + absl::Seconds(5), &events, &progress),
            Watch::Result::kClosed);
}

TEST_F(StoreTest, SlowWatcherIsClosedWhenItsQueueOverflows) {
  Store::Options opts;
  opts.watch_queue_limit = 2;
  Open(opts);
  absl::StatusOr<std::unique_ptr<Watch>> w = store_->StartWatch(
      ConfigMaps(), "default",
      {.resource_version = absl::StrCat(store_->ResourceVersion())});
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 4; ++i) {
    MustCreate(
        ConfigMaps(), "default",
        J(absl::StrCat(R"({"metadata":{"name":"c)", i, R"("}})").c_str()));
  }
  std::vector<WatchEvent> events;
  int64_t progress;
  EXPECT_EQ((*w)->Next(absl::Now() + absl::Seconds(5), &events, &progress),
            Watch::Result::kClosed);
}

TEST_F(StoreTest, PersistsAcrossRestart) {
  std::string dir = absl::StrCat(
      testing::TempDir(), "/apiserver-store-",
      testing::UnitTest::GetInstance()->random_seed(), "-", getpid());
  std::filesystem::remove_all(dir);
  Store::Options opts;
  opts.data_dir = dir;
  Open(opts);
  ResourceType fns = Functions();
  MustCreate(fns, "default",
             J(R"({"metadata":{"name":"f"},"spec":{"runtime":"provided"}})"));
  MustCreate(ConfigMaps(), "default",
             J(R"({"metadata":{"name":"a"},"data":{"k":"v"}})"));
  int64_t rv = store_->ResourceVersion();

  Open(opts);
  EXPECT_EQ(store_->ResourceVersion(), rv);
  EXPECT_EQ(store_->Get(ConfigMaps(), "default", "a")->at("data")["k"], "v");
  ASSERT_TRUE(
      store_->FindResource("wisp.dev", "v1alpha1", "functions").has_value())
      << "CRD types are registered again on load";
  EXPECT_TRUE(store_->Get(fns, "default", "f").ok());
  Json b =
      MustCreate(ConfigMaps(), "default", J(R"({"metadata":{"name":"b"}})"));
  int64_t new_rv;
  ASSERT_TRUE(absl::SimpleAtoi(Rv(b), &new_rv));
  EXPECT_GT(new_rv, rv) << "resourceVersions stay monotonic across restarts";
  // Watches from before the restart must re-list.
  WatchOptions options;
  options.resource_version = absl::StrCat(rv - 1);
  EXPECT_EQ(Code(store_->StartWatch(ConfigMaps(), "default", options).status()),
            410);
  EXPECT_EQ(store_->persist_failures(), 0);
  store_.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(StoreTest, CorruptSnapshotIsReported) {
  std::string dir =
      absl::StrCat(testing::TempDir(), "/apiserver-corrupt-", getpid());
  std::filesystem::create_directories(dir);
  { std::ofstream(dir + "/store.json") << "{not json"; }
  Store::Options opts;
  opts.data_dir = dir;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(opts);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace wisp::apiserver
