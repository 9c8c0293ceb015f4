#include "ingest/forward_tables.h"

namespace stoker::ingest {

ForwardTables::ForwardTables(size_t max_bytes, size_t max_seen)
    : max_bytes_(max_bytes), max_seen_(max_seen) {}

ForwardTables::Part ForwardTables::get(const Hash128& key,
                                       const std::function<pprof::DeflatePart()>& make) {
  {
    std::lock_guard lock(mu_);
    const uint64_t now = ++tick_;
    if (auto it = entries_.find(key); it != entries_.end()) {
      it->second.last_use = now;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++stats_.hits;
      return it->second.part;
    }
    auto seen = seen_.find(key);
    if (seen == seen_.end()) {
      if (seen_.size() >= max_seen_) seen_.clear();
      seen_.emplace(key, now);
      ++stats_.skipped;
      return nullptr;
    }
    // Seen before: kept if there is room, or if the least recently used
    // entry was not used since.
    const uint64_t before = seen->second;
    if (before == kTooLarge) {
      ++stats_.skipped;
      return nullptr;
    }
    seen->second = now;
    const bool room = stats_.bytes < max_bytes_ ||
                      (!lru_.empty() && entries_.at(lru_.back()).last_use < before);
    if (!room) {
      ++stats_.skipped;
      return nullptr;
    }
  }
  Part part = std::make_shared<const pprof::DeflatePart>(make());
  std::lock_guard lock(mu_);
  if (cost(part) > max_bytes_) {
    // Larger than the whole budget: used this once, and not compressed
    // apart again (it would be at every scrape).
    if (seen_.size() >= max_seen_) seen_.clear();
    seen_[key] = kTooLarge;
    ++stats_.skipped;
    return part;
  }
  auto [it, fresh] = entries_.try_emplace(key);
  if (!fresh) return it->second.part;  // another thread was quicker
  lru_.push_front(key);
  it->second = Entry{part, tick_, lru_.begin()};
  stats_.bytes += cost(part);
  ++stats_.added;
  seen_.erase(key);
  while (stats_.bytes > max_bytes_ && lru_.back() != key) {
    auto victim = entries_.find(lru_.back());
    stats_.bytes -= cost(victim->second.part);
    entries_.erase(victim);
    lru_.pop_back();
    ++stats_.evicted;
  }
  stats_.entries = entries_.size();
  return part;
}

ForwardTables::Stats ForwardTables::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace stoker::ingest
