#include "gateway/apigw.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateway/router.h"
#include "nlohmann/json.hpp"

namespace wisp::gateway {
namespace {

using nlohmann::ordered_json;

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  auto cont = [&](size_t k) { return k < n && (static_cast<unsigned char>(s[k]) & 0xC0) == 0x80; };
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
    } else if (c >= 0xC2 && c <= 0xDF) {
      if (!cont(i + 1)) return false;
      i += 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(i + 1) || !cont(i + 2)) return false;
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if (c == 0xE0 && c1 < 0xA0) return false;  // overlong
      if (c == 0xED && c1 > 0x9F) return false;  // surrogates
      i += 3;
    } else if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return false;
      unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
      if (c == 0xF0 && c1 < 0x90) return false;  // overlong
      if (c == 0xF4 && c1 > 0x8F) return false;  // above U+10FFFF
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string Base64Encode(absl::string_view in) { return absl::Base64Escape(in); }
bool Base64Decode(absl::string_view in, std::string* out) { return absl::Base64Unescape(in, out); }

std::string RequestTime(int64_t unix_ms) {
  return absl::FormatTime("%d/%b/%Y:%H:%M:%S +0000", absl::FromUnixMillis(unix_ms),
                          absl::UTCTimeZone());
}

bool IsTextContentType(absl::string_view content_type) {
  std::string ct = absl::AsciiStrToLower(content_type);
  if (ct.empty()) return true;
  return absl::StartsWith(ct, "text/") || absl::StrContains(ct, "json") ||
         absl::StrContains(ct, "xml") || absl::StrContains(ct, "javascript") ||
         absl::StartsWith(ct, "application/x-www-form-urlencoded") ||
         absl::StartsWith(ct, "application/graphql") || absl::StartsWith(ct, "application/yaml");
}

std::string BuildHttpEvent(const HttpRequestView& req, const EventContext& ctx) {
  ordered_json headers = ordered_json::object();
  std::vector<std::string> cookies;
  std::string host, user_agent, content_type;
  for (const auto& [name, value] : req.headers) {
    std::string key = absl::AsciiStrToLower(name);
    if (key == "cookie") {
      for (absl::string_view c : absl::StrSplit(value, ';', absl::SkipWhitespace())) {
        cookies.emplace_back(absl::StripAsciiWhitespace(c));
      }
      continue;
    }
    if (key == "host") host = value;
    if (key == "user-agent") user_agent = value;
    if (key == "content-type") content_type = value;
    if (headers.contains(key)) {
      headers[key] = headers[key].get<std::string>() + "," + value;
    } else {
      headers[key] = value;
    }
  }
  ordered_json ev;
  ev["version"] = "2.0";
  ev["routeKey"] = ctx.route_key;
  ev["rawPath"] = req.raw_path;
  ev["rawQueryString"] = req.raw_query;
  if (!cookies.empty()) ev["cookies"] = cookies;
  ev["headers"] = headers;
  if (!req.raw_query.empty()) {
    ordered_json qs = ordered_json::object();
    for (absl::string_view pair : absl::StrSplit(req.raw_query, '&', absl::SkipEmpty())) {
      std::vector<absl::string_view> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
      std::string plus_k(kv[0]), plus_v(kv.size() > 1 ? kv[1] : "");
      std::replace(plus_k.begin(), plus_k.end(), '+', ' ');
      std::replace(plus_v.begin(), plus_v.end(), '+', ' ');
      std::string k = PercentDecode(plus_k), v = PercentDecode(plus_v);
      if (qs.contains(k)) {
        qs[k] = qs[k].get<std::string>() + "," + v;
      } else {
        qs[k] = v;
      }
    }
    ev["queryStringParameters"] = qs;
  }
  if (!ctx.path_parameters.empty()) ev["pathParameters"] = ctx.path_parameters;
  ordered_json rc;
  rc["accountId"] = ctx.account_id;
  rc["apiId"] = ctx.api_id;
  rc["domainName"] = host;
  rc["domainPrefix"] = host.substr(0, host.find('.'));
  rc["http"] = {{"method", req.method},
                {"path", PercentDecode(req.raw_path)},
                {"protocol", req.protocol},
                {"sourceIp", req.source_ip},
                {"userAgent", user_agent}};
  rc["requestId"] = ctx.request_id;
  rc["routeKey"] = ctx.route_key;
  rc["stage"] = ctx.stage;
  rc["time"] = RequestTime(ctx.now_unix_ms);
  rc["timeEpoch"] = ctx.now_unix_ms;
  ev["requestContext"] = rc;
  bool base64 = false;
  if (!req.body.empty()) {
    base64 = !IsTextContentType(content_type) || !ValidUtf8(req.body);
    ev["body"] = base64 ? Base64Encode(req.body) : req.body;
  }
  ev["isBase64Encoded"] = base64;
  return ev.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

absl::StatusOr<HttpResult> MapHttpResult(absl::string_view payload) {
  nlohmann::json v = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
  if (v.is_discarded()) return absl::InvalidArgumentError("the function's result is not JSON");
  HttpResult out;
  if (v.is_string()) {
    out.body = v.get<std::string>();
    return out;
  }
  if (!v.is_object() || !v.contains("statusCode")) {
    out.body = std::string(payload);
    return out;
  }
  const auto& sc = v["statusCode"];
  if (!sc.is_number_integer() || sc.get<int64_t>() < 100 || sc.get<int64_t>() > 599) {
    return absl::InvalidArgumentError("statusCode must be an integer from 100 to 599");
  }
  out.status = sc.get<int>();
  out.content_type.clear();
  if (auto h = v.find("headers"); h != v.end() && h->is_object()) {
    for (auto it = h->begin(); it != h->end(); ++it) {
      std::string value = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      if (absl::EqualsIgnoreCase(it.key(), "content-type")) {
        out.content_type = value;
      } else {
        out.headers.emplace_back(it.key(), value);
      }
    }
  }
  if (auto c = v.find("cookies"); c != v.end() && c->is_array()) {
    for (const auto& cookie : *c) {
      if (cookie.is_string()) out.headers.emplace_back("Set-Cookie", cookie.get<std::string>());
    }
  }
  if (auto b = v.find("body"); b != v.end() && !b->is_null()) {
    std::string body = b->is_string() ? b->get<std::string>() : b->dump();
    bool base64 = false;
    if (auto b64 = v.find("isBase64Encoded"); b64 != v.end() && !b64->is_null()) {
      if (!b64->is_boolean()) return absl::InvalidArgumentError("isBase64Encoded must be a boolean");
      base64 = b64->get<bool>();
    }
    if (base64) {
      if (!Base64Decode(body, &out.body)) {
        return absl::InvalidArgumentError("body is not valid base64 although isBase64Encoded");
      }
    } else {
      out.body = std::move(body);
    }
  }
  if (out.content_type.empty()) out.content_type = out.body.empty() ? "" : "application/json";
  return out;
}

}  // namespace wisp::gateway
