#include "tests/testing/aws_sdk.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "tests/testing/worker_process.h"

namespace wisp::testing {
namespace {

using json = nlohmann::json;

json ParseOrNull(const std::string& s) { return json::parse(s, nullptr, /*allow_exceptions=*/false); }

std::string InstalledVersion(const std::string& package_json) {
  std::ifstream in(package_json);
  if (!in) return "";
  json doc = json::parse(in, nullptr, false);
  return doc.is_object() && doc["version"].is_string() ? doc["version"].get<std::string>() : "";
}

}  // namespace

std::string Which(const std::string& program) {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", program);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Installs tests/gateway/sdk/package.json's pinned @aws-sdk/client-lambda into
// <build>/sdk-cache with npm, unless that version is already there. Returns the folder.
absl::StatusOr<std::string> EnsureSdk() {
  namespace fs = std::filesystem;
  fs::path source = fs::absolute(fs::path(SourceDir()) / "tests/gateway/sdk/package.json");
  fs::path cache = fs::weakly_canonical(fs::absolute(fs::path(BinDir()) / ".." / "sdk-cache"));
  std::ifstream in(source);
  if (!in) return absl::NotFoundError(absl::StrCat("missing ", source.string()));
  json pkg = json::parse(in, nullptr, false);
  std::string pinned;
  if (pkg.is_object() && pkg["dependencies"].is_object()) {
    pinned = pkg["dependencies"].value("@aws-sdk/client-lambda", "");
  }
  if (pinned.empty()) return absl::InvalidArgumentError("package.json pins no @aws-sdk/client-lambda");
  fs::path installed = cache / "node_modules/@aws-sdk/client-lambda/package.json";
  if (InstalledVersion(installed) == pinned) return cache.string();
  std::error_code ec;
  fs::create_directories(cache, ec);
  fs::copy_file(source, cache / "package.json", fs::copy_options::overwrite_existing, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot copy package.json: ", ec.message()));
  std::string npm = Which("npm");
  if (npm.empty()) return absl::NotFoundError("npm is not on PATH");
  RunResult r = RunProcess({npm, "install", "--no-audit", "--no-fund", "--prefix", cache.string()}, "",
                           absl::Minutes(8));
  if (r.exit_code != 0 || InstalledVersion(installed) != pinned) {
    return absl::UnavailableError(absl::StrCat(
        "npm install of @aws-sdk/client-lambda@", pinned, " into ", cache.string(),
        " failed (exit ", r.exit_code, "; installed version \"", InstalledVersion(installed), "\"):\n",
        r.stderr_text.substr(r.stderr_text.size() > 4000 ? r.stderr_text.size() - 4000 : 0)));
  }
  return cache.string();
}

absl::StatusOr<json> RunSdk(const std::string& sdk_dir, int port, const std::string& scenario) {
  std::string node = Which("node");
  if (node.empty()) return absl::NotFoundError("node is not on PATH");
  std::string script = std::filesystem::absolute(std::filesystem::path(SourceDir()) / "tests/gateway/sdk/invoke_sdk.js");
  RunResult r = RunProcess({node, script, sdk_dir, absl::StrCat("http://127.0.0.1:", port), scenario}, "",
                           absl::Seconds(120));
  json out = ParseOrNull(r.stdout_text);
  if (r.exit_code != 0 || !out.is_object()) {
    return absl::InternalError(absl::StrCat("invoke_sdk.js ", scenario, " exit ", r.exit_code, "\nstdout: ",
                                            r.stdout_text, "\nstderr: ", r.stderr_text));
  }
  return out;
}

}  // namespace wisp::testing
