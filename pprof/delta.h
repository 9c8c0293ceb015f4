// DeltaState: turns cumulative pprof profiles into deltas between scrapes, per
// (target, profile type), the way Alloy's collector-side deltas are meant to work.
//
// Only cumulative sample types are differenced: alloc_objects/alloc_space of
// memory profiles, contentions/delay of block and mutex profiles; inuse_* and
// anything else pass through. Samples are matched across scrapes by their
// resolved stack (function name, file and line of every frame, since Go renumbers
// location ids on every write) plus their labels, kept as a 128-bit hash per
// distinct stack, so memory grows with distinct stacks, not with scrapes. The
// first profile only primes the state; a counter that went down (the target
// restarted) re-primes instead of producing negative values. Not thread-safe: one
// state per scrape loop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/profile.pb.h"

namespace stoker::pprof {

class DeltaState {
 public:
  enum class Result {
    kPrimed,  // first profile: state primed, nothing to store
    kReset,   // a counter decreased: state re-primed, nothing to store
    kDelta,   // the profile now holds deltas
  };

  // Indices of the sample types that are cumulative for `series_name`
  // (memory, block, mutex); empty when nothing is to be differenced.
  static std::vector<size_t> cumulative_columns(const perftools::profiles::Profile& p,
                                                const std::string& series_name);

  // Differences the `columns` of `p` in place against the previous profile and
  // drops samples that became all zero.
  Result apply(perftools::profiles::Profile& p, const std::vector<size_t>& columns);

  size_t tracked_stacks() const { return prev_.index.size(); }
  // Bytes held by the state and its reused scratch buffers.
  size_t memory_bytes() const;

  // At most this many cumulative columns are differenced (Go's profiles have two).
  static constexpr size_t kMaxColumns = 4;

 private:
  struct Key {
    uint64_t a, b;
    bool operator==(const Key&) const = default;
  };

  // Key → dense index (0, 1, 2… in insertion order), open addressing with
  // linear probing over well-mixed keys. Values live in flat arrays indexed by
  // the dense index, so the passes over samples touch memory mostly in order.
  class Index {
   public:
    void clear(size_t expected);  // keeps the allocation when it is big enough
    // The dense index of `k`, inserting it as size() when absent.
    uint32_t insert(const Key& k);
    // The dense index of `k`, or UINT32_MAX.
    uint32_t find(const Key& k) const;
    void prefetch(const Key& k) const {
      if (!slots_.empty()) __builtin_prefetch(&slots_[k.a & (slots_.size() - 1)]);
    }
    size_t size() const { return keys_.size(); }
    size_t memory_bytes() const {
      return slots_.capacity() * sizeof(Slot) + keys_.capacity() * sizeof(Key);
    }
    const Key& key(uint32_t index) const { return keys_[index]; }

   private:
    struct Slot {
      Key key{0, 0};
      uint32_t index = 0;
      uint32_t gen = 0;  // the slot is in use when gen == gen_
    };
    void grow();
    std::vector<Slot> slots_;
    uint32_t gen_ = 1;  // bumped by clear(): no need to wipe the slots
    std::vector<Key> keys_;  // by dense index
  };

  // One scrape's cumulative values per distinct (stack, labels).
  struct Snapshot {
    Index index;
    std::vector<int64_t> values;  // size() × ncols, by dense index
    size_t ncols = 0;
  };

  Snapshot prev_, next_;  // next_ is scratch, swapped into prev_
  std::vector<uint32_t> sample_index_;
  std::vector<int64_t> deltas_;
  std::vector<uint8_t> taken_;
  bool primed_ = false;
};

}  // namespace stoker::pprof
