// Clustering: replicas of stoker that share the targets of jobs with
// `clustering: {enabled: true}` without talking to each other.
//
// Every replica knows the same peers (the Ready pods a Kubernetes selector
// matches, read with list+watch, or the config's static_peers) and computes
// each target's owner by rendezvous hashing of the target's public labels
// over the peers' names: the peer with the highest hash(peer, target) owns
// it. All replicas agree without exchanging anything; when a peer joins or
// leaves, only the targets whose highest-scoring peer changed move (about 1/N).
// This replica always counts itself among the peers, so that a replica whose
// pod is not Ready yet (or no longer) scrapes its share rather than leaving
// it unscraped (at least once: a short overlap, never a gap).
//
// ClusterMembership turns the cluster section into the list of peers and
// keeps it current. It runs on the process's io_context: start(), stop() and
// the sink calls happen on its thread; status() is thread-safe. When the
// Kubernetes API cannot be reached the last list is kept and status() says
// since when and why.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "collector/target.h"
#include "config/config.h"
#include "discovery/discoverer.h"
#include "model/status.h"

namespace stoker {

// The peer among `peers` (not empty) that owns a target hashed by `key`.
// Deterministic across processes, restarts and architectures.
const std::string& cluster_owner(const std::vector<std::string>& peers, std::string_view key);

// What a target is hashed by: its public labels (job, instance, service_name,
// and the rest its relabeling kept), so the owner does not depend on which
// replica discovered it or on discovery metadata.
std::string cluster_key(const Target& t);

// The peers as this replica sees them.
struct ClusterView {
  std::string self;
  std::vector<std::string> peers;  // sorted, unique, includes `self`
};

class ClusterMembership {
 public:
  struct State {
    std::string self;
    std::string source;              // "kubernetes" or "static"
    std::vector<std::string> peers;  // last known (sorted); empty before the first list
    bool known = false;              // a first list arrived
    bool self_listed = false;        // this replica is among the Ready pods
    std::string error;               // the API cannot be reached: why ("" when fine)
    int64_t error_since_ns = 0;      // since when the last view is kept
    int64_t changed_ns = 0;          // when the peer list last changed
  };
  using Sink = std::function<void(ClusterView)>;

  // Fails when the Kubernetes connection cannot be resolved (nothing started).
  static Result<std::unique_ptr<ClusterMembership>> make(const ClusterConfig& cfg,
                                                         const DiscoveryContext& ctx);
  ~ClusterMembership();
  // Starts; `sink` receives every new peer list (the first one at once for
  // static_peers, after the first pod list for Kubernetes).
  void start(Sink sink);
  void stop();
  State status() const;
  const ClusterConfig& config() const { return cfg_; }

  // The peers as a one-off look finds them (for `stoker targets`): the
  // static_peers, or the Ready pods of one list (without adding this host).
  static Result<std::vector<std::string>> list_peers(const ClusterConfig& cfg,
                                                     const KubernetesOptions& opts = {});
  // The peers a pod list yields: names of the Ready pods (pod role groups,
  // keyed by source) plus `self` (unless empty), sorted and unique. Pure; for tests.
  static std::vector<std::string> peers_from_pods(const std::vector<TargetGroup>& pods,
                                                  const std::string& self, bool* self_listed);

 private:
  ClusterMembership() = default;
  void publish(std::vector<std::string> peers, bool self_listed);

  ClusterConfig cfg_;
  std::unique_ptr<class KubernetesDiscoverer> kube_;
  Sink sink_;
  std::vector<TargetGroup> pods_;  // by source, the discoverer's latest groups
  mutable std::mutex mu_;
  State status_;
};

}  // namespace stoker
