#include "worker/lambda_env.h"

#include "absl/strings/str_cat.h"

namespace wisp::worker {

std::string RuntimeDir(const FunctionConfig& fn, const RuntimeSettings& s) {
  switch (fn.runtime) {
    case Runtime::kPython311: return absl::StrCat(s.runtimes_dir, "/python3.11");
    case Runtime::kNodejs20: return absl::StrCat(s.runtimes_dir, "/nodejs20");
    case Runtime::kProvided: return fn.code_path;
  }
  return fn.code_path;
}

std::vector<std::string> RuntimeCommand(const FunctionConfig& fn, const RuntimeSettings& s) {
  switch (fn.runtime) {
    case Runtime::kPython311: return {s.python, "-u", RuntimeDir(fn, s) + "/bootstrap.py"};
    case Runtime::kNodejs20: return {s.node, RuntimeDir(fn, s) + "/bootstrap.mjs"};
    case Runtime::kProvided: return {fn.code_path + "/bootstrap"};
  }
  return {};
}

std::string FunctionArn(const FunctionConfig& fn, const RuntimeSettings& s) {
  return absl::StrCat("arn:aws:lambda:", s.region, ":", s.account_id, ":function:", fn.name);
}

std::vector<std::string> RuntimeEnvironment(const FunctionConfig& fn, const RuntimeSettings& s,
                                            const std::string& runtime_api_address) {
  // Reserved variables cannot come from the function (validation refuses them); the others
  // Lambda sets (TZ, LANG, PATH, LD_LIBRARY_PATH, PYTHONPATH, NODE_PATH, TMPDIR) are defaults
  // the function may override, as in Lambda. Each name appears once.
  std::vector<std::string> env;
  auto user_has = [&fn](absl::string_view k) {
    for (const auto& [key, value] : fn.environment) {
      if (key == k) return true;
    }
    return false;
  };
  for (const auto& [k, v] : fn.environment) env.push_back(absl::StrCat(k, "=", v));
  std::string execution_env;
  switch (fn.runtime) {
    case Runtime::kPython311: execution_env = "AWS_Lambda_python3.11"; break;
    case Runtime::kNodejs20: execution_env = "AWS_Lambda_nodejs20.x"; break;
    case Runtime::kProvided: break;
  }
  auto add = [&env, &user_has](absl::string_view k, absl::string_view v) {
    if (!user_has(k)) env.push_back(absl::StrCat(k, "=", v));
  };
  add("AWS_LAMBDA_RUNTIME_API", runtime_api_address);
  add("_HANDLER", fn.handler);
  add("LAMBDA_TASK_ROOT", fn.code_path);
  add("LAMBDA_RUNTIME_DIR", RuntimeDir(fn, s));
  add("AWS_LAMBDA_FUNCTION_NAME", fn.name);
  add("AWS_LAMBDA_FUNCTION_VERSION", kLatestVersion);
  add("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", absl::StrCat(fn.memory_mb));
  add("AWS_LAMBDA_LOG_GROUP_NAME", absl::StrCat("/aws/lambda/", fn.name));
  add("AWS_LAMBDA_LOG_STREAM_NAME", s.log_stream_name);
  add("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
  add("AWS_REGION", s.region);
  add("AWS_DEFAULT_REGION", s.region);
  if (!execution_env.empty()) add("AWS_EXECUTION_ENV", execution_env);
  add("TZ", ":UTC");
  add("LANG", "en_US.UTF-8");
  add("PATH", "/usr/local/bin:/usr/bin:/bin:/opt/bin");
  add("LD_LIBRARY_PATH", absl::StrCat(fn.code_path, ":", fn.code_path, "/lib:/opt/lib"));
  if (fn.runtime == Runtime::kPython311) {
    add("PYTHONPATH", absl::StrCat(fn.code_path, ":/opt/python"));
  }
  if (fn.runtime == Runtime::kNodejs20) {
    add("NODE_PATH", absl::StrCat("/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:",
                                  fn.code_path, "/node_modules"));
  }
  if (!s.tmp_dir.empty()) add("TMPDIR", s.tmp_dir);
  return env;
}

}  // namespace wisp::worker
