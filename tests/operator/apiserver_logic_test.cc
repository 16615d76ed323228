// Pure pieces of the Kubernetes API test server: patches, selectors, JSONPath
// and tables, CRD parsing, schema defaulting and validation, YAML bodies, error
// mapping.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/apiserver/errors.h"
#include "operator/apiserver/json_util.h"
#include "operator/apiserver/patch.h"
#include "operator/apiserver/resources.h"
#include "operator/apiserver/schema.h"
#include "operator/apiserver/selectors.h"
#include "operator/apiserver/table.h"
#include "operator/apiserver/yaml.h"

namespace wisp::apiserver {
namespace {

Json J(const char* text) { return Json::parse(text); }

TEST(MergePatchTest, Rfc7386Examples) {
  struct Case {
    const char* name;
    const char* target;
    const char* patch;
    const char* want;
  };
  const std::vector<Case> cases = {
      {"replace", R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {"add", R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {"delete", R"({"a":"b"})", R"({"a":null})", R"({})"},
      {"nested", R"({"a":{"b":"c","d":1}})", R"({"a":{"b":null,"e":2}})",
       R"({"a":{"d":1,"e":2}})"},
      {"list replaces", R"({"a":[1,2]})", R"({"a":[3]})", R"({"a":[3]})"},
      {"non-object target", R"({"a":"x"})", R"({"a":{"b":"c"}})",
       R"({"a":{"b":"c"}})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(MergePatch(J(c.target), J(c.patch)), J(c.want));
  }
}

TEST(StrategicMergePatchTest, MergesKeyedListsAndHonoursDirectives) {
  Json live = J(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"a","image":"a:1","env":[{"name":"X","value":"1"}]},
      {"name":"b","image":"b:1"}]}}},
      "metadata":{"finalizers":["f1"]}})");
  Json patch = J(R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"a"},{"name":"b"},{"name":"c"}],
      "containers":[{"name":"a","image":"a:2","env":[{"name":"Y","value":"2"}]},
                    {"name":"b","$patch":"delete"},
                    {"name":"c","image":"c:1"}]}}},
      "metadata":{"finalizers":["f2"]}})");
  absl::StatusOr<Json> got = StrategicMergePatch(live, patch);
  ASSERT_TRUE(got.ok()) << got.status();
  Json want = J(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"a","image":"a:2","env":[{"name":"X","value":"1"},{"name":"Y","value":"2"}]},
      {"name":"c","image":"c:1"}]}}},
      "metadata":{"finalizers":["f1","f2"]}})");
  EXPECT_EQ(*got, want);
}

TEST(StrategicMergePatchTest, PortsConditionsRetainKeysAndPrimitiveDeletes) {
  Json live = J(R"({"ports":[{"port":80,"name":"http"},{"port":443}],
      "status":{"conditions":[{"type":"Ready","status":"False"}]},
      "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}},
      "metadata":{"finalizers":["a","b"]}})");
  Json patch = J(R"({"ports":[{"port":80,"name":"web"}],
      "status":{"conditions":[{"type":"Ready","status":"True"}]},
      "strategy":{"$retainKeys":["type"],"type":"Recreate"},
      "metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}})");
  absl::StatusOr<Json> got = StrategicMergePatch(live, patch);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["ports"], J(R"([{"port":80,"name":"web"},{"port":443}])"));
  EXPECT_EQ((*got)["status"]["conditions"],
            J(R"([{"type":"Ready","status":"True"}])"));
  EXPECT_EQ((*got)["strategy"], J(R"({"type":"Recreate"})"));
  EXPECT_EQ((*got)["metadata"]["finalizers"], J(R"(["b"])"));
  EXPECT_FALSE(StrategicMergePatch(live, J("[1]")).ok());
}

TEST(JsonPatchTest, Operations) {
  Json doc = J(R"({"a":{"b":[1,2,3]},"c":"x"})");
  absl::StatusOr<Json> got = JsonPatch(doc, J(R"([
      {"op":"test","path":"/c","value":"x"},
      {"op":"add","path":"/a/b/1","value":9},
      {"op":"add","path":"/a/b/-","value":4},
      {"op":"remove","path":"/a/b/0"},
      {"op":"replace","path":"/c","value":"y"},
      {"op":"copy","from":"/c","path":"/d"},
      {"op":"move","from":"/d","path":"/e~1f"}])"));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, J(R"({"a":{"b":[9,2,3,4]},"c":"y","e/f":"y"})"));

  absl::StatusOr<Json> failed_test =
      JsonPatch(doc, J(R"([{"op":"test","path":"/c","value":"z"}])"));
  EXPECT_EQ(ReasonOf(failed_test.status()).code, 422);
  absl::StatusOr<Json> missing =
      JsonPatch(doc, J(R"([{"op":"replace","path":"/nope","value":1}])"));
  EXPECT_EQ(ReasonOf(missing.status()).code, 422);
  absl::StatusOr<Json> bad_op =
      JsonPatch(doc, J(R"([{"op":"frobnicate","path":"/c"}])"));
  EXPECT_EQ(ReasonOf(bad_op.status()).code, 400);
  EXPECT_EQ(ReasonOf(JsonPatch(doc, J(R"({"op":"add"})")).status()).code, 400);
  EXPECT_EQ(
      ReasonOf(
          JsonPatch(doc, J(R"([{"op":"add","path":"x","value":1}])")).status())
          .code,
      400);
}

TEST(ServerSideApplyTest,
     MergesRecordsManagerAndRemovesFieldsItNoLongerApplies) {
  Json first =
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c",
      "labels":{"a":"1","b":"2"}},"data":{"x":"1","y":"2"}})");
  Json created =
      ServerSideApply(Json(), first, "op", "v1", "2026-01-01T00:00:00Z", "");
  ASSERT_EQ(created["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(created["metadata"]["managedFields"][0]["manager"], "op");
  EXPECT_EQ(
      created["metadata"]["managedFields"][0]["fieldsV1"],
      J(R"({"f:data":{"f:x":{},"f:y":{}},"f:metadata":{"f:labels":{"f:a":{},"f:b":{}}}})"));

  // Another writer adds a label; the manager then stops applying label b and
  // data.y.
  Json live = created;
  live["metadata"]["labels"]["other"] = "3";
  Json second =
      J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c",
      "labels":{"a":"1"}},"data":{"x":"9"}})");
  Json updated =
      ServerSideApply(live, second, "op", "v1", "2026-01-01T00:00:01Z", "");
  EXPECT_EQ(updated["metadata"]["labels"], J(R"({"a":"1","other":"3"})"));
  EXPECT_EQ(updated["data"], J(R"({"x":"9"})"));
  ASSERT_EQ(updated["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(updated["metadata"]["managedFields"][0]["time"],
            "2026-01-01T00:00:01Z");
}

TEST(LabelSelectorTest, ParsesAndMatches) {
  Json labels = J(R"({"app":"web","tier":"front","n":"5"})");
  struct Case {
    const char* selector;
    bool want;
  };
  const std::vector<Case> cases = {
      {"", true},
      {"app=web", true},
      {"app==web", true},
      {"app!=web", false},
      {"app=web,tier=back", false},
      {"app in (web, api)", true},
      {"tier notin (front)", false},
      {"app", true},
      {"!app", false},
      {"!missing", true},
      {"missing!=x", true},
      {"n>3", true},
      {"n<3", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.selector);
    absl::StatusOr<LabelSelector> s = LabelSelector::Parse(c.selector);
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(s->Matches(labels), c.want);
  }
  for (const char* bad : {"app=web,", "in (", "app in (a", "=x", "app ~ x"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ReasonOf(LabelSelector::Parse(bad).status()).code, 400);
  }
  absl::StatusOr<LabelSelector> from_json = LabelSelector::FromJson(J(
      R"({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["front"]}]})"));
  ASSERT_TRUE(from_json.ok());
  EXPECT_EQ(from_json->ToString(), "app=web,tier in (front)");
  EXPECT_TRUE(from_json->Matches(labels));
}

TEST(FieldSelectorTest, ParsesAndMatches) {
  Json object = J(
      R"({"metadata":{"name":"x","namespace":"ns"},"status":{"phase":"Running"}})");
  absl::StatusOr<FieldSelector> s =
      FieldSelector::Parse("metadata.name=x,status.phase!=Failed");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches(object));
  EXPECT_EQ(s->EqualityValue("metadata.name"), "x");
  EXPECT_FALSE(
      FieldSelector::Parse("metadata.namespace==other")->Matches(object));
  EXPECT_FALSE(FieldSelector::Parse("nonsense").ok());
}

TEST(JsonPathTest, PrinterColumnExpressions) {
  Json object = J(R"({"status":{"replicas":3,"conditions":[
      {"type":"Other","status":"False"},{"type":"Ready","status":"True"}]},
      "spec":{"list":[{"a":1},{"a":2}],"dotted.key":"v"}})");
  struct Case {
    const char* path;
    Json want;
  };
  const std::vector<Case> cases = {
      {".status.replicas", 3},
      {"{.status.replicas}", 3},
      {"$.status.replicas", 3},
      {R"(.status.conditions[?(@.type=="Ready")].status)", "True"},
      {R"(.status.conditions[?(@.type!="Ready")].status)", "False"},
      {".spec.list[1].a", 2},
      {".spec.list[-1].a", 2},
      {".spec['dotted.key']", "v"},
      {".spec.list[*].a", 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    absl::StatusOr<std::vector<Json>> got = EvalJsonPath(c.path, object);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_FALSE(got->empty());
    EXPECT_EQ(got->front(), c.want);
  }
  EXPECT_TRUE(EvalJsonPath(".status.missing", object)->empty());
  for (const char* bad : {".a[", ".a[?(x)]", "..a", ".a[\"x]"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(EvalJsonPath(bad, object).ok());
  }
}

TEST(TableTest, HumanDurationMatchesKubernetes) {
  struct Case {
    int64_t seconds;
    const char* want;
  };
  const std::vector<Case> cases = {{-5, "<invalid>"},
                                   {-1, "0s"},
                                   {0, "0s"},
                                   {119, "119s"},
                                   {120, "2m"},
                                   {200, "3m20s"},
                                   {600, "10m"},
                                   {3 * 3600, "3h"},
                                   {5 * 3600 + 60, "5h1m"},
                                   {30 * 3600, "30h"},
                                   {3 * 86400 + 3600, "3d1h"},
                                   {100 * 86400, "100d"},
                                   {3 * 365 * 86400 + 86400, "3y1d"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.seconds);
    EXPECT_EQ(HumanDuration(c.seconds), c.want);
  }
}

TEST(TableTest, CellsFollowColumnTypes) {
  std::vector<PrinterColumn> columns = {
      {"Ready", "string", "", "",
       R"(.status.conditions[?(@.type=="Ready")].status)", 0},
      {"Replicas", "integer", "", "", ".status.replicas", 0},
      {"Missing", "string", "", "", ".status.nope", 0},
      {"Age", "date", "", "", ".metadata.creationTimestamp", 0},
  };
  Json object =
      J(R"({"metadata":{"name":"f","creationTimestamp":"2026-01-01T00:00:00Z"},
      "status":{"replicas":2.0,"conditions":[{"type":"Ready","status":"True"}]}})");
  int64_t now = *ParseTimestamp("2026-01-01T00:05:00Z");
  EXPECT_EQ(TableCells(columns, object, now), J(R"(["f","True",2,null,"5m"])"));
  EXPECT_EQ(TableColumnDefinitions(columns).size(), 5u);
}

TEST(ResourcesTest, CrdDeclaresServedVersions) {
  Json crd = J(
      R"({"metadata":{"name":"things.example.com"},"spec":{"group":"example.com",
      "scope":"Cluster","names":{"plural":"things","kind":"Thing","shortNames":["th"]},
      "versions":[
        {"name":"v1beta1","served":true,"storage":false},
        {"name":"v1","served":true,"storage":true,"subresources":{"status":{},
          "scale":{"specReplicasPath":".spec.size","statusReplicasPath":".status.size"}},
          "additionalPrinterColumns":[{"name":"Size","type":"integer","jsonPath":".spec.size"}]},
        {"name":"v2alpha1","served":false,"storage":false}]}})");
  absl::StatusOr<std::vector<ResourceType>> types = ResourcesFromCrd(crd);
  ASSERT_TRUE(types.ok()) << types.status();
  ASSERT_EQ(types->size(), 2u);
  const ResourceType& v1 = (*types)[0];
  EXPECT_EQ(v1.version, "v1");
  EXPECT_FALSE(v1.namespaced);
  EXPECT_TRUE(v1.has_status);
  ASSERT_TRUE(v1.scale.has_value());
  EXPECT_EQ(v1.scale->spec_replicas_path, ".spec.size");
  EXPECT_EQ(v1.singular, "thing");
  EXPECT_EQ(v1.list_kind, "ThingList");
  EXPECT_EQ(v1.short_names, std::vector<std::string>{"th"});
  ASSERT_EQ(v1.columns.size(), 1u);
  EXPECT_EQ((*types)[1].version, "v1beta1");
  EXPECT_EQ((*types)[1].columns[0].name, "Age");

  Json bad = crd;
  bad["metadata"]["name"] = "wrong.example.com";
  EXPECT_EQ(ReasonOf(ResourcesFromCrd(bad).status()).code, 422);
  bad = crd;
  bad["spec"].erase("group");
  EXPECT_EQ(ReasonOf(ResourcesFromCrd(bad).status()).code, 422);
}

TEST(ResourcesTest, VersionPriority) {
  std::vector<std::string> versions = {"v1alpha1", "foo",     "v2", "v1beta2",
                                       "v1",       "v1beta1", "v10"};
  std::sort(versions.begin(), versions.end(),
            [](const std::string& a, const std::string& b) {
              return CompareVersions(a, b) < 0;
            });
  EXPECT_THAT(versions, testing::ElementsAre("v10", "v2", "v1", "v1beta2",
                                             "v1beta1", "v1alpha1", "foo"));
}

TEST(SchemaTest, DefaultsAndValidates) {
  Json schema = J(
      R"({"type":"object","properties":{"spec":{"type":"object","required":["runtime"],
      "properties":{"runtime":{"type":"string","enum":["python3.11","nodejs20"]},
        "memoryMB":{"type":"integer","minimum":128,"maximum":10240,"default":128},
        "name":{"type":"string","maxLength":3},
        "items":{"type":"array","maxItems":1,"items":{"type":"integer"}},
        "port":{"x-kubernetes-int-or-string":true}}}}})");
  Json object = J(R"({"spec":{"runtime":"python3.11"}})");
  ApplySchemaDefaults(schema, object);
  EXPECT_EQ(object["spec"]["memoryMB"], 128);
  EXPECT_TRUE(ValidateSchema(schema, object).empty());
  object["spec"]["port"] = "http";
  EXPECT_TRUE(ValidateSchema(schema, object).empty());

  Json bad = J(
      R"({"spec":{"runtime":"cobol","memoryMB":64,"name":"long","items":[1,"x"]}})");
  std::vector<std::string> errors = ValidateSchema(schema, bad);
  EXPECT_THAT(
      errors,
      testing::Contains(testing::HasSubstr(
          "spec.memoryMB: Invalid value: 64: spec.memoryMB in body should be "
          "greater than or equal to 128")));
  EXPECT_THAT(
      errors,
      testing::Contains(testing::HasSubstr("spec.runtime: Unsupported value")));
  EXPECT_THAT(errors,
              testing::Contains(testing::HasSubstr("spec.name: Too long")));
  EXPECT_THAT(errors,
              testing::Contains(testing::HasSubstr("spec.items: Too many")));
  EXPECT_THAT(errors, testing::Contains(testing::HasSubstr("spec.items[1]")));
  EXPECT_THAT(
      ValidateSchema(schema, J(R"({"spec":{}})")),
      testing::Contains(testing::HasSubstr("spec.runtime: Required value")));
  // No spec: nothing to default into.
  Json empty = J("{}");
  ApplySchemaDefaults(schema, empty);
  EXPECT_EQ(empty, J("{}"));
}

TEST(YamlTest, ConvertsScalarsByCoreSchema) {
  absl::StatusOr<Json> got = ParseYaml(R"(
kind: ConfigMap
metadata: {name: x}
data:
  quoted: "123"
  plain: 123
  float: 1.5
  yes: true
  nothing: null
  text: hello world
  list: [a, 2]
)");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["data"],
            J(R"({"quoted":"123","plain":123,"float":1.5,"yes":true,
      "nothing":null,"text":"hello world","list":["a",2]})"));
  EXPECT_EQ(ReasonOf(ParseYaml("a: [1, 2").status()).code, 400);
  EXPECT_EQ(ReasonOf(ParseYaml("- 1\n- 2\n").status()).code, 400);
}

TEST(JsonUtilTest, RejectsBadAndDeepInput) {
  EXPECT_EQ(ReasonOf(ParseJson("{").status()).code, 400);
  EXPECT_EQ(ReasonOf(ParseJson("[]").status()).code, 400);
  EXPECT_TRUE(ParseJson("[]", /*want_object=*/false).ok());
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(ReasonOf(ParseJson(deep, false).status()).code, 400);
  // Brackets inside strings do not count.
  EXPECT_TRUE(ParseJson(R"({"a":")" + std::string(1000, '[') + R"("})").ok());
  // Invalid UTF-8 never throws when serializing.
  Json bad_utf8 = std::string("\xff\xfe");
  EXPECT_FALSE(Dump(bad_utf8).empty());
}

TEST(ErrorsTest, StatusObjects) {
  Json s = StatusObject(kerr::Conflict("try again"), {{"name", "x"}});
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["status"], "Failure");
  EXPECT_EQ(s["reason"], "Conflict");
  EXPECT_EQ(s["code"], 409);
  EXPECT_EQ(s["details"]["name"], "x");
  EXPECT_EQ(ReasonOf(kerr::Invalid("x")).code, 422);
  EXPECT_EQ(ReasonOf(kerr::BadRequest("x")).code, 400);
  EXPECT_EQ(ReasonOf(kerr::Expired("x")).reason, "Expired");
  EXPECT_EQ(ReasonOf(absl::NotFoundError("x")).code, 404);
  EXPECT_EQ(ReasonOf(absl::AbortedError("x")).reason, "Conflict");
}

}  // namespace
}  // namespace wisp::apiserver
