#include "operator/cli/kube_commands.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "operator/cli/args.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"

namespace wisp::cli {
namespace {

using nlohmann::json;

constexpr char kDefaultServer[] = "http://127.0.0.1:6443";
constexpr char kFieldManager[] = "wisp-cli";

constexpr char kApplyUsage[] =
    R"(usage: wisp apply -f FILE [--server URL] [-n NAMESPACE] [--force-conflicts]

Server-side applies every document of FILE (YAML or JSON, "-" for stdin; field manager wisp-cli).
Kinds: Function, CustomResourceDefinition, ConfigMap, Namespace.
  --server URL   the API server (default http://127.0.0.1:6443, `wisp up`'s)
  -n NAMESPACE   for objects without metadata.namespace (default "default")
)";
constexpr char kGetUsage[] =
    R"(usage: wisp get [NAME] [--server URL] [-n NAMESPACE | -A] [-o json]

Lists Functions as a table: NAME READY REPLICAS URL AGE.
)";
constexpr char kDeleteUsage[] =
    R"(usage: wisp delete NAME... [--server URL] [-n NAMESPACE]

Deletes Functions (their workers stop).
)";

struct CommonFlags {
  std::string server = kDefaultServer;
  std::string ns = "default";
  bool all_namespaces = false;
  std::string file;
  std::string output;
  bool force = false;
  std::vector<std::string> positional;
};

// Parses the flags shared by the three commands; returns a problem or "".
std::string ParseFlags(const std::vector<std::string>& args, CommonFlags& f, bool& help) {
  ArgReader r(args);
  while (r.Next()) {
    const std::string& a = r.arg();
    if (a == "-h" || a == "--help") {
      help = true;
    } else if (r.Is({"--server", "-s"})) {
      if (!r.Value(&f.server)) return "--server needs a URL";
    } else if (r.Is({"--namespace", "-n"})) {
      if (!r.Value(&f.ns)) return "--namespace needs a value";
    } else if (a == "-A" || a == "--all-namespaces") {
      f.all_namespaces = true;
    } else if (r.Is({"--filename", "-f"})) {
      if (!r.Value(&f.file)) return "-f needs a file";
    } else if (r.Is({"--output", "-o"})) {
      if (!r.Value(&f.output)) return "-o needs a format";
    } else if (a == "--force-conflicts") {
      f.force = true;
    } else if (absl::StartsWith(a, "-") && a != "-") {
      return absl::StrCat("unknown option ", a);
    } else {
      f.positional.push_back(a);
    }
  }
  return "";
}

int Usage(const char* command, const char* usage, const std::string& problem) {
  std::cerr << "wisp " << command << ": " << problem << "\n" << usage;
  return 2;
}

int ApiError(const char* command, const absl::Status& status, const std::string& server) {
  std::cerr << "wisp " << command << ": " << status.message();
  if (status.code() == absl::StatusCode::kUnavailable) {
    std::cerr << " (is `wisp up` running? the API server is " << server << ")";
  }
  std::cerr << "\n";
  return 1;
}

json ScalarToJson(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, kInt)) {
    int64_t v;
    if (absl::SimpleAtoi(s, &v)) return v;
  }
  if (std::regex_match(s, kFloat)) {
    double d;
    if (absl::SimpleAtod(s, &d)) return d;
  }
  return s;
}

absl::StatusOr<json> NodeToJson(const YAML::Node& node, int depth) {
  if (depth > 100) return absl::InvalidArgumentError("YAML nested too deeply");
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const YAML::Node& item : node) {
        auto v = NodeToJson(item, depth + 1);
        if (!v.ok()) return v.status();
        out.push_back(*std::move(v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return absl::InvalidArgumentError("YAML map keys must be scalars");
        auto v = NodeToJson(kv.second, depth + 1);
        if (!v.ok()) return v.status();
        out[kv.first.Scalar()] = *std::move(v);
      }
      return out;
    }
  }
  return json(nullptr);
}

// The API resource of an object, from apiVersion and kind.
absl::StatusOr<kube::Resource> ResourceOf(const json& obj) {
  std::string api_version = obj.value("apiVersion", "");
  std::string kind = obj.value("kind", "");
  if (kind == "Function" && absl::StartsWith(api_version, "wisp.dev/")) {
    kube::Resource r = kube::resources::Functions();
    r.version = api_version.substr(std::string("wisp.dev/").size());
    return r;
  }
  if (kind == "CustomResourceDefinition") {
    return kube::Resource{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                          "CustomResourceDefinition", false};
  }
  if (kind == "ConfigMap") return kube::resources::ConfigMaps();
  if (kind == "Namespace") return kube::Resource{"", "v1", "namespaces", "Namespace", false};
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported kind \"", kind, "\" (apiVersion \"", api_version,
                   "\"): wisp apply handles Function, CustomResourceDefinition, ConfigMap, "
                   "Namespace; use kubectl for others"));
}

std::string LowerKindGroup(const kube::Resource& r) {
  std::string kind = r.kind;
  std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
  return r.group.empty() ? kind : absl::StrCat(kind, ".", r.group);
}

std::string Age(const std::string& timestamp) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, timestamp, &t, &err)) return "<unknown>";
  int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(absl::Now() - t));
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m");
  if (s < 48 * 3600) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

std::string ReadyOf(const json& fn) {
  const json* conditions = nullptr;
  if (fn.contains("status") && fn["status"].is_object() && fn["status"].contains("conditions")) {
    conditions = &fn["status"]["conditions"];
  }
  if (conditions != nullptr && conditions->is_array()) {
    for (const json& c : *conditions) {
      if (c.value("type", "") == "Ready") return c.value("status", "Unknown");
    }
  }
  return "Unknown";
}

}  // namespace

absl::StatusOr<std::vector<json>> YamlDocumentsToJson(absl::string_view text) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("invalid YAML: ", e.what()));
  }
  std::vector<json> out;
  for (const YAML::Node& doc : docs) {
    if (doc.IsNull() || !doc.IsDefined()) continue;
    auto j = NodeToJson(doc, 0);
    if (!j.ok()) return j.status();
    if (j->is_null()) continue;
    out.push_back(*std::move(j));
  }
  return out;
}

int RunApply(const std::vector<std::string>& args) {
  CommonFlags f;
  bool help = false;
  if (std::string problem = ParseFlags(args, f, help); !problem.empty()) {
    return Usage("apply", kApplyUsage, problem);
  }
  if (help) {
    std::cout << kApplyUsage;
    return 0;
  }
  if (f.file.empty()) return Usage("apply", kApplyUsage, "-f FILE is required");
  if (!f.positional.empty()) return Usage("apply", kApplyUsage, "unexpected argument " + f.positional[0]);
  std::string text;
  if (f.file == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream in(f.file, std::ios::binary);
    if (!in) {
      std::cerr << "wisp apply: cannot read " << f.file << "\n";
      return 1;
    }
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto docs = YamlDocumentsToJson(text);
  if (!docs.ok()) {
    std::cerr << "wisp apply: " << f.file << ": " << docs.status().message() << "\n";
    return 1;
  }
  if (docs->empty()) {
    std::cerr << "wisp apply: " << f.file << " has no objects\n";
    return 1;
  }
  kube::RestKubeClient client(kube::ServerOnly(f.server));
  int rc = 0;
  for (json& obj : *docs) {
    if (!obj.is_object()) {
      std::cerr << "wisp apply: a document is not an object\n";
      rc = 1;
      continue;
    }
    auto resource = ResourceOf(obj);
    if (!resource.ok()) {
      std::cerr << "wisp apply: " << resource.status().message() << "\n";
      rc = 1;
      continue;
    }
    std::string name = obj["metadata"].is_object() ? obj["metadata"].value("name", "") : "";
    if (name.empty()) {
      std::cerr << "wisp apply: a " << resource->kind << " without metadata.name\n";
      rc = 1;
      continue;
    }
    std::string ns;
    if (resource->namespaced) {
      ns = obj["metadata"].value("namespace", "");
      if (ns.empty()) {
        ns = f.ns;
        obj["metadata"]["namespace"] = ns;
      }
    }
    auto applied = client.Apply(*resource, ns, name, obj, kFieldManager, f.force);
    if (!applied.ok()) {
      rc = ApiError("apply", applied.status(), f.server);
      if (applied.status().code() == absl::StatusCode::kUnavailable) return rc;
      continue;
    }
    std::cout << LowerKindGroup(*resource) << "/" << name << " applied\n";
  }
  return rc;
}

int RunGet(const std::vector<std::string>& args) {
  CommonFlags f;
  bool help = false;
  if (std::string problem = ParseFlags(args, f, help); !problem.empty()) {
    return Usage("get", kGetUsage, problem);
  }
  if (help) {
    std::cout << kGetUsage;
    return 0;
  }
  // `wisp get functions [NAME]` / `wisp get fn NAME` read like kubectl.
  if (!f.positional.empty() &&
      (f.positional[0] == "functions" || f.positional[0] == "function" || f.positional[0] == "fn")) {
    f.positional.erase(f.positional.begin());
  }
  if (f.positional.size() > 1) return Usage("get", kGetUsage, "at most one NAME");
  if (!f.output.empty() && f.output != "json") return Usage("get", kGetUsage, "-o takes json");
  kube::RestKubeClient client(kube::ServerOnly(f.server));
  const kube::Resource& fns = kube::resources::Functions();
  std::vector<json> items;
  if (!f.positional.empty()) {
    auto fn = client.Get(fns, f.ns, f.positional[0]);
    if (!fn.ok()) return ApiError("get", fn.status(), f.server);
    items.push_back(*std::move(fn));
  } else {
    auto list = client.List(fns, f.all_namespaces ? "" : f.ns);
    if (!list.ok()) return ApiError("get", list.status(), f.server);
    if (list->contains("items") && (*list)["items"].is_array()) {
      for (json& item : (*list)["items"]) items.push_back(std::move(item));
    }
  }
  if (f.output == "json") {
    if (!f.positional.empty()) {
      std::cout << items[0].dump(2) << "\n";
    } else {
      std::cout << json{{"apiVersion", "v1"}, {"kind", "List"}, {"items", items}}.dump(2) << "\n";
    }
    return 0;
  }
  if (items.empty()) {
    std::cerr << "No Functions found" << (f.all_namespaces ? "" : " in namespace " + f.ns) << ".\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAME", "READY", "REPLICAS", "URL", "AGE"});
  if (f.all_namespaces) rows[0].insert(rows[0].begin(), "NAMESPACE");
  for (const json& fn : items) {
    const json& meta = fn.contains("metadata") ? fn["metadata"] : json::object();
    const json& status =
        fn.contains("status") && fn["status"].is_object() ? fn["status"] : json::object();
    std::string replicas = "0";
    if (status.contains("replicas") && status["replicas"].is_number()) {
      replicas = std::to_string(status["replicas"].get<int64_t>());
    }
    std::string url = status.contains("url") && status["url"].is_string()
                          ? status["url"].get<std::string>()
                          : "";
    std::vector<std::string> row = {meta.value("name", ""), ReadyOf(fn), replicas,
                                    url.empty() ? "<none>" : url,
                                    Age(meta.value("creationTimestamp", ""))};
    if (f.all_namespaces) row.insert(row.begin(), meta.value("namespace", ""));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    std::cout << line << "\n";
  }
  return 0;
}

int RunDelete(const std::vector<std::string>& args) {
  CommonFlags f;
  bool help = false;
  if (std::string problem = ParseFlags(args, f, help); !problem.empty()) {
    return Usage("delete", kDeleteUsage, problem);
  }
  if (help) {
    std::cout << kDeleteUsage;
    return 0;
  }
  if (!f.positional.empty() &&
      (f.positional[0] == "functions" || f.positional[0] == "function" || f.positional[0] == "fn")) {
    f.positional.erase(f.positional.begin());
  }
  if (f.positional.empty()) return Usage("delete", kDeleteUsage, "NAME is required");
  kube::RestKubeClient client(kube::ServerOnly(f.server));
  int rc = 0;
  for (const std::string& name : f.positional) {
    absl::Status s = client.Delete(kube::resources::Functions(), f.ns, name);
    if (!s.ok()) {
      rc = ApiError("delete", s, f.server);
      continue;
    }
    std::cout << "function.wisp.dev \"" << name << "\" deleted\n";
  }
  return rc;
}

}  // namespace wisp::cli
