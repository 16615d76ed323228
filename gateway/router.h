// HTTP route matching with API Gateway HTTP API semantics. Pure and immutable once built;
// thread-safe to share.
//
// Routes come from functions' HTTP triggers: a path with literal segments, `{param}` segments
// and an optional final greedy `{proxy+}`, for a set of methods (empty = ANY). Every function
// also gets the default routes `ANY /function/{name}` and `ANY /function/{name}/{proxy+}`.
// When several routes match, the most specific wins, comparing segment by segment: a literal
// beats a parameter, which beats a greedy tail; then a route for the exact method beats ANY;
// then explicit routes beat the default ones.
#ifndef WISP_GATEWAY_ROUTER_H_
#define WISP_GATEWAY_ROUTER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gateway/catalog.h"

namespace wisp::gateway {

struct RouteMatch {
  enum class Kind { kMatched, kNotFound, kMethodNotAllowed };
  Kind kind = Kind::kNotFound;
  std::string function;
  std::string route_key;  // "GET /hello/{name}", "ANY /function/{name}/{proxy+}"
  bool async = false;     // the route invokes asynchronously
  std::map<std::string, std::string> path_parameters;
  std::vector<std::string> allowed_methods;  // with kMethodNotAllowed
};

class Router {
 public:
  // Builds the table; conflicting routes (same method and shape for two functions) keep the
  // first function in name order and are listed in `conflicts`.
  static Router Build(const Snapshot& snapshot, std::vector<std::string>* conflicts = nullptr);
  // `path` is the raw path (percent-encoded); parameters come back decoded.
  RouteMatch Match(absl::string_view method, absl::string_view path) const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam, kGreedy };
    Kind kind;
    std::string text;  // literal text or parameter name
  };
  struct Route {
    std::string function;
    std::string path;
    std::vector<Segment> segments;
    std::vector<std::string> methods;  // empty = ANY
    bool is_default = false;
    bool async = false;
  };
  std::vector<Route> routes_;
};

// Percent-decodes a URL component ("%2F" -> "/", "+" kept). Invalid escapes stay as written.
std::string PercentDecode(absl::string_view s);

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_ROUTER_H_
