// DiscoveryManager: runs the discoverers of every job and hands the scrape
// manager full target sets (static, file_sd, http_sd, dns_sd and kubernetes_sd).
//
// Each job's state is the union of its static groups and the groups its file
// discoverers pushed, keyed by source; an empty group removes its source. When a
// job changes, its full set is sent to the sink; sends are coalesced to at most
// one per job every `coalesce` period (the first is immediate), so a burst of
// file edits costs one reconcile. The sink is called from the manager's own
// thread. start() and stop() are called from one thread; updates may arrive
// from any thread.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "discovery/dns_sd.h"
#include "discovery/file_sd.h"
#include "discovery/http_sd.h"
#include "discovery/kubernetes.h"
#include "discovery/target.h"

namespace stoker {

class DiscoveryManager {
 public:
  using Sink = std::function<void(const std::string& job, std::vector<TargetGroup> groups)>;
  DiscoveryManager(Sink sink, Duration coalesce = std::chrono::seconds(5),
                   KubernetesOptions kube_options = {});
  ~DiscoveryManager();

  // start() after stop() begins afresh with the new config (reload).
  void start(const Config& cfg);
  void stop();

  // Reads every job's targets once (no watching): for
  // `stoker targets`. Appends one message per unreadable file to `errors`.
  static std::map<std::string, std::vector<TargetGroup>> discover_once(
      const Config& cfg, std::vector<std::string>* errors,
      const KubernetesOptions& kube_options = {});

 private:
  void update(const std::string& job, const std::string& provider, std::vector<TargetGroup> groups);
  void send_loop();

  Sink sink_;
  Duration coalesce_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::map<std::string, TargetGroup>> state_;  // job → source → group
  std::set<std::string> dirty_;
  bool stopping_ = false;
  std::thread sender_;
  std::vector<std::unique_ptr<FileDiscoverer>> discoverers_;
  std::vector<std::unique_ptr<KubernetesDiscoverer>> kube_;
  std::vector<std::unique_ptr<HttpDiscoverer>> http_;
  std::vector<std::unique_ptr<DnsDiscoverer>> dns_;
  KubernetesOptions kube_options_;
};

}  // namespace stoker
