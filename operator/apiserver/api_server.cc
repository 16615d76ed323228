#include "operator/apiserver/api_server.h"

#include <httplib.h>

#include <exception>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"
#include "controller/base/status_macros.h"
#include "operator/apiserver/discovery.h"
#include "operator/apiserver/errors.h"
#include "operator/apiserver/patch.h"
#include "operator/apiserver/table.h"
#include "operator/apiserver/yaml.h"

namespace wisp::apiserver {
namespace {

constexpr char kJson[] = "application/json";

struct MediaRange {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;
  std::string Param(absl::string_view key) const {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return "";
  }
};

std::vector<MediaRange> ParseAccept(absl::string_view header) {
  std::vector<MediaRange> out;
  for (absl::string_view entry :
       absl::StrSplit(header, ',', absl::SkipWhitespace())) {
    MediaRange m;
    bool first = true;
    for (absl::string_view part : absl::StrSplit(entry, ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (first) {
        m.type = absl::AsciiStrToLower(part);
        first = false;
        continue;
      }
      std::pair<std::string, std::string> kv =
          absl::StrSplit(part, absl::MaxSplits('=', 1));
      m.params.emplace_back(absl::AsciiStrToLower(kv.first), kv.second);
    }
    out.push_back(std::move(m));
  }
  return out;
}

bool WantsAggregatedDiscovery(const httplib::Request& req) {
  for (const MediaRange& m : ParseAccept(req.get_header_value("Accept"))) {
    if (m.Param("as") == "APIGroupDiscoveryList" &&
        m.Param("g") == "apidiscovery.k8s.io" && m.Param("v") == "v2") {
      return true;
    }
  }
  return false;
}

bool WantsTable(const httplib::Request& req) {
  for (const MediaRange& m : ParseAccept(req.get_header_value("Accept"))) {
    if (m.Param("as") == "Table" && m.Param("g") == "meta.k8s.io") return true;
  }
  return false;
}

bool ParamTrue(const httplib::Request& req, const char* name) {
  std::string v = req.get_param_value(name);
  return v == "true" || v == "1" || v == "True";
}

void ReplyJson(httplib::Response& res, int code, const Json& body,
               const std::string& content_type = kJson) {
  res.status = code;
  res.set_content(Dump(body), content_type);
}

void ReplyError(httplib::Response& res, const absl::Status& status,
                const Json& details = Json()) {
  ReplyJson(res, ReasonOf(status).code, StatusObject(status, details));
}

absl::StatusOr<Json> ParseBody(const httplib::Request& req,
                               bool want_object = true) {
  std::string content_type =
      absl::AsciiStrToLower(req.get_header_value("Content-Type"));
  if (absl::StrContains(content_type, "yaml")) {
    absl::StatusOr<Json> json = ParseJson(req.body, want_object);
    if (json.ok()) return json;  // kubectl sends apply patches as JSON
    return ParseYaml(req.body, want_object);
  }
  if (absl::StrContains(content_type, "protobuf") ||
      absl::StrContains(content_type, "cbor")) {
    return kerr::UnsupportedMediaType(
        absl::StrCat("the body of the request was in an unknown format - "
                     "accepted media types "
                     "include: application/json, application/yaml (got ",
                     content_type, ")"));
  }
  return ParseJson(req.body, want_object);
}

// Dotted paths of the scale subresource (".spec.replicas").
std::vector<std::string> PathParts(absl::string_view path) {
  return absl::StrSplit(path, '.', absl::SkipEmpty());
}

const Json* GetDotted(const Json& object, absl::string_view path) {
  const Json* cur = &object;
  for (const std::string& part : PathParts(path)) {
    cur = Find(*cur, part);
    if (cur == nullptr) return nullptr;
  }
  return cur;
}

void SetDotted(Json& object, absl::string_view path, Json value) {
  std::vector<std::string> parts = PathParts(path);
  if (parts.empty()) return;
  Json* cur = &object;
  for (size_t i = 0; i + 1 < parts.size(); ++i)
    cur = &EnsureObject(*cur, parts[i]);
  (*cur)[parts.back()] = std::move(value);
}

Json MakeScale(const ResourceType& type, const Json& object) {
  const ScaleSpec& spec = *type.scale;
  Json meta = Json::object();
  for (const char* k :
       {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
    if (const Json* v = FindPath(object, {"metadata", k})) meta[k] = *v;
  }
  const Json* spec_replicas = GetDotted(object, spec.spec_replicas_path);
  const Json* status_replicas =
      spec.status_replicas_path.empty()
          ? nullptr
          : GetDotted(object, spec.status_replicas_path);
  Json status = {
      {"replicas", status_replicas != nullptr && status_replicas->is_number()
                       ? status_replicas->get<int64_t>()
                       : 0}};
  if (!spec.label_selector_path.empty()) {
    if (const Json* sel = GetDotted(object, spec.label_selector_path)) {
      if (sel->is_string()) {
        status["selector"] = *sel;
      } else if (absl::StatusOr<LabelSelector> parsed =
                     LabelSelector::FromJson(*sel);
                 parsed.ok()) {
        status["selector"] = parsed->ToString();
      }
    }
  }
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata", std::move(meta)},
          {"spec",
           {{"replicas", spec_replicas != nullptr && spec_replicas->is_number()
                             ? spec_replicas->get<int64_t>()
                             : 0}}},
          {"status", std::move(status)}};
}

// Writes a (patched) Scale back into the object it describes.
absl::StatusOr<Json> ApplyScale(const ResourceType& type, const Json& current,
                                const Json& scale) {
  const Json* replicas = FindPath(scale, {"spec", "replicas"});
  std::string name = GetStringPath(current, {"metadata", "name"});
  if (replicas == nullptr || !replicas->is_number_integer() ||
      replicas->get<int64_t>() < 0 || replicas->get<int64_t>() > INT32_MAX) {
    return kerr::Invalid(absl::StrCat(
        "Scale.autoscaling \"", name, "\" is invalid: spec.replicas: ",
        "Invalid value: must be a non-negative integer"));
  }
  Json next = current;
  SetDotted(next, type.scale->spec_replicas_path, replicas->get<int64_t>());
  std::string rv = GetStringPath(scale, {"metadata", "resourceVersion"});
  if (rv.empty()) {
    next["metadata"].erase("resourceVersion");
  } else {
    next["metadata"]["resourceVersion"] = rv;
  }
  return next;
}

enum class PatchType { kMerge, kStrategic, kJson, kApply };

absl::StatusOr<PatchType> PatchTypeOf(const httplib::Request& req,
                                      const ResourceType& type) {
  std::string ct = absl::AsciiStrToLower(req.get_header_value("Content-Type"));
  ct = std::string(absl::StripAsciiWhitespace(ct.substr(0, ct.find(';'))));
  if (ct == "application/merge-patch+json") return PatchType::kMerge;
  if (ct == "application/json-patch+json") return PatchType::kJson;
  if (ct == "application/apply-patch+yaml") return PatchType::kApply;
  if (ct == "application/strategic-merge-patch+json" && !type.custom)
    return PatchType::kStrategic;
  return kerr::UnsupportedMediaType(absl::StrCat(
      "the body of the request was in an unknown format - accepted media types "
      "include: "
      "application/json-patch+json, application/merge-patch+json, "
      "application/apply-patch+yaml",
      type.custom ? "" : ", application/strategic-merge-patch+json"));
}

absl::StatusOr<Json> ApplyPatch(PatchType kind, const Json& target,
                                const Json& patch) {
  switch (kind) {
    case PatchType::kMerge:
      return MergePatch(target, patch);
    case PatchType::kStrategic:
      return StrategicMergePatch(target, patch);
    case PatchType::kJson:
      return JsonPatch(target, patch);
    case PatchType::kApply:
      return MergePatch(target, patch);
  }
  return kerr::BadRequest("unknown patch type");
}

// A parsed resource URL.
struct Target {
  std::string group, version, ns, resource, name, subresource;
  bool watch_prefix = false;
};

absl::Status NotFoundPath() {
  return kerr::NotFound("the server could not find the requested resource");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// One request.

class ApiServer::Handler {
 public:
  Handler(ApiServer& server, const httplib::Request& req,
          httplib::Response& res)
      : server_(server), store_(*server.store_), req_(req), res_(res) {}

  void Run() {
    std::vector<std::string> segs =
        absl::StrSplit(req_.path, '/', absl::SkipEmpty());
    bool get = req_.method == "GET" || req_.method == "HEAD";
    if (segs.empty()) {
      if (!get)
        return ReplyError(res_,
                          kerr::MethodNotAllowed("only GET is allowed here"));
      return ReplyJson(res_, 200,
                       {{"paths",
                         {"/api", "/api/v1", "/apis", "/healthz", "/livez",
                          "/openapi/v3", "/readyz", "/version"}}});
    }
    const std::string& top = segs[0];
    if (top == "version" || top == "healthz" || top == "readyz" ||
        top == "livez" || top == "openapi") {
      if (!get)
        return ReplyError(res_,
                          kerr::MethodNotAllowed("only GET is allowed here"));
      if (top == "version" && segs.size() == 1)
        return ReplyJson(res_, 200, VersionInfo());
      if (top == "openapi") return OpenApi(segs);
      if (top != "version") {
        res_.status = 200;
        res_.set_content("ok", "text/plain; charset=utf-8");
        return;
      }
      return ReplyError(res_, NotFoundPath());
    }
    Target t;
    size_t rest;
    if (top == "api") {
      if (segs.size() == 1) {
        if (!get)
          return ReplyError(res_,
                            kerr::MethodNotAllowed("only GET is allowed here"));
        if (WantsAggregatedDiscovery(req_)) {
          return ReplyJson(res_, 200,
                           AggregatedDiscovery(store_.Resources(), true),
                           kAggregatedDiscoveryContentType);
        }
        return ReplyJson(res_, 200,
                         ApiVersions(absl::StrCat(server_.options_.host, ":",
                                                  server_.port_)));
      }
      t.version = segs[1];
      rest = 2;
    } else if (top == "apis") {
      if (segs.size() <= 2 && !get) {
        return ReplyError(res_,
                          kerr::MethodNotAllowed("only GET is allowed here"));
      }
      if (segs.size() == 1) {
        if (WantsAggregatedDiscovery(req_)) {
          return ReplyJson(res_, 200,
                           AggregatedDiscovery(store_.Resources(), false),
                           kAggregatedDiscoveryContentType);
        }
        return ReplyJson(res_, 200, ApiGroupList(store_.Resources()));
      }
      if (segs.size() == 2) {
        std::optional<Json> group = ApiGroup(store_.Resources(), segs[1]);
        if (!group.has_value()) return ReplyError(res_, NotFoundPath());
        return ReplyJson(res_, 200, *group);
      }
      t.group = segs[1];
      t.version = segs[2];
      rest = 3;
    } else {
      return ReplyError(res_, NotFoundPath());
    }
    if (segs.size() == rest) {
      if (!get)
        return ReplyError(res_,
                          kerr::MethodNotAllowed("only GET is allowed here"));
      std::optional<Json> list =
          ApiResourceList(store_.Resources(), t.group, t.version);
      if (!list.has_value()) return ReplyError(res_, NotFoundPath());
      return ReplyJson(res_, 200, *list);
    }
    std::vector<std::string> parts(
        segs.begin() + static_cast<std::ptrdiff_t>(rest), segs.end());
    if (parts[0] == "watch") {
      t.watch_prefix = true;
      parts.erase(parts.begin());
    }
    if (parts.size() > 2 && parts[0] == "namespaces" && parts[2] != "status" &&
        parts[2] != "finalize") {
      t.ns = parts[1];
      parts.erase(parts.begin(), parts.begin() + 2);
    }
    if (parts.empty() || parts.size() > 3)
      return ReplyError(res_, NotFoundPath());
    t.resource = parts[0];
    if (parts.size() > 1) t.name = parts[1];
    if (parts.size() > 2) t.subresource = parts[2];
    Resource(t);
  }

 private:
  void OpenApi(const std::vector<std::string>& segs) {
    if (segs.size() >= 2 && segs[1] == "v3") {
      std::vector<ResourceType> types = store_.Resources();
      if (segs.size() == 2) return ReplyJson(res_, 200, OpenApiIndex(types));
      std::optional<Json> doc;
      if (segs.size() == 4 && segs[2] == "api")
        doc = OpenApiDocument(types, "", segs[3]);
      if (segs.size() == 5 && segs[2] == "apis")
        doc = OpenApiDocument(types, segs[3], segs[4]);
      if (doc.has_value()) return ReplyJson(res_, 200, *doc);
    }
    ReplyError(res_, NotFoundPath());
  }

  Json Details(const ResourceType& type, const std::string& name) const {
    Json d = {{"kind", type.resource}};
    if (!type.group.empty()) d["group"] = type.group;
    if (!name.empty()) d["name"] = name;
    return d;
  }

  void Fail(const ResourceType& type, const std::string& name,
            const absl::Status& status) {
    Json details = Details(type, name);
    // Kubernetes names the kind (not the resource) in Invalid details; kubectl
    // prints it.
    if (ReasonOf(status).reason == "Invalid") details["kind"] = type.kind;
    ReplyError(res_, status, details);
  }

  void Resource(const Target& t) {
    std::optional<ResourceType> found =
        store_.FindResource(t.group, t.version, t.resource);
    if (!found.has_value()) return ReplyError(res_, NotFoundPath());
    const ResourceType& type = *found;
    if (!type.namespaced && !t.ns.empty())
      return ReplyError(res_, NotFoundPath());
    Subresource sub = Subresource::kMain;
    if (t.subresource == "status" && type.has_status) {
      sub = Subresource::kStatus;
    } else if (t.subresource == "scale" && type.scale.has_value()) {
      // handled per verb below
    } else if (!t.subresource.empty()) {
      return ReplyError(res_, NotFoundPath());
    }
    bool scale = t.subresource == "scale";
    const std::string& m = req_.method;
    bool watch = t.watch_prefix || ParamTrue(req_, "watch");
    bool item = !t.name.empty();
    if (type.namespaced && t.ns.empty() && (item || m == "POST")) {
      return ReplyError(res_, NotFoundPath());
    }
    if (watch) {
      if (m != "GET" || !t.subresource.empty()) {
        return ReplyError(
            res_, kerr::MethodNotAllowed("watch is only allowed with GET"));
      }
      return Watch(type, t);
    }
    if (m == "GET" || m == "HEAD") {
      if (!item) return List(type, t);
      absl::StatusOr<Json> object = store_.Get(type, t.ns, t.name);
      if (!object.ok()) return Fail(type, t.name, object.status());
      if (scale) return ReplyJson(res_, 200, MakeScale(type, *object));
      if (WantsTable(req_) && sub == Subresource::kMain) {
        return ReplyJson(
            res_, 200,
            MakeTable(type, {*object}, ResourceVersionOf(*object), ""));
      }
      return ReplyJson(res_, 200, *object);
    }
    if (m == "POST") {
      if (item)
        return ReplyError(res_, kerr::MethodNotAllowed(
                                    "POST is only allowed on collections"));
      absl::StatusOr<Json> body = ParseBody(req_);
      if (!body.ok()) return Fail(type, "", body.status());
      std::string name = GetStringPath(*body, {"metadata", "name"});
      absl::StatusOr<Json> created =
          store_.Create(type, t.ns, *std::move(body), WriteOpts());
      if (!created.ok()) return Fail(type, name, created.status());
      return ReplyJson(res_, 201, *created);
    }
    if (m == "PUT") {
      if (!item)
        return ReplyError(res_,
                          kerr::MethodNotAllowed("PUT needs an object name"));
      absl::StatusOr<Json> body = ParseBody(req_);
      if (!body.ok()) return Fail(type, t.name, body.status());
      if (scale) {
        Json scale_body = *std::move(body);
        return ScaleWrite(type, t, [&](const Json&) -> absl::StatusOr<Json> {
          return scale_body;
        });
      }
      absl::StatusOr<Json> updated =
          store_.Update(type, t.ns, t.name, *std::move(body), sub, WriteOpts());
      if (!updated.ok()) return Fail(type, t.name, updated.status());
      return ReplyJson(res_, 200, *updated);
    }
    if (m == "PATCH") {
      if (!item)
        return ReplyError(res_,
                          kerr::MethodNotAllowed("PATCH needs an object name"));
      return Patch(type, t, sub);
    }
    if (m == "DELETE") {
      if (!t.subresource.empty()) {
        return ReplyError(res_, kerr::MethodNotAllowed(
                                    "DELETE is not allowed on subresources"));
      }
      return Delete(type, t);
    }
    ReplyError(res_, kerr::MethodNotAllowed(
                         absl::StrCat("method ", m, " is not allowed")));
  }

  WriteOptions WriteOpts() const {
    WriteOptions w;
    w.dry_run = req_.get_param_value("dryRun") == "All";
    return w;
  }

  static std::string ResourceVersionOf(const Json& object) {
    return GetStringPath(object, {"metadata", "resourceVersion"});
  }

  absl::Status ParseSelectors(const httplib::Request& req,
                              LabelSelector* labels, FieldSelector* fields) {
    ASSIGN_OR_RETURN(
        *labels, LabelSelector::Parse(req.get_param_value("labelSelector")));
    ASSIGN_OR_RETURN(
        *fields, FieldSelector::Parse(req.get_param_value("fieldSelector")));
    return absl::OkStatus();
  }

  Json MakeTable(const ResourceType& type, const std::vector<Json>& items,
                 const std::string& rv, const std::string& continue_token) {
    int64_t now = absl::ToUnixSeconds(absl::Now());
    std::string include = req_.get_param_value("includeObject");
    Json rows = Json::array();
    for (const Json& item : items) {
      Json row = {{"cells", TableCells(type.columns, item, now)}};
      if (include == "Object") {
        row["object"] = item;
      } else if (include != "None") {
        const Json* meta = Find(item, "metadata");
        row["object"] = {
            {"kind", "PartialObjectMetadata"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", meta != nullptr ? *meta : Json::object()}};
      }
      rows.push_back(std::move(row));
    }
    Json meta = {{"resourceVersion", rv}};
    if (!continue_token.empty()) meta["continue"] = continue_token;
    return {{"kind", "Table"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata", std::move(meta)},
            {"columnDefinitions", TableColumnDefinitions(type.columns)},
            {"rows", std::move(rows)}};
  }

  void List(const ResourceType& type, const Target& t) {
    ListOptions options;
    if (absl::Status s = ParseSelectors(req_, &options.labels, &options.fields);
        !s.ok()) {
      return Fail(type, "", s);
    }
    std::string limit = req_.get_param_value("limit");
    if (!limit.empty() && !absl::SimpleAtoi(limit, &options.limit)) {
      return Fail(type, "", kerr::BadRequest("limit must be an integer"));
    }
    options.continue_token = req_.get_param_value("continue");
    absl::StatusOr<ListResult> result = store_.List(type, t.ns, options);
    if (!result.ok()) return Fail(type, "", result.status());
    std::string rv = absl::StrCat(result->resource_version);
    if (WantsTable(req_)) {
      return ReplyJson(
          res_, 200,
          MakeTable(type, result->items, rv, result->continue_token));
    }
    Json meta = {{"resourceVersion", rv}};
    if (!result->continue_token.empty()) {
      meta["continue"] = result->continue_token;
      meta["remainingItemCount"] = result->remaining;
    }
    ReplyJson(res_, 200,
              {{"kind", type.list_kind},
               {"apiVersion", type.ApiVersion()},
               {"metadata", std::move(meta)},
               {"items", std::move(result->items)}});
  }

  void Patch(const ResourceType& type, const Target& t, Subresource sub) {
    absl::StatusOr<PatchType> kind = PatchTypeOf(req_, type);
    if (!kind.ok()) return Fail(type, t.name, kind.status());
    absl::StatusOr<Json> body =
        ParseBody(req_, /*want_object=*/*kind != PatchType::kJson);
    if (!body.ok()) return Fail(type, t.name, body.status());
    bool scale = t.subresource == "scale";
    std::string manager = req_.get_param_value("fieldManager");
    if (*kind == PatchType::kApply) {
      if (manager.empty()) {
        return Fail(
            type, t.name,
            kerr::BadRequest("fieldManager is required for apply patches"));
      }
      std::string applied_kind = GetString(*body, "kind");
      if (!scale && applied_kind != type.kind) {
        return Fail(
            type, t.name,
            kerr::BadRequest(absl::StrCat("apply patches need kind ", type.kind,
                                          " (got \"", applied_kind, "\")")));
      }
    }
    const Json& patch = *body;
    std::string now = FormatTimestamp(absl::ToUnixSeconds(absl::Now()));
    if (scale) {
      return ScaleWrite(type, t,
                        [&](const Json& current_scale) -> absl::StatusOr<Json> {
                          return ApplyPatch(*kind, current_scale, patch);
                        });
    }
    std::string subresource = sub == Subresource::kStatus ? "status" : "";
    Store::Mutation mutation =
        [&](const Json* current) -> absl::StatusOr<Json> {
      if (current == nullptr) {
        if (*kind != PatchType::kApply || sub != Subresource::kMain) {
          return kerr::NotFound(absl::StrCat(type.GroupResource(), " \"",
                                             t.name, "\" not found"));
        }
        return ServerSideApply(Json(), patch, manager, type.ApiVersion(), now,
                               "");
      }
      if (*kind == PatchType::kApply) {
        return ServerSideApply(*current, patch, manager, type.ApiVersion(), now,
                               subresource);
      }
      return ApplyPatch(*kind, *current, patch);
    };
    absl::StatusOr<Store::MutateResult> result =
        store_.Mutate(type, t.ns, t.name, sub, mutation, WriteOpts());
    if (!result.ok()) return Fail(type, t.name, result.status());
    ReplyJson(res_, result->created ? 201 : 200, result->object);
  }

  // PUT or PATCH of the scale subresource: `change` maps the current Scale to
  // the new one.
  void ScaleWrite(
      const ResourceType& type, const Target& t,
      const std::function<absl::StatusOr<Json>(const Json&)>& change) {
    Store::Mutation mutation =
        [&](const Json* current) -> absl::StatusOr<Json> {
      if (current == nullptr) {
        return kerr::NotFound(
            absl::StrCat(type.GroupResource(), " \"", t.name, "\" not found"));
      }
      ASSIGN_OR_RETURN(Json next_scale, change(MakeScale(type, *current)));
      return ApplyScale(type, *current, next_scale);
    };
    absl::StatusOr<Store::MutateResult> result = store_.Mutate(
        type, t.ns, t.name, Subresource::kMain, mutation, WriteOpts());
    if (!result.ok()) return Fail(type, t.name, result.status());
    ReplyJson(res_, 200, MakeScale(type, result->object));
  }

  void Delete(const ResourceType& type, const Target& t) {
    DeleteOptions options;
    options.dry_run = req_.get_param_value("dryRun") == "All";
    std::string policy = req_.get_param_value("propagationPolicy");
    if (!req_.body.empty()) {
      absl::StatusOr<Json> body = ParseJson(req_.body);
      if (!body.ok()) return Fail(type, t.name, body.status());
      if (std::string p = GetString(*body, "propagationPolicy"); !p.empty())
        policy = p;
      if (const Json* o = Find(*body, "orphanDependents");
          o != nullptr && o->is_boolean() && o->get<bool>() && policy.empty()) {
        policy = "Orphan";
      }
      if (const Json* pre = Find(*body, "preconditions"); pre != nullptr) {
        options.precondition_uid = GetString(*pre, "uid");
        options.precondition_resource_version =
            GetString(*pre, "resourceVersion");
      }
      if (const Json* dry = Find(*body, "dryRun");
          dry != nullptr && dry->is_array()) {
        for (const Json& d : *dry)
          options.dry_run = options.dry_run || d == "All";
      }
    }
    if (policy == "Orphan") {
      options.propagation = DeleteOptions::Propagation::kOrphan;
    } else if (policy == "Foreground") {
      options.propagation = DeleteOptions::Propagation::kForeground;
    } else if (!policy.empty() && policy != "Background") {
      return Fail(type, t.name,
                  kerr::Invalid(absl::StrCat(
                      "propagationPolicy: Unsupported value: \"", policy,
                      "\": supported values: \"Foreground\", "
                      "\"Background\", \"Orphan\"")));
    }
    if (t.name.empty()) {
      ListOptions selection;
      if (absl::Status s =
              ParseSelectors(req_, &selection.labels, &selection.fields);
          !s.ok()) {
        return Fail(type, "", s);
      }
      absl::StatusOr<std::vector<Json>> deleted =
          store_.DeleteCollection(type, t.ns, selection, options);
      if (!deleted.ok()) return Fail(type, "", deleted.status());
      return ReplyJson(
          res_, 200,
          {{"kind", type.list_kind},
           {"apiVersion", type.ApiVersion()},
           {"metadata",
            {{"resourceVersion", absl::StrCat(store_.ResourceVersion())}}},
           {"items", *std::move(deleted)}});
    }
    absl::StatusOr<Json> deleted = store_.Delete(type, t.ns, t.name, options);
    if (!deleted.ok()) return Fail(type, t.name, deleted.status());
    bool pending =
        FindPath(*deleted, {"metadata", "deletionTimestamp"}) != nullptr &&
        FindPath(*deleted, {"metadata", "finalizers"}) != nullptr &&
        !FindPath(*deleted, {"metadata", "finalizers"})->empty();
    ReplyJson(res_, pending ? 202 : 200, *deleted);
  }

  struct WatchContext {
    std::unique_ptr<wisp::apiserver::Watch> watch;
    std::optional<Json> error;  // an ERROR event to send before ending
    absl::Time end;
    bool bookmarks = false;
    absl::Duration bookmark_interval;
    absl::Time next_bookmark;
    // With an Accept for Tables, object events carry one-row Tables, as
    // Kubernetes sends them (`kubectl get -w` prints the printer columns).
    bool table = false;
    std::vector<PrinterColumn> columns;
    std::string include_object;
  };

  static Json TableOf(const WatchContext& ctx, const Json& object) {
    Json row = {{"cells", TableCells(ctx.columns, object,
                                     absl::ToUnixSeconds(absl::Now()))}};
    if (ctx.include_object == "Object") {
      row["object"] = object;
    } else if (ctx.include_object != "None") {
      const Json* meta = Find(object, "metadata");
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", meta != nullptr ? *meta : Json::object()}};
    }
    return {{"kind", "Table"},
            {"apiVersion", "meta.k8s.io/v1"},
            {"metadata",
             {{"resourceVersion",
               GetStringPath(object, {"metadata", "resourceVersion"})}}},
            {"columnDefinitions", TableColumnDefinitions(ctx.columns)},
            {"rows", Json::array({std::move(row)})}};
  }

  void Watch(const ResourceType& type, const Target& t) {
    if (server_.stopping_) {
      return ReplyError(res_,
                        absl::UnavailableError("the server is shutting down"));
    }
    WatchOptions options;
    options.resource_version = req_.get_param_value("resourceVersion");
    std::string fields = req_.get_param_value("fieldSelector");
    if (!t.name.empty()) {
      fields = absl::StrCat(fields, fields.empty() ? "" : ",",
                            "metadata.name=", t.name);
    }
    absl::StatusOr<LabelSelector> labels =
        LabelSelector::Parse(req_.get_param_value("labelSelector"));
    if (!labels.ok()) return Fail(type, "", labels.status());
    absl::StatusOr<FieldSelector> field_selector = FieldSelector::Parse(fields);
    if (!field_selector.ok()) return Fail(type, "", field_selector.status());
    options.labels = *std::move(labels);
    options.fields = *std::move(field_selector);
    options.initial_events_end_bookmark = ParamTrue(req_, "sendInitialEvents");

    auto ctx = std::make_shared<WatchContext>();
    absl::Duration timeout = server_.options_.default_watch_timeout;
    if (std::string s = req_.get_param_value("timeoutSeconds"); !s.empty()) {
      int64_t seconds = 0;
      if (!absl::SimpleAtoi(s, &seconds) || seconds < 0) {
        return Fail(
            type, "",
            kerr::BadRequest("timeoutSeconds must be a non-negative integer"));
      }
      if (seconds > 0) timeout = absl::Seconds(seconds);
    }
    absl::Time now = absl::Now();
    ctx->end = now + timeout;
    ctx->bookmarks = ParamTrue(req_, "allowWatchBookmarks");
    ctx->bookmark_interval = server_.options_.bookmark_interval;
    ctx->next_bookmark = now + ctx->bookmark_interval;
    ctx->table = WantsTable(req_);
    ctx->columns = type.columns;
    ctx->include_object = req_.get_param_value("includeObject");
    absl::StatusOr<std::unique_ptr<wisp::apiserver::Watch>> watch =
        store_.StartWatch(type, t.ns, options);
    if (!watch.ok()) {
      if (ReasonOf(watch.status()).code != 410)
        return Fail(type, "", watch.status());
      // Kubernetes accepts the watch and reports the expired resourceVersion as
      // an ERROR event.
      ctx->error = StatusObject(watch.status());
    } else {
      ctx->watch = *std::move(watch);
    }
    std::string kind = type.kind, api_version = type.ApiVersion();
    const std::atomic<bool>* stopping =
        &server_.stopping_;  // the server outlives its watches
    res_.status = 200;
    // Not plain "application/json": cpp-httplib would gzip the stream for
    // clients that accept gzip (Go's do), and zlib holds small events back
    // until its buffer fills.
    res_.set_chunked_content_provider(
        "application/json;stream=watch",
        [ctx, kind, api_version, stopping](size_t,
                                           httplib::DataSink& sink) -> bool {
          std::string out;
          if (ctx->error.has_value() || ctx->watch == nullptr) {
            if (ctx->error.has_value()) {
              out = Dump({{"type", "ERROR"}, {"object", *ctx->error}}) + "\n";
            }
            if (!out.empty() && !sink.write(out.data(), out.size()))
              return false;
            sink.done();
            return true;
          }
          if (stopping->load()) {
            sink.done();
            return true;
          }
          // Wake at least once a second to notice a shutdown that raced with
          // this watch's start.
          absl::Time wake = std::min(ctx->end, absl::Now() + absl::Seconds(1));
          if (ctx->bookmarks) wake = std::min(wake, ctx->next_bookmark);
          std::vector<WatchEvent> events;
          int64_t progress = 0;
          wisp::apiserver::Watch::Result r =
              ctx->watch->Next(wake, &events, &progress);
          for (const WatchEvent& e : events) {
            bool as_table =
                ctx->table && e.type != "BOOKMARK" && e.type != "ERROR";
            absl::StrAppend(&out,
                            Dump({{"type", e.type},
                                  {"object", as_table ? TableOf(*ctx, e.object)
                                                      : e.object}}),
                            "\n");
          }
          absl::Time now = absl::Now();
          if (r != wisp::apiserver::Watch::Result::kClosed && ctx->bookmarks &&
              now >= ctx->next_bookmark) {
            Json bookmark = {{"kind", kind},
                             {"apiVersion", api_version},
                             {"metadata",
                              {{"resourceVersion", absl::StrCat(progress)},
                               {"creationTimestamp", nullptr}}}};
            absl::StrAppend(
                &out, Dump({{"type", "BOOKMARK"}, {"object", bookmark}}), "\n");
            ctx->next_bookmark = now + ctx->bookmark_interval;
          }
          if (!out.empty() && !sink.write(out.data(), out.size())) return false;
          if (r == wisp::apiserver::Watch::Result::kClosed || now >= ctx->end)
            sink.done();
          return true;
        },
        [ctx](bool) {
          if (ctx->watch != nullptr) ctx->watch->Close();
        });
  }

  ApiServer& server_;
  Store& store_;
  const httplib::Request& req_;
  httplib::Response& res_;
};

// ---------------------------------------------------------------------------------------------

ApiServer::ApiServer(const Options& options, std::unique_ptr<Store> store)
    : options_(options), store_(std::move(store)) {}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Start(
    const Options& options, std::unique_ptr<Store> store) {
  std::unique_ptr<ApiServer> server(new ApiServer(options, std::move(store)));
  server->server_ = std::make_unique<httplib::Server>();
  httplib::Server& srv = *server->server_;
  int threads = std::max(4, options.threads);
  srv.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  srv.set_tcp_nodelay(true);
  srv.set_keep_alive_max_count(100000);
  srv.set_keep_alive_timeout(options.keep_alive_timeout_seconds);
  srv.set_payload_max_length(options.max_body_bytes);
  ApiServer* self = server.get();
  auto handler = [self](const httplib::Request& req, httplib::Response& res) {
    self->Handle(req, res);
  };
  for (const char* pattern : {"/.*", "/"}) {
    srv.Get(pattern, handler);
    srv.Post(pattern, handler);
    srv.Put(pattern, handler);
    srv.Patch(pattern, handler);
    srv.Delete(pattern, handler);
  }
  srv.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                               std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log::Error("apiserver handler failed", {{"error", what}});
    ReplyError(res, kerr::Internal(absl::StrCat("internal error: ", what)));
  });
  srv.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log::Debug(
        "apiserver request",
        {{"method", req.method}, {"path", req.path}, {"status", res.status}});
  });
  int bound =
      options.port == 0
          ? srv.bind_to_any_port(options.host)
          : (srv.bind_to_port(options.host, options.port) ? options.port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("apiserver cannot listen on ",
                                               options.host, ":", options.port,
                                               " (address in use?)"));
  }
  server->port_ = bound;
  server->thread_ = std::thread([&srv] { srv.listen_after_bind(); });
  return server;
}

ApiServer::~ApiServer() { Stop(); }

std::string ApiServer::url() const {
  return absl::StrCat("http://", options_.host, ":", port_);
}

void ApiServer::Handle(const httplib::Request& req, httplib::Response& res) {
  Handler(*this, req, res).Run();
}

void ApiServer::Stop() {
  bool was_stopping = stopping_.exchange(true);
  if (!was_stopping && store_ != nullptr) store_->CloseWatches();
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace wisp::apiserver
