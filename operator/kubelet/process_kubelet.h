// The process kubelet of local mode: watches the Deployments the operator owns
// (app.kubernetes.io/managed-by=wisp-operator) on the API server and runs each replica as a
// local `wisp-worker` process, so that the whole Kubernetes path runs on one machine.
//
// One reconcile loop (its own thread) does everything, keyed by Deployment:
//   - desired replicas from spec.replicas; one process per replica index;
//   - the pod template's worker container is the command: its args are kept, with paths under
//     the ConfigMap volumes' mount paths rewritten to local folders and the network/work-dir
//     flags replaced (--listen 127.0.0.1 --port 0 --admin_port 0 --port_file --work_dir); its
//     env entries with a literal value are added to the process environment;
//   - ConfigMap volumes are materialized into <data_dir>/<ns>/<name>/<config-hash>/<volume>
//     (data and binaryData keys -> files, the volume's defaultMode), and function.json's
//     codePath is rewritten to the local code folder;
//   - readiness: the port file gives the ports, then the admin /readyz answering 200;
//   - one Pod object per replica, `<deployment>-<index>` (the template's labels plus
//     wisp.dev/kubelet=local, owned by the Deployment, status phase/podIP/Ready), so that the
//     operator can annotate it (controller.kubernetes.io/pod-deletion-cost) as on a cluster;
//   - one EndpointSlice per process, `<deployment>-<index>` (ports are per slice), labelled
//     kubernetes.io/service-name=<deployment> and endpointslice.kubernetes.io/managed-by=
//     wisp-kubelet, owned by the Deployment; the endpoint is 127.0.0.1 with conditions.ready
//     and targetRef = its Pod;
//   - the Deployment's status through /status (observedGeneration, replica counts,
//     Available/Progressing conditions);
//   - a new config hash replaces processes (start new, then SIGTERM old once it is ready);
//     scaling down removes the replicas the ReplicaSet controller would: not ready first, then
//     the lowest pod-deletion-cost (read from the Pods when scaling down), then the highest
//     index; each loses its slice and Pod, then gets SIGTERM (the worker drains);
//     scaling up takes the lowest indexes no running or stopping process uses;
//     a crashed process is restarted with backoff (1 s doubling to 30 s), its slice not ready
//     meanwhile; a deleted Deployment's processes are stopped and its slices deleted.
// Not supported locally: code from an image (an emptyDir filled by an init container) and
// resource limits (the worker's own sandbox applies memory limits per environment).
// Stop() SIGTERMs every worker and waits for them (SIGKILL after the grace period).
// Thread-safe.
#ifndef WISP_OPERATOR_KUBELET_PROCESS_KUBELET_H_
#define WISP_OPERATOR_KUBELET_PROCESS_KUBELET_H_

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "operator/informer_set.h"
#include "operator/kube/client.h"

namespace wisp::op {

struct ProcessKubeletOptions {
  std::string data_dir;        // required
  std::string worker_binary;   // required: path to wisp-worker
  std::string runtimes_dir;    // passed as --runtimes_dir when set
  std::string python;          // passed as --python when set
  std::string node;            // passed as --node when set
  std::vector<std::string> namespaces;  // empty: all
  absl::Duration tick = absl::Milliseconds(100);
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  // A process that ran this long before exiting restarts with the initial backoff.
  absl::Duration backoff_reset = absl::Seconds(60);
  // Longest wait after SIGTERM before SIGKILL (the pod's terminationGracePeriodSeconds when
  // smaller).
  absl::Duration max_grace = absl::Seconds(30);
};

class ProcessKubelet {
 public:
  // What a replica is running, for tests and `wisp get`.
  struct ReplicaInfo {
    int index = 0;
    pid_t pid = -1;  // -1 while waiting to (re)start
    int port = 0;
    int admin_port = 0;
    bool ready = false;
    int restarts = 0;
    std::string config_hash;
  };

  ProcessKubelet(kube::KubeClient* client, ProcessKubeletOptions options);
  ~ProcessKubelet();  // Stop()
  void Start();
  void Stop();
  // The current process of each replica index of Deployment ns/name (sorted by index).
  std::vector<ReplicaInfo> Replicas(const std::string& ns, const std::string& name);
  // Number of live worker processes (all Deployments, including ones being stopped).
  int LiveProcesses();

  struct Process;
  struct DeploymentState;

 private:
  void Run();
  void Tick();
  void ReconcileDeployment(DeploymentState& st, const nlohmann::json* deployment);
  void ReapAll();
  void ProbeAll();
  bool Materialize(DeploymentState& st, const nlohmann::json& deployment, const std::string& hash,
                   std::string* error);
  bool StartProcess(DeploymentState& st, int index, const std::string& hash, Process* p,
                    std::string* error);
  void Terminate(Process& p, int64_t grace_seconds);
  void WriteSlice(DeploymentState& st, int index, const Process* p);
  void DeleteSlice(DeploymentState& st, int index);
  void WritePod(DeploymentState& st, int index, const nlohmann::json& deployment, const Process* p);
  void DeletePod(DeploymentState& st, int index);
  // The `count` replica indexes to remove, in order.
  std::vector<int> ScaleDownVictims(DeploymentState& st, size_t count);
  void WriteStatus(DeploymentState& st, const nlohmann::json& deployment);
  void Publish();
  void ShutdownAll();

  kube::KubeClient* client_;
  const ProcessKubeletOptions options_;
  InformerSet deployments_;
  std::map<std::string, std::unique_ptr<DeploymentState>> states_;  // loop thread only
  bool starting_ = false;  // loop thread only: a worker has not been ready yet
  absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::vector<ReplicaInfo>> published_ ABSL_GUARDED_BY(mu_);
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::thread thread_;
};

}  // namespace wisp::op

#endif  // WISP_OPERATOR_KUBELET_PROCESS_KUBELET_H_
