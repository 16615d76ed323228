// wisp-gateway as a process in front of real wisp-worker processes running real python3 and node
// handlers, over loopback HTTP and gRPC: routes and path parameters, the API Gateway 2.0 event
// as the handler sees it, response mapping, Lambda's Invoke API, throttling and queueing, a
// worker killed or drained under load, malformed, oversized and slow clients, and the real AWS
// SDK for JavaScript v3 pointed at the gateway.
//
// Most tests share one gateway (`Shared()`, started on first use) in front of three workers:
//   pyecho   python, 2 environments: echoes its event; the event or a header steers it
//   nodeecho node,   1 environment:  the same in JavaScript
//   gate     python, 3 environments: holds a call until the test opens a gate file
// Tests that need other gateway flags or workers they may kill start their own.
// Nothing sleeps to wait: everything polls a condition (metrics, files, sockets) with a deadline.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/aws_sdk.h"
#include "tests/testing/gateway_process.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using json = nlohmann::json;

constexpr int64_t kMaxPayload = 6291456;  // 6 MiB, Lambda's synchronous payload limit
constexpr char kArnPrefix[] = "arn:aws:lambda:us-east-1:000000000000:function:";

// ---------------------------------------------------------------------------------------------
// Handlers.

// HTTP (2.0) events: `x-respond: <base64 JSON>` is returned as the result, `x-fail` raises,
// anything else echoes the event. Invoke API events: keys steer it (see below), else echo.
constexpr char kPythonApp[] = R"PY(
import base64, json, os, time

def _hold(path):
    # The test opens the gate by creating the file; give up well before the function timeout.
    deadline = time.monotonic() + 25
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError("gate never opened: " + path)
        time.sleep(0.002)

def handler(event, context):
    if isinstance(event, dict) and event.get("version") == "2.0" and "requestContext" in event:
        headers = event.get("headers", {})
        print("path", event.get("rawPath"), flush=True)
        if "x-respond" in headers:
            return json.loads(base64.b64decode(headers["x-respond"]))
        if "x-fail" in headers:
            raise RuntimeError(headers["x-fail"])
        return event
    if isinstance(event, dict):
        if "print" in event:
            print(event["print"], flush=True)
        if "print_bytes" in event:
            print("p" * event["print_bytes"], flush=True)
        if "hold" in event:
            _hold(event["hold"])
        if "work_ms" in event:
            time.sleep(event["work_ms"] / 1000.0)  # simulated work, not a wait
        if "fail" in event:
            raise ValueError(event["fail"])
        if "pad" in event:
            return {"padLength": len(event["pad"])}
        if "respond" in event:
            return event["respond"]
        if event.get("whoami"):
            return {"requestId": context.aws_request_id, "arn": context.invoked_function_arn,
                    "functionName": context.function_name}
    return event
)PY";

constexpr char kNodeApp[] = R"JS(
exports.handler = async (event, context) => {
  if (event && event.version === '2.0' && event.requestContext) {
    const h = event.headers || {};
    console.log('path', event.rawPath);
    if (h['x-respond']) return JSON.parse(Buffer.from(h['x-respond'], 'base64').toString('utf8'));
    if (h['x-fail']) throw new Error(h['x-fail']);
    return event;
  }
  if (event && event.fail) { const e = new TypeError(event.fail); throw e; }
  if (event && event.respond !== undefined) return event.respond;
  if (event && event.whoami) return { requestId: context.awsRequestId, arn: context.invokedFunctionArn };
  return event;
};
)JS";

// ---------------------------------------------------------------------------------------------
// Helpers.

std::unique_ptr<WorkerProcess> StartWorker(const TempDir& code, const std::string& name,
                                           const std::string& runtime, int concurrency,
                                           int timeout_seconds = 30) {
  std::string handler = runtime == "nodejs20" ? "index.handler" : "app.handler";
  auto w = WorkerProcess::Start({"--name=" + name, "--runtime=" + runtime, "--handler=" + handler,
                                 "--code=" + code.path(), absl::StrCat("--concurrency=", concurrency),
                                 absl::StrCat("--timeout=", timeout_seconds)});
  EXPECT_TRUE(w.ok()) << name << ": " << w.status();
  return w.ok() ? std::move(*w) : nullptr;
}

json Endpoint(const WorkerProcess& w, int capacity) {
  return {{"address", w.target()}, {"capacity", capacity}};
}

std::unique_ptr<GatewayProcess> StartGateway(const json& catalog, std::vector<std::string> args = {}) {
  auto g = GatewayProcess::Start(catalog.dump(), std::move(args));
  EXPECT_TRUE(g.ok()) << g.status();
  return g.ok() ? std::move(*g) : nullptr;
}

std::unique_ptr<httplib::Client> Client(int port, int read_timeout_seconds = 60) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_tcp_nodelay(true);
  c->set_keep_alive(true);
  c->set_url_encode(false);  // paths go out exactly as written
  c->set_connection_timeout(5);
  c->set_read_timeout(read_timeout_seconds);
  c->set_write_timeout(30);
  return c;
}

std::string InvokePath(const std::string& function, const std::string& query = "") {
  return absl::StrCat("/2015-03-31/functions/", function, "/invocations", query);
}

std::string B64(absl::string_view s) { return absl::Base64Escape(s); }
std::string UnB64(absl::string_view s) {
  std::string out;
  EXPECT_TRUE(absl::Base64Unescape(s, &out)) << s;
  return out;
}

json ParseOrNull(const std::string& s) { return json::parse(s, nullptr, /*allow_exceptions=*/false); }

// A file the `hold` handler waits for. Opened at the latest when it goes out of scope, so a
// failing test never leaves environments busy for the next one.
class Gate {
 public:
  explicit Gate(const TempDir& dir) {
    static std::atomic<int> n{0};
    path_ = absl::StrCat(dir.path(), "/gate-", ::getpid(), "-", n++);
  }
  ~Gate() { Open(); }
  const std::string& path() const { return path_; }
  void Open() { std::ofstream(path_) << "open"; }

 private:
  std::string path_;
};

// An HTTP call on its own thread with its own connection; Wait() gives the result.
struct AsyncCall {
  std::atomic<int> status{0};  // 0: no response (yet); set last

  std::string body;
  httplib::Headers headers;
  absl::Duration elapsed;
  std::thread thread;

  void Wait() {
    if (thread.joinable()) thread.join();
  }
  ~AsyncCall() { Wait(); }
};

std::unique_ptr<AsyncCall> PostAsync(int port, std::string path, std::string body) {
  auto call = std::make_unique<AsyncCall>();
  AsyncCall* c = call.get();
  c->thread = std::thread([c, port, path = std::move(path), body = std::move(body)] {
    absl::Time start = absl::Now();
    auto res = Client(port)->Post(path.c_str(), body, "application/json");
    c->elapsed = absl::Now() - start;
    if (res) {
      c->body = res->body;
      c->headers = res->headers;
      c->status = res->status;
    }
  });
  return call;
}

std::string Header(const httplib::Headers& headers, const std::string& name) {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

// Raw sockets, for what no well-behaved client sends.
struct RawReply {
  std::string data;     // everything read
  int status = 0;       // from the status line, 0 if none
  std::string body;     // by Content-Length
  bool closed = false;  // the peer closed the connection
  absl::Duration elapsed;
};

int ConnectRaw(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendRaw(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(n);
  }
  return true;
}

// Reads one response (head, then Content-Length bytes of body), or until the peer closes, or
// until `timeout`.
RawReply ReadRaw(int fd, absl::Duration timeout) {
  RawReply r;
  absl::Time start = absl::Now();
  absl::Time deadline = start + timeout;
  size_t want = std::string::npos;
  while (true) {
    size_t head_end = r.data.find("\r\n\r\n");
    if (head_end != std::string::npos && want == std::string::npos) {
      std::string head = absl::AsciiStrToLower(r.data.substr(0, head_end));
      size_t cl = head.find("\r\ncontent-length:");
      size_t len = 0;
      if (cl != std::string::npos) {
        size_t eol = head.find("\r\n", cl + 2);
        absl::SimpleAtoi(absl::StripAsciiWhitespace(head.substr(cl + 17, eol - cl - 17)), &len);
      }
      want = head_end + 4 + len;
    }
    if (want != std::string::npos && r.data.size() >= want) break;
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.closed = true;
      break;
    }
    r.data.append(buf, n);
  }
  r.elapsed = absl::Now() - start;
  if (absl::StartsWith(r.data, "HTTP/1.")) absl::SimpleAtoi(r.data.substr(9, 3), &r.status);
  size_t head_end = r.data.find("\r\n\r\n");
  if (head_end != std::string::npos) r.body = r.data.substr(head_end + 4);
  return r;
}

RawReply RawExchange(int port, absl::string_view request, absl::Duration timeout = absl::Seconds(20)) {
  int fd = ConnectRaw(port);
  if (fd < 0) return {};
  SendRaw(fd, request);
  RawReply r = ReadRaw(fd, timeout);
  ::close(fd);
  return r;
}

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
template <typename F>
bool WaitUntil(F cond, absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

double WorkerMetric(const WorkerProcess& w, const std::string& series) {
  auto text = HttpGet(w.admin_port(), "/metrics");
  if (!text.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    if (absl::ConsumePrefix(&line, series) && absl::ConsumePrefix(&line, " ")) {
      double v = 0;
      if (absl::SimpleAtod(line, &v)) return v;
    }
  }
  return -1;
}

std::string InFlight(const std::string& fn) { return absl::StrCat("wisp_gateway_in_flight{function=\"", fn, "\"}"); }
std::string Queued(const std::string& fn) { return absl::StrCat("wisp_gateway_queued{function=\"", fn, "\"}"); }

// ---------------------------------------------------------------------------------------------
// The shared gateway.

struct SharedEnv {
  TempDir py_code, node_code, gates;
  std::unique_ptr<WorkerProcess> pyecho, nodeecho, gate;
  std::unique_ptr<GatewayProcess> gateway;
  static constexpr int kMaxHeaders = 30;
  static constexpr int kReadTimeoutSeconds = 2;

  bool Start() {
    py_code.Write("app.py", kPythonApp);
    node_code.Write("index.js", kNodeApp);
    pyecho = StartWorker(py_code, "pyecho", "python3.11", 2);
    nodeecho = StartWorker(node_code, "nodeecho", "nodejs20", 1);
    gate = StartWorker(py_code, "gate", "python3.11", 3);
    if (!pyecho || !nodeecho || !gate) return false;
    json catalog = {{"functions", json::array({
        {{"name", "pyecho"}, {"timeoutSeconds", 30},
         {"routes", json::array({
             {{"path", "/hello/{name}"}, {"methods", {"GET"}}},
             {{"path", "/files/{proxy+}"}},
             {{"path", "/items/{id}/tags/{tag}"}, {"methods", {"GET", "POST"}}},
             {{"path", "/respond"}, {"methods", {"ANY"}}},
         })},
         {"endpoints", {Endpoint(*pyecho, 2)}}},
        {{"name", "nodeecho"}, {"timeoutSeconds", 30},
         {"routes", json::array({
             {{"path", "/node/{proxy+}"}},
             {{"path", "/items/special/tags/{tag}"}, {"methods", {"GET"}}},
         })},
         {"endpoints", {Endpoint(*nodeecho, 1)}}},
        {{"name", "gate"}, {"timeoutSeconds", 30}, {"reservedConcurrency", 2},
         {"routes", json::array({{{"path", "/gate"}}})},
         {"endpoints", {Endpoint(*gate, 3)}}},
    })}};
    gateway = StartGateway(catalog, {absl::StrCat("--max_headers=", kMaxHeaders),
                                     absl::StrCat("--read_timeout_seconds=", kReadTimeoutSeconds)});
    return gateway != nullptr;
  }
};

SharedEnv* g_shared = nullptr;

class SharedEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    delete g_shared;
    g_shared = nullptr;
  }
};
[[maybe_unused]] ::testing::Environment* const kSharedEnvironment =
    ::testing::AddGlobalTestEnvironment(new SharedEnvironment);

// The shared gateway and workers, started on first use; null (with a test failure) if they
// could not start.
SharedEnv* Shared() {
  static bool tried = false;
  if (!tried) {
    tried = true;
    auto env = std::make_unique<SharedEnv>();
    if (env->Start()) g_shared = env.release();
  }
  EXPECT_NE(g_shared, nullptr) << "the shared gateway and workers did not start";
  return g_shared;
}

#define REQUIRE_SHARED(var)    \
  SharedEnv* var = Shared();   \
  ASSERT_NE(var, nullptr)

// ---------------------------------------------------------------------------------------------
// Routes and the 2.0 event.

TEST(GatewayRoutes, EventHasEveryFieldAsTheHandlerSeesIt) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  int64_t before = absl::ToUnixMillis(absl::Now());
  auto res = c->Get("/hello/Ada%20Lovelace?b=2&a=1&a=3&sp=x+y&enc=%2Fz%26",
                    {{"Host", "api.example.com"},
                     {"User-Agent", "wisp-test/1.0"},
                     {"Cookie", "c1=v1; c2=v2"},
                     {"X-Multi", "one"},
                     {"X-Multi", "two"},
                     {"X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"},
                     {"Accept", "application/json"}});
  int64_t after = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  json ev = ParseOrNull(res->body);
  ASSERT_TRUE(ev.is_object()) << res->body;
  EXPECT_EQ(ev["version"], "2.0");
  EXPECT_EQ(ev["routeKey"], "GET /hello/{name}");
  EXPECT_EQ(ev["rawPath"], "/hello/Ada%20Lovelace");
  EXPECT_EQ(ev["rawQueryString"], "b=2&a=1&a=3&sp=x+y&enc=%2Fz%26");
  EXPECT_EQ(ev["cookies"], json({"c1=v1", "c2=v2"}));
  // Header names are lower-cased, repeated headers comma-joined, and cookies are not headers.
  const json& h = ev["headers"];
  EXPECT_EQ(h["host"], "api.example.com");
  EXPECT_EQ(h["user-agent"], "wisp-test/1.0");
  EXPECT_EQ(h["x-multi"], "one,two");
  EXPECT_EQ(h["accept"], "application/json");
  EXPECT_EQ(h["x-amzn-trace-id"], "Root=1-5759e988-bd862e3fe1be46a994272793");
  EXPECT_FALSE(h.contains("cookie")) << h;
  for (auto it = h.begin(); it != h.end(); ++it) {
    EXPECT_EQ(it.key(), absl::AsciiStrToLower(it.key()));
    EXPECT_FALSE(absl::StartsWith(it.key(), "remote_") || absl::StartsWith(it.key(), "local_"))
        << "httplib's pseudo-header leaked: " << it.key();
  }
  EXPECT_EQ(ev["queryStringParameters"],
            json({{"b", "2"}, {"a", "1,3"}, {"sp", "x y"}, {"enc", "/z&"}}));
  EXPECT_EQ(ev["pathParameters"], json({{"name", "Ada Lovelace"}}));
  const json& rc = ev["requestContext"];
  EXPECT_EQ(rc["accountId"], "000000000000");
  EXPECT_EQ(rc["apiId"], "wisp");
  EXPECT_EQ(rc["domainName"], "api.example.com");
  EXPECT_EQ(rc["domainPrefix"], "api");
  EXPECT_EQ(rc["http"]["method"], "GET");
  EXPECT_EQ(rc["http"]["path"], "/hello/Ada Lovelace");
  EXPECT_EQ(rc["http"]["protocol"], "HTTP/1.1");
  EXPECT_EQ(rc["http"]["sourceIp"], "127.0.0.1");
  EXPECT_EQ(rc["http"]["userAgent"], "wisp-test/1.0");
  ASSERT_TRUE(rc["requestId"].is_string());
  EXPECT_FALSE(rc["requestId"].get<std::string>().empty());
  EXPECT_EQ(rc["requestId"], res->get_header_value("apigw-requestid"));
  EXPECT_EQ(rc["routeKey"], "GET /hello/{name}");
  EXPECT_EQ(rc["stage"], "$default");
  ASSERT_TRUE(rc["timeEpoch"].is_number_integer());
  EXPECT_GE(rc["timeEpoch"].get<int64_t>(), before);
  EXPECT_LE(rc["timeEpoch"].get<int64_t>(), after);
  ASSERT_TRUE(rc["time"].is_string());
  EXPECT_TRUE(std::regex_match(rc["time"].get<std::string>(),
                               std::regex(R"(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)")))
      << rc["time"];
  // A GET has no body: the key is absent and isBase64Encoded false.
  EXPECT_FALSE(ev.contains("body"));
  EXPECT_EQ(ev["isBase64Encoded"], false);
  // Absent optional fields are omitted, not null.
  auto plain = c->Get("/hello/bo");
  ASSERT_TRUE(plain);
  json ev2 = ParseOrNull(plain->body);
  EXPECT_FALSE(ev2.contains("cookies"));
  EXPECT_FALSE(ev2.contains("queryStringParameters"));
  EXPECT_EQ(ev2["rawQueryString"], "");
  EXPECT_NE(ev2["requestContext"]["requestId"], rc["requestId"]) << "request ids are unique";
}

TEST(GatewayRoutes, BodiesTravelAsTextOrBase64) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  struct Case {
    std::string name, content_type, body;
    bool base64;
  };
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const std::vector<Case> cases = {
      {"json", "application/json", R"({"k":"v","n":[1,2]})", false},
      {"text", "text/plain; charset=utf-8", "héllo wörld\n", false},
      {"form", "application/x-www-form-urlencoded", "a=1&b=%20", false},
      {"binary", "application/octet-stream", binary, true},
      {"image", "image/png", std::string("\x89PNG\r\n\x1a\n", 8), true},
      {"invalid utf-8 text", "text/plain", std::string("ab\xff\xfe", 4), true},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    auto res = c->Post("/items/7/tags/blue", tc.body, tc.content_type.c_str());
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    json ev = ParseOrNull(res->body);
    EXPECT_EQ(ev["routeKey"], "POST /items/{id}/tags/{tag}");
    EXPECT_EQ(ev["pathParameters"], json({{"id", "7"}, {"tag", "blue"}}));
    EXPECT_EQ(ev["requestContext"]["http"]["method"], "POST");
    EXPECT_EQ(ev["headers"]["content-type"], tc.content_type);
    EXPECT_EQ(ev["headers"]["content-length"], absl::StrCat(tc.body.size()));
    EXPECT_EQ(ev["isBase64Encoded"], tc.base64);
    ASSERT_TRUE(ev["body"].is_string());
    EXPECT_EQ(tc.base64 ? UnB64(ev["body"].get<std::string>()) : ev["body"].get<std::string>(), tc.body);
  }
}

TEST(GatewayRoutes, PathParametersProxyAndDefaultRoutes) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  struct Case {
    std::string method, path;
    int status;
    std::string function_marker;  // "python" / "node" (from the event's shape), or ""
    std::string route_key;
    json path_parameters;  // null: absent
  };
  const std::vector<Case> cases = {
      {"GET", "/files/a/b/c.txt", 200, "python", "ANY /files/{proxy+}", {{"proxy", "a/b/c.txt"}}},
      {"DELETE", "/files/x", 200, "python", "ANY /files/{proxy+}", {{"proxy", "x"}}},
      {"GET", "/files/sp%20ace/%2Fenc", 200, "python", "ANY /files/{proxy+}", {{"proxy", "sp ace//enc"}}},
      {"GET", "/files/", 404, "", "", nullptr},  // {proxy+} needs at least one segment
      {"GET", "/files", 404, "", "", nullptr},
      {"GET", "/items/9/tags/red", 200, "python", "GET /items/{id}/tags/{tag}", {{"id", "9"}, {"tag", "red"}}},
      // A literal segment beats a parameter, across functions.
      {"GET", "/items/special/tags/red", 200, "node", "GET /items/special/tags/{tag}", {{"tag", "red"}}},
      {"PUT", "/items/9/tags/red", 405, "", "", nullptr},
      {"GET", "/hello/x/y", 404, "", "", nullptr},
      {"GET", "/node/deep/er/path", 200, "node", "ANY /node/{proxy+}", {{"proxy", "deep/er/path"}}},
      // Every function's default routes.
      {"GET", "/function/pyecho", 200, "python", "ANY /function/pyecho", nullptr},
      {"POST", "/function/pyecho/some/rest", 200, "python", "ANY /function/pyecho/{proxy+}", {{"proxy", "some/rest"}}},
      {"PATCH", "/function/nodeecho/x", 200, "node", "ANY /function/nodeecho/{proxy+}", {{"proxy", "x"}}},
      {"GET", "/function/nope", 404, "", "", nullptr},
      {"GET", "/nothing/here", 404, "", "", nullptr},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.method + " " + tc.path);
    httplib::Request req;
    req.method = tc.method;
    req.path = tc.path;
    if (tc.method != "GET" && tc.method != "DELETE") {
      req.body = "{}";
      req.set_header("Content-Type", "application/json");
    }
    auto res = c->send(req);
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, tc.status) << res->body;
    json ev = ParseOrNull(res->body);
    if (tc.status == 404) {
      EXPECT_EQ(ev, json({{"message", "Not Found"}}));
      continue;
    }
    if (tc.status == 405) {
      EXPECT_EQ(ev["message"], "Method Not Allowed");
      EXPECT_EQ(res->get_header_value("Allow"), "GET, POST");
      continue;
    }
    EXPECT_EQ(ev["routeKey"], tc.route_key);
    EXPECT_EQ(ev["rawPath"], tc.path);
    EXPECT_EQ(ev["requestContext"]["http"]["method"], tc.method);
    if (tc.path_parameters.is_null()) {
      EXPECT_FALSE(ev.contains("pathParameters")) << ev;
    } else {
      EXPECT_EQ(ev["pathParameters"], tc.path_parameters);
    }
  }
  // Which function answered: each worker prints the raw path it got.
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(env->nodeecho->Stdout(), "path /items/special/tags/red"); }));
  EXPECT_FALSE(absl::StrContains(env->pyecho->Stdout(), "path /items/special/tags/red"));
  EXPECT_TRUE(WaitUntil([&] { return absl::StrContains(env->pyecho->Stdout(), "path /function/pyecho/some/rest"); }));
}

// ---------------------------------------------------------------------------------------------
// Response mapping, for both runtimes.

TEST(GatewayResponses, ResultsMapBackToHttp) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(255 - i));
  struct Case {
    std::string name;
    json result;
    int status;
    std::string body;
    std::string content_type;  // "" = no Content-Type header expected
    std::vector<std::pair<std::string, std::string>> headers;
    std::vector<std::string> set_cookies;
  };
  const std::vector<Case> cases = {
      {"full object", {{"statusCode", 201}, {"headers", {{"X-Custom", "v1"}, {"Content-Type", "text/plain"}}}, {"body", "created"}},
       201, "created", "text/plain", {{"X-Custom", "v1"}}, {}},
      {"base64 body", {{"statusCode", 200}, {"isBase64Encoded", true}, {"body", B64(binary)},
                       {"headers", {{"content-type", "application/octet-stream"}}}},
       200, binary, "application/octet-stream", {}, {}},
      {"cookies become Set-Cookie", {{"statusCode", 200}, {"cookies", {"a=1; Path=/", "b=2; HttpOnly; Secure"}}, {"body", "ok"}},
       200, "ok", "application/json", {}, {"a=1; Path=/", "b=2; HttpOnly; Secure"}},
      {"non-string header values", {{"statusCode", 202}, {"headers", {{"X-Num", 5}, {"X-Bool", true}}}, {"body", "{}"}},
       202, "{}", "application/json", {{"X-Num", "5"}, {"X-Bool", "true"}}, {}},
      {"error status", {{"statusCode", 404}, {"body", "{\"error\":\"missing\"}"}}, 404, "{\"error\":\"missing\"}", "application/json", {}, {}},
      {"server error status", {{"statusCode", 503}, {"body", "later"}}, 503, "later", "application/json", {}, {}},
      {"no body", {{"statusCode", 204}}, 204, "", "", {}, {}},
      {"redirect", {{"statusCode", 302}, {"headers", {{"Location", "/elsewhere"}}}}, 302, "", "", {{"Location", "/elsewhere"}}, {}},
      {"string result is the body", "hello world", 200, "hello world", "application/json", {}, {}},
      {"number result", 42, 200, "42", "application/json", {}, {}},
      {"array result", json::array({1, "two"}), 200, "[1,\"two\"]", "application/json", {}, {}},
      {"object without statusCode", {{"a", 1}}, 200, "{\"a\":1}", "application/json", {}, {}},
      {"null result", nullptr, 200, "null", "application/json", {}, {}},
  };
  for (const std::string& prefix : {std::string("/respond"), std::string("/node/respond")}) {
    for (const Case& tc : cases) {
      SCOPED_TRACE(prefix + ": " + tc.name);
      auto res = c->Get(prefix.c_str(), {{"x-respond", B64(tc.result.dump())}});
      ASSERT_TRUE(res) << httplib::to_string(res.error());
      EXPECT_EQ(res->status, tc.status) << res->body;
      // JSON bodies may be re-serialised by the runtime: compare them as JSON.
      json got = ParseOrNull(res->body), want = ParseOrNull(tc.body);
      if (!want.is_discarded() && !tc.body.empty() && tc.body[0] != '"') {
        EXPECT_EQ(got, want) << res->body;
      } else {
        EXPECT_EQ(res->body, tc.body);
      }
      if (tc.content_type.empty()) {
        EXPECT_FALSE(res->has_header("Content-Type")) << res->get_header_value("Content-Type");
      } else {
        EXPECT_EQ(res->get_header_value("Content-Type"), tc.content_type);
      }
      for (const auto& [k, v] : tc.headers) EXPECT_EQ(res->get_header_value(k), v) << k;
      ASSERT_EQ(res->get_header_value_count("Set-Cookie"), tc.set_cookies.size());
      for (size_t i = 0; i < tc.set_cookies.size(); ++i) {
        EXPECT_EQ(res->get_header_value("Set-Cookie", i), tc.set_cookies[i]);
      }
      EXPECT_FALSE(res->get_header_value("apigw-requestid").empty());
    }
  }
}

TEST(GatewayResponses, FunctionErrorsAndMalformedResultsAreBadGateway) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  for (const std::string& path : {std::string("/respond"), std::string("/node/respond")}) {
    SCOPED_TRACE(path);
    auto res = c->Get(path.c_str(), {{"x-fail", "handler blew up"}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 502);
    json body = ParseOrNull(res->body);
    EXPECT_EQ(body["message"], "Internal Server Error");
    EXPECT_FALSE(absl::StrContains(res->body, "handler blew up")) << "the error stays private";
    auto bad = c->Get(path.c_str(), {{"x-respond", B64(R"({"statusCode": 999})")}});
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 502);
    EXPECT_EQ(ParseOrNull(bad->body)["message"], "Malformed function response");
    auto not_b64 = c->Get(path.c_str(), {{"x-respond", B64(R"({"statusCode":200,"isBase64Encoded":true,"body":"%%%"})")}});
    ASSERT_TRUE(not_b64);
    EXPECT_EQ(not_b64->status, 502);
  }
}

// ---------------------------------------------------------------------------------------------
// Lambda's Invoke API.

TEST(GatewayInvokeApi, RequestResponseRoundTrip) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  json payload = {{"hello", "world"}, {"n", {1, 2, 3}}, {"nested", {{"u", "ünï"}}}};
  auto res = c->Post(InvokePath("pyecho").c_str(), payload.dump(), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(ParseOrNull(res->body), payload);
  EXPECT_EQ(res->get_header_value("X-Amz-Executed-Version"), "$LATEST");
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_FALSE(res->has_header("X-Amz-Function-Error"));
  EXPECT_FALSE(res->has_header("X-Amz-Log-Result"));
  EXPECT_FALSE(res->get_header_value("x-amzn-RequestId").empty());
  // The request id the caller sees is the one the function saw; the ARN is the function's.
  auto who = c->Post(InvokePath("nodeecho").c_str(), R"({"whoami":true})", "application/json");
  ASSERT_TRUE(who);
  ASSERT_EQ(who->status, 200) << who->body;
  json w = ParseOrNull(who->body);
  EXPECT_EQ(w["requestId"], who->get_header_value("x-amzn-RequestId"));
  EXPECT_EQ(w["arn"], std::string(kArnPrefix) + "nodeecho");
  // JSON values that are not objects round-trip too; an empty body is `{}`.
  for (const std::string p : {"[1,2]", "\"str\"", "42", "null", "true"}) {
    SCOPED_TRACE(p);
    auto r = c->Post(InvokePath("pyecho").c_str(), p, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(ParseOrNull(r->body), ParseOrNull(p));
  }
  auto empty = c->Post(InvokePath("pyecho").c_str(), "", "application/json");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 200);
  EXPECT_EQ(ParseOrNull(empty->body), json::object());
}

TEST(GatewayInvokeApi, FunctionErrorIsStatus200WithUnhandled) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  struct Case {
    std::string function, type, trace_key;  // each runtime names its trace as Lambda's does
  };
  for (const Case& tc : {Case{"pyecho", "ValueError", "stackTrace"}, Case{"nodeecho", "TypeError", "trace"}}) {
    SCOPED_TRACE(tc.function);
    auto res = c->Post(InvokePath(tc.function).c_str(), R"({"fail":"bad input 42"})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("X-Amz-Function-Error"), "Unhandled");
    EXPECT_EQ(res->get_header_value("X-Amz-Executed-Version"), "$LATEST");
    json err = ParseOrNull(res->body);
    EXPECT_EQ(err["errorType"], tc.type) << res->body;
    EXPECT_EQ(err["errorMessage"], "bad input 42");
    EXPECT_TRUE(err[tc.trace_key].is_array()) << res->body;
  }
}

TEST(GatewayInvokeApi, DryRunEventAndBadHeaders) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  auto dry = c->Post(InvokePath("pyecho").c_str(), {{"X-Amz-Invocation-Type", "DryRun"}}, "{}", "application/json");
  ASSERT_TRUE(dry);
  EXPECT_EQ(dry->status, 204);
  EXPECT_EQ(dry->body, "");
  auto dry_missing = c->Post(InvokePath("nope").c_str(), {{"X-Amz-Invocation-Type", "DryRun"}}, "{}", "application/json");
  ASSERT_TRUE(dry_missing);
  EXPECT_EQ(dry_missing->status, 404) << "DryRun still checks the function exists";

  // Without --redis asynchronous invocation is off: a clear 400, never a 202 that would drop it.
  auto event = c->Post(InvokePath("pyecho").c_str(), {{"X-Amz-Invocation-Type", "Event"}}, "{}", "application/json");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->status, 400);
  EXPECT_EQ(event->get_header_value("x-amzn-ErrorType"), "InvalidParameterValueException");
  json e = ParseOrNull(event->body);
  EXPECT_EQ(e["Type"], "User");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("Event"));
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("--redis"));

  for (const auto& [header, value] : std::vector<std::pair<std::string, std::string>>{
           {"X-Amz-Invocation-Type", "Sometimes"}, {"X-Amz-Log-Type", "Verbose"},
           {"X-Amz-Client-Context", "not base64!"}}) {
    SCOPED_TRACE(header + ": " + value);
    auto r = c->Post(InvokePath("pyecho").c_str(), {{header, value}}, "{}", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_EQ(r->get_header_value("x-amzn-ErrorType"), "InvalidParameterValueException");
    EXPECT_FALSE(ParseOrNull(r->body)["message"].get<std::string>().empty());
  }
  auto ctx = c->Post(InvokePath("pyecho").c_str(), {{"X-Amz-Client-Context", B64(R"({"custom":{"k":"v"}})")}},
                     R"({"ok":1})", "application/json");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->status, 200) << ctx->body;
}

TEST(GatewayInvokeApi, TailReturnsTheLogWithTheReportLine) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  auto res = c->Post(InvokePath("pyecho").c_str(), {{"X-Amz-Log-Type", "Tail"}},
                     R"({"print":"tail-marker-123"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::string id = res->get_header_value("x-amzn-RequestId");
  std::string log = UnB64(res->get_header_value("X-Amz-Log-Result"));
  EXPECT_THAT(log, HasSubstr("START RequestId: " + id + " Version: $LATEST"));
  EXPECT_THAT(log, HasSubstr("tail-marker-123"));
  EXPECT_THAT(log, HasSubstr("END RequestId: " + id));
  EXPECT_TRUE(std::regex_search(log, std::regex("REPORT RequestId: " + id +
                                                "\tDuration: [0-9.]+ ms\tBilled Duration: [0-9]+ ms\t"
                                                "Memory Size: 128 MB\tMax Memory Used: [0-9]+ MB")))
      << log;
  // Lambda returns the last 4 KB of the log.
  auto big = c->Post(InvokePath("pyecho").c_str(), {{"X-Amz-Log-Type", "Tail"}},
                     R"({"print_bytes":20000})", "application/json");
  ASSERT_TRUE(big);
  std::string big_log = UnB64(big->get_header_value("X-Amz-Log-Result"));
  EXPECT_LE(big_log.size(), 4096u);
  EXPECT_THAT(big_log, HasSubstr("REPORT RequestId: " + big->get_header_value("x-amzn-RequestId")));
  // A function error carries its tail too.
  auto err = c->Post(InvokePath("pyecho").c_str(), {{"X-Amz-Log-Type", "Tail"}},
                     R"({"fail":"tail-err"})", "application/json");
  ASSERT_TRUE(err);
  EXPECT_EQ(err->get_header_value("X-Amz-Function-Error"), "Unhandled");
  EXPECT_THAT(UnB64(err->get_header_value("X-Amz-Log-Result")), HasSubstr("REPORT RequestId:"));
}

TEST(GatewayInvokeApi, ServiceErrorsHaveLambdasShape) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  auto missing = c->Post(InvokePath("no-such-fn").c_str(), "{}", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->get_header_value("x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(missing->get_header_value("Content-Type"), "application/json");
  EXPECT_FALSE(missing->get_header_value("x-amzn-RequestId").empty());
  EXPECT_EQ(ParseOrNull(missing->body),
            json({{"Type", "User"}, {"message", std::string("Function not found: ") + kArnPrefix + "no-such-fn"}}));

  auto not_json = c->Post(InvokePath("pyecho").c_str(), "{not json", "application/json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  EXPECT_EQ(not_json->get_header_value("x-amzn-ErrorType"), "InvalidRequestContentException");
  json nj = ParseOrNull(not_json->body);
  EXPECT_EQ(nj["Type"], "User");
  EXPECT_THAT(nj["message"].get<std::string>(), StartsWith("Could not parse request body into json"));

  auto bad_name = c->Post(InvokePath("bad%20name%21").c_str(), "{}", "application/json");
  ASSERT_TRUE(bad_name);
  EXPECT_EQ(bad_name->status, 400);
  EXPECT_EQ(bad_name->get_header_value("x-amzn-ErrorType"), "InvalidParameterValueException");
}

TEST(GatewayInvokeApi, ArnsAndQualifiers) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  struct Case {
    std::string path;
    int status;
    std::string not_found_arn;  // with 404
  };
  const std::string arn = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Apyecho";
  const std::vector<Case> cases = {
      {InvokePath(arn), 200, ""},
      {InvokePath(arn + "%3A%24LATEST"), 200, ""},
      {InvokePath("000000000000%3Afunction%3Apyecho"), 200, ""},
      {InvokePath("pyecho%3A%24LATEST"), 200, ""},
      {InvokePath("pyecho", "?Qualifier=%24LATEST"), 200, ""},
      {InvokePath("pyecho", "?Qualifier=$LATEST"), 200, ""},
      {InvokePath(arn, "?Qualifier=%24LATEST"), 200, ""},
      {InvokePath("pyecho", "?Qualifier=1"), 404, std::string(kArnPrefix) + "pyecho:1"},
      {InvokePath("pyecho", "?Qualifier=prod"), 404, std::string(kArnPrefix) + "pyecho:prod"},
      {InvokePath(arn + "%3A3"), 404, std::string(kArnPrefix) + "pyecho:3"},
      {InvokePath("arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Anope"), 404,
       std::string(kArnPrefix) + "nope"},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.path);
    auto res = c->Post(tc.path.c_str(), R"({"q":1})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, tc.status) << res->body;
    if (tc.status == 200) {
      EXPECT_EQ(ParseOrNull(res->body), json({{"q", 1}}));
      EXPECT_EQ(res->get_header_value("X-Amz-Executed-Version"), "$LATEST");
    } else {
      EXPECT_EQ(res->get_header_value("x-amzn-ErrorType"), "ResourceNotFoundException");
      EXPECT_EQ(ParseOrNull(res->body)["message"], "Function not found: " + tc.not_found_arn);
    }
  }
}

TEST(GatewayInvokeApi, PayloadOfExactlySixMebibytesWorksAndOneByteMoreIs413) {
  REQUIRE_SHARED(env);
  auto c = Client(env->gateway->port());
  const std::string head = R"({"pad":")", tail = R"("})";
  std::string exact = head + std::string(kMaxPayload - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(static_cast<int64_t>(exact.size()), kMaxPayload);
  auto ok = c->Post(InvokePath("pyecho").c_str(), exact, "application/json");
  ASSERT_TRUE(ok) << httplib::to_string(ok.error());
  EXPECT_EQ(ok->status, 200) << ok->body.substr(0, 300);
  EXPECT_EQ(ParseOrNull(ok->body), json({{"padLength", kMaxPayload - 10}}));

  std::string over = head + std::string(kMaxPayload - head.size() - tail.size() + 1, 'a') + tail;
  auto big = c->Post(InvokePath("pyecho").c_str(), over, "application/json");
  ASSERT_TRUE(big) << httplib::to_string(big.error());
  EXPECT_EQ(big->status, 413) << big->body.substr(0, 300);
  EXPECT_EQ(big->get_header_value("x-amzn-ErrorType"), "RequestTooLargeException");
  json e = ParseOrNull(big->body);
  EXPECT_EQ(e["Type"], "User");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("6291456"));
  // The connection (or a new one) still works afterwards.
  auto after = Client(env->gateway->port())->Post(InvokePath("pyecho").c_str(), "{}", "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

// ---------------------------------------------------------------------------------------------
// Throttling and queueing.

TEST(GatewayConcurrency, ReservedConcurrencyThrottlesWhileCallsAreInFlight) {
  REQUIRE_SHARED(env);
  int port = env->gateway->port();
  Gate gate(env->gates);
  json hold = {{"hold", gate.path()}};
  auto a = PostAsync(port, InvokePath("gate"), hold.dump());
  auto b = PostAsync(port, InvokePath("gate"), hold.dump());
  ASSERT_TRUE(env->gateway->WaitForMetric(InFlight("gate"), 2)) << "two calls never got in flight";

  auto c = Client(port);
  absl::Time start = absl::Now();
  auto throttled = c->Post(InvokePath("gate").c_str(), "{}", "application/json");
  ASSERT_TRUE(throttled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "a throttle answers at once";
  EXPECT_EQ(throttled->status, 429);
  EXPECT_EQ(throttled->get_header_value("x-amzn-ErrorType"), "TooManyRequestsException");
  json t = ParseOrNull(throttled->body);
  EXPECT_EQ(t["Type"], "User");
  EXPECT_EQ(t["Reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
  EXPECT_THAT(t["message"].get<std::string>(), HasSubstr("Rate Exceeded"));

  auto route = c->Get("/gate");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 429);
  json r = ParseOrNull(route->body);
  EXPECT_EQ(r["message"], "Too Many Requests");
  EXPECT_EQ(r["reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
  auto throttles = env->gateway->MetricValue(
      "wisp_gateway_throttles_total{function=\"gate\",reason=\"reserved\"}");
  ASSERT_TRUE(throttles.ok()) << throttles.status();
  EXPECT_GE(*throttles, 2);

  gate.Open();
  a->Wait();
  b->Wait();
  EXPECT_EQ(a->status, 200) << a->body;
  EXPECT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(ParseOrNull(a->body), hold);
  ASSERT_TRUE(env->gateway->WaitForMetric(InFlight("gate"), 0));
  auto again = c->Post(InvokePath("gate").c_str(), R"({"x":1})", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

json GateCatalog(const WorkerProcess& gate, int capacity) {
  return {{"functions", {{{"name", "gate"}, {"timeoutSeconds", 30},
                          {"endpoints", {Endpoint(gate, capacity)}}}}}};
}

TEST(GatewayConcurrency, RequestsBeyondCapacityWaitThenSucceedAndOverflowIs429) {
  REQUIRE_SHARED(env);
  // The gateway believes the worker has one environment: a second call must wait.
  auto gw = StartGateway(GateCatalog(*env->gate, 1), {"--queue_size=2", "--queue_timeout_ms=30000"});
  ASSERT_NE(gw, nullptr);
  int port = gw->port();
  Gate gate(env->gates);
  auto held = PostAsync(port, InvokePath("gate"), json({{"hold", gate.path()}}).dump());
  ASSERT_TRUE(gw->WaitForMetric(InFlight("gate"), 1));
  auto q1 = PostAsync(port, InvokePath("gate"), R"({"queued":1})");
  auto q2 = PostAsync(port, "/function/gate/queued", "{}");
  ASSERT_TRUE(gw->WaitForMetric(Queued("gate"), 2)) << "the two calls did not queue";

  auto c = Client(port);
  auto overflow = c->Post(InvokePath("gate").c_str(), "{}", "application/json");
  ASSERT_TRUE(overflow);
  EXPECT_EQ(overflow->status, 429);
  EXPECT_EQ(overflow->get_header_value("x-amzn-ErrorType"), "TooManyRequestsException");
  json o = ParseOrNull(overflow->body);
  EXPECT_EQ(o["Reason"], "ConcurrentInvocationLimitExceeded");
  EXPECT_THAT(o["message"].get<std::string>(), HasSubstr("already waiting for capacity"));
  auto overflow_route = c->Get("/function/gate");
  ASSERT_TRUE(overflow_route);
  EXPECT_EQ(overflow_route->status, 429);
  EXPECT_EQ(ParseOrNull(overflow_route->body)["reason"], "ConcurrentInvocationLimitExceeded");
  auto queue_full = gw->MetricValue("wisp_gateway_throttles_total{function=\"gate\",reason=\"queue_full\"}");
  ASSERT_TRUE(queue_full.ok());
  EXPECT_EQ(*queue_full, 2);

  // The waiting calls are still waiting (not failed) until capacity frees up.
  EXPECT_EQ(q1->status, 0);
  EXPECT_EQ(q2->status, 0);
  gate.Open();
  held->Wait();
  q1->Wait();
  q2->Wait();
  EXPECT_EQ(held->status, 200) << held->body;
  EXPECT_EQ(q1->status, 200) << q1->body;
  EXPECT_EQ(ParseOrNull(q1->body), json({{"queued", 1}}));
  EXPECT_EQ(q2->status, 200) << q2->body;
  EXPECT_EQ(ParseOrNull(q2->body)["rawPath"], "/function/gate/queued");
  EXPECT_TRUE(gw->WaitForMetric(Queued("gate"), 0));
  EXPECT_TRUE(gw->WaitForMetric(InFlight("gate"), 0));
}

TEST(GatewayConcurrency, QueueDeadlineIs503WithAClearMessage) {
  REQUIRE_SHARED(env);
  auto gw = StartGateway(GateCatalog(*env->gate, 1), {"--queue_size=5", "--queue_timeout_ms=400"});
  ASSERT_NE(gw, nullptr);
  Gate gate(env->gates);
  auto held = PostAsync(gw->port(), InvokePath("gate"), json({{"hold", gate.path()}}).dump());
  ASSERT_TRUE(gw->WaitForMetric(InFlight("gate"), 1));
  auto c = Client(gw->port());
  absl::Time start = absl::Now();
  auto res = c->Post(InvokePath("gate").c_str(), "{}", "application/json");
  absl::Duration waited = absl::Now() - start;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503) << res->body;
  EXPECT_EQ(res->get_header_value("x-amzn-ErrorType"), "ServiceException");
  json e = ParseOrNull(res->body);
  EXPECT_EQ(e["Type"], "Service");
  EXPECT_THAT(e["message"].get<std::string>(), HasSubstr("No capacity for function gate within 400ms"));
  EXPECT_GE(waited, absl::Milliseconds(350)) << "it waited for the deadline";
  EXPECT_LT(waited, absl::Seconds(10)) << "and not much longer";
  auto route = c->Get("/function/gate");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 503);
  json r = ParseOrNull(route->body);
  EXPECT_EQ(r["message"], "Service Unavailable");
  EXPECT_THAT(r["detail"].get<std::string>(), HasSubstr("No capacity for function gate"));
  gate.Open();
  held->Wait();
  EXPECT_EQ(held->status, 200);
}

// ---------------------------------------------------------------------------------------------
// Worker failure and drain.

json TwoWorkerCatalog(const std::string& name, const WorkerProcess& a, const WorkerProcess& b, int capacity) {
  return {{"functions", {{{"name", name}, {"timeoutSeconds", 30},
                          {"endpoints", {Endpoint(a, capacity), Endpoint(b, capacity)}}}}}};
}

TEST(GatewayWorkers, WorkerKilledMidRequestIsAPrompt502AndTheHealthyWorkerTakesOver) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w1 = StartWorker(code, "crash", "python3.11", 1);
  auto w2 = StartWorker(code, "crash", "python3.11", 1);
  ASSERT_TRUE(w1 && w2);
  auto gw = StartGateway(TwoWorkerCatalog("crash", *w1, *w2, 1));
  ASSERT_NE(gw, nullptr);
  Gate gate(code);
  auto victim_call = PostAsync(gw->port(), InvokePath("crash"), json({{"hold", gate.path()}}).dump());
  const std::string busy = "wisp_worker_in_flight{function=\"crash\"}";
  WorkerProcess* victim = nullptr;
  ASSERT_TRUE(WaitUntil([&] {
    if (WorkerMetric(*w1, busy) == 1) victim = w1.get();
    if (WorkerMetric(*w2, busy) == 1) victim = w2.get();
    return victim != nullptr;
  })) << "the held call never reached a worker";
  WorkerProcess* healthy = victim == w1.get() ? w2.get() : w1.get();

  absl::Time killed = absl::Now();
  int status = victim->Signal(SIGKILL, absl::Seconds(10));
  ASSERT_NE(status, -1);
  victim_call->Wait();
  absl::Duration to_answer = absl::Now() - killed;
  EXPECT_EQ(victim_call->status, 502) << victim_call->body;
  EXPECT_EQ(Header(victim_call->headers, "x-amzn-ErrorType"), "ServiceException");
  EXPECT_THAT(ParseOrNull(victim_call->body)["message"].get<std::string>(),
              HasSubstr("The worker failed during the invocation"));
  EXPECT_LT(to_answer, absl::Seconds(5)) << "a dead worker must not hang the caller";

  // Later requests all go to the healthy worker, through the Invoke API and a route alike.
  auto c = Client(gw->port());
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    auto r = i % 2 == 0 ? c->Post(InvokePath("crash").c_str(), json({{"i", i}}).dump(), "application/json")
                        : c->Get(absl::StrCat("/function/crash/", i).c_str());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  EXPECT_GE(WorkerMetric(*healthy, "wisp_worker_invocations_total{function=\"crash\",outcome=\"success\"}"), 10);
  auto ejections = gw->MetricValue("wisp_gateway_ejections_total{function=\"crash\"}");
  ASSERT_TRUE(ejections.ok());
  EXPECT_GE(*ejections, 1);
}

TEST(GatewayWorkers, WorkerDrainedWithSigtermUnderLoadLosesNothing) {
  TempDir code;
  code.Write("app.py", kPythonApp);
  auto w1 = StartWorker(code, "drain", "python3.11", 2);
  auto w2 = StartWorker(code, "drain", "python3.11", 2);
  ASSERT_TRUE(w1 && w2);
  auto gw = StartGateway(TwoWorkerCatalog("drain", *w1, *w2, 2));
  ASSERT_NE(gw, nullptr);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, errors{0};
  std::mutex mu;
  std::string first_error;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto c = Client(gw->port());
      for (int i = 0; !stop; ++i) {
        json payload = {{"work_ms", 20}, {"t", t}, {"i", i}};
        auto r = c->Post(InvokePath("drain").c_str(), payload.dump(), "application/json");
        if (r && r->status == 200 && ParseOrNull(r->body) == payload) {
          ++ok;
        } else {
          ++errors;
          std::lock_guard<std::mutex> lock(mu);
          if (first_error.empty()) {
            first_error = r ? absl::StrCat(r->status, " ", r->body) : httplib::to_string(r.error());
          }
        }
      }
    });
  }
  auto stop_clients = [&] {
    stop = true;
    for (auto& th : clients) th.join();
    clients.clear();
  };
  const std::string busy = "wisp_worker_in_flight{function=\"drain\"}";
  bool loaded = WaitUntil([&] { return ok >= 20 && WorkerMetric(*w1, busy) >= 1; });
  if (!loaded) stop_clients();
  ASSERT_TRUE(loaded) << "no load reached the worker";
  int status = w1->Signal(SIGTERM, absl::Seconds(60));
  int ok_at_exit = ok;
  bool after = WaitUntil([&] { return ok >= ok_at_exit + 40; });
  stop_clients();
  ASSERT_NE(status, -1) << "the worker did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_TRUE(after) << "requests stopped succeeding after the drain";
  EXPECT_EQ(errors, 0) << "first error: " << first_error;
  EXPECT_GE(ok, 60);
}

// ---------------------------------------------------------------------------------------------
// Malformed, oversized and slow clients.

TEST(GatewayHardening, MalformedRequestsGetClearErrorsAndTheGatewayKeepsServing) {
  REQUIRE_SHARED(env);
  int port = env->gateway->port();
  struct Case {
    std::string name, request;
    std::vector<int> statuses;  // acceptable
  };
  const std::vector<Case> cases = {
      {"unknown method", "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", {400, 501}},
      {"not HTTP", "hello there\r\n\r\n", {400}},
      {"bad version", "GET /function/pyecho HTTP/9.9\r\nHost: x\r\n\r\n", {400, 505}},
      {"header line over 8 KB",
       "GET /function/pyecho HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'h') + "\r\n\r\n",
       {400, 431}},
      {"URI over 8 KB", "GET /function/pyecho/" + std::string(9000, 'u') + " HTTP/1.1\r\nHost: x\r\n\r\n",
       {414}},
      {"bad Content-Length", "POST /function/pyecho HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
       {400}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    RawReply r = RawExchange(port, tc.request);
    EXPECT_THAT(tc.statuses, ::testing::Contains(r.status)) << r.data.substr(0, 300);
    if (r.status != 0) {
      json body = ParseOrNull(r.body);
      EXPECT_TRUE(body.is_object() && body.contains("message")) << r.body;
    }
  }
  auto ok = Client(port)->Get("/function/pyecho");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(GatewayHardening, TooManyHeadersIs431AndTheLimitItselfIsAccepted) {
  REQUIRE_SHARED(env);
  int port = env->gateway->port();
  auto request = [](int headers) {
    std::string r = "GET /function/pyecho HTTP/1.1\r\nHost: x\r\n";
    for (int i = 1; i < headers; ++i) absl::StrAppend(&r, "X-H", i, ": v\r\n");
    return r + "\r\n";
  };
  RawReply at_limit = RawExchange(port, request(SharedEnv::kMaxHeaders));
  EXPECT_EQ(at_limit.status, 200) << "exactly --max_headers headers are allowed: "
                                  << at_limit.data.substr(0, 300);
  RawReply over = RawExchange(port, request(SharedEnv::kMaxHeaders + 1));
  EXPECT_EQ(over.status, 431) << over.data.substr(0, 300);
  EXPECT_THAT(ParseOrNull(over.body)["message"].get<std::string>(),
              HasSubstr(absl::StrCat("more than ", SharedEnv::kMaxHeaders, " headers")));
  RawReply invoke_over = RawExchange(
      port, absl::StrCat("POST ", InvokePath("pyecho"), " HTTP/1.1\r\n",
                         request(SharedEnv::kMaxHeaders + 5).substr(strlen("GET /function/pyecho HTTP/1.1\r\n"))));
  EXPECT_EQ(invoke_over.status, 431) << invoke_over.data.substr(0, 300);
}

TEST(GatewayHardening, OversizedBodiesAre413) {
  REQUIRE_SHARED(env);
  int port = env->gateway->port();
  auto c = Client(port);
  std::string body(kMaxPayload + 1, 'b');
  auto route = c->Post("/function/pyecho", body, "text/plain");
  ASSERT_TRUE(route) << httplib::to_string(route.error());
  EXPECT_EQ(route->status, 413) << route->body.substr(0, 300);
  EXPECT_EQ(ParseOrNull(route->body)["message"], "Request Entity Too Large");
  // A body that fits but whose event would not (the event wraps it) is 413 too.
  auto wrapped = Client(port)->Post("/function/pyecho", std::string(kMaxPayload, 'b'), "text/plain");
  ASSERT_TRUE(wrapped);
  EXPECT_EQ(wrapped->status, 413);
  // Chunked bodies have no Content-Length to check up front.
  std::string chunked = absl::StrCat("POST ", InvokePath("pyecho"),
                                     " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                                     "Content-Type: application/json\r\n\r\n");
  std::string payload = "\"" + std::string(kMaxPayload + 1024, 'c') + "\"";
  for (size_t i = 0; i < payload.size(); i += 65536) {
    std::string part = payload.substr(i, 65536);
    absl::StrAppend(&chunked, absl::Hex(part.size()), "\r\n", part, "\r\n");
  }
  absl::StrAppend(&chunked, "0\r\n\r\n");
  int fd = ConnectRaw(port);
  ASSERT_GE(fd, 0);
  std::thread sender([fd, &chunked] { SendRaw(fd, chunked); });
  RawReply r = ReadRaw(fd, absl::Seconds(30));
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  EXPECT_EQ(r.status, 413) << r.data.substr(0, 300);
  EXPECT_THAT(r.data, HasSubstr("RequestTooLargeException"));
  auto ok = Client(port)->Get("/function/pyecho");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// Regression: a POST without Content-Length (what `curl -X POST URL` sends) waited for the read
// timeout, because httplib reads such a body until the connection closes, and was then invoked
// with an empty body. Without a length or a transfer coding a request has no body.
TEST(GatewayHardening, PostWithoutContentLengthHasAnEmptyBodyAtOnce) {
  REQUIRE_SHARED(env);
  int port = env->gateway->port();
  RawReply route = RawExchange(port, "POST /function/pyecho/no-length HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(route.status, 200) << route.data.substr(0, 300);
  EXPECT_LT(route.elapsed, absl::Seconds(SharedEnv::kReadTimeoutSeconds));
  json ev = ParseOrNull(route.body);
  EXPECT_EQ(ev["rawPath"], "/function/pyecho/no-length");
  EXPECT_FALSE(ev.contains("body"));
  RawReply invoke = RawExchange(port, absl::StrCat("POST ", InvokePath("pyecho"), " HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(invoke.status, 200) << invoke.data.substr(0, 300);
  EXPECT_LT(invoke.elapsed, absl::Seconds(SharedEnv::kReadTimeoutSeconds));
  EXPECT_EQ(ParseOrNull(invoke.body), json::object());
}

TEST(GatewayHardening, SlowClientIsCutOffByTheReadTimeoutAndHoldsNoWorker) {
  REQUIRE_SHARED(env);
  int port = env->gateway->port();
  // Headers promise a body that never comes, on nodeecho (one environment).
  int body_fd = ConnectRaw(port);
  ASSERT_GE(body_fd, 0);
  ASSERT_TRUE(SendRaw(body_fd, "POST /node/slow-body-marker HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":"));
  // Headers that never end.
  int head_fd = ConnectRaw(port);
  ASSERT_GE(head_fd, 0);
  ASSERT_TRUE(SendRaw(head_fd, "GET /node/slow-head-marker HTTP/1.1\r\nHost: x\r\n"));
  absl::Time start = absl::Now();
  // Meanwhile the function's only environment serves others at once.
  auto c = Client(port);
  for (int i = 0; i < 3; ++i) {
    absl::Time t = absl::Now();
    auto r = c->Post(InvokePath("nodeecho").c_str(), json({{"i", i}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(absl::Now() - t, absl::Seconds(SharedEnv::kReadTimeoutSeconds)) << "waited behind a slow client";
  }
  // Both slow connections end within the read timeout (plus slack), without a function call.
  RawReply body_reply = ReadRaw(body_fd, absl::Seconds(30));
  RawReply head_reply = ReadRaw(head_fd, absl::Seconds(30));
  ::close(body_fd);
  ::close(head_fd);
  absl::Duration cut = absl::Now() - start;
  EXPECT_EQ(body_reply.status, 400) << body_reply.data;
  EXPECT_THAT(body_reply.body, HasSubstr("the body was incomplete")) << body_reply.data;
  EXPECT_TRUE(head_reply.closed || head_reply.status == 400) << head_reply.data;
  EXPECT_GE(cut, absl::Seconds(SharedEnv::kReadTimeoutSeconds) - absl::Milliseconds(300));
  EXPECT_LT(cut, absl::Seconds(SharedEnv::kReadTimeoutSeconds + 8));
  // The truncated request never reached the function: a marker request after it is logged,
  // the slow ones are not.
  auto after = c->Get("/node/after-slow-marker");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
  ASSERT_TRUE(WaitUntil([&] { return absl::StrContains(env->nodeecho->Stdout(), "path /node/after-slow-marker"); }));
  EXPECT_FALSE(absl::StrContains(env->nodeecho->Stdout(), "slow-body-marker"))
      << "a request whose body never arrived was invoked";
  EXPECT_FALSE(absl::StrContains(env->nodeecho->Stdout(), "slow-head-marker"));
}

// ---------------------------------------------------------------------------------------------
// The real AWS SDK for JavaScript v3.

TEST(GatewayAwsSdk, JavaScriptV3ClientInvokesThroughTheGateway) {
  absl::StatusOr<std::string> sdk = EnsureSdk();
  ASSERT_TRUE(sdk.ok()) << "the AWS SDK could not be installed, so this test cannot run: " << sdk.status();
  REQUIRE_SHARED(env);
  absl::StatusOr<json> basic = RunSdk(*sdk, env->gateway->port(), "basic");
  ASSERT_TRUE(basic.ok()) << basic.status();
  const json& b = *basic;
  SCOPED_TRACE(b.dump(2));

  EXPECT_EQ(b["roundTrip"]["ok"], true);
  EXPECT_EQ(b["roundTrip"]["statusCode"], 200);
  EXPECT_EQ(b["roundTrip"]["functionError"], nullptr);
  EXPECT_EQ(b["roundTrip"]["executedVersion"], "$LATEST");
  EXPECT_EQ(ParseOrNull(b["roundTrip"]["payload"].get<std::string>()), json({{"hello", "sdk"}, {"n", {1, 2, 3}}}));

  EXPECT_EQ(b["arnAndQualifier"]["statusCode"], 200);
  EXPECT_EQ(ParseOrNull(b["arnAndQualifier"].value("payload", "")), json({{"via", "arn"}}));

  EXPECT_EQ(b["functionError"]["ok"], true);
  EXPECT_EQ(b["functionError"]["statusCode"], 200);
  EXPECT_EQ(b["functionError"]["functionError"], "Unhandled");
  json err = ParseOrNull(b["functionError"].value("payload", ""));
  EXPECT_EQ(err["errorType"], "ValueError");
  EXPECT_EQ(err["errorMessage"], "sdk boom");

  EXPECT_EQ(b["tail"]["statusCode"], 200);
  ASSERT_TRUE(b["tail"]["logResult"].is_string());
  std::string log = UnB64(b["tail"]["logResult"].get<std::string>());
  EXPECT_THAT(log, HasSubstr("sdk-tail-marker"));
  EXPECT_THAT(log, HasSubstr("REPORT RequestId: "));

  EXPECT_EQ(b["dryRun"]["ok"], true);
  EXPECT_EQ(b["dryRun"]["statusCode"], 204);

  EXPECT_EQ(b["missing"]["ok"], false);
  EXPECT_EQ(b["missing"]["name"], "ResourceNotFoundException");
  EXPECT_EQ(b["missing"]["httpStatusCode"], 404);
  EXPECT_EQ(b["missing"]["type"], "User");
  EXPECT_THAT(b["missing"].value("message", ""), HasSubstr("Function not found"));
  EXPECT_EQ(b["otherQualifier"]["name"], "ResourceNotFoundException");

  EXPECT_EQ(b["event"]["ok"], false);
  EXPECT_EQ(b["event"]["name"], "InvalidParameterValueException");
  EXPECT_EQ(b["event"]["httpStatusCode"], 400);

  // 429: hold `gate` at its reserved concurrency of 2, then invoke it through the SDK.
  Gate gate(env->gates);
  json hold = {{"hold", gate.path()}};
  auto a = PostAsync(env->gateway->port(), InvokePath("gate"), hold.dump());
  auto c = PostAsync(env->gateway->port(), InvokePath("gate"), hold.dump());
  ASSERT_TRUE(env->gateway->WaitForMetric(InFlight("gate"), 2));
  absl::StatusOr<json> throttle = RunSdk(*sdk, env->gateway->port(), "throttle");
  gate.Open();
  ASSERT_TRUE(throttle.ok()) << throttle.status();
  const json& t = (*throttle)["throttled"];
  EXPECT_EQ(t["ok"], false) << t;
  EXPECT_EQ(t["name"], "TooManyRequestsException") << t;
  EXPECT_EQ(t["httpStatusCode"], 429);
  EXPECT_EQ(t["reason"], "ReservedFunctionConcurrentInvocationLimitExceeded");
  a->Wait();
  c->Wait();
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(c->status, 200);
}

}  // namespace
}  // namespace wisp::testing
