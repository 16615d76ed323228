// Names, labels and metadata shared by every child object the operator builds for a Function
// (docs/function-resource.md, "What the operator creates"). Pure. Thread-compatible.
#ifndef WISP_CONTROLLER_RESOURCES_META_H_
#define WISP_CONTROLLER_RESOURCES_META_H_

#include <string>

#include "absl/strings/string_view.h"
#include "controller/function.h"
#include "nlohmann/json.hpp"

namespace wisp::resources {

inline constexpr absl::string_view kFunctionLabel = "wisp.dev/function";
inline constexpr absl::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr absl::string_view kManagedBy = "wisp-operator";
// The server-side apply field manager for every child and for status.
inline constexpr absl::string_view kFieldManager = "wisp-operator";

// Deterministic child names.
std::string ConfigConfigMapName(absl::string_view function);  // <name>-config
std::string CodeConfigMapName(absl::string_view function);    // <name>-code
// The Deployment, the Service and the PodDisruptionBudget are named after the Function.

// {wisp.dev/function: <name>, app.kubernetes.io/managed-by: wisp-operator}
nlohmann::json Labels(absl::string_view function);
// {wisp.dev/function: <name>}: what selectors match.
nlohmann::json SelectorLabels(absl::string_view function);
// "wisp.dev/function=<name>": the same as a label selector string (status.selector).
std::string SelectorString(absl::string_view function);

// The owner reference to the Function: controller and blockOwnerDeletion, so that deleting the
// Function deletes its children.
nlohmann::json OwnerReference(const FunctionMeta& function);

// {name, namespace, labels, ownerReferences} for a child called `child_name`.
nlohmann::json ChildMetadata(const FunctionMeta& function, absl::string_view child_name);

}  // namespace wisp::resources

#endif  // WISP_CONTROLLER_RESOURCES_META_H_
