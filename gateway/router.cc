#include "gateway/router.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace wisp::gateway {
namespace {

std::vector<absl::string_view> SplitPath(absl::string_view path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  // "/a/b" -> ["", "a", "b"]; a trailing slash ("/a/") leaves an empty last part, kept so
  // that "/a/" and "/a" stay distinct, as in API Gateway.
  if (!parts.empty() && parts.front().empty()) parts.erase(parts.begin());
  return parts;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

Router Router::Build(const Snapshot& snapshot, std::vector<std::string>* conflicts) {
  Router r;
  std::set<std::string> seen;  // "METHOD shape"
  auto add = [&](const std::string& fn, const std::string& path,
                 const std::vector<std::string>& methods, bool is_default, bool async) {
    Route route{fn, path, {}, methods, is_default, async};
    std::string shape;
    for (absl::string_view part : SplitPath(path)) {
      Segment seg;
      if (absl::StartsWith(part, "{") && absl::EndsWith(part, "+}")) {
        seg = {Segment::Kind::kGreedy, std::string(part.substr(1, part.size() - 3))};
        absl::StrAppend(&shape, "/*+");
      } else if (absl::StartsWith(part, "{") && absl::EndsWith(part, "}")) {
        seg = {Segment::Kind::kParam, std::string(part.substr(1, part.size() - 2))};
        absl::StrAppend(&shape, "/*");
      } else {
        seg = {Segment::Kind::kLiteral, std::string(part)};
        absl::StrAppend(&shape, "/", part);
      }
      route.segments.push_back(std::move(seg));
    }
    std::vector<std::string> keys;
    if (methods.empty()) keys.push_back("ANY" + shape);
    for (const auto& m : methods) keys.push_back(m + shape);
    // A route whose method is taken is dropped whole, and reserves none of its other methods.
    for (const auto& k : keys) {
      if (seen.count(k)) {
        if (conflicts) conflicts->push_back(absl::StrCat(fn, ": ", k, " is taken by another function"));
        return;
      }
    }
    seen.insert(keys.begin(), keys.end());
    r.routes_.push_back(std::move(route));
  };
  for (const auto& [name, fn] : snapshot.functions) {
    for (const HttpRoute& route : fn.routes) add(name, route.path, route.methods, false, route.async);
  }
  for (const auto& [name, fn] : snapshot.functions) {
    add(name, absl::StrCat("/function/", name), {}, true, false);
    add(name, absl::StrCat("/function/", name, "/{proxy+}"), {}, true, false);
  }
  return r;
}

RouteMatch Router::Match(absl::string_view method, absl::string_view path) const {
  std::vector<absl::string_view> parts = SplitPath(path);
  const Route* best = nullptr;
  std::vector<int> best_score;
  std::map<std::string, std::string> best_params;
  std::set<std::string> allowed;
  bool path_matched = false;
  for (const Route& route : routes_) {
    std::vector<int> score;  // per segment: 3 literal, 2 param, 1 greedy
    std::map<std::string, std::string> params;
    bool ok = true;
    size_t i = 0;
    for (size_t s = 0; s < route.segments.size() && ok; ++s) {
      const Segment& seg = route.segments[s];
      if (seg.kind == Segment::Kind::kGreedy) {
        if (i >= parts.size() || (i == parts.size() - 1 && parts[i].empty())) {
          ok = false;  // {proxy+} needs at least one non-empty segment
          break;
        }
        std::vector<absl::string_view> rest(parts.begin() + i, parts.end());
        params[seg.text] = PercentDecode(absl::StrJoin(rest, "/"));
        score.push_back(1);
        i = parts.size();
        break;
      }
      if (i >= parts.size()) {
        ok = false;
        break;
      }
      if (seg.kind == Segment::Kind::kLiteral) {
        ok = parts[i] == seg.text;
        score.push_back(3);
      } else {
        ok = !parts[i].empty();
        if (ok) params[seg.text] = PercentDecode(parts[i]);
        score.push_back(2);
      }
      ++i;
    }
    if (!ok || i != parts.size()) continue;
    path_matched = true;
    bool exact_method = std::find(route.methods.begin(), route.methods.end(), method) != route.methods.end();
    if (!route.methods.empty() && !exact_method) {
      for (const auto& m : route.methods) allowed.insert(m);
      continue;
    }
    score.push_back(exact_method ? 1 : 0);
    score.push_back(route.is_default ? 0 : 1);
    if (best == nullptr || score > best_score) {
      best = &route;
      best_score = std::move(score);
      best_params = std::move(params);
    }
  }
  RouteMatch m;
  if (best == nullptr) {
    if (path_matched) {
      m.kind = RouteMatch::Kind::kMethodNotAllowed;
      m.allowed_methods.assign(allowed.begin(), allowed.end());
    }
    return m;
  }
  m.kind = RouteMatch::Kind::kMatched;
  m.function = best->function;
  m.async = best->async;
  std::string key_method = best->methods.empty() ? "ANY" : std::string(method);
  m.route_key = absl::StrCat(key_method, " ", best->path);
  m.path_parameters = std::move(best_params);
  return m;
}

}  // namespace wisp::gateway
