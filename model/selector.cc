#include "model/selector.h"

#include <re2/re2.h>

#include <cctype>

namespace stoker {

Result<std::shared_ptr<const re2::RE2>> compile_anchored(std::string_view pattern) {
  RE2::Options opts;
  opts.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>("^(?s:" + std::string(pattern) + ")$", opts);
  if (!re->ok()) {
    return Status::invalid("invalid regular expression \"" + std::string(pattern) +
                           "\": " + re->error());
  }
  return re;
}

Matcher::Matcher(std::string name, Op op, std::string value, std::shared_ptr<const re2::RE2> re)
    : name_(std::move(name)), op_(op), value_(std::move(value)), re_(std::move(re)) {}

bool Matcher::matches(const Labels& labels) const {
  std::string_view v = labels.get(name_);
  switch (op_) {
    case Op::kEqual:
      return v == value_;
    case Op::kNotEqual:
      return v != value_;
    case Op::kRegex:
      return RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *re_);
    case Op::kNotRegex:
      return !RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *re_);
  }
  return false;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Status fail(const std::string& what) {
    return Status::invalid("bad selector \"" + std::string(s_) + "\" at position " +
                           std::to_string(pos_ + 1) + ": " + what);
  }
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  std::string ident() {
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '.' ||
          (c == '-' && pos_ > start)) {
        ++pos_;
      } else {
        break;
      }
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  bool string_lit(std::string* out) {
    char q = peek();
    if (q != '"' && q != '\'' && q != '`') return false;
    ++pos_;
    while (pos_ < s_.size() && s_[pos_] != q) {
      char c = s_[pos_++];
      if (c == '\\' && q != '`' && pos_ < s_.size()) {
        char e = s_[pos_++];
        switch (e) {
          case 'n':
            out->push_back('\n');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'r':
            out->push_back('\r');
            break;
          default:
            out->push_back(e);
        }
      } else {
        out->push_back(c);
      }
    }
    if (pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }

  size_t pos_ = 0;
  std::string_view s_;
};

}  // namespace

Result<Selector> Selector::parse(std::string_view text) {
  Parser p(text);
  Selector sel;
  p.skip_ws();
  if (p.at_end()) return sel;
  if (p.peek() != '{') {
    std::string type = p.ident();
    if (type.empty()) return p.fail("expected a profile type or '{'");
    sel.matchers_.emplace_back("__name__", Matcher::Op::kEqual, type, nullptr);
    p.skip_ws();
    if (p.at_end()) return sel;
  }
  if (p.peek() != '{') return p.fail("expected '{'");
  ++p.pos_;
  p.skip_ws();
  while (p.peek() != '}') {
    std::string name = p.ident();
    if (name.empty()) return p.fail("expected a label name");
    p.skip_ws();
    Matcher::Op op;
    if (p.s_.substr(p.pos_, 2) == "=~") {
      op = Matcher::Op::kRegex;
      p.pos_ += 2;
    } else if (p.s_.substr(p.pos_, 2) == "!~") {
      op = Matcher::Op::kNotRegex;
      p.pos_ += 2;
    } else if (p.s_.substr(p.pos_, 2) == "!=") {
      op = Matcher::Op::kNotEqual;
      p.pos_ += 2;
    } else if (p.peek() == '=') {
      op = Matcher::Op::kEqual;
      p.pos_ += 1;
    } else {
      return p.fail("expected one of =, !=, =~, !~");
    }
    p.skip_ws();
    std::string value;
    if (!p.string_lit(&value)) return p.fail("expected a quoted value");
    std::shared_ptr<const re2::RE2> re;
    if (op == Matcher::Op::kRegex || op == Matcher::Op::kNotRegex) {
      auto compiled = compile_anchored(value);
      if (!compiled) return p.fail(compiled.error());
      re = std::move(*compiled);
    }
    sel.matchers_.emplace_back(std::move(name), op, std::move(value), std::move(re));
    p.skip_ws();
    if (p.peek() == ',') {
      ++p.pos_;
      p.skip_ws();
    } else if (p.peek() != '}') {
      return p.fail("expected ',' or '}'");
    }
  }
  ++p.pos_;
  p.skip_ws();
  if (!p.at_end()) return p.fail("unexpected text after '}'");
  return sel;
}

bool Selector::matches(const Labels& labels) const {
  for (const auto& m : matchers_) {
    if (!m.matches(labels)) return false;
  }
  return true;
}

std::optional<std::string> Selector::profile_type() const {
  for (const auto& m : matchers_) {
    if (m.name() == "__name__" && m.op() == Matcher::Op::kEqual) return m.value();
  }
  return std::nullopt;
}

}  // namespace stoker
