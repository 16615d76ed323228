#include "operator/cli/args.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace wisp::cli {

bool ArgReader::Next() { return ++i_ < args_.size(); }

bool ArgReader::Is(std::initializer_list<absl::string_view> names) const {
  absl::string_view a = arg();
  for (absl::string_view name : names) {
    if (a == name) return true;
    if (absl::StartsWith(name, "--") && absl::StartsWith(a, name) && a.size() > name.size() &&
        a[name.size()] == '=') {
      return true;
    }
  }
  return false;
}

bool ArgReader::Value(std::string* out) {
  const std::string& a = arg();
  size_t eq = a.find('=');
  if (absl::StartsWith(a, "--") && eq != std::string::npos) {
    *out = a.substr(eq + 1);
    return true;
  }
  if (i_ + 1 >= args_.size()) return false;
  *out = args_[++i_];
  return true;
}

bool ArgReader::IntValue(int* out) {
  std::string v;
  return Value(&v) && absl::SimpleAtoi(v, out);
}

}  // namespace wisp::cli
