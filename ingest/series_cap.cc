#include "ingest/series_cap.h"

#include <algorithm>
#include <vector>

namespace stoker::ingest {

SeriesCap::SeriesCap(size_t limit, std::string source, int64_t forget_after_ns)
    : limit_(limit), source_(std::move(source)), forget_after_ns_(forget_after_ns) {}

bool SeriesCap::admit(uint64_t key, int64_t now_ns) {
  if (limit_ == 0) return true;
  std::lock_guard lock(mu_);
  auto it = last_seen_.find(key);
  if (it != last_seen_.end()) {
    it->second = now_ns;
    return true;
  }
  if (last_seen_.size() >= limit_ && now_ns - last_purge_ns_ > forget_after_ns_ / 60) {
    // Series not seen for an hour no longer count (looked for at most once a
    // minute: a label with a new value per sample would otherwise scan the
    // whole table per sample).
    last_purge_ns_ = now_ns;
    std::erase_if(last_seen_, [&](const auto& e) { return now_ns - e.second > forget_after_ns_; });
  }
  if (last_seen_.size() >= limit_) {
    refused_ = true;
    return false;
  }
  last_seen_.emplace(key, now_ns);
  return true;
}

bool SeriesCap::first_refusal() {
  std::lock_guard lock(mu_);
  if (!refused_ || logged_) return false;
  logged_ = true;
  return true;
}

size_t SeriesCap::tracked() const {
  std::lock_guard lock(mu_);
  return last_seen_.size();
}

std::shared_ptr<SeriesCap> SeriesCaps::get(uint64_t key, size_t limit, const std::string& name,
                                           int64_t now_ns) {
  if (limit == 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = caps_.find(key);
  if (it == caps_.end() || it->second.cap->limit() != limit) {
    if (it == caps_.end() && caps_.size() >= max_sources_) {
      std::vector<int64_t> used;
      used.reserve(caps_.size());
      for (const auto& [k, e] : caps_) used.push_back(e.used_ns);
      auto mid = used.begin() + static_cast<std::ptrdiff_t>(used.size() / 2);
      std::nth_element(used.begin(), mid, used.end());
      int64_t cut = *mid;
      std::erase_if(caps_, [&](const auto& e) { return e.second.used_ns <= cut; });
    }
    it = caps_.insert_or_assign(key, Entry{std::make_shared<SeriesCap>(limit, name), now_ns}).first;
  }
  it->second.used_ns = now_ns;
  return it->second.cap;
}

size_t SeriesCaps::size() const {
  std::lock_guard lock(mu_);
  return caps_.size();
}

}  // namespace stoker::ingest
