#include "pprof/delta.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "model/hash.h"

namespace stoker::pprof {

std::vector<size_t> DeltaState::cumulative_columns(const View& p, const std::string& series_name) {
  std::vector<std::string_view> wanted;
  if (series_name == "memory") {
    wanted = {"alloc_objects", "alloc_space"};
  } else if (series_name == "block" || series_name == "mutex") {
    wanted = {"contentions", "delay"};
  }
  std::vector<size_t> out;
  for (size_t i = 0; i < p.sample_types.size(); ++i) {
    for (auto w : wanted) {
      if (p.str(p.sample_types[i].type) == w) out.push_back(i);
    }
  }
  return out;
}

std::vector<size_t> DeltaState::cumulative_columns(const Profile& p,
                                                   const std::string& series_name) {
  return cumulative_columns(*view_of(p), series_name);
}

DeltaState::Outcome DeltaState::apply(Profile& p, const std::vector<size_t>& columns) {
  auto v = view_of(p);
  Outcome r = apply(*v, columns);
  p = v->to_proto();
  return r;
}

namespace {

// A scrape's scratch space, per thread: reused across scrapes and states.
struct Scratch {
  std::vector<std::pair<uint64_t, uint32_t>> order;  // (key, sample index)
  std::vector<uint64_t> keys;
  std::vector<uint8_t> values;  // zigzag varints, as DeltaState::values_
  std::vector<uint8_t> keep;
  std::vector<std::pair<uint64_t, uint32_t>> sorted;
  std::vector<uint32_t> bucket_end;
};

// Sorts (key, index) pairs whose keys are hashes (uniform): counted into about
// one bucket per pair by their top bits, then each bucket sorted on its own
// (one or two pairs, mostly). Linear where std::sort took a fifth of the
// delta's time.
void sort_by_hash(std::vector<std::pair<uint64_t, uint32_t>>& v, Scratch& t) {
  const size_t n = v.size();
  if (n < 64) {
    std::sort(v.begin(), v.end());
    return;
  }
  const int bits = std::min(16, 64 - __builtin_clzll(n));  // 2^bits > n
  const int shift = 64 - bits;
  t.bucket_end.assign((size_t{1} << bits) + 1, 0);
  for (const auto& e : v) ++t.bucket_end[(e.first >> shift) + 1];
  for (size_t b = 1; b < t.bucket_end.size(); ++b) t.bucket_end[b] += t.bucket_end[b - 1];
  t.sorted.resize(n);
  // bucket_end[b] is where bucket b's next pair goes; afterwards, its end.
  for (const auto& e : v) t.sorted[t.bucket_end[e.first >> shift]++] = e;
  size_t begin = 0;
  for (size_t b = 0; b + 1 < t.bucket_end.size(); ++b) {
    const size_t end = t.bucket_end[b];
    if (end - begin > 1) {
      auto* first = t.sorted.data() + begin;
      auto* last = t.sorted.data() + end;
      if (end - begin <= 16) {
        for (auto* i = first + 1; i < last; ++i) {
          auto e = *i;
          auto* j = i;
          for (; j > first && e < j[-1]; --j) *j = j[-1];
          *j = e;
        }
      } else {
        std::sort(first, last);
      }
    }
    begin = end;
  }
  v.swap(t.sorted);
}

void put_value(std::vector<uint8_t>& out, int64_t v) {
  uint64_t u = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
  while (u >= 0x80) {
    out.push_back(static_cast<uint8_t>(u | 0x80));
    u >>= 7;
  }
  out.push_back(static_cast<uint8_t>(u));
}

// The next value of a state written by put_value (0 past its end).
int64_t next_value(const uint8_t*& p, const uint8_t* end) {
  uint64_t u = 0;
  for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
    const uint8_t b = *p++;
    u |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
}

}  // namespace

DeltaState::Outcome DeltaState::apply(View& p, const std::vector<size_t>& cols_in) {
  thread_local Scratch t;
  std::vector<size_t> columns(cols_in.begin(),
                              cols_in.begin() + std::min(cols_in.size(), kMaxColumns));
  const size_t ncols = columns.size();
  // The symbols' content hashes, computed once per profile (the store uses
  // the same ones): a sample's frames are its locations' FrameSum.
  p.hash_symbols();
  auto string_hash = [&](int64_t i) { return p.string_hash(i); };

  // Each sample's key: its frames, then its labels; sorted by key.
  const size_t nsamples = p.samples.size();
  t.order.resize(nsamples);
  for (size_t i = 0; i < nsamples; ++i) {
    const auto& s = p.samples[i];
    const int depth = static_cast<int>(s.loc_count);
    HashMix m(p.symbol_hashes.frame_sums[i]);
    m.add(static_cast<uint64_t>(depth));
    for (uint32_t k = 0; k < s.label_count; ++k) {
      const auto& lab = p.labels[s.label_begin + k];
      m.add(string_hash(lab.key)).add(string_hash(lab.str)).add(static_cast<uint64_t>(lab.num));
    }
    const Hash128 key = m.done();
    t.order[i] = {key.a ^ ((key.b << 32) | (key.b >> 32)), static_cast<uint32_t>(i)};
  }
  sort_by_hash(t.order, t);

  // One pass over the keys in order, merged with the previous state (also in
  // key order): this scrape's cumulative values per key, and each key's delta
  // written into its first sample.
  const bool diff = primed_ && ncols_ == ncols;
  t.keys.clear();
  t.values.clear();
  t.keep.assign(nsamples, 0);
  bool reset = false;
  size_t prev = 0;
  const uint8_t* prev_value = values_.data();
  const uint8_t* const values_end = values_.data() + values_.size();
  int64_t cum[kMaxColumns], before[kMaxColumns];
  for (size_t g = 0; g < nsamples;) {
    // The samples are visited in key order, i.e. at random: their values
    // start loading a few groups ahead.
    if (g + 16 < nsamples) __builtin_prefetch(&p.samples[t.order[g + 16].second]);
    if (g + 8 < nsamples) __builtin_prefetch(p.sample_values(p.samples[t.order[g + 8].second]));
    const uint64_t key = t.order[g].first;
    size_t end = g;
    for (size_t c = 0; c < ncols; ++c) cum[c] = 0;
    for (; end < nsamples && t.order[end].first == key; ++end) {
      const int64_t* vals = p.sample_values(p.samples[t.order[end].second]);
      for (size_t c = 0; c < ncols; ++c) cum[c] += vals[columns[c]];
    }
    t.keys.push_back(key);
    for (size_t c = 0; c < ncols; ++c) put_value(t.values, cum[c]);
    if (diff) {
      // The previous state's values are read in step with its keys.
      for (; prev < keys_.size() && keys_[prev] < key; ++prev) {
        for (size_t c = 0; c < ncols; ++c) next_value(prev_value, values_end);
      }
      for (size_t c = 0; c < ncols; ++c) before[c] = 0;
      if (prev < keys_.size() && keys_[prev] == key) {
        for (size_t c = 0; c < ncols; ++c) before[c] = next_value(prev_value, values_end);
        ++prev;
      }
      for (size_t k = g; k < end; ++k) {
        const auto& s = p.samples[t.order[k].second];
        int64_t* vals = p.sample_values(s);
        for (size_t c = 0; c < ncols; ++c) {
          int64_t d = k == g ? cum[c] - before[c] : 0;
          reset = reset || d < 0;
          vals[columns[c]] = d;
        }
        bool any = false;
        for (uint32_t c = 0; c < s.value_count; ++c) any = any || vals[c] != 0;
        t.keep[t.order[k].second] = any;
      }
    }
    g = end;
  }
  // The new state: in place when it fits the old allocation snugly (the
  // usual case: about the same stacks as last time), else allocated to size,
  // so the state neither churns the allocator nor keeps slack.
  auto store = [](auto& dst, const auto& src) {
    if (src.size() <= dst.capacity() && dst.capacity() <= src.size() + src.size() / 8 + 16) {
      dst.assign(src.begin(), src.end());
    } else {
      dst = std::decay_t<decltype(dst)>(src.begin(), src.end());
    }
  };
  store(keys_, t.keys);
  store(values_, t.values);
  ncols_ = ncols;
  if (!diff) {
    primed_ = true;
    return Outcome::kPrimed;
  }
  // A counter that went down anywhere means the target restarted: start over
  // from this profile (which is not used).
  if (reset) return Outcome::kReset;
  // Drop samples with nothing left in any column.
  size_t out = 0;
  auto& sums = p.symbol_hashes.frame_sums;
  for (size_t i = 0; i < nsamples; ++i) {
    if (!t.keep[i]) continue;
    sums[out] = sums[i];
    p.samples[out++] = p.samples[i];
  }
  if (out != nsamples) p.symbol_hashes.every_location_used = false;  // prune() has work
  p.samples.resize(out);
  sums.resize(out);
  return Outcome::kDelta;
}

}  // namespace stoker::pprof
