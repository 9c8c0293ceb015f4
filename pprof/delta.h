// DeltaState: turns cumulative pprof profiles into deltas between scrapes, per
// (target, profile type), the way Alloy's collector-side deltas are meant to work.
//
// Only cumulative sample types are differenced: alloc_objects/alloc_space of
// memory profiles, contentions/delay of block and mutex profiles; inuse_* and
// anything else pass through. Samples are matched across scrapes by the content
// of their frames (functions, files, lines, addresses and mappings — not ids,
// which Go renumbers on every write: View::symbol_hashes) plus their labels,
// hashed to 64 bits. The state
// is the previous scrape's cumulative values in that key's order — 8 bytes of
// key and, per differenced column, the value as a zigzag varint (Go's counts
// and byte totals take 2–5 bytes, not 8) for each distinct stack, nothing
// else — so memory grows with distinct stacks, not with scrapes; the scratch
// space of a scrape is per thread, not per state. The first profile only primes
// the state; a counter that went down (the target restarted) re-primes instead of
// producing negative values. Not thread-safe: one state per scrape loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pprof/view.h"

namespace stoker::pprof {

class DeltaState {
 public:
  enum class Outcome {
    kPrimed,  // first profile: state primed, nothing to store
    kReset,   // a counter decreased: state re-primed, nothing to store
    kDelta,   // the profile now holds deltas
  };

  // Indices of the sample types that are cumulative for `series_name`
  // (memory, block, mutex); empty when nothing is to be differenced.
  static std::vector<size_t> cumulative_columns(const View& p, const std::string& series_name);

  // Differences the `columns` of `p` in place against the previous profile and
  // drops samples that became all zero. Samples with the same stack and labels
  // count as one: the first gets their delta, the others zero.
  Outcome apply(View& p, const std::vector<size_t>& columns);

  // The same on protobuf objects (converted to and from a View; not for the
  // hot path).
  static std::vector<size_t> cumulative_columns(const Profile& p, const std::string& series_name);
  Outcome apply(Profile& p, const std::vector<size_t>& columns);

  size_t tracked_stacks() const { return keys_.size(); }
  // Bytes held by the state (its two arrays).
  size_t memory_bytes() const { return keys_.capacity() * sizeof(uint64_t) + values_.capacity(); }

  // At most this many cumulative columns are differenced (Go's profiles have two).
  static constexpr size_t kMaxColumns = 4;

 private:
  std::vector<uint64_t> keys_;   // sorted, distinct
  // keys_.size() × ncols_ zigzag varints, in key order.
  std::vector<uint8_t> values_;
  size_t ncols_ = 0;
  bool primed_ = false;
};

}  // namespace stoker::pprof
