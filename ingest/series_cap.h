// SeriesCap: how many series the labels inside one source's profiles (a
// target's, a push source's) may create. A badly chosen pprof label (a user
// id, a counter) would otherwise make a series per value. A series seen in the
// last hour counts; beyond `limit`, a new one is refused and the pipeline
// stores its samples in the source's unlabelled series instead (nothing is
// lost, the label is). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace stoker::ingest {

class SeriesCap {
 public:
  // `limit` 0: no cap. `source` names the source in the log.
  explicit SeriesCap(size_t limit, std::string source = "",
                     int64_t forget_after_ns = 3600LL * 1'000'000'000);

  // Whether the series `key` (a hash of its labels) may be stored at `now_ns`.
  bool admit(uint64_t key, int64_t now_ns);
  // True the first time admit() refused (the pipeline logs it once).
  bool first_refusal();
  size_t limit() const { return limit_; }
  const std::string& source() const { return source_; }
  size_t tracked() const;

 private:
  size_t limit_;
  std::string source_;
  int64_t forget_after_ns_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, int64_t> last_seen_;
  int64_t last_purge_ns_ = 0;
  bool refused_ = false, logged_ = false;
};

// The caps of many sources that come and go (push clients), bounded: beyond
// `max_sources`, the half least recently used are forgotten. Thread-safe.
class SeriesCaps {
 public:
  explicit SeriesCaps(size_t max_sources = 10000) : max_sources_(max_sources) {}
  // The cap of source `key` (a hash of its labels), made with `limit` and
  // `name` when it has none or its limit changed; null when `limit` is 0.
  std::shared_ptr<SeriesCap> get(uint64_t key, size_t limit, const std::string& name,
                                 int64_t now_ns);
  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<SeriesCap> cap;
    int64_t used_ns = 0;
  };
  size_t max_sources_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> caps_;
};

}  // namespace stoker::ingest
