// Pipeline: the one path every profile takes into the store, scraped or pushed.
//
// A scrape loop hands over the body it fetched, the HTTP receiver the profile
// a client pushed (bytes, or a profile it converted from another format); both
// come with their series labels and the rules of their source. prepare() does
// the CPU work on the calling thread:
//
//   decode/validate (gunzip, pprof, limits)
//   → delta (cumulative sample types against the caller's DeltaCell, or
//     against a previous profile sent along) → prune what no sample uses
//   → split by the labels inside the profile (Pyroscope's rules: profile_id
//     is span_id; samples grouped by their string labels but span_id; a
//     group's labels join the series labels the series does not have; at
//     most the source's SeriesCap of such series, the rest in the unlabelled
//     series)
//   → labels, per resulting series: relabel (profile_relabel_configs /
//     receive.relabel_configs), drop "__" labels but __name__, external
//     labels, checks and limits, __delta__; series that end up alike merge
//   → the bytes to forward upstream (as received when unchanged)
//
// and store() queues prepared profiles for the storage writer, all or none
// (the remote_write outbox takes them from there). Its metrics count every
// profile by origin and outcome. Thread-safe: prepare() runs on any thread;
// a DeltaCell is locked while it is used.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "ingest/forward_tables.h"
#include "ingest/series_cap.h"
#include "ingest/upload.h"
#include "model/labels.h"
#include "model/metrics.h"
#include "model/relabel.h"
#include "model/status.h"
#include "pprof/delta.h"
#include "pprof/view.h"
#include "storage/storage.h"

namespace stoker::ingest {

// Where a profile comes from (the metrics' `origin` label).
enum class Origin { kScrape, kPush };
const char* origin_name(Origin o);  // scrape, push

// The delta state of one series over time, owned by its source (a scrape
// loop) and carried across reloads that keep it.
struct DeltaCell {
  std::mutex mu;
  pprof::DeltaState state;
};

// What happens to the labels of one source's profiles.
struct LabelPolicy {
  // profile_relabel_configs or receive.relabel_configs; never null.
  std::shared_ptr<const RelabelRules> relabel = std::make_shared<RelabelRules>();
  Labels external;  // external_labels: set last, overriding
  ScrapeLimits limits;
  // Pushed series must say which service they belong to; a scrape always does.
  bool require_service_name = false;
};

struct Input {
  Origin origin = Origin::kScrape;
  // The profile: `body` (raw or gzipped pprof, as received) unless `view` is
  // set (already decoded, e.g. converted from collapsed text).
  std::string body;
  std::shared_ptr<pprof::View> view;
  std::string content_type;  // explains a body that is not pprof
  std::string where;         // e.g. "HTTP 200": named in decode errors
  pprof::Limits limits;
  // The series labels before relabeling, with __name__ — or without it for a
  // pprof upload named by `sample_types` (below).
  Labels labels;
  // A pushed pprof's sample type settings (Pyroscope's sample_type_config):
  // when set, __name__ and the cumulative sample types (for `prev_body`) come
  // from the profile's sample types.
  const SampleTypeConfigs* sample_types = nullptr;
  std::shared_ptr<const LabelPolicy> policy;  // never null
  // The time stored with the profile. With `prefer_profile_time`, the
  // profile's own time when it is plausible (after 1971); the profile's time
  // is set to `time_ns` when it is not.
  int64_t time_ns = 0;
  bool prefer_profile_time = false;
  // Cumulative sample types: differenced against `delta` (state across
  // calls), or against `prev_body` (a previous cumulative profile sent along).
  // `columns` picks the sample types; unset: by __name__ (memory, block, mutex).
  std::shared_ptr<DeltaCell> delta;
  std::string_view prev_body;
  std::optional<std::vector<size_t>> columns;
  // The value of __delta__ to store ("false": upstream must not difference
  // again; "" for none).
  std::string delta_flag;
  // How many series this source's sample labels may create (null: no cap).
  std::shared_ptr<SeriesCap> series_cap;
  size_t wire_bytes = 0;  // bytes received, for the store's accounting
};

// A profile ready to store, or the reason it is not stored.
struct Prepared {
  enum class Disposition {
    kStore,    // `records` go to the store
    kDropped,  // relabeling dropped it, on purpose
    kPrimed,   // the first cumulative profile: it primed the delta state
    kReset,    // a cumulative counter went down (the target restarted): re-primed
  };
  Disposition disposition = Disposition::kStore;
  Origin origin = Origin::kScrape;
  // One per series: several when the profile was split by its sample labels
  // (they share its view; each holds its samples).
  std::vector<ProfileRecord> records;
};

// The pipeline's labels step, on its own: relabeling (nullopt: dropped), "__"
// labels but __name__ removed, external labels, checks and limits, then
// __delta__ = `delta_flag` when set. Pure; thread-safe.
Result<std::optional<Labels>> finish_labels(Labels labels, const LabelPolicy& policy,
                                            const std::string& delta_flag = "");

class Pipeline {
 public:
  // `registry` (may be null) receives the stoker_ingest_* metrics.
  Pipeline(Storage* storage, metrics::Registry* registry);
  ~Pipeline();

  // Decode → delta → prune → labels → forward bytes, on the calling thread.
  // A failure says why the profile is refused (invalid_argument for bad
  // bytes or labels, resource_exhausted for a limit).
  Result<Prepared> prepare(Input in) const;
  // Queues every record of `batch` for storage, or none (unavailable when
  // the store's queue is full); gives the ticket wait_committed() takes.
  Result<uint64_t> store(std::vector<Prepared> batch);
  // Waits until the profiles of `ticket` are committed (deadline_exceeded
  // after `timeout`).
  Status wait_committed(uint64_t ticket, std::chrono::milliseconds timeout);

  // Memory of profiles queued and not yet committed: sources wait (scrapes)
  // or refuse (pushes) while the store is behind.
  size_t pending_bytes() const;
  // Whether remote_write endpoints are running (bytes to forward are kept).
  bool forwarding() const;

  struct Metrics;

 private:
  // The gzipped pprof to forward of a profile stoker differenced, forwarded
  // whole: its symbol tables from `tables_` when they are kept there (or
  // admitted now), else pruned to what the samples use and compressed with
  // the rest.
  std::string forward_changed(pprof::View& v) const;

  Storage* storage_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<ForwardTables> tables_;
};

}  // namespace stoker::ingest
