// Engine: the read side over a stoker database — profile types, label names
// and values, series, merged stacks (flame graphs, top tables, diffs, pprof) and
// series over time, with Pyroscope's semantics.
//
// Every stored series holds one or more sample types; each (series, sample
// type) is one Pyroscope series whose labels are the stored ones plus
// `__profile_type__` (name:sample_type:sample_unit:period_type:period_unit),
// `__type__`, `__unit__`, `__period_type__`, `__period_unit__` and
// `__service_name__` (`service_name` defaults to "unknown_service"), so the
// matchers Grafana and Pyroscope's UI send work as they do against Pyroscope.
//
// An Engine owns a read-only connection: a query runs in one read transaction
// (a consistent snapshot) and never blocks the collector's writer. Timelines
// read per-profile totals from an index; only merges inflate sample blocks.
// One Engine per thread; EnginePool hands them out.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/labels.h"
#include "model/profile_type.h"
#include "model/status.h"
#include "query/refine.h"
#include "query/stack_set.h"

namespace perftools::profiles {
class Profile;
}

namespace stoker::query {

struct Limits {
  // Longest time range a query may cover.
  std::chrono::milliseconds max_range{std::chrono::hours(24 * 31)};
  // Most profiles one merge may read.
  size_t max_profiles = 100'000;
  // max_nodes when a request leaves it at 0, and the largest accepted.
  int64_t default_max_nodes = 8192;
  int64_t max_nodes = 1 << 20;
  // Wall-clock budget of one query.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};

  // The limits of the config's `query` section.
  static Limits from(const QueryConfig& q) {
    Limits l;
    l.max_range = q.max_range;
    l.max_profiles = q.max_profiles;
    l.max_nodes = static_cast<int64_t>(q.max_nodes);
    l.default_max_nodes = std::min<int64_t>(l.default_max_nodes, l.max_nodes);
    l.timeout = q.timeout;
    return l;
  }
};

// What to merge: one profile type, a label selector, a time range (ms since
// the epoch, both ends inclusive), optionally only stacks under a call site
// (root-first function names), only some profiles (ids) and only the samples
// of some spans (their span_id labels as 64-bit ids: a span profile).
struct Selection {
  std::string profile_type;    // full id, e.g. process_cpu:cpu:nanoseconds:cpu:nanoseconds
  std::string label_selector;  // Prometheus selector, e.g. {service_name="api"}
  int64_t start_ms = 0, end_ms = 0;
  std::vector<std::string> call_site;
  std::vector<int64_t> profile_ids;
  std::vector<uint64_t> span_ids;  // empty: all samples
  // pprof's refine options and granularity (null: none); call_site is then
  // read at that granularity.
  std::shared_ptr<const Refiner> refine;
};

struct MergeInfo {
  ProfileTypeId type;
  size_t profiles = 0;  // how many were merged
  // Refine options that matched nothing (pprof warns of them).
  std::vector<std::string> unmatched;
};

struct SeriesQuery {
  Selection sel;
  std::vector<std::string> group_by;
  double step_s = 0;       // bucket width
  bool average = false;    // average of the profiles' totals instead of their sum
  int64_t limit = 0;       // keep the top `limit` series by total (0: all)
  bool exemplars = false;  // attach the largest profile of each point
};

struct Exemplar {
  int64_t ts_ms = 0;
  int64_t profile_id = 0;
  int64_t value = 0;
  Labels labels;
};

struct Point {
  int64_t ts_ms = 0;
  double value = 0;
  std::shared_ptr<const Exemplar> exemplar;  // null unless asked for
};

struct SeriesResult {
  std::vector<Label> labels;  // the group-by labels, in group-by order (absent ones left out)
  std::vector<Point> points;  // ascending, empty buckets left out
  double total = 0;
};

struct ProfileStats {
  bool ingested = false;
  int64_t oldest_ms = 0, newest_ms = 0;
};

class Engine {
 public:
  // Opens `path` read-only. A database written by an older stoker is upgraded
  // first (that needs write access once).
  static Result<std::unique_ptr<Engine>> open(const std::string& path, Limits limits);
  ~Engine();

  const Limits& limits() const { return limits_; }

  // Distinct profile types with data in [start, end], sorted by id.
  Status profile_types(int64_t start_ms, int64_t end_ms, std::vector<ProfileTypeId>* out);
  // Label names / values of the series matching every matcher string (ANDed;
  // none: all series) with data in range, sorted.
  Status label_names(const std::vector<std::string>& matchers, int64_t start_ms, int64_t end_ms,
                     std::vector<std::string>* out);
  Status label_values(const std::string& name, const std::vector<std::string>& matchers,
                      int64_t start_ms, int64_t end_ms, std::vector<std::string>* out);
  // Distinct label sets of matching series, projected to `label_names` (all
  // labels when empty), sorted.
  Status series(const std::vector<std::string>& matchers,
                const std::vector<std::string>& label_names, int64_t start_ms, int64_t end_ms,
                std::vector<Labels>* out);

  // The stacks of every selected profile, summed per function-name stack.
  Status merge_stacks(const Selection& sel, StackSet* out, MergeInfo* info);
  // Per-step series: points at start, start+step, … ≤ end; the point at T
  // holds the profiles with T − step < ts ≤ T (Pyroscope's buckets).
  Status select_series(const SeriesQuery& q, std::vector<SeriesResult>* out);
  // The self and total of function `name` per step (same buckets as
  // select_series): self = samples whose leaf frame is `name`, total = samples
  // with `name` anywhere in the stack (counted once).
  Status function_series(const SeriesQuery& q, const std::string& name, std::vector<Point>* self,
                         std::vector<Point>* total);
  // One pprof of the selected profiles with only the selected sample type,
  // time = end and duration = end − start, as Pyroscope's SelectMergeProfile;
  // samples keep their labels and span_id. The refine filters apply (not the
  // granularity: the profile keeps its lines).
  Status merge_pprof(const Selection& sel, perftools::profiles::Profile* out, MergeInfo* info);
  // One stored profile, every sample type, and its series labels.
  Status profile(int64_t id, perftools::profiles::Profile* out, Labels* labels);
  Status profile_stats(ProfileStats* out);

  // The full profile type a short one (`process_cpu`, `memory`) stands for: the
  // profile's default sample type if it names one, else its last sample type,
  // as pprof picks; looked up on the newest matching profile in range.
  Status default_profile_type(const std::string& name, const std::string& label_selector,
                              int64_t start_ms, int64_t end_ms, std::string* full_id);

  class Impl;

 private:
  Engine(std::unique_ptr<Impl> impl, Limits limits);
  std::unique_ptr<Impl> impl_;
  Limits limits_;
};

// A small pool of Engines on one database, for the HTTP API's query threads.
// Thread-safe.
class EnginePool {
 public:
  EnginePool(std::string path, Limits limits) : path_(std::move(path)), limits_(limits) {}

  // Hands an Engine to `fn` for the duration of the call (opening one when all
  // are busy); a failure to open comes back as an internal Status.
  template <typename Fn>
  Status with(Fn&& fn) {
    auto e = take();
    if (!e) return e.status().context("cannot open the database");
    Status s = fn(**e);
    give(std::move(*e));
    return s;
  }
  const Limits& limits() const { return limits_; }

 private:
  Result<std::unique_ptr<Engine>> take();
  void give(std::unique_ptr<Engine> e);

  std::string path_;
  Limits limits_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Engine>> idle_;
};

}  // namespace stoker::query
