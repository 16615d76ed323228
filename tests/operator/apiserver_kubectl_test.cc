// The API server driven by the real kubectl (1.32 through the installed
// dispatcher): the Function CRD and objects applied client-side and
// server-side, printer columns, the scale subresource, `kubectl wait` over a
// watch, delete, and a built-in kind's strategic merge path.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/apiserver/api_server.h"

namespace wisp::apiserver {
namespace {

using testing::HasSubstr;

struct Result {
  int exit_code = -1;
  std::string out, err;
};

// A kubectl child process with its output collected through pipes.
class Process {
 public:
  Process(const std::vector<std::string>& argv,
          const std::vector<std::string>& env, const std::string& input) {
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0) {
      return;
    }
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      std::vector<char*> args, envp;
      for (const std::string& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      for (const std::string& e : env)
        envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
      execve(args[0], args.data(), envp.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (!input.empty()) (void)!write(in[1], input.data(), input.size());
    close(in[1]);
    out_ = out[0];
    err_ = err[0];
  }

  // Collects output until the process exits; kills it after `timeout`.
  Result Finish(absl::Duration timeout) {
    Result run;
    if (pid_ <= 0) return run;
    absl::Time deadline = absl::Now() + timeout;
    bool out_open = true, err_open = true;
    while ((out_open || err_open) && absl::Now() < deadline) {
      pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
      int n = poll(fds, 2, 100);
      if (n <= 0) continue;
      char buf[4096];
      for (int i = 0; i < 2; ++i) {
        if (fds[i].revents == 0) continue;
        ssize_t got = read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          (i == 0 ? run.out : run.err).append(buf, static_cast<size_t>(got));
        } else {
          (i == 0 ? out_open : err_open) = false;
          fds[i].fd = -1;
        }
      }
    }
    if (out_open || err_open) {
      kill(pid_, SIGKILL);
      run.err += "\n[killed after timeout]";
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    close(out_);
    close(err_);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    return run;
  }

  ~Process() {
    if (pid_ > 0) Finish(absl::Seconds(1));
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, err_ = -1;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class KubectlTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* kubectl = getenv("WISP_KUBECTL");
    kubectl_ = kubectl != nullptr ? kubectl : "/usr/bin/kubectl";
    if (access(kubectl_.c_str(), X_OK) != 0)
      GTEST_SKIP() << "kubectl not found at " << kubectl_;
    testdata_ = WISP_APISERVER_TESTDATA;

    std::string tmpl = absl::StrCat(testing::TempDir(), "/kubectl-XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    home_ = tmpl;

    absl::StatusOr<std::unique_ptr<Store>> store = Store::Open({});
    ASSERT_TRUE(store.ok());
    absl::StatusOr<std::unique_ptr<ApiServer>> server =
        ApiServer::Start({}, *std::move(store));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Stop();
    if (!home_.empty()) std::filesystem::remove_all(home_);
  }

  std::unique_ptr<Process> Start(std::vector<std::string> args,
                                 const std::string& input = "") {
    std::vector<std::string> argv = {kubectl_, "--server", server_->url(),
                                     "--cache-dir", home_ + "/cache"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env = {"KUBECONFIG=/dev/null", "HOME=" + home_,
                                    "PATH=/usr/bin:/bin", "TMPDIR=" + home_};
    return std::make_unique<Process>(argv, env, input);
  }
  Result Kubectl(std::vector<std::string> args, const std::string& input = "") {
    Result run = Start(std::move(args), input)->Finish(absl::Seconds(30));
    return run;
  }
  // Runs kubectl and expects success; returns stdout.
  std::string Ok(std::vector<std::string> args, const std::string& input = "") {
    std::string what = absl::StrJoin(args, " ");
    Result run = Kubectl(std::move(args), input);
    EXPECT_EQ(run.exit_code, 0) << "kubectl " << what << "\nstdout: " << run.out
                                << "\nstderr: " << run.err;
    return run.out;
  }

  Json Function() {
    ResourceType fns =
        *server_->store().FindResource("wisp.dev", "v1alpha1", "functions");
    return server_->store().Get(fns, "default", "hello").value_or(Json());
  }

  std::string kubectl_, testdata_, home_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(KubectlTest, FunctionLifecycle) {
  std::string crd = testdata_ + "/function-crd.yaml";
  std::string hello = testdata_ + "/function-hello.yaml";
  EXPECT_THAT(Ok({"apply", "-f", crd}),
              HasSubstr("customresourcedefinition.apiextensions.k8s.io/"
                        "functions.wisp.dev created"));
  EXPECT_THAT(Ok({"apply", "-f", hello}),
              HasSubstr("function.wisp.dev/hello created"));
  EXPECT_EQ(Function()["spec"]["timeoutSeconds"], 3)
      << "CRD schema defaults applied";

  std::string table = Ok({"get", "fn"});
  EXPECT_THAT(table, testing::MatchesRegex(
                         "NAME +READY +REPLICAS +URL +AGE\nhello +[0-9]+s\n"));

  // Client-side apply of a change: a merge patch computed from
  // last-applied-configuration.
  std::string changed = absl::StrReplaceAll(
      ReadFile(hello), {{"memoryMB: 256", "memoryMB: 512"}});
  EXPECT_THAT(Ok({"apply", "-f", "-"}, changed),
              HasSubstr("function.wisp.dev/hello configured"));
  Json fn = Function();
  EXPECT_EQ(fn["spec"]["memoryMB"], 512);
  EXPECT_EQ(fn["metadata"]["generation"], 2);
  EXPECT_THAT(fn["metadata"]["annotations"]
                ["kubectl.kubernetes.io/last-applied-configuration"]
                    .get<std::string>(),
              HasSubstr("\"memoryMB\":512"));
  EXPECT_THAT(Ok({"apply", "-f", "-"}, changed),
              HasSubstr("function.wisp.dev/hello unchanged"));

  // The scale subresource.
  EXPECT_THAT(Ok({"scale", "fn/hello", "--replicas=3"}),
              HasSubstr("function.wisp.dev/hello scaled"));
  fn = Function();
  EXPECT_EQ(fn["spec"]["replicas"], 3);
  int64_t generation = fn["metadata"]["generation"];
  EXPECT_EQ(generation, 3);

  // kubectl wait lists, then watches; Ready is set through the status
  // subresource once the watch is open.
  std::unique_ptr<Process> wait =
      Start({"wait", "--for=condition=Ready", "fn/hello", "--timeout=20s"});
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  while (server_->store().OpenWatches() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_GT(server_->store().OpenWatches(), 0)
      << "kubectl wait never opened a watch";
  ResourceType fns =
      *server_->store().FindResource("wisp.dev", "v1alpha1", "functions");
  absl::StatusOr<Store::MutateResult> ready = server_->store().Mutate(
      fns, "default", "hello", Subresource::kStatus,
      [&](const Json* current) -> absl::StatusOr<Json> {
        Json next = *current;
        next["status"] = {{"replicas", 3},
                          {"url", "http://gateway/function/hello"},
                          {"conditions",
                           {{{"type", "Ready"},
                             {"status", "True"},
                             {"reason", "Ready"},
                             {"message", ""},
                             {"observedGeneration", generation},
                             {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}};
        return next;
      });
  ASSERT_TRUE(ready.ok()) << ready.status();
  Result waited = wait->Finish(absl::Seconds(25));
  EXPECT_EQ(waited.exit_code, 0) << waited.out << waited.err;
  EXPECT_THAT(waited.out, HasSubstr("function.wisp.dev/hello condition met"));

  table = Ok({"get", "fn"});
  EXPECT_THAT(table,
              testing::MatchesRegex(
                  "NAME +READY +REPLICAS +URL +AGE\n"
                  "hello +True +3 +http://gateway/function/hello +[0-9]+s\n"));
  EXPECT_EQ(Ok({"get", "fn", "hello", "-o",
                "jsonpath={.spec.memoryMB}/{.spec.replicas}"}),
            "512/3");

  EXPECT_THAT(Ok({"delete", "fn", "hello"}),
              HasSubstr("function.wisp.dev \"hello\" deleted"));
  EXPECT_TRUE(Function().is_null());
  Result missing = Kubectl({"get", "fn", "hello"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("functions.wisp.dev \"hello\" not found"));

  // Server-side apply: create, then change.
  EXPECT_THAT(Ok({"apply", "--server-side", "-f", hello}),
              HasSubstr("function.wisp.dev/hello serverside-applied"));
  fn = Function();
  ASSERT_FALSE(fn.is_null());
  EXPECT_EQ(fn["metadata"]["managedFields"][0]["manager"], "kubectl");
  EXPECT_EQ(fn["metadata"]["managedFields"][0]["operation"], "Apply");
  std::string bigger = absl::StrReplaceAll(
      ReadFile(hello), {{"memoryMB: 256", "memoryMB: 1024"}});
  EXPECT_THAT(Ok({"apply", "--server-side", "-f", "-"}, bigger),
              HasSubstr("function.wisp.dev/hello serverside-applied"));
  EXPECT_EQ(Function()["spec"]["memoryMB"], 1024);

  // Server-side validation against the CRD schema.
  std::string invalid =
      absl::StrReplaceAll(ReadFile(hello), {{"memoryMB: 256", "memoryMB: 64"}});
  Result rejected = Kubectl({"apply", "-f", "-"}, invalid);
  EXPECT_NE(rejected.exit_code, 0);
  EXPECT_THAT(rejected.err, HasSubstr("The Function \"hello\" is invalid: "
                                      "spec.memoryMB: Invalid value: 64"));
}

TEST_F(KubectlTest, BuiltinKindsUseStrategicMergePatch) {
  std::string deployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: main
          image: example/web:1
          env:
            - {name: A, value: "1"}
)";
  EXPECT_THAT(Ok({"apply", "-f", "-"}, deployment),
              HasSubstr("deployment.apps/web created"));
  std::string v2 =
      absl::StrReplaceAll(deployment, {{"example/web:1", "example/web:2"}});
  EXPECT_THAT(Ok({"apply", "-f", "-"}, v2),
              HasSubstr("deployment.apps/web configured"));
  EXPECT_EQ(Ok({"get", "deploy", "web", "-o",
                "jsonpath={.spec.template.spec.containers[0].image}"}),
            "example/web:2");
  EXPECT_THAT(Ok({"scale", "deployment/web", "--replicas=5"}),
              HasSubstr("deployment.apps/web scaled"));
  EXPECT_EQ(Ok({"get", "deploy", "web", "-o",
                "jsonpath={.spec.replicas}/{.metadata.generation}"}),
            "5/3");
  EXPECT_THAT(Ok({"get", "deployments"}),
              testing::MatchesRegex("NAME +AGE\nweb +[0-9]+s\n"));
  // (Typed-client commands such as `kubectl create configmap` send protobuf,
  // which this server does not speak; `kubectl create -f` sends JSON.)
  EXPECT_THAT(Ok({"create", "-f", "-"},
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "
                 "settings}\ndata: {k: v}\n"),
              HasSubstr("configmap/settings created"));
  EXPECT_EQ(Ok({"get", "cm", "settings", "-o", "jsonpath={.data.k}"}), "v");
  EXPECT_THAT(Ok({"label", "cm", "settings", "team=wisp"}),
              HasSubstr("configmap/settings labeled"));
  EXPECT_THAT(Ok({"get", "cm", "-l", "team=wisp", "-o", "name"}),
              HasSubstr("configmap/settings"));
  EXPECT_THAT(Ok({"delete", "cm", "settings"}), HasSubstr("deleted"));
  EXPECT_THAT(Ok({"api-resources"}), HasSubstr("leases"));
}

}  // namespace
}  // namespace wisp::apiserver
