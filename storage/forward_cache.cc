#include "storage/forward_cache.h"

#include <algorithm>

namespace stoker {

namespace {
size_t entry_bytes(const ForwardEntry& e) {
  return 128 + (e.pprof_gzip ? e.pprof_gzip->size() : 0);
}
}  // namespace

bool ForwardCache::active() const {
  std::lock_guard lock(mu_);
  return !cursors_.empty();
}

void ForwardCache::register_endpoint(const std::string& key, int64_t cursor) {
  std::lock_guard lock(mu_);
  cursors_[key] = cursor;
  trim();
}

void ForwardCache::unregister_endpoint(const std::string& key) {
  std::lock_guard lock(mu_);
  cursors_.erase(key);
  if (cursors_.empty()) last_put_ = 0;  // commits are no longer put here
  trim();
}

void ForwardCache::delivered(const std::string& key, int64_t cursor) {
  std::lock_guard lock(mu_);
  auto it = cursors_.find(key);
  if (it == cursors_.end()) return;
  it->second = std::max(it->second, cursor);
  trim();
}

void ForwardCache::put(std::vector<ForwardEntry> entries) {
  std::lock_guard lock(mu_);
  if (cursors_.empty()) {
    last_put_ = 0;
    return;
  }
  for (auto& e : entries) {
    if (!entries_.empty() && e.id <= entries_.back().id) continue;  // ids only grow
    last_put_ = std::max(last_put_, e.id);
    bytes_ += entry_bytes(e);
    entries_.push_back(std::move(e));
  }
  trim();
}

void ForwardCache::erase(const std::vector<int64_t>& ids) {
  if (ids.empty()) return;
  std::lock_guard lock(mu_);
  std::vector<int64_t> sorted(ids);
  std::sort(sorted.begin(), sorted.end());
  std::deque<ForwardEntry> kept;
  for (auto& e : entries_) {
    if (std::binary_search(sorted.begin(), sorted.end(), e.id)) {
      bytes_ -= entry_bytes(e);
    } else {
      kept.push_back(std::move(e));
    }
  }
  entries_.swap(kept);
}

void ForwardCache::trim() {
  int64_t done = INT64_MAX;
  for (const auto& [key, cursor] : cursors_) done = std::min(done, cursor);
  if (cursors_.empty()) done = INT64_MAX;
  while (!entries_.empty() && (entries_.front().id <= done || bytes_ > max_bytes_)) {
    bytes_ -= entry_bytes(entries_.front());
    entries_.pop_front();
  }
}

int64_t ForwardCache::first_id() const {
  std::lock_guard lock(mu_);
  // Empty once the endpoints passed everything: what they need next is
  // still to be put, not to be rebuilt from the store. (Returning 0 here
  // sent an endpoint that had caught up to the store for the profiles a
  // commit made visible before putting them here: a rebuild and a
  // recompression of each, for seconds around every WAL checkpoint.)
  if (entries_.empty()) return last_put_ > 0 ? last_put_ + 1 : 0;
  return entries_.front().id;
}

std::vector<ForwardEntry> ForwardCache::after(int64_t after, size_t max_count, size_t max_bytes,
                                              int64_t covered_from) const {
  std::lock_guard lock(mu_);
  std::vector<ForwardEntry> out;
  if (covered_from > 0 && (entries_.empty() || entries_.front().id > covered_from)) return out;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), after,
                             [](int64_t id, const ForwardEntry& e) { return id < e.id; });
  size_t bytes = 0;
  for (; it != entries_.end() && out.size() < max_count; ++it) {
    if (!out.empty() && bytes >= max_bytes) break;
    bytes += it->pprof_gzip ? it->pprof_gzip->size() : 0;
    out.push_back(*it);
  }
  return out;
}

size_t ForwardCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

size_t ForwardCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace stoker
