#include "gateway/balancer.h"

#include "absl/random/distributions.h"

namespace wisp::gateway {

int PickEndpoint(const std::vector<EndpointLoad>& endpoints, absl::BitGenRef rng) {
  std::vector<int> free;
  for (int i = 0; i < static_cast<int>(endpoints.size()); ++i) {
    const EndpointLoad& e = endpoints[i];
    if (e.eligible && e.in_flight < e.capacity) free.push_back(i);
  }
  if (free.empty()) return -1;
  if (free.size() == 1) return free[0];
  int a = absl::Uniform<int>(rng, 0, static_cast<int>(free.size()));
  int b = absl::Uniform<int>(rng, 0, static_cast<int>(free.size()) - 1);
  if (b >= a) ++b;  // two distinct candidates
  const EndpointLoad& ea = endpoints[free[a]];
  const EndpointLoad& eb = endpoints[free[b]];
  // Compare in_flight/capacity without division.
  long lhs = static_cast<long>(ea.in_flight) * eb.capacity;
  long rhs = static_cast<long>(eb.in_flight) * ea.capacity;
  if (lhs != rhs) return lhs < rhs ? free[a] : free[b];
  // Equal load: the larger free capacity, so bigger pods fill evenly.
  return (ea.capacity - ea.in_flight) >= (eb.capacity - eb.in_flight) ? free[a] : free[b];
}

}  // namespace wisp::gateway
