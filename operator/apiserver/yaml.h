// YAML request bodies (`application/yaml`, `application/apply-patch+yaml`) as
// JSON values. Plain scalars resolve by YAML 1.2's core schema (null, booleans,
// integers, floats); quoted scalars stay strings. Only the first document of a
// stream is read. Pure; thread-safe. Errors: BadRequest for invalid YAML,
// nesting deeper than kMaxJsonDepth, or (`want_object`) a document that is not
// a mapping.
#ifndef WISP_OPERATOR_APISERVER_YAML_H_
#define WISP_OPERATOR_APISERVER_YAML_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"

namespace wisp::apiserver {

absl::StatusOr<Json> ParseYaml(absl::string_view text, bool want_object = true);

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_YAML_H_
