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
// set_config(), apply_config(), apply_groups() and stop_all() run on the
// io_context's thread; snapshot(), loop_count() and delta_state() are
// thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "collector/scrape_loop.h"
#include "collector/scrape_metrics.h"
#include "collector/target.h"
#include "collector/target_status.h"
#include "config/config.h"
#include "discovery/target_group.h"
#include "ingest/pipeline.h"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace stoker {

class HttpClient;

// A target as the API shows it, without health (endpoints start as unknown).
TargetStatus target_status(const Target& t);

class ScrapeManager {
 public:
  // `metrics` may be null.
  ScrapeManager(boost::asio::io_context& io, boost::asio::thread_pool& pool,
                ingest::Pipeline* pipeline, ScrapeMetrics* metrics = nullptr);
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
    // Each target's cap on series from labels inside its profiles (shared by
    // its profile types), by the target's public labels.
    std::map<std::string, std::shared_ptr<ingest::SeriesCap>> caps;
  };
  void apply_targets(const ScrapeConfig& sc, const std::vector<TargetGroup>& groups);
  // Removes the metrics of `job`'s profile types in `types` that have no loop.
  void forget_metrics(const std::string& job, const std::set<std::string>& types,
                      const Job* remaining);

  boost::asio::io_context& io_;
  boost::asio::thread_pool& pool_;
  ingest::Pipeline* pipeline_;
  ScrapeMetrics* metrics_;
  Labels external_labels_;
  std::map<std::string, ScrapeConfig> configs_;  // jobs of the current config
  mutable std::mutex mu_;                        // guards jobs_ for the readers
  std::map<std::string, Job> jobs_;
  bool stopped_ = false;  // after stop_all(), target updates are ignored
};

}  // namespace stoker
