// IdTable: content hash → row id, the storage writer's in-memory index of the
// symbols of the current symbol epoch. One flat open-addressing array of
// 16-byte slots: 96 bits of the 128-bit hash (collisions among the millions of
// keys of an epoch are out of reach) and the id as an offset from the epoch's
// first id. No node per entry and no copy of the key, so a lookup costs a
// hash and usually one cache miss. Not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "model/hash.h"

namespace stoker {

class IdTable {
 public:
  // Ids are stored relative to `base` (the first id of the epoch); a table
  // cannot hold ids past base + 2^32 - 2 (full() says when one would not fit).
  explicit IdTable(int64_t base = 1) : base_(base) {}

  // The id stored for `h`, or 0.
  int64_t find(const Hash128& h) const {
    if (slots_.empty()) return 0;
    const size_t mask = slots_.size() - 1;
    const uint32_t check = static_cast<uint32_t>(h.b >> 32);
    for (size_t i = h.a & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.offset == 0) return 0;
      if (s.a == h.a && s.b == check) return base_ + s.offset - 1;
    }
  }
  // Starts loading the slot `h` lands on (find() soon after is then cheap).
  void prefetch(const Hash128& h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h.a & (slots_.size() - 1)]);
  }
  // True when `id` cannot be stored (too far past the base).
  bool full(int64_t id) const { return id < base_ || id - base_ >= int64_t{UINT32_MAX} - 1; }
  // Stores `id` for `h`, which must not be present; false when full(id).
  bool insert(const Hash128& h, int64_t id) {
    if (full(id)) return false;
    if (5 * (size_ + 1) > 4 * slots_.size()) grow();
    place(Slot{h.a, static_cast<uint32_t>(h.b >> 32), static_cast<uint32_t>(id - base_ + 1)});
    ++size_;
    return true;
  }
  // Empties the table (freeing its memory) for ids from `base` on.
  void clear(int64_t base) {
    base_ = base;
    slots_.clear();
    slots_.shrink_to_fit();
    size_ = 0;
  }
  int64_t base() const { return base_; }
  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t a = 0;
    uint32_t b = 0;       // the top 32 bits of the hash's second half
    uint32_t offset = 0;  // id - base + 1; 0: empty
  };
  static_assert(sizeof(Slot) == 16);
  void place(const Slot& slot) {
    const size_t mask = slots_.size() - 1;
    size_t i = slot.a & mask;
    while (slots_[i].offset != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.offset != 0) place(s);
    }
  }
  int64_t base_;
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace stoker
