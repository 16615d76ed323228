#include "operator/kube/client.h"

#include <httplib.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace wisp::kube {
namespace {

using nlohmann::json;

std::string Escape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    }
  }
  return out;
}

std::string Query(const ListOptions& o, std::string extra = "") {
  std::string q = std::move(extra);
  auto add = [&q](absl::string_view k, absl::string_view v) {
    absl::StrAppend(&q, q.empty() ? "?" : "&", k, "=", Escape(v));
  };
  if (!o.label_selector.empty()) add("labelSelector", o.label_selector);
  if (!o.field_selector.empty()) add("fieldSelector", o.field_selector);
  return q;
}

}  // namespace

namespace resources {
const Resource& Functions() {
  static const Resource r{"wisp.dev", "v1alpha1", "functions", "Function", true};
  return r;
}
const Resource& Deployments() {
  static const Resource r{"apps", "v1", "deployments", "Deployment", true};
  return r;
}
const Resource& Services() {
  static const Resource r{"", "v1", "services", "Service", true};
  return r;
}
const Resource& ConfigMaps() {
  static const Resource r{"", "v1", "configmaps", "ConfigMap", true};
  return r;
}
const Resource& PodDisruptionBudgets() {
  static const Resource r{"policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true};
  return r;
}
const Resource& Leases() {
  static const Resource r{"coordination.k8s.io", "v1", "leases", "Lease", true};
  return r;
}
const Resource& Events() {
  static const Resource r{"", "v1", "events", "Event", true};
  return r;
}
const Resource& Pods() {
  static const Resource r{"", "v1", "pods", "Pod", true};
  return r;
}
const Resource& EndpointSlices() {
  static const Resource r{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true};
  return r;
}
}  // namespace resources

std::string CollectionPath(const Resource& r, absl::string_view ns) {
  std::string path = r.group.empty() ? absl::StrCat("/api/", r.version)
                                     : absl::StrCat("/apis/", r.group, "/", r.version);
  if (r.namespaced && !ns.empty()) absl::StrAppend(&path, "/namespaces/", ns);
  absl::StrAppend(&path, "/", r.plural);
  return path;
}

std::string ObjectPath(const Resource& r, absl::string_view ns, absl::string_view name,
                       absl::string_view subresource) {
  std::string path = absl::StrCat(CollectionPath(r, ns), "/", name);
  if (!subresource.empty()) absl::StrAppend(&path, "/", subresource);
  return path;
}

absl::Status StatusFromHttp(int code, absl::string_view body, bool creating) {
  if (code >= 200 && code < 300) return absl::OkStatus();
  std::string message = absl::StrCat("HTTP ", code);
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.contains("message") && doc["message"].is_string()) {
    message = doc["message"].get<std::string>();
  } else if (!body.empty()) {
    message = absl::StrCat(message, ": ", body.substr(0, 200));
  }
  switch (code) {
    case 400:
    case 422: return absl::InvalidArgumentError(message);
    case 401: return absl::UnauthenticatedError(message);
    case 403: return absl::PermissionDeniedError(message);
    case 404: return absl::NotFoundError(message);
    case 409: return creating ? absl::AlreadyExistsError(message) : absl::AbortedError(message);
    case 410: return absl::OutOfRangeError(message);
    case 415: return absl::InvalidArgumentError(message);
    case 429: return absl::ResourceExhaustedError(message);
    default: break;
  }
  if (code >= 500) return absl::UnavailableError(message);
  return absl::UnknownError(message);
}

RestKubeClient::RestKubeClient(KubeConfig config) : config_(std::move(config)) {}
RestKubeClient::~RestKubeClient() = default;

std::unique_ptr<httplib::Client> RestKubeClient::NewClient(int read_timeout_seconds) const {
  std::unique_ptr<httplib::Client> c;
  if (!config_.client_cert_file.empty()) {
    c = std::make_unique<httplib::Client>(config_.server, config_.client_cert_file, config_.client_key_file);
  } else {
    c = std::make_unique<httplib::Client>(config_.server);
  }
  c->set_tcp_nodelay(true);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(read_timeout_seconds, 0);
  c->set_write_timeout(30, 0);
  if (!config_.ca_file.empty()) c->set_ca_cert_path(config_.ca_file.c_str());
  c->enable_server_certificate_verification(!config_.insecure_skip_tls_verify);
  std::string token = config_.token;
  if (!config_.token_file.empty()) {
    std::ifstream in(config_.token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!ss.str().empty()) token = std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  if (!token.empty()) c->set_bearer_token_auth(token.c_str());
  return c;
}

absl::StatusOr<json> RestKubeClient::Send(const std::string& method, const std::string& path,
                                          const std::string& body, const std::string& content_type,
                                          bool creating) {
  auto client = NewClient(60);
  httplib::Headers headers = {{"Accept", "application/json"}};
  auto call = [&]() -> httplib::Result {
    if (method == "GET") return client->Get(path.c_str(), headers);
    if (method == "POST") return client->Post(path.c_str(), headers, body, content_type.c_str());
    if (method == "PUT") return client->Put(path.c_str(), headers, body, content_type.c_str());
    if (method == "PATCH") return client->Patch(path.c_str(), headers, body, content_type.c_str());
    return client->Delete(path.c_str(), headers, body, content_type.c_str());
  };
  httplib::Result res = call();
  if (!res) {
    return absl::UnavailableError(absl::StrCat("Kubernetes API ", config_.server, " unreachable: ",
                                               httplib::to_string(res.error())));
  }
  absl::Status s = StatusFromHttp(res->status, res->body, creating);
  if (!s.ok()) return s;
  json doc = json::parse(res->body, nullptr, false);
  if (doc.is_discarded()) return absl::InternalError(absl::StrCat("non-JSON answer from ", path));
  return doc;
}

absl::StatusOr<json> RestKubeClient::Get(const Resource& r, absl::string_view ns,
                                         absl::string_view name) {
  return Send("GET", ObjectPath(r, ns, name), "", "", false);
}

absl::StatusOr<json> RestKubeClient::List(const Resource& r, absl::string_view ns,
                                          const ListOptions& options) {
  return Send("GET", CollectionPath(r, ns) + Query(options), "", "", false);
}

absl::Status RestKubeClient::Watch(const Resource& r, absl::string_view ns,
                                   absl::string_view resource_version, int timeout_seconds,
                                   const ListOptions& options,
                                   const std::function<bool(const json&)>& on_event) {
  std::string path = CollectionPath(r, ns) +
                     Query(options, absl::StrCat("?watch=true&allowWatchBookmarks=true&timeoutSeconds=",
                                                 timeout_seconds, "&resourceVersion=",
                                                 Escape(resource_version)));
  auto client = NewClient(timeout_seconds + 30);
  std::string buffer;
  absl::Status stream_status = absl::OkStatus();
  bool stopped = false;
  int http_status = 0;
  std::string error_body;
  httplib::Headers headers = {{"Accept", "application/json"}};
  auto res = client->Get(
      path.c_str(), headers,
      [&](const httplib::Response& response) {
        http_status = response.status;
        return true;
      },
      [&](const char* data, size_t len) {
        if (http_status != 200) {
          error_body.append(data, len);
          return true;
        }
        buffer.append(data, len);
        size_t start = 0;
        while (true) {
          size_t nl = buffer.find('\n', start);
          if (nl == std::string::npos) break;
          absl::string_view line(buffer.data() + start, nl - start);
          start = nl + 1;
          if (absl::StripAsciiWhitespace(line).empty()) continue;
          json ev = json::parse(line.begin(), line.end(), nullptr, false);
          if (ev.is_discarded() || !ev.is_object()) continue;
          if (ev.value("type", "") == "ERROR") {
            const json& obj = ev["object"];
            int code = obj.is_object() ? obj.value("code", 500) : 500;
            stream_status = StatusFromHttp(code, obj.is_object() ? obj.dump() : "", false);
            stopped = true;
            return false;
          }
          if (!on_event(ev)) {
            stopped = true;
            return false;
          }
        }
        buffer.erase(0, start);
        return true;
      });
  if (stopped) return stream_status;
  if (http_status != 0 && http_status != 200) return StatusFromHttp(http_status, error_body, false);
  if (!res && res.error() != httplib::Error::Canceled) {
    return absl::UnavailableError(absl::StrCat("watch of ", path, " failed: ", httplib::to_string(res.error())));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> RestKubeClient::Create(const Resource& r, absl::string_view ns, const json& object) {
  return Send("POST", CollectionPath(r, ns), object.dump(), "application/json", true);
}

absl::StatusOr<json> RestKubeClient::Update(const Resource& r, absl::string_view ns,
                                            absl::string_view name, const json& object) {
  return Send("PUT", ObjectPath(r, ns, name), object.dump(), "application/json", false);
}

absl::StatusOr<json> RestKubeClient::Apply(const Resource& r, absl::string_view ns,
                                           absl::string_view name, const json& object,
                                           absl::string_view field_manager, bool force) {
  std::string path = absl::StrCat(ObjectPath(r, ns, name), "?fieldManager=", Escape(field_manager),
                                  force ? "&force=true" : "");
  return Send("PATCH", path, object.dump(), "application/apply-patch+yaml", false);
}

absl::StatusOr<json> RestKubeClient::MergePatch(const Resource& r, absl::string_view ns,
                                                absl::string_view name, const json& patch,
                                                absl::string_view subresource) {
  return Send("PATCH", ObjectPath(r, ns, name, subresource), patch.dump(),
              "application/merge-patch+json", false);
}

absl::Status RestKubeClient::Delete(const Resource& r, absl::string_view ns, absl::string_view name) {
  auto res = Send("DELETE", ObjectPath(r, ns, name), R"({"propagationPolicy":"Background"})",
                  "application/json", false);
  return res.ok() ? absl::OkStatus() : res.status();
}

}  // namespace wisp::kube
