#include "worker/environment.h"

#include <signal.h>
#include <sys/wait.h>

#include <cctype>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controller/base/log.h"

namespace wisp::worker {
namespace {

double MillisSince(absl::Time start, absl::Time end) {
  return absl::ToDoubleMicroseconds(end - start) / 1000.0;
}

// Go's ProcessState wording, which Lambda's messages use: "exit status 1", "signal: killed".
std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exit status ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const char* name = strsignal(WTERMSIG(wait_status));
    return absl::StrCat("signal: ", absl::AsciiStrToLower(name ? name : "unknown"));
  }
  return "exit status unknown";
}

}  // namespace

absl::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return "success";
    case Outcome::kFunctionError: return "error";
    case Outcome::kTimeout: return "timeout";
    case Outcome::kCrash: return "crash";
    case Outcome::kOutOfMemory: return "out_of_memory";
    case Outcome::kInitError: return "init_error";
    case Outcome::kResponseTooLarge: return "response_too_large";
  }
  return "error";
}

Environment::Environment(EnvironmentOptions options, FunctionLog* log)
    : options_(std::move(options)), log_(log) {
  tmp_dir_ = options_.work_dir + "/tmp";
  std::error_code ec;
  std::filesystem::create_directories(tmp_dir_, ec);
}

Environment::~Environment() { Teardown(); }

void Environment::OnOutput(int stream, absl::string_view data) {
  absl::MutexLock lock(&log_mu_);
  std::string& partial = partial_[stream];
  partial.append(data.data(), data.size());
  size_t start = 0;
  while (true) {
    size_t nl = partial.find('\n', start);
    if (nl == std::string::npos) break;
    EmitLine(absl::string_view(partial).substr(start, nl - start));
    start = nl + 1;
  }
  partial.erase(0, start);
  // A runaway line without newlines is cut rather than held in memory.
  if (partial.size() > 256 * 1024) {
    EmitLine(partial);
    partial.clear();
  }
}

void Environment::EmitLine(absl::string_view line) {
  // Called with log_mu_ held.
  log_->Line(request_id_, line);
  tail_.Append(line);
  tail_.Append("\n");
}

std::optional<InvocationResult> Environment::Prepare() {
  if (sandbox_ != nullptr && api_->Terminated()) Teardown();
  if (sandbox_ != nullptr) return std::nullopt;
  {
    absl::MutexLock lock(&log_mu_);
    tail_.Clear();
    request_id_.clear();
  }
  ClearDirectory(tmp_dir_);
  {
    absl::MutexLock lock(&api_mu_);
    api_ = std::make_shared<RuntimeApi>(kMaxResponseBytes);
  }
  auto server = RuntimeApiServer::Start(api_);
  absl::Time start = absl::Now();
  if (!server.ok()) {
    return FromInitFailure(RuntimeEvent{.kind = RuntimeEvent::Kind::kKilled,
                                        .reason = std::string(server.status().message())},
                           "", 0);
  }
  server_ = std::move(*server);

  RuntimeSettings settings = options_.runtime;
  // Mounting over /tmp would hide code that lives there; such functions get TMPDIR instead.
  auto under_tmp = [](const std::string& p) { return p == "/tmp" || p.rfind("/tmp/", 0) == 0; };
  const bool mount_tmp = options_.caps.private_tmp_mount && !under_tmp(options_.function.code_path) &&
                         !under_tmp(RuntimeDir(options_.function, settings));
  settings.tmp_dir = mount_tmp ? "" : tmp_dir_;
  SandboxSpec spec;
  spec.argv = RuntimeCommand(options_.function, settings);
  spec.env = RuntimeEnvironment(options_.function, settings, server_->address());
  spec.cwd = options_.function.code_path;
  spec.tmp_dir = tmp_dir_;
  spec.mount_tmp = mount_tmp;
  spec.memory_limit_bytes = static_cast<int64_t>(options_.function.memory_mb) << 20;
  spec.tmp_limit_bytes = static_cast<int64_t>(options_.function.ephemeral_storage_mb) << 20;
  spec.name = options_.name;
  std::shared_ptr<RuntimeApi> api = api_;
  Sandbox::Callbacks cb;
  cb.on_output = [this](int stream, absl::string_view data) { OnOutput(stream, data); };
  cb.on_exit = [api, hook = options_.on_runtime_exit](int status) {
    api->NotifyExited(status);
    if (hook) hook();
  };
  cb.on_limit = [api](std::string reason) { api->NotifyKilled(std::move(reason)); };
  auto sandbox = Sandbox::Spawn(options_.caps, spec, std::move(cb));
  if (!sandbox.ok()) {
    server_.reset();
    return FromInitFailure(RuntimeEvent{.kind = RuntimeEvent::Kind::kKilled,
                                        .reason = std::string(sandbox.status().message())},
                           "", 0);
  }
  sandbox_ = std::move(*sandbox);

  std::optional<RuntimeEvent> failed =
      api_->WaitInitDone(start + absl::Seconds(kInitTimeoutSeconds));
  init_ms_ = MillisSince(start, absl::Now());
  if (failed.has_value()) {
    sandbox_->DrainOutput();
    InvocationResult result = FromInitFailure(*failed, "", init_ms_);
    log::Warn("runtime init failed",
              {{"env", options_.name}, {"error_type", result.error->error_type},
               {"error", result.error->error_message}});
    Teardown();
    return result;
  }
  fresh_ = true;
  return std::nullopt;
}

InvocationResult Environment::FromInitFailure(const RuntimeEvent& ev,
                                              const std::string& request_id, double init_ms) {
  InvocationResult r;
  r.outcome = Outcome::kInitError;
  r.cold_start = true;
  r.init_duration_ms = init_ms;
  r.memory_size_mb = options_.function.memory_mb;
  std::string prefix = request_id.empty() ? "" : absl::StrCat("RequestId: ", request_id, " ");
  switch (ev.kind) {
    case RuntimeEvent::Kind::kInitError:
      r.payload = ev.payload;
      r.error = ParseFunctionError(ev.payload, ev.error_type_header);
      if (r.error->error_type.empty() || r.error->error_type == "Unhandled") {
        r.error->error_type = "Runtime.Unknown";
      }
      break;
    case RuntimeEvent::Kind::kTimeout:
      r.error = ParsedFunctionError{
          "Sandbox.Timedout",
          absl::StrCat(prefix, "Error: Init phase timed out after ", kInitTimeoutSeconds, ".00 seconds"),
          {}};
      break;
    case RuntimeEvent::Kind::kExited:
      r.error = ParsedFunctionError{
          "Runtime.ExitError",
          absl::StrCat(prefix, "Error: Runtime exited with error: ", DescribeExit(ev.exit_status)),
          {}};
      break;
    default:
      r.error = ParsedFunctionError{
          ev.reason == "oom" ? "Runtime.OutOfMemory" : "Runtime.Unknown",
          absl::StrCat(prefix, "Error: Runtime failed to start: ", ev.reason), {}};
      break;
  }
  if (r.payload.empty()) r.payload = ErrorDocument(r.error->error_type, r.error->error_message);
  return r;
}

InvocationResult Environment::Invoke(const InvocationRequest& request) {
  const FunctionConfig& fn = options_.function;
  const std::string& id = request.invocation.request_id;
  // A runtime that exited between invocations (e.g. right after answering) is replaced.
  if (sandbox_ != nullptr && api_->Terminated()) Teardown();
  bool cold = fresh_;
  double init_ms = init_ms_;
  if (sandbox_ == nullptr) {
    std::optional<InvocationResult> failed = Prepare();
    cold = true;
    init_ms = init_ms_;
    if (failed.has_value()) {
      // Lambda reports an init failure as the invocation's error, with its log lines.
      InvocationResult r = std::move(*failed);
      r.billed_duration_ms = BilledDurationMs(0);
      LogStart(id, /*clear_tail=*/false);
      LogEnd(id, r, request.want_log_tail, absl::Now());
      return r;
    }
  }
  fresh_ = false;
  LogStart(id, /*clear_tail=*/!cold);
  sandbox_->ResetPeak();
  absl::Time start = absl::Now();
  absl::Time deadline = start + absl::Seconds(fn.timeout_seconds);
  if (request.invocation.deadline_unix_ms > 0) {
    deadline = std::min(deadline, absl::FromUnixMillis(request.invocation.deadline_unix_ms));
  }
  Invocation inv = request.invocation;
  inv.deadline_unix_ms = absl::ToUnixMillis(deadline);
  if (inv.invoked_function_arn.empty()) inv.invoked_function_arn = FunctionArn(fn, options_.runtime);
  api_->Offer(inv);
  RuntimeEvent ev = api_->WaitOutcome(deadline);
  if ((ev.kind == RuntimeEvent::Kind::kExited || ev.kind == RuntimeEvent::Kind::kKilled) &&
      !ev.delivered) {
    // The runtime died before it took the event: run it once in a fresh environment.
    Teardown();
    if (std::optional<InvocationResult> failed = Prepare(); failed.has_value()) {
      InvocationResult r = std::move(*failed);
      r.billed_duration_ms = BilledDurationMs(0);
      LogEnd(id, r, request.want_log_tail, absl::Now());
      return r;
    }
    cold = true;
    init_ms = init_ms_;
    fresh_ = false;
    sandbox_->ResetPeak();
    api_->Offer(inv);
    ev = api_->WaitOutcome(deadline);
  }
  absl::Time end = absl::Now();

  InvocationResult r;
  r.cold_start = cold;
  r.init_duration_ms = cold ? init_ms : 0;
  r.memory_size_mb = fn.memory_mb;
  r.duration_ms = MillisSince(start, end);
  bool reset = false;
  switch (ev.kind) {
    case RuntimeEvent::Kind::kResponse:
      r.outcome = Outcome::kSuccess;
      r.payload = std::move(ev.payload);
      break;
    case RuntimeEvent::Kind::kError:
      r.outcome = Outcome::kFunctionError;
      r.error = ParseFunctionError(ev.payload, ev.error_type_header);
      r.payload = std::move(ev.payload);
      break;
    case RuntimeEvent::Kind::kTooLarge:
      r.outcome = Outcome::kResponseTooLarge;
      r.error = ParsedFunctionError{
          "Function.ResponseSizeTooLarge",
          absl::StrCat("Response payload size exceeded maximum allowed payload size (",
                       kMaxResponseBytes, " bytes)."),
          {}};
      break;
    case RuntimeEvent::Kind::kTimeout:
      r.outcome = Outcome::kTimeout;
      r.error = ParsedFunctionError{
          "Sandbox.Timedout",
          TimeoutMessage(id, absl::ToDoubleSeconds(deadline - start)), {}};
      reset = true;
      break;
    case RuntimeEvent::Kind::kExited:
    case RuntimeEvent::Kind::kKilled:
    case RuntimeEvent::Kind::kInitError: {
      // The kernel's OOM kill and the RSS watcher both count as out of memory.
      bool oom = (ev.kind == RuntimeEvent::Kind::kKilled && ev.reason == "oom") ||
                 sandbox_->OomKilled();
      std::string how = ev.kind == RuntimeEvent::Kind::kExited ? DescribeExit(ev.exit_status)
                                                               : std::string("signal: killed");
      if (oom) {
        r.outcome = Outcome::kOutOfMemory;
        r.error = ParsedFunctionError{
            "Runtime.OutOfMemory",
            absl::StrCat("RequestId: ", id, " Error: Runtime exited with error: ", how), {}};
      } else {
        r.outcome = Outcome::kCrash;
        std::string detail;
        if (ev.kind == RuntimeEvent::Kind::kKilled && ev.reason == "ephemeral-storage") {
          detail = absl::StrCat(" (/tmp exceeded its ", fn.ephemeral_storage_mb, " MB limit)");
        }
        if (ev.kind == RuntimeEvent::Kind::kKilled && ev.reason == "worker-stopped") {
          detail = " (the worker stopped before the invocation finished)";
        }
        r.error = ParsedFunctionError{
            "Runtime.ExitError",
            absl::StrCat("RequestId: ", id, " Error: Runtime exited with error: ", how, detail),
            {}};
      }
      reset = true;
      break;
    }
  }
  if (reset) {
    sandbox_->Kill();
    sandbox_->WaitExited();
  } else {
    sandbox_->DrainOutput();
  }
  if (r.error.has_value() && r.payload.empty()) {
    r.payload = ErrorDocument(r.error->error_type, r.error->error_message);
  }
  r.billed_duration_ms = BilledDurationMs(r.duration_ms);
  r.max_memory_used_mb = (sandbox_->PeakMemoryBytes() + (1 << 20) - 1) >> 20;
  LogEnd(id, r, request.want_log_tail, end);
  if (reset) Teardown();
  return r;
}

void Environment::LogStart(const std::string& id, bool clear_tail) {
  absl::MutexLock lock(&log_mu_);
  if (clear_tail) tail_.Clear();
  request_id_ = id;
  std::string start = FormatStartLine(id, kLatestVersion);
  start.pop_back();
  EmitLine(start);
}

void Environment::LogEnd(const std::string& id, InvocationResult& r, bool want_tail,
                         absl::Time end) {
  absl::MutexLock lock(&log_mu_);
  if (r.outcome == Outcome::kTimeout) {
    EmitLine(absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", end, absl::UTCTimeZone()),
                          " ", r.error->error_message));
  }
  std::string end_line = FormatEndLine(id);
  end_line.pop_back();
  EmitLine(end_line);
  ReportFields report{.request_id = id,
                      .duration_ms = r.duration_ms,
                      .billed_duration_ms = r.billed_duration_ms,
                      .memory_size_mb = r.memory_size_mb,
                      .max_memory_used_mb = r.max_memory_used_mb};
  if (r.cold_start) report.init_duration_ms = r.init_duration_ms;
  if (r.outcome == Outcome::kTimeout) report.status = "timeout";
  if (r.outcome == Outcome::kCrash || r.outcome == Outcome::kOutOfMemory ||
      r.outcome == Outcome::kInitError) {
    report.status = "error";
    report.error_type = r.error->error_type;
  }
  std::string line = FormatReportLine(report);
  line.pop_back();
  EmitLine(line);
  if (want_tail) r.log_tail = tail_.text();
  request_id_.clear();
}

void Environment::Interrupt() {
  absl::MutexLock lock(&api_mu_);
  if (api_) api_->NotifyKilled("worker-stopped");
}

void Environment::Teardown() {
  if (sandbox_) sandbox_->Kill();
  if (server_) server_->Stop();
  sandbox_.reset();
  server_.reset();
  {
    absl::MutexLock lock(&api_mu_);
    api_.reset();
  }
  fresh_ = false;
  ClearDirectory(tmp_dir_);
}

}  // namespace wisp::worker
