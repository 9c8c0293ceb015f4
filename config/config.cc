#include "config/config.h"

#include <glob.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "config/sections.h"

namespace stoker {
namespace {

using namespace cfg;

// Keys whose values are secrets, replaced in the config shown by the API.
const std::set<std::string> kSecretKeys = {"password", "credentials", "bearer_token",
                                           "client_secret"};

// Every scalar under `n` replaced by "<secret>" (http_headers secrets, proxy_connect_header).
YAML::Node redact_all(const YAML::Node& n) {
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : n) out[kv.first] = redact_all(kv.second);
    return out;
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& x : n) out.push_back(redact_all(x));
    return out;
  }
  return n.IsNull() ? YAML::Node() : YAML::Node(Secret::to_display());
}

// A URL's password (proxy_url: http://user:password@host) replaced by "<secret>".
std::string redact_url_password(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos) return url;
  start += 3;
  auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? end : end - start);
  auto at = authority.rfind('@');
  if (at == std::string::npos) return url;
  auto colon = authority.find(':');
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, start) + authority.substr(0, colon + 1) + Secret::to_display() +
         authority.substr(at) + (end == std::string::npos ? "" : url.substr(end));
}

YAML::Node redact(const YAML::Node& n) {
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : n) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (kSecretKeys.count(key) && !kv.second.IsNull()) {
        out[kv.first] = Secret::to_display();
      } else if (key == "secrets" || key == "proxy_connect_header") {
        out[kv.first] = redact_all(kv.second);
      } else if (key == "proxy_url" && kv.second.IsScalar()) {
        out[kv.first] = redact_url_password(kv.second.Scalar());
      } else {
        out[kv.first] = redact(kv.second);
      }
    }
    return out;
  }
  if (n.IsSequence()) {
    YAML::Node out(YAML::NodeType::Sequence);
    for (const auto& x : n) out.push_back(redact(x));
    return out;
  }
  return YAML::Clone(n);
}

std::string expand_env(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    if (s[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    size_t start = i + 1, end;
    std::string name;
    if (s[start] == '{') {
      end = s.find('}', start);
      if (end == std::string::npos) {
        out += s.substr(i);
        break;
      }
      name = s.substr(start + 1, end - start - 1);
      i = end;
    } else {
      end = start;
      while (end < s.size() && (std::isalnum(static_cast<unsigned char>(s[end])) || s[end] == '_'))
        ++end;
      name = s.substr(start, end - start);
      i = end - 1;
    }
    if (const char* v = std::getenv(name.c_str())) out += v;
  }
  return out;
}

// Parses the `scrape_configs` list `n` of `file` (whose directory is `dir`)
// into cfg->scrape_configs. `seen_jobs` maps each job name to the file that
// had it first; a job of an included file that is already there names it.
void add_scrape_configs(Walker& w, const YAML::Node& n, const std::string& path,
                        const std::string& dir, const YAML::Node& root, const std::string& file,
                        bool included, Config* cfg, std::map<std::string, std::string>* seen_jobs) {
  if (!n || n.IsNull()) return;
  if (!n.IsSequence()) {
    w.error(n, path, "expected a list, got " + Walker::kind(n));
    return;
  }
  const std::string global_dump = YAML::Dump(root.IsMap() ? root["global"] : YAML::Node());
  for (size_t i = 0; i < n.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    ScrapeConfig sc;
    parse_scrape_config(w, n[i], p, cfg->global, sc);
    // What a reload compares to decide whether a job's loops need new settings.
    sc.fingerprint = dir + "\x1f" + YAML::Dump(n[i]) + "\x1f" + global_dump;
    if (!sc.job_name.empty()) {
      auto [it, fresh] = seen_jobs->emplace(sc.job_name, quote(file));
      if (!fresh) {
        w.error(n[i], p + ".job_name",
                "found multiple scrape configs with job name \"" + sc.job_name + "\"" +
                    (included ? ", first found in " + it->second : ""));
      }
    }
    cfg->scrape_configs.push_back(std::move(sc));
  }
}

// The regular files matching `pattern` (absolute), sorted; none is not an error.
std::vector<std::string> expand_config_glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::error_code ec;
      if (std::filesystem::is_regular_file(g.gl_pathv[i], ec)) out.emplace_back(g.gl_pathv[i]);
    }
  }
  globfree(&g);
  return out;
}

// scrape_config_files: globs (a `*` only in the last path element, as
// Prometheus allows) of files holding `scrape_configs:` only, relative to the
// main file. Each file is a Walker of its own, so that errors name it and
// relative paths inside it resolve against its directory.
void load_scrape_config_files(Walker& w, const YAML::Node& n, const std::string& path,
                              const YAML::Node& root, Config* cfg,
                              std::map<std::string, std::string>* seen_jobs,
                              std::vector<std::string>* errors) {
  if (!n || n.IsNull()) return;
  std::vector<std::string> patterns = w.str_list(n, path);
  std::vector<std::string> files;
  for (size_t i = 0; i < patterns.size(); ++i) {
    const std::string& pat = patterns[i];
    auto star = pat.find('*');
    if (pat.empty() || (star != std::string::npos && pat.find('/', star) != std::string::npos)) {
      w.error(n[i], path + "[" + std::to_string(i) + "]",
              "invalid scrape config file path \"" + pat + "\"");
      continue;
    }
    for (const auto& f : expand_config_glob(w.resolve(pat))) files.push_back(f);
  }
  for (const auto& file : files) {
    auto text = read_config_file(file, "scrape config file", errors);
    if (!text) continue;
    std::string file_dir = std::filesystem::path(file).parent_path().string();
    Walker fw(file, file_dir, errors);
    YAML::Node froot;
    if (!fw.load(*text, &froot)) continue;
    YAML::Node list;
    std::string list_path;
    fw.each(froot, "", {"scrape_configs"},
            [&](const std::string&, const YAML::Node& v, const std::string& sub) {
              list = v;
              list_path = sub;
            });
    add_scrape_configs(fw, list, list_path, file_dir, root, file, /*included=*/true, cfg,
                       seen_jobs);
    cfg->scrape_config_files.push_back(file);
    YAML::Emitter em;
    em << redact(froot);
    cfg->redacted_yaml += "\n---\n# from scrape_config_files: " + file + "\n" + em.c_str();
  }
}

}  // namespace

// The cluster section (ClusterConfig).
void parse_cluster(Walker& w, const YAML::Node& n, const std::string& path, ClusterConfig* out) {
  ClusterConfig& c = *out;
  if (n.IsNull()) return;
  c.enabled = true;
  c.fingerprint = w.dir() + "\x1f" + YAML::Dump(n);
  YAML::Node peers_node;
  bool has_peers = false;
  w.each(n, path, {"name", "kubernetes", "static_peers"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "name") {
             if (auto s = w.str(v, sub)) c.name = *s;
           } else if (k == "kubernetes") {
             c.kubernetes = parse_cluster_kubernetes(w, v, sub);
           } else {
             peers_node = v;
             has_peers = true;
             c.static_peers = w.str_list(v, sub);
             std::set<std::string> seen;
             for (const auto& p : c.static_peers) {
               if (p.empty()) w.error(v, sub, "a peer name must not be empty");
               if (!seen.insert(p).second) w.error(v, sub, "peer \"" + p + "\" is listed twice");
             }
           }
         });
  if (c.name.empty()) {
    if (const char* pod = std::getenv("POD_NAME"); pod && *pod) {
      c.name = pod;
    } else {
      char host[256] = {};
      if (gethostname(host, sizeof host - 1) == 0) c.name = host;
    }
  }
  if (c.kubernetes && has_peers) {
    w.error(n, path, "use either kubernetes or static_peers to find the peers, not both");
  } else if (!c.kubernetes && !has_peers) {
    w.error(n, path,
            "the cluster section needs kubernetes (the replicas' pods) or static_peers (their "
            "names)");
  } else if (has_peers && c.static_peers.empty()) {
    w.error(peers_node, path + ".static_peers", "static_peers must list at least this replica");
  } else if (has_peers && std::find(c.static_peers.begin(), c.static_peers.end(), c.name) ==
                               c.static_peers.end()) {
    w.error(peers_node, path + ".static_peers",
            "this replica's name \"" + c.name +
                "\" (cluster.name, else $POD_NAME, else the host name) is not in static_peers");
  }
}

ConfigResult load_config_string(const std::string& yaml, const std::string& name,
                                const std::string& dir) {
  ConfigResult result;
  Walker w(name, dir, &result.errors);
  YAML::Node root;
  if (!w.load(yaml, &root)) return result;
  Config cfg;
  cfg.source = name;
  YAML::Node scrape_node;
  std::string scrape_path;
  YAML::Node remote_node;
  std::string remote_path;
  YAML::Node receive_node;
  std::string receive_path;
  YAML::Node files_node;
  std::string files_path;
  w.each(root, "",
         {"global", "storage", "web", "query", "receive", "source", "scrape_configs",
          "scrape_config_files", "remote_write", "cluster"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "global") {
             bool explicit_timeout = false;
             YAML::Node timeout_node;
             w.each(v, sub,
                    {"scrape_interval", "scrape_timeout", "external_labels", "target_limit",
                     "label_limit", "label_name_length_limit", "label_value_length_limit",
                     "body_size_limit", "sample_label_series_limit"},
                    [&](const std::string& gk, const YAML::Node& gv, const std::string& gs) {
                      if (gk == "body_size_limit") {
                        if (auto sz = w.size(gv, gs)) cfg.global.body_size_limit = *sz;
                      } else if (gk == "sample_label_series_limit") {
                        if (auto n = w.uint(gv, gs)) cfg.global.sample_label_series_limit = *n;
                      } else if (kLimitKeys.count(gk)) {
                        w.limit(gk, gv, gs, cfg.global.limits);
                      } else if (gk == "scrape_interval") {
                        if (auto d = w.duration(gv, gs)) {
                          cfg.global.scrape_interval = d->count() ? *d : std::chrono::seconds(15);
                        }
                      } else if (gk == "scrape_timeout") {
                        if (auto d = w.duration(gv, gs); d && d->count()) {
                          cfg.global.scrape_timeout = *d;
                          explicit_timeout = true;
                          timeout_node = gv;
                        }
                      } else {
                        Labels raw = w.labels(gv, gs);
                        for (const auto& l : raw)
                          cfg.global.external_labels.set(l.name, expand_env(l.value));
                      }
                    });
             if (explicit_timeout && cfg.global.scrape_timeout > cfg.global.scrape_interval) {
               w.error(timeout_node, sub + ".scrape_timeout",
                       "global scrape timeout greater than scrape interval");
             } else if (!explicit_timeout) {
               cfg.global.scrape_timeout =
                   std::min<Duration>(std::chrono::seconds(10), cfg.global.scrape_interval);
             }
           } else if (k == "storage") {
             w.each(v, sub, {"path", "retention", "max_size"},
                    [&](const std::string& sk, const YAML::Node& sv, const std::string& ss) {
                      if (sk == "path") {
                        if (auto s = w.str(sv, ss)) {
                          // Relative to the working directory, like Prometheus'
                          // --storage.tsdb.path; only file references follow the config.
                          if (s->empty()) w.error(sv, ss, "storage path must not be empty");
                          cfg.storage.path = *s;
                        }
                      } else if (sk == "retention") {
                        if (auto d = w.duration(sv, ss)) cfg.storage.retention = *d;
                      } else if (auto sz = w.size(sv, ss)) {
                        cfg.storage.max_size = *sz;
                        if (*sz != 0 && *sz < (1ULL << 20))
                          w.error(sv, ss, "max_size must be at least 1MiB (or 0 for no bound)");
                      }
                    });
           } else if (k == "web") {
             w.each(v, sub, {"listen_address"},
                    [&](const std::string&, const YAML::Node& wv, const std::string& ws) {
                      if (auto s = w.str(wv, ws)) {
                        cfg.web.listen_address = *s;
                        if (s->rfind(':') == std::string::npos) {
                          w.error(wv, ws,
                                  "listen_address must be host:port, for example 127.0.0.1:4040");
                        }
                      }
                    });
           } else if (k == "query") {
             w.each(v, sub, {"max_range", "max_profiles", "max_nodes", "timeout"},
                    [&](const std::string& qk, const YAML::Node& qv, const std::string& qs) {
                      if (qk == "max_range" || qk == "timeout") {
                        auto d = w.duration(qv, qs);
                        if (d && d->count() <= 0) {
                          w.error(qv, qs, qk + " must be greater than 0");
                        } else if (d) {
                          (qk == "timeout" ? cfg.query.timeout : cfg.query.max_range) = *d;
                        }
                      } else if (auto u = w.uint(qv, qs)) {
                        if (*u == 0) {
                          w.error(qv, qs, qk + " must be at least 1");
                        } else {
                          (qk == "max_nodes" ? cfg.query.max_nodes : cfg.query.max_profiles) = *u;
                        }
                      }
                    });
           } else if (k == "remote_write") {
             remote_node = v;
             remote_path = sub;
           } else if (k == "source") {
             w.each(v, sub, {"enabled", "paths", "roots"},
                    [&](const std::string& sk, const YAML::Node& sv, const std::string& ss) {
                      if (sk == "enabled") {
                        if (auto b = w.boolean(sv, ss)) cfg.source_view.enabled = *b;
                      } else if (sk == "roots") {
                        cfg.source_view.roots = w.str_list(sv, ss);
                      } else {
                        w.each_item(sv, ss, [&](const YAML::Node& item, const std::string& ip) {
                          SourceConfig::Rewrite r;
                          w.each(item, ip, {"from", "to"},
                                 [&](const std::string& rk, const YAML::Node& rv,
                                     const std::string& rs) {
                                   if (auto t = w.str(rv, rs)) (rk == "from" ? r.from : r.to) = *t;
                                 });
                          if (r.to.empty()) w.error(item, ip, "a source path needs `to`");
                          cfg.source_view.paths.push_back(std::move(r));
                        });
                      }
                    });
           } else if (k == "cluster") {
             parse_cluster(w, v, sub, &cfg.cluster);
           } else if (k == "receive") {
             receive_node = v;
             receive_path = sub;
           } else if (k == "scrape_config_files") {
             files_node = v;
             files_path = sub;
           } else {
             scrape_node = v;
             scrape_path = sub;
           }
         });
  if (remote_node && !remote_node.IsNull()) {
    if (!remote_node.IsSequence()) {
      w.error(remote_node, remote_path, "expected a list, got " + Walker::kind(remote_node));
    } else {
      std::map<std::string, size_t> seen;
      for (size_t i = 0; i < remote_node.size(); ++i) {
        std::string p = remote_path + "[" + std::to_string(i) + "]";
        RemoteWriteConfig rw;
        parse_remote_write(w, remote_node[i], p, rw);
        rw.fingerprint =
            dir + "\x1f" + YAML::Dump(remote_node[i]) + "\x1f" +
            YAML::Dump(root.IsMap() && root["global"].IsMap() ? root["global"]["external_labels"]
                                                              : YAML::Node());
        if (!rw.url.empty() && !seen.emplace(rw.key(), i).second) {
          w.error(remote_node[i], p,
                  "remote_write endpoint \"" + rw.key() +
                      "\" is configured twice; give each endpoint a distinct name");
        }
        cfg.remote_write.push_back(std::move(rw));
      }
    }
  }
  parse_receive(w, receive_node ? receive_node : YAML::Node(YAML::NodeType::Null), receive_path,
                cfg.global, cfg.receive);
  // Job name → the file that defined it first (quoted), across scrape_config_files.
  std::map<std::string, std::string> seen_jobs;
  // Scrape configs need the final global section, wherever it appears in the file.
  add_scrape_configs(w, scrape_node, scrape_path, dir, root, name, /*included=*/false, &cfg,
                     &seen_jobs);
  load_scrape_config_files(w, files_node, files_path, root, &cfg, &seen_jobs, &result.errors);
  if (result.errors.empty()) {
    YAML::Emitter em;
    em << redact(root);
    cfg.redacted_yaml = em.c_str() + cfg.redacted_yaml;  // then the included files
    result.config = std::move(cfg);
  }
  return result;
}

ConfigResult load_config_file(const std::string& path, bool expand_env_vars) {
  ConfigResult result;
  auto text = read_config_file(path, "config file", &result.errors);
  if (!text) return result;
  std::string dir = std::filesystem::absolute(path).parent_path().string();
  return load_config_string(expand_env_vars ? expand_env(*text) : *text, path, dir);
}

bool is_loopback_listen_address(const std::string& listen) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Config default_config() {
  Config cfg;
  cfg.source = "<embedded default>";
  ScrapeConfig sc;
  sc.job_name = "local";
  sc.scrape_interval = cfg.global.scrape_interval;
  sc.scrape_timeout = cfg.global.scrape_timeout;
  sc.profiles = default_profile_types();
  sc.static_configs.push_back(StaticConfig{{"localhost:6060"}, {}});
  cfg.scrape_configs.push_back(std::move(sc));
  return cfg;
}

}  // namespace stoker
