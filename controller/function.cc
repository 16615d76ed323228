#include "controller/function.h"

#include "controller/schedule.h"

#include <algorithm>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace wisp {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Parsing

std::string Path(absl::string_view parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

std::string Index(absl::string_view parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

// What a value of the wrong type was, for "must be an integer, got a string".
std::string Got(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "a string";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::array:
      return "a list";
    case json::value_t::object:
      return "an object";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
      return v.dump();
    default:
      return v.type_name();
  }
}

// Reads typed fields, recording a violation for each value of the wrong type.
class Reader {
 public:
  explicit Reader(std::vector<Violation>* out) : out_(out) {}

  void Error(std::string field, std::string message) {
    out_->push_back({std::move(field), std::move(message)});
  }

  // The value at obj[key]; nullptr when absent or null.
  static const json* Get(const json& obj, absl::string_view key) {
    auto it = obj.find(std::string(key));
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  const json* Object(const json& obj, absl::string_view key, const std::string& path) {
    const json* v = Get(obj, key);
    if (v != nullptr && !v->is_object()) {
      Error(path, absl::StrCat("must be an object, got ", Got(*v)));
      return nullptr;
    }
    return v;
  }

  const json* Array(const json& obj, absl::string_view key, const std::string& path) {
    const json* v = Get(obj, key);
    if (v != nullptr && !v->is_array()) {
      Error(path, absl::StrCat("must be a list, got ", Got(*v)));
      return nullptr;
    }
    return v;
  }

  std::optional<std::string> String(const json& obj, absl::string_view key,
                                    const std::string& path) {
    const json* v = Get(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      Error(path, absl::StrCat("must be a string, got ", Got(*v)));
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<bool> Bool(const json& obj, absl::string_view key, const std::string& path) {
    const json* v = Get(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      Error(path, absl::StrCat("must be true or false, got ", Got(*v)));
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<int64_t> Int(const json& obj, absl::string_view key, const std::string& path) {
    const json* v = Get(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer()) {
      Error(path, absl::StrCat("must be an integer, got ", Got(*v)));
      return std::nullopt;
    }
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return std::numeric_limits<int64_t>::max();  // Still "above the maximum".
    }
    return v->get<int64_t>();
  }

  // {name: "..."} at obj[key]: the name, "" when the object has none.
  std::optional<std::string> NameRef(const json& obj, absl::string_view key,
                                     const std::string& path) {
    const json* ref = Object(obj, key, path);
    if (ref == nullptr) return std::nullopt;
    return String(*ref, "name", Path(path, "name")).value_or("");
  }

  std::optional<DestinationSpec> Destination(const json& obj, absl::string_view key,
                                             const std::string& path) {
    const json* d = Object(obj, key, path);
    if (d == nullptr) return std::nullopt;
    DestinationSpec dest;
    dest.stream = String(*d, "stream", Path(path, "stream"));
    dest.function = String(*d, "function", Path(path, "function"));
    return dest;
  }

 private:
  std::vector<Violation>* out_;
};

void ParseSpec(Reader& r, const json& spec, FunctionSpec& out) {
  out.runtime = r.String(spec, "runtime", "spec.runtime");
  out.handler = r.String(spec, "handler", "spec.handler");
  if (const json* code = r.Object(spec, "code", "spec.code")) {
    out.code.inline_source = r.String(*code, "inline", "spec.code.inline");
    out.code.file_name = r.String(*code, "fileName", "spec.code.fileName");
    out.code.config_map_name = r.NameRef(*code, "configMap", "spec.code.configMap");
  }
  out.image = r.String(spec, "image", "spec.image");
  out.memory_mb = r.Int(spec, "memoryMB", "spec.memoryMB");
  out.timeout_seconds = r.Int(spec, "timeoutSeconds", "spec.timeoutSeconds");
  out.ephemeral_storage_mb = r.Int(spec, "ephemeralStorageMB", "spec.ephemeralStorageMB");
  if (const json* env = r.Object(spec, "environment", "spec.environment")) {
    for (auto it = env->begin(); it != env->end(); ++it) {
      if (!it->is_string()) {
        r.Error(absl::StrCat("spec.environment[", it.key(), "]"),
                absl::StrCat("must be a string, got ", Got(*it)));
        continue;
      }
      out.environment.emplace_back(it.key(), it->get<std::string>());
    }
  }
  if (const json* layers = r.Array(spec, "layers", "spec.layers")) {
    for (size_t i = 0; i < layers->size(); ++i) {
      const json& item = (*layers)[i];
      std::string path = Index("spec.layers", i);
      if (!item.is_object()) {
        r.Error(path, absl::StrCat("must be an object, got ", Got(item)));
        continue;
      }
      LayerSpec layer;
      layer.config_map_name = r.NameRef(item, "configMap", Path(path, "configMap"));
      layer.image = r.String(item, "image", Path(path, "image"));
      out.layers.push_back(std::move(layer));
    }
  }
  if (const json* c = r.Object(spec, "concurrency", "spec.concurrency")) {
    out.concurrency.per_instance = r.Int(*c, "perInstance", "spec.concurrency.perInstance");
    out.concurrency.reserved = r.Int(*c, "reserved", "spec.concurrency.reserved");
  }
  if (const json* s = r.Object(spec, "scaling", "spec.scaling")) {
    out.scaling.min_scale = r.Int(*s, "minScale", "spec.scaling.minScale");
    out.scaling.max_scale = r.Int(*s, "maxScale", "spec.scaling.maxScale");
    out.scaling.target = r.Int(*s, "target", "spec.scaling.target");
    out.scaling.scale_to_zero_after_seconds =
        r.Int(*s, "scaleToZeroAfterSeconds", "spec.scaling.scaleToZeroAfterSeconds");
  }
  if (const json* a = r.Object(spec, "async", "spec.async")) {
    out.async.max_retries = r.Int(*a, "maxRetries", "spec.async.maxRetries");
    out.async.max_event_age_seconds =
        r.Int(*a, "maxEventAgeSeconds", "spec.async.maxEventAgeSeconds");
    out.async.on_failure = r.Destination(*a, "onFailure", "spec.async.onFailure");
    out.async.on_success = r.Destination(*a, "onSuccess", "spec.async.onSuccess");
  }
  if (const json* triggers = r.Array(spec, "triggers", "spec.triggers")) {
    for (size_t i = 0; i < triggers->size(); ++i) {
      const json& item = (*triggers)[i];
      std::string path = Index("spec.triggers", i);
      if (!item.is_object()) {
        r.Error(path, absl::StrCat("must be an object, got ", Got(item)));
        continue;
      }
      TriggerSpec trigger;
      std::string http_path = Path(path, "http");
      if (const json* http = r.Object(item, "http", http_path)) {
        HttpTriggerSpec h;
        h.path = r.String(*http, "path", Path(http_path, "path"));
        h.async = r.Bool(*http, "async", Path(http_path, "async"));
        std::string methods_path = Path(http_path, "methods");
        if (const json* methods = r.Array(*http, "methods", methods_path)) {
          h.methods.emplace();
          for (size_t m = 0; m < methods->size(); ++m) {
            const json& method = (*methods)[m];
            if (!method.is_string()) {
              r.Error(Index(methods_path, m), absl::StrCat("must be a string, got ", Got(method)));
              continue;
            }
            h.methods->push_back(method.get<std::string>());
          }
        }
        trigger.http = std::move(h);
      }
      std::string queue_path = Path(path, "queue");
      if (const json* queue = r.Object(item, "queue", queue_path)) {
        QueueTriggerSpec q;
        q.stream = r.String(*queue, "stream", Path(queue_path, "stream"));
        q.batch_size = r.Int(*queue, "batchSize", Path(queue_path, "batchSize"));
        q.batch_window_seconds =
            r.Int(*queue, "batchWindowSeconds", Path(queue_path, "batchWindowSeconds"));
        q.max_receive_count = r.Int(*queue, "maxReceiveCount", Path(queue_path, "maxReceiveCount"));
        trigger.queue = std::move(q);
      }
      std::string schedule_path = Path(path, "schedule");
      if (const json* schedule = r.Object(item, "schedule", schedule_path)) {
        ScheduleTriggerSpec s;
        s.expression = r.String(*schedule, "expression", Path(schedule_path, "expression"));
        trigger.schedule = std::move(s);
      }
      out.triggers.push_back(std::move(trigger));
    }
  }
  out.service_account_name = r.String(spec, "serviceAccountName", "spec.serviceAccountName");
  out.replicas = r.Int(spec, "replicas", "spec.replicas");
}

// ---------------------------------------------------------------------------------------------
// Validation

bool IsLabelChar(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-'; }

// [a-z0-9]([-a-z0-9]*[a-z0-9])? without a length limit.
bool IsLabelShape(absl::string_view s) {
  if (s.empty() || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), IsLabelChar);
}

bool HasWhitespace(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return absl::ascii_isspace(c); });
}

// A plain file name that is also a ConfigMap key: [A-Za-z0-9_][A-Za-z0-9._-]*, at most 253
// characters (the CRD's pattern; a ConfigMap key allows no more).
bool IsPlainFileName(absl::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

// A literal segment of an HTTP path: RFC 3986 path characters, as the CRD's pattern allows.
bool IsPathChar(char c) {
  return absl::ascii_isalnum(c) || absl::StrContains("._~!$&()*,;=:@%-", c);
}

// {param} and {proxy+} names: [A-Za-z_][A-Za-z0-9_]*.
bool IsParamName(absl::string_view s) {
  if (s.empty() || absl::ascii_isdigit(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

std::string Quote(absl::string_view s) { return absl::StrCat("\"", s, "\""); }

// "python3.11, nodejs20, provided", from the worker's own runtime table.
std::string SupportedRuntimes() {
  std::string message(ParseRuntime("").status().message());
  constexpr char kUseOneOf[] = "use one of ";
  size_t at = message.find(kUseOneOf);
  return at == std::string::npos ? message : message.substr(at + sizeof(kUseOneOf) - 1);
}

constexpr absl::string_view kNameRule =
    "use at most 63 lowercase letters, digits and '-', starting with a letter and ending with a "
    "letter or digit";

class Validator {
 public:
  // `given` is the Function as written, `f` the same with defaults applied.
  Validator(const Function& given, const Function& f) : given_(given), f_(f) {}

  std::vector<Violation> Run() && {
    Name();
    RuntimeAndHandler();
    Code();
    Bound("spec.memoryMB", f_.spec.memory_mb, kMinMemoryMB, kMaxMemoryMB);
    Bound("spec.timeoutSeconds", f_.spec.timeout_seconds, kMinTimeoutSeconds, kMaxTimeoutSeconds);
    Bound("spec.ephemeralStorageMB", f_.spec.ephemeral_storage_mb, kMinEphemeralStorageMB,
          kMaxEphemeralStorageMB);
    Environment();
    Layers();
    ConcurrencyAndScaling();
    Async();
    Triggers();
    if (const auto& sa = f_.spec.service_account_name; sa && !IsDns1123Subdomain(*sa)) {
      Error("spec.serviceAccountName",
            absl::StrCat(Quote(*sa), " is not a valid ServiceAccount name"));
    }
    Bound("spec.replicas", f_.spec.replicas, 0, std::numeric_limits<int32_t>::max());
    return std::move(out_);
  }

 private:
  void Error(std::string field, std::string message) {
    out_.push_back({std::move(field), std::move(message)});
  }

  // Returns false (and records why) when the value is outside [lo, hi].
  bool Bound(const std::string& field, const std::optional<int64_t>& v, int64_t lo, int64_t hi) {
    if (!v) return true;
    if (*v < lo) {
      Error(field, absl::StrCat(*v, " is below the minimum ", lo));
      return false;
    }
    if (*v > hi) {
      Error(field, absl::StrCat(*v, " is above the maximum ", hi));
      return false;
    }
    return true;
  }

  // Returns false (and records why) when the string is absent, blank or longer than `max`.
  bool Required(const std::string& field, const std::optional<std::string>& v, size_t max) {
    if (!v || absl::StripAsciiWhitespace(*v).empty()) {
      Error(field, "required");
      return false;
    }
    if (v->size() > max) {
      Error(field, absl::StrCat("is ", v->size(), " characters, above the maximum ", max));
      return false;
    }
    return true;
  }

  // A non-empty string without whitespace (an image reference, a stream name).
  void Word(const std::string& field, const std::string& value, size_t max) {
    if (Required(field, value, max) && HasWhitespace(value)) {
      Error(field, absl::StrCat(Quote(value), " must not contain whitespace"));
    }
  }

  void ConfigMapName(const std::string& field, const std::string& name) {
    if (name.empty()) {
      Error(field, "required");
    } else if (!IsDns1123Subdomain(name)) {
      Error(field, absl::StrCat(Quote(name), " is not a valid ConfigMap name"));
    }
  }

  void FunctionName(const std::string& field, const std::string& name) {
    if (name.empty()) {
      Error(field, "required");
    } else if (!IsDns1035Label(name)) {
      Error(field, absl::StrCat(Quote(name), " is not a valid function name: ", kNameRule));
    }
  }

  void Name() { FunctionName("metadata.name", f_.metadata.name); }

  void RuntimeAndHandler() {
    const auto& runtime = f_.spec.runtime;
    bool needs_handler = false;
    if (!runtime) {
      Error("spec.runtime", absl::StrCat("required: use one of ", SupportedRuntimes()));
    } else if (absl::StatusOr<Runtime> r = ParseRuntime(*runtime); !r.ok()) {
      Error("spec.runtime", std::string(absl::StripPrefix(r.status().message(), "runtime ")));
    } else {
      needs_handler = *r != Runtime::kProvided;
    }
    const auto& handler = f_.spec.handler;
    if (!handler || handler->empty()) {
      if (needs_handler) {
        Error("spec.handler",
              absl::StrCat("required for runtime ", *runtime, " (e.g. app.handler)"));
      } else if (handler) {
        Error("spec.handler", "must not be empty: leave it out instead");
      }
      return;
    }
    if (static_cast<int64_t>(handler->size()) > kMaxHandlerLength) {
      Error("spec.handler", absl::StrCat("is ", handler->size(), " characters, above the maximum ",
                                         kMaxHandlerLength));
    }
    if (HasWhitespace(*handler)) {
      Error("spec.handler", absl::StrCat(Quote(*handler), " must not contain whitespace"));
    }
  }

  void Code() {
    const CodeSpec& code = f_.spec.code;
    std::vector<absl::string_view> sources;
    if (code.inline_source) sources.push_back("code.inline");
    if (code.config_map_name) sources.push_back("code.configMap");
    if (f_.spec.image) sources.push_back("image");
    if (sources.empty()) {
      Error("spec.code", "required: set exactly one of code.inline, code.configMap or image");
    } else if (sources.size() > 1) {
      Error("spec.code", absl::StrCat("set exactly one of code.inline, code.configMap or image, "
                                      "not ",
                                      absl::StrJoin(sources, " and ")));
    }
    if (code.inline_source &&
        static_cast<int64_t>(code.inline_source->size()) > kMaxInlineCodeBytes) {
      Error("spec.code.inline",
            absl::StrCat(code.inline_source->size(), " bytes is above the maximum ",
                         kMaxInlineCodeBytes, " (256 KiB)"));
    }
    if (code.file_name) {
      if (!code.inline_source) {
        Error("spec.code.fileName", "only allowed with spec.code.inline");
      } else if (!IsPlainFileName(*code.file_name)) {
        bool defaulted = !given_.spec.code.file_name.has_value();
        Error("spec.code.fileName",
              absl::StrCat(Quote(*code.file_name),
                           defaulted ? " (the default from spec.handler)" : "",
                           " is not a plain file name: use letters, digits, '.', '_' and '-', "
                           "starting with a letter, digit or '_'"));
      }
    }
    if (code.config_map_name) ConfigMapName("spec.code.configMap.name", *code.config_map_name);
    if (f_.spec.image) Word("spec.image", *f_.spec.image, kMaxImageLength);
  }

  void Environment() {
    for (const auto& [key, value] : f_.spec.environment) {
      std::string field = absl::StrCat("spec.environment[", key, "]");
      if (IsReservedEnvironmentKey(key)) {
        Error(field, absl::StrCat(key, " is reserved by the platform"));
      } else if (!IsValidEnvironmentKey(key)) {
        Error(field, absl::StrCat(Quote(key),
                                  " is not a valid name: start with a letter, then "
                                  "letters, digits or underscores"));
      }
    }
    int64_t bytes = EnvironmentBytes(f_.spec.environment);
    if (bytes > kMaxEnvironmentBytes) {
      Error("spec.environment", absl::StrCat("variables total ", bytes, " bytes, over the 4 KB (",
                                             kMaxEnvironmentBytes, " bytes) limit"));
    }
  }

  void Layers() {
    const auto& layers = f_.spec.layers;
    if (static_cast<int64_t>(layers.size()) > kMaxLayers) {
      Error("spec.layers",
            absl::StrCat(layers.size(), " layers, at most ", kMaxLayers, " are allowed"));
    }
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string path = Index("spec.layers", i);
      const LayerSpec& layer = layers[i];
      if (layer.config_map_name.has_value() == layer.image.has_value()) {
        Error(path, "set exactly one of configMap or image");
      }
      if (layer.config_map_name)
        ConfigMapName(Path(path, "configMap.name"), *layer.config_map_name);
      if (layer.image) Word(Path(path, "image"), *layer.image, kMaxImageLength);
    }
  }

  void ConcurrencyAndScaling() {
    const auto& c = f_.spec.concurrency;
    bool per_instance_ok =
        Bound("spec.concurrency.perInstance", c.per_instance, kMinPerInstance, kMaxPerInstance);
    Bound("spec.concurrency.reserved", c.reserved, kMinReserved, kMaxReserved);

    const auto& s = f_.spec.scaling;
    const int64_t min_scale = s.min_scale.value_or(kDefaultMinScale);
    bool min_ok =
        Bound("spec.scaling.minScale", s.min_scale, 0, std::numeric_limits<int32_t>::max());
    if (s.max_scale) {
      std::string shown =
          absl::StrCat(*s.max_scale, given_.spec.scaling.max_scale ? "" : " (the default)");
      if (*s.max_scale < 1) {
        Error("spec.scaling.maxScale", absl::StrCat(shown, " is below the minimum 1"));
      } else if (min_ok && *s.max_scale < min_scale) {
        Error("spec.scaling.maxScale",
              absl::StrCat(shown, " is below spec.scaling.minScale ", min_scale));
      } else {
        Bound("spec.scaling.maxScale", s.max_scale, 1, std::numeric_limits<int32_t>::max());
      }
    }
    // An absent target is perInstance, which has been judged already.
    if (s.target && given_.spec.scaling.target) {
      if (*s.target < 1) {
        Error("spec.scaling.target", absl::StrCat(*s.target, " is below the minimum 1"));
      } else if (per_instance_ok && c.per_instance && *s.target > *c.per_instance) {
        Error("spec.scaling.target",
              absl::StrCat(*s.target, " is above spec.concurrency.perInstance ", *c.per_instance));
      }
    }
    Bound("spec.scaling.scaleToZeroAfterSeconds", s.scale_to_zero_after_seconds,
          kMinScaleToZeroAfterSeconds, kMaxScaleToZeroAfterSeconds);
  }

  void Destination(const std::string& path, const std::optional<DestinationSpec>& d) {
    if (!d) return;
    if (d->stream.has_value() == d->function.has_value()) {
      Error(path, "set exactly one of stream or function");
    }
    if (d->stream) Word(Path(path, "stream"), *d->stream, kMaxStreamNameLength);
    if (d->function) FunctionName(Path(path, "function"), *d->function);
  }

  void Async() {
    const auto& a = f_.spec.async;
    Bound("spec.async.maxRetries", a.max_retries, kMinAsyncMaxRetries, kMaxAsyncMaxRetries);
    Bound("spec.async.maxEventAgeSeconds", a.max_event_age_seconds, kMinMaxEventAgeSeconds,
          kMaxMaxEventAgeSeconds);
    Destination("spec.async.onFailure", a.on_failure);
    Destination("spec.async.onSuccess", a.on_success);
  }

  // Why an HTTP trigger's path is not acceptable, or "" when it is. The same shape as the
  // CRD's pattern and the gateway's router: literal segments, whole {param} segments, and a
  // greedy {proxy+} only last.
  static std::string HttpPathProblem(const std::string& path) {
    if (path.empty()) return "required";
    if (path.size() > kMaxHttpPathLength) {
      return absl::StrCat("is ", path.size(), " characters, above the maximum ",
                          kMaxHttpPathLength);
    }
    if (path.front() != '/') return absl::StrCat(Quote(path), " must start with \"/\"");
    if (path == "/") return "";
    std::vector<absl::string_view> segments =
        absl::StrSplit(absl::string_view(path).substr(1), '/');
    for (size_t i = 0; i < segments.size(); ++i) {
      absl::string_view seg = segments[i];
      if (seg.empty()) {
        return absl::StrCat(Quote(path), " has an empty segment (\"//\" or a trailing \"/\")");
      }
      if (!absl::StrContains(seg, '{') && !absl::StrContains(seg, '}')) {
        if (!std::all_of(seg.begin(), seg.end(), IsPathChar)) {
          return absl::StrCat(Quote(path), ": segment ", Quote(seg),
                              " may only contain letters, digits and ._~!$&()*,;=:@%-");
        }
        continue;
      }
      absl::string_view name = seg;
      if (!absl::ConsumePrefix(&name, "{") || !absl::ConsumeSuffix(&name, "}")) {
        return absl::StrCat(Quote(path), ": segment ", Quote(seg),
                            " must be a whole {param} or {proxy+}");
      }
      bool greedy = absl::ConsumeSuffix(&name, "+");
      if (!IsParamName(name)) {
        return absl::StrCat(Quote(path), ": segment ", Quote(seg),
                            " needs a parameter name of letters, digits and '_', not starting "
                            "with a digit");
      }
      if (greedy && i + 1 != segments.size()) {
        return absl::StrCat(Quote(path), ": ", Quote(seg), " may only be the last segment");
      }
    }
    return "";
  }

  void Triggers() {
    if (f_.spec.triggers.size() > kMaxTriggers) {
      Error("spec.triggers", absl::StrCat(f_.spec.triggers.size(), " triggers, at most ",
                                          kMaxTriggers, " are allowed"));
    }
    for (size_t i = 0; i < f_.spec.triggers.size(); ++i) {
      const TriggerSpec& t = f_.spec.triggers[i];
      std::string path = Index("spec.triggers", i);
      std::vector<absl::string_view> kinds;
      if (t.http) kinds.push_back("http");
      if (t.queue) kinds.push_back("queue");
      if (t.schedule) kinds.push_back("schedule");
      if (kinds.empty()) {
        Error(path, "set exactly one of http, queue or schedule");
      } else if (kinds.size() > 1) {
        Error(path, absl::StrCat("set exactly one of http, queue or schedule, not ",
                                 absl::StrJoin(kinds, " and ")));
      }
      if (t.http) {
        std::string http = Path(path, "http");
        if (std::string problem = HttpPathProblem(t.http->path.value_or("")); !problem.empty()) {
          Error(Path(http, "path"), problem);
        }
        if (t.http->methods) {
          // Empty, like absent, means every method.
          const auto& methods = *t.http->methods;
          for (size_t m = 0; m < methods.size(); ++m) {
            if (std::find(std::begin(kHttpMethods), std::end(kHttpMethods), methods[m]) ==
                std::end(kHttpMethods)) {
              Error(Index(Path(http, "methods"), m),
                    absl::StrCat(Quote(methods[m]), " is not a method: use ",
                                 absl::StrJoin(kHttpMethods, ", ")));
            } else if (std::find(methods.begin(), methods.begin() + m, methods[m]) !=
                       methods.begin() + m) {
              Error(Index(Path(http, "methods"), m),
                    absl::StrCat(Quote(methods[m]), " is listed twice"));
            }
          }
        }
      }
      if (t.queue) {
        std::string queue = Path(path, "queue");
        Word(Path(queue, "stream"), t.queue->stream.value_or(""), kMaxStreamNameLength);
        Bound(Path(queue, "batchSize"), t.queue->batch_size, kMinQueueBatchSize,
              kMaxQueueBatchSize);
        Bound(Path(queue, "batchWindowSeconds"), t.queue->batch_window_seconds,
              kMinQueueBatchWindowSeconds, kMaxQueueBatchWindowSeconds);
        Bound(Path(queue, "maxReceiveCount"), t.queue->max_receive_count, kMinQueueMaxReceiveCount,
              kMaxQueueMaxReceiveCount);
      }
      if (t.schedule) {
        std::string field = Path(Path(path, "schedule"), "expression");
        if (Required(field, t.schedule->expression, kMaxScheduleExpressionLength)) {
          absl::StatusOr<Schedule> parsed = ParseSchedule(*t.schedule->expression);
          if (!parsed.ok()) Error(field, std::string(parsed.status().message()));
        }
      }
    }
  }

  const Function& given_;
  const Function& f_;
  std::vector<Violation> out_;
};

int SaturatedInt(int64_t v) {
  return static_cast<int>(
      std::clamp<int64_t>(v, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

}  // namespace

std::string Violation::ToString() const {
  return field.empty() ? message : absl::StrCat(field, ": ", message);
}

std::string JoinViolations(const std::vector<Violation>& violations) {
  return absl::StrJoin(violations, "; ", [](std::string* out, const Violation& v) {
    absl::StrAppend(out, v.ToString());
  });
}

bool IsDns1123Label(absl::string_view s) {
  return static_cast<int>(s.size()) <= kMaxNameLength && IsLabelShape(s);
}

bool IsDns1035Label(absl::string_view s) {
  return IsDns1123Label(s) && absl::ascii_islower(s.front());
}

bool IsDns1123Subdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view part : absl::StrSplit(s, '.')) {
    if (!IsLabelShape(part)) return false;
  }
  return true;
}

ParsedFunction ParseFunction(const json& object) {
  ParsedFunction out;
  Reader r(&out.violations);
  if (!object.is_object()) {
    r.Error("", absl::StrCat("a Function must be an object, got ", Got(object)));
    return out;
  }
  if (const json* meta = r.Object(object, "metadata", "metadata")) {
    FunctionMeta& m = out.function.metadata;
    m.name = r.String(*meta, "name", "metadata.name").value_or("");
    m.namespace_name = r.String(*meta, "namespace", "metadata.namespace").value_or("");
    m.uid = r.String(*meta, "uid", "metadata.uid").value_or("");
    m.generation = r.Int(*meta, "generation", "metadata.generation").value_or(0);
  }
  if (const json* spec = r.Object(object, "spec", "spec")) {
    ParseSpec(r, *spec, out.function.spec);
  }
  return out;
}

std::optional<std::string> DefaultCodeFileName(absl::string_view runtime,
                                               const std::optional<std::string>& handler) {
  absl::StatusOr<Runtime> r = ParseRuntime(runtime);
  if (!r.ok()) return std::nullopt;
  if (*r == Runtime::kProvided) return "bootstrap";
  if (!handler || handler->empty()) return std::nullopt;
  size_t dot = handler->rfind('.');
  std::string module = dot == std::string::npos ? *handler : handler->substr(0, dot);
  return absl::StrCat(module, *r == Runtime::kPython311 ? ".py" : ".js");
}

Function ApplyDefaults(Function f) {
  FunctionSpec& s = f.spec;
  if (s.code.inline_source && !s.code.file_name) {
    s.code.file_name = DefaultCodeFileName(s.runtime.value_or(""), s.handler);
  }
  if (!s.memory_mb) s.memory_mb = kDefaultMemoryMB;
  if (!s.timeout_seconds) s.timeout_seconds = kDefaultTimeoutSeconds;
  if (!s.ephemeral_storage_mb) s.ephemeral_storage_mb = kDefaultEphemeralStorageMB;
  if (!s.concurrency.per_instance) s.concurrency.per_instance = kDefaultPerInstance;
  if (!s.scaling.min_scale) s.scaling.min_scale = kDefaultMinScale;
  if (!s.scaling.max_scale) s.scaling.max_scale = kDefaultMaxScale;
  if (!s.scaling.target) s.scaling.target = s.concurrency.per_instance;
  if (!s.scaling.scale_to_zero_after_seconds) {
    s.scaling.scale_to_zero_after_seconds = kDefaultScaleToZeroAfterSeconds;
  }
  if (!s.async.max_retries) s.async.max_retries = kDefaultAsyncMaxRetries;
  if (!s.async.max_event_age_seconds) s.async.max_event_age_seconds = kDefaultMaxEventAgeSeconds;
  for (TriggerSpec& t : s.triggers) {
    if (t.http && (!t.http->methods || t.http->methods->empty())) {
      t.http->methods = std::vector<std::string>{"ANY"};
    }
    if (t.queue) {
      if (!t.queue->batch_size) t.queue->batch_size = kDefaultQueueBatchSize;
      if (!t.queue->batch_window_seconds) {
        t.queue->batch_window_seconds = kDefaultQueueBatchWindowSeconds;
      }
      if (!t.queue->max_receive_count) t.queue->max_receive_count = kDefaultQueueMaxReceiveCount;
    }
  }
  return f;
}

std::vector<Violation> ValidateFunction(const Function& function) {
  Function defaulted = ApplyDefaults(function);
  return Validator(function, defaulted).Run();
}

ParsedFunction LoadFunction(const json& object) {
  ParsedFunction parsed = ParseFunction(object);
  std::vector<Violation> invalid = ValidateFunction(parsed.function);
  parsed.violations.insert(parsed.violations.end(), invalid.begin(), invalid.end());
  parsed.function = ApplyDefaults(std::move(parsed.function));
  return parsed;
}

absl::StatusOr<FunctionConfig> MakeFunctionConfig(const Function& function) {
  if (std::vector<Violation> v = ValidateFunction(function); !v.empty()) {
    return absl::InvalidArgumentError(JoinViolations(v));
  }
  Function f = ApplyDefaults(function);
  FunctionConfig config;
  config.name = f.metadata.name;
  config.runtime_name = f.spec.runtime.value_or("");
  config.handler = f.spec.handler.value_or("");
  config.code_path = std::string(kCodePath);
  config.memory_mb = SaturatedInt(*f.spec.memory_mb);
  config.timeout_seconds = SaturatedInt(*f.spec.timeout_seconds);
  config.ephemeral_storage_mb = SaturatedInt(*f.spec.ephemeral_storage_mb);
  config.environment = f.spec.environment;
  if (absl::Status s = ValidateFunctionConfig(config); !s.ok()) return s;
  return config;
}

nlohmann::json FunctionConfigToJson(const FunctionConfig& config) {
  json env = json::object();
  for (const auto& [key, value] : config.environment) env[key] = value;
  return json{{"name", config.name},
              {"runtime", config.runtime_name},
              {"handler", config.handler},
              {"codePath", config.code_path},
              {"memoryMB", config.memory_mb},
              {"timeoutSeconds", config.timeout_seconds},
              {"ephemeralStorageMB", config.ephemeral_storage_mb},
              {"environment", env}};
}

}  // namespace wisp
