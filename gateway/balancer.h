// Endpoint choice for one invocation: power of two choices over the endpoints that have free
// capacity and are not ejected, preferring the lower load (in-flight / capacity), as in
// Knative's activator. Pure; randomness is passed in.
#ifndef WISP_GATEWAY_BALANCER_H_
#define WISP_GATEWAY_BALANCER_H_

#include <vector>

#include "absl/random/bit_gen_ref.h"

namespace wisp::gateway {

struct EndpointLoad {
  int in_flight = 0;
  int capacity = 1;
  bool eligible = true;  // false when ejected or excluded for this request
};

// The index of the chosen endpoint, or -1 when none has free capacity.
int PickEndpoint(const std::vector<EndpointLoad>& endpoints, absl::BitGenRef rng);

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_BALANCER_H_
