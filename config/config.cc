#include "config/config.h"

#include <re2/re2.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "model/selector.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;

// Keys that belong to capabilities stoker does not have yet. They are rejected
// explicitly so a config never silently loses targets or forwarding.
const std::set<std::string> kNotYetSupported = {"metric_relabel_configs", "scrape_config_files",
                                                "clustering"};

// Keys of a prometheus.yml that a profile collector has no use for.
const std::set<std::string> kPrometheusOnly = {"evaluation_interval",
                                               "rule_files",
                                               "alerting",
                                               "remote_read",
                                               "rule_query_offset",
                                               "query_log_file",
                                               "scrape_failure_log_file",
                                               "metrics_path",
                                               "honor_labels",
                                               "honor_timestamps",
                                               "sample_limit",
                                               "scrape_protocols",
                                               "enable_compression",
                                               "tracing",
                                               "otlp",
                                               "runtime"};

const std::set<std::string> kLimitKeys = {"target_limit", "label_limit", "label_name_length_limit",
                                          "label_value_length_limit"};
// HTTP client features stoker does not implement.
const std::set<std::string> kUnsupported = {
    "oauth2",      "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "http_headers"};

// Tracks the file, key path and collected errors while walking the YAML tree.
class Walker {
 public:
  Walker(std::string file, std::string dir, std::vector<std::string>* errors)
      : file_(std::move(file)), dir_(std::move(dir)), errors_(errors) {}

  void error(const YAML::Mark& mark, const std::string& path, const std::string& msg) {
    std::ostringstream out;
    out << file_;
    if (!mark.is_null()) out << ':' << mark.line + 1 << ':' << mark.column + 1;
    out << ": ";
    if (!path.empty()) out << path << ": ";
    out << msg;
    errors_->push_back(out.str());
  }
  void error(const YAML::Node& n, const std::string& path, const std::string& msg) {
    error(n.Mark(), path, msg);
  }

  // Calls fn(key, value, key_path) for each entry of mapping `n`, rejecting
  // non-mappings, duplicate keys and keys outside `allowed` (when non-empty).
  void each(
      const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed,
      const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn,
      bool allow_any = false) {
    if (n.IsNull()) return;
    if (!n.IsMap()) {
      error(n, path, "expected a mapping, got " + kind(n));
      return;
    }
    std::set<std::string> seen;
    for (const auto& kv : n) {
      const YAML::Node& k = kv.first;
      if (!k.IsScalar()) {
        error(k, path, "keys must be strings");
        continue;
      }
      std::string key = k.Scalar();
      std::string sub = path.empty() ? key : path + "." + key;
      if (!seen.insert(key).second) {
        error(k, sub, "key \"" + key + "\" is already set in this mapping");
        continue;
      }
      if (!allow_any && !allowed.count(key)) {
        if (kNotYetSupported.count(key)) {
          error(k, sub, "\"" + key + "\" is not supported yet by this version of stoker");
        } else if (kPrometheusOnly.count(key)) {
          error(
              k, sub,
              "\"" + key +
                  "\" is a Prometheus setting with no meaning for a profile collector; remove it");
        } else if (kUnsupported.count(key)) {
          error(k, sub, "\"" + key + "\" is not supported by stoker");
        } else {
          error(k, sub, "unknown key \"" + key + "\"");
        }
        continue;
      }
      fn(key, kv.second, sub);
    }
  }

  static std::string kind(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Null:
        return "null";
      case YAML::NodeType::Scalar:
        return "scalar \"" + n.Scalar() + "\"";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Map:
        return "a mapping";
      default:
        return "nothing";
    }
  }

  std::optional<std::string> str(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      error(n, path, "expected a string, got " + kind(n));
      return std::nullopt;
    }
    if (n.Tag() == "tag:yaml.org,2002:binary") {  // as Go's yaml accepts for strings
      auto decoded = base64_decode(n.Scalar());
      if (!decoded) error(n, path, "!!binary value contains invalid base64 data");
      return decoded;
    }
    return n.Scalar();
  }

  static std::optional<std::string> base64_decode(const std::string& in) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    for (char c : in) {
      int v;
      if (c >= 'A' && c <= 'Z')
        v = c - 'A';
      else if (c >= 'a' && c <= 'z')
        v = c - 'a' + 26;
      else if (c >= '0' && c <= '9')
        v = c - '0' + 52;
      else if (c == '+')
        v = 62;
      else if (c == '/')
        v = 63;
      else if (c == '=') {
        ++pad;
        continue;
      } else if (c == '\n' || c == ' ')
        continue;
      else
        return std::nullopt;
      if (pad) return std::nullopt;  // data after padding
      acc = (acc << 6) | static_cast<uint32_t>(v);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push_back(static_cast<char>((acc >> bits) & 0xff));
      }
    }
    return out;
  }
  std::optional<bool> boolean(const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
    }
    error(n, path, "expected true or false, got " + kind(n));
    return std::nullopt;
  }
  std::optional<Duration> duration(const YAML::Node& n, const std::string& path) {
    auto s = str(n, path);
    if (!s) return std::nullopt;
    std::string err;
    auto d = parse_duration(*s, &err);
    if (!d) error(n, path, err);
    return d;
  }
  std::optional<uint64_t> uint(const YAML::Node& n, const std::string& path) {
    auto s = str(n, path);
    if (!s) return std::nullopt;
    if (s->empty() || s->size() > 18 || s->find_first_not_of("0123456789") != std::string::npos) {
      error(n, path, "expected a non-negative integer, got \"" + *s + "\"");
      return std::nullopt;
    }
    return std::stoull(*s);
  }
  // Sets the limit named `key` in `limits`.
  void limit(const std::string& key, const YAML::Node& n, const std::string& path,
             ScrapeLimits& limits) {
    auto v = uint(n, path);
    if (!v) return;
    if (key == "target_limit") limits.target_limit = *v;
    if (key == "label_limit") limits.label_limit = *v;
    if (key == "label_name_length_limit") limits.label_name_length_limit = *v;
    if (key == "label_value_length_limit") limits.label_value_length_limit = *v;
  }

  std::optional<uint64_t> size(const YAML::Node& n, const std::string& path) {
    auto s = str(n, path);
    if (!s) return std::nullopt;
    std::string err;
    auto v = parse_size(*s, &err);
    if (!v) error(n, path, err);
    return v;
  }
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& path) {
    std::vector<std::string> out;
    if (n.IsNull()) return out;
    if (!n.IsSequence()) {
      error(n, path, "expected a list, got " + kind(n));
      return out;
    }
    for (size_t i = 0; i < n.size(); ++i) {
      if (auto s = str(n[i], path + "[" + std::to_string(i) + "]")) out.push_back(*s);
    }
    return out;
  }
  // A mapping of label names to values; names and values must be valid UTF-8.
  Labels labels(const YAML::Node& n, const std::string& path) {
    Labels out;
    if (n.IsNull()) return out;
    if (!n.IsMap()) {
      error(n, path, "expected a mapping, got " + kind(n));
      return out;
    }
    for (const auto& kv : n) {
      auto name = str(kv.first, path);
      if (!name) continue;
      std::string sub = path + "." + (valid_utf8(*name) ? *name : quote(*name));
      if (name->empty() || !valid_utf8(*name)) {
        error(kv.first, sub, quote(*name) + " is not a valid label name");
        continue;
      }
      auto value = str(kv.second, sub);
      if (value && !valid_utf8(*value)) {
        error(kv.second, sub, quote(*value) + " is not a valid label value");
        continue;
      }
      if (value) out.set(*name, *value);
    }
    return out;
  }

  // Resolves `p` against the config file's directory.
  std::string resolve(const std::string& p) const {
    std::filesystem::path fp(p);
    if (fp.is_relative() && !dir_.empty()) fp = std::filesystem::path(dir_) / fp;
    return fp.lexically_normal().string();
  }

  // Resolves `p` against the config file's directory and checks it can be read.
  std::string readable_file(const YAML::Node& n, const std::string& path) {
    auto s = str(n, path);
    if (!s || s->empty()) return {};
    fs::path p(*s);
    if (p.is_relative() && !dir_.empty()) p = fs::path(dir_) / p;
    std::string abs = p.lexically_normal().string();
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      error(n, path, "\"" + abs + "\" is a directory, expected a file");
    } else if (::access(abs.c_str(), R_OK) != 0) {
      error(n, path, "cannot read file \"" + abs + "\": " + std::strerror(errno));
    }
    return abs;
  }

  const std::string& file() const { return file_; }
  size_t error_count() const { return errors_->size(); }

 private:
  std::string file_;
  std::string dir_;
  std::vector<std::string>* errors_;
};

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

void parse_http_client(Walker& w, const std::string& key, const YAML::Node& v,
                       const std::string& sub, HttpClientConfig& http,
                       std::optional<Secret>& bearer_token, std::string& bearer_token_file) {
  if (key == "basic_auth") {
    BasicAuth ba;
    bool has_password = false;
    w.each(v, sub, {"username", "password", "password_file"},
           [&](const std::string& k, const YAML::Node& x, const std::string& s) {
             if (k == "username") {
               if (auto str = w.str(x, s)) ba.username = *str;
             } else if (k == "password") {
               if (auto str = w.str(x, s)) ba.password.value = *str;
               has_password = true;
             } else {
               ba.password_file = w.readable_file(x, s);
             }
           });
    if (has_password && !ba.password_file.empty()) {
      w.error(v, sub, "at most one of basic_auth password & password_file must be configured");
    }
    http.basic_auth = std::move(ba);
  } else if (key == "authorization") {
    Authorization a;
    w.each(v, sub, {"type", "credentials", "credentials_file"},
           [&](const std::string& k, const YAML::Node& x, const std::string& s) {
             if (k == "type") {
               if (auto str = w.str(x, s)) {
                 std::string t = *str;
                 while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back())))
                   t.pop_back();
                 while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front())))
                   t.erase(0, 1);
                 a.type = t.empty() ? "Bearer" : t;
                 std::string lower;
                 for (char c : a.type)
                   lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                 if (lower == "basic") {
                   w.error(
                       x, s,
                       "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
                 }
               }
             } else if (k == "credentials") {
               if (auto str = w.str(x, s)) a.credentials.value = *str;
             } else {
               a.credentials_file = w.readable_file(x, s);
             }
           });
    if (!a.credentials.empty() && !a.credentials_file.empty()) {
      w.error(v, sub,
              "at most one of authorization credentials & credentials_file must be configured");
    }
    http.authorization = std::move(a);
  } else if (key == "bearer_token") {
    if (auto s = w.str(v, sub)) bearer_token = Secret{*s};
  } else if (key == "bearer_token_file") {
    bearer_token_file = w.readable_file(v, sub);
  } else if (key == "tls_config") {
    w.each(v, sub, {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"},
           [&](const std::string& k, const YAML::Node& x, const std::string& s) {
             if (k == "ca_file") http.tls.ca_file = w.readable_file(x, s);
             if (k == "cert_file") http.tls.cert_file = w.readable_file(x, s);
             if (k == "key_file") http.tls.key_file = w.readable_file(x, s);
             if (k == "server_name") {
               if (auto str = w.str(x, s)) http.tls.server_name = *str;
             }
             if (k == "insecure_skip_verify") {
               if (auto b = w.boolean(x, s)) http.tls.insecure_skip_verify = *b;
             }
           });
    if (!http.tls.cert_file.empty() && http.tls.key_file.empty()) {
      w.error(v, sub,
              "exactly one of key or key_file must be configured when a client certificate is "
              "configured");
    }
    if (http.tls.cert_file.empty() && !http.tls.key_file.empty()) {
      w.error(
          v, sub,
          "exactly one of cert or cert_file must be configured when a client key is configured");
    }
  } else if (key == "follow_redirects") {
    if (auto b = w.boolean(v, sub)) http.follow_redirects = *b;
  }
}

// Authentication: at most one method, as Prometheus' HTTPClientConfig.Validate;
// bearer_token(_file) becomes an Authorization of type Bearer.
void finish_http_auth(Walker& w, const YAML::Node& n, const std::string& path,
                      HttpClientConfig& http, const std::optional<Secret>& bearer_token,
                      const std::string& bearer_token_file) {
  if (bearer_token && !bearer_token_file.empty()) {
    w.error(n, path, "at most one of bearer_token & bearer_token_file must be configured");
  } else if (http.authorization && (bearer_token || !bearer_token_file.empty())) {
    w.error(n, path, "authorization is not compatible with bearer_token & bearer_token_file");
  } else if (http.basic_auth && (bearer_token || !bearer_token_file.empty())) {
    w.error(
        n, path,
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
  } else if (http.basic_auth && http.authorization) {
    w.error(n, path, "at most one of basic_auth, oauth2 & authorization must be configured");
  } else if (bearer_token || !bearer_token_file.empty()) {
    Authorization a;
    if (bearer_token) a.credentials = *bearer_token;
    a.credentials_file = bearer_token_file;
    http.authorization = std::move(a);
  }
}

// Headers a remote_write endpoint may not set: the push protocol and the HTTP
// client own them (Prometheus' list, plus Connect's).
const std::set<std::string> kReservedHeaders = {
    "host", "content-encoding", "content-length", "content-type", "user-agent", "connection",
    "keep-alive", "proxy-authenticate", "proxy-authorization", "www-authenticate",
    "accept-encoding", "connect-protocol-version", "connect-timeout-ms", "transfer-encoding"};

void parse_remote_write(Walker& w, const YAML::Node& n, const std::string& path,
                        RemoteWriteConfig& rw) {
  if (!n.IsMap()) {
    w.error(n, path, "expected a mapping, got " + Walker::kind(n));
    return;
  }
  std::optional<Secret> bearer_token;
  std::string bearer_token_file;
  bool has_url = false;
  w.each(n, path,
         {"url", "name", "remote_timeout", "headers", "basic_auth", "authorization",
          "bearer_token", "bearer_token_file", "tls_config", "follow_redirects", "min_backoff",
          "max_backoff", "max_retries", "retry_on_http_429"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "url") {
             if (auto s = w.str(v, sub)) {
               has_url = true;
               rw.url = *s;
               while (!rw.url.empty() && rw.url.back() == '/') rw.url.pop_back();
               auto scheme_end = rw.url.find("://");
               std::string scheme =
                   scheme_end == std::string::npos ? "" : rw.url.substr(0, scheme_end);
               auto authority_end = rw.url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
               if (scheme_end != std::string::npos &&
                   rw.url.substr(0, authority_end).find('@') != std::string::npos) {
                 w.error(v, sub,
                         "url must not contain credentials; use basic_auth, authorization or "
                         "bearer_token_file");
               } else if ((scheme != "http" && scheme != "https") ||
                   rw.url.size() <= scheme_end + 3 || rw.url.find('?') != std::string::npos ||
                   rw.url.find('#') != std::string::npos) {
                 w.error(v, sub,
                         "url must be an http:// or https:// base URL without query, for "
                         "example http://pyroscope:4040, got \"" + *s + "\"");
               }
             }
           } else if (k == "name") {
             if (auto s = w.str(v, sub)) rw.name = *s;
           } else if (k == "remote_timeout") {
             if (auto d = w.duration(v, sub)) {
               if (d->count() <= 0) {
                 w.error(v, sub, "remote_timeout must be greater than 0");
               } else {
                 rw.remote_timeout = *d;
               }
             }
           } else if (k == "headers") {
             Labels h = w.labels(v, sub);
             for (const auto& l : h) {
               std::string lower;
               for (char c : l.name)
                 lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
               if (lower == "authorization") {
                 w.error(v, sub + "." + l.name,
                         "authorization header must be changed via the basic_auth, "
                         "authorization or bearer_token parameter");
               } else if (kReservedHeaders.count(lower)) {
                 w.error(v, sub + "." + l.name,
                         l.name + " is a reserved header. It must not be changed");
               }
               rw.headers.emplace_back(l.name, l.value);
             }
           } else if (k == "min_backoff" || k == "max_backoff") {
             if (auto d = w.duration(v, sub)) {
               if (d->count() <= 0) {
                 w.error(v, sub, k + " must be greater than 0");
               } else {
                 (k == "min_backoff" ? rw.min_backoff : rw.max_backoff) = *d;
               }
             }
           } else if (k == "max_retries") {
             if (auto u = w.uint(v, sub)) rw.max_retries = *u;
           } else if (k == "retry_on_http_429") {
             if (auto b = w.boolean(v, sub)) rw.retry_on_http_429 = *b;
           } else {
             parse_http_client(w, k, v, sub, rw.http, bearer_token, bearer_token_file);
           }
         });
  if (!has_url) w.error(n, path + ".url", "url is required");
  if (rw.min_backoff > rw.max_backoff) {
    w.error(n, path, "min_backoff (" + format_duration(rw.min_backoff) +
                         ") must not be greater than max_backoff (" +
                         format_duration(rw.max_backoff) + ")");
  }
  finish_http_auth(w, n, path, rw.http, bearer_token, bearer_token_file);
}

// Keys whose values are secrets, replaced in the config shown by the API.
const std::set<std::string> kSecretKeys = {"password", "credentials", "bearer_token"};

YAML::Node redact(const YAML::Node& n) {
  if (n.IsMap()) {
    YAML::Node out(YAML::NodeType::Map);
    for (const auto& kv : n) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      if (kSecretKeys.count(key) && !kv.second.IsNull()) {
        out[kv.first] = Secret::to_display();
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

// Parses a list of relabel rules with Prometheus' defaults for omitted keys,
// validates each and compiles them. `what` names the list in messages.
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
    std::string err;
    RelabelConfig probe = rc;
    probe.action = "labeldrop";  // an action that only needs the regex
    probe.source_labels.clear();
    probe.target_label.clear();
    probe.separator = ";";
    probe.replacement = "$1";
    probe.modulus = 0;
    if (!RelabelRules::compile({probe}, &err)) {
      w.error(regex_node ? regex_node : n[i], ip + ".regex", err.substr(err.find(": ") + 2));
      ok = false;
      continue;
    }
    err = validate_relabel(rc);
    if (!err.empty()) {
      w.error(n[i], ip, err);
      ok = false;
      continue;
    }
    out->push_back(std::move(rc));
  }
  if (!ok) return nullptr;
  std::string err;
  auto rules = RelabelRules::compile(*out, &err);
  if (!rules) {
    w.error(n, path, err);
    return nullptr;
  }
  return std::make_shared<const RelabelRules>(std::move(*rules));
}

// Kubernetes label selector syntax (labels.Parse): comma-separated terms of
// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
bool valid_label_selector(const std::string& s, std::string* bad_term) {
  static const auto kTerm = compile_anchored(
      R"(\s*(!?\s*[A-Za-z0-9_./-]+|[A-Za-z0-9_./-]+\s*(=|==|!=)\s*[A-Za-z0-9_.-]*|)"
      R"([A-Za-z0-9_./-]+\s+(in|notin)\s+\(\s*[A-Za-z0-9_.-]*(\s*,\s*[A-Za-z0-9_.-]*)*\s*\))\s*)",
      nullptr);
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

const std::vector<std::string> kKubernetesRoles = {"pod",  "service", "endpoints", "endpointslice",
                                                   "node", "ingress"};

void parse_kubernetes_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                                 std::vector<KubernetesSdConfig>* out) {
  if (n.IsNull()) return;
  if (!n.IsSequence()) {
    w.error(n, path, "expected a list, got " + Walker::kind(n));
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    std::string ip = path + "[" + std::to_string(i) + "]";
    KubernetesSdConfig kc;
    std::optional<Secret> bearer_token;
    std::string bearer_token_file;
    bool custom_http = false;
    YAML::Node role_node, selectors_node;
    w.each(n[i], ip,
           {"role", "api_server", "kubeconfig_file", "namespaces", "selectors", "attach_metadata",
            "basic_auth", "authorization", "bearer_token", "bearer_token_file", "tls_config",
            "follow_redirects", "enable_http2"},
           [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
             if (k == "role") {
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
                 w.each(v[j], sp, {"role", "label", "field"},
                        [&](const std::string& sk, const YAML::Node& sv, const std::string& ss) {
                          auto str = w.str(sv, ss);
                          if (!str) return;
                          if (sk == "role") sel.role = *str;
                          if (sk == "label") {
                            sel.label = *str;
                            std::string bad;
                            if (!valid_label_selector(*str, &bad)) {
                              w.error(sv, ss,
                                      "invalid selector: '" + *str + "'; can't understand '" +
                                          bad + "'");
                            }
                          }
                          if (sk == "field") {
                            sel.field = *str;
                            std::string bad;
                            if (!valid_field_selector(*str, &bad)) {
                              w.error(sv, ss,
                                      "invalid selector: '" + *str + "'; can't understand '" +
                                          bad + "'");
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
    finish_http_auth(w, n[i], ip, kc.http, bearer_token, bearer_token_file);
    // SDConfig.UnmarshalYAML, with Prometheus' words.
    if (kc.role.empty()) {
      w.error(role_node ? role_node : n[i], ip + ".role",
              "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)");
    } else if (std::find(kKubernetesRoles.begin(), kKubernetesRoles.end(), kc.role) ==
               kKubernetesRoles.end()) {
      w.error(role_node, ip + ".role", "unknown Kubernetes SD role \"" + kc.role + "\"");
    }
    if (!kc.api_server.empty() && !kc.kubeconfig_file.empty()) {
      w.error(n[i], ip, "cannot use 'kubeconfig_file' and 'api_server' simultaneously");
    }
    if (!kc.kubeconfig_file.empty() && custom_http) {
      w.error(n[i], ip,
              "cannot use a custom HTTP client configuration together with 'kubeconfig_file'");
    }
    if (kc.api_server.empty() && kc.kubeconfig_file.empty() && custom_http) {
      w.error(n[i], ip,
              "to use custom HTTP client configuration please provide the 'api_server' URL "
              "explicitly");
    }
    if (!kc.api_server.empty() && kc.own_namespace) {
      w.error(n[i], ip, "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously");
    }
    if (!kc.kubeconfig_file.empty() && kc.own_namespace) {
      w.error(n[i], ip,
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
    out->push_back(std::move(kc));
  }
}

void parse_file_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                           std::vector<FileSdConfig>* out) {
  if (n.IsNull()) return;
  if (!n.IsSequence()) {
    w.error(n, path, "expected a list, got " + Walker::kind(n));
    return;
  }
  // Prometheus' patFileSDName: a `*` only in the file name, and a known extension.
  static const auto kPattern =
      compile_anchored(R"([^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML))", nullptr);
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
  YAML::Node timeout_node, delta_node;
  std::optional<Secret> bearer_token;
  std::string bearer_token_file;
  std::vector<std::pair<YAML::Node, std::string>> static_nodes;
  std::set<std::string> allowed = {"job_name",
       "scrape_interval",
       "scrape_timeout",
       "delta_profiling_duration",
       "scheme",
       "params",
       "body_size_limit",
       "basic_auth",
       "authorization",
       "bearer_token",
       "bearer_token_file",
       "tls_config",
       "follow_redirects",
       "enable_http2",
       "static_configs",
       "profiling_config",
       "relabel_configs",
       "profile_relabel_configs",
       "file_sd_configs",
       "target_limit",
       "label_limit",
       "label_name_length_limit",
       "label_value_length_limit"};
  allowed.insert("kubernetes_sd_configs");
  w.each(
      n, path, allowed,
      [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
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
        } else if (kLimitKeys.count(k)) {
          w.limit(k, v, sub, sc.limits);
        } else if (k == "file_sd_configs") {
          parse_file_sd_configs(w, v, sub, &sc.file_sd_configs);
        } else if (k == "kubernetes_sd_configs") {
          parse_kubernetes_sd_configs(w, v, sub, &sc.kubernetes_sd_configs);
        } else if (k == "relabel_configs") {
          if (auto r = parse_relabel_configs(w, v, sub, "target", &sc.relabel_configs))
            sc.relabel = r;
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

}  // namespace

std::string ScrapeLimits::check_labels(const Labels& labels) const {
  if (label_limit && labels.size() > label_limit) {
    return "label_limit exceeded (number of labels: " + std::to_string(labels.size()) +
           ", limit: " + std::to_string(label_limit) + ")";
  }
  for (const auto& l : labels) {
    if (label_name_length_limit && l.name.size() > label_name_length_limit) {
      return "label_name_length_limit exceeded (label name: " + l.name.substr(0, 50) +
             ", length: " + std::to_string(l.name.size()) +
             ", limit: " + std::to_string(label_name_length_limit) + ")";
    }
    if (label_value_length_limit && l.value.size() > label_value_length_limit) {
      return "label_value_length_limit exceeded (label name: " + l.name.substr(0, 50) +
             ", value: " + quote(l.value.substr(0, 50)) +
             ", length: " + std::to_string(l.value.size()) +
             ", limit: " + std::to_string(label_value_length_limit) + ")";
    }
  }
  return "";
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

ConfigResult load_config_string(const std::string& yaml, const std::string& name,
                                const std::string& dir) {
  ConfigResult result;
  Walker w(name, dir, &result.errors);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    w.error(e.mark, "", "invalid YAML: " + e.msg);
    return result;
  }
  Config cfg;
  cfg.source = name;
  YAML::Node scrape_node;
  std::string scrape_path;
  YAML::Node remote_node;
  std::string remote_path;
  w.each(root, "", {"global", "storage", "web", "scrape_configs", "remote_write"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "global") {
             bool explicit_timeout = false;
             YAML::Node timeout_node;
             w.each(v, sub,
                    {"scrape_interval", "scrape_timeout", "external_labels", "target_limit",
                     "label_limit", "label_name_length_limit", "label_value_length_limit",
                     "body_size_limit"},
                    [&](const std::string& gk, const YAML::Node& gv, const std::string& gs) {
                      if (gk == "body_size_limit") {
                        if (auto sz = w.size(gv, gs)) cfg.global.body_size_limit = *sz;
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
           } else if (k == "remote_write") {
             remote_node = v;
             remote_path = sub;
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
        rw.fingerprint = dir + "\x1f" + YAML::Dump(remote_node[i]) + "\x1f" +
                         YAML::Dump(root.IsMap() && root["global"].IsMap()
                                        ? root["global"]["external_labels"]
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
  // Scrape configs need the final global section, wherever it appears in the file.
  if (scrape_node && !scrape_node.IsNull()) {
    if (!scrape_node.IsSequence()) {
      w.error(scrape_node, scrape_path, "expected a list, got " + Walker::kind(scrape_node));
    } else {
      std::map<std::string, size_t> seen_jobs;
      for (size_t i = 0; i < scrape_node.size(); ++i) {
        std::string p = scrape_path + "[" + std::to_string(i) + "]";
        ScrapeConfig sc;
        parse_scrape_config(w, scrape_node[i], p, cfg.global, sc);
        // What a reload compares to decide whether a job's loops need new settings.
        sc.fingerprint = dir + "\x1f" + YAML::Dump(scrape_node[i]) + "\x1f" +
                         YAML::Dump(root.IsMap() ? root["global"] : YAML::Node());
        if (!sc.job_name.empty()) {
          auto [it, fresh] = seen_jobs.emplace(sc.job_name, i);
          if (!fresh) {
            w.error(scrape_node[i], p + ".job_name",
                    "found multiple scrape configs with job name \"" + sc.job_name + "\"");
          }
        }
        cfg.scrape_configs.push_back(std::move(sc));
      }
    }
  }
  if (result.errors.empty()) {
    YAML::Emitter em;
    em << redact(root);
    cfg.redacted_yaml = em.c_str();
    result.config = std::move(cfg);
  }
  return result;
}

ConfigResult load_config_file(const std::string& path, bool expand_env_vars) {
  ConfigResult result;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    result.errors.push_back(path + ": cannot read config file: " + std::strerror(errno));
    return result;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string dir = std::filesystem::absolute(path).parent_path().string();
  return load_config_string(expand_env_vars ? expand_env(buf.str()) : buf.str(), path, dir);
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
