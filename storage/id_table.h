// IdTable: content hash → row id, the storage writer's in-memory index of the
// symbols of the current symbol epoch. Open addressing in 16-byte slots: 96
// bits of the 128-bit hash (collisions among the millions of keys of an epoch
// are out of reach) and the id as an offset from the epoch's first id. No node
// per entry and no copy of the key, so a lookup costs a hash and usually one
// cache miss. Not thread-safe.
//
// The slots are split into 4 shards by the hash's top bits, each grown on its
// own: a growing table briefly holds one shard twice, not the whole table (at
// 300 services the stack table is 16 MiB; doubling it in one array held 24 MiB
// for a moment, the collector's RSS peak).
//
// A lookup lands on a random slot of a table larger than what the TLB maps in
// 4 KiB pages, and on a VM a TLB miss walks two page tables: shards of 2 MiB
// and more are mapped on their own, 2 MiB-aligned, with transparent huge
// pages asked for (madvise), so that the whole stack table takes a few TLB
// entries (at 300 services this halved the writer's time waiting on stack
// lookups; 16 shards of 1 MiB could not use huge pages). Fresh mappings are
// zero already: nothing to clear.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>

#include "model/hash.h"

namespace stoker {

// Zeroed memory for `bytes` (nullptr when none is left), and its release.
// At least 2 MiB: its own mapping, huge pages asked for; smaller: calloc.
void* id_table_alloc(size_t bytes);
void id_table_free(void* p, size_t bytes);

class IdTable {
 public:
  static constexpr int kShardBits = 2;
  static constexpr size_t kFirstShardSlots = 256;  // 4 shards × 256 × 16 B = 16 KiB

  // Ids are stored relative to `base` (the first id of the epoch); a table
  // cannot hold ids past base + 2^32 - 2 (full() says when one would not fit).
  explicit IdTable(int64_t base = 1) : base_(base) {}

  // The id stored for `h`, or 0.
  int64_t find(const Hash128& h) const {
    const Shard& sh = shard(h);
    if (sh.slots.empty()) return 0;
    const size_t mask = sh.slots.size() - 1;
    const uint32_t check = static_cast<uint32_t>(h.b >> 32);
    for (size_t i = h.a & mask;; i = (i + 1) & mask) {
      const Slot& s = sh.slots[i];
      if (s.offset == 0) return 0;
      if (s.a == h.a && s.b == check) return base_ + s.offset - 1;
    }
  }
  // Starts loading the slot `h` lands on (find() soon after is then cheap).
  void prefetch(const Hash128& h) const {
    const Shard& sh = shard(h);
    if (!sh.slots.empty()) __builtin_prefetch(&sh.slots[h.a & (sh.slots.size() - 1)]);
  }
  // True when `id` cannot be stored (too far past the base).
  bool full(int64_t id) const { return id < base_ || id - base_ >= int64_t{UINT32_MAX} - 1; }
  // Stores `id` for `h`, which must not be present; false when full(id).
  bool insert(const Hash128& h, int64_t id) {
    if (full(id)) return false;
    Shard& sh = shard(h);
    if (5 * (sh.size + 1) > 4 * sh.slots.size()) grow(sh);
    place(sh, Slot{h.a, static_cast<uint32_t>(h.b >> 32), static_cast<uint32_t>(id - base_ + 1)});
    ++sh.size;
    ++size_;
    return true;
  }
  // Empties the table (freeing its memory) for ids from `base` on.
  void clear(int64_t base) {
    base_ = base;
    for (Shard& sh : shards_) {
      sh.slots = Slots();
      sh.size = 0;
    }
    size_ = 0;
  }
  int64_t base() const { return base_; }
  size_t size() const { return size_; }
  size_t memory_bytes() const {
    size_t bytes = 0;
    for (const Shard& sh : shards_) bytes += sh.slots.size() * sizeof(Slot);
    return bytes;
  }

 private:
  struct Slot {
    uint64_t a = 0;
    uint32_t b = 0;       // the top 32 bits of the hash's second half
    uint32_t offset = 0;  // id - base + 1; 0: empty
  };
  static_assert(sizeof(Slot) == 16);
  // A shard's slots: a power of two of them, zeroed (see id_table_alloc).
  class Slots {
   public:
    Slots() = default;
    explicit Slots(size_t n) : p_(static_cast<Slot*>(id_table_alloc(n * sizeof(Slot)))), n_(n) {
      if (!p_) throw std::bad_alloc();
    }
    Slots(Slots&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
    Slots& operator=(Slots&& o) noexcept {
      if (this != &o) {
        release();
        p_ = o.p_, n_ = o.n_;
        o.p_ = nullptr, o.n_ = 0;
      }
      return *this;
    }
    ~Slots() { release(); }
    bool empty() const { return n_ == 0; }
    size_t size() const { return n_; }
    Slot& operator[](size_t i) { return p_[i]; }
    const Slot& operator[](size_t i) const { return p_[i]; }
    const Slot* begin() const { return p_; }
    const Slot* end() const { return p_ + n_; }

   private:
    void release() {
      if (p_) id_table_free(p_, n_ * sizeof(Slot));
    }
    Slot* p_ = nullptr;
    size_t n_ = 0;
  };
  struct Shard {
    Slots slots;
    size_t size = 0;
  };
  // A shard is chosen by the top bits of `a`, a slot in it by the low bits,
  // so a shard's slots are as evenly used as one table's would be.
  const Shard& shard(const Hash128& h) const { return shards_[h.a >> (64 - kShardBits)]; }
  Shard& shard(const Hash128& h) { return shards_[h.a >> (64 - kShardBits)]; }
  static void place(Shard& sh, const Slot& slot) {
    const size_t mask = sh.slots.size() - 1;
    size_t i = slot.a & mask;
    while (sh.slots[i].offset != 0) i = (i + 1) & mask;
    sh.slots[i] = slot;
  }
  static void grow(Shard& sh) {
    Slots old = std::move(sh.slots);
    sh.slots = Slots(old.empty() ? kFirstShardSlots : old.size() * 2);
    for (const Slot& s : old) {
      if (s.offset != 0) place(sh, s);
    }
  }
  int64_t base_;
  std::array<Shard, size_t{1} << kShardBits> shards_;
  size_t size_ = 0;
};

}  // namespace stoker
