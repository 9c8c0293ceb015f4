// kubernetes_sd_configs, validated with Prometheus' words.
#include <re2/re2.h>

#include <algorithm>
#include <map>

#include "config/sections.h"
#include "model/selector.h"

namespace stoker::cfg {
namespace {

// Kubernetes label selector syntax (labels.Parse): comma-separated terms of
// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
bool valid_label_selector(const std::string& s, std::string* bad_term) {
  static const auto kTerm =
      compile_anchored(
          R"(\s*(!?\s*[A-Za-z0-9_./-]+|[A-Za-z0-9_./-]+\s*(=|==|!=)\s*[A-Za-z0-9_.-]*|)"
          R"([A-Za-z0-9_./-]+\s+(in|notin)\s+\(\s*[A-Za-z0-9_.-]*(\s*,\s*[A-Za-z0-9_.-]*)*\s*\))\s*)")
          .value();
  // Split on commas outside parentheses.
  int depth = 0;
  std::string term;
  auto check = [&](const std::string& t) {
    if (RE2::FullMatch(t, *kTerm)) return true;
    *bad_term = t;
    return false;
  };
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      if (!check(term)) return false;
      term.clear();
    } else {
      term += c;
    }
  }
  return s.empty() || check(term);
}

// Field selector syntax (fields.ParseSelector): comma-separated `k=v`, `k==v`, `k!=v`.
bool valid_field_selector(const std::string& s, std::string* bad_term) {
  if (s.empty()) return true;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string t = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (t.find('=') == std::string::npos) {
      *bad_term = t;
      return false;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

const std::vector<std::string> kKubernetesRoles = {"pod",           "service", "endpoints",
                                                   "endpointslice", "node",    "ingress"};

// One kubernetes_sd_configs entry, or (`cluster`) the cluster section's
// `kubernetes`: the API connection keys of an SD config plus `namespace`,
// `label_selector` and `field_selector` for the replicas' pods.
KubernetesSdConfig parse_kubernetes_item(Walker& w, const YAML::Node& item, const std::string& ip,
                                         bool cluster) {
  KubernetesSdConfig kc;
  {
    std::optional<Secret> bearer_token;
    std::string bearer_token_file;
    bool custom_http = false;
    YAML::Node role_node, selectors_node;
    std::set<std::string> keys = {"api_server", "kubeconfig_file"};
    if (cluster) {
      kc.role = "pod";
      keys.insert({"namespace", "label_selector", "field_selector"});
    } else {
      keys.insert({"role", "namespaces", "selectors", "attach_metadata"});
    }
    KubernetesSdConfig::Selector cluster_selector{"pod", "", ""};
    w.each(
        item, ip, with_http_client_keys(keys),
        [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
          if (k == "namespace") {
            if (auto s = w.str(v, sub); s && !s->empty()) kc.namespaces = {*s};
          } else if (k == "label_selector" || k == "field_selector") {
            auto s = w.str(v, sub);
            if (!s) return;
            std::string bad;
            bool label = k == "label_selector";
            if (label ? !valid_label_selector(*s, &bad) : !valid_field_selector(*s, &bad)) {
              w.error(v, sub, "invalid selector: '" + *s + "'; can't understand '" + bad + "'");
            }
            (label ? cluster_selector.label : cluster_selector.field) = *s;
          } else if (k == "role") {
            role_node = v;
            if (auto s = w.str(v, sub)) kc.role = *s;
          } else if (k == "api_server") {
            if (auto s = w.str(v, sub)) {
              kc.api_server = *s;
              while (!kc.api_server.empty() && kc.api_server.back() == '/')
                kc.api_server.pop_back();
              if (kc.api_server.rfind("http://", 0) != 0 &&
                  kc.api_server.rfind("https://", 0) != 0) {
                w.error(v, sub, "api_server must be an http:// or https:// URL");
              }
            }
          } else if (k == "kubeconfig_file") {
            kc.kubeconfig_file = w.readable_file(v, sub);
          } else if (k == "namespaces") {
            w.each(v, sub, {"names", "own_namespace"},
                   [&](const std::string& nk, const YAML::Node& nv, const std::string& ns) {
                     if (nk == "names") {
                       kc.namespaces = w.str_list(nv, ns);
                     } else if (auto b = w.boolean(nv, ns)) {
                       kc.own_namespace = *b;
                     }
                   });
          } else if (k == "selectors") {
            selectors_node = v;
            if (v.IsNull()) return;
            if (!v.IsSequence()) {
              w.error(v, sub, "expected a list, got " + Walker::kind(v));
              return;
            }
            for (size_t j = 0; j < v.size(); ++j) {
              std::string sp = sub + "[" + std::to_string(j) + "]";
              KubernetesSdConfig::Selector sel;
              w.each(
                  v[j], sp, {"role", "label", "field"},
                  [&](const std::string& sk, const YAML::Node& sv, const std::string& ss) {
                    auto str = w.str(sv, ss);
                    if (!str) return;
                    if (sk == "role") sel.role = *str;
                    if (sk == "label") {
                      sel.label = *str;
                      std::string bad;
                      if (!valid_label_selector(*str, &bad)) {
                        w.error(sv, ss,
                                "invalid selector: '" + *str + "'; can't understand '" + bad + "'");
                      }
                    }
                    if (sk == "field") {
                      sel.field = *str;
                      std::string bad;
                      if (!valid_field_selector(*str, &bad)) {
                        w.error(sv, ss,
                                "invalid selector: '" + *str + "'; can't understand '" + bad + "'");
                      }
                    }
                  });
              kc.selectors.push_back(std::move(sel));
            }
          } else if (k == "attach_metadata") {
            w.each(v, sub, {"node", "namespace", "deployment", "job", "cronjob"},
                   [&](const std::string& ak, const YAML::Node& av, const std::string& as) {
                     auto b = w.boolean(av, as);
                     if (!b) return;
                     auto& am = kc.attach_metadata;
                     (ak == "node"         ? am.node
                      : ak == "namespace"  ? am.namespace_
                      : ak == "deployment" ? am.deployment
                      : ak == "job"        ? am.job
                                           : am.cronjob) = *b;
                   });
          } else if (k == "enable_http2") {
            w.boolean(v, sub);
          } else {
            if (k != "follow_redirects") custom_http = true;
            parse_http_client(w, k, v, sub, kc.http, bearer_token, bearer_token_file);
          }
        });
    finish_http_auth(w, item, ip, kc.http, bearer_token, bearer_token_file);
    // SDConfig.UnmarshalYAML, with Prometheus' words.
    if (kc.role.empty()) {
      w.error(role_node ? role_node : item, ip + ".role",
              "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)");
    } else if (std::find(kKubernetesRoles.begin(), kKubernetesRoles.end(), kc.role) ==
               kKubernetesRoles.end()) {
      w.error(role_node, ip + ".role", "unknown Kubernetes SD role \"" + kc.role + "\"");
    }
    if (!kc.api_server.empty() && !kc.kubeconfig_file.empty()) {
      w.error(item, ip, "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
    }
    if (!kc.kubeconfig_file.empty() && custom_http) {
      w.error(item, ip,
              "cannot use a custom HTTP client configuration together with 'kubeconfig_file'");
    }
    if (kc.api_server.empty() && kc.kubeconfig_file.empty() && custom_http) {
      w.error(item, ip,
              "to use custom HTTP client configuration please provide the 'api_server' URL "
              "explicitly");
    }
    if (!kc.api_server.empty() && kc.own_namespace) {
      w.error(item, ip, "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    }
    if (!kc.kubeconfig_file.empty() && kc.own_namespace) {
      w.error(item, ip,
              "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously");
    }
    // Which selector roles each SD role accepts.
    static const std::map<std::string, std::vector<std::string>> kAllowed = {
        {"pod", {"pod", "node"}},
        {"service", {"service"}},
        {"endpointslice", {"pod", "service", "endpointslice"}},
        {"endpoints", {"pod", "service", "endpoints"}},
        {"node", {"node"}},
        {"ingress", {"ingress"}}};
    std::set<std::string> seen;
    auto allowed = kAllowed.find(kc.role);
    for (const auto& sel : kc.selectors) {
      if (!seen.insert(sel.role).second) {
        w.error(selectors_node, ip + ".selectors", "duplicated selector role: " + sel.role);
        continue;
      }
      if (allowed == kAllowed.end()) continue;
      const auto& ok = allowed->second;
      if (std::find(ok.begin(), ok.end(), sel.role) == ok.end()) {
        std::string list;
        for (const auto& r : ok) list += (list.empty() ? "" : ", ") + r;
        w.error(selectors_node, ip + ".selectors",
                kc.role + " role supports only " + list + " selectors");
      }
    }
    if (cluster) {
      if (!cluster_selector.label.empty() || !cluster_selector.field.empty())
        kc.selectors.push_back(cluster_selector);
      if (kc.namespaces.empty()) {
        if (kc.api_server.empty() && kc.kubeconfig_file.empty()) {
          kc.own_namespace = true;  // in-cluster: the replicas' own namespace
        } else {
          w.error(item, ip,
                  "namespace is required with api_server or kubeconfig_file (the namespace of "
                  "the stoker pods)");
        }
      }
    }
  }
  return kc;
}

}  // namespace

void parse_kubernetes_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                                 std::vector<KubernetesSdConfig>* out) {
  w.each_item(n, path, [&](const YAML::Node& item, const std::string& ip) {
    out->push_back(parse_kubernetes_item(w, item, ip, false));
  });
}

KubernetesSdConfig parse_cluster_kubernetes(Walker& w, const YAML::Node& n,
                                            const std::string& path) {
  return parse_kubernetes_item(w, n, path, true);
}

}  // namespace stoker::cfg
