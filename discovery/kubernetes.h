// KubernetesDiscoverer: kubernetes_sd_configs over the Kubernetes API's list and
// watch protocol (HTTP/1.1, JSON).
//
// For every kind the role needs (its own, plus nodes, namespaces, ReplicaSets,
// Jobs, pods or services for metadata) and every namespace asked for, a
// coroutine lists the objects, then watches from the list's resourceVersion with
// bookmarks, handing each event to a GroupBuilder and the changed target groups
// to the sink. A watch that ends is resumed from the last resourceVersion; 410
// Gone (or an ERROR event saying so) relists; failures back off from 800 ms to
// 30 s. Responses are parsed with Boost.JSON and bounded in size. The API is
// reached through `api_server` (with the config's auth and TLS), a kubeconfig
// file (current context), or in-cluster (KUBERNETES_SERVICE_HOST/PORT and the
// service account's token — re-read on every request — and CA). Runs on its own
// thread; the sink is called from it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "discovery/target.h"
#include "config/config.h"

namespace stoker {

struct KubernetesOptions {
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::chrono::milliseconds min_backoff{800}, max_backoff{30000};
  // Watch timeoutSeconds is random in [min, 2·min) like client-go's reflector.
  std::chrono::seconds min_watch_timeout{300};
  uint64_t max_list_bytes = 512ull << 20;  // a LIST response larger than this fails
};

// Where and how to reach the API server, resolved from a KubernetesSdConfig.
struct KubernetesConnection {
  std::string base_url;  // https://host:port, no trailing slash
  HttpClientConfig http;
  std::string own_namespace;  // in-cluster: the pod's namespace
  std::string temp_dir;       // kubeconfig *-data written here; removed by the owner
};

// Resolves api_server / kubeconfig_file / in-cluster. False with a message
// naming what is missing.
bool resolve_kubernetes_connection(const KubernetesSdConfig& cfg, const KubernetesOptions& opts,
                                   KubernetesConnection* out, std::string* error);

// Process-wide counters of Kubernetes discovery, for /metrics.
struct KubernetesSdStats {
  std::atomic<uint64_t> lists{0}, watches{0}, events{0}, failures{0}, expired{0};
};
KubernetesSdStats& kubernetes_sd_stats();

class KubernetesDiscoverer {
 public:
  using Sink = std::function<void(std::vector<TargetGroup>)>;
  KubernetesDiscoverer(std::string job, KubernetesSdConfig cfg, Sink sink,
                       KubernetesOptions opts = {});
  ~KubernetesDiscoverer();
  // Resolves the connection and starts watching; false (and nothing started)
  // when the connection cannot be resolved.
  bool start(std::string* error);
  void stop();

  // Lists every needed kind once and returns the groups (for `stoker targets`).
  static std::vector<TargetGroup> list_once(const KubernetesSdConfig& cfg, std::string* error,
                                            const KubernetesOptions& opts = {});

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
