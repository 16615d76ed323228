#include "controller/resources/deployment.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controller/base/status_macros.h"
#include "controller/resources/config_map.h"
#include "controller/resources/meta.h"

namespace wisp::resources {
namespace {

using json = nlohmann::json;

// ConfigMap files are readable and executable by everyone: the pod runs as a uid that owns none
// of them, and `provided` needs its bootstrap to be executable.
constexpr int kCodeFileMode = 0555;

// FNV-1a, 64 bits. Each part is followed by a NUL so that ("ab", "c") and ("a", "bc") differ.
class Fnv1a {
 public:
  void Add(absl::string_view s) {
    for (unsigned char c : s) Byte(c);
    Byte(0);
  }
  std::string Hex() const { return absl::StrFormat("%016x", hash_); }

 private:
  void Byte(unsigned char c) {
    hash_ ^= c;
    hash_ *= 0x100000001b3ULL;
  }
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

std::string Mi(int64_t mib) { return absl::StrCat(mib, "Mi"); }

json ContainerSecurityContext() {
  return json{{"runAsNonRoot", true},
              {"runAsUser", kRunAsUser},
              {"runAsGroup", kRunAsUser},
              {"readOnlyRootFilesystem", true},
              {"allowPrivilegeEscalation", false},
              {"capabilities", {{"drop", json::array({"ALL"})}}},
              {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

// An init container that copies `from` (a folder of `image`) into the volume `volume`.
json CopyContainer(const std::string& name, const std::string& image, absl::string_view from,
                   const std::string& volume, const json& resources) {
  const std::string mount = absl::StrCat("/", volume);
  return json{{"name", name},
              {"image", image},
              {"command", json::array({"cp", "-a", absl::StrCat(from, "/."), mount + "/"})},
              {"volumeMounts", json::array({{{"name", volume}, {"mountPath", mount}}})},
              {"resources", resources},
              {"securityContext", ContainerSecurityContext()}};
}

json ConfigMapVolume(const std::string& name, const std::string& config_map, int mode) {
  return json{{"name", name}, {"configMap", {{"name", config_map}, {"defaultMode", mode}}}};
}

json Mount(const std::string& name, absl::string_view path, bool read_only) {
  return json{{"name", name}, {"mountPath", std::string(path)}, {"readOnly", read_only}};
}

}  // namespace

int32_t DesiredReplicas(const FunctionSpec& spec) {
  const int64_t min_scale = spec.scaling.min_scale.value_or(kDefaultMinScale);
  const int64_t max_scale = std::max(spec.scaling.max_scale.value_or(kDefaultMaxScale), min_scale);
  const int64_t wanted = spec.replicas.value_or(std::max<int64_t>(min_scale, 1));
  return static_cast<int32_t>(std::clamp<int64_t>(std::clamp(wanted, min_scale, max_scale), 0,
                                                  std::numeric_limits<int32_t>::max()));
}

WorkerResources ResourcesFor(const FunctionSpec& spec) {
  const int64_t memory = spec.memory_mb.value_or(kDefaultMemoryMB) *
                         spec.concurrency.per_instance.value_or(kDefaultPerInstance);
  WorkerResources r;
  r.memory_mib = memory + kWorkerOverheadMiB;
  r.cpu_millis = std::max(kMinCpuMillis, (memory * 1000 + kMiBPerVcpu - 1) / kMiBPerVcpu);
  return r;
}

absl::StatusOr<std::string> ConfigHash(const Function& function) {
  ASSIGN_OR_RETURN(std::string config_file, WorkerConfigFile(function));
  Function f = ApplyDefaults(function);
  Fnv1a h;
  h.Add(config_file);
  h.Add(f.spec.code.file_name.value_or(""));
  h.Add(f.spec.code.inline_source.value_or(""));
  return h.Hex();
}

absl::StatusOr<json> MakeDeployment(const Function& function, const OperatorConfig& config,
                                    int32_t replicas) {
  ASSIGN_OR_RETURN(std::string hash, ConfigHash(function));  // Validates the Function.
  const Function f = ApplyDefaults(function);
  const FunctionSpec& spec = f.spec;
  const std::string& name = f.metadata.name;
  ASSIGN_OR_RETURN(std::string worker_image, WorkerImage(config, *spec.runtime));
  const int64_t per_instance = *spec.concurrency.per_instance;

  const WorkerResources wr = ResourcesFor(spec);
  const json quantities = {{"cpu", absl::StrCat(wr.cpu_millis, "m")},
                           {"memory", Mi(wr.memory_mib)}};
  const json resources = {{"requests", quantities}, {"limits", quantities}};

  json volumes = json::array();
  json mounts = json::array();
  json init_containers = json::array();

  volumes.push_back(ConfigMapVolume("config", ConfigConfigMapName(name), 0444));
  mounts.push_back(Mount("config", kConfigMountPath, true));

  if (spec.code.inline_source) {
    volumes.push_back(ConfigMapVolume("code", CodeConfigMapName(name), kCodeFileMode));
  } else if (spec.code.config_map_name) {
    volumes.push_back(ConfigMapVolume("code", *spec.code.config_map_name, kCodeFileMode));
  } else {
    volumes.push_back(json{{"name", "code"}, {"emptyDir", json::object()}});
    init_containers.push_back(CopyContainer("code", *spec.image, kCodePath, "code", resources));
  }
  mounts.push_back(Mount("code", kCodePath, true));

  volumes.push_back(
      json{{"name", "tmp"},
           {"emptyDir", {{"sizeLimit", Mi(*spec.ephemeral_storage_mb * per_instance)}}}});
  mounts.push_back(Mount("tmp", "/tmp", false));

  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& layer = spec.layers[i];
    const std::string volume = absl::StrCat("layer-", i);
    if (layer.config_map_name) {
      volumes.push_back(ConfigMapVolume(volume, *layer.config_map_name, kCodeFileMode));
    } else {
      volumes.push_back(json{{"name", volume}, {"emptyDir", json::object()}});
      init_containers.push_back(CopyContainer(volume, *layer.image, "/opt", volume, resources));
    }
    mounts.push_back(Mount(volume, absl::StrCat("/opt/", i), true));
  }

  json worker = {
      {"name", std::string(kWorkerContainerName)},
      {"image", worker_image},
      {"args", json::array({absl::StrCat("--config=", kConfigMountPath, "/", kConfigFileKey),
                            absl::StrCat("--concurrency=", per_instance),
                            absl::StrCat("--port=", kWorkerGrpcPort),
                            absl::StrCat("--admin_port=", kWorkerMetricsPort),
                            absl::StrCat("--work_dir=", kWorkDir)})},
      {"ports",
       json::array(
           {{{"name", "grpc"}, {"containerPort", kWorkerGrpcPort}, {"protocol", "TCP"}},
            {{"name", "metrics"}, {"containerPort", kWorkerMetricsPort}, {"protocol", "TCP"}}})},
      {"readinessProbe",
       {{"grpc", {{"port", kWorkerGrpcPort}}}, {"periodSeconds", 1}, {"failureThreshold", 3}}},
      {"livenessProbe",
       {{"httpGet", {{"path", "/healthz"}, {"port", kWorkerMetricsPort}}},
        {"periodSeconds", 10},
        {"failureThreshold", 3}}},
      {"resources", resources},
      {"securityContext", ContainerSecurityContext()},
      {"volumeMounts", mounts}};

  json pod_spec = {{"securityContext",
                    {{"runAsNonRoot", true},
                     {"runAsUser", kRunAsUser},
                     {"runAsGroup", kRunAsUser},
                     {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
                   {"automountServiceAccountToken", spec.service_account_name.has_value()},
                   {"enableServiceLinks", false},
                   {"terminationGracePeriodSeconds", *spec.timeout_seconds + 10},
                   {"containers", json::array({worker})},
                   {"volumes", volumes},
                   {"topologySpreadConstraints",
                    json::array({{{"maxSkew", 1},
                                  {"topologyKey", "kubernetes.io/hostname"},
                                  {"whenUnsatisfiable", "ScheduleAnyway"},
                                  {"labelSelector", {{"matchLabels", SelectorLabels(name)}}}}})}};
  if (!config.worker_image_pull_policy.empty()) {
    pod_spec["containers"][0]["imagePullPolicy"] = config.worker_image_pull_policy;
  }
  if (spec.service_account_name) pod_spec["serviceAccountName"] = *spec.service_account_name;
  if (!init_containers.empty()) pod_spec["initContainers"] = init_containers;

  return json{{"apiVersion", "apps/v1"},
              {"kind", "Deployment"},
              {"metadata", ChildMetadata(f.metadata, name)},
              {"spec",
               {{"replicas", replicas},
                {"selector", {{"matchLabels", SelectorLabels(name)}}},
                {"template",
                 {{"metadata",
                   {{"labels", Labels(name)},
                    {"annotations", {{std::string(kConfigHashAnnotation), hash}}}}},
                  {"spec", pod_spec}}}}}};
}

}  // namespace wisp::resources
