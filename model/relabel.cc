#include "model/relabel.h"

#include <openssl/evp.h>
#include <re2/re2.h>

#include <cctype>

namespace stoker {

namespace {

enum class Action {
  kReplace,
  kKeep,
  kDrop,
  kKeepEqual,
  kDropEqual,
  kHashMod,
  kLabelMap,
  kLabelDrop,
  kLabelKeep,
  kLowercase,
  kUppercase,
  kUnknown
};

Action parse_action(const std::string& a) {
  static const std::pair<const char*, Action> kActions[] = {
      {"replace", Action::kReplace},     {"keep", Action::kKeep},
      {"drop", Action::kDrop},           {"keepequal", Action::kKeepEqual},
      {"dropequal", Action::kDropEqual}, {"hashmod", Action::kHashMod},
      {"labelmap", Action::kLabelMap},   {"labeldrop", Action::kLabelDrop},
      {"labelkeep", Action::kLabelKeep}, {"lowercase", Action::kLowercase},
      {"uppercase", Action::kUppercase}};
  for (const auto& [name, action] : kActions) {
    if (a == name) return action;
  }
  return Action::kUnknown;
}

bool legacy_name_valid(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    bool ok = std::isalpha(c) || c == '_' || (i > 0 && std::isdigit(c));
    if (!ok) return false;
  }
  return true;
}

bool name_valid(const std::string& s, NameValidation scheme) {
  return scheme == NameValidation::kLegacy ? legacy_name_valid(s) : (!s.empty() && valid_utf8(s));
}

bool word_byte(unsigned char c) {
  return std::isalnum(c) || c == '_' || c >= 0x80;
}

// Newer Go accepts (?<name>…) for named groups; Debian 12's RE2 only (?P<name>…).
std::string rewrite_named_groups(const std::string& re) {
  std::string out;
  for (size_t i = 0; i < re.size(); ++i) {
    if (re[i] == '\\' && i + 1 < re.size()) {
      out += re[i];
      out += re[++i];
      continue;
    }
    if (re.compare(i, 3, "(?<") == 0 && i + 3 < re.size() && re[i + 3] != '=' && re[i + 3] != '!') {
      out += "(?P<";
      i += 2;
      continue;
    }
    out += re[i];
  }
  return out;
}

std::string ascii_case(std::string s, bool upper) {
  for (auto& c : s) {
    c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c))
                                : std::tolower(static_cast<unsigned char>(c)));
  }
  return s;
}

}  // namespace

bool legacy_target_label_valid(const std::string& s) {
  // ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$
  static const re2::RE2 re(R"(^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$)");
  return RE2::FullMatch(s, re);
}

std::string expand_template(const std::string& tmpl,
                            const std::vector<std::optional<std::string>>& groups,
                            const std::vector<std::string>& names) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] != '$') {
      out += tmpl[i++];
      continue;
    }
    if (i + 1 < tmpl.size() && tmpl[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    std::string name;
    size_t next;
    if (i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      size_t j = i + 2;
      while (j < tmpl.size() && word_byte(static_cast<unsigned char>(tmpl[j]))) ++j;
      if (j == i + 2 || j >= tmpl.size() || tmpl[j] != '}') {
        out += '$';  // malformed: emit the $ and go on after it
        ++i;
        continue;
      }
      name = tmpl.substr(i + 2, j - i - 2);
      next = j + 1;
    } else {
      size_t j = i + 1;
      while (j < tmpl.size() && word_byte(static_cast<unsigned char>(tmpl[j]))) ++j;
      if (j == i + 1) {
        out += '$';
        ++i;
        continue;
      }
      name = tmpl.substr(i + 1, j - i - 1);
      next = j;
    }
    i = next;
    // A number (no leading zeros) is a group index; anything else a group name.
    long num = -1;
    if (std::isdigit(static_cast<unsigned char>(name[0])) && !(name[0] == '0' && name.size() > 1)) {
      num = 0;
      for (char c : name) {
        if (!std::isdigit(static_cast<unsigned char>(c)) || num >= 100000000) {
          num = -1;
          break;
        }
        num = num * 10 + (c - '0');
      }
    }
    if (num >= 0) {
      if (static_cast<size_t>(num) < groups.size() && groups[static_cast<size_t>(num)]) {
        out += *groups[static_cast<size_t>(num)];
      }
      continue;
    }
    for (size_t g = 0; g < names.size(); ++g) {
      if (names[g] == name) {
        if (g < groups.size() && groups[g]) out += *groups[g];
        break;
      }
    }
  }
  return out;
}

namespace {

// Prometheus' message for what is wrong with a rule, or "".
std::string relabel_problem(const RelabelConfig& c, NameValidation scheme) {
  Action a = parse_action(c.action);
  if (c.action.empty()) return "relabel action cannot be empty";
  if (a == Action::kUnknown) return "unknown relabel action \"" + c.action + "\"";
  if (a == Action::kHashMod && c.modulus == 0)
    return "relabel configuration for hashmod requires non-zero modulus";
  bool needs_target = a == Action::kReplace || a == Action::kHashMod || a == Action::kLowercase ||
                      a == Action::kUppercase || a == Action::kKeepEqual || a == Action::kDropEqual;
  if (needs_target && c.target_label.empty()) {
    return "relabel configuration for " + c.action + " action requires 'target_label' value";
  }
  bool has_ref = c.target_label.find('$') != std::string::npos;
  if (a == Action::kReplace) {
    bool ok = has_ref ? (scheme == NameValidation::kLegacy
                             ? legacy_target_label_valid(c.target_label)
                             : !c.target_label.empty() && valid_utf8(c.target_label))
                      : name_valid(c.target_label, scheme);
    if (!ok) return "\"" + c.target_label + "\" is invalid 'target_label' for replace action";
  }
  bool simple = a == Action::kLowercase || a == Action::kUppercase || a == Action::kKeepEqual ||
                a == Action::kDropEqual;
  if (simple && !name_valid(c.target_label, scheme)) {
    return "\"" + c.target_label + "\" is invalid 'target_label' for " + c.action + " action";
  }
  if (simple && c.replacement != "$1")
    return "'replacement' can not be set for " + c.action + " action";
  if (a == Action::kLabelMap) {
    bool ok = scheme == NameValidation::kLegacy
                  ? legacy_target_label_valid(c.replacement)
                  : !c.replacement.empty() && valid_utf8(c.replacement);
    if (!ok) return "\"" + c.replacement + "\" is invalid 'replacement' for labelmap action";
  }
  if (a == Action::kHashMod && !name_valid(c.target_label, scheme)) {
    return "\"" + c.target_label + "\" is invalid 'target_label' for hashmod action";
  }
  if ((a == Action::kKeepEqual || a == Action::kDropEqual) &&
      (!c.regex_is_default || c.modulus != 0 || c.separator != ";" || c.replacement != "$1")) {
    return c.action +
           " action requires only 'source_labels' and `target_label`, and no other fields";
  }
  if ((a == Action::kLabelDrop || a == Action::kLabelKeep) &&
      (!c.source_labels.empty() || !c.target_label.empty() || c.modulus != 0 ||
       c.separator != ";" || c.replacement != "$1")) {
    return c.action + " action requires only 'regex', and no other fields";
  }
  return "";
}

}  // namespace

Status validate_relabel(const RelabelConfig& c, NameValidation scheme) {
  return Status::from_message(relabel_problem(c, scheme));
}

struct RelabelRules::Rule {
  RelabelConfig cfg;
  Action action;
  std::unique_ptr<re2::RE2> re;
  std::vector<std::string> group_names;  // index → name

  // Full anchored match of `s`; fills `groups` when given.
  bool match(std::string_view s, std::vector<std::optional<std::string>>* groups) const {
    int n = re->NumberOfCapturingGroups() + 1;
    std::vector<re2::StringPiece> sub(static_cast<size_t>(n));
    if (!re->Match(re2::StringPiece(s.data(), s.size()), 0, s.size(), RE2::ANCHOR_BOTH, sub.data(),
                   n)) {
      return false;
    }
    if (groups) {
      groups->clear();
      for (const auto& sp : sub) {
        if (sp.data() == nullptr) {
          groups->push_back(std::nullopt);
        } else {
          groups->push_back(std::string(sp.data(), sp.size()));
        }
      }
    }
    return true;
  }
};

Result<RelabelRules> RelabelRules::compile(const std::vector<RelabelConfig>& configs,
                                           NameValidation scheme) {
  RelabelRules out;
  for (size_t i = 0; i < configs.size(); ++i) {
    const auto& c = configs[i];
    std::string err = relabel_problem(c, scheme);
    auto rule = std::make_shared<Rule>();
    rule->cfg = c;
    rule->action = parse_action(c.action);
    if (err.empty()) {
      RE2::Options opts;
      opts.set_log_errors(false);
      rule->re = std::make_unique<re2::RE2>("^(?s:" + rewrite_named_groups(c.regex) + ")$", opts);
      if (!rule->re->ok())
        err = "error parsing regexp: " + rule->re->error() + " in \"" + c.regex + "\"";
    }
    if (!err.empty()) {
      return Status::invalid("relabel rule " + std::to_string(i) + ": " + err);
    }
    rule->group_names.assign(static_cast<size_t>(rule->re->NumberOfCapturingGroups()) + 1, "");
    for (const auto& [name, idx] : rule->re->NamedCapturingGroups()) {
      rule->group_names[static_cast<size_t>(idx)] = name;
    }
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

bool RelabelRules::apply(Labels& labels) const {
  for (const auto& rp : rules_) {
    const Rule& r = *rp;
    const RelabelConfig& c = r.cfg;
    std::string val;
    for (size_t i = 0; i < c.source_labels.size(); ++i) {
      if (i) val += c.separator;
      val += labels.get(c.source_labels[i]);
    }
    switch (r.action) {
      case Action::kDrop:
        if (r.match(val, nullptr)) return false;
        break;
      case Action::kKeep:
        if (!r.match(val, nullptr)) return false;
        break;
      case Action::kDropEqual:
        if (labels.get(c.target_label) == val) return false;
        break;
      case Action::kKeepEqual:
        if (labels.get(c.target_label) != val) return false;
        break;
      case Action::kReplace: {
        bool no_refs = c.target_label.find('$') == std::string::npos &&
                       c.replacement.find('$') == std::string::npos;
        if (val.empty() && c.regex_is_default && no_refs) {
          labels.set(c.target_label, c.replacement);
          break;
        }
        std::vector<std::optional<std::string>> groups;
        if (!r.match(val, &groups)) break;
        std::string target = expand_template(c.target_label, groups, r.group_names);
        if (!name_valid(target, NameValidation::kUtf8)) break;
        labels.set(target, expand_template(c.replacement, groups, r.group_names));
        break;
      }
      case Action::kLowercase:
        labels.set(c.target_label, ascii_case(val, false));
        break;
      case Action::kUppercase:
        labels.set(c.target_label, ascii_case(val, true));
        break;
      case Action::kHashMod: {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_Digest(val.data(), val.size(), md, &len, EVP_md5(), nullptr);
        uint64_t h = 0;
        for (int k = 8; k < 16; ++k) h = (h << 8) | md[k];
        labels.set(c.target_label, std::to_string(h % c.modulus));
        break;
      }
      case Action::kLabelMap: {
        Labels snapshot = labels;
        std::vector<std::optional<std::string>> groups;
        for (const auto& l : snapshot) {
          if (r.match(l.name, &groups))
            labels.set(expand_template(c.replacement, groups, r.group_names), l.value);
        }
        break;
      }
      case Action::kLabelDrop:
      case Action::kLabelKeep: {
        std::vector<std::string> remove;
        for (const auto& l : labels) {
          if (r.match(l.name, nullptr) == (r.action == Action::kLabelDrop))
            remove.push_back(l.name);
        }
        for (const auto& n : remove) labels.erase(n);
        break;
      }
      case Action::kUnknown:
        break;
    }
  }
  return true;
}

}  // namespace stoker
