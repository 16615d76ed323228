// The `wisp` subcommands' argument reader: walks argv, recognises flags written
// `--name value`, `--name=value` or (short) `-n value`, and hands out their values.
// Each subcommand keeps its own usage text and error wording. Not thread-safe.
#ifndef WISP_OPERATOR_CLI_ARGS_H_
#define WISP_OPERATOR_CLI_ARGS_H_

#include <cstddef>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace wisp::cli {

class ArgReader {
 public:
  // `args` must outlive the reader.
  explicit ArgReader(const std::vector<std::string>& args) : args_(args) {}

  // Moves to the next argument; false when there is none left.
  bool Next();
  // The current argument.
  const std::string& arg() const { return args_[i_]; }
  // Whether the current argument is one of `names`: exactly, or a `--long` name followed by
  // "=value".
  bool Is(std::initializer_list<absl::string_view> names) const;
  // The current flag's value: after its "=" (`--name=value`), else the next argument (which is
  // then consumed). False when there is none.
  bool Value(std::string* out);
  // Value() parsed as a decimal integer; false when missing or not a number.
  bool IntValue(int* out);

 private:
  const std::vector<std::string>& args_;
  size_t i_ = static_cast<size_t>(-1);  // before the first argument
};

}  // namespace wisp::cli

#endif  // WISP_OPERATOR_CLI_ARGS_H_
