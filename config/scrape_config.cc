// scrape_configs: one job's targets (static, file, Kubernetes), HTTP options,
// profile endpoints, relabeling and limits; also the ScrapeConfig helpers.
#include <re2/re2.h>

#include "config/sections.h"
#include "model/selector.h"

namespace stoker {
namespace cfg {
namespace {

bool valid_profile_name(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

void parse_profile_block(Walker& w, const YAML::Node& n, const std::string& path,
                         ProfileTypeConfig& p, bool is_custom) {
  bool has_path = false;
  w.each(n, path, {"enabled", "path", "delta"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "enabled") {
             if (auto b = w.boolean(v, sub)) p.enabled = *b;
           } else if (k == "path") {
             if (auto s = w.str(v, sub)) {
               p.path = *s;
               has_path = true;
               if (p.path.empty() || p.path[0] != '/') w.error(v, sub, "path must start with '/'");
             }
           } else if (auto b = w.boolean(v, sub)) {
             p.delta = *b;
           }
         });
  if (is_custom && !has_path) {
    w.error(n, path, "custom profile type \"" + p.name + "\" needs a path");
  }
}

void parse_profiling_config(Walker& w, const YAML::Node& n, const std::string& path,
                            ScrapeConfig& sc) {
  std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& node,
                                                                        const std::string& p) {
    w.each(
        node, p, {},
        [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
          if (k == "path_prefix") {
            if (auto s = w.str(v, sub)) sc.path_prefix = *s;
            return;
          }
          if (k == "pprof_config") {  // Parca's nesting of the same blocks
            walk(v, sub);
            return;
          }
          if (!valid_profile_name(k)) {
            w.error(v, sub, "invalid profile type name \"" + k + "\" (use letters, digits, _)");
            return;
          }
          for (auto& pt : sc.profiles) {
            if (pt.name == k) {
              parse_profile_block(w, v, sub, pt, false);
              return;
            }
          }
          ProfileTypeConfig custom;
          custom.name = k;
          custom.enabled = true;
          parse_profile_block(w, v, sub, custom, true);
          sc.profiles.push_back(std::move(custom));
        },
        true);
  };
  walk(n, path);
}

}  // namespace

void parse_file_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                           std::vector<FileSdConfig>* out) {
  if (n.IsNull()) return;
  if (!n.IsSequence()) {
    w.error(n, path, "expected a list, got " + Walker::kind(n));
    return;
  }
  // Prometheus' patFileSDName: a `*` only in the file name, and a known extension.
  static const auto kPattern =
      compile_anchored(R"([^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML))").value();
  for (size_t i = 0; i < n.size(); ++i) {
    std::string ip = path + "[" + std::to_string(i) + "]";
    FileSdConfig fc;
    bool has_files = false;
    w.each(n[i], ip, {"files", "refresh_interval"},
           [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
             if (k == "refresh_interval") {
               if (auto d = w.duration(v, sub)) fc.refresh_interval = *d;
               if (fc.refresh_interval.count() <= 0)
                 w.error(v, sub, "refresh_interval must be positive");
               return;
             }
             has_files = true;
             auto files = w.str_list(v, sub);
             for (size_t f = 0; f < files.size(); ++f) {
               std::string name = files[f];
               std::string fp = sub + "[" + std::to_string(f) + "]";
               if (!RE2::FullMatch(name, *kPattern)) {
                 w.error(v[f], fp, "path name \"" + name + "\" is not valid for file discovery");
                 continue;
               }
               fc.files.push_back(w.resolve(name));
             }
           });
    if (!has_files || fc.files.empty()) {
      if (!has_files)
        w.error(n[i], ip, "file service discovery config must contain at least one path name");
      continue;
    }
    out->push_back(std::move(fc));
  }
}

void parse_scrape_config(Walker& w, const YAML::Node& n, const std::string& path,
                         const GlobalConfig& global, ScrapeConfig& sc) {
  sc.profiles = default_profile_types();
  if (n.IsNull()) {
    w.error(n, path, "empty or null scrape config section");
    return;
  }
  bool has_job = false, explicit_timeout = false, has_interval = false;
  std::optional<uint64_t> series_limit;
  YAML::Node timeout_node, delta_node;
  std::optional<Secret> bearer_token;
  std::string bearer_token_file;
  std::vector<std::pair<YAML::Node, std::string>> static_nodes;
  std::set<std::string> allowed = {
      "job_name",         "scrape_interval", "scrape_timeout",          "delta_profiling_duration",
      "scheme",           "params",          "body_size_limit",         "static_configs",
      "profiling_config", "relabel_configs", "profile_relabel_configs", "file_sd_configs",
      "target_limit",     "label_limit",     "label_name_length_limit", "label_value_length_limit"};
  allowed.insert("sample_label_series_limit");
  allowed.insert("kubernetes_sd_configs");
  allowed.insert("http_sd_configs");
  allowed.insert("dns_sd_configs");
  allowed.insert("clustering");
  allowed = with_http_client_keys(std::move(allowed));
  // Each service discovery config's identity across reloads.
  auto stamp = [&](auto& list, size_t before, const YAML::Node& v, const char* kind) {
    if (!v.IsSequence()) return;
    for (size_t j = before, i = 0; j < list.size() && i < v.size(); ++j, ++i) {
      list[j].fingerprint = std::string(kind) + "\x1f" + w.dir() + "\x1f" + YAML::Dump(v[i]);
    }
  };
  w.each(n, path, allowed, [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
    if (k == "job_name") {
      has_job = true;
      if (auto s = w.str(v, sub)) sc.job_name = *s;
    } else if (k == "scrape_interval") {
      if (auto d = w.duration(v, sub)) {
        sc.scrape_interval = *d;
        has_interval = d->count() != 0;
      }
    } else if (k == "scrape_timeout") {
      if (auto d = w.duration(v, sub)) {
        sc.scrape_timeout = *d;
        explicit_timeout = d->count() != 0;
        timeout_node = v;
      }
    } else if (k == "delta_profiling_duration") {
      if (auto d = w.duration(v, sub)) sc.delta_profiling_duration = *d;
      delta_node = v;
    } else if (k == "scheme") {
      if (auto s = w.str(v, sub)) {
        sc.scheme = *s;
        if (sc.scheme != "http" && sc.scheme != "https") {
          w.error(v, sub, "unknown scrape scheme \"" + sc.scheme + "\" (use http or https)");
        }
      }
    } else if (k == "params") {
      w.each(
          v, sub, {},
          [&](const std::string& pk, const YAML::Node& pv, const std::string& ps) {
            if (pk == "seconds") {
              w.error(pv, ps,
                      "\"seconds\" is set by stoker for delta profile types; use "
                      "delta_profiling_duration");
            }
            sc.params[pk] = w.str_list(pv, ps);
          },
          true);
    } else if (k == "body_size_limit") {
      if (auto s = w.size(v, sub)) sc.body_size_limit = *s;
    } else if (k == "enable_http2") {
      w.boolean(v, sub);  // accepted for compatibility; stoker speaks HTTP/1.1
    } else if (k == "static_configs") {
      static_nodes.emplace_back(v, sub);
    } else if (k == "profiling_config") {
      parse_profiling_config(w, v, sub, sc);
    } else if (k == "clustering") {
      w.each(v, sub, {"enabled"}, [&](const std::string&, const YAML::Node& cv, const std::string& cs) {
        if (auto b = w.boolean(cv, cs)) sc.clustering = *b;
      });
    } else if (kLimitKeys.count(k)) {
      w.limit(k, v, sub, sc.limits);
    } else if (k == "sample_label_series_limit") {
      series_limit = w.uint(v, sub);
    } else if (k == "file_sd_configs") {
      size_t before = sc.file_sd_configs.size();
      parse_file_sd_configs(w, v, sub, &sc.file_sd_configs);
      stamp(sc.file_sd_configs, before, v, "file");
    } else if (k == "kubernetes_sd_configs") {
      size_t before = sc.kubernetes_sd_configs.size();
      parse_kubernetes_sd_configs(w, v, sub, &sc.kubernetes_sd_configs);
      stamp(sc.kubernetes_sd_configs, before, v, "kubernetes");
    } else if (k == "dns_sd_configs") {
      size_t before = sc.dns_sd_configs.size();
      parse_dns_sd_configs(w, v, sub, &sc.dns_sd_configs);
      stamp(sc.dns_sd_configs, before, v, "dns");
    } else if (k == "http_sd_configs") {
      size_t before = sc.http_sd_configs.size();
      parse_http_sd_configs(w, v, sub, &sc.http_sd_configs);
      stamp(sc.http_sd_configs, before, v, "http");
    } else if (k == "relabel_configs") {
      if (auto r = parse_relabel_configs(w, v, sub, "target", &sc.relabel_configs)) sc.relabel = r;
    } else if (k == "profile_relabel_configs") {
      if (auto r = parse_relabel_configs(w, v, sub, "profile", &sc.profile_relabel_configs)) {
        sc.profile_relabel = r;
      }
    } else {
      parse_http_client(w, k, v, sub, sc.http, bearer_token, bearer_token_file);
    }
  });
  if (!has_job || sc.job_name.empty()) {
    w.error(n, path + ".job_name", "job_name is empty");
  }
  if (!has_interval) sc.scrape_interval = global.scrape_interval;
  // Unlike Prometheus' limits, 0 is a value here (no cap), so only an absent
  // key inherits.
  sc.sample_label_series_limit = series_limit.value_or(global.sample_label_series_limit);
  // Limits left at 0 are inherited from global, as in Prometheus.
  if (!sc.body_size_limit) sc.body_size_limit = global.body_size_limit;
  if (!sc.limits.target_limit) sc.limits.target_limit = global.limits.target_limit;
  if (!sc.limits.label_limit) sc.limits.label_limit = global.limits.label_limit;
  if (!sc.limits.label_name_length_limit)
    sc.limits.label_name_length_limit = global.limits.label_name_length_limit;
  if (!sc.limits.label_value_length_limit)
    sc.limits.label_value_length_limit = global.limits.label_value_length_limit;
  if (!explicit_timeout) {
    sc.scrape_timeout = std::min(global.scrape_timeout, sc.scrape_interval);
  } else if (sc.scrape_timeout > sc.scrape_interval) {
    w.error(timeout_node, path + ".scrape_timeout",
            "scrape timeout greater than scrape interval for scrape config with job name \"" +
                sc.job_name + "\"");
  }
  finish_http_auth(w, n, path, sc.http, bearer_token, bearer_token_file);
  // Delta profiling bounds (Alloy's Arguments.Validate).
  bool any_delta = false;
  for (const auto& p : sc.profiles) any_delta = any_delta || (p.enabled && p.delta);
  if (any_delta) {
    using std::chrono::seconds;
    if (sc.scrape_interval < seconds(2)) {
      w.error(n, path + ".scrape_interval",
              "scrape_interval must be at least 2 seconds when using delta profiling");
    } else if (sc.delta_profiling_duration) {
      auto d = *sc.delta_profiling_duration;
      if (d <= seconds(1) || d > sc.scrape_interval - seconds(1)) {
        w.error(delta_node, path + ".delta_profiling_duration",
                "delta_profiling_duration must be more than 1s and at most scrape_interval - 1s (" +
                    format_duration(sc.scrape_interval - seconds(1)) + ")");
      } else if (d.count() % 1000 != 0) {
        w.error(delta_node, path + ".delta_profiling_duration",
                "delta_profiling_duration must be a whole number of seconds");
      }
    }
  }
  for (const auto& [sn, spath] : static_nodes) {
    if (sn.IsNull()) continue;
    if (!sn.IsSequence()) {
      w.error(sn, spath, "expected a list, got " + Walker::kind(sn));
      continue;
    }
    for (size_t i = 0; i < sn.size(); ++i) {
      std::string ip = spath + "[" + std::to_string(i) + "]";
      if (sn[i].IsNull()) {
        w.error(sn[i], ip, "empty or null section in static_configs");
        continue;
      }
      StaticConfig st;
      w.each(sn[i], ip, {"targets", "labels"},
             [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
               if (k == "targets") {
                 st.targets = w.str_list(v, sub);
                 for (size_t t = 0; t < st.targets.size(); ++t) {
                   const auto& addr = st.targets[t];
                   std::string tp = sub + "[" + std::to_string(t) + "]";
                   if (addr.empty()) {
                     w.error(v[t], tp, "target address is empty");
                   } else if (addr.find('/') != std::string::npos && sc.relabel_configs.empty()) {
                     // Prometheus checks static addresses at load only without
                     // relabeling, which may still rewrite them.
                     w.error(
                         v[t], tp,
                         "\"" + addr +
                             "\" is not a valid hostname (give host:port, without scheme or path)");
                   }
                 }
               } else {
                 st.labels = w.labels(v, sub);
               }
             });
      sc.static_configs.push_back(std::move(st));
    }
  }
}

}  // namespace cfg

Status ScrapeLimits::check_labels(const Labels& labels) const {
  if (label_limit && labels.size() > label_limit) {
    return Status::invalid(
        "label_limit exceeded (number of labels: " + std::to_string(labels.size()) +
        ", limit: " + std::to_string(label_limit) + ")");
  }
  for (const auto& l : labels) {
    if (label_name_length_limit && l.name.size() > label_name_length_limit) {
      return Status::invalid("label_name_length_limit exceeded (label name: " +
                             l.name.substr(0, 50) + ", length: " + std::to_string(l.name.size()) +
                             ", limit: " + std::to_string(label_name_length_limit) + ")");
    }
    if (label_value_length_limit && l.value.size() > label_value_length_limit) {
      return Status::invalid("label_value_length_limit exceeded (label name: " +
                             l.name.substr(0, 50) + ", value: " + quote(l.value.substr(0, 50)) +
                             ", length: " + std::to_string(l.value.size()) +
                             ", limit: " + std::to_string(label_value_length_limit) + ")");
    }
  }
  return Status();
}

std::string ProfileTypeConfig::series_name() const {
  if (name.rfind("godeltaprof_", 0) == 0) return name.substr(12);
  return name;
}

bool ProfileTypeConfig::is_godeltaprof() const {
  return name.rfind("godeltaprof_", 0) == 0;
}

int64_t ScrapeConfig::delta_seconds(Duration interval) const {
  if (delta_profiling_duration) return delta_profiling_duration->count() / 1000;
  return interval.count() / 1000 - 1;
}

std::vector<ProfileTypeConfig> default_profile_types() {
  return {
      {"process_cpu", true, "/debug/pprof/profile", true},
      {"memory", true, "/debug/pprof/allocs", false},
      {"block", true, "/debug/pprof/block", false},
      {"mutex", true, "/debug/pprof/mutex", false},
      {"goroutine", true, "/debug/pprof/goroutine", false},
      {"fgprof", false, "/debug/fgprof", true},
      {"godeltaprof_memory", false, "/debug/pprof/delta_heap", false},
      {"godeltaprof_mutex", false, "/debug/pprof/delta_mutex", false},
      {"godeltaprof_block", false, "/debug/pprof/delta_block", false},
  };
}

}  // namespace stoker
