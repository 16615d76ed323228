// PickEndpoint: power of two choices over endpoints with free capacity. Randomness comes from a
// seeded std::mt19937, so every run draws the same candidates.
#include "gateway/balancer.h"

#include <random>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/random/random.h"
#include "gtest/gtest.h"

namespace wisp::gateway {
namespace {

// Picks `n` times with a fixed seed and counts how often each endpoint was chosen (index
// endpoints.size() counts -1).
std::vector<int> Histogram(const std::vector<EndpointLoad>& endpoints, int n, uint32_t seed = 1) {
  std::mt19937 urbg(seed);
  std::vector<int> counts(endpoints.size() + 1, 0);
  for (int i = 0; i < n; ++i) {
    int pick = PickEndpoint(endpoints, absl::BitGenRef(urbg));
    EXPECT_GE(pick, -1);
    EXPECT_LT(pick, static_cast<int>(endpoints.size()));
    counts[pick < 0 ? endpoints.size() : pick]++;
  }
  return counts;
}

TEST(PickEndpointTest, NoneAvailable) {
  struct Case {
    std::string name;
    std::vector<EndpointLoad> endpoints;
  };
  const std::vector<Case> cases = {
      {"no endpoints", {}},
      {"all full", {{1, 1, true}, {4, 4, true}}},
      {"over capacity", {{5, 2, true}}},
      {"all ineligible", {{0, 1, false}, {0, 8, false}}},
      {"full or ineligible", {{2, 2, true}, {0, 4, false}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<int> counts = Histogram(c.endpoints, 50);
    EXPECT_EQ(counts.back(), 50);
  }
}

TEST(PickEndpointTest, NeverPicksFullOrIneligible) {
  struct Case {
    std::string name;
    std::vector<EndpointLoad> endpoints;
    std::vector<bool> pickable;
  };
  const std::vector<Case> cases = {
      {"single free", {{1, 1, true}, {0, 1, true}, {0, 1, false}}, {false, true, false}},
      {"full and ineligible skipped",
       {{1, 1, true}, {3, 4, true}, {0, 4, false}, {2, 4, true}},
       {false, true, false, true}},
      {"many", {{0, 1, false}, {1, 2, true}, {2, 2, true}, {0, 3, true}, {3, 3, true},
                {1, 1, true}, {0, 2, false}},
       {false, true, false, true, false, false, false}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      std::vector<int> counts = Histogram(c.endpoints, 100, seed);
      EXPECT_EQ(counts.back(), 0) << "seed " << seed;
      for (size_t i = 0; i < c.endpoints.size(); ++i) {
        if (!c.pickable[i]) {
          EXPECT_EQ(counts[i], 0) << "endpoint " << i << " seed " << seed;
        }
      }
    }
  }
}

TEST(PickEndpointTest, TwoCandidatesPreferLowerLoadRatio) {
  // With exactly two free endpoints both are always the candidates, so the choice is decided.
  struct Case {
    std::string name;
    std::vector<EndpointLoad> endpoints;
    int want;
  };
  const std::vector<Case> cases = {
      {"fewer in flight", {{3, 4, true}, {1, 4, true}}, 1},
      {"lower ratio, more in flight", {{1, 2, true}, {3, 10, true}}, 1},
      {"lower ratio first", {{0, 1, true}, {1, 10, true}}, 0},
      {"equal ratio: more free capacity", {{1, 2, true}, {2, 4, true}}, 1},
      {"idle: bigger endpoint", {{0, 1, true}, {0, 3, true}}, 1},
      {"idle: bigger endpoint first", {{0, 3, true}, {0, 1, true}}, 0},
      {"third is full", {{2, 3, true}, {3, 3, true}, {1, 3, true}}, 2},
      {"third is ineligible", {{0, 3, false}, {2, 3, true}, {1, 3, true}}, 2},
      {"large values do not overflow", {{1000000, 2000000000, true}, {1999999, 2000000000, true}},
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<int> counts = Histogram(c.endpoints, 200);
    EXPECT_EQ(counts[c.want], 200);
  }
}

TEST(PickEndpointTest, DistributionFollowsLoad) {
  // Three free endpoints with distinct loads: the busiest loses every pairing, the idlest wins
  // both of its pairings (2/3 of draws), the middle one wins one (1/3).
  std::vector<EndpointLoad> endpoints = {{3, 4, true}, {0, 4, true}, {1, 4, true}};
  const int n = 6000;
  std::vector<int> counts = Histogram(endpoints, n);
  EXPECT_EQ(counts[0], 0);
  EXPECT_NEAR(counts[1], n * 2 / 3, n * 0.05);
  EXPECT_NEAR(counts[2], n / 3, n * 0.05);
  EXPECT_EQ(counts.back(), 0);
}

TEST(PickEndpointTest, EqualLoadsSpreadEvenly) {
  std::vector<EndpointLoad> endpoints(4, EndpointLoad{1, 4, true});
  const int n = 8000;
  std::vector<int> counts = Histogram(endpoints, n);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    EXPECT_NEAR(counts[i], n / 4, n * 0.04);
  }
}

TEST(PickEndpointTest, WorksWithAbslBitGen) {
  absl::BitGen gen(std::seed_seq{42});
  std::vector<EndpointLoad> endpoints = {{1, 1, true}, {0, 2, true}, {0, 2, false}};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(PickEndpoint(endpoints, gen), 1);
}

TEST(PickEndpointTest, SimulatedFillNeverExceedsCapacity) {
  // Keep picking and counting the picks as in flight: every endpoint fills to exactly its
  // capacity, and then nothing more is picked.
  std::vector<EndpointLoad> endpoints = {{0, 1, true}, {0, 3, true}, {0, 2, true}, {0, 5, false}};
  std::mt19937 urbg(7);
  int picks = 0;
  while (true) {
    int i = PickEndpoint(endpoints, absl::BitGenRef(urbg));
    if (i < 0) break;
    ASSERT_LT(endpoints[i].in_flight, endpoints[i].capacity);
    ASSERT_TRUE(endpoints[i].eligible);
    endpoints[i].in_flight++;
    ASSERT_LE(++picks, 6);
  }
  EXPECT_EQ(picks, 6);
  EXPECT_EQ(endpoints[0].in_flight, 1);
  EXPECT_EQ(endpoints[1].in_flight, 3);
  EXPECT_EQ(endpoints[2].in_flight, 2);
  EXPECT_EQ(endpoints[3].in_flight, 0);
}

}  // namespace
}  // namespace wisp::gateway
