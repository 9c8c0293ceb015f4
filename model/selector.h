// Selector: a profile series selector `TYPE{label="v",label=~"re",label!="v",label!~"re"}`.
//
// TYPE is the profile type (the `__name__` label) and may be omitted; `{}` or an
// empty string selects everything. Regexes are RE2, fully anchored as in
// Prometheus. A parsed Selector is immutable and safe to share between threads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/labels.h"
#include "model/status.h"

namespace re2 {
class RE2;
}

namespace stoker {

class Matcher {
 public:
  enum class Op { kEqual, kNotEqual, kRegex, kNotRegex };
  Matcher(std::string name, Op op, std::string value, std::shared_ptr<const re2::RE2> re);
  bool matches(const Labels& labels) const;
  const std::string& name() const { return name_; }
  Op op() const { return op_; }
  const std::string& value() const { return value_; }

 private:
  std::string name_;
  Op op_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;  // set for regex ops
};

class Selector {
 public:
  // Parses `text`; a failure quotes the offending position.
  static Result<Selector> parse(std::string_view text);

  bool matches(const Labels& labels) const;
  // The profile type this selector pins with `__name__=`, if any.
  std::optional<std::string> profile_type() const;
  const std::vector<Matcher>& matchers() const { return matchers_; }

 private:
  std::vector<Matcher> matchers_;
};

// Compiles `pattern` fully anchored as ^(?s:pattern)$ (Prometheus semantics).
// A failure quotes the pattern and RE2's reason.
Result<std::shared_ptr<const re2::RE2>> compile_anchored(std::string_view pattern);

}  // namespace stoker
