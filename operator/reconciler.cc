#include "operator/reconciler.h"

#include "absl/strings/str_cat.h"
#include "controller/base/log.h"
#include "controller/base/request_id.h"
#include "controller/function.h"
#include "controller/resources/config_map.h"
#include "controller/resources/deployment.h"
#include "controller/resources/service.h"
#include "controller/status.h"

namespace wisp::op {
namespace {

using nlohmann::json;

std::string ConditionStatus(const json& status, absl::string_view type) {
  if (!status.is_object() || !status.contains("conditions")) return "";
  for (const json& c : status["conditions"]) {
    if (c.value("type", "") == type) return c.value("status", "");
  }
  return "";
}

std::string ConditionMessage(const json& status, absl::string_view type) {
  if (!status.is_object() || !status.contains("conditions")) return "";
  for (const json& c : status["conditions"]) {
    if (c.value("type", "") == type) return c.value("message", "");
  }
  return "";
}

}  // namespace

EventRecorder::EventRecorder(kube::KubeClient* client, std::string component)
    : client_(client), component_(std::move(component)) {}

void EventRecorder::Record(const json& function, const std::string& type, const std::string& reason,
                           const std::string& message) {
  const json& meta = function["metadata"];
  std::string ns = meta.value("namespace", "default");
  std::string now = FormatKubernetesTime(absl::Now());
  json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", absl::StrCat(meta.value("name", "fn"), ".", NewRequestId().substr(0, 8))},
                    {"namespace", ns}}},
      {"involvedObject", {{"apiVersion", "wisp.dev/v1alpha1"}, {"kind", "Function"},
                          {"name", meta.value("name", "")}, {"namespace", ns},
                          {"uid", meta.value("uid", "")},
                          {"resourceVersion", meta.value("resourceVersion", "")}}},
      {"type", type},
      {"reason", reason},
      {"message", message},
      {"source", {{"component", component_}}},
      {"reportingComponent", component_},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"count", 1}};
  auto created = client_->Create(kube::resources::Events(), ns, event);
  if (!created.ok()) {
    log::Warn("cannot record event", {{"reason", reason}, {"error", std::string(created.status().message())}});
  }
}

Reconciler::Reconciler(kube::KubeClient* client, InformerSet* functions, InformerSet* deployments,
                       OperatorConfig config, EventRecorder* events, std::function<absl::Time()> now)
    : client_(client), functions_(functions), deployments_(deployments), config_(std::move(config)),
      events_(events), now_(std::move(now)) {}

absl::Status Reconciler::Reconcile(const std::string& key) {
  std::optional<json> object = functions_->Get(key);
  if (!object.has_value()) return absl::OkStatus();  // deleted: children go with it
  if ((*object)["metadata"].contains("deletionTimestamp")) return absl::OkStatus();
  ParsedFunction parsed = LoadFunction(*object);
  const Function& fn = parsed.function;
  const std::string& ns = fn.metadata.namespace_name;
  const std::string& name = fn.metadata.name;
  std::optional<json> deployment = deployments_->Get(key);
  absl::Status apply_error = absl::OkStatus();

  if (parsed.violations.empty()) {
    auto apply = [&](const kube::Resource& r, const absl::StatusOr<json>& built) -> absl::StatusOr<json> {
      if (!built.ok()) return built.status();
      const json& obj = *built;
      return client_->Apply(r, ns, obj["metadata"].value("name", name), obj, kFieldManager, true);
    };
    std::vector<absl::Status> errors;
    if (auto s = apply(kube::resources::ConfigMaps(), resources::MakeConfigConfigMap(fn)); !s.ok()) {
      errors.push_back(s.status());
    }
    absl::StatusOr<std::optional<json>> code = resources::MakeCodeConfigMap(fn);
    if (!code.ok()) {
      errors.push_back(code.status());
    } else if (code->has_value()) {
      if (auto s = apply(kube::resources::ConfigMaps(), **code); !s.ok()) errors.push_back(s.status());
    }
    absl::StatusOr<json> applied = apply(
        kube::resources::Deployments(),
        resources::MakeDeployment(fn, config_, resources::DesiredReplicas(fn.spec)));
    if (applied.ok()) {
      deployment = *applied;
    } else {
      errors.push_back(applied.status());
    }
    if (auto s = apply(kube::resources::Services(), resources::MakeService(fn)); !s.ok()) {
      errors.push_back(s.status());
    }
    if (std::optional<json> pdb = resources::MakePodDisruptionBudget(fn); pdb.has_value()) {
      if (auto s = apply(kube::resources::PodDisruptionBudgets(), *pdb); !s.ok()) errors.push_back(s.status());
    } else {
      absl::Status s = client_->Delete(kube::resources::PodDisruptionBudgets(), ns, name);
      if (!s.ok() && !absl::IsNotFound(s)) errors.push_back(s);
    }
    if (!errors.empty()) {
      apply_error = errors.front();
      events_->Record(*object, "Warning", "ApplyFailed", std::string(apply_error.message()));
    }
  }

  const json previous = object->contains("status") ? (*object)["status"] : json::object();
  json status = ComputeStatus(fn.metadata, parsed.violations, deployment, previous, config_, now_());
  if (status != previous) {
    absl::StatusOr<json> patched = client_->MergePatch(kube::resources::Functions(), ns, name,
                                                       json{{"status", status}}, "status");
    if (!patched.ok() && !absl::IsNotFound(patched.status())) return patched.status();
    std::string was_ready = ConditionStatus(previous, kConditionReady);
    std::string ready = ConditionStatus(status, kConditionReady);
    std::string was_valid = ConditionStatus(previous, kConditionConfigValid);
    std::string valid = ConditionStatus(status, kConditionConfigValid);
    if (valid == "False" && was_valid != "False") {
      events_->Record(*object, "Warning", "InvalidSpec", ConditionMessage(status, kConditionConfigValid));
    }
    if (ready == "True" && was_ready != "True") {
      events_->Record(*object, "Normal", "Ready", "The function is ready");
    }
  }
  return apply_error;
}

}  // namespace wisp::op
