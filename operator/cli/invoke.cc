#include "operator/cli/invoke.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "worker/worker_client.h"

namespace wisp::cli {
namespace {

constexpr char kUsage[] =
    R"(usage: wisp invoke --worker HOST:PORT [NAME] [options]

Calls a worker directly and prints the function's response on stdout.
  --worker HOST:PORT     the worker to call
  NAME                   the function (optional: a worker serves one)
  --payload JSON         the event (default: {} , or stdin when it is not a terminal)
  --payload-file FILE    read the event from FILE ("-" for stdin)
  --log-tail             print the invocation's last 4 KB of log on stderr
  --timeout SECONDS      give up after this long (default 930)
Exit status: 0 success, 1 function error (as JSON on stderr), 2 platform error.
)";

int Usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "wisp invoke: " << problem << "\n";
  std::cerr << kUsage;
  return 2;
}

}  // namespace

int RunInvoke(const std::vector<std::string>& args) {
  std::string worker, name, payload, payload_file;
  bool have_payload = false, log_tail = false;
  int timeout_s = 930;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) -> bool {
      size_t eq = a.find('=');
      if (eq != std::string::npos) {
        out = a.substr(eq + 1);
        return true;
      }
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (absl::StartsWith(a, "--worker")) {
      if (!value(worker)) return Usage("--worker needs HOST:PORT");
    } else if (absl::StartsWith(a, "--payload-file")) {
      if (!value(payload_file)) return Usage("--payload-file needs a file");
    } else if (absl::StartsWith(a, "--payload")) {
      if (!value(payload)) return Usage("--payload needs a value");
      have_payload = true;
    } else if (a == "--log-tail") {
      log_tail = true;
    } else if (absl::StartsWith(a, "--timeout")) {
      if (!value(v) || !absl::SimpleAtoi(v, &timeout_s) || timeout_s <= 0) {
        return Usage("--timeout needs a positive number of seconds");
      }
    } else if (absl::StartsWith(a, "-")) {
      return Usage(absl::StrCat("unknown option ", a));
    } else if (name.empty()) {
      name = a;
    } else {
      return Usage(absl::StrCat("unexpected argument ", a));
    }
  }
  if (worker.empty()) {
    return Usage("--worker is required (calling through the gateway is not supported yet: use curl or an AWS SDK)");
  }
  if (!payload_file.empty()) {
    if (payload_file == "-") {
      payload.assign(std::istreambuf_iterator<char>(std::cin), {});
    } else {
      std::ifstream in(payload_file, std::ios::binary);
      if (!in) return Usage(absl::StrCat("cannot read ", payload_file));
      payload.assign(std::istreambuf_iterator<char>(in), {});
    }
  } else if (!have_payload) {
    if (isatty(STDIN_FILENO)) {
      payload = "{}";
    } else {
      payload.assign(std::istreambuf_iterator<char>(std::cin), {});
      if (payload.empty()) payload = "{}";
    }
  }

  auto client = worker::WorkerClient::Create(worker);
  v1::InvokeRequest req;
  req.set_function_name(name);
  req.set_payload(payload);
  req.set_log_tail(log_tail);
  absl::StatusOr<v1::InvokeResponse> resp = client->Invoke(req, absl::Seconds(timeout_s));
  if (!resp.ok()) {
    std::cerr << "wisp invoke: " << absl::StatusCodeToString(resp.status().code()) << ": "
              << resp.status().message() << "\n";
    return 2;
  }
  if (log_tail) std::cerr << resp->log_tail();
  if (resp->has_error()) {
    std::cerr << resp->payload() << "\n";
    return 1;
  }
  std::cout << resp->payload();
  if (isatty(STDOUT_FILENO)) std::cout << "\n";
  return 0;
}

}  // namespace wisp::cli
