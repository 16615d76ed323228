// What a runtime process is started with: its command line and the environment Lambda sets.
// Pure functions of the function's config and the worker's settings.
#ifndef WISP_WORKER_LAMBDA_ENV_H_
#define WISP_WORKER_LAMBDA_ENV_H_

#include <string>
#include <vector>

#include "controller/function_config.h"

namespace wisp::worker {

struct RuntimeSettings {
  std::string runtimes_dir;      // holds python3.11/bootstrap.py, nodejs20/bootstrap.mjs
  std::string python = "python3";
  std::string node = "node";
  std::string region = "us-east-1";
  std::string account_id = "000000000000";
  std::string log_stream_name;   // AWS_LAMBDA_LOG_STREAM_NAME (per environment)
  std::string tmp_dir;           // set as TMPDIR when /tmp is not privately mounted
};

// The runtime's argv: python3 -u <dir>/python3.11/bootstrap.py, node <dir>/nodejs20/bootstrap.mjs,
// or <code>/bootstrap for `provided`.
std::vector<std::string> RuntimeCommand(const FunctionConfig& fn, const RuntimeSettings& s);

// LAMBDA_RUNTIME_DIR for the function's runtime.
std::string RuntimeDir(const FunctionConfig& fn, const RuntimeSettings& s);

// "arn:aws:lambda:<region>:<account>:function:<name>".
std::string FunctionArn(const FunctionConfig& fn, const RuntimeSettings& s);

// The full environment ("K=V"), each name once: the function's variables, then the ones Lambda
// sets (AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, ...). The function cannot set the
// reserved ones; it may override the unreserved defaults (TZ, LANG, PATH, ...), as in Lambda.
std::vector<std::string> RuntimeEnvironment(const FunctionConfig& fn, const RuntimeSettings& s,
                                            const std::string& runtime_api_address);

}  // namespace wisp::worker

#endif  // WISP_WORKER_LAMBDA_ENV_H_
