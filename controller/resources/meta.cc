#include "controller/resources/meta.h"

#include "absl/strings/str_cat.h"

namespace wisp::resources {

using json = nlohmann::json;

std::string ConfigConfigMapName(absl::string_view function) {
  return absl::StrCat(function, "-config");
}

std::string CodeConfigMapName(absl::string_view function) {
  return absl::StrCat(function, "-code");
}

json Labels(absl::string_view function) {
  return json{{std::string(kFunctionLabel), std::string(function)},
              {std::string(kManagedByLabel), std::string(kManagedBy)}};
}

json SelectorLabels(absl::string_view function) {
  return json{{std::string(kFunctionLabel), std::string(function)}};
}

std::string SelectorString(absl::string_view function) {
  return absl::StrCat(kFunctionLabel, "=", function);
}

json OwnerReference(const FunctionMeta& function) {
  // absl::string_view is not std::string_view here: nlohmann would make it a list of chars.
  return json{{"apiVersion", std::string(kFunctionApiVersion)},
              {"kind", std::string(kFunctionKind)},
              {"name", function.name},
              {"uid", function.uid},
              {"controller", true},
              {"blockOwnerDeletion", true}};
}

json ChildMetadata(const FunctionMeta& function, absl::string_view child_name) {
  return json{{"name", std::string(child_name)},
              {"namespace", function.namespace_name},
              {"labels", Labels(function.name)},
              {"ownerReferences", json::array({OwnerReference(function)})}};
}

}  // namespace wisp::resources
