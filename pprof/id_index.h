// IdIndex: a value per pprof id (location, function or mapping id) of one
// profile. Go numbers them 1..N, so a dense array indexed by id serves them
// with no hashing; ids that are sparse (other writers) fall back to a hash
// map. Absent ids read as the default value. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace stoker::pprof {

template <typename V>
class IdIndex {
 public:
  // Prepares for the ids of `items` (id_of(item) gives one), keeping the
  // allocation of a previous use.
  template <typename Items, typename IdOf>
  void reset(const Items& items, IdOf id_of) {
    uint64_t max_id = 0;
    size_t n = 0;
    for (const auto& x : items) {
      max_id = std::max<uint64_t>(max_id, id_of(x));
      ++n;
    }
    dense_ = max_id <= 4 * n + 1024;
    map_.clear();
    if (dense_) {
      vec_.assign(static_cast<size_t>(max_id) + 1, V{});
    } else {
      vec_.clear();
    }
  }
  void set(uint64_t id, const V& v) {
    if (dense_) {
      if (id < vec_.size()) vec_[id] = v;
    } else {
      map_[id] = v;
    }
  }
  // The dense array (ids below `*n`) or null when the ids are sparse: for
  // loops that look up many ids.
  const V* dense_values(size_t* n) const {
    *n = dense_ ? vec_.size() : 0;
    return dense_ ? vec_.data() : nullptr;
  }
  V get(uint64_t id) const {
    if (dense_) return id < vec_.size() ? vec_[id] : V{};
    auto it = map_.find(id);
    return it == map_.end() ? V{} : it->second;
  }

 private:
  bool dense_ = true;
  std::vector<V> vec_;
  std::unordered_map<uint64_t, V> map_;
};

}  // namespace stoker::pprof
