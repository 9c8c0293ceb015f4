// ForwardTables: the symbol tables of forwarded profiles, compressed once.
//
// A profile stoker differenced (memory allocations, block, mutex) is encoded
// and gzipped again to be forwarded. Its symbol tables (mappings, locations,
// functions, strings) are most of its bytes, and they repeat: a process that
// met no new call sites since the last scrape sends the same tables again,
// and replicas of one program may send the same ones. This cache keeps the
// tables' DEFLATE part (pprof::DeflatePart) by pprof::View::tables_key(); a
// profile that finds its tables here compresses only its samples
// (pprof::gzip_after).
//
// Admission: tables are compressed and kept the second time their key comes
// up, so tables seen once (ones that change at every scrape) cost nothing.
// Budget: at most `max_bytes` of compressed tables. A newcomer displaces the
// least recently used entries only when those were not used since the
// newcomer was last seen: a working set larger than the budget keeps the
// part that fits instead of replacing everything in turn. Tables whose part
// alone is over the budget are used once and then compressed with their
// profiles, as first-seen ones are. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "model/hash.h"
#include "pprof/compress.h"

namespace stoker::ingest {

class ForwardTables {
 public:
  using Part = std::shared_ptr<const pprof::DeflatePart>;
  // `max_seen`: how many keys seen once are remembered (the admission's
  // memory, about 50 bytes each; forgotten all at once when full).
  explicit ForwardTables(size_t max_bytes, size_t max_seen = 16384);

  // The compressed tables for `key`: kept ones, or ones `make` compresses
  // now when they are admitted (see above); null otherwise. `make` runs
  // without the lock held.
  Part get(const Hash128& key, const std::function<pprof::DeflatePart()>& make);

  struct Stats {
    uint64_t hits = 0;     // found kept
    uint64_t added = 0;    // compressed and kept
    uint64_t skipped = 0;  // not kept: first seen, or no room
    uint64_t evicted = 0;
    size_t bytes = 0;  // compressed tables kept
    size_t entries = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    Part part;
    uint64_t last_use = 0;
    std::list<Hash128>::iterator lru;  // front: most recent
  };
  size_t cost(const Part& p) const { return p->deflated.capacity() + 128; }
  // In seen_: tables whose part alone is over the budget (never kept).
  static constexpr uint64_t kTooLarge = ~uint64_t{0};

  const size_t max_bytes_, max_seen_;
  mutable std::mutex mu_;
  uint64_t tick_ = 0;  // one per get(): the clock of last_use and seen_
  std::unordered_map<Hash128, Entry, Hash128Hasher> entries_;
  std::list<Hash128> lru_;
  std::unordered_map<Hash128, uint64_t, Hash128Hasher> seen_;  // key → tick last seen
  Stats stats_;
};

}  // namespace stoker::ingest
