// Label and field selectors as Kubernetes list and watch requests carry them.
//
// Label selectors: comma-separated requirements `k=v`, `k==v`, `k!=v`, `k in
// (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist), `k>N`, `k<N`.
// Field selectors: comma-separated `path=v`, `path==v`, `path!=v`, where path
// is a dotted path into the object (`metadata.name`, `metadata.namespace`,
// `status.phase`, `spec.nodeName`, ...). Unlike Kubernetes, any path is
// accepted (a missing field compares as "").
//
// Parsed selectors are immutable values, safe to share between threads. Parse
// errors are BadRequest (kerr).
#ifndef WISP_OPERATOR_APISERVER_SELECTORS_H_
#define WISP_OPERATOR_APISERVER_SELECTORS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "operator/apiserver/json_util.h"

namespace wisp::apiserver {

class LabelSelector {
 public:
  enum class Op {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kDoesNotExist,
    kGreater,
    kLess
  };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };

  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);
  // From a metav1.LabelSelector object ({matchLabels, matchExpressions}).
  static absl::StatusOr<LabelSelector> FromJson(const Json& selector);

  bool Empty() const { return requirements_.empty(); }
  // `labels` is metadata.labels (anything not an object counts as no labels).
  bool Matches(const Json& labels) const;
  // The canonical text form (what a Scale's status.selector carries).
  std::string ToString() const;

 private:
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  struct Requirement {
    std::string path;
    bool equals;
    std::string value;
  };

  static absl::StatusOr<FieldSelector> Parse(absl::string_view text);

  bool Empty() const { return requirements_.empty(); }
  bool Matches(const Json& object) const;
  // The value required for `path` by an equality requirement, or "" (used to
  // narrow lookups).
  std::string EqualityValue(absl::string_view path) const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace wisp::apiserver

#endif  // WISP_OPERATOR_APISERVER_SELECTORS_H_
