// wisp-operator: reconciles Function objects into Kubernetes workloads.
// Flags become options, objects are wired, the process runs until SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controller/admin/admin_server.h"
#include "controller/base/log.h"
#include "controller/base/signals.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/operator.h"
#include "operator/snapshot_service.h"

ABSL_FLAG(std::string, server, "", "API server URL without authentication (local mode, tests)");
ABSL_FLAG(std::string, kubeconfig, "", "kubeconfig file (default: in-cluster config)");
ABSL_FLAG(std::vector<std::string>, watch_namespaces, {}, "Namespaces to watch (default: all)");
ABSL_FLAG(std::vector<std::string>, worker_images, {},
          "runtime=image pairs, e.g. python3.11=wisp/worker-python3.11:0.1.0");
ABSL_FLAG(std::string, worker_image_pull_policy, "IfNotPresent", "Pull policy for worker images");
ABSL_FLAG(std::string, gateway_url, "", "The gateway's base URL as users reach it (for status.url)");
ABSL_FLAG(bool, leader_elect, false, "Elect a leader with a Lease (run 2+ replicas)");
ABSL_FLAG(std::string, lease_namespace, "wisp-system", "Namespace of the leader Lease");
ABSL_FLAG(std::string, lease_name, "wisp-operator", "Name of the leader Lease");
ABSL_FLAG(std::string, identity, "", "Leader identity (default: hostname-pid)");
ABSL_FLAG(int, lease_duration_seconds, 15, "How long a leader's claim lasts without renewal");
ABSL_FLAG(int, renew_deadline_seconds, 10, "A leader that cannot renew this long steps down");
ABSL_FLAG(int, retry_period_seconds, 2, "How often to try to acquire or renew");
ABSL_FLAG(int, workers, 2, "Reconcile workers");
ABSL_FLAG(std::string, redis, "",
          "Redis (host:port) where the leader fires schedule triggers as async invocations. "
          "Empty: schedules are not fired");
ABSL_FLAG(int, schedule_grace_seconds, 300,
          "A schedule tick missed (no leader, Redis down) still fires this long after its time "
          "(only the newest missed one); older ones are skipped and counted");
ABSL_FLAG(std::string, region, "us-east-1", "Region in the Scheduled Events' rule ARNs");
ABSL_FLAG(std::string, account_id, "000000000000", "Account id in the Scheduled Events' rule ARNs");
ABSL_FLAG(std::string, testonly_schedule_clock, "",
          "Tests only: \"<origin unix ms>:<speed>\" runs the schedule clock <speed> times faster "
          "than real time from the origin (operators given the same value agree)");
ABSL_FLAG(bool, autoscale, true,
          "Scale Functions from the gateways' reports (the leader writes spec.replicas)");
ABSL_FLAG(int, autoscaler_stable_window_seconds, 60, "The autoscaler's stable window");
ABSL_FLAG(int, autoscaler_panic_window_seconds, 6, "The autoscaler's panic window");
ABSL_FLAG(int, autoscaler_scale_down_delay_seconds, 30,
          "How long a replica count must go unwanted before the autoscaler gives it up");
ABSL_FLAG(int, scale_to_zero_after_cap_seconds, 0,
          "When > 0, caps every Function's scaling.scaleToZeroAfterSeconds (tests, demos)");
ABSL_FLAG(std::string, listen, "0.0.0.0", "Address for the gateways' stream and admin HTTP");
ABSL_FLAG(int, port, 9100, "gRPC port of the gateways' routing stream (0 picks one)");
ABSL_FLAG(std::string, advertise_address, "",
          "HOST or HOST:PORT where gateways reach this replica's routing stream; the leader writes "
          "it into its Lease so that every gateway sends its reports to the leader. Without a "
          "port, the bound --port is used. Default: $POD_IP when set, else nothing is advertised");
ABSL_FLAG(int, admin_port, 9101, "Admin HTTP port for /metrics /healthz /readyz (0 picks one)");
ABSL_FLAG(std::string, port_file, "", "Write \"<admin port>\" here once listening");

int main(int argc, char** argv) {
  using namespace wisp;
  absl::SetProgramUsageMessage("wisp-operator: reconciles wisp.dev Functions into workloads");
  absl::ParseCommandLine(argc, argv);
  BlockTerminationSignals();

  absl::StatusOr<kube::KubeConfig> kc;
  if (!absl::GetFlag(FLAGS_server).empty()) {
    kc = kube::ServerOnly(absl::GetFlag(FLAGS_server));
  } else if (!absl::GetFlag(FLAGS_kubeconfig).empty()) {
    kc = kube::LoadKubeconfig(absl::GetFlag(FLAGS_kubeconfig));
  } else {
    kc = kube::InClusterConfig();
  }
  if (!kc.ok()) {
    log::Error("no Kubernetes API configuration", {{"error", std::string(kc.status().message())}});
    return 2;
  }
  op::OperatorOptions options;
  options.namespaces = absl::GetFlag(FLAGS_watch_namespaces);
  for (const std::string& pair : absl::GetFlag(FLAGS_worker_images)) {
    std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
      log::Error("--worker_images entries are runtime=image", {{"entry", pair}});
      return 2;
    }
    options.config.worker_images[kv[0]] = kv[1];
  }
  options.config.gateway_url = absl::GetFlag(FLAGS_gateway_url);
  options.workers = std::max(1, absl::GetFlag(FLAGS_workers));
  options.autoscale = absl::GetFlag(FLAGS_autoscale);
  options.autoscaling.defaults.stable_window =
      absl::Seconds(absl::GetFlag(FLAGS_autoscaler_stable_window_seconds));
  options.autoscaling.defaults.panic_window =
      absl::Seconds(absl::GetFlag(FLAGS_autoscaler_panic_window_seconds));
  options.autoscaling.defaults.scale_down_delay =
      absl::Seconds(absl::GetFlag(FLAGS_autoscaler_scale_down_delay_seconds));
  options.autoscaling.scale_to_zero_after_cap =
      absl::Seconds(absl::GetFlag(FLAGS_scale_to_zero_after_cap_seconds));
  options.scheduler.redis = absl::GetFlag(FLAGS_redis);
  options.scheduler.plan.region = absl::GetFlag(FLAGS_region);
  options.scheduler.plan.account_id = absl::GetFlag(FLAGS_account_id);
  options.scheduler.plan.grace = absl::Seconds(absl::GetFlag(FLAGS_schedule_grace_seconds));
  if (options.scheduler.plan.grace < kMinScheduleGrace ||
      options.scheduler.plan.grace > kMaxScheduleGrace) {
    log::Error("--schedule_grace_seconds must be between 1 and 86400",
               {{"value", absl::GetFlag(FLAGS_schedule_grace_seconds)}});
    return 2;
  }
  if (!absl::GetFlag(FLAGS_testonly_schedule_clock).empty()) {
    std::vector<std::string> parts =
        absl::StrSplit(absl::GetFlag(FLAGS_testonly_schedule_clock), ':');
    int64_t origin_ms = 0;
    double speed = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &origin_ms) ||
        !absl::SimpleAtod(parts[1], &speed) || speed <= 0) {
      log::Error("--testonly_schedule_clock is <origin unix ms>:<speed>",
                 {{"value", absl::GetFlag(FLAGS_testonly_schedule_clock)}});
      return 2;
    }
    options.scheduler.now = op::ScaledClock(absl::FromUnixMillis(origin_ms), speed);
    options.scheduler.speed = speed;
  }
  options.leader_elect = absl::GetFlag(FLAGS_leader_elect);
  options.leader.lease_namespace = absl::GetFlag(FLAGS_lease_namespace);
  options.leader.lease_name = absl::GetFlag(FLAGS_lease_name);
  options.leader.identity = absl::GetFlag(FLAGS_identity);
  if (options.leader.identity.empty()) {
    char host[256] = "operator";
    gethostname(host, sizeof(host) - 1);
    options.leader.identity = absl::StrCat(host, "-", getpid());
  }
  options.leader.lease_duration = absl::Seconds(absl::GetFlag(FLAGS_lease_duration_seconds));
  options.leader.renew_deadline = absl::Seconds(absl::GetFlag(FLAGS_renew_deadline_seconds));
  options.leader.retry_period = absl::Seconds(absl::GetFlag(FLAGS_retry_period_seconds));

  kube::RestKubeClient client(*kc);
  auto registry = std::make_shared<prometheus::Registry>();
  op::Operator operator_(&client, options, registry);
  op::GatewayReports reports(registry);
  std::vector<op::GatewayReportSink*> sinks = {&reports};
  if (operator_.autoscaling() != nullptr) sinks.push_back(operator_.autoscaling());
  op::TeeReportSink sink(std::move(sinks));
  auto snapshots = op::SnapshotServer::Start(
      {absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_port)}, operator_.functions(),
      operator_.endpoint_slices(), &sink, registry);
  if (!snapshots.ok()) {
    log::Error("cannot start the snapshot server",
               {{"error", std::string(snapshots.status().message())}});
    return 1;
  }
  std::string advertise = absl::GetFlag(FLAGS_advertise_address);
  if (advertise.empty() && getenv("POD_IP") != nullptr) advertise = getenv("POD_IP");
  absl::StatusOr<std::string> advertised = op::AdvertiseAddress(advertise, (*snapshots)->port());
  if (!advertised.ok()) {
    log::Error("bad --advertise_address", {{"error", std::string(advertised.status().message())}});
    return 2;
  }
  operator_.set_advertise_address(*advertised);
  op::SnapshotServer* snapshot_server = snapshots->get();
  operator_.OnLeaderChange([snapshot_server](bool leading, const std::string& leader_address) {
    snapshot_server->SetLeader(leading, leader_address);
  });
  operator_.Start();
  auto admin = AdminServer::Start(absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_admin_port),
                                  registry, [&operator_] { return operator_.Synced(); });
  if (!admin.ok()) {
    log::Error("cannot start the admin server", {{"error", std::string(admin.status().message())}});
    return 1;
  }
  if (!absl::GetFlag(FLAGS_port_file).empty()) {
    std::ofstream(absl::GetFlag(FLAGS_port_file)) << (*admin)->port() << "\n";
  }
  log::Info("operator started", {{"server", kc->server}, {"identity", options.leader.identity},
                                 {"leader_elect", options.leader_elect ? "true" : "false"},
                                 {"advertise_address", *advertised},
                                 {"redis", options.scheduler.redis},
                                 {"admin_port", (*admin)->port()},
                                 {"port", (*snapshots)->port()}});
  int sig = WaitForTerminationSignal();
  log::Info("stopping", {{"signal", sig}});
  (*snapshots)->Stop();
  operator_.Stop();
  (*admin)->Stop();
  return 0;
}
