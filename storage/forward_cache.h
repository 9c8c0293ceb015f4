// ForwardCache: the bytes to forward of recently committed profiles, so that
// remote_write endpoints that keep up send what was received (or re-encoded
// once, in memory, for profiles stoker differenced) instead of rebuilding
// every profile from the store and compressing it again.
//
// Storage puts every profile it commits while at least one endpoint is
// registered, in commit (id) order. The entries therefore cover every profile
// committed by this process with an id ≥ first_id(): the outbox reads older
// ones (a backlog, or what was committed before a restart) from the store and
// the rest from here. An entry goes once every registered endpoint has passed
// it, or, oldest first, when the cache holds more than its byte budget (those
// are then rebuilt from the store, as a backlog). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/labels.h"

namespace stoker {

struct ForwardEntry {
  int64_t id = 0;
  int64_t ts = 0;  // scrape time, ns
  std::shared_ptr<const Labels> labels;
  // Gzipped pprof to send; null: rebuild this one from the store.
  std::shared_ptr<const std::string> pprof_gzip;
};

class ForwardCache {
 public:
  explicit ForwardCache(size_t max_bytes = 64u << 20) : max_bytes_(max_bytes) {}

  // True while some endpoint is registered: scrapers then prepare bytes to
  // forward and Storage keeps them.
  bool active() const;
  // An endpoint starts (or stops) taking from the cache; `cursor` is its
  // delivery cursor (every profile up to it is done).
  void register_endpoint(const std::string& key, int64_t cursor);
  void unregister_endpoint(const std::string& key);
  // The endpoint has delivered (or set aside) everything up to `cursor`.
  void delivered(const std::string& key, int64_t cursor);

  // Storage: profiles just committed, in id order.
  void put(std::vector<ForwardEntry> entries);
  // Storage: profiles deleted from the store (retention, max_size).
  void erase(const std::vector<int64_t>& ids);

  // The id from which every profile committed since is here, or will be (a
  // commit is put here right after it): the oldest entry's, or when every
  // entry was passed, the one after the newest put. 0 when nothing was put
  // since an endpoint registered: nothing is covered.
  int64_t first_id() const;
  // Up to `max_count` entries with ids > `after`, in id order, stopping once
  // `max_bytes` is reached (always at least one). With `covered_from` > 0,
  // nothing unless the cache still holds every profile from that id on: a
  // caller that read the store below an earlier first_id() must not skip
  // what the cache dropped since (it reads the store again instead).
  std::vector<ForwardEntry> after(int64_t after, size_t max_count, size_t max_bytes,
                                  int64_t covered_from = 0) const;

  size_t bytes() const;
  size_t size() const;

 private:
  void trim();  // requires mu_
  // The newest id put while endpoints were registered (0: none since).
  int64_t last_put_ = 0;
  size_t max_bytes_;
  mutable std::mutex mu_;
  std::deque<ForwardEntry> entries_;  // ascending ids
  std::map<std::string, int64_t> cursors_;
  size_t bytes_ = 0;
};

}  // namespace stoker
