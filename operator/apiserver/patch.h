// The patch formats the Kubernetes API accepts, as pure functions over JSON
// values.
//
//  - MergePatch: RFC 7386 JSON merge patch (`application/merge-patch+json`).
//  - StrategicMergePatch: a documented subset of Kubernetes' strategic merge
//  patch
//    (`application/strategic-merge-patch+json`): maps merge recursively and
//    null deletes, as in a merge patch; lists of objects merge by key for the
//    fields below, all other lists replace.
//        containers, initContainers, ephemeralContainers, volumes, env,
//        imagePullSecrets -> name volumeMounts -> mountPath   volumeDevices ->
//        devicePath   conditions -> type ownerReferences -> uid
//        topologySpreadConstraints -> topologyKey   hostAliases -> ip ports ->
//        containerPort when the elements have one (container ports), else port
//        finalizers -> merged as a set of strings
//    Directives honoured: `$patch: replace|delete` (maps and list elements),
//    `$retainKeys`,
//    `$deleteFromPrimitiveList/<field>`; `$setElementOrder/<field>` is accepted
//    and ignored (new elements are appended).
//  - JsonPatch: RFC 6902 (`application/json-patch+json`): add, remove, replace,
//  move, copy, test.
//  - ServerSideApply: `application/apply-patch+yaml`, simplified: the applied
//  object is merged
//    into the live one (maps merge, lists and scalars are replaced as a whole),
//    fields that the same field manager applied last time and no longer applies
//    are removed, and the manager's `metadata.managedFields` entry (operation
//    Apply, fieldsV1) is recorded. No conflicts are detected between managers:
//    every apply behaves as if `force=true`.
//
// All functions are pure and thread-safe. Errors: BadRequest for a malformed
// patch document, Invalid for a well-formed patch that cannot be applied
// (missing path, failed `test`).
#ifndef WISP_OPERATOR_APISERVER_PATCH_H_
#define WISP_OPERATOR_APISERVER_PATCH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"

namespace wisp::apiserver {

Json MergePatch(const Json& target, const Json& patch);

absl::StatusOr<Json> StrategicMergePatch(const Json& target, const Json& patch);

absl::StatusOr<Json> JsonPatch(const Json& target, const Json& patch);

// The fieldsV1 set of the fields present in `applied`
// ({"f:spec":{"f:replicas":{}}}); lists are atomic. Identity fields
// (apiVersion, kind, metadata name/namespace/uid/resourceVersion/...) are left
// out.
Json FieldSet(const Json& applied);

// Server-side apply of `applied` by `manager`. `live` is the current object or
// null when it does not exist yet. `subresource` is "" or "status". Returns the
// object to write, with its managedFields entry for the manager set to
// `api_version`, `timestamp` and FieldSet(applied).
Json ServerSideApply(const Json& live, const Json& applied,
                     absl::string_view manager, absl::string_view api_version,
                     absl::string_view timestamp,
                     absl::string_view subresource);

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_PATCH_H_
