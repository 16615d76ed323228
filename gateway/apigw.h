// API Gateway HTTP API payload format 2.0: the event a function receives for an HTTP request,
// and how its result maps back to the HTTP response. Pure functions; time is passed in.
#ifndef WISP_GATEWAY_APIGW_H_
#define WISP_GATEWAY_APIGW_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace wisp::gateway {

struct HttpRequestView {
  std::string method;
  std::string raw_path;          // as received, percent-encoded, without the query
  std::string raw_query;         // without '?'
  std::string protocol = "HTTP/1.1";
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
  std::string source_ip;
};

struct EventContext {
  std::string route_key;         // "GET /hello/{name}" or "$default"
  std::map<std::string, std::string> path_parameters;
  std::string request_id;
  std::string account_id = "000000000000";
  std::string api_id = "wisp";
  std::string stage = "$default";
  int64_t now_unix_ms = 0;
};

// The 2.0 event: version, routeKey, rawPath, rawQueryString, cookies, headers (lower-cased,
// repeated values comma-joined, cookies moved to `cookies`), queryStringParameters (repeated
// values comma-joined), pathParameters, requestContext (accountId, apiId, domainName,
// domainPrefix, http{method,path,protocol,sourceIp,userAgent}, requestId, routeKey, stage, time,
// timeEpoch), body, isBase64Encoded (true for non-text content or invalid UTF-8). Absent
// optional fields are omitted, as API Gateway does.
std::string BuildHttpEvent(const HttpRequestView& req, const EventContext& ctx);

// True when a body with this content type travels as text (else base64).
bool IsTextContentType(absl::string_view content_type);

struct HttpResult {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // includes Set-Cookie lines
  std::string body;
  std::string content_type = "application/json";
};

// Maps a function's result payload back as Lambda's 2.0 integration does: an object with
// `statusCode` gives the status, `headers`, `cookies` (Set-Cookie), `body` (decoded when
// `isBase64Encoded`); a JSON string is the body itself; any other JSON value is a 200 JSON
// body. A payload that is not JSON, or a malformed status, is an error (the caller answers 502).
absl::StatusOr<HttpResult> MapHttpResult(absl::string_view payload);

// "12/Mar/2020:19:03:58 +0000", the requestContext.time format.
std::string RequestTime(int64_t unix_ms);

std::string Base64Encode(absl::string_view in);
bool Base64Decode(absl::string_view in, std::string* out);

}  // namespace wisp::gateway

#endif  // WISP_GATEWAY_APIGW_H_
