#include "pprof/delta.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "model/hash.h"
#include "pprof/id_index.h"

namespace stoker::pprof {

namespace {

// Odd per-position multipliers for combining frame hashes. A stack's key is
// a sum of products (frame hash × multiplier of its position), so the frames are
// combined independently of each other — no serial dependency chain — while order
// and repetition still matter (each multiplier is odd, hence invertible).
struct PositionMultipliers {
  uint64_t a[64], b[64];
  PositionMultipliers() {
    uint64_t x = 0x2545f4914f6cdd1dull;
    auto next = [&x] {  // splitmix64
      uint64_t z = (x += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
    };
    for (int i = 0; i < 64; ++i) a[i] = next() | 1;
    for (int i = 0; i < 64; ++i) b[i] = next() | 1;
  }
};
const PositionMultipliers kPos;

}  // namespace

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
  IdIndex<Hash128> fn_hash, loc_hash;
  std::vector<std::pair<uint64_t, uint32_t>> order;  // (key, sample index)
  std::vector<uint64_t> keys;
  std::vector<int64_t> values;
  std::vector<uint8_t> keep;
};

}  // namespace

DeltaState::Outcome DeltaState::apply(View& p, const std::vector<size_t>& cols_in) {
  thread_local Scratch t;
  std::vector<size_t> columns(cols_in.begin(),
                              cols_in.begin() + std::min(cols_in.size(), kMaxColumns));
  const size_t ncols = columns.size();
  // Strings are hashed once per profile (storage uses the same hashes).
  p.hash_strings();
  auto string_hash = [&](int64_t i) { return p.string_hash(i); };
  t.fn_hash.reset(p.functions, [](const auto& f) { return f.id; });
  for (const auto& f : p.functions) {
    t.fn_hash.set(f.id, HashMix(1).add(string_hash(f.name)).add(string_hash(f.filename)).done());
  }
  t.loc_hash.reset(p.locations, [](const auto& l) { return l.id; });
  for (const auto& l : p.locations) {
    HashMix m(2);
    for (uint32_t i = 0; i < l.line_count; ++i) {
      const auto& line = p.lines[l.line_begin + i];
      m.add(t.fn_hash.get(line.function_id)).add(static_cast<uint64_t>(line.line));
    }
    if (l.line_count == 0) m.add(l.address);  // unsymbolized: the address is all there is
    t.loc_hash.set(l.id, m.done());
  }

  // Each sample's key: its frames combined by position (independently of each
  // other, so no serial dependency chain), then its labels; sorted by key.
  const size_t nsamples = p.samples.size();
  t.order.resize(nsamples);
  size_t nloc_hashes = 0;
  const Hash128* loc_hashes = t.loc_hash.dense_values(&nloc_hashes);
  auto loc_hash = [&](uint64_t id) {
    if (loc_hashes) return id < nloc_hashes ? loc_hashes[id] : Hash128{};
    return t.loc_hash.get(id);
  };
  for (size_t i = 0; i < nsamples; ++i) {
    const auto& s = p.samples[i];
    uint64_t a = 0, b = 0;
    const uint64_t* ids = p.sample_locations.data() + s.loc_begin;
    const int depth = static_cast<int>(s.loc_count);
    for (int f = 0; f < depth; ++f) {
      Hash128 lh = loc_hash(ids[f]);
      // Beyond 64 frames the multipliers repeat, scaled by another odd factor.
      uint64_t round = 2 * static_cast<uint64_t>(f >> 6) + 1;
      a += lh.a * (kPos.a[f & 63] * round);
      b += lh.b * (kPos.b[f & 63] * round);
    }
    HashMix m(Hash128{a, b});
    m.add(static_cast<uint64_t>(depth));
    for (uint32_t k = 0; k < s.label_count; ++k) {
      const auto& lab = p.labels[s.label_begin + k];
      m.add(string_hash(lab.key)).add(string_hash(lab.str)).add(static_cast<uint64_t>(lab.num));
    }
    const Hash128 key = m.done();
    t.order[i] = {key.a ^ ((key.b << 32) | (key.b >> 32)), static_cast<uint32_t>(i)};
  }
  std::sort(t.order.begin(), t.order.end());

  // One pass over the keys in order, merged with the previous state (also in
  // key order): this scrape's cumulative values per key, and each key's delta
  // written into its first sample.
  const bool diff = primed_ && ncols_ == ncols;
  t.keys.clear();
  t.values.clear();
  t.keep.assign(nsamples, 0);
  bool reset = false;
  size_t prev = 0;
  int64_t cum[kMaxColumns];
  for (size_t g = 0; g < nsamples;) {
    const uint64_t key = t.order[g].first;
    size_t end = g;
    for (size_t c = 0; c < ncols; ++c) cum[c] = 0;
    for (; end < nsamples && t.order[end].first == key; ++end) {
      const int64_t* vals = p.sample_values(p.samples[t.order[end].second]);
      for (size_t c = 0; c < ncols; ++c) cum[c] += vals[columns[c]];
    }
    t.keys.push_back(key);
    t.values.insert(t.values.end(), cum, cum + ncols);
    if (diff) {
      while (prev < keys_.size() && keys_[prev] < key) ++prev;
      const int64_t* before =
          prev < keys_.size() && keys_[prev] == key ? &values_[prev * ncols] : nullptr;
      for (size_t k = g; k < end; ++k) {
        const auto& s = p.samples[t.order[k].second];
        int64_t* vals = p.sample_values(s);
        for (size_t c = 0; c < ncols; ++c) {
          int64_t d = k == g ? cum[c] - (before ? before[c] : 0) : 0;
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
  for (size_t i = 0; i < nsamples; ++i) {
    if (t.keep[i]) p.samples[out++] = p.samples[i];
  }
  p.samples.resize(out);
  return Outcome::kDelta;
}

}  // namespace stoker::pprof
