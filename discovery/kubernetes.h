// KubernetesDiscoverer: kubernetes_sd_configs over the Kubernetes API's list and
// watch protocol (HTTP/1.1, JSON).
//
// For every kind the role needs (its own, plus nodes, namespaces, ReplicaSets,
// Jobs, pods or services for metadata) and every namespace asked for, a
// coroutine lists the objects, then watches from the list's resourceVersion with
// bookmarks, handing each event to a GroupBuilder and the changed target groups
// to the sink. The first result is every group once each (kind, namespace) was
// listed (or after 30 s with what could be listed). A watch that ends is resumed
// from the last resourceVersion; 410 Gone (or an ERROR event saying so)
// relists; failures back off from 800 ms to 30 s. Responses are parsed with
// Boost.JSON and bounded in size. The API is reached through `api_server` (with
// the config's auth and TLS), a kubeconfig file (current context), or
// in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service account's token —
// re-read on every request — and CA). Runs on the process's io_context (see
// discovery/discoverer.h); stop() cancels the open lists and watches.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/discoverer.h"
#include "discovery/kubernetes_options.h"
#include "discovery/target_group.h"
#include "model/status.h"

namespace stoker {

// Where and how to reach the API server, resolved from a KubernetesSdConfig.
struct KubernetesConnection {
  std::string base_url;  // https://host:port, no trailing slash
  HttpClientConfig http;
  std::string own_namespace;  // in-cluster: the pod's namespace
  std::string temp_dir;       // kubeconfig *-data written here; removed by the owner
};

// Resolves api_server / kubeconfig_file / in-cluster. A failure names what is
// missing.
Result<KubernetesConnection> resolve_kubernetes_connection(const KubernetesSdConfig& cfg,
                                                           const KubernetesOptions& opts);

class KubernetesDiscoverer : public Discoverer {
 public:
  // Resolves the connection; fails (nothing started) when it cannot be resolved.
  static Result<std::unique_ptr<KubernetesDiscoverer>> make(std::string job, KubernetesSdConfig cfg,
                                                            const DiscoveryContext& ctx);
  ~KubernetesDiscoverer() override;
  void start(Sink sink) override;
  void stop() override;
  // Called on the io_context's thread with the error when a list or watch
  // fails (the last groups stay as they were), and with "" when a list
  // succeeds again. Set before start().
  void on_health(std::function<void(const std::string& error)> fn);

  // Lists every needed kind once and appends the groups (for `stoker targets`).
  static Status list_once(const KubernetesSdConfig& cfg, std::vector<TargetGroup>* out,
                          const KubernetesOptions& opts = {});

  struct Impl;

 private:
  KubernetesDiscoverer();
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
