#include "collector/cluster.h"

#include <algorithm>
#include <map>

#include "discovery/kubernetes.h"
#include "model/hash.h"
#include "model/log.h"
#include "model/timeparse.h"

namespace stoker {

namespace {

// MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit.
uint64_t fmix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  k ^= k >> 33;
  return k;
}

}  // namespace

const std::string& cluster_owner(const std::vector<std::string>& peers, std::string_view key) {
  const uint64_t k = fnv1a64(key);
  const std::string* best = &peers.front();
  uint64_t best_score = 0;
  bool first = true;
  for (const auto& p : peers) {
    uint64_t score = fmix64(fnv1a64(p) ^ fmix64(k));
    // Ties (practically never) go to the smaller name, so every replica agrees.
    if (first || score > best_score || (score == best_score && p < *best)) {
      best = &p;
      best_score = score;
      first = false;
    }
  }
  return *best;
}

std::string cluster_key(const Target& t) {
  return t.labels.without_reserved().to_string();
}

std::vector<std::string> ClusterMembership::peers_from_pods(const std::vector<TargetGroup>& pods,
                                                            const std::string& self,
                                                            bool* self_listed) {
  std::vector<std::string> peers;
  bool listed = false;
  for (const auto& g : pods) {
    // A pod group has its targets (one per container port) when the pod has
    // an IP; its Ready condition is a group label.
    if (g.targets.empty() || g.labels.get("__meta_kubernetes_pod_ready") != "true") continue;
    std::string name(g.labels.get("__meta_kubernetes_pod_name"));
    if (name.empty()) continue;
    listed = listed || name == self;
    peers.push_back(std::move(name));
  }
  if (!self.empty()) peers.push_back(self);
  std::sort(peers.begin(), peers.end());
  peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  if (self_listed) *self_listed = listed;
  return peers;
}

Result<std::vector<std::string>> ClusterMembership::list_peers(const ClusterConfig& cfg,
                                                               const KubernetesOptions& opts) {
  if (!cfg.kubernetes) {
    auto peers = cfg.static_peers;
    std::sort(peers.begin(), peers.end());
    return peers;
  }
  std::vector<TargetGroup> pods;
  if (Status s = KubernetesDiscoverer::list_once(*cfg.kubernetes, &pods, opts); !s.ok())
    return s.context("cluster.kubernetes");
  return peers_from_pods(pods, "", nullptr);
}

Result<std::unique_ptr<ClusterMembership>> ClusterMembership::make(const ClusterConfig& cfg,
                                                                   const DiscoveryContext& ctx) {
  std::unique_ptr<ClusterMembership> m(new ClusterMembership());
  m->cfg_ = cfg;
  m->status_.self = cfg.name;
  m->status_.source = cfg.kubernetes ? "kubernetes" : "static";
  if (cfg.kubernetes) {
    auto d = KubernetesDiscoverer::make("cluster", *cfg.kubernetes, ctx);
    if (!d) return d.status().context("cluster.kubernetes");
    m->kube_ = std::move(*d);
  }
  return m;
}

ClusterMembership::~ClusterMembership() {
  stop();
}

void ClusterMembership::start(Sink sink) {
  sink_ = std::move(sink);
  if (!kube_) {
    auto peers = cfg_.static_peers;
    std::sort(peers.begin(), peers.end());
    publish(std::move(peers), true);
    return;
  }
  kube_->on_health([this](const std::string& error) {
    std::lock_guard lock(mu_);
    if (error.empty()) {
      if (!status_.error.empty())
        log::info("cluster", "the Kubernetes API answers again; peers are current", {});
      status_.error.clear();
      status_.error_since_ns = 0;
      return;
    }
    if (status_.error.empty()) {
      status_.error_since_ns = now_unix_nanos();
      log::warn("cluster", "cannot reach the Kubernetes API; keeping the last known peers",
                {{"peers", std::to_string(status_.peers.size())}, {"err", error}});
    }
    status_.error = error;
  });
  kube_->start([this](std::vector<TargetGroup> groups) {
    // Each group replaces the one with the same source; an empty one removes it.
    for (auto& g : groups) {
      auto it = std::find_if(pods_.begin(), pods_.end(),
                             [&](const TargetGroup& p) { return p.source == g.source; });
      if (it != pods_.end()) pods_.erase(it);
      if (!g.targets.empty()) pods_.push_back(std::move(g));
    }
    bool listed = false;
    auto peers = peers_from_pods(pods_, cfg_.name, &listed);
    publish(std::move(peers), listed);
  });
}

void ClusterMembership::stop() {
  if (kube_) kube_->stop();
}

void ClusterMembership::publish(std::vector<std::string> peers, bool self_listed) {
  {
    std::lock_guard lock(mu_);
    bool changed = !status_.known || peers != status_.peers;
    if (self_listed != status_.self_listed || !status_.known) {
      if (!self_listed) {
        log::warn("cluster",
                  "this replica is not among the Ready peers (yet?); it scrapes its share anyway "
                  "(check cluster.name or $POD_NAME if this lasts)",
                  {{"name", cfg_.name}});
      }
    }
    status_.self_listed = self_listed;
    if (!changed) return;
    status_.known = true;
    status_.peers = peers;
    status_.changed_ns = now_unix_nanos();
    std::string list;
    for (const auto& p : peers) list += (list.empty() ? "" : ",") + p;
    log::info("cluster", "peers changed",
              {{"name", cfg_.name}, {"peers", std::to_string(peers.size())}, {"list", list}});
  }
  if (sink_) sink_(ClusterView{cfg_.name, std::move(peers)});
}

ClusterMembership::State ClusterMembership::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

}  // namespace stoker
