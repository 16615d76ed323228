// `wisp logs NAME`: prints the function log (what the worker writes on stdout: the handler's
// output and Lambda's START / END / REPORT lines) of each of the function's replicas, as the
// process kubelet stores it: <data_dir>/kubelet/<ns>/<name>/run/<index>-<config hash>/stdout
// (appended across restarts; the folder goes when the Function is deleted). With several
// replica files, each line is prefixed by "[<index>-<hash>] ". --follow keeps polling every
// 200 ms for new lines and new replicas until SIGINT.
#include "operator/cli/logs.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "operator/cli/args.h"

namespace wisp::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kUsage[] =
    R"(usage: wisp logs NAME [-n NAMESPACE] [-f] [--tail N] [--stderr] [--data_dir DIR]

Prints a function's logs in local mode (`wisp up`): each replica's function log (the handler's
output, START / END / REPORT lines), as the process kubelet stores it under
DIR/kubelet/NAMESPACE/NAME/run/*/stdout.
  -n, --namespace NS   the Function's namespace (default "default")
  -f, --follow         keep printing new lines (and new replicas) until Ctrl-C
  --tail N             only the last N lines of each replica's log to start with
  --stderr             the workers' own logs (stderr) instead of the function log
  --data_dir DIR       `wisp up`'s data folder (default ~/.wisp, or ./.wisp without $HOME)
Exit status: 0 success, 1 no logs found for the function, 2 usage.
)";

int Usage(const std::string& problem) {
  if (!problem.empty()) std::cerr << "wisp logs: " << problem << "\n";
  std::cerr << kUsage;
  return 2;
}

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

// The replica log files (run folder name -> path), sorted by name.
std::map<std::string, std::string> LogFiles(const fs::path& run, const std::string& file) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(run, ec)) {
    fs::path f = entry.path() / file;
    if (fs::is_regular_file(f, ec)) out[entry.path().filename().string()] = f.string();
  }
  return out;
}

// Where each file has been read to, and the partial last line held back.
struct Cursor {
  std::streamoff offset = 0;
  std::string partial;
};

// Prints the complete lines added to `path` since `cursor`.
void PrintNew(const std::string& label, const std::string& path, Cursor& cursor, bool prefix) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < cursor.offset) cursor = Cursor{};  // truncated or replaced
  if (size == cursor.offset) return;
  in.seekg(cursor.offset);
  std::string chunk(static_cast<size_t>(size - cursor.offset), '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<size_t>(in.gcount()));
  cursor.offset += static_cast<std::streamoff>(chunk.size());
  std::string text = cursor.partial + chunk;
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;
    if (prefix) std::cout << "[" << label << "] ";
    std::cout.write(text.data() + start, static_cast<std::streamsize>(nl + 1 - start));
    start = nl + 1;
  }
  cursor.partial = text.substr(start);
  std::cout.flush();
}

// The byte offset where the last `lines` lines of `path` begin.
std::streamoff TailOffset(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (int n = 0; n < lines; ++n) {
    if (pos == 0) return 0;
    size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string::npos) return 0;
    pos = nl;
  }
  return static_cast<std::streamoff>(pos + 1 <= text.size() ? pos + 1 : text.size());
}

}  // namespace

int RunLogs(const std::vector<std::string>& args) {
  std::string name, ns = "default", data_dir;
  bool follow = false, use_stderr = false;
  int tail = -1;
  ArgReader r(args);
  while (r.Next()) {
    const std::string& a = r.arg();
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "-f" || a == "--follow") {
      follow = true;
    } else if (a == "--stderr") {
      use_stderr = true;
    } else if (r.Is({"-n", "--namespace"})) {
      if (!r.Value(&ns) || ns.empty()) return Usage("-n needs a namespace");
    } else if (r.Is({"--tail"})) {
      if (!r.IntValue(&tail) || tail < 0) return Usage("--tail needs a number of lines");
    } else if (r.Is({"--data_dir", "--data-dir"})) {
      if (!r.Value(&data_dir) || data_dir.empty()) return Usage("--data_dir needs a folder");
    } else if (absl::StartsWith(a, "-")) {
      return Usage(absl::StrCat("unknown option ", a));
    } else if (name.empty()) {
      name = a;
    } else {
      return Usage(absl::StrCat("unexpected argument ", a));
    }
  }
  if (name.empty()) return Usage("NAME is required");
  if (name.find('/') != std::string::npos || ns.find('/') != std::string::npos || name == ".." ||
      ns == "..") {
    return Usage("NAME and NAMESPACE are plain names");
  }
  if (data_dir.empty()) {
    const char* home = getenv("HOME");
    data_dir = (home != nullptr && *home != '\0') ? std::string(home) + "/.wisp" : "./.wisp";
  }
  const fs::path run = fs::path(data_dir) / "kubelet" / ns / name / "run";
  const std::string file = use_stderr ? "stderr" : "stdout";
  std::map<std::string, std::string> files = LogFiles(run, file);
  if (files.empty() && !follow) {
    std::cerr << "wisp logs: no logs for " << ns << "/" << name << " under " << run.string()
              << " (is it deployed with `wisp up --data_dir " << data_dir
              << "`? A function scaled to zero keeps its logs; a deleted one does not)\n";
    return 1;
  }
  std::map<std::string, Cursor> cursors;
  for (const auto& [label, path] : files) {
    if (tail >= 0) cursors[label].offset = TailOffset(path, tail);
    PrintNew(label, path, cursors[label], files.size() > 1);
  }
  if (!follow) return 0;
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  while (!g_stop) {
    absl::SleepFor(absl::Milliseconds(200));
    files = LogFiles(run, file);
    for (const auto& [label, path] : files) {
      PrintNew(label, path, cursors[label], files.size() > 1);
    }
  }
  return 0;
}

}  // namespace wisp::cli
