// Target: one scrape target of a job, with its labels and one scrape URL per
// enabled profile type.
//
// Built from discovered target groups following Prometheus' PopulateLabels:
// group labels under target labels, then job, __scheme__, __scrape_interval__,
// __scrape_timeout__, __param_<k> and __profile_path_prefix__ when absent,
// __meta_* removed and instance defaulted to __address__. Labels starting with
// "__" stay on the target (they drive the URL) but never reach stored series.
// Plain values; safe to copy between threads.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/target_group.h"
#include "model/labels.h"

namespace stoker {

struct ProfileEndpoint {
  ProfileTypeConfig type;
  std::string url;
  Duration timeout{0};  // HTTP deadline: scrape_timeout (+ N seconds for delta types)
};

// The outcome of Prometheus' PopulateLabels for one discovered target.
struct Populated {
  Labels discovered;  // target + group labels with the scrape config defaults, before relabeling
  Labels labels;      // after relabeling, __meta_* removed, instance defaulted
  bool dropped = false;
  std::string error;                 // e.g. "no address"; exact Prometheus wording
  Duration interval{0}, timeout{0};  // from __scrape_interval__ / __scrape_timeout__
};
Populated populate_labels(const Labels& target, const Labels& group, const ScrapeConfig& sc);

struct Target {
  std::string job;
  Labels discovered;     // labels before relabeling, with the config defaults
  Labels labels;         // after population, including "__" labels
  std::string error;     // set when the target cannot be scraped (e.g. bad address)
  bool dropped = false;  // dropped by relabel_configs
  Duration interval{0};  // this target's scrape interval
  std::string owner;     // clustered jobs: the replica that owns it (collector/cluster.h)
  std::vector<ProfileEndpoint> endpoints;

  // The series labels of a profile of `type` before the ingest pipeline's
  // profile_relabel_configs and external labels: the public target labels,
  // service_name (the job's name unless the target has one) and __name__.
  Labels profile_labels(const ProfileTypeConfig& type) const;
  // Stable identity of (target, endpoint), used to key scrape loops.
  std::string loop_key(const ProfileEndpoint& ep) const;
  // The same without the timing (__scrape_interval__, __scrape_timeout__ and
  // the URL, whose ?seconds= follows the interval): a loop replaced because
  // only its timing changed continues the old one's state.
  std::string state_key(const ProfileEndpoint& ep) const;
};

// Populates labels and URLs for every target of `groups`.
std::vector<Target> build_targets(const ScrapeConfig& sc, const std::vector<TargetGroup>& groups);

// URL of `type` for a populated label set, e.g. http://host:6060/debug/pprof/profile?seconds=14.
// `delta_seconds` is N in ?seconds=N for delta types.
std::string scrape_url(const ScrapeConfig& sc, const Labels& labels, const ProfileTypeConfig& type,
                       int64_t delta_seconds);

}  // namespace stoker
