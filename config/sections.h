// The parsers of each config section, called by the loader (config.cc) with
// the Walker that collects errors. Each reads one YAML node into its typed
// section and reports every problem it finds. Internal to config/.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/yaml_walker.h"

namespace stoker::cfg {

// The keys of Prometheus' HTTP client options (inlined in scrape configs,
// kubernetes_sd_configs, http_sd_configs and remote_write).
inline const std::set<std::string> kHttpClientKeys = {
    "basic_auth",  "authorization",    "bearer_token",           "bearer_token_file",
    "tls_config",  "follow_redirects", "enable_http2",           "oauth2",
    "proxy_url",   "no_proxy",         "proxy_from_environment", "proxy_connect_header",
    "http_headers"};

// Header names Prometheus refuses in http_headers: the client sets them itself
// or they change the connection (prometheus/common config/headers.go).
inline const std::set<std::string> kReservedHttpHeaders = {"authorization",
                                                           "host",
                                                           "content-encoding",
                                                           "content-length",
                                                           "content-type",
                                                           "user-agent",
                                                           "connection",
                                                           "keep-alive",
                                                           "proxy-authenticate",
                                                           "proxy-authorization",
                                                           "www-authenticate",
                                                           "accept-encoding",
                                                           "x-prometheus-remote-write-version",
                                                           "x-prometheus-remote-read-version",
                                                           "x-prometheus-scrape-timeout-seconds",
                                                           "x-amz-date",
                                                           "x-amz-security-token",
                                                           "x-amz-content-sha256"};

// `keys` and kHttpClientKeys.
inline std::set<std::string> with_http_client_keys(std::set<std::string> keys) {
  keys.insert(kHttpClientKeys.begin(), kHttpClientKeys.end());
  return keys;
}

// One key of the HTTP client options shared by scrape configs, Kubernetes SD
// and remote_write (kHttpClientKeys but enable_http2).
void parse_http_client(Walker& w, const std::string& key, const YAML::Node& v,
                       const std::string& sub, HttpClientConfig& http,
                       std::optional<Secret>& bearer_token, std::string& bearer_token_file);
// HTTPClientConfig.Validate: at most one authentication method (bearer_token(_file)
// becomes an Authorization of type Bearer) and a consistent proxy setup.
void finish_http_auth(Walker& w, const YAML::Node& n, const std::string& path,
                      HttpClientConfig& http, const std::optional<Secret>& bearer_token,
                      const std::string& bearer_token_file);

// A list of relabel rules with Prometheus' defaults for omitted keys, validated
// and compiled; `what` ("target", "profile") names the list in messages. Null
// when any rule is invalid.
std::shared_ptr<const RelabelRules> parse_relabel_configs(Walker& w, const YAML::Node& n,
                                                          const std::string& path,
                                                          const std::string& what,
                                                          std::vector<RelabelConfig>* out);

void parse_kubernetes_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                                 std::vector<KubernetesSdConfig>* out);
// The cluster section's `kubernetes` (see ClusterConfig).
KubernetesSdConfig parse_cluster_kubernetes(Walker& w, const YAML::Node& n,
                                            const std::string& path);
void parse_http_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                           std::vector<HttpSdConfig>* out);
void parse_dns_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                          std::vector<DnsSdConfig>* out);
void parse_file_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                           std::vector<FileSdConfig>* out);
// One entry of scrape_configs; needs the final global section for defaults.
void parse_scrape_config(Walker& w, const YAML::Node& n, const std::string& path,
                         const GlobalConfig& global, ScrapeConfig& sc);
void parse_remote_write(Walker& w, const YAML::Node& n, const std::string& path,
                        RemoteWriteConfig& rw);
// The receive section; needs the final global section for its label limits.
void parse_receive(Walker& w, const YAML::Node& n, const std::string& path,
                   const GlobalConfig& global, ReceiveConfig& rc);

}  // namespace stoker::cfg
