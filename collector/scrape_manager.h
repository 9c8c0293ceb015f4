// ScrapeManager: owns the scrape loops of every job and reconciles them with
// the target sets discovery sends (Prometheus' scrape.Manager).
//
// set_config() takes the jobs of a (re)loaded config; apply_groups() the full
// target set of one job. A loop is identified by its target's labels and
// endpoint (Target::loop_key): a new set starts loops for new keys, stops
// those whose key is gone and keeps every other loop running — with its timer,
// delta state and health. A job whose settings changed (its YAML, the global
// section or the external labels) hands its kept loops new settings at once.
// The scrape metrics of a (job, profile type) with no loop left are removed.
// Jobs with clustering enabled scrape only the targets this replica owns
// (collector/cluster.h): set_cluster() hands over a new peer list, after
// which targets this replica gains start at once and those it loses are
// drained (scraped once more, then stopped) — only the targets whose owner
// changed are touched.
// set_config(), apply_config(), apply_groups() and stop_all() run on the
// io_context's thread; snapshot(), loop_count() and delta_state() are
// thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collector/cluster.h"
#include "collector/scrape_loop.h"
#include "collector/scrape_metrics.h"
#include "collector/target.h"
#include "collector/target_status.h"
#include "config/config.h"
#include "discovery/target_group.h"
#include "ingest/pipeline.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace stoker {

class BatchWorker;
class HttpClient;

// A target as the API shows it, without health (endpoints start as unknown).
TargetStatus target_status(const Target& t);

class ScrapeManager {
 public:
  // `metrics` may be null. The loops' CPU work (decoding, deltas, labels)
  // runs on `workers` threads of the manager's own (BatchWorker; 0: half the
  // cores, at least one), each loop always on the same one.
  ScrapeManager(boost::asio::io_context& io, ingest::Pipeline* pipeline,
                ScrapeMetrics* metrics = nullptr, unsigned workers = 0);
  ~ScrapeManager();

  // Takes the jobs of `cfg`, stopping jobs no longer there; their targets
  // arrive through apply_groups(). A job whose settings changed is re-applied
  // to its last targets at once.
  void set_config(const Config& cfg);
  // set_config() plus each job's static targets, for callers without discovery.
  void apply_config(const Config& cfg);
  // Replaces the targets of job `job` (a job of the current config) with the
  // full set of `groups`. Unknown jobs are ignored.
  void apply_groups(const std::string& job, const std::vector<TargetGroup>& groups);
  // Stops every loop; later target updates are ignored.
  void stop_all();
  // This replica's peers. Until the first view (with a cluster section) the
  // clustered jobs scrape nothing; without a cluster section they scrape all
  // their targets. On the io_context's thread.
  void set_cluster(ClusterView view);
  struct ClusterStats {
    bool enabled = false;   // the config has a cluster section
    bool known = false;     // a peer list arrived
    size_t owned = 0;       // targets of clustered jobs this replica scrapes
    size_t clustered = 0;   // targets of clustered jobs, owned or not
    size_t draining = 0;    // handed over, scraped once more before stopping
    uint64_t rebalances = 0;          // peer lists applied (the first one counts)
    int64_t last_rebalance_ns = 0;    // when the last one was applied
    size_t last_gained = 0, last_lost = 0;  // targets it moved here / away
  };
  ClusterStats cluster_stats() const;
  // cluster_stats().rebalances alone (without counting the targets).
  uint64_t cluster_rebalances() const;
  std::vector<TargetStatus> snapshot() const;
  size_t loop_count() const;
  // Delta state over all loops: distinct stacks tracked and bytes held.
  std::pair<size_t, size_t> delta_state() const;

 private:
  struct Job {
    ScrapeConfig config;
    std::shared_ptr<HttpClient> client;
    std::shared_ptr<const ingest::LabelPolicy> policy;
    std::vector<TargetGroup> groups;  // last applied, for re-applying after a reload
    std::vector<Target> targets;
    bool stale = false;  // loops run with settings older than `config`
    std::map<std::string, std::shared_ptr<ScrapeLoop>> loops;  // by loop key
    // Clustered jobs: loops of targets handed to another replica, scraping
    // once more (ScrapeLoop::drain); and the loop keys owned by another
    // replica at the last apply (a key moving here from there starts at once).
    std::map<std::string, std::shared_ptr<ScrapeLoop>> draining;
    std::set<std::string> elsewhere;
    // Each target's cap on series from labels inside its profiles (shared by
    // its profile types), by the target's public labels.
    std::map<std::string, std::shared_ptr<ingest::SeriesCap>> caps;
  };
  void apply_targets(const ScrapeConfig& sc, const std::vector<TargetGroup>& groups);
  // Removes the metrics of `job`'s profile types in `types` that have no loop.
  void forget_metrics(const std::string& job, const std::set<std::string>& types,
                      const Job* remaining);

  boost::asio::io_context& io_;
  ingest::Pipeline* pipeline_;
  ScrapeMetrics* metrics_;
  Labels external_labels_;
  std::map<std::string, ScrapeConfig> configs_;  // jobs of the current config
  mutable std::mutex mu_;                        // guards jobs_ for the readers
  std::map<std::string, Job> jobs_;
  bool stopped_ = false;  // after stop_all(), target updates are ignored
  bool cluster_enabled_ = false;
  std::optional<ClusterView> cluster_;  // guarded by mu_ for the readers
  uint64_t rebalances_ = 0;
  int64_t last_rebalance_ns_ = 0;
  size_t gained_ = 0, lost_ = 0;  // by the last peer list (summed over its re-applies)
  // Last: their threads finish the jobs still queued before the rest goes.
  std::vector<std::unique_ptr<BatchWorker>> workers_;
  size_t next_worker_ = 0;  // round robin over workers_ for new loops
};

}  // namespace stoker
