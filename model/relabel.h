// Relabeling with Prometheus' exact semantics (model/relabel in Prometheus 3).
//
// A RelabelConfig is one rule as written in YAML, with Prometheus' defaults for
// omitted keys. RelabelRules compiles a list once (each regex fully anchored as
// ^(?s:…)$, RE2) after validating it, then applies it to label sets: rules run in
// order and the first rule that drops stops processing. Compiled rules are
// immutable and safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/labels.h"
#include "model/status.h"

namespace re2 {
class RE2;
}

namespace stoker {

enum class NameValidation { kUtf8, kLegacy };

struct RelabelConfig {
  std::vector<std::string> source_labels;
  std::string separator = ";";
  std::string regex = "(.*)";    // the user's pattern, unanchored
  bool regex_is_default = true;  // regex key omitted (Prometheus' default object)
  uint64_t modulus = 0;
  std::string target_label;
  std::string replacement = "$1";
  std::string action = "replace";  // lower-case action name; "" is invalid
};

// Checks one rule; a failure carries Prometheus' error message.
Status validate_relabel(const RelabelConfig& cfg, NameValidation scheme = NameValidation::kUtf8);

// Whether `s` is a valid target label under the legacy scheme, allowing $1,
// ${name} references (Prometheus' relabelTargetLegacy pattern).
bool legacy_target_label_valid(const std::string& s);

// Expands Go regexp template references ($1, ${1}, $name, ${name}, $$) in
// `tmpl` using `groups` (index 0 = whole match; nullopt = group did not match)
// and `names` (group index → name, "" for unnamed).
std::string expand_template(const std::string& tmpl,
                            const std::vector<std::optional<std::string>>& groups,
                            const std::vector<std::string>& names);

class RelabelRules {
 public:
  RelabelRules() = default;
  // Validates and compiles `configs`. A failure says "relabel rule N:
  // <message>" (N counted from 0).
  static Result<RelabelRules> compile(const std::vector<RelabelConfig>& configs,
                                      NameValidation scheme = NameValidation::kUtf8);

  // Applies the rules to `labels` in place. Returns false when the set is dropped.
  bool apply(Labels& labels) const;
  bool empty() const { return rules_.empty(); }
  size_t size() const { return rules_.size(); }

  struct Rule;

 private:
  std::vector<std::shared_ptr<const Rule>> rules_;
};

}  // namespace stoker
