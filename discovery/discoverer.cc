#include "discovery/discoverer.h"

#include "discovery/dns_sd.h"
#include "discovery/file_sd.h"
#include "discovery/http_sd.h"
#include "discovery/kubernetes.h"
#include "discovery/static_sd.h"

namespace stoker {

const char* sd_kind_name(SdKind kind) {
  switch (kind) {
    case SdKind::kStatic:
      return "static";
    case SdKind::kFile:
      return "file";
    case SdKind::kHttp:
      return "http";
    case SdKind::kDns:
      return "dns";
    case SdKind::kKubernetes:
      return "kubernetes";
  }
  return "unknown";
}

std::vector<SdConfig> sd_configs(const ScrapeConfig& sc) {
  std::vector<SdConfig> out;
  if (!sc.static_configs.empty()) {
    // Static targets are their own fingerprint.
    std::string key = "static";
    for (const auto& st : sc.static_configs) {
      key += "\x1e";
      for (const auto& t : st.targets) key += t + "\x1f";
      key += st.labels.to_string();
    }
    out.push_back({SdKind::kStatic, key, sc.static_configs});
  }
  for (const auto& c : sc.file_sd_configs) out.push_back({SdKind::kFile, c.fingerprint, c});
  for (const auto& c : sc.http_sd_configs) out.push_back({SdKind::kHttp, c.fingerprint, c});
  for (const auto& c : sc.dns_sd_configs) out.push_back({SdKind::kDns, c.fingerprint, c});
  for (const auto& c : sc.kubernetes_sd_configs) {
    out.push_back({SdKind::kKubernetes, c.fingerprint, c});
  }
  return out;
}

DiscoveryMetrics::DiscoveryMetrics(metrics::Registry& r)
    : discovered_targets(r.gauge("stoker_sd_discovered_targets",
                                 "Targets discovered, per scrape config (job), before relabeling.",
                                 {"config"})),
      received_updates(r.counter("stoker_sd_received_updates_total",
                                 "Target group updates received from discoverers.")
                           .with({})),
      updates(r.counter("stoker_sd_updates_total",
                        "Full target sets sent to the scrape manager (one per changed job).")
                  .with({})),
      failed_configs(r.gauge("stoker_sd_failed_configs",
                             "Service discovery configs that could not be started.")
                         .with({})),
      kube_lists(
          r.counter("stoker_sd_kubernetes_lists_total", "Kubernetes LIST requests.").with({})),
      kube_watches(
          r.counter("stoker_sd_kubernetes_watches_total", "Kubernetes WATCH requests.").with({})),
      kube_events(r.counter("stoker_sd_kubernetes_events_total",
                            "Kubernetes watch events received (incl. bookmarks).")
                      .with({})),
      kube_expired(r.counter("stoker_sd_kubernetes_expired_total",
                             "Watches whose resourceVersion had expired (410), followed by a "
                             "relist.")
                       .with({})) {
  auto& failures = r.counter("stoker_sd_refresh_failures_total",
                             "Failed refreshes, per mechanism: unreadable SD files, failed HTTP "
                             "SD requests, DNS lookups, Kubernetes lists and watches.",
                             {"mechanism"});
  for (SdKind k :
       {SdKind::kStatic, SdKind::kFile, SdKind::kHttp, SdKind::kDns, SdKind::kKubernetes}) {
    failures_[static_cast<int>(k)] = &failures.with({sd_kind_name(k)});
  }
}

DiscoveryMetrics& DiscoveryMetrics::unregistered() {
  static metrics::Registry registry;
  static DiscoveryMetrics metrics(registry);
  return metrics;
}

Result<std::unique_ptr<Discoverer>> make_discoverer(const SdConfig& cfg, const std::string& job,
                                                    const DiscoveryContext& ctx) {
  switch (cfg.kind) {
    case SdKind::kStatic:
      return std::unique_ptr<Discoverer>(
          std::make_unique<StaticDiscoverer>(std::get<std::vector<StaticConfig>>(cfg.config), ctx));
    case SdKind::kFile: {
      const auto& c = std::get<FileSdConfig>(cfg.config);
      return std::unique_ptr<Discoverer>(
          std::make_unique<FileDiscoverer>(c.files, c.refresh_interval, ctx));
    }
    case SdKind::kHttp:
      return std::unique_ptr<Discoverer>(
          std::make_unique<HttpDiscoverer>(job, std::get<HttpSdConfig>(cfg.config), ctx));
    case SdKind::kDns:
      return std::unique_ptr<Discoverer>(
          std::make_unique<DnsDiscoverer>(job, std::get<DnsSdConfig>(cfg.config), ctx));
    case SdKind::kKubernetes: {
      auto k = KubernetesDiscoverer::make(job, std::get<KubernetesSdConfig>(cfg.config), ctx);
      if (!k) return k.status();
      return std::unique_ptr<Discoverer>(std::move(*k));
    }
  }
  return Status::internal("unknown service discovery kind");
}

Status discover_once(const SdConfig& cfg, std::vector<TargetGroup>* groups,
                     const KubernetesOptions& kubernetes) {
  switch (cfg.kind) {
    case SdKind::kStatic: {
      auto found = static_groups(std::get<std::vector<StaticConfig>>(cfg.config));
      groups->insert(groups->end(), found.begin(), found.end());
      return Status();
    }
    case SdKind::kFile: {
      FileSdState state;
      std::vector<std::string> errors;
      state.refresh(std::get<FileSdConfig>(cfg.config).files, groups, &errors);
      std::string joined;
      for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
      return joined.empty() ? Status() : Status::invalid(joined);
    }
    case SdKind::kHttp: {
      const auto& c = std::get<HttpSdConfig>(cfg.config);
      return HttpDiscoverer::fetch_once(c, groups).context("http_sd_configs " + c.url);
    }
    case SdKind::kDns:
      return DnsDiscoverer::lookup_once(std::get<DnsSdConfig>(cfg.config), groups)
          .context("dns_sd_configs");
    case SdKind::kKubernetes:
      return KubernetesDiscoverer::list_once(std::get<KubernetesSdConfig>(cfg.config), groups,
                                             kubernetes)
          .context("kubernetes_sd_configs");
  }
  return Status::internal("unknown service discovery kind");
}

}  // namespace stoker
