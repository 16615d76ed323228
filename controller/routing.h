// The gateways' routing table as a value: every valid Function with its HTTP routes, limits
// and ready worker endpoints, built from the operator's caches (Function objects and
// discovery.k8s.io/v1 EndpointSlices). The operator streams it to the gateways
// (proto/wisp/v1/control.proto); this file only decides what is in it.
//
// Pure: values in, values out. Thread-compatible.
#ifndef WISP_CONTROLLER_ROUTING_H_
#define WISP_CONTROLLER_ROUTING_H_

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "controller/events/async_event.h"
#include "nlohmann/json.hpp"

namespace wisp {

// The label Kubernetes puts on a Service's EndpointSlices.
inline constexpr char kServiceNameLabel[] = "kubernetes.io/service-name";

struct RoutingRoute {
  std::string path;
  std::vector<std::string> methods;  // upper case; empty = every method
  bool async = false;                // 202 once stored; the function runs asynchronously
  friend bool operator==(const RoutingRoute&, const RoutingRoute&) = default;
};

struct RoutingEndpoint {
  std::string address;  // "10.0.0.7:9000", "[fd00::7]:9000"
  int capacity = 1;
  friend bool operator==(const RoutingEndpoint&, const RoutingEndpoint&) = default;
};

struct RoutingFunction {
  std::string name;
  std::string namespace_name;
  int timeout_seconds = 3;
  int memory_mb = 128;
  std::optional<int> reserved_concurrency;
  std::vector<RoutingRoute> routes;        // in trigger order
  std::vector<RoutingEndpoint> endpoints;  // sorted by address, no duplicates
  events::AsyncPolicy async;                // spec.async, defaulted
  std::vector<events::QueueTrigger> queues;  // spec.triggers[].queue, in trigger order
  friend bool operator==(const RoutingFunction&, const RoutingFunction&) = default;
};

struct RoutingTable {
  std::vector<RoutingFunction> functions;  // sorted by (namespace, name)
  friend bool operator==(const RoutingTable&, const RoutingTable&) = default;
};

std::ostream& operator<<(std::ostream& os, const RoutingTable& table);  // for test failures

// Builds the table. Decision table:
//   Function with violations (LoadFunction)            -> left out
//   Function being deleted (metadata.deletionTimestamp) -> left out
//   http trigger                                        -> a route; methods [ANY] -> empty (every)
//   EndpointSlice whose kubernetes.io/service-name label names a Function in its namespace
//                                                       -> its endpoints for that Function
//   endpoint with conditions.ready false                -> left out (absent ready = ready)
//   port                                                -> the slice's port named "grpc", else
//                                                          the only port, else 9000
//   address type IPv6                                   -> "[addr]:port"
//   the same address in several slices                  -> once
//   capacity                                            -> spec.concurrency.perInstance
//   spec.async (defaulted)                              -> async; a destination names a
//                                                          stream or a function
//   queue trigger                                       -> queues, dead letters to <stream>-dlq
RoutingTable BuildRouting(const std::vector<nlohmann::json>& functions,
                          const std::vector<nlohmann::json>& endpoint_slices);

}  // namespace wisp

#endif  // WISP_CONTROLLER_ROUTING_H_
