// Outbox: durable delivery state of remote_write endpoints, in the profile
// database itself.
//
// Profiles are committed locally first (Storage); each endpoint then receives
// them in commit (id) order. An endpoint's row holds `delivered_id`: every
// profile up to it was delivered or set aside, so marking a batch delivered is
// one UPDATE, a restart resumes right after it, and an endpoint costs nothing
// per profile. Profiles an endpoint rejects for good are set aside in their own
// table with the error. Retention and max_size still delete old profiles; those
// not yet delivered are counted per endpoint (Storage does that).
//
// One Outbox per thread (it owns its SQLite connections). Methods throw
// nothing; failures come back as messages.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/labels.h"
#include "model/status.h"
#include "storage/forward_cache.h"

namespace stoker {

struct OutboxItem {
  int64_t id = 0;
  int64_t ts = 0;          // scrape time, ns
  Labels labels;           // stored series labels
  // The profile to send, gzipped (shared with the forward cache, not copied);
  // null for a profile that could not be rebuilt.
  std::shared_ptr<const std::string> pprof_gzip;
};

struct OutboxStatus {
  std::string endpoint;
  int64_t delivered_id = 0;
  int64_t pending = 0;            // profiles committed after delivered_id
  int64_t oldest_pending_ns = 0;  // scrape time of the oldest of them, 0 if none
  int64_t dropped = 0;            // undelivered profiles deleted by retention/max_size
  int64_t set_aside = 0;
};

struct SetAsideEntry {
  std::string endpoint;
  int64_t profile_id = 0;
  int64_t ts = 0;
  std::string series;  // canonical labels
  int64_t at_ns = 0;
  int status = 0;
  std::string error;
};

class Outbox {
 public:
  // Opens the database at `path` (which Storage has already created).
  static Result<std::unique_ptr<Outbox>> open(const std::string& path);
  ~Outbox();

  // Makes the endpoint rows match `keys`: a new endpoint starts at the newest
  // committed profile (it receives what is scraped from now on), an endpoint
  // no longer configured is removed with its set-aside list.
  Status sync_endpoints(const std::vector<std::string>& keys);
  // The endpoint's delivery cursor; -1 when the endpoint is unknown.
  Result<int64_t> delivered_id(const std::string& key);
  // Profiles after `after_id`, oldest first: at most `max_count`, and stopping
  // once `max_bytes` of gzipped pprof is reached (always at least one). Those
  // in `cache` (may be null) are taken from it as they are; the others are
  // rebuilt from the store. Profiles that cannot be rebuilt are returned with
  // a null pprof_gzip and the reason in `broken` (same index), to be set aside.
  Status next(int64_t after_id, size_t max_count, size_t max_bytes, const ForwardCache* cache,
              std::vector<OutboxItem>* out, std::vector<std::string>* broken);
  // Marks every profile up to `id` delivered.
  Status mark_delivered(const std::string& key, int64_t id);
  // Records `item` as set aside for `key` (status 0 for a network error) and
  // moves the cursor past it.
  Status set_aside(const std::string& key, const OutboxItem& item, int status,
                   const std::string& reason);
  // The endpoint's delivery figures; not_found for an endpoint not configured.
  Result<OutboxStatus> status(const std::string& key);
  // The newest set-aside entries of `key` ("" for all endpoints).
  Result<std::vector<SetAsideEntry>> set_aside_list(const std::string& key, size_t limit);

  class Impl;

 private:
  explicit Outbox(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
