// Discoverer: the interface every kind of service discovery implements, and the
// factory that makes one from a scrape config's SD section (Prometheus'
// discovery.Discoverer and its registry of config kinds).
//
// A discoverer pushes changed target groups to its sink: each group replaces
// the one with the same source, a group without targets removes its source.
// The first call after start() is its first complete result (possibly an
// empty list); a discoverer whose first attempt fails sends nothing until one
// succeeds. Discoverers run on the process's io_context: start(), stop() and
// every sink call happen on that io_context's thread; blocking work (DNS
// lookups with c-ares) runs on the blocking pool and comes back to it. After
// stop() returns no sink call is made.
//
// SdConfig names one SD config of a job with its kind and key: two configs
// with the same key are the same discoverer (shared by jobs with identical SD
// sections, kept running by a reload that does not change it).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "config/config.h"
#include "discovery/kubernetes_options.h"
#include "discovery/target_group.h"
#include "model/metrics.h"
#include "model/status.h"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace stoker {

// The kinds of service discovery, as configs name them.
enum class SdKind { kStatic, kFile, kHttp, kDns, kKubernetes };
const char* sd_kind_name(SdKind kind);  // static, file, http, dns, kubernetes

// One service discovery config of a job.
struct SdConfig {
  SdKind kind = SdKind::kStatic;
  // Identity across jobs and reloads: the kind and the config's fingerprint.
  std::string key;
  std::variant<std::vector<StaticConfig>, FileSdConfig, HttpSdConfig, DnsSdConfig,
               KubernetesSdConfig>
      config;
};

// The SD configs of `sc` in a stable order: its static_configs (as one, when
// there are any), then file, http, dns and kubernetes configs in file order.
std::vector<SdConfig> sd_configs(const ScrapeConfig& sc);

// Counters every discoverer and the manager update (/metrics). Families are
// registered once on the registry given to the constructor; the children are
// kept here so that updates are one atomic operation. Thread-safe.
class DiscoveryMetrics {
 public:
  explicit DiscoveryMetrics(metrics::Registry& registry);
  // An instance on a registry of its own, for discoverers made without one (tests).
  static DiscoveryMetrics& unregistered();

  // stoker_sd_refresh_failures_total{mechanism}: failed refreshes, lists or watches.
  metrics::Counter& refresh_failures(SdKind kind) { return *failures_[static_cast<int>(kind)]; }
  metrics::CounterFamily& discovered_targets;  // stoker_sd_discovered_targets{config}
  metrics::Counter& received_updates;          // stoker_sd_received_updates_total
  metrics::Counter& updates;                   // stoker_sd_updates_total
  metrics::Counter& failed_configs;            // stoker_sd_failed_configs (gauge)
  // Kubernetes' list/watch protocol (stoker_sd_kubernetes_*_total).
  metrics::Counter &kube_lists, &kube_watches, &kube_events, &kube_expired;

 private:
  metrics::Counter* failures_[5];
};

// What discoverers run with.
struct DiscoveryContext {
  boost::asio::io_context* io = nullptr;
  boost::asio::thread_pool* blocking = nullptr;  // for blocking lookups (DNS)
  DiscoveryMetrics* metrics = &DiscoveryMetrics::unregistered();
  KubernetesOptions kubernetes;
};

class Discoverer {
 public:
  using Sink = std::function<void(std::vector<TargetGroup>)>;
  virtual ~Discoverer() = default;
  // Starts discovering; `sink` receives updates on the io_context's thread.
  virtual void start(Sink sink) = 0;
  // Stops, cancelling in-flight requests; idempotent. On the io_context's thread.
  virtual void stop() = 0;
};

// Makes the discoverer for `cfg`. `job` names it in logs. Fails when the config
// cannot be used as it is (e.g. Kubernetes outside a cluster without
// api_server or kubeconfig_file), with a message saying what is missing.
Result<std::unique_ptr<Discoverer>> make_discoverer(const SdConfig& cfg, const std::string& job,
                                                    const DiscoveryContext& ctx);

// Runs `cfg`'s discovery once, to completion, without watching (for `stoker
// targets`): appends the groups it finds to `groups` and says what failed
// (a DNS config may find some names and fail on others).
Status discover_once(const SdConfig& cfg, std::vector<TargetGroup>* groups,
                     const KubernetesOptions& kubernetes = {});

}  // namespace stoker
