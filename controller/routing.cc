#include "controller/routing.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controller/function.h"
#include "controller/resources/deployment.h"

namespace wisp {

using nlohmann::json;

namespace {

// The worker's gRPC port in a slice (see the decision table); 0 when the slice has none usable.
int SlicePort(const json& slice) {
  const json* ports = slice.contains("ports") && slice["ports"].is_array() ? &slice["ports"] : nullptr;
  if (ports == nullptr || ports->empty()) return resources::kWorkerGrpcPort;
  for (const json& p : *ports) {
    if (p.is_object() && p.value("name", "") == "grpc" && p.contains("port") &&
        p["port"].is_number_integer()) {
      return p["port"].get<int>();
    }
  }
  if (ports->size() == 1 && (*ports)[0].is_object() && (*ports)[0].contains("port") &&
      (*ports)[0]["port"].is_number_integer()) {
    return (*ports)[0]["port"].get<int>();
  }
  return resources::kWorkerGrpcPort;
}

std::string Label(const json& object, const char* key) {
  const json* md = object.contains("metadata") ? &object["metadata"] : nullptr;
  if (md == nullptr || !md->contains("labels") || !(*md)["labels"].is_object()) return "";
  const json& labels = (*md)["labels"];
  return labels.contains(key) && labels[key].is_string() ? labels[key].get<std::string>() : "";
}

std::string Namespace(const json& object) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) return "";
  return object["metadata"].value("namespace", "");
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const RoutingTable& table) {
  for (const RoutingFunction& f : table.functions) {
    os << f.namespace_name << "/" << f.name << " timeout=" << f.timeout_seconds
       << " memory=" << f.memory_mb << " reserved="
       << (f.reserved_concurrency ? absl::StrCat(*f.reserved_concurrency) : "-") << " routes=[";
    for (const RoutingRoute& r : f.routes) {
      os << r.path << "(" << absl::StrJoin(r.methods, ",") << (r.async ? " async" : "") << ")";
    }
    os << "] endpoints=[";
    for (const RoutingEndpoint& e : f.endpoints) os << e.address << "x" << e.capacity << " ";
    os << "] async=" << f.async.max_retries << "/" << f.async.max_event_age_seconds << "s failure="
       << f.async.on_failure.stream << f.async.on_failure.function
       << " success=" << f.async.on_success.stream << f.async.on_success.function << " queues=[";
    for (const events::QueueTrigger& q : f.queues) {
      os << q.stream << "/" << q.batch_size << "/" << q.batch_window_seconds << "s/"
         << q.max_receive_count << " ";
    }
    os << "]\n";
  }
  return os;
}

RoutingTable BuildRouting(const std::vector<json>& functions,
                          const std::vector<json>& endpoint_slices) {
  // (namespace, name) -> function, for the slices to find.
  std::map<std::pair<std::string, std::string>, RoutingFunction> by_key;
  std::map<std::pair<std::string, std::string>, int> capacity;  // perInstance (defaulted)
  for (const json& object : functions) {
    if (!object.is_object()) continue;
    if (object.contains("metadata") && object["metadata"].is_object() &&
        object["metadata"].contains("deletionTimestamp") &&
        !object["metadata"]["deletionTimestamp"].is_null()) {
      continue;
    }
    ParsedFunction loaded = LoadFunction(object);
    if (!loaded.violations.empty()) continue;
    const Function& fn = loaded.function;
    RoutingFunction rf;
    rf.name = fn.metadata.name;
    rf.namespace_name = fn.metadata.namespace_name;
    rf.timeout_seconds = static_cast<int>(fn.spec.timeout_seconds.value_or(rf.timeout_seconds));
    rf.memory_mb = static_cast<int>(fn.spec.memory_mb.value_or(rf.memory_mb));
    if (fn.spec.concurrency.reserved) {
      rf.reserved_concurrency = static_cast<int>(*fn.spec.concurrency.reserved);
    }
    for (const TriggerSpec& t : fn.spec.triggers) {
      if (!t.http || !t.http->path) continue;
      RoutingRoute route{*t.http->path, {}, t.http->async.value_or(false)};
      bool any = false;
      for (const std::string& m : t.http->methods.value_or(std::vector<std::string>{})) {
        if (m == "ANY") any = true;
        route.methods.push_back(m);
      }
      if (any) route.methods.clear();
      rf.routes.push_back(std::move(route));
    }
    rf.async.max_retries = static_cast<int>(fn.spec.async.max_retries.value_or(rf.async.max_retries));
    rf.async.max_event_age_seconds = static_cast<int>(
        fn.spec.async.max_event_age_seconds.value_or(rf.async.max_event_age_seconds));
    auto destination = [](const std::optional<DestinationSpec>& d) {
      events::Destination out;
      if (d) {
        out.stream = d->stream.value_or("");
        out.function = d->function.value_or("");
      }
      return out;
    };
    rf.async.on_failure = destination(fn.spec.async.on_failure);
    rf.async.on_success = destination(fn.spec.async.on_success);
    for (const TriggerSpec& t : fn.spec.triggers) {
      if (!t.queue || !t.queue->stream) continue;
      events::QueueTrigger q;
      q.stream = *t.queue->stream;
      q.batch_size = static_cast<int>(t.queue->batch_size.value_or(q.batch_size));
      q.batch_window_seconds =
          static_cast<int>(t.queue->batch_window_seconds.value_or(q.batch_window_seconds));
      q.max_receive_count = static_cast<int>(t.queue->max_receive_count.value_or(q.max_receive_count));
      q.dead_letter_stream = events::DeadLetterStream(q.stream);
      rf.queues.push_back(std::move(q));
    }
    capacity[{rf.namespace_name, rf.name}] =
        static_cast<int>(fn.spec.concurrency.per_instance.value_or(kDefaultPerInstance));
    by_key[{rf.namespace_name, rf.name}] = std::move(rf);
  }
  std::map<std::pair<std::string, std::string>, std::set<std::string>> addresses;
  for (const json& slice : endpoint_slices) {
    if (!slice.is_object()) continue;
    std::pair<std::string, std::string> key{Namespace(slice), Label(slice, kServiceNameLabel)};
    if (key.second.empty() || !by_key.contains(key)) continue;
    if (!slice.contains("endpoints") || !slice["endpoints"].is_array()) continue;
    int port = SlicePort(slice);
    bool v6 = slice.value("addressType", "") == "IPv6";
    for (const json& ep : slice["endpoints"]) {
      if (!ep.is_object()) continue;
      if (ep.contains("conditions") && ep["conditions"].is_object() &&
          ep["conditions"].contains("ready") && ep["conditions"]["ready"].is_boolean() &&
          !ep["conditions"]["ready"].get<bool>()) {
        continue;
      }
      if (!ep.contains("addresses") || !ep["addresses"].is_array()) continue;
      for (const json& a : ep["addresses"]) {
        if (!a.is_string() || a.get<std::string>().empty()) continue;
        std::string host = a.get<std::string>();
        addresses[key].insert(v6 ? absl::StrCat("[", host, "]:", port)
                                 : absl::StrCat(host, ":", port));
      }
    }
  }

  RoutingTable table;
  for (auto& [key, rf] : by_key) {
    for (const std::string& address : addresses[key]) {
      rf.endpoints.push_back({address, capacity[key]});
    }
    table.functions.push_back(std::move(rf));
  }
  return table;
}

}  // namespace wisp
