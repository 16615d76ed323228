// Tests for controller/status.h: a Function's conditions from its validation result and observed
// Deployment, with transition times kept while a condition holds.
#include "controller/status.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace wisp {
namespace {

using json = nlohmann::json;

const absl::Time kNow = absl::FromUnixSeconds(1795780800);  // 2026-11-27T12:00:00Z
constexpr char kNowText[] = "2026-11-27T12:00:00Z";
constexpr char kEarlier[] = "2026-11-27T11:00:00Z";

OperatorConfig Config() {
  OperatorConfig config;
  config.gateway_url = "http://gateway.example.com";
  return config;
}

const FunctionMeta kMeta{"hello", "default", "uid-1", 3};

// A Deployment as the API server returns it, reduced to what status reads.
json Deployment(int64_t generation, int64_t observed, int64_t desired, int64_t replicas,
                int64_t ready, const std::string& progressing_reason = "NewReplicaSetAvailable",
                const std::string& progressing_message = "") {
  json d = {{"metadata", {{"name", "hello"}, {"generation", generation}}},
            {"spec", {{"replicas", desired}}},
            {"status",
             {{"observedGeneration", observed},
              {"replicas", replicas},
              {"conditions",
               json::array({{{"type", "Progressing"},
                             {"status",
                              progressing_reason == "ProgressDeadlineExceeded" ? "False" : "True"},
                             {"reason", progressing_reason},
                             {"message", progressing_message}}})}}}};
  if (ready > 0) d["status"]["readyReplicas"] = ready;  // Left out at 0, as the API server does.
  return d;
}

// The condition of `type`, or null.
json Condition(const json& status, const std::string& type) {
  for (const json& c : status["conditions"]) {
    if (c["type"] == type) return c;
  }
  return nullptr;
}

struct WantCondition {
  std::string status;
  std::string reason;
  std::string message;
};

TEST(ComputeStatusTest, Conditions) {
  struct Case {
    std::string name;
    std::vector<Violation> violations;
    std::optional<json> deployment;
    WantCondition config_valid;
    WantCondition workload;
    WantCondition ready;
  };
  const std::vector<Violation> invalid = {
      {"spec.memoryMB", "64 is below the minimum 128"},
      {"spec.handler", "required for runtime python3.11 (e.g. app.handler)"}};
  const std::string invalid_message =
      "spec.memoryMB: 64 is below the minimum 128; spec.handler: required for runtime python3.11 "
      "(e.g. app.handler)";
  const WantCondition valid = {"True", "Valid", ""};
  const std::vector<Case> cases = {
      {"ready",
       {},
       Deployment(2, 2, 2, 2, 2),
       valid,
       {"True", "ReplicasReady", "2 of 2 replicas ready"},
       {"True", "Ready", ""}},
      {"one of three ready is enough",
       {},
       Deployment(2, 2, 3, 3, 1),
       valid,
       {"True", "ReplicasReady", "1 of 3 replicas ready"},
       {"True", "Ready", ""}},
      {"scaled to zero on purpose",
       {},
       Deployment(4, 4, 0, 0, 0),
       valid,
       {"True", "ScaledToZero", "scaled to zero; the next request starts a replica"},
       {"True", "Ready", ""}},
      {"no Deployment yet",
       {},
       std::nullopt,
       valid,
       {"False", "Progressing", "waiting for Deployment hello to be created"},
       {"False", "Progressing", "waiting for Deployment hello to be created"}},
      {"Deployment not yet observed",
       {},
       Deployment(5, 4, 1, 1, 1),
       valid,
       {"False", "Progressing", "Deployment hello has not yet observed generation 5"},
       {"False", "Progressing", "Deployment hello has not yet observed generation 5"}},
      {"first pod starting",
       {},
       Deployment(1, 1, 1, 1, 0, "ReplicaSetUpdated"),
       valid,
       {"False", "Progressing", "0 of 1 replicas ready"},
       {"False", "Progressing", "0 of 1 replicas ready"}},
      {"pods crashing after a rollout finished",
       {},
       Deployment(1, 1, 2, 2, 0),
       valid,
       {"False", "Unavailable", "0 of 2 replicas ready"},
       {"False", "Unavailable", "0 of 2 replicas ready"}},
      {"progress deadline exceeded",
       {},
       Deployment(1, 1, 1, 1, 0, "ProgressDeadlineExceeded",
                  "ReplicaSet \"hello-abc\" has timed out progressing."),
       valid,
       {"False", "Unavailable",
        "0 of 1 replicas ready: ReplicaSet \"hello-abc\" has timed out progressing."},
       {"False", "Unavailable",
        "0 of 1 replicas ready: ReplicaSet \"hello-abc\" has timed out progressing."}},
      {"invalid and nothing created",
       invalid,
       std::nullopt,
       {"False", "InvalidSpec", invalid_message},
       {"False", "InvalidSpec", "no workload is created for an invalid Function"},
       {"False", "InvalidSpec", invalid_message}},
      {"invalid while the old workload keeps running",
       invalid,
       Deployment(2, 2, 1, 1, 1),
       {"False", "InvalidSpec", invalid_message},
       {"True", "ReplicasReady", "1 of 1 replicas ready"},
       {"False", "InvalidSpec", invalid_message}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json status = ComputeStatus(kMeta, c.violations, c.deployment, nullptr, Config(), kNow);
    ASSERT_EQ(status["conditions"].size(), 3u) << status.dump(2);
    const std::vector<std::pair<std::string, WantCondition>> want = {
        {"ConfigValid", c.config_valid}, {"WorkloadReady", c.workload}, {"Ready", c.ready}};
    for (size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE(want[i].first);
      const json& got = status["conditions"][i];
      EXPECT_EQ(got["type"], want[i].first);
      EXPECT_EQ(got["status"], want[i].second.status);
      EXPECT_EQ(got["reason"], want[i].second.reason);
      EXPECT_EQ(got["message"], want[i].second.message);
      EXPECT_EQ(got["observedGeneration"], 3);
      EXPECT_EQ(got["lastTransitionTime"], kNowText);
    }
  }
}

TEST(ComputeStatusTest, TopLevelFields) {
  json status = ComputeStatus(kMeta, {}, Deployment(2, 2, 3, 3, 2), nullptr, Config(), kNow);
  EXPECT_EQ(status["observedGeneration"], 3);
  EXPECT_EQ(status["replicas"], 3);
  EXPECT_EQ(status["readyReplicas"], 2);
  EXPECT_EQ(status["selector"], "wisp.dev/function=hello");
  EXPECT_EQ(status["url"], "http://gateway.example.com/function/hello");
  EXPECT_FALSE(status.contains("lastScaleTime"));
}

TEST(ComputeStatusTest, NoDeploymentMeansZeroReplicas) {
  json status = ComputeStatus(kMeta, {}, std::nullopt, nullptr, Config(), kNow);
  EXPECT_EQ(status["replicas"], 0);
  EXPECT_EQ(status["readyReplicas"], 0);
}

TEST(ComputeStatusTest, NoUrlWithoutAGateway) {
  json status = ComputeStatus(kMeta, {}, std::nullopt, nullptr, OperatorConfig{}, kNow);
  EXPECT_FALSE(status.contains("url"));
}

TEST(ComputeStatusTest, TransitionTimeChangesOnlyWhenStatusFlips) {
  // The previous status said: config valid, workload not ready, so not Ready; all since kEarlier.
  json previous = {{"observedGeneration", 2},
                   {"conditions", json::array({{{"type", "ConfigValid"},
                                                {"status", "True"},
                                                {"reason", "Valid"},
                                                {"lastTransitionTime", kEarlier}},
                                               {{"type", "WorkloadReady"},
                                                {"status", "False"},
                                                {"reason", "Progressing"},
                                                {"lastTransitionTime", kEarlier}},
                                               {{"type", "Ready"},
                                                {"status", "False"},
                                                {"reason", "Progressing"},
                                                {"lastTransitionTime", kEarlier}}})}};
  struct Case {
    std::string name;
    std::vector<Violation> violations;
    json deployment;
    std::string want_config_valid;
    std::string want_workload;
    std::string want_ready;
  };
  const std::vector<Case> cases = {
      {"nothing flips, even though the reason changes",
       {},
       Deployment(1, 1, 1, 1, 0),  // Progressing -> Unavailable, still False.
       kEarlier,
       kEarlier,
       kEarlier},
      {"workload becomes ready", {}, Deployment(1, 1, 1, 1, 1), kEarlier, kNowText, kNowText},
      {"config becomes invalid",
       {{"spec.memoryMB", "64 is below the minimum 128"}},
       Deployment(1, 1, 1, 1, 0),
       kNowText,
       kEarlier,
       kEarlier},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json status = ComputeStatus(kMeta, c.violations, c.deployment, previous, Config(), kNow);
    EXPECT_EQ(Condition(status, "ConfigValid")["lastTransitionTime"], c.want_config_valid);
    EXPECT_EQ(Condition(status, "WorkloadReady")["lastTransitionTime"], c.want_workload);
    EXPECT_EQ(Condition(status, "Ready")["lastTransitionTime"], c.want_ready);
    EXPECT_EQ(Condition(status, "Ready")["observedGeneration"], 3);
  }
}

TEST(ComputeStatusTest, KeepsOtherConditionsAndLastScaleTime) {
  json previous = {
      {"lastScaleTime", kEarlier},
      {"conditions",
       json::array({{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", kEarlier}},
                    {{"type", "ScheduleValid"}, {"status", "True"}, {"reason", "Parsed"}}})}};
  json status = ComputeStatus(kMeta, {}, Deployment(1, 1, 1, 1, 1), previous, Config(), kNow);
  EXPECT_EQ(status["lastScaleTime"], kEarlier);
  ASSERT_EQ(status["conditions"].size(), 4u);
  EXPECT_EQ(status["conditions"][3],
            json({{"type", "ScheduleValid"}, {"status", "True"}, {"reason", "Parsed"}}));
  EXPECT_EQ(Condition(status, "Ready")["lastTransitionTime"], kEarlier);
}

TEST(ComputeStatusTest, ToleratesMalformedInputs) {
  struct Case {
    std::string name;
    json deployment;
    json previous;
  };
  const std::vector<Case> cases = {
      {"empty Deployment", json::object(), nullptr},
      {"Deployment with strings for numbers",
       {{"metadata", {{"generation", "1"}}}, {"status", {{"readyReplicas", "1"}}}},
       json::array()},
      {"previous conditions not a list", Deployment(1, 1, 1, 1, 1), {{"conditions", "Ready"}}},
      {"fields of the wrong type",
       {{"status",
         {{"conditions",
           json::array({{{"type", "Progressing"}, {"status", true}, {"reason", 5}}})}}}},
       {{"conditions",
         json::array({{{"type", 5}, {"status", "True"}}, {{"type", "Ready"}, {"status", 1}}})}}},
      {"previous condition time not a string",
       Deployment(1, 1, 1, 1, 1),
       {{"conditions",
         json::array(
             {{{"type", "Ready"}, {"status", "True"}, {"lastTransitionTime", 5}}, "junk"})}}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json status = ComputeStatus(kMeta, {}, c.deployment, c.previous, Config(), kNow);
    EXPECT_EQ(status["conditions"].size() >= 3, true);
    EXPECT_TRUE(Condition(status, "Ready")["lastTransitionTime"].is_string());
  }
}

TEST(ComputeStatusTest, LongMessagesAreCutOnACharacterBoundary) {
  // 2000 violations of 20 bytes of 'é' (2 bytes each) and more: far over 32768 bytes in all.
  std::vector<Violation> violations(2000, Violation{"spec.environment[X]", "éééééééééé"});
  json status = ComputeStatus(kMeta, violations, std::nullopt, nullptr, Config(), kNow);
  std::string message = Condition(status, "ConfigValid")["message"];
  EXPECT_LE(message.size(), 32768u);
  EXPECT_GT(message.size(), 32000u);
  EXPECT_TRUE(absl::EndsWith(message, "…"));
  EXPECT_NO_THROW(status.dump());  // Still valid UTF-8.
}

TEST(FormatKubernetesTimeTest, UtcSeconds) {
  EXPECT_EQ(FormatKubernetesTime(kNow), kNowText);
  EXPECT_EQ(FormatKubernetesTime(kNow + absl::Milliseconds(999)), kNowText);
  EXPECT_EQ(FormatKubernetesTime(absl::UnixEpoch()), "1970-01-01T00:00:00Z");
}

}  // namespace
}  // namespace wisp
