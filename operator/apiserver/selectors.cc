#include "operator/apiserver/selectors.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "operator/apiserver/errors.h"

namespace wisp::apiserver {
namespace {

bool IsKeyChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_' || c == '.' || c == '/';
}

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}
  void SkipSpace() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool Consume(absl::string_view token) {
    SkipSpace();
    if (text_.substr(pos_, token.size()) == token) {
      pos_ += token.size();
      return true;
    }
    return false;
  }
  std::string Word() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && IsKeyChar(text_[pos_])) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

absl::Status ParseError(absl::string_view text, absl::string_view why) {
  return kerr::BadRequest(absl::StrCat(
      "unable to parse requirement in selector \"", text, "\": ", why));
}

const char* OpText(LabelSelector::Op op) {
  switch (op) {
    case LabelSelector::Op::kEquals:
      return "=";
    case LabelSelector::Op::kNotEquals:
      return "!=";
    case LabelSelector::Op::kGreater:
      return ">";
    case LabelSelector::Op::kLess:
      return "<";
    default:
      return "";
  }
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  LabelSelector selector;
  Lexer lex(text);
  while (!lex.AtEnd()) {
    Requirement req;
    if (lex.Consume("!")) {
      req.key = lex.Word();
      if (req.key.empty()) return ParseError(text, "expected a key after !");
      req.op = Op::kDoesNotExist;
    } else {
      req.key = lex.Word();
      if (req.key.empty()) return ParseError(text, "expected a key");
      if (lex.AtEnd() || lex.Peek() == ',') {
        req.op = Op::kExists;
      } else if (lex.Consume("!=")) {
        req.op = Op::kNotEquals;
        req.values.push_back(lex.Word());
      } else if (lex.Consume("==") || lex.Consume("=")) {
        req.op = Op::kEquals;
        req.values.push_back(lex.Word());
      } else if (lex.Peek() == '>' || lex.Peek() == '<') {
        req.op =
            lex.Consume(">") ? Op::kGreater : (lex.Consume("<"), Op::kLess);
        req.values.push_back(lex.Word());
      } else {
        std::string word = lex.Word();
        if (word == "in") {
          req.op = Op::kIn;
        } else if (word == "notin") {
          req.op = Op::kNotIn;
        } else {
          return ParseError(text, "expected =, ==, !=, in or notin");
        }
        if (!lex.Consume("(")) return ParseError(text, "expected (");
        while (true) {
          req.values.push_back(lex.Word());
          if (lex.Consume(")")) break;
          if (!lex.Consume(",")) return ParseError(text, "expected , or )");
        }
      }
    }
    selector.requirements_.push_back(std::move(req));
    if (lex.AtEnd()) break;
    if (!lex.Consume(",")) return ParseError(text, "expected ,");
    if (lex.AtEnd()) return ParseError(text, "expected a requirement after ,");
  }
  return selector;
}

absl::StatusOr<LabelSelector> LabelSelector::FromJson(const Json& json) {
  LabelSelector selector;
  if (json.is_null()) return selector;
  if (!json.is_object())
    return kerr::BadRequest("a label selector must be an object");
  if (const Json* labels = Find(json, "matchLabels");
      labels != nullptr && labels->is_object()) {
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (!it.value().is_string())
        return kerr::BadRequest("matchLabels values must be strings");
      selector.requirements_.push_back(
          {it.key(), Op::kEquals, {it.value().get<std::string>()}});
    }
  }
  if (const Json* exprs = Find(json, "matchExpressions");
      exprs != nullptr && exprs->is_array()) {
    for (const Json& e : *exprs) {
      Requirement req;
      req.key = GetString(e, "key");
      std::string op = GetString(e, "operator");
      if (op == "In")
        req.op = Op::kIn;
      else if (op == "NotIn")
        req.op = Op::kNotIn;
      else if (op == "Exists")
        req.op = Op::kExists;
      else if (op == "DoesNotExist")
        req.op = Op::kDoesNotExist;
      else
        return kerr::BadRequest(
            absl::StrCat("unknown label selector operator \"", op, "\""));
      if (const Json* values = Find(e, "values");
          values != nullptr && values->is_array()) {
        for (const Json& v : *values) {
          if (v.is_string()) req.values.push_back(v.get<std::string>());
        }
      }
      selector.requirements_.push_back(std::move(req));
    }
  }
  return selector;
}

bool LabelSelector::Matches(const Json& labels) const {
  for (const Requirement& req : requirements_) {
    const Json* v = Find(labels, req.key);
    bool has = v != nullptr && v->is_string();
    std::string value = has ? v->get<std::string>() : "";
    bool in_values = false;
    for (const std::string& want : req.values)
      in_values = in_values || (has && value == want);
    bool ok = true;
    switch (req.op) {
      case Op::kEquals:
      case Op::kIn:
        ok = in_values;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        ok = !in_values;
        break;
      case Op::kExists:
        ok = has;
        break;
      case Op::kDoesNotExist:
        ok = !has;
        break;
      case Op::kGreater:
      case Op::kLess: {
        int64_t have = 0, bound = 0;
        ok = has && !req.values.empty() && absl::SimpleAtoi(value, &have) &&
             absl::SimpleAtoi(req.values[0], &bound) &&
             (req.op == Op::kGreater ? have > bound : have < bound);
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

std::string LabelSelector::ToString() const {
  std::vector<std::string> parts;
  for (const Requirement& req : requirements_) {
    switch (req.op) {
      case Op::kExists:
        parts.push_back(req.key);
        break;
      case Op::kDoesNotExist:
        parts.push_back("!" + req.key);
        break;
      case Op::kIn:
      case Op::kNotIn:
        parts.push_back(absl::StrCat(req.key,
                                     req.op == Op::kIn ? " in (" : " notin (",
                                     absl::StrJoin(req.values, ","), ")"));
        break;
      default:
        parts.push_back(absl::StrCat(req.key, OpText(req.op),
                                     req.values.empty() ? "" : req.values[0]));
    }
  }
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(absl::string_view text) {
  FieldSelector selector;
  for (absl::string_view part :
       absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    Requirement req;
    size_t pos;
    if ((pos = part.find("!=")) != absl::string_view::npos) {
      req.equals = false;
      req.path = std::string(part.substr(0, pos));
      req.value = std::string(part.substr(pos + 2));
    } else if ((pos = part.find("==")) != absl::string_view::npos) {
      req.equals = true;
      req.path = std::string(part.substr(0, pos));
      req.value = std::string(part.substr(pos + 2));
    } else if ((pos = part.find('=')) != absl::string_view::npos) {
      req.equals = true;
      req.path = std::string(part.substr(0, pos));
      req.value = std::string(part.substr(pos + 1));
    } else {
      return kerr::BadRequest(
          absl::StrCat("invalid field selector \"", text, "\""));
    }
    req.path = std::string(absl::StripAsciiWhitespace(req.path));
    req.value = std::string(absl::StripAsciiWhitespace(req.value));
    if (req.path.empty()) {
      return kerr::BadRequest(
          absl::StrCat("invalid field selector \"", text, "\""));
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool FieldSelector::Matches(const Json& object) const {
  for (const Requirement& req : requirements_) {
    const Json* cur = &object;
    for (absl::string_view key : absl::StrSplit(req.path, '.')) {
      cur = cur == nullptr ? nullptr : Find(*cur, key);
    }
    std::string have;
    if (cur != nullptr) {
      if (cur->is_string())
        have = cur->get<std::string>();
      else if (!cur->is_null())
        have = Dump(*cur);
    }
    if ((have == req.value) != req.equals) return false;
  }
  return true;
}

std::string FieldSelector::EqualityValue(absl::string_view path) const {
  for (const Requirement& req : requirements_) {
    if (req.equals && req.path == path) return req.value;
  }
  return "";
}

}  // namespace wisp::apiserver
