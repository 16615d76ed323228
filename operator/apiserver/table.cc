#include "operator/apiserver/table.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "operator/apiserver/errors.h"

namespace wisp::apiserver {
namespace {

class PathEval {
 public:
  PathEval(absl::string_view path) : p_(path) {}

  absl::StatusOr<std::vector<Json>> Run(const Json& root) {
    p_ = absl::StripAsciiWhitespace(p_);
    if (!p_.empty() && p_.front() == '{' && p_.back() == '}') {
      p_ = absl::StripAsciiWhitespace(p_.substr(1, p_.size() - 2));
    }
    if (!p_.empty() && p_[0] == '$') ++pos_;
    std::vector<const Json*> nodes = {&root};
    while (pos_ < p_.size()) {
      char c = p_[pos_];
      if (c == '.') {
        ++pos_;
        if (pos_ < p_.size() && p_[pos_] == '.')
          return Error("recursive descent is not supported");
        if (pos_ < p_.size() && p_[pos_] == '*') {
          ++pos_;
          nodes = Children(nodes);
          continue;
        }
        std::string key = Identifier();
        if (key.empty()) {
          if (pos_ >= p_.size()) break;  // a lone "." selects the current node
          if (p_[pos_] == '[') continue;
          return Error("expected a field name");
        }
        nodes = Field(nodes, key);
      } else if (c == '[') {
        ++pos_;
        auto next = Bracket(nodes);
        if (!next.ok()) return next.status();
        nodes = *std::move(next);
      } else {
        // The first segment may omit the leading dot (`status.replicas`).
        if (pos_ == 0 || (pos_ == 1 && p_[0] == '$')) {
          std::string key = Identifier();
          if (key.empty()) return Error("unexpected character");
          nodes = Field(nodes, key);
          continue;
        }
        return Error("unexpected character");
      }
    }
    std::vector<Json> out;
    for (const Json* n : nodes) out.push_back(*n);
    return out;
  }

 private:
  absl::Status Error(absl::string_view why) const {
    return kerr::BadRequest(
        absl::StrCat("invalid JSONPath \"", p_, "\": ", why));
  }

  std::string Identifier() {
    size_t start = pos_;
    while (pos_ < p_.size() && p_[pos_] != '.' && p_[pos_] != '[') ++pos_;
    return std::string(p_.substr(start, pos_ - start));
  }

  static std::vector<const Json*> Field(const std::vector<const Json*>& nodes,
                                        const std::string& key) {
    std::vector<const Json*> out;
    for (const Json* n : nodes) {
      if (const Json* v = Find(*n, key)) out.push_back(v);
    }
    return out;
  }

  static std::vector<const Json*> Children(
      const std::vector<const Json*>& nodes) {
    std::vector<const Json*> out;
    for (const Json* n : nodes) {
      if (n->is_array() || n->is_object()) {
        for (const Json& c : *n) out.push_back(&c);
      }
    }
    return out;
  }

  void SkipSpace() {
    while (pos_ < p_.size() && p_[pos_] == ' ') ++pos_;
  }

  // Reads a quoted string starting at pos_ (which holds the quote).
  bool Quoted(std::string* out) {
    char quote = p_[pos_++];
    while (pos_ < p_.size() && p_[pos_] != quote) {
      if (p_[pos_] == '\\' && pos_ + 1 < p_.size()) ++pos_;
      out->push_back(p_[pos_++]);
    }
    if (pos_ >= p_.size()) return false;
    ++pos_;
    return true;
  }

  absl::StatusOr<std::vector<const Json*>> Bracket(
      const std::vector<const Json*>& nodes) {
    SkipSpace();
    if (pos_ >= p_.size()) return Error("unterminated [");
    char c = p_[pos_];
    std::vector<const Json*> out;
    if (c == '*') {
      ++pos_;
      out = Children(nodes);
    } else if (c == '\'' || c == '"') {
      std::string key;
      if (!Quoted(&key)) return Error("unterminated string");
      out = Field(nodes, key);
    } else if (c == '?') {
      ++pos_;
      SkipSpace();
      if (pos_ >= p_.size() || p_[pos_] != '(')
        return Error("expected ( after ?");
      ++pos_;
      SkipSpace();
      if (pos_ >= p_.size() || p_[pos_] != '@')
        return Error("filters must start with @");
      ++pos_;
      std::vector<std::string> sub_path;
      while (pos_ < p_.size() && p_[pos_] == '.') {
        ++pos_;
        size_t start = pos_;
        while (pos_ < p_.size() &&
               (absl::ascii_isalnum(static_cast<unsigned char>(p_[pos_])) ||
                p_[pos_] == '_' || p_[pos_] == '-')) {
          ++pos_;
        }
        sub_path.emplace_back(p_.substr(start, pos_ - start));
      }
      SkipSpace();
      std::string op;
      Json literal;
      if (pos_ + 1 < p_.size() &&
          (p_.substr(pos_, 2) == "==" || p_.substr(pos_, 2) == "!=")) {
        op = std::string(p_.substr(pos_, 2));
        pos_ += 2;
        SkipSpace();
        if (pos_ >= p_.size()) return Error("expected a value");
        if (p_[pos_] == '"' || p_[pos_] == '\'') {
          std::string s;
          if (!Quoted(&s)) return Error("unterminated string");
          literal = s;
        } else {
          size_t start = pos_;
          while (pos_ < p_.size() && p_[pos_] != ')' && p_[pos_] != ' ') ++pos_;
          std::string word(p_.substr(start, pos_ - start));
          double d;
          if (word == "true" || word == "false")
            literal = word == "true";
          else if (absl::SimpleAtod(word, &d))
            literal = d;
          else
            literal = word;
        }
      }
      SkipSpace();
      if (pos_ >= p_.size() || p_[pos_] != ')') return Error("expected )");
      ++pos_;
      for (const Json* candidate : Children(nodes)) {
        const Json* v = candidate;
        for (const std::string& k : sub_path)
          v = v == nullptr ? nullptr : Find(*v, k);
        bool keep;
        if (op.empty()) {
          keep = v != nullptr;
        } else {
          bool equal =
              v != nullptr &&
              (*v == literal || (v->is_number() && literal.is_number() &&
                                 v->get<double>() == literal.get<double>()));
          keep = op == "==" ? equal : !equal;
        }
        if (keep) out.push_back(candidate);
      }
    } else {
      size_t start = pos_;
      while (pos_ < p_.size() && p_[pos_] != ']') ++pos_;
      int64_t index;
      if (!absl::SimpleAtoi(
              absl::StripAsciiWhitespace(p_.substr(start, pos_ - start)),
              &index)) {
        return Error("expected an index, *, a quoted name or a filter");
      }
      for (const Json* n : nodes) {
        if (!n->is_array()) continue;
        int64_t size = static_cast<int64_t>(n->size());
        int64_t i = index < 0 ? size + index : index;
        if (i >= 0 && i < size) out.push_back(&(*n)[static_cast<size_t>(i)]);
      }
    }
    SkipSpace();
    if (pos_ >= p_.size() || p_[pos_] != ']') return Error("expected ]");
    ++pos_;
    return out;
  }

  absl::string_view p_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<Json>> EvalJsonPath(absl::string_view path,
                                               const Json& root) {
  return PathEval(path).Run(root);
}

std::string HumanDuration(int64_t seconds) {
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return absl::StrCat(seconds, "s");
  int64_t minutes = seconds / 60;
  if (minutes < 10) {
    int64_t s = seconds % 60;
    return s == 0 ? absl::StrCat(minutes, "m")
                  : absl::StrCat(minutes, "m", s, "s");
  }
  if (minutes < 60 * 3) return absl::StrCat(minutes, "m");
  int64_t hours = seconds / 3600;
  if (hours < 8) {
    int64_t m = minutes % 60;
    return m == 0 ? absl::StrCat(hours, "h") : absl::StrCat(hours, "h", m, "m");
  }
  if (hours < 48) return absl::StrCat(hours, "h");
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    return h == 0 ? absl::StrCat(hours / 24, "d")
                  : absl::StrCat(hours / 24, "d", h, "h");
  }
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24, "d");
  if (hours < 24 * 365 * 8) {
    int64_t dy = (hours / 24) % 365;
    return dy == 0 ? absl::StrCat(hours / 24 / 365, "y")
                   : absl::StrCat(hours / 24 / 365, "y", dy, "d");
  }
  return absl::StrCat(hours / 24 / 365, "y");
}

Json TableColumnDefinitions(const std::vector<PrinterColumn>& columns) {
  Json defs = Json::array();
  defs.push_back({{"name", "Name"},
                  {"type", "string"},
                  {"format", "name"},
                  {"description", "Name must be unique within a namespace."},
                  {"priority", 0}});
  for (const PrinterColumn& c : columns) {
    defs.push_back({{"name", c.name},
                    {"type", c.type.empty() ? "string" : c.type},
                    {"format", c.format},
                    {"description", c.description},
                    {"priority", c.priority}});
  }
  return defs;
}

Json TableCells(const std::vector<PrinterColumn>& columns, const Json& object,
                int64_t now_unix) {
  Json cells = Json::array();
  cells.push_back(GetStringPath(object, {"metadata", "name"}));
  for (const PrinterColumn& c : columns) {
    absl::StatusOr<std::vector<Json>> found = EvalJsonPath(c.json_path, object);
    if (!found.ok() || found->empty() || found->front().is_null()) {
      cells.push_back(nullptr);
      continue;
    }
    const Json& v = found->front();
    if (c.type == "integer") {
      cells.push_back(
          v.is_number() ? Json(static_cast<int64_t>(v.get<double>())) : Json());
    } else if (c.type == "number") {
      cells.push_back(v.is_number() ? Json(v.get<double>()) : Json());
    } else if (c.type == "boolean") {
      cells.push_back(v.is_boolean() ? v : Json());
    } else if (c.type == "date") {
      if (!v.is_string()) {
        cells.push_back(nullptr);
        continue;
      }
      std::optional<int64_t> t = ParseTimestamp(v.get<std::string>());
      cells.push_back(t.has_value() ? HumanDuration(now_unix - *t)
                                    : "<invalid>");
    } else {
      cells.push_back(v.is_string() ? v.get<std::string>() : Dump(v));
    }
  }
  return cells;
}

}  // namespace wisp::apiserver
