// A native `provided` runtime: a Runtime API client that answers every event with the event
// itself. Shows the whole protocol a custom runtime speaks, in one screen.
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main() {
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (api == nullptr) {
    std::fprintf(stderr, "AWS_LAMBDA_RUNTIME_API is not set\n");
    return 1;
  }
  std::string host = api;
  size_t colon = host.rfind(':');
  int port = std::atoi(host.substr(colon + 1).c_str());
  host = host.substr(0, colon);

  httplib::Client client(host, port);
  client.set_tcp_nodelay(true);
  client.set_keep_alive(true);
  client.set_read_timeout(24 * 3600, 0);  // the long poll may wait for a long time
  while (true) {
    auto next = client.Get("/2018-06-01/runtime/invocation/next");
    if (!next || next->status != 200) return 1;
    std::string id = next->get_header_value("Lambda-Runtime-Aws-Request-Id");
    auto posted = client.Post("/2018-06-01/runtime/invocation/" + id + "/response", next->body,
                              "application/json");
    if (!posted) return 1;
  }
}
