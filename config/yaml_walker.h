// Walker: the YAML machinery behind config loading, shared by every section's
// parser. It walks a yaml-cpp tree while tracking the file, the key path and
// the errors found, and converts scalars (strings, booleans, durations, sizes,
// label maps, file references) with messages that name file:line:column and the
// key path. Internal to config/; one Walker per load, not thread-safe.
#pragma once

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/text.h"

namespace stoker::cfg {

// Keys that belong to capabilities stoker does not have yet. They are rejected
// explicitly so a config never silently loses targets or forwarding.
inline const std::set<std::string> kNotYetSupported = {"metric_relabel_configs"};

// Prometheus' service discoveries stoker does not implement.
inline const std::set<std::string> kOtherServiceDiscovery = {
    "azure_sd_configs",     "consul_sd_configs",      "digitalocean_sd_configs",
    "docker_sd_configs",    "dockerswarm_sd_configs", "ec2_sd_configs",
    "eureka_sd_configs",    "gce_sd_configs",         "hetzner_sd_configs",
    "ionos_sd_configs",     "kuma_sd_configs",        "lightsail_sd_configs",
    "linode_sd_configs",    "marathon_sd_configs",    "nerve_sd_configs",
    "nomad_sd_configs",     "oci_sd_configs",         "outscale_sd_configs",
    "openstack_sd_configs", "ovhcloud_sd_configs",    "puppetdb_sd_configs",
    "scaleway_sd_configs",  "serverset_sd_configs",   "stackit_sd_configs",
    "triton_sd_configs",    "uyuni_sd_configs",       "vultr_sd_configs"};

// Keys of a prometheus.yml that a profile collector has no use for.
inline const std::set<std::string> kPrometheusOnly = {"evaluation_interval",
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

inline const std::set<std::string> kLimitKeys = {
    "target_limit", "label_limit", "label_name_length_limit", "label_value_length_limit"};

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
        } else if (kOtherServiceDiscovery.count(key)) {
          error(k, sub,
                "\"" + key +
                    "\" is a Prometheus service discovery that stoker does not implement; "
                    "supported: static_configs, file_sd_configs, http_sd_configs, dns_sd_configs, "
                    "kubernetes_sd_configs");
        } else if (kPrometheusOnly.count(key)) {
          error(
              k, sub,
              "\"" + key +
                  "\" is a Prometheus setting with no meaning for a profile collector; remove it");
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
      if (!decoded) {
        error(n, path, "!!binary value contains invalid base64 data");
        return std::nullopt;
      }
      return *decoded;
    }
    return n.Scalar();
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
    auto d = parse_duration(*s);
    if (!d) {
      error(n, path, d.error());
      return std::nullopt;
    }
    return *d;
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
    auto v = parse_size(*s);
    if (!v) {
      error(n, path, v.error());
      return std::nullopt;
    }
    return *v;
  }
  // Calls fn(item, item_path) for each entry of list `n` (null: none); anything
  // else is an error.
  void each_item(const YAML::Node& n, const std::string& path,
                 const std::function<void(const YAML::Node&, const std::string&)>& fn) {
    if (n.IsNull()) return;
    if (!n.IsSequence()) {
      error(n, path, "expected a list, got " + kind(n));
      return;
    }
    for (size_t i = 0; i < n.size(); ++i) fn(n[i], path + "[" + std::to_string(i) + "]");
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
    std::filesystem::path p(*s);
    if (p.is_relative() && !dir_.empty()) p = std::filesystem::path(dir_) / p;
    std::string abs = p.lexically_normal().string();
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      error(n, path, "\"" + abs + "\" is a directory, expected a file");
    } else if (::access(abs.c_str(), R_OK) != 0) {
      error(n, path, "cannot read file \"" + abs + "\": " + std::strerror(errno));
    }
    return abs;
  }

  // Parses `yaml` into `root`; a syntax error is recorded (with its position)
  // and false returned.
  bool load(const std::string& yaml, YAML::Node* root) {
    try {
      *root = YAML::Load(yaml);
      return true;
    } catch (const YAML::Exception& e) {
      error(e.mark, "", "invalid YAML: " + e.msg);
      return false;
    }
  }

  const std::string& file() const { return file_; }
  const std::string& dir() const { return dir_; }
  size_t error_count() const { return errors_->size(); }

 private:
  std::string file_;
  std::string dir_;
  std::vector<std::string>* errors_;
};

// The contents of a config file; nullopt and an error naming `what` and the
// reason when it cannot be read.
inline std::optional<std::string> read_config_file(const std::string& path, const char* what,
                                                   std::vector<std::string>* errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors->push_back(path + ": cannot read " + what + ": " + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace stoker::cfg
