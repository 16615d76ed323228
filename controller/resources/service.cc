#include "controller/resources/service.h"

#include "controller/resources/deployment.h"
#include "controller/resources/meta.h"

namespace wisp::resources {

using json = nlohmann::json;

json MakeService(const Function& function) {
  const std::string& name = function.metadata.name;
  return json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", ChildMetadata(function.metadata, name)},
              {"spec",
               {{"clusterIP", "None"},
                {"selector", SelectorLabels(name)},
                {"ports", json::array({{{"name", "grpc"},
                                        {"port", kWorkerGrpcPort},
                                        {"targetPort", "grpc"},
                                        {"protocol", "TCP"}},
                                       {{"name", "metrics"},
                                        {"port", kWorkerMetricsPort},
                                        {"targetPort", "metrics"},
                                        {"protocol", "TCP"}}})}}}};
}

std::optional<json> MakePodDisruptionBudget(const Function& function) {
  if (function.spec.scaling.min_scale.value_or(kDefaultMinScale) < 2) return std::nullopt;
  const std::string& name = function.metadata.name;
  return json{
      {"apiVersion", "policy/v1"},
      {"kind", "PodDisruptionBudget"},
      {"metadata", ChildMetadata(function.metadata, name)},
      {"spec", {{"maxUnavailable", 1}, {"selector", {{"matchLabels", SelectorLabels(name)}}}}}};
}

}  // namespace wisp::resources
