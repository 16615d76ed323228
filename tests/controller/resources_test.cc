// Tests for controller/resources/: the child objects of a Function, built as JSON for
// server-side apply. One golden object per builder for a plain Function, then tables of how each
// spec field changes them.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "controller/function.h"
#include "controller/operator_config.h"
#include "controller/resources/config_map.h"
#include "controller/resources/deployment.h"
#include "controller/resources/meta.h"
#include "controller/resources/service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace wisp::resources {
namespace {

using json = nlohmann::json;
using ::testing::IsEmpty;

constexpr char kInline[] = "def handler(event, context):\n    return 1\n";

json BaseObject() {
  json object = json::parse(R"json({
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "metadata": {"name": "hello", "namespace": "default", "uid": "uid-1", "generation": 3},
    "spec": {"runtime": "python3.11", "handler": "app.handler"}
  })json");
  object["spec"]["code"]["inline"] = kInline;
  return object;
}

// The Function after the operator's LoadFunction (defaulted), which must be valid.
Function Load(const json& patch) {
  json object = BaseObject();
  object.merge_patch(patch);
  ParsedFunction loaded = LoadFunction(object);
  EXPECT_THAT(loaded.violations, IsEmpty()) << JoinViolations(loaded.violations);
  return loaded.function;
}

OperatorConfig Config() {
  OperatorConfig config;
  config.worker_images = {{"python3.11", "wisp/worker-python3.11:0.1.0"},
                          {"nodejs20", "wisp/worker-nodejs20:0.1.0"},
                          {"provided", "wisp/worker-provided:0.1.0"}};
  config.gateway_url = "http://gateway.wisp-system.svc:8080";
  return config;
}

// The metadata every child of BaseObject() carries.
json MetadataFor(const std::string& name) {
  json meta = json::parse(R"json({
    "namespace": "default",
    "labels": {"wisp.dev/function": "hello", "app.kubernetes.io/managed-by": "wisp-operator"},
    "ownerReferences": [{"apiVersion": "wisp.dev/v1alpha1", "kind": "Function", "name": "hello",
                         "uid": "uid-1", "controller": true, "blockOwnerDeletion": true}]
  })json");
  meta["name"] = name;
  return meta;
}

json Build(const absl::StatusOr<json>& built) {
  EXPECT_TRUE(built.ok()) << built.status();
  return built.ok() ? *built : json();
}

// ---------------------------------------------------------------------------------------------
// meta

TEST(MetaTest, NamesLabelsAndOwner) {
  EXPECT_EQ(ConfigConfigMapName("hello"), "hello-config");
  EXPECT_EQ(CodeConfigMapName("hello"), "hello-code");
  EXPECT_EQ(SelectorString("hello"), "wisp.dev/function=hello");
  EXPECT_EQ(SelectorLabels("hello"), json({{"wisp.dev/function", "hello"}}));
  FunctionMeta meta{"hello", "default", "uid-1", 3};
  EXPECT_EQ(ChildMetadata(meta, "hello-config"), MetadataFor("hello-config"));
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps

TEST(ConfigConfigMapTest, Golden) {
  json got = Build(MakeConfigConfigMap(Load(json::object())));
  json want = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", MetadataFor("hello-config")},
               {"data",
                {{"function.json",
                  "{\n"
                  "  \"codePath\": \"/var/task\",\n"
                  "  \"environment\": {},\n"
                  "  \"ephemeralStorageMB\": 512,\n"
                  "  \"handler\": \"app.handler\",\n"
                  "  \"memoryMB\": 128,\n"
                  "  \"name\": \"hello\",\n"
                  "  \"runtime\": \"python3.11\",\n"
                  "  \"timeoutSeconds\": 3\n"
                  "}\n"}}}};
  EXPECT_EQ(got, want) << got.dump(2);
}

TEST(ConfigConfigMapTest, TheWorkerAcceptsTheFile) {
  json got = Build(MakeConfigConfigMap(Load(
      {{"spec", {{"memoryMB", 2048}, {"timeoutSeconds", 60}, {"environment", {{"A", "1"}}}}}})));
  absl::StatusOr<FunctionConfig> config =
      ParseFunctionConfigJson(got["data"]["function.json"].get<std::string>());
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(ValidateFunctionConfig(*config).ok());
  EXPECT_EQ(config->memory_mb, 2048);
  EXPECT_EQ(config->timeout_seconds, 60);
  EXPECT_EQ(config->code_path, "/var/task");
  EXPECT_EQ(config->environment, (std::vector<std::pair<std::string, std::string>>{{"A", "1"}}));
}

TEST(ConfigConfigMapTest, RefusesAnInvalidFunction) {
  json object = BaseObject();
  object["spec"]["memoryMB"] = 64;
  absl::StatusOr<json> got = MakeConfigConfigMap(LoadFunction(object).function);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message(), "spec.memoryMB: 64 is below the minimum 128");
}

TEST(CodeConfigMapTest, Golden) {
  absl::StatusOr<std::optional<json>> got = MakeCodeConfigMap(Load(json::object()));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  json want = {{"apiVersion", "v1"},
               {"kind", "ConfigMap"},
               {"metadata", MetadataFor("hello-code")},
               {"data", {{"app.py", kInline}}}};
  EXPECT_EQ(**got, want) << (*got)->dump(2);
}

TEST(CodeConfigMapTest, KeyIsTheFileName) {
  struct Case {
    std::string name;
    json patch;
    std::optional<std::string> want_key;  // nullopt: no code ConfigMap
  };
  const std::vector<Case> cases = {
      {"python default", json::object(), "app.py"},
      {"node default",
       {{"spec", {{"runtime", "nodejs20"}, {"handler", "index.handler"}}}},
       "index.js"},
      {"provided default", {{"spec", {{"runtime", "provided"}}}}, "bootstrap"},
      {"explicit fileName", {{"spec", {{"code", {{"fileName", "main.py"}}}}}}, "main.py"},
      {"code from a ConfigMap",
       {{"spec", {{"code", {{"inline", nullptr}, {"configMap", {{"name", "src"}}}}}}}},
       std::nullopt},
      {"code from an image", {{"spec", {{"code", nullptr}, {"image", "code:1"}}}}, std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::optional<json>> got = MakeCodeConfigMap(Load(c.patch));
    ASSERT_TRUE(got.ok()) << got.status();
    if (!c.want_key) {
      EXPECT_FALSE(got->has_value());
      continue;
    }
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((**got)["data"], json({{*c.want_key, kInline}}));
  }
}

TEST(CodeConfigMapTest, RefusesAnInvalidFunction) {
  json object = BaseObject();
  object["spec"]["image"] = "code:1";  // Two code sources.
  absl::StatusOr<std::optional<json>> got = MakeCodeConfigMap(LoadFunction(object).function);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Deployment

TEST(DeploymentTest, Golden) {
  Function f = Load(json::object());
  absl::StatusOr<std::string> hash = ConfigHash(f);
  ASSERT_TRUE(hash.ok()) << hash.status();
  json got = Build(MakeDeployment(f, Config(), 1));
  json want = json::parse(R"json({
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "spec": {
      "replicas": 1,
      "selector": {"matchLabels": {"wisp.dev/function": "hello"}},
      "template": {
        "metadata": {
          "labels": {"wisp.dev/function": "hello", "app.kubernetes.io/managed-by": "wisp-operator"}
        },
        "spec": {
          "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                              "seccompProfile": {"type": "RuntimeDefault"}},
          "automountServiceAccountToken": false,
          "enableServiceLinks": false,
          "terminationGracePeriodSeconds": 13,
          "containers": [{
            "name": "worker",
            "image": "wisp/worker-python3.11:0.1.0",
            "args": ["--config=/etc/wisp/function.json", "--concurrency=1", "--port=9000",
                     "--admin_port=9001", "--work_dir=/tmp/wisp"],
            "ports": [{"name": "grpc", "containerPort": 9000, "protocol": "TCP"},
                      {"name": "metrics", "containerPort": 9001, "protocol": "TCP"}],
            "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 1, "failureThreshold": 3},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9001}, "periodSeconds": 10,
                              "failureThreshold": 3},
            "resources": {"requests": {"cpu": "100m", "memory": "192Mi"},
                          "limits": {"cpu": "100m", "memory": "192Mi"}},
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                                "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "volumeMounts": [
              {"name": "config", "mountPath": "/etc/wisp", "readOnly": true},
              {"name": "code", "mountPath": "/var/task", "readOnly": true},
              {"name": "tmp", "mountPath": "/tmp", "readOnly": false}
            ]
          }],
          "volumes": [
            {"name": "config", "configMap": {"name": "hello-config", "defaultMode": 292}},
            {"name": "code", "configMap": {"name": "hello-code", "defaultMode": 365}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}
          ],
          "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"wisp.dev/function": "hello"}}
          }]
        }
      }
    }
  })json");
  want["metadata"] = MetadataFor("hello");
  want["spec"]["template"]["metadata"]["annotations"] = {{"wisp.dev/config-hash", *hash}};
  EXPECT_EQ(got, want) << json::diff(want, got).dump(2);
}

// How spec fields show in the Deployment: each case checks a few JSON pointers.
TEST(DeploymentTest, SpecFieldsShapeThePod) {
  struct Case {
    std::string name;
    json patch;
    int32_t replicas;
    std::vector<std::pair<std::string, json>> want;  // JSON pointer -> value
  };
  const std::string pod = "/spec/template/spec";
  const std::string worker = pod + "/containers/0";
  const std::vector<Case> cases = {
      {"replicas as given", json::object(), 7, {{"/spec/replicas", 7}}},
      {"node worker image",
       {{"spec", {{"runtime", "nodejs20"}, {"handler", "index.handler"}}}},
       1,
       {{worker + "/image", "wisp/worker-nodejs20:0.1.0"}}},
      {"perInstance sets concurrency, memory, cpu and /tmp",
       {{"spec",
         {{"memoryMB", 1024},
          {"ephemeralStorageMB", 1024},
          {"concurrency", {{"perInstance", 4}}}}}},
       1,
       {{worker + "/args/1", "--concurrency=4"},
        {worker + "/resources/requests/memory", "4160Mi"},  // 1024 × 4 + 64
        {worker + "/resources/limits/memory", "4160Mi"},
        {worker + "/resources/requests/cpu", "2316m"},  // ⌈4096000 / 1769⌉
        {worker + "/resources/limits/cpu", "2316m"},
        {pod + "/volumes/2/emptyDir/sizeLimit", "4096Mi"}}},
      {"1769 MB is one vCPU",
       {{"spec", {{"memoryMB", 1769}}}},
       1,
       {{worker + "/resources/requests/cpu", "1000m"},
        {worker + "/resources/requests/memory", "1833Mi"}}},
      {"the largest function",
       {{"spec", {{"memoryMB", 10240}}}},
       1,
       {{worker + "/resources/requests/cpu", "5789m"}}},
      {"grace period is timeout + 10",
       {{"spec", {{"timeoutSeconds", 900}}}},
       1,
       {{pod + "/terminationGracePeriodSeconds", 910}}},
      {"service account mounts its token",
       {{"spec", {{"serviceAccountName", "reader"}}}},
       1,
       {{pod + "/serviceAccountName", "reader"}, {pod + "/automountServiceAccountToken", true}}},
      {"code from a named ConfigMap",
       {{"spec", {{"code", {{"inline", nullptr}, {"configMap", {{"name", "hello-src"}}}}}}}},
       1,
       {{pod + "/volumes/1",
         {{"name", "code"}, {"configMap", {{"name", "hello-src"}, {"defaultMode", 365}}}}},
        {worker + "/volumeMounts/1",
         {{"name", "code"}, {"mountPath", "/var/task"}, {"readOnly", true}}}}},
      {"code from an image is copied by an init container",
       {{"spec", {{"code", nullptr}, {"image", "registry.example.com/hello:1"}}}},
       1,
       {{pod + "/volumes/1", {{"name", "code"}, {"emptyDir", json::object()}}},
        {pod + "/initContainers/0/name", "code"},
        {pod + "/initContainers/0/image", "registry.example.com/hello:1"},
        {pod + "/initContainers/0/command", {"cp", "-a", "/var/task/.", "/code/"}},
        {pod + "/initContainers/0/volumeMounts",
         json::array({{{"name", "code"}, {"mountPath", "/code"}}})},
        {pod + "/initContainers/0/securityContext/runAsNonRoot", true},
        {pod + "/initContainers/0/securityContext/readOnlyRootFilesystem", true},
        {pod + "/initContainers/0/resources/limits/memory", "192Mi"},
        {worker + "/volumeMounts/1",
         {{"name", "code"}, {"mountPath", "/var/task"}, {"readOnly", true}}}}},
      {"layers under /opt/<i>",
       {{"spec",
         {{"layers", json::array({{{"configMap", {{"name", "libs"}}}}, {{"image", "layer:1"}}})}}}},
       1,
       {{pod + "/volumes/3",
         {{"name", "layer-0"}, {"configMap", {{"name", "libs"}, {"defaultMode", 365}}}}},
        {pod + "/volumes/4", {{"name", "layer-1"}, {"emptyDir", json::object()}}},
        {worker + "/volumeMounts/3",
         {{"name", "layer-0"}, {"mountPath", "/opt/0"}, {"readOnly", true}}},
        {worker + "/volumeMounts/4",
         {{"name", "layer-1"}, {"mountPath", "/opt/1"}, {"readOnly", true}}},
        {pod + "/initContainers",
         json::array(
             {{{"name", "layer-1"},
               {"image", "layer:1"},
               {"command", {"cp", "-a", "/opt/.", "/layer-1/"}},
               {"volumeMounts", json::array({{{"name", "layer-1"}, {"mountPath", "/layer-1"}}})},
               {"resources",
                {{"requests", {{"cpu", "100m"}, {"memory", "192Mi"}}},
                 {"limits", {{"cpu", "100m"}, {"memory", "192Mi"}}}}},
               {"securityContext",
                {{"runAsNonRoot", true},
                 {"runAsUser", 65532},
                 {"runAsGroup", 65532},
                 {"readOnlyRootFilesystem", true},
                 {"allowPrivilegeEscalation", false},
                 {"capabilities", {{"drop", {"ALL"}}}},
                 {"seccompProfile", {{"type", "RuntimeDefault"}}}}}}})}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json got = Build(MakeDeployment(Load(c.patch), Config(), c.replicas));
    for (const auto& [pointer, value] : c.want) {
      SCOPED_TRACE(pointer);
      json::json_pointer p(pointer);
      ASSERT_TRUE(got.contains(p)) << got.dump(2);
      EXPECT_EQ(got[p], value);
    }
  }
}

TEST(DeploymentTest, NoInitContainersForConfigMapCode) {
  json got = Build(MakeDeployment(Load(json::object()), Config(), 1));
  EXPECT_FALSE(got["spec"]["template"]["spec"].contains("initContainers"));
  EXPECT_FALSE(got["spec"]["template"]["spec"].contains("serviceAccountName"));
}

TEST(DeploymentTest, WorkerImagePullPolicy) {
  OperatorConfig config = Config();
  config.worker_image_pull_policy = "IfNotPresent";
  json got =
      Build(MakeDeployment(Load({{"spec", {{"code", nullptr}, {"image", "code:1"}}}}), config, 1));
  const json& pod = got["spec"]["template"]["spec"];
  EXPECT_EQ(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_FALSE(pod["initContainers"][0].contains("imagePullPolicy"));
}

TEST(DeploymentTest, Errors) {
  struct Case {
    std::string name;
    json patch;
    OperatorConfig config;
    absl::StatusCode want;
  };
  OperatorConfig no_node = Config();
  no_node.worker_images.erase("nodejs20");
  const std::vector<Case> cases = {
      {"invalid function",
       {{"spec", {{"timeoutSeconds", 0}}}},
       Config(),
       absl::StatusCode::kInvalidArgument},
      {"no worker image for the runtime",
       {{"spec", {{"runtime", "nodejs20"}, {"handler", "index.handler"}}}},
       no_node,
       absl::StatusCode::kFailedPrecondition},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json object = BaseObject();
    object.merge_patch(c.patch);
    absl::StatusOr<json> got = MakeDeployment(LoadFunction(object).function, c.config, 1);
    EXPECT_EQ(got.status().code(), c.want) << got.status();
  }
  json object = BaseObject();
  object["spec"]["runtime"] = "nodejs20";
  EXPECT_EQ(MakeDeployment(LoadFunction(object).function, no_node, 1).status().message(),
            "no worker image is configured for runtime \"nodejs20\"");
}

TEST(DeploymentTest, ConfigHashRollsPodsOnlyWhenConfigOrCodeChanges) {
  struct Case {
    std::string name;
    json patch;
    bool changes;
  };
  const std::vector<Case> cases = {
      {"nothing", json::object(), false},
      {"replicas (not in the pod)", {{"spec", {{"replicas", 5}}}}, false},
      {"scaling (not in the pod)", {{"spec", {{"scaling", {{"maxScale", 5}}}}}}, false},
      {"environment", {{"spec", {{"environment", {{"A", "1"}}}}}}, true},
      {"memory", {{"spec", {{"memoryMB", 256}}}}, true},
      {"handler", {{"spec", {{"handler", "app.main"}, {"code", {{"fileName", "app.py"}}}}}}, true},
      {"inline code", {{"spec", {{"code", {{"inline", "print(1)\n"}}}}}}, true},
      {"file name", {{"spec", {{"code", {{"fileName", "other.py"}}}}}}, true},
  };
  absl::StatusOr<std::string> base = ConfigHash(Load(json::object()));
  ASSERT_TRUE(base.ok());
  EXPECT_EQ(base->size(), 16u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::string> got = ConfigHash(Load(c.patch));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got != *base, c.changes);
  }
}

TEST(DesiredReplicasTest, ClampedToScaleBounds) {
  struct Case {
    std::string name;
    json scaling;
    std::optional<int64_t> replicas;
    int32_t want;
  };
  const std::vector<Case> cases = {
      {"new function starts warm", json::object(), std::nullopt, 1},
      {"minScale above one", {{"minScale", 3}}, std::nullopt, 3},
      {"scaled to zero", json::object(), 0, 0},
      {"autoscaled to zero with minScale 0", {{"minScale", 0}}, 0, 0},
      {"kubectl scale", json::object(), 4, 4},
      {"below minScale", {{"minScale", 2}}, 1, 2},
      {"above maxScale", {{"maxScale", 3}}, 10, 3},
      {"zero with minScale", {{"minScale", 1}}, 0, 1},
      {"maxScale one", {{"maxScale", 1}}, std::nullopt, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json patch = {{"spec", {{"scaling", c.scaling}}}};
    if (c.replicas) patch["spec"]["replicas"] = *c.replicas;
    EXPECT_EQ(DesiredReplicas(Load(patch).spec), c.want);
  }
}

TEST(ResourcesForTest, MemoryAndCpu) {
  struct Case {
    int64_t memory_mb;
    int64_t per_instance;
    int64_t want_mib;
    int64_t want_millis;
  };
  const std::vector<Case> cases = {
      {128, 1, 192, 100},    {512, 1, 576, 290},
      {1769, 1, 1833, 1000}, {1770, 1, 1834, 1001},
      {3538, 1, 3602, 2000}, {10240, 1, 10304, 5789},
      {128, 10, 1344, 724},  {10240, 1000, 10240064, 5788582},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.memory_mb << " MB x " << c.per_instance);
    FunctionSpec spec;
    spec.memory_mb = c.memory_mb;
    spec.concurrency.per_instance = c.per_instance;
    WorkerResources r = ResourcesFor(spec);
    EXPECT_EQ(r.memory_mib, c.want_mib);
    EXPECT_EQ(r.cpu_millis, c.want_millis);
  }
}

// ---------------------------------------------------------------------------------------------
// Service and PodDisruptionBudget

TEST(ServiceTest, Golden) {
  json want = json::parse(R"json({
    "apiVersion": "v1",
    "kind": "Service",
    "spec": {
      "clusterIP": "None",
      "selector": {"wisp.dev/function": "hello"},
      "ports": [{"name": "grpc", "port": 9000, "targetPort": "grpc", "protocol": "TCP"},
                {"name": "metrics", "port": 9001, "targetPort": "metrics", "protocol": "TCP"}]
    }
  })json");
  want["metadata"] = MetadataFor("hello");
  json got = MakeService(Load(json::object()));
  EXPECT_EQ(got, want) << json::diff(want, got).dump(2);
}

TEST(PodDisruptionBudgetTest, OnlyFromMinScaleTwo) {
  struct Case {
    std::string name;
    json scaling;
    bool want;
  };
  const std::vector<Case> cases = {
      {"default minScale 0", json::object(), false},
      {"minScale 1", {{"minScale", 1}}, false},
      {"minScale 2", {{"minScale", 2}}, true},
      {"minScale 10", {{"minScale", 10}, {"maxScale", 20}}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<json> got = MakePodDisruptionBudget(Load({{"spec", {{"scaling", c.scaling}}}}));
    ASSERT_EQ(got.has_value(), c.want);
    if (!got) continue;
    json want = json::parse(R"json({
      "apiVersion": "policy/v1",
      "kind": "PodDisruptionBudget",
      "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"wisp.dev/function": "hello"}}}
    })json");
    want["metadata"] = MetadataFor("hello");
    EXPECT_EQ(*got, want);
  }
}

// ---------------------------------------------------------------------------------------------
// OperatorConfig

TEST(OperatorConfigTest, FunctionUrl) {
  struct Case {
    std::string gateway;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"http://gw:8080", "http://gw:8080/function/hello"},
      {"http://gw:8080/", "http://gw:8080/function/hello"},
      {"https://fn.example.com/base", "https://fn.example.com/base/function/hello"},
      {"", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.gateway);
    OperatorConfig config;
    config.gateway_url = c.gateway;
    EXPECT_EQ(FunctionUrl(config, "hello"), c.want);
  }
}

}  // namespace
}  // namespace wisp::resources
