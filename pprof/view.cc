#include "pprof/view.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "model/encoding.h"
#include "model/text.h"
#include "pprof/id_index.h"

namespace stoker::pprof {

namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLen = 2, kStartGroup = 3, kEndGroup = 4,
                   kFixed32 = 5;

// Reads protobuf wire format; ok() turns false on anything malformed and stays false.
class Wire {
 public:
  explicit Wire(std::string_view s)
      : p_(reinterpret_cast<const uint8_t*>(s.data())), end_(p_ + s.size()) {}
  bool more() const { return ok_ && p_ < end_; }
  bool ok() const { return ok_; }
  void fail() { ok_ = false; }

  __attribute__((always_inline)) uint64_t varint() {
    // Most ids, string indices, line numbers and small counts take one or
    // two bytes.
    if (end_ - p_ >= 2) {
      if (p_[0] < 0x80) return *p_++;
      if (p_[1] < 0x80) {
        uint64_t v = (p_[0] & 0x7fu) | (static_cast<uint64_t>(p_[1]) << 7);
        p_ += 2;
        return v;
      }
    }
    return varint_slow();
  }
  uint64_t varint_slow() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return fail(), 0;
      uint8_t b = *p_++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return fail(), 0;
  }
  // A tag is a varint of at most 5 bytes whose value is taken modulo 2^32,
  // as protobuf reads it (so its field number is always below 2^29).
  __attribute__((always_inline)) bool tag(uint32_t* field, uint32_t* wire) {
    if (p_ < end_ && *p_ < 0x80 && *p_ >= 8) {  // fields 1–15: one byte
      const uint32_t t = *p_++;
      *field = last_field_ = t >> 3;
      *wire = t & 7;
      return true;
    }
    return tag_slow(field, wire);
  }
  bool tag_slow(uint32_t* field, uint32_t* wire) {
    uint32_t t = 0;
    for (int i = 0;; ++i) {
      if (i == 5 || p_ >= end_) return fail(), false;
      uint8_t b = *p_++;
      t |= static_cast<uint32_t>(b & 0x7f) << (7 * i);  // bits past 32 drop out
      if (!(b & 0x80)) break;
    }
    if ((t >> 3) == 0) return fail(), false;
    *field = last_field_ = t >> 3;
    *wire = t & 7;
    return true;
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (!ok_ || n > static_cast<uint64_t>(end_ - p_)) return fail(), std::string_view();
    std::string_view out(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return out;
  }
  // Skips the field whose tag was read last, of wire type `wire` (groups
  // included, to a bounded depth; a group must end with its own field number).
  void skip(uint32_t wire, int depth = 0) {
    switch (wire) {
      case kVarint:
        varint();
        return;
      case kFixed64:
        advance(8);
        return;
      case kLen:
        bytes();
        return;
      case kFixed32:
        advance(4);
        return;
      case kStartGroup: {
        if (depth > 16) return fail();
        const uint32_t group = last_field_;
        uint32_t f, w;
        while (more() && tag(&f, &w)) {
          if (w == kEndGroup) {
            if (f != group) fail();
            return;
          }
          skip(w, depth + 1);
        }
        return fail();
      }
      default:
        return fail();
    }
  }
  // A repeated scalar field appended to `out`: one varint, or a packed run
  // of them, decoded in one pass into an array sized once (a run holds as
  // many varints as it has bytes below 0x80, and must end with one).
  template <typename Vec>
  void repeated_into(uint32_t wire, Vec& out) {
    using T = typename Vec::value_type;
    if (wire == kVarint) {
      out.push_back(static_cast<T>(varint()));
      return;
    }
    if (wire != kLen) return skip(wire);
    std::string_view run = bytes();
    if (run.empty()) return;
    const auto* b = reinterpret_cast<const uint8_t*>(run.data());
    const size_t n = run.size();
    if (b[n - 1] & 0x80) return fail();
    // Varints end at bytes below 0x80: count them eight at a time.
    size_t count = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, b + i, 8);
      const uint64_t ends = (~w & 0x8080808080808080ull) >> 7;  // 1 per byte below 0x80
      count += static_cast<size_t>((ends * 0x0101010101010101ull) >> 56);
    }
    for (; i < n; ++i) count += b[i] < 0x80;
    const size_t first = out.size();
    out.resize(first + count);
    T* dst = out.data() + first;
    // A byte with the high bit set is never the run's last, so the byte
    // after it can be read: one- and two-byte varints (Go's ids and most
    // counts) take a branch each.
    const uint8_t* p = b;
    const uint8_t* end = b + n;
    while (p < end) {
      const uint64_t c0 = p[0];
      if (c0 < 0x80) {
        *dst++ = static_cast<T>(c0);
        p += 1;
        continue;
      }
      const uint64_t c1 = p[1];
      if (c1 < 0x80) {
        *dst++ = static_cast<T>((c0 & 0x7f) | (c1 << 7));
        p += 2;
        continue;
      }
      uint64_t v = 0;
      for (unsigned shift = 0;; shift += 7) {
        if (shift >= 64) return fail();  // over ten bytes
        const uint8_t c = *p++;
        v |= static_cast<uint64_t>(c & 0x7f) << shift;
        if (c < 0x80) break;
      }
      *dst++ = static_cast<T>(v);
    }
  }
  // A singular varint field (a wrong wire type is skipped, as protobuf does).
  __attribute__((always_inline)) void scalar(uint32_t wire, uint64_t* out) {
    if (wire == kVarint) {
      *out = varint();
    } else {
      skip(wire);
    }
  }
  __attribute__((always_inline)) void scalar(uint32_t wire, int64_t* out) {
    uint64_t v = static_cast<uint64_t>(*out);
    scalar(wire, &v);
    *out = static_cast<int64_t>(v);
  }
  void scalar(uint32_t wire, bool* out) {
    uint64_t v = *out;
    scalar(wire, &v);
    *out = v != 0;
  }

 private:
  void advance(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return fail();
    p_ += n;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  uint32_t last_field_ = 0;
  bool ok_ = true;
};

// Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), with
// an ASCII fast path: function names are mostly ASCII.
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* end = p + s.size();
  const uint8_t* const begin = p;
  while (p < end) {
    uint64_t w;
    if (end - p >= 8) {
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    } else if (end - begin >= 8) {
      // The tail, as the last eight bytes (some already checked).
      std::memcpy(&w, end - 8, 8);
      if ((w & 0x8080808080808080ull) == 0) break;
    }
    const size_t n = utf8_char_length(
        std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(end - p)));
    if (n == 0) return false;
    p += n;
  }
  return true;
}

void parse_value_type(std::string_view data, View::ValueType* vt, Wire* outer) {
  Wire w(data);
  uint32_t f, t;
  while (w.more() && w.tag(&f, &t)) {
    if (f == 1) {
      w.scalar(t, &vt->type);
    } else if (f == 2) {
      w.scalar(t, &vt->unit);
    } else {
      w.skip(t);
    }
  }
  if (!w.ok()) outer->fail();
}

// The arrays grow as the parse goes: a view comes from a pool and keeps
// their capacity from one profile to the next, so past the first profiles
// nothing is reallocated. (A pre-pass that counted the messages to size them
// first cost 15 % of the parse: bench/prepare_bench.)
__attribute__((flatten)) bool parse(View& v, const Limits& limits, std::string* error) {
  const uint64_t seed = process_hash_seed();
  Wire w(v.buf);
  uint32_t field, wire;
  while (w.more() && w.tag(&field, &wire)) {
    if (field >= 1 && field <= 6 && wire != kLen) {
      w.skip(wire);  // a message or string field with another wire type: unknown
      continue;
    }
    switch (field) {
      case 1: {
        View::ValueType vt;
        parse_value_type(w.bytes(), &vt, &w);
        v.sample_types.push_back(vt);
        break;
      }
      case 2: {
        if (v.samples.size() >= limits.max_samples) {
          *error = "profile has more than " + std::to_string(limits.max_samples) +
                   " samples (the limit)";
          return false;
        }
        View::Sample s;
        s.loc_begin = static_cast<uint32_t>(v.sample_locations.size());
        s.value_begin = static_cast<uint32_t>(v.values.size());
        s.label_begin = static_cast<uint32_t>(v.labels.size());
        Wire m(w.bytes());
        uint32_t f, t;
        while (m.more() && m.tag(&f, &t)) {
          if (f == 1) {
            m.repeated_into(t, v.sample_locations);
          } else if (f == 2) {
            m.repeated_into(t, v.values);
          } else if (f == 3 && t == kLen) {
            View::Label l;
            Wire lw(m.bytes());
            uint32_t lf, lt;
            while (lw.more() && lw.tag(&lf, &lt)) {
              if (lf == 1) {
                lw.scalar(lt, &l.key);
              } else if (lf == 2) {
                lw.scalar(lt, &l.str);
              } else if (lf == 3) {
                lw.scalar(lt, &l.num);
              } else if (lf == 4) {
                lw.scalar(lt, &l.num_unit);
              } else {
                lw.skip(lt);
              }
            }
            if (!lw.ok()) m.fail();
            v.labels.push_back(l);
          } else {
            m.skip(t);
          }
        }
        if (!m.ok()) w.fail();
        s.loc_count = static_cast<uint32_t>(v.sample_locations.size() - s.loc_begin);
        s.value_count = static_cast<uint32_t>(v.values.size() - s.value_begin);
        s.label_count = static_cast<uint32_t>(v.labels.size() - s.label_begin);
        v.samples.push_back(s);
        break;
      }
      case 3: {
        View::Mapping mp;
        Wire m(w.bytes());
        uint32_t f, t;
        while (m.more() && m.tag(&f, &t)) {
          switch (f) {
            case 1:
              m.scalar(t, &mp.id);
              break;
            case 2:
              m.scalar(t, &mp.memory_start);
              break;
            case 3:
              m.scalar(t, &mp.memory_limit);
              break;
            case 4:
              m.scalar(t, &mp.file_offset);
              break;
            case 5:
              m.scalar(t, &mp.filename);
              break;
            case 6:
              m.scalar(t, &mp.build_id);
              break;
            case 7:
              m.scalar(t, &mp.has_functions);
              break;
            case 8:
              m.scalar(t, &mp.has_filenames);
              break;
            case 9:
              m.scalar(t, &mp.has_line_numbers);
              break;
            case 10:
              m.scalar(t, &mp.has_inline_frames);
              break;
            default:
              m.skip(t);
          }
        }
        if (!m.ok()) w.fail();
        v.mappings.push_back(mp);
        break;
      }
      case 4: {
        if (v.locations.size() >= limits.max_locations) {
          *error = "profile has more than " + std::to_string(limits.max_locations) +
                   " locations (the limit)";
          return false;
        }
        View::Location loc;
        loc.line_begin = static_cast<uint32_t>(v.lines.size());
        Wire m(w.bytes());
        uint32_t f, t;
        while (m.more() && m.tag(&f, &t)) {
          if (f == 1) {
            m.scalar(t, &loc.id);
          } else if (f == 2) {
            m.scalar(t, &loc.mapping_id);
          } else if (f == 3) {
            m.scalar(t, &loc.address);
          } else if (f == 4 && t == kLen) {
            View::Line line;
            Wire lw(m.bytes());
            uint32_t lf, lt;
            while (lw.more() && lw.tag(&lf, &lt)) {
              if (lf == 1) {
                lw.scalar(lt, &line.function_id);
              } else if (lf == 2) {
                lw.scalar(lt, &line.line);
              } else if (lf == 3) {
                lw.scalar(lt, &line.column);
              } else {
                lw.skip(lt);
              }
            }
            if (!lw.ok()) m.fail();
            v.lines.push_back(line);
          } else if (f == 5) {
            m.scalar(t, &loc.is_folded);
          } else {
            m.skip(t);
          }
        }
        if (!m.ok()) w.fail();
        loc.line_count = static_cast<uint32_t>(v.lines.size() - loc.line_begin);
        v.locations.push_back(loc);
        break;
      }
      case 5: {
        View::Function fn;
        Wire m(w.bytes());
        uint32_t f, t;
        while (m.more() && m.tag(&f, &t)) {
          switch (f) {
            case 1:
              m.scalar(t, &fn.id);
              break;
            case 2:
              m.scalar(t, &fn.name);
              break;
            case 3:
              m.scalar(t, &fn.system_name);
              break;
            case 4:
              m.scalar(t, &fn.filename);
              break;
            case 5:
              m.scalar(t, &fn.start_line);
              break;
            default:
              m.skip(t);
          }
        }
        if (!m.ok()) w.fail();
        v.functions.push_back(fn);
        break;
      }
      case 6: {
        std::string_view str = w.bytes();
        // Hashed (for the delta and the store) in the pass that tells ASCII;
        // proto3 strings are UTF-8, protobuf refuses a message that breaks that.
        bool ascii;
        v.string_hashes.push_back(hash_bytes_ascii(str, seed, &ascii));
        if (!ascii && !valid_utf8(str)) w.fail();
        v.strings.push_back(str);
        break;
      }
      case 7:
        w.scalar(wire, &v.drop_frames);
        break;
      case 8:
        w.scalar(wire, &v.keep_frames);
        break;
      case 9:
        w.scalar(wire, &v.time_nanos);
        break;
      case 10:
        w.scalar(wire, &v.duration_nanos);
        break;
      case 11:
        if (wire == kLen) {
          parse_value_type(w.bytes(), &v.period_type, &w);
        } else {
          w.skip(wire);
        }
        break;
      case 12:
        w.scalar(wire, &v.period);
        break;
      case 13:
        w.repeated_into(wire, v.comments);
        break;
      case 14:
        w.scalar(wire, &v.default_sample_type);
        break;
      case 15:
        w.scalar(wire, &v.doc_url);
        break;
      default:
        w.skip(wire);
    }
  }
  if (!w.ok()) {
    *error = "not a valid pprof protobuf message";
    return false;
  }
  return true;
}

// Which ids of one kind a profile defines: a dense bitmap for Go's 1..N, a
// hash set otherwise.
class IdSet {
 public:
  template <typename Items, typename IdOf>
  IdSet(const Items& items, IdOf id_of) {
    uint64_t max_id = 0;
    for (const auto& x : items) max_id = std::max<uint64_t>(max_id, id_of(x));
    dense_ = max_id <= 4 * items.size() + 1024;
    if (dense_) seen_.assign(static_cast<size_t>(max_id) + 1, 0);
  }
  // False when `id` is zero or already present.
  bool add(uint64_t id) {
    if (id == 0) return false;
    if (dense_) {
      if (id >= seen_.size() || seen_[id]) return false;
      seen_[id] = 1;
      ++added_;
      return true;
    }
    return add_sparse(id);
  }
  // add() without its answer (and without a branch on it): for marking what
  // is used, where most ids come up many times.
  void mark(uint64_t id) {
    if (!dense_) {
      if (id != 0) add_sparse(id);
    } else if (id < seen_.size()) {
      seen_[id] = 1;  // (id 0 may be marked: ids that are defined are never 0)
    }
  }
  bool has(uint64_t id) const {
    if (dense_) return id < seen_.size() && seen_[id];
    return has_sparse(id);
  }
  // Whether all of `ids` are present: for ids 1..N without a gap (Go's), a
  // check of their least and greatest, which vectorizes.
  template <typename It, typename IdOf>
  bool has_all(It begin, It end, IdOf id_of) const {
    if (dense_ && added_ + 1 == seen_.size()) {
      uint64_t lo = UINT64_MAX, hi = 0;
      for (It i = begin; i != end; ++i) {
        const uint64_t id = id_of(*i);
        lo = std::min(lo, id);
        hi = std::max(hi, id);
      }
      return begin == end || (lo >= 1 && hi < seen_.size());
    }
    for (It i = begin; i != end; ++i) {
      if (!has(id_of(*i))) return false;
    }
    return true;
  }

 private:
  __attribute__((noinline)) bool add_sparse(uint64_t id) { return set_.insert(id).second; }
  __attribute__((noinline)) bool has_sparse(uint64_t id) const { return set_.count(id) != 0; }
  bool dense_ = true;
  size_t added_ = 0;
  std::vector<uint8_t> seen_;
  std::unordered_set<uint64_t> set_;
};

// Protobuf encoding.
using enc::put_varint;
void put_tag(std::string& out, uint32_t field, uint32_t wire) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | wire);
}
void put_scalar(std::string& out, uint32_t field, uint64_t v) {
  if (v == 0) return;
  put_tag(out, field, kVarint);
  put_varint(out, v);
}
void put_scalar(std::string& out, uint32_t field, int64_t v) {
  put_scalar(out, field, static_cast<uint64_t>(v));
}
void put_bytes(std::string& out, uint32_t field, std::string_view b) {
  put_tag(out, field, kLen);
  put_varint(out, b.size());
  out.append(b);
}
template <typename T>
void put_packed(std::string& out, uint32_t field, const T* begin, size_t n, std::string& scratch) {
  if (n == 0) return;
  // Varints straight into a buffer sized for the worst case, then one append.
  scratch.resize(n * 10);
  char* p = scratch.data();
  for (size_t i = 0; i < n; ++i) {
    auto v = static_cast<uint64_t>(begin[i]);
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  }
  put_bytes(out, field, std::string_view(scratch.data(), static_cast<size_t>(p - scratch.data())));
}
std::string value_type(const View::ValueType& vt) {
  std::string m;
  put_scalar(m, 1, vt.type);
  put_scalar(m, 2, vt.unit);
  return m;
}

}  // namespace

std::string View::encode() const {
  return encode_subset(nullptr, nullptr);
}

std::string View::encode_subset(const std::vector<uint32_t>* subset,
                                const std::function<bool(const Label&)>* keep_label) const {
  std::string out;
  encode_subset_to(&out, subset, keep_label);
  return out;
}

void View::encode_subset_to(std::string* out_buf, const std::vector<uint32_t>* subset,
                            const std::function<bool(const Label&)>* keep_label) const {
  out_buf->clear();
  out_buf->reserve(buf.size() + 64);
  encode_parts(out_buf, subset, keep_label, true);
}

void View::encode_without_tables_to(std::string* out_buf) const {
  out_buf->clear();
  encode_parts(out_buf, nullptr, nullptr, false);
}

void View::encode_tables_to(std::string* out_buf) const {
  out_buf->clear();
  std::string m, sub;
  encode_tables(*out_buf, m, sub);
}

void View::encode_tables(std::string& out, std::string& m, std::string& sub) const {
  for (const auto& mp : mappings) {
    m.clear();
    put_scalar(m, 1, mp.id);
    put_scalar(m, 2, mp.memory_start);
    put_scalar(m, 3, mp.memory_limit);
    put_scalar(m, 4, mp.file_offset);
    put_scalar(m, 5, mp.filename);
    put_scalar(m, 6, mp.build_id);
    put_scalar(m, 7, static_cast<uint64_t>(mp.has_functions));
    put_scalar(m, 8, static_cast<uint64_t>(mp.has_filenames));
    put_scalar(m, 9, static_cast<uint64_t>(mp.has_line_numbers));
    put_scalar(m, 10, static_cast<uint64_t>(mp.has_inline_frames));
    put_bytes(out, 3, m);
  }
  for (const auto& loc : locations) {
    m.clear();
    put_scalar(m, 1, loc.id);
    put_scalar(m, 2, loc.mapping_id);
    put_scalar(m, 3, loc.address);
    for (uint32_t i = 0; i < loc.line_count; ++i) {
      const Line& line = lines[loc.line_begin + i];
      sub.clear();
      put_scalar(sub, 1, line.function_id);
      put_scalar(sub, 2, line.line);
      put_scalar(sub, 3, line.column);
      put_bytes(m, 4, sub);
    }
    put_scalar(m, 5, static_cast<uint64_t>(loc.is_folded));
    put_bytes(out, 4, m);
  }
  for (const auto& fn : functions) {
    m.clear();
    put_scalar(m, 1, fn.id);
    put_scalar(m, 2, fn.name);
    put_scalar(m, 3, fn.system_name);
    put_scalar(m, 4, fn.filename);
    put_scalar(m, 5, fn.start_line);
    put_bytes(out, 5, m);
  }
  for (auto s : strings) put_bytes(out, 6, s);
}

void View::encode_parts(std::string* out_buf, const std::vector<uint32_t>* subset,
                        const std::function<bool(const Label&)>* keep_label,
                        bool with_tables) const {
  std::string& out = *out_buf;
  std::string m, sub, scratch;
  for (const auto& vt : sample_types) put_bytes(out, 1, value_type(vt));
  const size_t n = subset ? subset->size() : samples.size();
  for (size_t k = 0; k < n; ++k) {
    const Sample& s = samples[subset ? (*subset)[k] : k];
    m.clear();
    put_packed(m, 1, sample_locations.data() + s.loc_begin, s.loc_count, scratch);
    put_packed(m, 2, values.data() + s.value_begin, s.value_count, scratch);
    for (uint32_t i = 0; i < s.label_count; ++i) {
      const Label& l = labels[s.label_begin + i];
      if (keep_label && !(*keep_label)(l)) continue;
      sub.clear();
      put_scalar(sub, 1, l.key);
      put_scalar(sub, 2, l.str);
      put_scalar(sub, 3, l.num);
      put_scalar(sub, 4, l.num_unit);
      put_bytes(m, 3, sub);
    }
    put_bytes(out, 2, m);
  }
  if (with_tables) encode_tables(out, m, sub);
  put_scalar(out, 7, drop_frames);
  put_scalar(out, 8, keep_frames);
  put_scalar(out, 9, time_nanos);
  put_scalar(out, 10, duration_nanos);
  if (period_type.type || period_type.unit) put_bytes(out, 11, value_type(period_type));
  put_scalar(out, 12, period);
  put_packed(out, 13, comments.data(), comments.size(), scratch);
  put_scalar(out, 14, default_sample_type);
  put_scalar(out, 15, doc_url);
}

Hash128 View::tables_key() const {
  // Strings in order, by content; mappings by their fields; locations and
  // functions by id and content hash. Two views with the same key encode
  // their tables alike but for which of two equal strings (or functions, or
  // mappings) an index names — the same profile either way.
  HashMix h(0x7ab1e5);
  h.add(strings.size()).add(mappings.size()).add(functions.size()).add(locations.size());
  for (const auto& sh : string_hashes) h.add(sh);
  for (const auto& mp : mappings) {
    h.add(mp.id).add(mp.memory_start).add(mp.memory_limit).add(mp.file_offset);
    h.add(static_cast<uint64_t>(mp.filename)).add(static_cast<uint64_t>(mp.build_id));
    h.add((mp.has_functions ? 1u : 0u) | (mp.has_filenames ? 2u : 0u) |
          (mp.has_line_numbers ? 4u : 0u) | (mp.has_inline_frames ? 8u : 0u));
  }
  for (size_t i = 0; i < functions.size(); ++i) {
    h.add(functions[i].id).add(symbol_hashes.functions[i]);
  }
  for (size_t i = 0; i < locations.size(); ++i) {
    h.add(locations[i].id).add(locations[i].mapping_id).add(symbol_hashes.locations[i]);
  }
  return h.done();
}

namespace {
// The locations `v`'s samples use, and how many.
IdSet used_locations(const View& v, size_t* count) {
  IdSet used(v.locations, [](const View::Location& l) { return l.id; });
  for (const auto& s : v.samples) {
    for (uint32_t i = 0; i < s.loc_count; ++i) used.mark(v.sample_locations[s.loc_begin + i]);
  }
  *count = 0;
  for (const auto& l : v.locations) *count += used.has(l.id);
  return used;
}
}  // namespace

size_t View::used_location_count() const {
  if (has_symbol_hashes() && symbol_hashes.every_location_used) return locations.size();
  size_t n = 0;
  used_locations(*this, &n);
  return n;
}

bool View::rename_label_key(std::string_view from, std::string_view to) {
  int64_t from_index = -1, to_index = -1;
  for (size_t i = 1; i < strings.size(); ++i) {
    if (strings[i] == from && from_index < 0) from_index = static_cast<int64_t>(i);
    if (strings[i] == to && to_index < 0) to_index = static_cast<int64_t>(i);
  }
  if (from_index < 0) return false;
  bool renamed = false;
  for (auto& l : labels) {
    if (l.key != from_index) continue;
    if (to_index < 0) {
      to_index = static_cast<int64_t>(strings.size());
      strings.push_back(to);
      if (!string_hashes.empty()) string_hashes.push_back(hash_bytes(to, process_hash_seed()));
    }
    l.key = to_index;
    renamed = true;
  }
  return renamed;
}

void View::prune() {
  // Every location used by a sample when hashed, and no sample dropped
  // since (the delta clears the flag when it drops one): nothing to drop —
  // a cumulative profile whose every stack grew.
  if (has_symbol_hashes() && symbol_hashes.every_location_used) return;
  // Locations the samples use, then what those locations use.
  size_t kept = 0;
  const IdSet used_locs = used_locations(*this, &kept);
  if (kept == locations.size()) return;  // nothing dropped anywhere

  IdSet used_fns(functions, [](const Function& f) { return f.id; });
  IdSet used_maps(mappings, [](const Mapping& m) { return m.id; });
  // Content hashes move with their symbols (they do not depend on ids or
  // string indices).
  const bool hashed = has_symbol_hashes();
  // Kept locations and their lines move down in place (no fresh arrays per
  // profile): each location's lines follow the previous location's, as the
  // parser writes them and as this keeps them, so a line is read before
  // anything is written over it.
  size_t nloc = 0, nline = 0;
  for (size_t k = 0; k < locations.size(); ++k) {
    Location l = locations[k];
    if (!used_locs.has(l.id)) continue;
    for (uint32_t i = 0; i < l.line_count; ++i) {
      const Line line = lines[l.line_begin + i];
      used_fns.mark(line.function_id);
      lines[nline + i] = line;
    }
    used_maps.mark(l.mapping_id);
    l.line_begin = static_cast<uint32_t>(nline);
    nline += l.line_count;
    if (hashed) symbol_hashes.locations[nloc] = symbol_hashes.locations[k];
    locations[nloc++] = l;
  }
  locations.resize(nloc);
  lines.resize(nline);
  size_t nfn = 0;
  for (size_t k = 0; k < functions.size(); ++k) {
    if (!used_fns.has(functions[k].id)) continue;
    if (hashed) symbol_hashes.functions[nfn] = symbol_hashes.functions[k];
    functions[nfn++] = functions[k];
  }
  functions.resize(nfn);
  if (hashed) {
    symbol_hashes.locations.resize(nloc);
    symbol_hashes.functions.resize(nfn);
    symbol_hashes.every_location_used = true;  // what is left is used: a second call returns at once
  }
  std::erase_if(mappings, [&](const Mapping& m) { return !used_maps.has(m.id); });

  // Strings: keep those still referred to, in their order, and renumber.
  thread_local std::vector<int64_t> remap;
  struct GiveBackHuge {  // after a profile of millions of strings
    ~GiveBackHuge() {
      if (remap.capacity() > (1u << 20)) std::vector<int64_t>().swap(remap);
    }
  } give_back;
  remap.assign(strings.size(), -1);
  auto use = [&](int64_t i) {
    if (i >= 0 && static_cast<size_t>(i) < remap.size()) remap[static_cast<size_t>(i)] = 0;
  };
  use(0);
  for (const auto& vt : sample_types) use(vt.type), use(vt.unit);
  use(period_type.type);
  use(period_type.unit);
  for (int64_t i : {drop_frames, keep_frames, default_sample_type, doc_url}) use(i);
  for (int64_t c : comments) use(c);
  for (const auto& m : mappings) use(m.filename), use(m.build_id);
  for (const auto& f : functions) use(f.name), use(f.system_name), use(f.filename);
  for (const auto& s : samples) {
    for (uint32_t i = 0; i < s.label_count; ++i) {
      const Label& l = labels[s.label_begin + i];
      use(l.key), use(l.str), use(l.num_unit);
    }
  }
  size_t nstr = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    if (remap[i] < 0) continue;
    remap[i] = static_cast<int64_t>(nstr);
    strings[nstr++] = strings[i];
  }
  if (nstr == strings.size()) return;
  strings.resize(nstr);
  if (!string_hashes.empty()) {
    size_t n = 0;
    for (size_t i = 0; i < remap.size(); ++i) {
      if (remap[i] >= 0) string_hashes[n++] = string_hashes[i];
    }
    string_hashes.resize(n);
  }
  auto re = [&](int64_t& i) {
    if (i >= 0 && static_cast<size_t>(i) < remap.size()) i = remap[static_cast<size_t>(i)];
  };
  for (auto& vt : sample_types) re(vt.type), re(vt.unit);
  re(period_type.type);
  re(period_type.unit);
  re(drop_frames);
  re(keep_frames);
  re(default_sample_type);
  re(doc_url);
  for (auto& c : comments) re(c);
  for (auto& m : mappings) re(m.filename), re(m.build_id);
  for (auto& f : functions) re(f.name), re(f.system_name), re(f.filename);
  // Labels of dropped samples may refer to dropped strings: only the kept
  // samples' labels are renumbered (the others are never read).
  for (const auto& s : samples) {
    for (uint32_t i = 0; i < s.label_count; ++i) {
      Label& l = labels[s.label_begin + i];
      re(l.key), re(l.str), re(l.num_unit);
    }
  }
}

Profile View::to_proto() const {
  Profile p;
  p.ParseFromString(encode());
  return p;
}

namespace {

// What is inconsistent in the profile, or "". Without `references`, the ids
// that lines and samples refer to are not looked up (decode_view() has
// hash_symbols() do it, which looks each of them up anyway).
std::string problem(const View& v, const Limits& limits, bool references = true) {
  const auto nstr = static_cast<int64_t>(v.strings.size());
  if (nstr == 0 || !v.strings[0].empty()) return "string_table[0] must be ''";
  auto bad_str = [&](int64_t i) { return i < 0 || i >= nstr; };
  if (v.sample_types.empty()) return "profile has no sample types";
  for (const auto& vt : v.sample_types) {
    if (bad_str(vt.type) || bad_str(vt.unit)) return "sample type refers to a missing string";
  }
  if (bad_str(v.period_type.type) || bad_str(v.period_type.unit)) {
    return "period type refers to a missing string";
  }
  for (int64_t i : {v.drop_frames, v.keep_frames, v.default_sample_type, v.doc_url}) {
    if (bad_str(i)) return "profile header refers to a missing string";
  }
  for (int64_t c : v.comments) {
    if (bad_str(c)) return "comment refers to a missing string";
  }
  if (v.samples.size() > limits.max_samples) {
    return "profile has " + std::to_string(v.samples.size()) + " samples, more than the limit of " +
           std::to_string(limits.max_samples);
  }
  if (v.locations.size() > limits.max_locations) {
    return "profile has " + std::to_string(v.locations.size()) +
           " locations, more than the limit of " + std::to_string(limits.max_locations);
  }
  IdSet mappings(v.mappings, [](const auto& m) { return m.id; });
  for (const auto& m : v.mappings) {
    if (!mappings.add(m.id)) return "mapping id is zero or repeated";
    if (bad_str(m.filename) || bad_str(m.build_id)) return "mapping refers to a missing string";
  }
  IdSet functions(v.functions, [](const auto& f) { return f.id; });
  for (const auto& f : v.functions) {
    if (!functions.add(f.id)) return "function id is zero or repeated";
    if (bad_str(f.name) || bad_str(f.system_name) || bad_str(f.filename)) {
      return "function refers to a missing string";
    }
  }
  IdSet locations(v.locations, [](const auto& l) { return l.id; });
  // The references are checked in bulk first; one by one only to say which
  // is missing.
  const bool lines_ok =
      !references || functions.has_all(v.lines.begin(), v.lines.end(),
                                       [](const View::Line& l) { return l.function_id; });
  for (const auto& l : v.locations) {
    if (!locations.add(l.id)) return "location id is zero or repeated";
    if (l.mapping_id != 0 && !mappings.has(l.mapping_id)) {
      return "location " + std::to_string(l.id) + " refers to missing mapping " +
             std::to_string(l.mapping_id);
    }
    for (uint32_t i = 0; !lines_ok && i < l.line_count; ++i) {
      uint64_t fn = v.lines[l.line_begin + i].function_id;
      if (!functions.has(fn)) {
        return "location " + std::to_string(l.id) + " refers to missing function " +
               std::to_string(fn);
      }
    }
  }
  const size_t nvalues = v.sample_types.size();
  const bool sample_locations_ok =
      !references || locations.has_all(v.sample_locations.begin(), v.sample_locations.end(),
                                        [](uint64_t id) { return id; });
  for (const auto& s : v.samples) {
    if (s.value_count != nvalues) {
      return "a sample has " + std::to_string(s.value_count) + " values but the profile has " +
             std::to_string(nvalues) + " sample types";
    }
    for (uint32_t i = 0; !sample_locations_ok && i < s.loc_count; ++i) {
      uint64_t id = v.sample_locations[s.loc_begin + i];
      if (!locations.has(id)) return "a sample refers to missing location " + std::to_string(id);
    }
    for (uint32_t i = 0; i < s.label_count; ++i) {
      const auto& lab = v.labels[s.label_begin + i];
      if (bad_str(lab.key) || bad_str(lab.str) || bad_str(lab.num_unit)) {
        return "a sample label refers to a missing string";
      }
    }
  }
  return "";
}

// problem()'s answer as a status: a limit is resource_exhausted; anything
// else means the bytes are not a consistent profile.
Status problem_status(const std::string& why) {
  if (why.empty()) return Status();
  return why.find("more than the limit") != std::string::npos ? Status::exhausted(why)
                                                              : Status::invalid(why);
}

}  // namespace

Status validate(const View& v, const Limits& limits) { return problem_status(problem(v, limits)); }

namespace {

// Views are reused: their buffers and arrays keep their allocations, so the
// collector does not allocate and free a profile's worth of memory per scrape.
// That matters more than the allocator's work: buffers over the mmap
// threshold (128 KiB, app/main.cc) are fresh mappings, and filling one costs a
// page fault per 4 KiB, which on a VM is a trip through the hypervisor. The
// storage writer holds a batch's views until it commits (about 100 ms of
// profiles), so the pool must hold a batch's worth to catch them when they
// come back together: up to kMaxPooled views and kMaxPooledTotal bytes,
// none over kMaxPooledBytes (a rare huge profile is given back to the system).
// Views that stayed in the pool for a whole trim period (10 s) were not needed (a
// start-up burst or a config with fewer targets now): they are freed then.
class ViewPool {
 public:
  std::shared_ptr<View> acquire() {
    std::unique_ptr<View> v;
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        v = std::move(free_.back());
        free_.pop_back();
        pooled_bytes_ -= v->memory_bytes();
      }
      low_water_ = std::min(low_water_, free_.size());
    }
    if (!v) v = std::make_unique<View>();
    return std::shared_ptr<View>(v.release(), [this](View* p) { release(p); });
  }
  ViewPoolStats stats() {
    std::lock_guard lock(mu_);
    return {free_.size(), pooled_bytes_};
  }
  void set_trim_period(std::chrono::steady_clock::duration d) {
    std::lock_guard lock(mu_);
    trim_period_ = d;
    period_start_ = std::chrono::steady_clock::now();
    low_water_ = free_.size();
  }

 private:
  static constexpr size_t kMaxPooled = 48;
  static constexpr size_t kMaxPooledBytes = 4u << 20;
  static constexpr size_t kMaxPooledTotal = 32u << 20;

  void release(View* p) {
    std::unique_ptr<View> v(p);
    v->reset();
    size_t bytes = v->memory_bytes();
    if (bytes > kMaxPooledBytes) return;
    std::vector<std::unique_ptr<View>> unused;  // freed after the lock
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    const bool trim = now - period_start_ >= trim_period_;
    if (trim) {
      // The least recently used end: the front (acquire takes from the back).
      const size_t drop = std::min(low_water_, free_.size());
      for (size_t i = 0; i < drop; ++i) {
        pooled_bytes_ -= free_[i]->memory_bytes();
        unused.push_back(std::move(free_[i]));
      }
      free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(drop));
      period_start_ = now;
    }
    if (free_.size() < kMaxPooled && pooled_bytes_ + bytes <= kMaxPooledTotal) {
      pooled_bytes_ += bytes;
      free_.push_back(std::move(v));
    }
    if (trim) low_water_ = free_.size();
  }

  std::mutex mu_;
  std::vector<std::unique_ptr<View>> free_;
  size_t pooled_bytes_ = 0;
  size_t low_water_ = 0;  // the fewest views pooled since period_start_
  std::chrono::steady_clock::duration trim_period_ = std::chrono::seconds(10);
  std::chrono::steady_clock::time_point period_start_ = std::chrono::steady_clock::now();
};

ViewPool& view_pool() {
  static auto* pool = new ViewPool;  // never destroyed: views may outlive statics
  return *pool;
}

}  // namespace

ViewPoolStats view_pool_stats() { return view_pool().stats(); }
void set_view_pool_trim_period(std::chrono::steady_clock::duration d) {
  view_pool().set_trim_period(d);
}

void View::hash_symbols() {
  hash_strings();
  if (!has_symbol_hashes()) hash_symbols(*this, string_hashes, &symbol_hashes);
}

bool View::hash_symbols(const View& v, const std::vector<Hash128>& strings, SymbolHashes* out) {
  auto sh = [&](int64_t i) {
    return i > 0 && static_cast<size_t>(i) < strings.size() ? strings[static_cast<size_t>(i)]
                                                            : Hash128{};
  };
  thread_local IdIndex<uint32_t> mapping_index, function_index, location_index;  // id → k + 1
  thread_local std::vector<Hash128> mapping_hashes;
  mapping_index.reset(v.mappings, [](const auto& m) { return m.id; });
  mapping_hashes.resize(v.mappings.size());
  for (size_t k = 0; k < v.mappings.size(); ++k) {
    const auto& m = v.mappings[k];
    mapping_index.set(m.id, static_cast<uint32_t>(k + 1));
    mapping_hashes[k] = HashMix(6)
                            .add(m.memory_start)
                            .add(m.memory_limit)
                            .add(m.file_offset)
                            .add(sh(m.filename))
                            .add(sh(m.build_id))
                            .add((m.has_functions ? 1u : 0u) | (m.has_filenames ? 2u : 0u) |
                                 (m.has_line_numbers ? 4u : 0u) | (m.has_inline_frames ? 8u : 0u))
                            .done();
  }
  function_index.reset(v.functions, [](const auto& f) { return f.id; });
  out->functions.resize(v.functions.size());
  for (size_t k = 0; k < v.functions.size(); ++k) {
    const auto& f = v.functions[k];
    function_index.set(f.id, static_cast<uint32_t>(k + 1));
    out->functions[k] = HashMix(1)
                            .add(sh(f.name))
                            .add(sh(f.system_name))
                            .add(sh(f.filename))
                            .add(static_cast<uint64_t>(f.start_line))
                            .done();
  }
  location_index.reset(v.locations, [](const auto& l) { return l.id; });
  out->locations.resize(v.locations.size());
  bool functions_found = true;
  for (size_t k = 0; k < v.locations.size(); ++k) {
    const auto& l = v.locations[k];
    location_index.set(l.id, static_cast<uint32_t>(k + 1));
    const uint32_t mk = l.mapping_id ? mapping_index.get(l.mapping_id) : 0;
    HashMix h(2);
    h.add(mk ? mapping_hashes[mk - 1] : Hash128{})
        .add(l.address)
        .add((static_cast<uint64_t>(l.line_count) << 1) | (l.is_folded ? 1 : 0));
    for (uint32_t n = 0; n < l.line_count; ++n) {
      const auto& line = v.lines[l.line_begin + n];
      const uint32_t fk = function_index.get(line.function_id);
      functions_found &= fk != 0;
      h.add(fk ? out->functions[fk - 1] : Hash128{});
      // Line and column in one word when they fit (its top bit clear), else
      // a word with the top bit set and both in full: fewer mixing steps for
      // nearly every line, and no two different lines alike.
      const auto ln = static_cast<uint64_t>(line.line), col = static_cast<uint64_t>(line.column);
      if (ln < (uint64_t{1} << 31) && col < (uint64_t{1} << 32)) {
        h.add((ln << 32) | col);
      } else {
        h.add(~uint64_t{0}).add(ln).add(col);
      }
    }
    out->locations[k] = h.done();
  }
  out->frame_sums.resize(v.samples.size());
  size_t nloc = 0;
  const uint32_t* dense = location_index.dense_values(&nloc);
  // Which locations the samples use (index k + 1; 0 collects unknown ids).
  thread_local std::vector<uint8_t> used;
  used.assign(v.locations.size() + 1, 0);
  for (size_t i = 0; i < v.samples.size(); ++i) {
    const auto& s = v.samples[i];
    const uint64_t* ids = v.sample_locations.data() + s.loc_begin;
    FrameSum frames;
    for (uint32_t f = 0; f < s.loc_count; ++f) {
      const uint32_t lk = dense ? (ids[f] < nloc ? dense[ids[f]] : 0) : location_index.get(ids[f]);
      used[lk] = 1;
      frames.add(f, lk ? out->locations[lk - 1] : Hash128{});
    }
    out->frame_sums[i] = frames.sum();
  }
  out->every_location_used =
      std::find(used.begin() + 1, used.end(), uint8_t{0}) == used.end();
  return functions_found && !used[0];
}

void View::reset() {
  // buf keeps its bytes (nothing refers to them now): the next gunzip into
  // it overwrites them instead of zero-filling that much first.
  strings.clear();
  sample_types.clear();
  period_type = {};
  period = time_nanos = duration_nanos = 0;
  drop_frames = keep_frames = default_sample_type = doc_url = 0;
  comments.clear();
  mappings.clear();
  functions.clear();
  locations.clear();
  lines.clear();
  samples.clear();
  sample_locations.clear();
  values.clear();
  labels.clear();
  string_hashes.clear();
  symbol_hashes.functions.clear();
  symbol_hashes.locations.clear();
  symbol_hashes.frame_sums.clear();
  symbol_hashes.every_location_used = false;
}

Result<std::shared_ptr<View>> decode_view(std::string_view body, const Limits& limits) {
  if (body.empty()) return Status::invalid("empty body");
  auto v = view_pool().acquire();
  if (is_gzip(body)) {
    if (Status s = gunzip(body, limits.max_decompressed, &v->buf); !s.ok()) return s;
  } else {
    if (body.size() > limits.max_decompressed) {
      return Status::exhausted("profile exceeds " + std::to_string(limits.max_decompressed) +
                               " bytes");
    }
    v->buf.assign(body);
  }
  std::string why;
  if (v->buf.size() > static_cast<size_t>(UINT32_MAX) || !parse(*v, limits, &why)) {
    if (why.empty()) why = "not a valid pprof protobuf message";
    // The parser refuses counts over the limits before storing them.
    return why.find("profile has more than") != std::string::npos ? Status::exhausted(why)
                                                                  : Status::invalid(why);
  }
  // The references of lines to functions and of samples to locations are
  // checked by hash_symbols(), which looks every one of them up to hash it
  // (looking them all up twice was most of the validation). A profile that
  // fails either is checked again in full, in order, to name its first
  // problem as validate() does.
  if (problem(*v, limits, false).empty() &&
      View::hash_symbols(*v, v->string_hashes, &v->symbol_hashes)) {
    return v;
  }
  why = problem(*v, limits);
  if (why.empty()) why = "a reference to a missing symbol";  // (not reached)
  return problem_status(why);
}

std::shared_ptr<View> view_of(const Profile& p) {
  auto d = decode_view(p.SerializeAsString(), Limits{SIZE_MAX, SIZE_MAX, SIZE_MAX});
  if (d.ok()) return *d;
  // An invalid profile still gets a view (tests build those on purpose).
  auto v = std::make_shared<View>();
  v->buf = p.SerializeAsString();
  std::string err;
  parse(*v, Limits{SIZE_MAX, SIZE_MAX, SIZE_MAX}, &err);
  return v;
}

}  // namespace stoker::pprof
