#include "pprof/delta.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace stoker::pprof {

namespace {

// Two independent 64-bit mixes give a 128-bit key; collisions are negligible.
inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}
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

struct Hash2 {
  uint64_t a = 0, b = 0;
};

// Two 64-bit hashes of a string, eight bytes at a time.
inline Hash2 hash_bytes(std::string_view s) {
  uint64_t a = 0x9ae16a3b2f90404full ^ s.size(), b = 0xc3a5c85c97cb3127ull ^ s.size();
  auto step = [&](uint64_t w) {
    a = (a ^ w) * 0xff51afd7ed558ccdull;
    a ^= a >> 29;
    b = (b ^ w) * 0xc4ceb9fe1a85ec53ull;
    b ^= b >> 31;
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    step(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  step(tail);
  return {mix(a, 0x5bd1e995), mix(b, 0x1b873593)};
}

}  // namespace

void DeltaState::Index::clear(size_t expected) {
  size_t cap = 16;
  while (cap < 2 * expected) cap <<= 1;
  if (slots_.size() < cap || gen_ == UINT32_MAX) {
    slots_.assign(std::max(cap, slots_.size()), Slot{});
    gen_ = 1;
  } else {
    ++gen_;
  }
  keys_.clear();
  keys_.reserve(expected);
}

void DeltaState::Index::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{});
  size_t mask = slots_.size() - 1;
  for (const auto& s : old) {
    if (s.gen != gen_) continue;
    size_t i = s.key.a & mask;
    while (slots_[i].gen == gen_) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

uint32_t DeltaState::Index::insert(const Key& k) {
  if (2 * (keys_.size() + 1) > slots_.size()) grow();
  size_t mask = slots_.size() - 1;
  for (size_t i = k.a & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.gen != gen_) {
      s.key = k;
      s.gen = gen_;
      s.index = static_cast<uint32_t>(keys_.size());
      keys_.push_back(k);
      return s.index;
    }
    if (s.key == k) return s.index;
  }
}

uint32_t DeltaState::Index::find(const Key& k) const {
  if (slots_.empty()) return UINT32_MAX;
  size_t mask = slots_.size() - 1;
  for (size_t i = k.a & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.gen != gen_) return UINT32_MAX;
    if (s.key == k) return s.index;
  }
}

size_t DeltaState::memory_bytes() const {
  size_t n = 0;
  for (const Snapshot* s : {&prev_, &next_}) {
    n += s->index.memory_bytes() + s->values.capacity() * sizeof(int64_t);
  }
  return n + sample_index_.capacity() * sizeof(uint32_t) + deltas_.capacity() * sizeof(int64_t) +
         taken_.capacity();
}

std::vector<size_t> DeltaState::cumulative_columns(const perftools::profiles::Profile& p,
                                                   const std::string& series_name) {
  std::vector<std::string_view> wanted;
  if (series_name == "memory") {
    wanted = {"alloc_objects", "alloc_space"};
  } else if (series_name == "block" || series_name == "mutex") {
    wanted = {"contentions", "delay"};
  }
  std::vector<size_t> out;
  for (int i = 0; i < p.sample_type_size(); ++i) {
    auto t = static_cast<size_t>(p.sample_type(i).type());
    if (t >= static_cast<size_t>(p.string_table_size())) continue;
    for (auto w : wanted) {
      if (p.string_table(static_cast<int>(t)) == w) out.push_back(static_cast<size_t>(i));
    }
  }
  return out;
}

DeltaState::Result DeltaState::apply(perftools::profiles::Profile& p,
                                     const std::vector<size_t>& cols_in) {
  std::vector<size_t> columns(cols_in.begin(),
                              cols_in.begin() + std::min(cols_in.size(), kMaxColumns));
  const size_t ncols = columns.size();
  const auto& strings = p.string_table();
  auto str = [&](int64_t i) -> std::string_view {
    return i >= 0 && i < strings.size() ? std::string_view(strings[static_cast<int>(i)])
                                        : std::string_view();
  };
  // Each string is hashed at most once per profile.
  std::vector<Hash2> str_hash(static_cast<size_t>(strings.size()));
  std::vector<uint8_t> str_done(static_cast<size_t>(strings.size()), 0);
  auto string_hash = [&](int64_t i) -> Hash2 {
    if (i < 0 || i >= strings.size()) return {};
    auto u = static_cast<size_t>(i);
    if (!str_done[u]) {
      str_hash[u] = hash_bytes(str(i));
      str_done[u] = 1;
    }
    return str_hash[u];
  };
  // Ids index dense tables when they are small (Go writes 1..N); a map otherwise.
  auto make_table = [](size_t n, auto id_of, const auto& items) {
    uint64_t max_id = 0;
    for (const auto& x : items) max_id = std::max<uint64_t>(max_id, id_of(x));
    return max_id <= 4 * n + 1024 ? static_cast<size_t>(max_id) + 1 : 0;
  };
  size_t fn_dense = make_table(
      static_cast<size_t>(p.function_size()), [](const auto& f) { return f.id(); }, p.function());
  std::vector<Hash2> fn_vec(fn_dense);
  std::unordered_map<uint64_t, Hash2> fn_map;
  for (const auto& f : p.function()) {
    Hash2 name = string_hash(f.name()), file = string_hash(f.filename());
    Hash2 h{mix(name.a, file.a), mix(name.b, file.b)};
    if (fn_dense) {
      fn_vec[f.id()] = h;
    } else {
      fn_map[f.id()] = h;
    }
  }
  auto fn_hash = [&](uint64_t id) -> Hash2 {
    if (fn_dense) return id < fn_vec.size() ? fn_vec[id] : Hash2{};
    auto it = fn_map.find(id);
    return it == fn_map.end() ? Hash2{} : it->second;
  };
  size_t loc_dense = make_table(
      static_cast<size_t>(p.location_size()), [](const auto& l) { return l.id(); }, p.location());
  std::vector<Hash2> loc_vec(loc_dense);
  std::unordered_map<uint64_t, Hash2> loc_map;
  for (const auto& l : p.location()) {
    uint64_t a = 0x1234, b = 0x5678;
    for (const auto& line : l.line()) {
      Hash2 fh = fn_hash(line.function_id());
      a = mix(mix(a, fh.a), static_cast<uint64_t>(line.line()));
      b = mix(mix(b, fh.b), static_cast<uint64_t>(line.line()) + 1);
    }
    if (l.line_size() == 0) {  // unsymbolized: the address is all there is
      a = mix(a, l.address());
      b = mix(b, l.address() + 1);
    }
    if (loc_dense) {
      loc_vec[l.id()] = {a, b};
    } else {
      loc_map[l.id()] = {a, b};
    }
  }
  auto loc_hash = [&](uint64_t id) -> Hash2 {
    if (loc_dense) return id < loc_vec.size() ? loc_vec[id] : Hash2{};
    auto it = loc_map.find(id);
    return it == loc_map.end() ? Hash2{} : it->second;
  };

  // Pass 1, over samples: each sample's key → a dense index into this scrape's
  // snapshot (summing repeated keys), and — in the usual case of no repeated
  // keys — its delta written in place, so each sample is visited once.
  const size_t nsamples = static_cast<size_t>(p.sample_size());
  const bool diff = primed_ && prev_.ncols == ncols;
  Snapshot& now = next_;
  now.index.clear(nsamples);
  now.ncols = ncols;
  now.values.assign(nsamples * ncols, 0);  // trimmed to the distinct keys below
  sample_index_.resize(nsamples);
  taken_.assign(nsamples, 0);  // per sample here: keep it (not all zero)
  bool repeated = false, reset = false;
  auto* samples = p.mutable_sample();
  // Samples go in blocks: hash a block, prefetch the hash-table slots its keys
  // land on, then look them up, so the random memory accesses overlap.
  constexpr size_t kBlock = 16;
  Key keys[kBlock];
  for (size_t base = 0; base < nsamples; base += kBlock) {
    const size_t end = std::min(nsamples, base + kBlock);
    for (size_t i = base; i < end; ++i) {
      const auto& s = samples->Get(static_cast<int>(i));
      uint64_t a = 0, b = 0;
      const int depth = s.location_id_size();
      const uint64_t* ids = s.location_id().data();
      for (int f = 0; f < depth; ++f) {
        Hash2 lh = loc_hash(ids[f]);
        // Beyond 64 frames the multipliers repeat, scaled by another odd factor.
        uint64_t round = 2 * static_cast<uint64_t>(f >> 6) + 1;
        a += lh.a * (kPos.a[f & 63] * round);
        b += lh.b * (kPos.b[f & 63] * round);
      }
      a = mix(0xabcdef, a ^ static_cast<uint64_t>(depth));
      b = mix(0xfedcba, b ^ static_cast<uint64_t>(depth));
      for (const auto& lab : s.label()) {
        Hash2 k = string_hash(lab.key()), v = string_hash(lab.str());
        a = mix(mix(mix(a, k.a), v.a), static_cast<uint64_t>(lab.num()));
        b = mix(mix(mix(b, k.b), v.b), static_cast<uint64_t>(lab.num()));
      }
      keys[i - base] = {a, b};
      now.index.prefetch(keys[i - base]);
      if (diff) prev_.index.prefetch(keys[i - base]);
    }
    for (size_t i = base; i < end; ++i) {
      auto* s = samples->Mutable(static_cast<int>(i));
      const Key& key = keys[i - base];
      size_t before_insert = now.index.size();
      uint32_t idx = now.index.insert(key);
      sample_index_[i] = idx;
      repeated = repeated || idx < before_insert;
      int64_t* cum = &now.values[idx * ncols];
      for (size_t c = 0; c < ncols; ++c) cum[c] += s->value(static_cast<int>(columns[c]));
      if (!diff || repeated) continue;
      uint32_t old = prev_.index.find(key);
      const int64_t* prev = old == UINT32_MAX ? nullptr : &prev_.values[old * ncols];
      for (size_t c = 0; c < ncols; ++c) {
        int64_t d = cum[c] - (prev ? prev[c] : 0);
        reset = reset || d < 0;
        s->set_value(static_cast<int>(columns[c]), d);
      }
      bool any = false;
      for (int64_t v : s->value()) any = any || v != 0;
      taken_[i] = any;
    }
  }
  now.values.resize(now.index.size() * ncols);
  if (!diff) {
    std::swap(prev_, next_);
    primed_ = true;
    return Result::kPrimed;
  }

  if (repeated) {
    // Rare: some (stack, labels) occurs more than once. Redo the deltas over
    // distinct keys, give each key's delta to its first sample and zeros to its
    // repeats.
    const size_t distinct = now.index.size();
    deltas_.assign(distinct * ncols, 0);
    reset = false;
    for (size_t d = 0; d < distinct && !reset; ++d) {
      uint32_t old = prev_.index.find(now.index.key(static_cast<uint32_t>(d)));
      for (size_t c = 0; c < ncols; ++c) {
        int64_t v = now.values[d * ncols + c] -
                    (old == UINT32_MAX ? 0 : prev_.values[old * ncols + c]);
        reset = reset || v < 0;
        deltas_[d * ncols + c] = v;
      }
    }
    if (!reset) {
      std::vector<uint8_t> given(distinct, 0);
      for (size_t i = 0; i < nsamples; ++i) {
        auto* s = samples->Mutable(static_cast<int>(i));
        uint32_t idx = sample_index_[i];
        bool first = !given[idx];
        given[idx] = 1;
        for (size_t c = 0; c < ncols; ++c) {
          s->set_value(static_cast<int>(columns[c]), first ? deltas_[idx * ncols + c] : 0);
        }
        bool any = false;
        for (int64_t v : s->value()) any = any || v != 0;
        taken_[i] = any;
      }
    }
  }
  // A counter that went down anywhere means the target restarted: start over
  // from this profile (which is not used).
  if (reset) {
    std::swap(prev_, next_);
    return Result::kReset;
  }
  // Drop samples with nothing left in any column (pointer moves only).
  int out = 0;
  for (size_t i = 0; i < nsamples; ++i) {
    if (!taken_[i]) continue;
    if (out != static_cast<int>(i)) samples->SwapElements(out, static_cast<int>(i));
    ++out;
  }
  while (samples->size() > out) samples->RemoveLast();
  std::swap(prev_, next_);
  return Result::kDelta;
}

}  // namespace stoker::pprof
