// A subset of Kubernetes' structural-schema handling for custom resources:
// defaulting and validation against a CRD version's openAPIV3Schema.
//
// Defaulting: a property's `default` is set when the property is missing and
// its parent object exists (recursively through properties, items and
// additionalProperties), as Kubernetes does. Validation: type (with nullable,
// x-kubernetes-int-or-string), required, enum, minimum/maximum (and their
// exclusive forms), minLength/maxLength, minItems/maxItems, maxProperties,
// pattern is NOT checked, CEL rules (x-kubernetes-validations) are NOT
// evaluated, unknown fields are NOT pruned. `metadata` is not validated against
// the schema. Pure functions; thread-safe.
#ifndef WISP_OPERATOR_APISERVER_SCHEMA_H_
#define WISP_OPERATOR_APISERVER_SCHEMA_H_

#include <string>
#include <vector>

#include "operator/apiserver/json_util.h"

namespace wisp::apiserver {

void ApplySchemaDefaults(const Json& schema, Json& object);

// Violations in Kubernetes' wording ("spec.memoryMB: Invalid value: 64:
// spec.memoryMB in body should be greater than or equal to 128"); empty when
// the object is valid.
std::vector<std::string> ValidateSchema(const Json& schema, const Json& object);

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_SCHEMA_H_
