// relabel_configs and profile_relabel_configs.
#include "config/sections.h"

namespace stoker::cfg {

std::shared_ptr<const RelabelRules> parse_relabel_configs(Walker& w, const YAML::Node& n,
                                                          const std::string& path,
                                                          const std::string& what,
                                                          std::vector<RelabelConfig>* out) {
  if (n.IsNull()) return std::make_shared<RelabelRules>();
  if (!n.IsSequence()) {
    w.error(n, path, "expected a list, got " + Walker::kind(n));
    return nullptr;
  }
  bool ok = true;
  for (size_t i = 0; i < n.size(); ++i) {
    std::string ip = path + "[" + std::to_string(i) + "]";
    if (n[i].IsNull()) {
      w.error(n[i], ip, "empty or null " + what + " relabeling rule in scrape config");
      ok = false;
      continue;
    }
    RelabelConfig rc;
    YAML::Node regex_node;
    size_t errors_before = w.error_count();
    w.each(
        n[i], ip,
        {"source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"},
        [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
          if (k == "source_labels") {
            rc.source_labels = w.str_list(v, sub);
          } else if (k == "regex") {
            regex_node = v;
            rc.regex_is_default = false;
            if (v.IsNull()) {
              rc.regex = "";  // Prometheus: a null regex matches only ""
            } else if (auto x = w.str(v, sub)) {
              rc.regex = *x;
            }
          } else if (k == "modulus") {
            auto x = w.str(v, sub);
            if (x && !x->empty() && x->find_first_not_of("0123456789") == std::string::npos &&
                x->size() < 20) {
              rc.modulus = std::stoull(*x);
            } else if (x) {
              w.error(v, sub, "modulus must be a non-negative integer");
            }
          } else if (k == "action") {
            if (v.IsNull()) {
              rc.action = "";
            } else if (auto x = w.str(v, sub)) {
              rc.action.clear();
              for (char c : *x)
                rc.action += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
              if (rc.action.empty()) w.error(v, sub, "unknown relabel action \"\"");
            }
          } else if (auto x = w.str(v, sub)) {
            if (k == "separator") rc.separator = *x;
            if (k == "target_label") rc.target_label = *x;
            if (k == "replacement") rc.replacement = *x;
          }
        });
    if (w.error_count() != errors_before) {
      ok = false;
      continue;
    }
    // The regex first: Prometheus compiles it while reading the rule, before validating.
    RelabelConfig probe = rc;
    probe.action = "labeldrop";  // an action that only needs the regex
    probe.source_labels.clear();
    probe.target_label.clear();
    probe.separator = ";";
    probe.replacement = "$1";
    probe.modulus = 0;
    if (auto probed = RelabelRules::compile({probe}); !probed) {
      const std::string& msg = probed.error();
      w.error(regex_node ? regex_node : n[i], ip + ".regex", msg.substr(msg.find(": ") + 2));
      ok = false;
      continue;
    }
    if (Status bad = validate_relabel(rc); !bad.ok()) {
      w.error(n[i], ip, bad.message());
      ok = false;
      continue;
    }
    out->push_back(std::move(rc));
  }
  if (!ok) return nullptr;
  auto rules = RelabelRules::compile(*out);
  if (!rules) {
    w.error(n, path, rules.error());
    return nullptr;
  }
  return std::make_shared<const RelabelRules>(std::move(*rules));
}

}  // namespace stoker::cfg
