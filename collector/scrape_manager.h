// ScrapeManager: owns the scrape loops of every job and reconciles them with the
// current targets.
//
// apply() receives the full target set of a job (from the config's static
// targets now; from discoverers later) and starts loops for new (target, profile
// type) pairs, stops loops that disappeared and leaves unchanged loops running.
// snapshot() describes every target with its health for the API. apply() and
// stop_all() must run on the io_context's thread; snapshot() is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "collector/scrape_loop.h"
#include "discovery/target.h"
#include "config/config.h"

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace stoker {

class Storage;
class HttpClient;
struct SelfMetrics;

struct EndpointStatus {
  std::string type;  // profile type as configured
  std::string url;
  ScrapeHealth health;
};

struct TargetStatus {
  std::string job;
  Labels discovered;
  Labels labels;         // public labels (no "__" names)
  std::string error;     // why the target cannot be scraped, if so
  bool dropped = false;  // dropped by relabel_configs
  std::vector<EndpointStatus> endpoints;
};

// A target as the API shows it, without health (endpoints start as unknown).
TargetStatus target_status(const Target& t);

class ScrapeManager {
 public:
  ScrapeManager(boost::asio::io_context& io, boost::asio::thread_pool& pool, Storage* storage,
                SelfMetrics* metrics = nullptr);
  ~ScrapeManager();

  // Takes the jobs of `cfg` (stopping jobs no longer there); their targets
  // arrive through apply_groups(). On a reload, a job whose settings changed is
  // re-applied to its last targets at once: loops whose (target, endpoint) is
  // unchanged are replaced by loops with the new settings that continue the old
  // ones' delta state and health; other jobs' loops are untouched.
  void set_config(const Config& cfg);
  // set_config() plus each job's static targets, for callers without discovery.
  void apply_config(const Config& cfg);
  // Replaces the targets of job `job` (a job of the current config) with the
  // full set of `groups`. Unknown jobs are ignored.
  void apply_groups(const std::string& job, const std::vector<TargetGroup>& groups);
  // Replaces the targets of one job.
  void apply_targets(const ScrapeConfig& sc, const std::vector<TargetGroup>& groups);
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
    std::vector<TargetGroup> groups;  // last applied, for re-applying after a reload
    std::vector<Target> targets;
    bool stale = false;  // loops run with settings older than `config`
    std::map<std::string, std::shared_ptr<ScrapeLoop>> loops;  // by loop key
  };

  boost::asio::io_context& io_;
  boost::asio::thread_pool& pool_;
  Storage* storage_;
  SelfMetrics* metrics_;
  Labels external_labels_;
  std::map<std::string, ScrapeConfig> configs_;  // jobs of the current config
  mutable std::mutex mu_;                        // guards jobs_ for snapshot()
  std::map<std::string, Job> jobs_;
  bool stopped_ = false;  // after stop_all(), target updates are ignored
};

}  // namespace stoker
