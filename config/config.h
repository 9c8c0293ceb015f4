// Config: the typed, validated form of a stoker YAML config file.
//
// Keys follow Prometheus' scrape config and Grafana Alloy's pyroscope.scrape
// arguments. Loading is strict: unknown keys, duplicate keys, wrong types and bad
// values are errors that name the file, line, column and key path; every error in
// a file is reported, not just the first. A loaded Config is an immutable value,
// safe to share between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/labels.h"
#include "model/relabel.h"
#include "model/units.h"

namespace stoker {

// A secret value (password, token). Never printed: to_display() gives "<secret>".
struct Secret {
  std::string value;
  bool empty() const { return value.empty(); }
  static std::string to_display() { return "<secret>"; }
};

struct BasicAuth {
  std::string username;
  Secret password;
  std::string password_file;  // absolute path, re-read on every request
};

struct Authorization {
  std::string type = "Bearer";
  Secret credentials;
  std::string credentials_file;  // absolute path, re-read on every request
};

struct TlsConfig {
  std::string ca_file, cert_file, key_file;  // absolute paths
  std::string server_name;
  bool insecure_skip_verify = false;
};

// http_headers: one header's values, added to every request (files re-read each time).
struct HttpHeaderConfig {
  std::string name;
  std::vector<std::string> values;
  std::vector<Secret> secrets;
  std::vector<std::string> files;  // absolute paths
};

// proxy_url, no_proxy, proxy_from_environment, proxy_connect_header.
struct ProxyConfig {
  std::string url;  // http://[user:password@]host:port; empty: no fixed proxy
  std::string no_proxy;
  bool from_environment = false;  // HTTP_PROXY / HTTPS_PROXY / NO_PROXY
  std::vector<std::pair<std::string, Secret>> connect_headers;  // sent with CONNECT
  bool active() const { return !url.empty() || from_environment; }
};

// oauth2: the client credentials grant; the token is cached until it expires.
struct OAuth2Config {
  std::string client_id;
  Secret client_secret;
  std::string client_secret_file;  // absolute path, re-read on every request
  std::vector<std::string> scopes;
  std::string token_url;
  std::map<std::string, std::string> endpoint_params;
  TlsConfig tls;
  ProxyConfig proxy;
};

struct HttpClientConfig {
  std::optional<BasicAuth> basic_auth;
  // bearer_token / bearer_token_file are converted to an Authorization of type Bearer.
  std::optional<Authorization> authorization;
  std::optional<OAuth2Config> oauth2;
  TlsConfig tls;
  bool follow_redirects = true;
  ProxyConfig proxy;
  std::vector<HttpHeaderConfig> headers;  // http_headers
};

// One profile endpoint of a target (Alloy's profiling_config blocks).
struct ProfileTypeConfig {
  std::string name;  // config key: process_cpu, memory, godeltaprof_memory, custom…
  bool enabled = false;
  std::string path;
  // Fetched as a server-side delta with ?seconds=N (process_cpu, fgprof by default).
  bool delta = false;
  // The `__name__` stored with profiles: godeltaprof_* map to memory/mutex/block.
  std::string series_name() const;
  // True for the godeltaprof endpoints, which deliver deltas already.
  bool is_godeltaprof() const;
};

// file_sd_configs: target groups read from JSON or YAML files.
struct FileSdConfig {
  std::vector<std::string> files;  // absolute; `*` allowed in the file name
  Duration refresh_interval = std::chrono::minutes(5);
  std::string fingerprint;  // see ScrapeConfig::fingerprint; set by the loader
};

// kubernetes_sd_configs: targets from the Kubernetes API (Prometheus' keys).
struct KubernetesSdConfig {
  std::string role;                     // pod, endpoints, endpointslice, service, node, ingress
  std::string api_server;               // empty: in-cluster (or kubeconfig_file)
  std::string kubeconfig_file;          // absolute path
  std::vector<std::string> namespaces;  // namespaces.names; empty = all
  bool own_namespace = false;           // namespaces.own_namespace
  struct Selector {
    std::string role, label, field;
  };
  std::vector<Selector> selectors;
  struct AttachMetadata {
    bool node = false, namespace_ = false, deployment = false, job = false, cronjob = false;
  } attach_metadata;
  HttpClientConfig http;  // used with api_server
  std::string fingerprint;
};

// http_sd_configs: target groups from an HTTP endpoint (Prometheus' HTTP SD).
struct HttpSdConfig {
  std::string url;
  Duration refresh_interval = std::chrono::seconds(60);
  HttpClientConfig http;
  std::string fingerprint;
};

// dns_sd_configs: targets from DNS records (Prometheus' DNS SD).
struct DnsSdConfig {
  std::vector<std::string> names;
  std::string type = "SRV";  // SRV, A, AAAA, MX or NS (upper case)
  int port = 0;              // required for all types but SRV
  Duration refresh_interval = std::chrono::seconds(30);
  std::string fingerprint;
};

struct StaticConfig {
  std::vector<std::string> targets;
  Labels labels;
};

// How many series the labels inside one source's profiles may create unless
// configured (0: no cap).
inline constexpr uint64_t kDefaultSampleLabelSeriesLimit = 1000;

// Prometheus' per-scrape-config limits; 0 means no limit.
struct ScrapeLimits {
  uint64_t target_limit = 0;              // targets after relabeling
  uint64_t label_limit = 0;               // labels of a stored series
  uint64_t label_name_length_limit = 0;   // bytes of a label name
  uint64_t label_value_length_limit = 0;  // bytes of a label value
  // OK when `labels` is within the label limits, else which limit and why
  // (invalid_argument: the series is refused, as Pyroscope refuses it).
  Status check_labels(const Labels& labels) const;
};

struct ScrapeConfig {
  std::string job_name;
  ScrapeLimits limits;
  // Series that the labels inside one target's profiles may create (0: no
  // cap); the rest of its labelled samples go to its unlabelled series.
  uint64_t sample_label_series_limit = kDefaultSampleLabelSeriesLimit;
  Duration scrape_interval{0};
  Duration scrape_timeout{0};
  // Duration of ?seconds=N profiles; unset means scrape_interval - 1s.
  std::optional<Duration> delta_profiling_duration;
  std::string scheme = "http";
  std::map<std::string, std::vector<std::string>> params;
  uint64_t body_size_limit = 0;  // 0: the collector's built-in cap
  HttpClientConfig http;
  std::vector<StaticConfig> static_configs;
  std::vector<FileSdConfig> file_sd_configs;
  std::vector<KubernetesSdConfig> kubernetes_sd_configs;
  std::vector<HttpSdConfig> http_sd_configs;
  std::vector<DnsSdConfig> dns_sd_configs;
  std::string path_prefix;
  // clustering: {enabled: true}: the replicas of the `cluster` section share
  // this job's targets (each scraped by one of them).
  bool clustering = false;
  std::vector<ProfileTypeConfig> profiles;  // every known type, enabled or not
  // Target relabeling, applied to discovered targets before scraping.
  std::vector<RelabelConfig> relabel_configs;
  // Applied to each profile's series labels (with __name__) before storing.
  std::vector<RelabelConfig> profile_relabel_configs;
  // The same rules compiled once at load; never null in a loaded config.
  std::shared_ptr<const RelabelRules> relabel = std::make_shared<RelabelRules>();
  std::shared_ptr<const RelabelRules> profile_relabel = std::make_shared<RelabelRules>();

  // What a config reload compares: the job's YAML, the global section and the
  // config's directory. Equal fingerprints mean the job's loops can keep running.
  // Each service discovery config has a fingerprint of its own (its YAML and
  // the directory relative paths resolve against): equal fingerprints mean the
  // same discoverer, which a reload keeps running.
  std::string fingerprint;

  // N in ?seconds=N for delta types: delta_profiling_duration, else the
  // target's scrape interval minus one second (Alloy).
  int64_t delta_seconds(Duration interval) const;
};

struct GlobalConfig {
  ScrapeLimits limits;           // inherited by scrape configs that leave a limit at 0
  uint64_t body_size_limit = 0;  // likewise
  Duration scrape_interval = std::chrono::seconds(15);
  Duration scrape_timeout = std::chrono::seconds(10);
  Labels external_labels;
  // Series that the labels inside one target's (or push source's) profiles
  // may create, for scrape configs and receive that do not set their own.
  uint64_t sample_label_series_limit = kDefaultSampleLabelSeriesLimit;
};

struct StorageConfig {
  std::string path = "./data/stoker.db";
  Duration retention = std::chrono::hours(24 * 7);
  uint64_t max_size = 1ULL << 30;  // 0 disables the size bound
};

// One remote_write endpoint: a Pyroscope push API (POST {url}/push.v1.PusherService/Push).
struct RemoteWriteConfig {
  std::string url;                                     // base URL, no trailing slash
  std::string name;                                    // for logs and metrics; defaults to the URL
  Duration remote_timeout = std::chrono::seconds(10);  // per attempt
  std::vector<std::pair<std::string, std::string>> headers;
  HttpClientConfig http;
  Duration min_backoff = std::chrono::milliseconds(500);
  Duration max_backoff = std::chrono::minutes(5);
  uint64_t max_retries = 10;  // attempts per batch, as Alloy counts them; 0 = forever
  bool retry_on_http_429 = true;
  // Equal fingerprints (endpoint YAML, external labels, config directory) let a
  // reload keep the endpoint's delivery running.
  std::string fingerprint;
  // The endpoint's identity in the outbox: its name, else its URL.
  const std::string& key() const { return name.empty() ? url : name; }
};

struct WebConfig {
  std::string listen_address = "127.0.0.1:4040";
};

// True when `listen_address` (host:port) binds only loopback addresses:
// 127.0.0.0/8, ::1 or localhost.
bool is_loopback_listen_address(const std::string& listen_address);

// Receiving pushed profiles: Pyroscope's /ingest (the SDKs) and
// push.v1.PusherService/Push (Alloy's pyroscope.write, another stoker).
struct ReceiveConfig {
  // Unset: on when web.listen_address is a loopback address (a developer's
  // machine), off otherwise (accepting pushes from a network is a choice).
  std::optional<bool> enabled;
  std::string path_prefix;                    // "" or "/a/b": the routes are served under it
  uint64_t body_size_limit = 16ULL << 20;     // one request's body
  uint64_t profile_size_limit = 64ULL << 20;  // one profile after gunzip
  // Set on every pushed series (over what the client sent), before relabeling.
  Labels labels;
  // Applied to each pushed series' labels (with __name__), like
  // profile_relabel_configs; a series they drop is accepted and not stored.
  std::vector<RelabelConfig> relabel_configs;
  std::shared_ptr<const RelabelRules> relabel = std::make_shared<RelabelRules>();
  // Label limits for pushed series: global's where set, else Pyroscope's
  // defaults (30 labels, names up to 1024 bytes, values up to 2048).
  ScrapeLimits limits{0, 30, 1024, 2048};
  // Series that the labels inside one push source's profiles may create (a
  // source: the labels a client sends, before relabeling); 0: no cap.
  uint64_t sample_label_series_limit = kDefaultSampleLabelSeriesLimit;
  bool active(const std::string& listen_address) const {
    return enabled.value_or(is_loopback_listen_address(listen_address));
  }
};

// Bounds on what one query of the read API or the CLI may cost.
struct QueryConfig {
  Duration max_range = std::chrono::hours(24 * 31);  // longest time range
  uint64_t max_profiles = 100'000;                   // profiles one merge may read
  uint64_t max_nodes = 1 << 20;                      // largest max_nodes accepted
  Duration timeout = std::chrono::seconds(30);       // wall-clock budget
};

// The source view (the page's Source tab, GET /api/v1/source): which files
// the web server may read to show a function's lines.
struct SourceConfig {
  // Unset: on when web.listen_address is a loopback address, off otherwise.
  std::optional<bool> enabled;
  struct Rewrite {
    std::string from, to;  // a recorded path starting with `from` is read at `to` + the rest
  };
  std::vector<Rewrite> paths;
  // Directories the web server may read under, beyond the working directory,
  // the rewrites' targets, GOROOT and the Go module cache.
  std::vector<std::string> roots;
  bool active(const std::string& listen_address) const {
    return enabled.value_or(is_loopback_listen_address(listen_address));
  }
};

// The `cluster` section: replicas that share the targets of jobs with
// clustering enabled. Peers are the Ready pods a Kubernetes selector matches
// (read with list+watch) or a fixed list.
struct ClusterConfig {
  bool enabled = false;  // the section is present
  // This replica's peer name: `name`, else $POD_NAME, else the host name.
  std::string name;
  // Peers = Ready pods matching (role pod, one namespace, label/field selectors).
  std::optional<KubernetesSdConfig> kubernetes;
  std::vector<std::string> static_peers;  // instead of kubernetes
  // The section's YAML and the config's directory: equal means the same peers' source.
  std::string fingerprint;
};

struct Config {
  std::string source;  // file path, or "<embedded default>"
  GlobalConfig global;
  StorageConfig storage;
  WebConfig web;
  QueryConfig query;
  ReceiveConfig receive;
  SourceConfig source_view;  // the `source` section
  ClusterConfig cluster;
  std::vector<ScrapeConfig> scrape_configs;  // the file's own, then scrape_config_files'
  // The files scrape_config_files matched and loaded (absolute paths, in order).
  std::vector<std::string> scrape_config_files;
  std::vector<RemoteWriteConfig> remote_write;
  // The file as loaded, every secret value replaced by "<secret>" (for the
  // API), followed by each scrape_config_files file as a YAML document of its own.
  std::string redacted_yaml;
};

struct ConfigResult {
  std::optional<Config> config;     // set when there are no errors
  std::vector<std::string> errors;  // "file:line:col: key.path: message"
};

// Loads and validates a YAML file. Relative file paths inside it are resolved
// against the file's directory. With `expand_env` (--config.expand-env), every
// $VAR / ${VAR} in the file is replaced by the environment's value ("" when
// unset) before parsing, and $$ by $.
ConfigResult load_config_file(const std::string& path, bool expand_env = false);
// Loads YAML text; `name` is used in messages, `dir` resolves relative paths.
ConfigResult load_config_string(const std::string& yaml, const std::string& name,
                                const std::string& dir);
// The configuration used when stoker runs without --config.
Config default_config();

// Alloy's default profile blocks, in a stable order.
std::vector<ProfileTypeConfig> default_profile_types();

}  // namespace stoker
