// DiscoveryManager: runs the discoverers of every job and hands the scrape
// manager each job's full target set (Prometheus' discovery.Manager).
//
// Discoverers are providers keyed by their SD config (discovery/discoverer.h):
// jobs with identical SD sections share one, and apply_config() on a reload
// keeps every provider whose config did not change — running, with the groups
// it has found — so a reload with the same config sends nothing at all. A job
// that loses a provider (its config changed or went) keeps that provider's
// last groups until every provider it gained has sent its first result (or
// `retire_timeout` passes), so that a changed config never leaves the job
// without targets in between. A job's set is the union of its providers'
// groups; whenever it changes it is sent to the sink, coalesced to at most one
// send per `coalesce` period (the first is immediate), so a burst of file edits
// costs one reconcile. Runs on the process's io_context: apply_config(),
// stop() and the sink all run on its thread. Not thread-safe otherwise.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/discoverer.h"
#include "discovery/target_group.h"
#include "model/metrics.h"
#include "model/status.h"

namespace boost::asio {
class io_context;
}

namespace stoker {

class DiscoveryManager {
 public:
  using Sink = std::function<void(const std::string& job, std::vector<TargetGroup> groups)>;
  struct Options {
    Duration coalesce = std::chrono::seconds(5);
    Duration retire_timeout = std::chrono::minutes(1);
    KubernetesOptions kubernetes;
  };
  // `registry` (may be null) receives the stoker_sd_* metrics.
  DiscoveryManager(boost::asio::io_context& io, Sink sink, metrics::Registry* registry,
                   Options options);
  DiscoveryManager(boost::asio::io_context& io, Sink sink, metrics::Registry* registry = nullptr);
  ~DiscoveryManager();

  // Starts, keeps and stops providers to match the SD configs of `cfg`'s jobs.
  void apply_config(const Config& cfg);
  // Stops every discoverer; later results are ignored.
  void stop();
  // Discoverers running now (shared ones count once).
  size_t providers() const;

  // Runs every job's discovery once (no watching): for `stoker targets`.
  // Appends one failure per SD config that could not be read to `problems`.
  static std::map<std::string, std::vector<TargetGroup>> discover_once(
      const Config& cfg, std::vector<Status>* problems, const KubernetesOptions& kubernetes = {});

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
