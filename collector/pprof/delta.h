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

  size_t tracked_stacks() const { return prev_.size(); }

  // At most this many cumulative columns are differenced (Go's profiles have two).
  static constexpr size_t kMaxColumns = 4;

 private:
  struct Key {
    uint64_t a, b;
    bool operator==(const Key&) const = default;
  };

  struct Totals {
    int64_t v[kMaxColumns] = {};
    bool assigned = false;  // the delta went to a sample of the current profile
  };                        // Open addressing with linear probing over well-mixed 128-bit keys: one
  // allocation per table and no per-entry nodes.
  class Table {
   public:
    void reserve(size_t n);
    Totals& operator[](const Key& k);  // inserts zeroed totals when absent
    const Totals* find(const Key& k) const;
    size_t size() const { return size_; }
    template <typename F>
    void for_each(F&& f) const {
      for (const auto& s : slots_) {
        if (s.used) f(s.key, s.t);
      }
    }

   private:
    struct Slot {
      Key key{0, 0};
      Totals t;
      bool used = false;
    };
    std::vector<Slot> slots_;
    size_t size_ = 0;
  };
  Table prev_;
  bool primed_ = false;
};

}  // namespace stoker::pprof
