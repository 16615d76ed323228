#include "operator/cli/invoke.h"

#include <unistd.h>

#include <httplib.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "operator/cli/args.h"
#include "worker/worker_client.h"

namespace wisp::cli {
namespace {

constexpr char kUsage[] =
    R"(usage: wisp invoke NAME [--gateway URL] [options]
       wisp invoke --worker HOST:PORT [NAME] [options]

Calls a function and prints its response on stdout: through the gateway's Invoke API
(POST /2015-03-31/functions/NAME/invocations), or a worker directly with --worker.
  NAME                   the function (optional with --worker: a worker serves one)
  --gateway URL          the gateway (default http://127.0.0.1:8080, `wisp up`'s)
  --worker HOST:PORT     call this worker over gRPC instead of the gateway
  --payload JSON         the event (default: {} , or stdin when it is not a terminal)
  --payload-file FILE    read the event from FILE ("-" for stdin)
  --log-tail             print the invocation's last 4 KB of log on stderr
  --invocation-type T    RequestResponse (default), Event (asynchronous: prints the request id
                         once the gateway stored the event) or DryRun; --event is Event
  --timeout SECONDS      give up after this long (default 930)
Exit status: 0 success, 1 function error (as JSON on stderr), 2 platform error.
)";

// Splits "http://host:port" into what httplib needs; false when it is not such a URL.
bool ParseGateway(const std::string& url, std::string* host, int* port) {
  std::string rest = url;
  if (absl::StartsWith(rest, "http://")) rest = rest.substr(7);
  if (absl::StartsWith(rest, "https://")) return false;
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    *host = rest;
    *port = 80;
  } else {
    *host = rest.substr(0, colon);
    if (!absl::SimpleAtoi(rest.substr(colon + 1), port) || *port <= 0 || *port > 65535) {
      return false;
    }
  }
  return !host->empty() && host->find('/') == std::string::npos;
}

// The Invoke API through the gateway. Exit codes as RunInvoke's.
int InvokeThroughGateway(const std::string& gateway, const std::string& name,
                         const std::string& payload, bool log_tail, int timeout_s,
                         const std::string& invocation_type) {
  std::string host;
  int port = 0;
  if (!ParseGateway(gateway, &host, &port)) {
    std::cerr << "wisp invoke: --gateway needs http://HOST[:PORT], got \"" << gateway << "\"\n";
    return 2;
  }
  httplib::Client client(host, port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(timeout_s, 0);
  client.set_write_timeout(30, 0);
  httplib::Headers headers = {{"X-Amz-Invocation-Type", invocation_type}};
  if (log_tail) headers.emplace("X-Amz-Log-Type", "Tail");
  auto res = client.Post(
      absl::StrCat("/2015-03-31/functions/", name, "/invocations"), headers, payload,
      "application/json");
  if (!res) {
    std::cerr << "wisp invoke: UNAVAILABLE: cannot reach the gateway at " << gateway << ": "
              << httplib::to_string(res.error()) << " (is `wisp up` running?)\n";
    return 2;
  }
  if (log_tail && res->has_header("X-Amz-Log-Result")) {
    std::string log;
    if (absl::Base64Unescape(res->get_header_value("X-Amz-Log-Result"), &log)) std::cerr << log;
  }
  if (res->status < 200 || res->status >= 300) {
    // Lambda's error body: {"Type":"User","message":"Function not found: ..."} and the like.
    std::cerr << "wisp invoke: HTTP " << res->status << ": " << res->body << "\n";
    return 2;
  }
  if (res->has_header("X-Amz-Function-Error")) {
    std::cerr << res->body << "\n";
    return 1;
  }
  if (invocation_type == "Event") {
    // 202: stored; the function runs later under this request id (its logs carry it).
    std::cout << nlohmann::json{{"StatusCode", res->status},
                                {"RequestId", res->get_header_value("x-amzn-RequestId")}}
                     .dump()
              << "\n";
    return 0;
  }
  if (invocation_type == "DryRun") {
    std::cout << nlohmann::json{{"StatusCode", res->status}}.dump() << "\n";
    return 0;
  }
  std::cout << res->body;
  if (isatty(STDOUT_FILENO)) std::cout << "\n";
  return 0;
}

int Usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "wisp invoke: " << problem << "\n";
  std::cerr << kUsage;
  return 2;
}

}  // namespace

int RunInvoke(const std::vector<std::string>& args) {
  std::string worker, gateway = "http://127.0.0.1:8080", name, payload, payload_file;
  bool have_payload = false, log_tail = false;
  std::string invocation_type = "RequestResponse";
  int timeout_s = 930;
  ArgReader r(args);
  while (r.Next()) {
    const std::string& a = r.arg();
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (r.Is({"--gateway"})) {
      if (!r.Value(&gateway)) return Usage("--gateway needs a URL");
    } else if (r.Is({"--worker"})) {
      if (!r.Value(&worker)) return Usage("--worker needs HOST:PORT");
    } else if (r.Is({"--payload-file"})) {
      if (!r.Value(&payload_file)) return Usage("--payload-file needs a file");
    } else if (r.Is({"--payload"})) {
      if (!r.Value(&payload)) return Usage("--payload needs a value");
      have_payload = true;
    } else if (a == "--log-tail") {
      log_tail = true;
    } else if (a == "--event") {
      invocation_type = "Event";
    } else if (r.Is({"--invocation-type"})) {
      if (!r.Value(&invocation_type) ||
          (invocation_type != "RequestResponse" && invocation_type != "Event" &&
           invocation_type != "DryRun")) {
        return Usage("--invocation-type is RequestResponse, Event or DryRun");
      }
    } else if (r.Is({"--timeout"})) {
      if (!r.IntValue(&timeout_s) || timeout_s <= 0) {
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
  if (worker.empty() && name.empty()) return Usage("NAME is required");
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

  if (worker.empty()) {
    return InvokeThroughGateway(gateway, name, payload, log_tail, timeout_s, invocation_type);
  }
  if (invocation_type != "RequestResponse") {
    return Usage("--invocation-type needs the gateway: a worker is called synchronously");
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
