#include "controller/status.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "controller/resources/meta.h"

namespace wisp {
namespace {

using json = nlohmann::json;

struct Condition {
  std::string type;
  bool status = false;
  std::string reason;
  std::string message;
};

// An integer at obj[key] (any JSON may arrive here: be forgiving), or `fallback`.
int64_t IntAt(const json& obj, absl::string_view key, int64_t fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || !it->is_number_integer()) return fallback;
  return it->get<int64_t>();
}

// A string at obj[key], or "" (also for a value of another type: never throw).
std::string StringAt(const json& obj, absl::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(std::string(key));
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& ObjectAt(const json& obj, absl::string_view key) {
  static const json* const kEmpty = new json(json::object());
  if (!obj.is_object()) return *kEmpty;
  auto it = obj.find(std::string(key));
  return it != obj.end() && it->is_object() ? *it : *kEmpty;
}

// The condition of `type` in a conditions list, or nullptr.
const json* FindCondition(const json& status, absl::string_view type) {
  if (!status.is_object()) return nullptr;
  auto it = status.find("conditions");
  if (it == status.end() || !it->is_array()) return nullptr;
  for (const json& c : *it) {
    if (c.is_object() && StringAt(c, "type") == type) return &c;
  }
  return nullptr;
}

Condition WorkloadCondition(const std::string& name, bool valid,
                            const std::optional<json>& deployment) {
  Condition c{std::string(kConditionWorkloadReady)};
  if (!deployment) {
    if (valid) {
      c.reason = "Progressing";
      c.message = absl::StrCat("waiting for Deployment ", name, " to be created");
    } else {
      c.reason = "InvalidSpec";
      c.message = "no workload is created for an invalid Function";
    }
    return c;
  }
  const json& meta = ObjectAt(*deployment, "metadata");
  const json& spec = ObjectAt(*deployment, "spec");
  const json& status = ObjectAt(*deployment, "status");
  const int64_t generation = IntAt(meta, "generation", 0);
  const int64_t observed = IntAt(status, "observedGeneration", 0);
  const int64_t desired = IntAt(spec, "replicas", 1);  // The API server's default.
  const int64_t ready = IntAt(status, "readyReplicas", 0);
  if (observed < generation) {
    c.reason = "Progressing";
    c.message = absl::StrCat("Deployment ", name, " has not yet observed generation ", generation);
    return c;
  }
  if (desired == 0) {
    c.status = true;
    c.reason = "ScaledToZero";
    c.message = "scaled to zero; the next request starts a replica";
    return c;
  }
  if (ready >= 1) {
    c.status = true;
    c.reason = "ReplicasReady";
    c.message = absl::StrCat(ready, " of ", desired, " replicas ready");
    return c;
  }
  const json* progressing = FindCondition(status, "Progressing");
  const bool rolling = progressing != nullptr && StringAt(*progressing, "status") == "True" &&
                       StringAt(*progressing, "reason") != "NewReplicaSetAvailable";
  c.reason = rolling ? "Progressing" : "Unavailable";
  c.message = absl::StrCat("0 of ", desired, " replicas ready");
  if (progressing != nullptr && !rolling) {
    std::string why = StringAt(*progressing, "message");
    if (!why.empty()) absl::StrAppend(&c.message, ": ", why);
  }
  return c;
}

// metav1.Condition's message holds at most 32768 bytes. Cut on a UTF-8 boundary, so that the
// result stays valid UTF-8 (nlohmann refuses to serialize anything else).
std::string CapMessage(std::string message) {
  constexpr size_t kMaxMessageBytes = 32768;
  constexpr absl::string_view kEllipsis = "…";
  if (message.size() <= kMaxMessageBytes) return message;
  size_t cut = kMaxMessageBytes - kEllipsis.size();
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  message.resize(cut);
  absl::StrAppend(&message, kEllipsis);
  return message;
}

json ConditionJson(const Condition& c, int64_t generation, const json& previous_status,
                   absl::Time now) {
  const std::string status = c.status ? "True" : "False";
  std::string transition = FormatKubernetesTime(now);
  if (const json* prev = FindCondition(previous_status, c.type);
      prev != nullptr && StringAt(*prev, "status") == status) {
    auto t = prev->find("lastTransitionTime");
    if (t != prev->end() && t->is_string()) transition = t->get<std::string>();
  }
  return json{{"type", c.type},
              {"status", status},
              {"observedGeneration", generation},
              {"lastTransitionTime", transition},
              {"reason", c.reason},
              {"message", CapMessage(c.message)}};
}

}  // namespace

std::string FormatKubernetesTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

json ComputeStatus(const FunctionMeta& function, const std::vector<Violation>& violations,
                   const std::optional<json>& deployment, const json& previous_status,
                   const OperatorConfig& config, absl::Time now) {
  const bool valid = violations.empty();
  Condition config_valid{std::string(kConditionConfigValid), valid, valid ? "Valid" : "InvalidSpec",
                         valid ? "" : JoinViolations(violations)};
  Condition workload = WorkloadCondition(function.name, valid, deployment);
  Condition ready{std::string(kConditionReady), valid && workload.status};
  if (ready.status) {
    ready.reason = "Ready";
  } else if (!valid) {
    ready.reason = "InvalidSpec";
    ready.message = config_valid.message;
  } else {
    ready.reason = workload.reason;
    ready.message = workload.message;
  }

  json conditions = json::array();
  for (const Condition* c : {&config_valid, &workload, &ready}) {
    conditions.push_back(ConditionJson(*c, function.generation, previous_status, now));
  }
  if (previous_status.is_object()) {
    auto it = previous_status.find("conditions");
    if (it != previous_status.end() && it->is_array()) {
      for (const json& c : *it) {
        if (!c.is_object()) continue;
        std::string type = StringAt(c, "type");
        if (type != kConditionConfigValid && type != kConditionWorkloadReady &&
            type != kConditionReady) {
          conditions.push_back(c);
        }
      }
    }
  }

  const json none = json::object();
  const json& deployment_status = deployment ? ObjectAt(*deployment, "status") : none;
  json status = {{"observedGeneration", function.generation},
                 {"conditions", conditions},
                 {"replicas", IntAt(deployment_status, "replicas", 0)},
                 {"readyReplicas", IntAt(deployment_status, "readyReplicas", 0)},
                 {"selector", resources::SelectorString(function.name)}};
  if (std::string url = FunctionUrl(config, function.name); !url.empty()) status["url"] = url;
  if (previous_status.is_object()) {
    auto it = previous_status.find("lastScaleTime");
    if (it != previous_status.end() && !it->is_null()) status["lastScaleTime"] = *it;
  }
  return status;
}

}  // namespace wisp
