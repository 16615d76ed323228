#include "operator/apiserver/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/base/log.h"
#include "controller/base/status_macros.h"
#include "operator/apiserver/errors.h"
#include "operator/apiserver/schema.h"

namespace wisp::apiserver {

// ---------------------------------------------------------------------------------------------
// Watches

namespace internal {

struct Pending {
  std::string type;
  std::shared_ptr<const Json> object;  // an object event
  Json literal;  // a BOOKMARK or ERROR object, used when `object` is null
};

struct WatchState {
  // Immutable after construction.
  std::string group, resource, ns, kind, api_version;
  LabelSelector labels;
  FieldSelector fields;
  size_t queue_limit = 0;

  absl::Mutex mu;
  absl::CondVar cv;
  std::deque<Pending> queue ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
  int64_t progress ABSL_GUARDED_BY(mu) = 0;

  bool Matches(const Json& object) const {
    if (!ns.empty() && GetStringPath(object, {"metadata", "namespace"}) != ns)
      return false;
    const Json* labels_json = FindPath(object, {"metadata", "labels"});
    if (!labels.Empty() &&
        !labels.Matches(labels_json != nullptr ? *labels_json : Json())) {
      return false;
    }
    return fields.Empty() || fields.Matches(object);
  }

  // The event this watch sees for a change from `previous` to `object` (either
  // may be null), or "" when it sees none. Selectors turn a change into or out
  // of the selection into ADDED/DELETED, as Kubernetes' watch cache does.
  std::string Classify(const std::string& type, const Json* object,
                       const Json* previous) const {
    if (type == "DELETED")
      return object != nullptr && Matches(*object) ? "DELETED" : "";
    bool now = object != nullptr && Matches(*object);
    bool before = previous != nullptr && Matches(*previous);
    if (type == "ADDED" || previous == nullptr) return now ? "ADDED" : "";
    if (now && before) return "MODIFIED";
    if (now) return "ADDED";
    if (before) return "DELETED";
    return "";
  }

  void Push(Pending p, int64_t rv) {
    absl::MutexLock lock(&mu);
    if (closed) return;
    if (queue.size() >= queue_limit) {
      // A watcher this far behind is dropped; it resumes from its last event
      // (or re-lists).
      log::Warn("watch queue overflow, closing watch",
                {{"resource", resource}});
      queue.clear();
      closed = true;
      cv.SignalAll();
      return;
    }
    queue.push_back(std::move(p));
    progress = rv;
    cv.Signal();
  }

  void Progress(int64_t rv) {
    absl::MutexLock lock(&mu);
    progress = rv;
  }

  bool IsClosed() {
    absl::MutexLock lock(&mu);
    return closed;
  }

  void Close(std::optional<Json> error) {
    absl::MutexLock lock(&mu);
    if (closed) return;
    if (error.has_value())
      queue.push_back({"ERROR", nullptr, std::move(*error)});
    closed = true;
    cv.SignalAll();
  }
};

}  // namespace internal

Watch::Watch(std::shared_ptr<internal::WatchState> state)
    : state_(std::move(state)) {}
Watch::~Watch() { Close(); }
void Watch::Close() { state_->Close(std::nullopt); }
const std::string& Watch::kind() const { return state_->kind; }
const std::string& Watch::api_version() const { return state_->api_version; }

Watch::Result Watch::Next(absl::Time deadline, std::vector<WatchEvent>* out,
                          int64_t* progress) {
  std::deque<internal::Pending> taken;
  bool closed;
  {
    absl::MutexLock lock(&state_->mu);
    while (state_->queue.empty() && !state_->closed) {
      if (state_->cv.WaitWithDeadline(&state_->mu, deadline)) break;
    }
    taken.swap(state_->queue);
    closed = state_->closed;
    *progress = state_->progress;
  }
  for (internal::Pending& p : taken) {
    if (p.object == nullptr) {
      out->push_back({p.type, std::move(p.literal)});
      continue;
    }
    Json object = *p.object;
    object["apiVersion"] = state_->api_version;
    object["kind"] = state_->kind;
    out->push_back({p.type, std::move(object)});
  }
  if (!taken.empty()) return Result::kEvents;
  return closed ? Result::kClosed : Result::kTimeout;
}

// ---------------------------------------------------------------------------------------------
// Helpers

namespace {

constexpr char kSnapshotFile[] = "store.json";

std::string ResourceVersionOf(const Json& object) {
  return GetStringPath(object, {"metadata", "resourceVersion"});
}

absl::Status ValidateShape(const Json& object) {
  if (!object.is_object())
    return kerr::BadRequest("the object must be a JSON object");
  const Json* meta = Find(object, "metadata");
  if (meta == nullptr || meta->is_null()) return absl::OkStatus();
  if (!meta->is_object()) return kerr::BadRequest("metadata must be an object");
  for (const char* field :
       {"name", "generateName", "namespace", "resourceVersion", "uid"}) {
    const Json* v = Find(*meta, field);
    if (v != nullptr && !v->is_null() && !v->is_string()) {
      return kerr::BadRequest(
          absl::StrCat("metadata.", field, " must be a string"));
    }
  }
  for (const char* field : {"labels", "annotations"}) {
    const Json* v = Find(*meta, field);
    if (v == nullptr || v->is_null()) continue;
    if (!v->is_object())
      return kerr::BadRequest(
          absl::StrCat("metadata.", field, " must be a map"));
    for (const Json& value : *v) {
      if (!value.is_string()) {
        return kerr::BadRequest(
            absl::StrCat("metadata.", field, " values must be strings"));
      }
    }
  }
  if (const Json* v = Find(*meta, "finalizers");
      v != nullptr && !v->is_null()) {
    if (!v->is_array())
      return kerr::BadRequest("metadata.finalizers must be a list");
    for (const Json& f : *v) {
      if (!f.is_string())
        return kerr::BadRequest("metadata.finalizers must be strings");
    }
  }
  if (const Json* v = Find(*meta, "ownerReferences");
      v != nullptr && !v->is_null()) {
    if (!v->is_array())
      return kerr::BadRequest("metadata.ownerReferences must be a list");
    for (const Json& ref : *v) {
      if (!ref.is_object() || !Find(ref, "uid") ||
          !Find(ref, "uid")->is_string()) {
        return kerr::BadRequest("metadata.ownerReferences entries need a uid");
      }
    }
  }
  return absl::OkStatus();
}

bool IsDnsLabel(absl::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-')) {
      return false;
    }
  }
  return s.front() != '-' && s.back() != '-';
}

bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view label : absl::StrSplit(s, '.')) {
    if (!IsDnsLabel(label, 63)) return false;
  }
  return true;
}

absl::Status ValidateName(const ResourceType& type, absl::string_view name) {
  auto invalid = [&](absl::string_view why) {
    return kerr::Invalid(absl::StrCat(type.kind, " \"", name,
                                      "\" is invalid: metadata.name: ",
                                      "Invalid value: \"", name, "\": ", why));
  };
  if (name == "." || name == ".." ||
      name.find('/') != absl::string_view::npos ||
      name.find('%') != absl::string_view::npos) {
    return invalid("may not be '.' or '..' and may not contain '/' or '%'");
  }
  if (name.size() > 253) return invalid("must be no more than 253 characters");
  if (type.group.empty() && type.resource == "namespaces" &&
      !IsDnsLabel(name, 63)) {
    return invalid(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric "
        "characters or '-', and must start and end with an alphanumeric "
        "character");
  }
  if (type.custom && !IsDnsSubdomain(name)) {
    return invalid(
        "a lowercase RFC 1123 subdomain must consist of lower case "
        "alphanumeric "
        "characters, '-' or '.', and must start and end with an alphanumeric "
        "character");
  }
  return absl::OkStatus();
}

// Whether the part of the object that metadata.generation counts differs.
bool SpecChanged(const ResourceType& type, const Json& before,
                 const Json& after) {
  if (!type.custom) {
    const Json* a = Find(before, "spec");
    const Json* b = Find(after, "spec");
    if (a == nullptr || b == nullptr) return (a == nullptr) != (b == nullptr);
    return *a != *b;
  }
  Json a = before, b = after;
  for (Json* j : {&a, &b}) {
    j->erase("metadata");
    j->erase("apiVersion");
    j->erase("kind");
    if (type.has_status) j->erase("status");
  }
  return a != b;
}

bool HasFinalizers(const Json& object) {
  const Json* f = FindPath(object, {"metadata", "finalizers"});
  return f != nullptr && f->is_array() && !f->empty();
}

std::string ContinueToken(absl::string_view ns, absl::string_view name) {
  return absl::WebSafeBase64Escape(absl::StrCat(ns, "/", name));
}

}  // namespace

bool Store::Key::operator<(const Key& o) const {
  return std::tie(group, resource, ns, name) <
         std::tie(o.group, o.resource, o.ns, o.name);
}

// ---------------------------------------------------------------------------------------------
// Construction and persistence

Store::Store(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(Options options) {
  std::unique_ptr<Store> store(new Store(std::move(options)));
  if (!store->options_.data_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(store->options_.data_dir, ec);
    if (ec) {
      return absl::UnavailableError(absl::StrCat("cannot create data folder ",
                                                 store->options_.data_dir, ": ",
                                                 ec.message()));
    }
    ABSL_RETURN_IF_ERROR(store->Load());
  }
  std::optional<ResourceType> namespaces =
      store->FindResource("", "v1", "namespaces");
  Commit commit;
  {
    absl::MutexLock lock(&store->mu_);
    int64_t before = store->rv_;
    for (const char* ns :
         {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      if (store->objects_.count(store->KeyOf(*namespaces, "", ns)) > 0)
        continue;
      Json object = {{"metadata", {{"name", ns}}}};
      absl::StatusOr<Json> created =
          store->CreateLocked(*namespaces, "", std::move(object), {});
      if (!created.ok()) return created.status();
    }
    if (store->rv_ != before) commit = store->MakeCommit();
  }
  store->Persist(commit);
  return store;
}

Store::~Store() { CloseWatches(); }

absl::Status Store::Load() {
  std::string path = absl::StrCat(options_.data_dir, "/", kSnapshotFile);
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::OkStatus();  // a new data folder
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<Json> snapshot = ParseJson(buffer.str());
  if (!snapshot.ok()) {
    return absl::DataLossError(absl::StrCat(
        path, " is not a valid snapshot: ", snapshot.status().message()));
  }
  absl::MutexLock lock(&mu_);
  rv_ = GetInt(*snapshot, "resourceVersion").value_or(0);
  const Json* objects = Find(*snapshot, "objects");
  if (objects != nullptr && objects->is_array()) {
    for (const Json& entry : *objects) {
      const Json* object = Find(entry, "object");
      if (object == nullptr || !object->is_object()) continue;
      Key key{GetString(entry, "group"), GetString(entry, "resource"),
              GetStringPath(*object, {"metadata", "namespace"}),
              GetStringPath(*object, {"metadata", "name"})};
      int64_t object_rv = 0;
      if (absl::SimpleAtoi(ResourceVersionOf(*object), &object_rv) &&
          object_rv > rv_) {
        rv_ = object_rv;
      }
      by_uid_[GetStringPath(*object, {"metadata", "uid"})] = key;
      objects_[key] = std::make_shared<const Json>(*object);
    }
  }
  compacted_rv_ = rv_;
  for (const auto& [key, object] : objects_) {
    if (key.group == "apiextensions.k8s.io" &&
        key.resource == "customresourcedefinitions") {
      SyncCrdLocked(object.get(), key.name);
    }
  }
  log::Info("apiserver store loaded",
            {{"path", path},
             {"objects", static_cast<int64_t>(objects_.size())},
             {"resource_version", rv_}});
  return absl::OkStatus();
}

Store::Commit Store::MakeCommit() {
  Commit commit;
  commit.rv = rv_;
  if (options_.data_dir.empty()) return commit;
  Json objects = Json::array();
  for (const auto& [key, object] : objects_) {
    objects.push_back({{"group", key.group},
                       {"resource", key.resource},
                       {"object", *object}});
  }
  Json snapshot = {{"resourceVersion", rv_}, {"objects", std::move(objects)}};
  commit.snapshot = Dump(snapshot);
  return commit;
}

void Store::Persist(const Commit& commit) {
  if (commit.snapshot.empty()) return;
  absl::MutexLock lock(&persist_mu_);
  if (commit.rv <= persisted_rv_)
    return;  // a later snapshot is already on disk
  std::string path = absl::StrCat(options_.data_dir, "/", kSnapshotFile);
  std::string tmp = absl::StrCat(path, ".tmp");
  auto fail = [&](absl::string_view what) {
    ++persist_failures_;
    log::Error("apiserver snapshot write failed",
               {{"path", path}, {"error", what}});
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(strerror(errno));
  const char* data = commit.snapshot.data();
  size_t left = commit.snapshot.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return fail(strerror(errno));
    }
    data += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) return fail(strerror(errno));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(strerror(errno));
  int dir =
      ::open(options_.data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  persisted_rv_ = commit.rv;
}

int64_t Store::persist_failures() const {
  absl::MutexLock lock(&persist_mu_);
  return persist_failures_;
}

// ---------------------------------------------------------------------------------------------
// Small pieces

absl::Time Store::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

std::string Store::NewUid() {
  uint64_t hi = absl::Uniform<uint64_t>(rng_),
           lo = absl::Uniform<uint64_t>(rng_);
  hi = (hi & ~0xF000ull) | 0x4000ull;                  // version 4
  lo = (lo & ~(0xC000ull << 48)) | (0x8000ull << 48);  // RFC 4122 variant
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32,
                         (hi >> 16) & 0xFFFF, hi & 0xFFFF, lo >> 48,
                         lo & 0xFFFFFFFFFFFFull);
}

Store::Key Store::KeyOf(const ResourceType& type, absl::string_view ns,
                        absl::string_view name) const {
  return Key{type.group, type.resource, type.namespaced ? std::string(ns) : "",
             std::string(name)};
}

Json Store::Present(const ResourceType& type, const Json& stored) const {
  Json out = stored;
  out["apiVersion"] = type.ApiVersion();
  out["kind"] = type.kind;
  return out;
}

std::vector<ResourceType> Store::Resources() const {
  absl::ReaderMutexLock lock(&mu_);
  return registry_.All();
}

std::optional<ResourceType> Store::FindResource(
    absl::string_view group, absl::string_view version,
    absl::string_view resource) const {
  absl::ReaderMutexLock lock(&mu_);
  return registry_.Find(group, version, resource);
}

std::optional<ResourceType> Store::TypeOf(const Key& key) const {
  return registry_.FindAnyVersion(key.group, key.resource);
}

int64_t Store::ResourceVersion() const {
  absl::ReaderMutexLock lock(&mu_);
  return rv_;
}

void Store::SyncCrdLocked(const Json* crd, const std::string& name) {
  if (crd == nullptr) {
    registry_.SetCustom(name, {});
    return;
  }
  absl::StatusOr<std::vector<ResourceType>> types = ResourcesFromCrd(*crd);
  if (!types.ok()) {
    log::Warn("ignoring invalid CRD",
              {{"name", name}, {"error", types.status().message()}});
    return;
  }
  registry_.SetCustom(name, *std::move(types));
}

// ---------------------------------------------------------------------------------------------
// Writes

void Store::StoreLocked(const Key& key, std::shared_ptr<Json> object,
                        const std::string& event_type) {
  int64_t rv = ++rv_;
  (*object)["metadata"]["resourceVersion"] = absl::StrCat(rv);
  std::shared_ptr<const Json> stored = std::move(object);
  std::shared_ptr<const Json> previous;
  auto it = objects_.find(key);
  if (it != objects_.end()) previous = it->second;
  if (event_type == "DELETED") {
    if (it != objects_.end()) objects_.erase(it);
    by_uid_.erase(GetStringPath(*stored, {"metadata", "uid"}));
  } else {
    objects_[key] = stored;
    by_uid_[GetStringPath(*stored, {"metadata", "uid"})] = key;
  }

  history_.push_back(
      {rv, key.group, key.resource, event_type, stored, previous});
  while (history_.size() > options_.history_limit) {
    compacted_rv_ = history_.front().rv;
    history_.pop_front();
  }

  std::vector<std::shared_ptr<internal::WatchState>> open;
  open.reserve(watches_.size());
  for (auto& w : watches_) {
    if (w->IsClosed()) continue;
    std::string seen;
    if (w->group == key.group && w->resource == key.resource) {
      seen = w->Classify(event_type, stored.get(), previous.get());
    }
    if (seen.empty()) {
      w->Progress(rv);
    } else {
      w->Push({seen, stored, Json()}, rv);
    }
    open.push_back(std::move(w));
  }
  watches_.swap(open);
}

absl::Status Store::Prepare(const ResourceType& type, Json& object,
                            const Json* previous) {
  std::string name = GetStringPath(object, {"metadata", "name"});
  if (type.group.empty() && type.resource == "namespaces") {
    EnsureObject(EnsureObject(object, "metadata"),
                 "labels")["kubernetes.io/metadata.name"] = name;
    if (previous == nullptr) {
      EnsureObject(object, "status")["phase"] = "Active";
    }
  } else if (type.group == "apps" && type.resource != "daemonsets") {
    Json* spec = FindMutable(object, "spec");
    if (spec != nullptr && spec->is_object() && !spec->contains("replicas")) {
      (*spec)["replicas"] = 1;
    }
  } else if (type.group.empty() && type.resource == "services") {
    Json* spec = FindMutable(object, "spec");
    if (spec != nullptr && spec->is_object()) {
      if (!spec->contains("type")) (*spec)["type"] = "ClusterIP";
      if (GetString(*spec, "type") != "ExternalName" &&
          !spec->contains("clusterIP")) {
        size_t h = std::hash<std::string>()(
            GetStringPath(object, {"metadata", "uid"}));
        std::string ip =
            absl::StrCat("10.96.", (h >> 8) % 256, ".", 1 + h % 254);
        (*spec)["clusterIP"] = ip;
        (*spec)["clusterIPs"] = Json::array({ip});
      }
    }
  } else if (type.group == "apiextensions.k8s.io" &&
             type.resource == "customresourcedefinitions") {
    ASSIGN_OR_RETURN(std::vector<ResourceType> types, ResourcesFromCrd(object));
    (void)types;
    if (previous != nullptr) {
      std::string old_group = GetStringPath(*previous, {"spec", "group"});
      std::string old_scope = GetStringPath(*previous, {"spec", "scope"});
      if (old_group != GetStringPath(object, {"spec", "group"})) {
        return kerr::Invalid(absl::StrCat(
            "CustomResourceDefinition.apiextensions.k8s.io \"", name,
            "\" is invalid: spec.group: field is immutable"));
      }
      if (old_scope != GetStringPath(object, {"spec", "scope"})) {
        return kerr::Invalid(absl::StrCat(
            "CustomResourceDefinition.apiextensions.k8s.io \"", name,
            "\" is invalid: spec.scope: field is immutable"));
      }
    }
    Json names = *FindPath(object, {"spec", "names"});
    std::string kind = GetString(names, "kind");
    if (GetString(names, "singular").empty())
      names["singular"] = absl::AsciiStrToLower(kind);
    if (GetString(names, "listKind").empty())
      names["listKind"] = absl::StrCat(kind, "List");
    std::string now = FormatTimestamp(absl::ToUnixSeconds(Now()));
    Json status = previous != nullptr && Find(*previous, "status") != nullptr
                      ? *Find(*previous, "status")
                      : Json::object();
    if (!status.is_object()) status = Json::object();
    status["acceptedNames"] = names;
    Json conditions = Json::array();
    for (const char* t : {"NamesAccepted", "Established"}) {
      std::string since = now;
      if (const Json* old = Find(status, "conditions");
          old != nullptr && old->is_array()) {
        for (const Json& c : *old) {
          if (GetString(c, "type") == t &&
              !GetString(c, "lastTransitionTime").empty()) {
            since = GetString(c, "lastTransitionTime");
          }
        }
      }
      conditions.push_back(
          {{"type", t},
           {"status", "True"},
           {"lastTransitionTime", since},
           {"reason", t[0] == 'N' ? "NoConflicts" : "InitialNamesAccepted"},
           {"message", t[0] == 'N' ? "no conflicts found"
                                   : "the initial names have been accepted"}});
    }
    status["conditions"] = std::move(conditions);
    Json stored = Json::array();
    if (const Json* versions = FindPath(object, {"spec", "versions"})) {
      for (const Json& v : *versions) {
        const Json* s = Find(v, "storage");
        if (s != nullptr && s->is_boolean() && s->get<bool>())
          stored.push_back(GetString(v, "name"));
      }
    }
    status["storedVersions"] = std::move(stored);
    object["status"] = std::move(status);
  } else if (type.custom && type.schema.is_object()) {
    ApplySchemaDefaults(type.schema, object);
    std::vector<std::string> errors = ValidateSchema(type.schema, object);
    if (!errors.empty()) {
      std::string what =
          errors.size() == 1
              ? errors[0]
              : absl::StrCat("[", absl::StrJoin(errors, ", "), "]");
      return kerr::InvalidFields(absl::StrCat(type.kind, ".", type.group, " \"",
                                              name, "\" is invalid: ", what),
                                 errors);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> Store::CreateLocked(const ResourceType& type,
                                         absl::string_view ns, Json object,
                                         const WriteOptions& options) {
  ABSL_RETURN_IF_ERROR(ValidateShape(object));
  std::string kind = GetString(object, "kind");
  if (!kind.empty() && kind != type.kind) {
    return kerr::BadRequest(
        absl::StrCat("the kind \"", kind, "\" does not match the resource ",
                     type.GroupResource(), " (", type.kind, ")"));
  }
  object["apiVersion"] = type.ApiVersion();
  object["kind"] = type.kind;
  Json& meta = EnsureObject(object, "metadata");
  std::string namespace_name;
  if (type.namespaced) {
    std::string body_ns = GetString(meta, "namespace");
    if (!ns.empty() && !body_ns.empty() && body_ns != ns) {
      return kerr::BadRequest(
          "the namespace of the provided object does not match the namespace "
          "sent on the request");
    }
    namespace_name = ns.empty() ? body_ns : std::string(ns);
    if (namespace_name.empty())
      return kerr::BadRequest("a namespace is required");
    if (!IsDnsLabel(namespace_name, 63)) {
      return kerr::Invalid(absl::StrCat(
          type.kind, " is invalid: metadata.namespace: Invalid value: \"",
          namespace_name, "\""));
    }
    meta["namespace"] = namespace_name;
  } else {
    meta.erase("namespace");
  }
  std::string name = GetString(meta, "name");
  if (name.empty()) {
    std::string prefix = GetString(meta, "generateName");
    if (prefix.empty()) {
      return kerr::Invalid(
          absl::StrCat(type.kind,
                       " is invalid: metadata.name: Required value: name or "
                       "generateName is required"));
    }
    static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    name = prefix;
    for (int i = 0; i < 5; ++i)
      name.push_back(kAlphabet[absl::Uniform(rng_, 0u, 27u)]);
    meta["name"] = name;
  }
  ABSL_RETURN_IF_ERROR(ValidateName(type, name));
  if (type.namespaced && options_.require_namespaces) {
    Key ns_key{"", "namespaces", "", namespace_name};
    if (objects_.count(ns_key) == 0) {
      return kerr::NotFound(
          absl::StrCat("namespaces \"", namespace_name, "\" not found"));
    }
  }
  Key key = KeyOf(type, namespace_name, name);
  if (objects_.count(key) > 0) {
    return kerr::AlreadyExists(
        absl::StrCat(type.GroupResource(), " \"", name, "\" already exists"));
  }
  meta["uid"] = NewUid();
  meta["creationTimestamp"] = FormatTimestamp(absl::ToUnixSeconds(Now()));
  for (const char* k : {"deletionTimestamp", "deletionGracePeriodSeconds",
                        "resourceVersion", "selfLink"}) {
    meta.erase(k);
  }
  if (type.tracks_generation) {
    meta["generation"] = 1;
  } else {
    meta.erase("generation");
  }
  if (type.has_status) object.erase("status");
  ABSL_RETURN_IF_ERROR(Prepare(type, object, nullptr));
  if (options.dry_run) return object;
  auto stored = std::make_shared<Json>(std::move(object));
  StoreLocked(key, stored, "ADDED");
  if (type.group == "apiextensions.k8s.io" &&
      type.resource == "customresourcedefinitions") {
    SyncCrdLocked(stored.get(), name);
  }
  // Kubernetes' garbage collector deletes a dependent whose owners are all gone, also one
  // created after its owner was deleted (a controller racing the delete). Do it at once.
  if (const Json* refs = FindPath(*stored, {"metadata", "ownerReferences"});
      refs != nullptr && refs->is_array() && !refs->empty()) {
    bool owner_left = false;
    for (const Json& ref : *refs) owner_left = owner_left || by_uid_.count(GetString(ref, "uid")) > 0;
    if (!owner_left) RemoveLocked(key, DeleteOptions::Propagation::kBackground);
  }
  return Present(type, *stored);
}

absl::StatusOr<Json> Store::UpdateLocked(const ResourceType& type,
                                         const Key& key, Json object,
                                         Subresource subresource,
                                         const WriteOptions& options) {
  ABSL_RETURN_IF_ERROR(ValidateShape(object));
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    if (subresource == Subresource::kMain && type.allow_create_on_update) {
      EnsureObject(object, "metadata")["name"] = key.name;
      return CreateLocked(type, key.ns, std::move(object), options);
    }
    return kerr::NotFound(
        absl::StrCat(type.GroupResource(), " \"", key.name, "\" not found"));
  }
  const Json& current = *it->second;
  std::string current_rv = ResourceVersionOf(current);
  std::string body_rv = ResourceVersionOf(object);
  if (!body_rv.empty() && body_rv != current_rv) {
    return kerr::Conflict(
        absl::StrCat("Operation cannot be fulfilled on ", type.GroupResource(),
                     " \"", key.name,
                     "\": the object has been modified; please apply your "
                     "changes to the latest version and "
                     "try again"));
  }
  std::string body_name = GetStringPath(object, {"metadata", "name"});
  if (!body_name.empty() && body_name != key.name) {
    return kerr::BadRequest(
        absl::StrCat("the name of the object (", body_name,
                     ") does not match the name on the URL (", key.name, ")"));
  }
  std::string body_ns = GetStringPath(object, {"metadata", "namespace"});
  if (type.namespaced && !body_ns.empty() && body_ns != key.ns) {
    return kerr::BadRequest(
        "the namespace of the provided object does not match the namespace "
        "sent on the request");
  }
  std::string kind = GetString(object, "kind");
  if (!kind.empty() && kind != type.kind) {
    return kerr::BadRequest(
        absl::StrCat("the kind \"", kind, "\" does not match the resource ",
                     type.GroupResource(), " (", type.kind, ")"));
  }

  Json result;
  if (subresource == Subresource::kStatus) {
    result = current;
    if (const Json* status = Find(object, "status");
        status != nullptr && !status->is_null()) {
      result["status"] = *status;
    } else {
      result.erase("status");
    }
  } else {
    result = std::move(object);
    Json& meta = EnsureObject(result, "metadata");
    const Json& old_meta = *Find(current, "metadata");
    meta["name"] = key.name;
    if (type.namespaced) meta["namespace"] = key.ns;
    for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation"}) {
      if (const Json* v = Find(old_meta, k)) {
        meta[k] = *v;
      } else {
        meta.erase(k);
      }
    }
    if (!meta.contains("managedFields")) {
      if (const Json* v = Find(old_meta, "managedFields"))
        meta["managedFields"] = *v;
    }
    meta.erase("selfLink");
    if (type.has_status) {
      if (const Json* status = Find(current, "status")) {
        result["status"] = *status;
      } else {
        result.erase("status");
      }
    }
  }
  result["apiVersion"] = GetString(current, "apiVersion");
  result["kind"] = type.kind;
  if (type.tracks_generation && SpecChanged(type, current, result)) {
    int64_t generation =
        GetInt(*Find(current, "metadata"), "generation").value_or(0);
    result["metadata"]["generation"] = generation + 1;
  }
  ABSL_RETURN_IF_ERROR(Prepare(type, result, &current));
  result["metadata"]["resourceVersion"] = current_rv;
  if (result == current)
    return Present(type, current);  // no-op: no new version, no event
  if (options.dry_run) return Present(type, result);

  bool finished = Find(result["metadata"], "deletionTimestamp") != nullptr &&
                  !HasFinalizers(result);
  auto stored = std::make_shared<Json>(std::move(result));
  StoreLocked(key, stored, "MODIFIED");
  if (type.group == "apiextensions.k8s.io" &&
      type.resource == "customresourcedefinitions") {
    SyncCrdLocked(stored.get(), key.name);
  }
  Json out = Present(type, *stored);
  if (finished) RemoveLocked(key, DeleteOptions::Propagation::kBackground);
  return out;
}

absl::StatusOr<Json> Store::DeleteLocked(const ResourceType& type,
                                         const Key& key,
                                         const DeleteOptions& options) {
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return kerr::NotFound(
        absl::StrCat(type.GroupResource(), " \"", key.name, "\" not found"));
  }
  const Json& current = *it->second;
  std::string uid = GetStringPath(current, {"metadata", "uid"});
  if (!options.precondition_uid.empty() && options.precondition_uid != uid) {
    return kerr::Conflict(absl::StrCat(
        "Precondition failed: UID in precondition: ", options.precondition_uid,
        ", UID in object meta: ", uid));
  }
  std::string rv = ResourceVersionOf(current);
  if (!options.precondition_resource_version.empty() &&
      options.precondition_resource_version != rv) {
    return kerr::Conflict(
        absl::StrCat("Precondition failed: ResourceVersion in precondition: ",
                     options.precondition_resource_version,
                     ", ResourceVersion in object meta: ", rv));
  }
  if (options.dry_run) return Present(type, current);
  if (HasFinalizers(current)) {
    if (FindPath(current, {"metadata", "deletionTimestamp"}) != nullptr) {
      return Present(type, current);
    }
    auto marked = std::make_shared<Json>(current);
    Json& meta = (*marked)["metadata"];
    meta["deletionTimestamp"] = FormatTimestamp(absl::ToUnixSeconds(Now()));
    meta["deletionGracePeriodSeconds"] = 0;
    if (type.tracks_generation)
      meta["generation"] = GetInt(meta, "generation").value_or(0) + 1;
    StoreLocked(key, marked, "MODIFIED");
    return Present(type, *marked);
  }
  Json deleted = current;
  int64_t deletion_rv = rv_ + 1;  // RemoveLocked deletes this object first
  RemoveLocked(key, options.propagation);
  deleted["metadata"]["resourceVersion"] = absl::StrCat(deletion_rv);
  return Present(type, deleted);
}

void Store::RemoveLocked(const Key& first,
                         DeleteOptions::Propagation propagation) {
  // Deletes, or marks for deletion when finalizers hold it, one object found by
  // a cascade.
  std::deque<Key> work = {first};
  auto delete_or_mark = [&](const Key& k) {
    auto it = objects_.find(k);
    if (it == objects_.end()) return;
    if (!HasFinalizers(*it->second)) {
      work.push_back(k);
      return;
    }
    if (FindPath(*it->second, {"metadata", "deletionTimestamp"}) != nullptr)
      return;
    auto marked = std::make_shared<Json>(*it->second);
    (*marked)["metadata"]["deletionTimestamp"] =
        FormatTimestamp(absl::ToUnixSeconds(Now()));
    (*marked)["metadata"]["deletionGracePeriodSeconds"] = 0;
    StoreLocked(k, marked, "MODIFIED");
  };

  bool first_item = true;
  while (!work.empty()) {
    Key key = work.front();
    work.pop_front();
    auto it = objects_.find(key);
    if (it == objects_.end()) continue;
    std::string uid = GetStringPath(*it->second, {"metadata", "uid"});
    std::shared_ptr<const Json> gone = it->second;
    StoreLocked(key, std::make_shared<Json>(*gone), "DELETED");
    DeleteOptions::Propagation policy =
        first_item ? propagation : DeleteOptions::Propagation::kBackground;
    first_item = false;

    if (key.group.empty() && key.resource == "namespaces") {
      std::vector<Key> contents;
      for (const auto& [k, v] : objects_) {
        if (!k.ns.empty() && k.ns == key.name) contents.push_back(k);
      }
      for (const Key& k : contents) delete_or_mark(k);
    }
    if (key.group == "apiextensions.k8s.io" &&
        key.resource == "customresourcedefinitions") {
      std::string group = GetStringPath(*gone, {"spec", "group"});
      std::string plural = GetStringPath(*gone, {"spec", "names", "plural"});
      std::vector<Key> instances;
      for (const auto& [k, v] : objects_) {
        if (k.group == group && k.resource == plural) instances.push_back(k);
      }
      for (const Key& k : instances)
        StoreLocked(k, std::make_shared<Json>(*objects_[k]), "DELETED");
      SyncCrdLocked(nullptr, key.name);
    }

    // Dependents: objects whose ownerReferences name the deleted uid.
    std::vector<Key> dependents;
    for (const auto& [k, v] : objects_) {
      const Json* refs = FindPath(*v, {"metadata", "ownerReferences"});
      if (refs == nullptr || !refs->is_array()) continue;
      for (const Json& ref : *refs) {
        if (GetString(ref, "uid") == uid) {
          dependents.push_back(k);
          break;
        }
      }
    }
    for (const Key& k : dependents) {
      const Json& dependent = *objects_[k];
      if (policy == DeleteOptions::Propagation::kOrphan) {
        auto orphan = std::make_shared<Json>(dependent);
        Json kept = Json::array();
        for (const Json& ref : (*orphan)["metadata"]["ownerReferences"]) {
          if (GetString(ref, "uid") != uid) kept.push_back(ref);
        }
        if (kept.empty()) {
          (*orphan)["metadata"].erase("ownerReferences");
        } else {
          (*orphan)["metadata"]["ownerReferences"] = std::move(kept);
        }
        StoreLocked(k, orphan, "MODIFIED");
        continue;
      }
      // Kubernetes' garbage collector keeps a dependent while any owner still
      // exists.
      bool owner_left = false;
      for (const Json& ref :
           *FindPath(dependent, {"metadata", "ownerReferences"})) {
        std::string owner = GetString(ref, "uid");
        owner_left = owner_left || (owner != uid && by_uid_.count(owner) > 0);
      }
      if (!owner_left) delete_or_mark(k);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Public operations

absl::StatusOr<Json> Store::Create(const ResourceType& type,
                                   absl::string_view ns, Json object,
                                   const WriteOptions& options) {
  Commit commit;
  absl::StatusOr<Json> result;
  {
    absl::MutexLock lock(&mu_);
    int64_t before = rv_;
    result = CreateLocked(type, ns, std::move(object), options);
    if (rv_ != before) commit = MakeCommit();
  }
  Persist(commit);
  return result;
}

absl::StatusOr<Json> Store::Get(const ResourceType& type, absl::string_view ns,
                                absl::string_view name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = objects_.find(KeyOf(type, ns, name));
  if (it == objects_.end()) {
    return kerr::NotFound(
        absl::StrCat(type.GroupResource(), " \"", name, "\" not found"));
  }
  return Present(type, *it->second);
}

absl::StatusOr<ListResult> Store::List(const ResourceType& type,
                                       absl::string_view ns,
                                       const ListOptions& options) const {
  std::string after;
  if (!options.continue_token.empty() &&
      !absl::WebSafeBase64Unescape(options.continue_token, &after)) {
    return kerr::BadRequest("invalid continue token");
  }
  absl::ReaderMutexLock lock(&mu_);
  ListResult result;
  result.resource_version = rv_;
  std::string scope_ns = type.namespaced ? std::string(ns) : "";
  auto it = objects_.lower_bound(Key{type.group, type.resource, scope_ns, ""});
  for (; it != objects_.end(); ++it) {
    const Key& k = it->first;
    if (k.group != type.group || k.resource != type.resource) break;
    if (!scope_ns.empty() && k.ns != scope_ns) break;
    if (!after.empty() && absl::StrCat(k.ns, "/", k.name) <= after) continue;
    const Json& object = *it->second;
    const Json* labels = FindPath(object, {"metadata", "labels"});
    if (!options.labels.Empty() &&
        !options.labels.Matches(labels ? *labels : Json()))
      continue;
    if (!options.fields.Empty() && !options.fields.Matches(object)) continue;
    if (options.limit > 0 &&
        static_cast<int64_t>(result.items.size()) >= options.limit) {
      if (result.continue_token.empty()) {
        const Json& last = result.items.back();
        result.continue_token =
            ContinueToken(GetStringPath(last, {"metadata", "namespace"}),
                          GetStringPath(last, {"metadata", "name"}));
      }
      ++result.remaining;
      continue;
    }
    result.items.push_back(Present(type, object));
  }
  return result;
}

absl::StatusOr<Json> Store::Update(const ResourceType& type,
                                   absl::string_view ns, absl::string_view name,
                                   Json object, Subresource subresource,
                                   const WriteOptions& options) {
  Commit commit;
  absl::StatusOr<Json> result;
  {
    absl::MutexLock lock(&mu_);
    int64_t before = rv_;
    result = UpdateLocked(type, KeyOf(type, ns, name), std::move(object),
                          subresource, options);
    if (rv_ != before) commit = MakeCommit();
  }
  Persist(commit);
  return result;
}

absl::StatusOr<Store::MutateResult> Store::Mutate(const ResourceType& type,
                                                  absl::string_view ns,
                                                  absl::string_view name,
                                                  Subresource subresource,
                                                  const Mutation& mutation,
                                                  const WriteOptions& options) {
  Commit commit;
  absl::StatusOr<MutateResult> result;
  {
    absl::MutexLock lock(&mu_);
    int64_t before = rv_;
    Key key = KeyOf(type, ns, name);
    auto it = objects_.find(key);
    std::optional<Json> view;
    if (it != objects_.end()) view = Present(type, *it->second);
    absl::StatusOr<Json> next = mutation(view.has_value() ? &*view : nullptr);
    if (!next.ok()) {
      result = next.status();
    } else if (!view.has_value()) {
      Json& meta = EnsureObject(*next, "metadata");
      std::string body_name = GetString(meta, "name");
      if (!body_name.empty() && body_name != name) {
        result = kerr::BadRequest(
            absl::StrCat("the name of the object (", body_name,
                         ") does not match the name on the URL (", name, ")"));
      } else {
        meta["name"] = std::string(name);
        absl::StatusOr<Json> created =
            CreateLocked(type, ns, *std::move(next), options);
        if (created.ok()) {
          result = MutateResult{*std::move(created), true};
        } else {
          result = created.status();
        }
      }
    } else {
      absl::StatusOr<Json> updated =
          UpdateLocked(type, key, *std::move(next), subresource, options);
      if (updated.ok()) {
        result = MutateResult{*std::move(updated), false};
      } else {
        result = updated.status();
      }
    }
    if (rv_ != before) commit = MakeCommit();
  }
  Persist(commit);
  return result;
}

absl::StatusOr<Json> Store::Delete(const ResourceType& type,
                                   absl::string_view ns, absl::string_view name,
                                   const DeleteOptions& options) {
  Commit commit;
  absl::StatusOr<Json> result;
  {
    absl::MutexLock lock(&mu_);
    int64_t before = rv_;
    result = DeleteLocked(type, KeyOf(type, ns, name), options);
    if (rv_ != before) commit = MakeCommit();
  }
  Persist(commit);
  return result;
}

absl::StatusOr<std::vector<Json>> Store::DeleteCollection(
    const ResourceType& type, absl::string_view ns,
    const ListOptions& selection, const DeleteOptions& options) {
  ListOptions all = selection;
  all.limit = 0;
  all.continue_token.clear();
  Commit commit;
  std::vector<Json> deleted;
  {
    absl::MutexLock lock(&mu_);
    int64_t before = rv_;
    std::vector<Key> keys;
    std::string scope_ns = type.namespaced ? std::string(ns) : "";
    for (auto it =
             objects_.lower_bound(Key{type.group, type.resource, scope_ns, ""});
         it != objects_.end(); ++it) {
      const Key& k = it->first;
      if (k.group != type.group || k.resource != type.resource) break;
      if (!scope_ns.empty() && k.ns != scope_ns) break;
      const Json* labels = FindPath(*it->second, {"metadata", "labels"});
      if (!all.labels.Empty() && !all.labels.Matches(labels ? *labels : Json()))
        continue;
      if (!all.fields.Empty() && !all.fields.Matches(*it->second)) continue;
      keys.push_back(k);
    }
    for (const Key& k : keys) {
      absl::StatusOr<Json> one = DeleteLocked(type, k, options);
      if (one.ok()) deleted.push_back(*std::move(one));
    }
    if (rv_ != before) commit = MakeCommit();
  }
  Persist(commit);
  return deleted;
}

absl::StatusOr<std::unique_ptr<Watch>> Store::StartWatch(
    const ResourceType& type, absl::string_view ns,
    const WatchOptions& options) {
  bool initial =
      options.resource_version.empty() || options.resource_version == "0";
  int64_t from = 0;
  if (!initial && !absl::SimpleAtoi(options.resource_version, &from)) {
    return kerr::BadRequest(absl::StrCat("invalid resourceVersion \"",
                                         options.resource_version, "\""));
  }
  auto state = std::make_shared<internal::WatchState>();
  state->group = type.group;
  state->resource = type.resource;
  state->ns = type.namespaced ? std::string(ns) : "";
  state->kind = type.kind;
  state->api_version = type.ApiVersion();
  state->labels = options.labels;
  state->fields = options.fields;
  state->queue_limit = options_.watch_queue_limit;

  absl::MutexLock lock(&mu_);
  {
    absl::MutexLock state_lock(&state->mu);
    if (initial) {
      for (auto it = objects_.lower_bound(
               Key{type.group, type.resource, state->ns, ""});
           it != objects_.end(); ++it) {
        const Key& k = it->first;
        if (k.group != type.group || k.resource != type.resource) break;
        if (!state->ns.empty() && k.ns != state->ns) break;
        if (state->Matches(*it->second))
          state->queue.push_back({"ADDED", it->second, Json()});
      }
      if (options.initial_events_end_bookmark) {
        Json bookmark = {
            {"kind", type.kind},
            {"apiVersion", type.ApiVersion()},
            {"metadata",
             {{"resourceVersion", absl::StrCat(rv_)},
              {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
        state->queue.push_back({"BOOKMARK", nullptr, std::move(bookmark)});
      }
    } else {
      if (from < compacted_rv_) {
        return kerr::Expired(absl::StrCat("too old resource version: ", from,
                                          " (", compacted_rv_, ")"));
      }
      for (const HistoryEvent& e : history_) {
        if (e.rv <= from || e.group != type.group ||
            e.resource != type.resource)
          continue;
        std::string seen =
            state->Classify(e.type, e.object.get(), e.previous.get());
        if (!seen.empty()) state->queue.push_back({seen, e.object, Json()});
      }
    }
    state->progress = rv_;
  }
  watches_.push_back(state);
  return std::make_unique<Watch>(state);
}

void Store::Compact() {
  absl::MutexLock lock(&mu_);
  history_.clear();
  compacted_rv_ = rv_;
}

void Store::ExpireWatches() {
  absl::MutexLock lock(&mu_);
  int64_t rv = rv_;
  for (auto& w : watches_) {
    w->Close(StatusObject(kerr::Expired(
        absl::StrCat("too old resource version: watch expired at ", rv))));
  }
  watches_.clear();
}

int Store::OpenWatches() const {
  absl::ReaderMutexLock lock(&mu_);
  int open = 0;
  for (const auto& w : watches_) open += w->IsClosed() ? 0 : 1;
  return open;
}

void Store::CloseWatches() {
  absl::MutexLock lock(&mu_);
  for (auto& w : watches_) w->Close(std::nullopt);
  watches_.clear();
}

}  // namespace wisp::apiserver
