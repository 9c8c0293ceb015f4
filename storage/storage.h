// Storage: the local SQLite profile store and its single writer thread.
//
// Profiles are appended from any thread; one writer thread owns the write
// connection and commits whatever is queued in one transaction per batch.
// Symbols (strings, mappings, functions, locations), call stacks and sample label
// sets are deduplicated across all profiles; each profile row keeps its series,
// timestamps, period, sample types and a compressed columnar block of
// (stack, label set, values, span id). A sample's `span_id` label (16 hex
// digits, as OpenTelemetry writes span ids) is stored as its 64-bit span id,
// not as a label. The queue is bounded: append() refuses work rather
// than growing without limit. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/labels.h"
#include "model/status.h"
#include "storage/forward_cache.h"

namespace perftools::profiles {
class Profile;
}
namespace stoker::pprof {
struct View;
}

namespace stoker {

struct ProfileRecord {
  Labels labels;  // series labels, including __name__
  int64_t scrape_time_ns = 0;
  // The profile: `view` (below; what scrapes produce) or, when that is null,
  // this (converted on write).
  std::shared_ptr<const perftools::profiles::Profile> profile;
  size_t wire_size = 0;  // bytes received from the target
  // The gzipped pprof to forward upstream (as received, or re-encoded once
  // when stoker changed the profile); null: rebuild it from the store. Only
  // kept while remote_write endpoints are running (forward_cache().active()).
  std::shared_ptr<const std::string> forward_gzip;
  std::shared_ptr<const pprof::View> view;
  // One series of a profile split by its sample labels: only the samples at
  // these indices of `view` (null: all of them). Records of one split share
  // the view and are appended together.
  std::shared_ptr<const std::vector<uint32_t>> samples;
  // Of a sample's string labels, keep only those its series carries with the
  // same value (the labels it was split by); span_id is always kept, as the
  // sample's span id, and numeric labels always.
  bool split_labels = false;
};

struct StorageStats {
  uint64_t profiles_written = 0;
  uint64_t batches_committed = 0;
  uint64_t write_errors = 0;
  uint64_t rejected_queue_full = 0;
  uint64_t deleted_by_retention = 0;
  uint64_t deleted_by_size = 0;
  size_t queue_depth = 0;
  uint64_t db_bytes = 0;
  uint64_t symbols_collected = 0;   // symbol rows deleted with their epoch
  size_t symbol_cache_entries = 0;  // the writer's in-memory symbol index
  size_t symbol_cache_bytes = 0;
};

// Knobs for tests and benchmarks; the collector uses the defaults.
struct StorageOptions {
  std::function<int64_t()> clock;  // unix ns for retention and epochs; default: system time
  // How long symbols are shared between profiles before a new symbol epoch
  // starts; 0: a quarter of the retention, between 1 h and 24 h.
  Duration symbol_epoch{0};
};

class Storage {
 public:
  // Opens or creates the database at cfg.path (creating its directory), checks it
  // is a stoker database, applies schema migrations and starts the writer thread.
  // A failure names the path.
  static Result<std::unique_ptr<Storage>> open(const StorageConfig& cfg,
                                               StorageOptions options = {});
  ~Storage();  // commits everything queued, then stops the writer

  // Queues a profile for writing. Fails (unavailable, with a reason) when the
  // queue is full or the store is closed; the caller reports it against its
  // target.
  Status append(ProfileRecord record);
  // Queues all of `records` or none of them (a full queue refuses the lot).
  // Gives the ticket that wait_committed() takes.
  Result<uint64_t> append_all(std::vector<ProfileRecord> records);
  // Blocks until the profiles of `ticket` are committed (true), or `timeout`
  // passes or the store gave up on them at shutdown (false).
  bool wait_committed(uint64_t ticket, std::chrono::milliseconds timeout);
  // Blocks until everything appended before the call has been committed, or
  // until `timeout` passes (a failing disk keeps profiles queued for retry).
  // Returns false on timeout.
  bool flush(std::chrono::milliseconds timeout = std::chrono::hours(24));
  // Runs retention and size enforcement now (it also runs every minute).
  void enforce_limits();
  StorageStats stats() const;
  const std::string& path() const;
  // Memory held by profiles appended but not yet committed. Scrapers wait
  // before decoding more while it is above kSoftPendingBytes (the writer is
  // behind, e.g. storing a fleet's symbols for the first time), so that what
  // waits is compressed bodies, not decoded profiles.
  size_t pending_bytes() const;
  static constexpr size_t kSoftPendingBytes = 16u << 20;
  // Id of the newest profile committed by this process (0 before the first);
  // outbox pushers poll it to learn that there is something new to deliver.
  int64_t last_committed_id() const;
  // What remote_write endpoints forward without rebuilding (see forward_cache.h).
  ForwardCache& forward_cache();

  class Impl;

 private:
  explicit Storage(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The schema version this build writes.
constexpr int kSchemaVersion = 4;

}  // namespace stoker
