// Reader: queries over a stoker database through a read-only connection.
//
// Lists stored series and rebuilds pprof profiles from the deduplicated tables,
// merging several profiles into one when asked (samples with the same stack and
// labels are summed, durations added, the earliest time kept, as `go tool pprof`
// merges). Usable while a collector writes (WAL). One Reader per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/labels.h"
#include "model/selector.h"

namespace perftools::profiles {
class Profile;
}

namespace stoker {

namespace sql {
class Db;
}

struct SeriesSummary {
  int64_t id = 0;
  Labels labels;
  int64_t profiles = 0;
  int64_t first_ns = 0, last_ns = 0;  // scrape times
  int64_t stored_bytes = 0;           // sample blocks + headers
  int64_t wire_bytes = 0;             // as received from targets
};

struct TimeRange {
  int64_t from_ns = INT64_MIN;
  int64_t until_ns = INT64_MAX;
};

// Parses the canonical `{a="b", c="d"}` form written by Labels::to_string().
Labels parse_canonical_labels(std::string_view s);

class Reader {
 public:
  // Opens `path` read-only; a failure says whether it is missing, corrupt or
  // not a stoker database.
  static Result<std::unique_ptr<Reader>> open(const std::string& path);
  ~Reader();

  // Series matching `sel` with at least one profile in `range`, ordered by labels.
  std::vector<SeriesSummary> series(const Selector& sel, const TimeRange& range);
  // Ids of the profiles matching `sel` in `range`, oldest first.
  std::vector<int64_t> profile_ids(const Selector& sel, const TimeRange& range);
  // Rebuilds and merges the given profiles into `out`. They must share sample
  // types; otherwise the failure names both.
  Status build(const std::vector<int64_t>& ids, perftools::profiles::Profile* out);
  // Convenience: every profile of one profile type matching `sel` in `range`,
  // merged into `out`; gives the number of merged profiles.
  Result<size_t> export_merged(const Selector& sel, const TimeRange& range,
                               perftools::profiles::Profile* out);

  // The read-only connection, for the query engine running on the same thread
  // (it wraps its queries and build() in one read transaction).
  sql::Db& connection();

  class Impl;

 private:
  explicit Reader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
