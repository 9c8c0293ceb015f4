#include "collector/pprof/delta.h"

#include <algorithm>
#include <string_view>

namespace stoker::pprof {

namespace {

// Two independent 64-bit mixes give a 128-bit key; collisions are negligible.
inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}
inline uint64_t hash_str(std::string_view s, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

void DeltaState::Table::reserve(size_t n) {
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{});
  size_ = 0;
  for (const auto& s : old) {
    if (s.used) (*this)[s.key] = s.t;
  }
}

DeltaState::Totals& DeltaState::Table::operator[](const Key& k) {
  if (2 * (size_ + 1) > slots_.size()) reserve(size_ + 1 + size_);
  size_t mask = slots_.size() - 1;
  for (size_t i = k.a & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.used) {
      s.used = true;
      s.key = k;
      ++size_;
      return s.t;
    }
    if (s.key == k) return s.t;
  }
}

const DeltaState::Totals* DeltaState::Table::find(const Key& k) const {
  if (slots_.empty()) return nullptr;
  size_t mask = slots_.size() - 1;
  for (size_t i = k.a & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.used) return nullptr;
    if (s.key == k) return &s.t;
  }
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
  // Ids index dense tables when they are small (Go writes 1..N); a map otherwise.
  struct Hash2 {
    uint64_t a = 0, b = 0;
  };
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
    Hash2 h{hash_str(str(f.filename()), hash_str(str(f.name()), 1469598103934665603ull)),
            hash_str(str(f.filename()), hash_str(str(f.name()), 7809847782465536322ull))};
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

  const size_t nsamples = static_cast<size_t>(p.sample_size());
  std::vector<Key> keys(nsamples);
  Table now;
  now.reserve(nsamples);
  for (size_t i = 0; i < nsamples; ++i) {
    const auto& s = p.sample(static_cast<int>(i));
    uint64_t a = 0xabcdef, b = 0xfedcba;
    for (uint64_t id : s.location_id()) {
      Hash2 lh = loc_hash(id);
      a = mix(a, lh.a);
      b = mix(b, lh.b);
    }
    for (const auto& lab : s.label()) {
      a = mix(mix(mix(a, hash_str(str(lab.key()), 11)), hash_str(str(lab.str()), 13)),
              static_cast<uint64_t>(lab.num()));
      b = mix(mix(mix(b, hash_str(str(lab.key()), 17)), hash_str(str(lab.str()), 19)),
              static_cast<uint64_t>(lab.num()));
    }
    keys[i] = {a, b};
    Totals& t = now[keys[i]];
    for (size_t c = 0; c < ncols; ++c) t.v[c] += s.value(static_cast<int>(columns[c]));
  }

  if (!primed_) {
    prev_ = std::move(now);
    primed_ = true;
    return Result::kPrimed;
  }
  // A counter that went down anywhere means the target restarted: start over.
  bool reset = false;
  now.for_each([&](const Key& key, const Totals& t) {
    const Totals* before = prev_.find(key);
    for (size_t c = 0; before && c < ncols; ++c) reset = reset || t.v[c] < before->v[c];
  });
  if (reset) {
    prev_ = std::move(now);
    return Result::kReset;
  }
  // Each key's delta goes to its first sample; repeats of the key get zeros. Then
  // samples with nothing left in any column are dropped.
  auto* samples = p.mutable_sample();
  int out = 0;
  for (size_t i = 0; i < nsamples; ++i) {
    auto* s = samples->Mutable(static_cast<int>(i));
    Totals& t = now[keys[i]];
    bool first = !t.assigned;
    t.assigned = true;
    const Totals* base = first ? prev_.find(keys[i]) : nullptr;
    for (size_t c = 0; c < ncols; ++c) {
      s->set_value(static_cast<int>(columns[c]), first ? t.v[c] - (base ? base->v[c] : 0) : 0);
    }
    bool any = false;
    for (int64_t v : s->value()) any = any || v != 0;
    if (!any) continue;
    if (out != static_cast<int>(i)) samples->SwapElements(out, static_cast<int>(i));
    ++out;
  }
  while (samples->size() > out) samples->RemoveLast();
  prev_ = std::move(now);
  return Result::kDelta;
}

}  // namespace stoker::pprof
