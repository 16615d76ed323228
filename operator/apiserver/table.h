// Pieces of `kubectl get` output computed by the server: the simple JSONPath
// expressions of CRD printer columns, Kubernetes' human-readable ages, and
// meta.k8s.io/v1 Table rows.
//
// JSONPath subset: `.a.b`, `['a.b']`, `[N]`, `[*]`, `.*` and filters
// `[?(@.path == "x")]` / `!=` / bare `[?(@.path)]`, optionally wrapped in `{}`
// and led by `$`. Pure functions; thread-safe.
#ifndef WISP_OPERATOR_APISERVER_TABLE_H_
#define WISP_OPERATOR_APISERVER_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"

namespace wisp::apiserver {

// All values `path` selects in `root` (empty when none). Errors: BadRequest for
// syntax.
absl::StatusOr<std::vector<Json>> EvalJsonPath(absl::string_view path,
                                               const Json& root);

// Kubernetes' duration.HumanDuration: "45s", "3m20s", "5h", "12d", "2y30d".
std::string HumanDuration(int64_t seconds);

struct PrinterColumn {
  std::string name;
  std::string type;  // string | integer | number | boolean | date
  std::string format;
  std::string description;
  std::string json_path;
  int priority = 0;
};

// The Table column definitions: Name, then `columns`.
Json TableColumnDefinitions(const std::vector<PrinterColumn>& columns);
// One row's cells: the object's name, then each column's value converted as
// Kubernetes' CRD table convertor does (date -> age relative to `now_unix`,
// missing -> null).
Json TableCells(const std::vector<PrinterColumn>& columns, const Json& object,
                int64_t now_unix);

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_TABLE_H_
