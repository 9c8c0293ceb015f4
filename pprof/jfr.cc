#include "pprof/jfr.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>

#include "model/hash.h"
#include "model/labels.h"
#include "model/text.h"

namespace stoker::pprof {

namespace {

constexpr size_t kHeaderSize = 68;
constexpr int kMaxDepth = 24;          // nesting of values and metadata elements
constexpr uint64_t kMetadataType = 0;  // event type ids the format reserves
constexpr uint64_t kCheckpointType = 1;

// ---------------------------------------------------------------------------
// Types, as the metadata event describes them.

enum class Prim : uint8_t {
  kStruct,
  kBool,
  kByte,
  kChar,
  kShort,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kString
};

struct Field {
  std::string name;
  uint64_t type = 0;
  bool cp = false;     // a constant pool reference
  bool array = false;  // dimension 1
};

struct Type {
  std::string name;
  Prim prim = Prim::kStruct;
  std::vector<Field> fields;
  int index_of(std::string_view field) const {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].name == field) return static_cast<int>(i);
    }
    return -1;
  }
};

Prim prim_of(std::string_view name) {
  static const std::pair<std::string_view, Prim> kPrims[] = {
      {"boolean", Prim::kBool}, {"byte", Prim::kByte},     {"char", Prim::kChar},
      {"short", Prim::kShort},  {"int", Prim::kInt},       {"long", Prim::kLong},
      {"float", Prim::kFloat},  {"double", Prim::kDouble}, {"java.lang.String", Prim::kString}};
  for (const auto& [n, p] : kPrims) {
    if (n == name) return p;
  }
  return Prim::kStruct;
}

// A decoded value: events and constant pool entries are decoded into these
// when they are needed, and not kept.
struct Val {
  enum class Kind : uint8_t { kNull, kInt, kFloat, kStr, kRef, kArr, kObj };
  Kind kind = Kind::kNull;
  int64_t i = 0;           // kInt; kRef: the key
  double f = 0;            // kFloat
  uint64_t type = 0;       // kRef, kObj: the type id
  std::string s;           // kStr
  std::vector<Val> items;  // kArr: elements; kObj: fields in metadata order
};

// ---------------------------------------------------------------------------
// Bounded reading of one chunk.

class In {
 public:
  In(std::string_view chunk, bool compressed) : d_(chunk), compressed_(compressed) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t pos() const { return pos_; }
  void seek(size_t p) {
    if (p > d_.size()) return fail("offset " + std::to_string(p) + " is past the chunk's end");
    pos_ = p;
  }
  size_t left() const { return d_.size() - pos_; }
  void fail(const std::string& what) {
    if (error_.empty()) error_ = "at byte " + std::to_string(pos_) + ": " + what;
  }

  uint8_t u8() {
    if (pos_ >= d_.size()) {
      fail("unexpected end of data");
      return 0;
    }
    return static_cast<uint8_t>(d_[pos_++]);
  }
  int64_t fixed(int bytes) {
    if (left() < static_cast<size_t>(bytes)) {
      fail("unexpected end of data");
      pos_ = d_.size();
      return 0;
    }
    uint64_t v = 0;
    for (int b = 0; b < bytes; ++b) v = v << 8 | static_cast<uint8_t>(d_[pos_++]);
    return static_cast<int64_t>(v);
  }
  // JFR's compressed integer: 7 bits per byte, low first, at most 9 bytes
  // (the ninth holds 8 bits).
  int64_t var() {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) {
      uint8_t c = u8();
      v |= static_cast<uint64_t>(c & 0x7f) << (7 * b);
      if (!(c & 0x80)) return static_cast<int64_t>(v);
    }
    v |= static_cast<uint64_t>(u8()) << 56;
    return static_cast<int64_t>(v);
  }
  int64_t integer(int fixed_bytes) { return compressed_ ? var() : fixed(fixed_bytes); }
  int64_t i32() { return integer(4); }
  int64_t i64() { return integer(8); }
  // A count of things each at least `min_bytes` long: never more than the
  // bytes left can hold.
  size_t count(size_t min_bytes, const char* what) {
    int64_t n = i32();
    if (n < 0 || static_cast<uint64_t>(n) > left() / std::max<size_t>(min_bytes, 1)) {
      fail(std::string("bad ") + what + " count " + std::to_string(n));
      return 0;
    }
    return static_cast<size_t>(n);
  }
  std::string_view bytes(size_t n) {
    if (left() < n) {
      fail("unexpected end of data");
      pos_ = d_.size();
      return {};
    }
    std::string_view v = d_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  bool compressed() const { return compressed_; }

 private:
  std::string_view d_;
  bool compressed_;
  size_t pos_ = 0;
  std::string error_;
};

void put_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

// Appends `b` (UTF-8 from the recording) with every byte that does not start
// a valid sequence (a stray continuation, a truncated or overlong sequence,
// a surrogate, past U+10FFFF) replaced by U+FFFD, as Java decodes it: a
// profile's strings must be valid UTF-8 (protobuf refuses anything else).
void append_utf8(std::string& out, std::string_view b) {
  for (size_t i = 0; i < b.size();) {
    const size_t n = utf8_char_length(b.substr(i));
    if (n > 0) {
      out.append(b.substr(i, n));
      i += n;
    } else {
      put_utf8(out, 0xfffd);
      ++i;
    }
  }
}

// A string in any of the format's encodings. `ref` receives a constant pool
// reference (encoding 2), when allowed.
bool read_string(In& in, std::string* out, int64_t* ref, bool* is_null) {
  out->clear();
  *is_null = false;
  uint8_t enc = in.u8();
  switch (enc) {
    case 0:
      *is_null = true;
      return in.ok();
    case 1:
      return in.ok();
    case 2:
      if (!ref) {
        in.fail("a constant pool string where none is allowed");
        return false;
      }
      *ref = in.i64();
      return in.ok();
    case 3:
    case 5: {
      size_t n = in.count(1, "string byte");
      std::string_view b = in.bytes(n);
      if (enc == 3) {
        append_utf8(*out, b);
      } else {
        for (char c : b) put_utf8(*out, static_cast<uint8_t>(c));
      }
      return in.ok();
    }
    case 4: {
      size_t n = in.count(1, "string char");
      uint32_t high = 0;
      for (size_t k = 0; k < n && in.ok(); ++k) {
        auto c = static_cast<uint32_t>(in.integer(2) & 0xffff);
        const bool low = c >= 0xdc00 && c < 0xe000;
        if (high && low) {
          put_utf8(*out, 0x10000 + ((high - 0xd800) << 10) + (c - 0xdc00));
          high = 0;
          continue;
        }
        // A surrogate without its other half is U+FFFD, as Java encodes it.
        if (high) put_utf8(*out, 0xfffd);
        high = 0;
        if (c >= 0xd800 && c < 0xdc00) {
          high = c;
        } else {
          put_utf8(*out, low ? 0xfffd : c);
        }
      }
      if (high) put_utf8(*out, 0xfffd);
      return in.ok();
    }
    default:
      in.fail("unknown string encoding " + std::to_string(enc));
      return false;
  }
}

// ---------------------------------------------------------------------------
// One chunk: its types, where its constant pool entries are, its events.

struct Element {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<Element> children;
  std::string_view attr(std::string_view key) const {
    for (const auto& [k, v] : attrs) {
      if (k == key) return v;
    }
    return {};
  }
};

class Chunk {
 public:
  Chunk(std::string_view data, bool compressed) : in_(data, compressed), data_(data) {}

  std::unordered_map<uint64_t, Type> types;
  uint64_t string_type = UINT64_MAX;

  In& in() { return in_; }

  std::optional<uint64_t> type_named(std::string_view name) const {
    for (const auto& [id, t] : types) {
      if (t.name == name) return id;
    }
    return std::nullopt;
  }

  void read_metadata(size_t offset) {
    in_.seek(offset);
    in_.i32();  // size
    if (static_cast<uint64_t>(in_.i64()) != kMetadataType) {
      return in_.fail("the metadata offset does not point at the metadata event");
    }
    in_.i64();  // start
    in_.i64();  // duration
    in_.i64();  // metadata id
    size_t n = in_.count(1, "metadata string");
    std::vector<std::string> strings(n);
    for (size_t k = 0; k < n && in_.ok(); ++k) {
      bool null = false;
      read_string(in_, &strings[k], nullptr, &null);
    }
    Element root;
    size_t budget = in_.left();  // elements: at most one per byte left
    read_element(strings, &root, 0, &budget);
    if (!in_.ok()) return;
    for (const auto& region : root.children) {
      if (region.name != "metadata") continue;
      for (const auto& cls : region.children) {
        if (cls.name != "class") continue;
        Type t;
        t.name = std::string(cls.attr("name"));
        t.prim = prim_of(t.name);
        for (const auto& f : cls.children) {
          if (f.name != "field") continue;
          Field field;
          field.name = std::string(f.attr("name"));
          field.type = std::strtoull(std::string(f.attr("class")).c_str(), nullptr, 10);
          field.cp = f.attr("constantPool") == "true";
          field.array = f.attr("dimension") == "1";
          t.fields.push_back(std::move(field));
        }
        uint64_t id = std::strtoull(std::string(cls.attr("id")).c_str(), nullptr, 10);
        if (t.prim == Prim::kString) string_type = id;
        types[id] = std::move(t);
      }
    }
    for (const auto& [id, t] : types) {
      for (const auto& f : t.fields) {
        if (!types.count(f.type)) {
          return in_.fail("field " + t.name + "." + f.name + " has unknown type " +
                          std::to_string(f.type));
        }
      }
    }
  }

  // Indexes the entries of the checkpoint event at `offset`: (type, key) →
  // where its value starts. Called for every checkpoint in file order (not
  // only those the header's chain reaches: the JVM writes some off it), so a
  // later entry for a key replaces an earlier one.
  void read_checkpoint(size_t offset) {
    in_.seek(offset);
    in_.i32();  // size
    if (static_cast<uint64_t>(in_.i64()) != kCheckpointType) {
      in_.fail("a constant pool offset does not point at a checkpoint event");
      return;
    }
    in_.i64();  // start
    in_.i64();  // duration
    in_.i64();  // delta to the previous checkpoint
    in_.u8();   // flush / type mask
    size_t pools = in_.count(2, "constant pool");
    for (size_t p = 0; p < pools && in_.ok(); ++p) {
      uint64_t type = static_cast<uint64_t>(in_.i64());
      if (!types.count(type)) {
        in_.fail("constant pool of unknown type " + std::to_string(type));
        return;
      }
      size_t entries = in_.count(1, "constant pool entry");
      auto& index = pools_[type];
      for (size_t e = 0; e < entries && in_.ok(); ++e) {
        int64_t key = in_.i64();
        index.insert_or_assign(key, in_.pos());
        Val scratch;
        read_value(type, false, false, &scratch, 0);
      }
    }
  }

  // Decodes a value of `type` at the current position.
  void read_value(uint64_t type, bool array, bool cp, Val* out, int depth) {
    if (depth > kMaxDepth) return in_.fail("values nest too deeply");
    if (array) {
      size_t n = in_.count(1, "array element");
      out->kind = Val::Kind::kArr;
      out->items.resize(n);
      for (size_t k = 0; k < n && in_.ok(); ++k)
        read_value(type, false, cp, &out->items[k], depth + 1);
      return;
    }
    if (cp) {
      out->kind = Val::Kind::kRef;
      out->type = type;
      out->i = in_.i64();
      return;
    }
    auto it = types.find(type);
    if (it == types.end()) return in_.fail("value of unknown type " + std::to_string(type));
    const Type& t = it->second;
    switch (t.prim) {
      case Prim::kBool:
      case Prim::kByte:
        out->kind = Val::Kind::kInt;
        out->i = static_cast<int8_t>(in_.u8());
        return;
      case Prim::kChar:
        out->kind = Val::Kind::kInt;
        out->i = static_cast<uint16_t>(in_.integer(2));
        return;
      case Prim::kShort:
        out->kind = Val::Kind::kInt;
        out->i = static_cast<int16_t>(in_.integer(2));
        return;
      case Prim::kInt:
        out->kind = Val::Kind::kInt;
        out->i = static_cast<int32_t>(in_.integer(4));
        return;
      case Prim::kLong:
        out->kind = Val::Kind::kInt;
        out->i = in_.integer(8);
        return;
      case Prim::kFloat: {
        auto bits = static_cast<uint32_t>(in_.fixed(4));
        float f;
        std::memcpy(&f, &bits, 4);
        out->kind = Val::Kind::kFloat;
        out->f = f;
        return;
      }
      case Prim::kDouble: {
        auto bits = static_cast<uint64_t>(in_.fixed(8));
        double f;
        std::memcpy(&f, &bits, 8);
        out->kind = Val::Kind::kFloat;
        out->f = f;
        return;
      }
      case Prim::kString: {
        bool null = false;
        int64_t ref = -1;
        read_string(in_, &out->s, &ref, &null);
        if (ref >= 0) {
          out->kind = Val::Kind::kRef;
          out->type = type;
          out->i = ref;
        } else {
          out->kind = null ? Val::Kind::kNull : Val::Kind::kStr;
        }
        return;
      }
      case Prim::kStruct:
        out->kind = Val::Kind::kObj;
        out->type = type;
        out->items.resize(t.fields.size());
        for (size_t k = 0; k < t.fields.size() && in_.ok(); ++k) {
          const Field& f = t.fields[k];
          read_value(f.type, f.array, f.cp, &out->items[k], depth + 1);
        }
        return;
    }
  }

  // The constant pool entry a reference points at (false when it is not
  // there: the value is then treated as absent).
  bool deref(const Val& ref, Val* out, int depth) {
    if (ref.kind != Val::Kind::kRef) return false;
    auto pool = pools_.find(ref.type);
    auto entry = pool == pools_.end() ? decltype(pool->second.end()){} : pool->second.find(ref.i);
    if (pool == pools_.end() || entry == pool->second.end()) {
      // As the JDK reads a recording: an entry the chunk lacks is taken
      // from the chunk before it (the JVM can write an event's stack trace
      // in the checkpoint of the chunk before a rotation).
      return previous && previous->deref_here(ref, out, depth);
    }
    size_t saved = in_.pos();
    in_.seek(entry->second);
    *out = Val();
    read_value(ref.type, false, false, out, depth);
    in_.seek(saved);
    return in_.ok();
  }

  // The chunk before this one in the recording, or null.
  Chunk* previous = nullptr;

  bool deref_here(const Val& ref, Val* out, int depth) {
    Chunk* saved = previous;
    previous = nullptr;
    bool found = deref(ref, out, depth);
    previous = saved;
    return found;
  }

  // A field of an object value (null when absent or not an object).
  const Val* field(const Val& obj, std::string_view name) const {
    if (obj.kind != Val::Kind::kObj) return nullptr;
    auto it = types.find(obj.type);
    if (it == types.end()) return nullptr;
    int k = it->second.index_of(name);
    return k < 0 || static_cast<size_t>(k) >= obj.items.size() ? nullptr : &obj.items[k];
  }

  // The text of a value: a string, a reference to one, or an object holding
  // one (Symbol.string, ThreadState.name, Class.name, …), resolved through
  // constant pools.
  std::string text(const Val& v, int depth = 0) {
    if (depth > 8) return "";
    switch (v.kind) {
      case Val::Kind::kStr:
        return v.s;
      case Val::Kind::kRef: {
        // Cached: many events refer to one entry (a thread state, a class).
        auto key = std::make_pair(v.type, v.i);
        auto it = texts_.find(key);
        if (it != texts_.end()) return it->second;
        Val target;
        std::string t = deref(v, &target, depth) ? text(target, depth + 1) : "";
        texts_.emplace(key, t);
        return t;
      }
      case Val::Kind::kObj:
        for (const char* name : {"string", "name"}) {
          if (const Val* f = field(v, name)) return text(*f, depth + 1);
        }
        return "";
      default:
        return "";
    }
  }

 private:
  void read_element(const std::vector<std::string>& strings, Element* e, int depth,
                    size_t* budget) {
    if (depth > kMaxDepth) return in_.fail("metadata elements nest too deeply");
    if ((*budget)-- == 0) return in_.fail("too many metadata elements");
    auto str = [&](int64_t i) -> std::string {
      if (i < 0 || static_cast<size_t>(i) >= strings.size()) {
        in_.fail("metadata string index " + std::to_string(i) + " out of range");
        return "";
      }
      return strings[static_cast<size_t>(i)];
    };
    e->name = str(in_.i32());
    size_t attrs = in_.count(2, "metadata attribute");
    for (size_t k = 0; k < attrs && in_.ok(); ++k) {
      std::string key = str(in_.i32());
      e->attrs.emplace_back(std::move(key), str(in_.i32()));
    }
    size_t children = in_.count(3, "metadata element");
    e->children.resize(children);
    for (size_t k = 0; k < children && in_.ok(); ++k) {
      read_element(strings, &e->children[k], depth + 1, budget);
    }
  }

  In in_;
  std::string_view data_;
  std::unordered_map<uint64_t, std::unordered_map<int64_t, size_t>> pools_;
  std::map<std::pair<uint64_t, int64_t>, std::string> texts_;
};

// ---------------------------------------------------------------------------
// The profiles being built, across chunks.

struct Kind {
  const char* event;
  const char* name;
  std::vector<std::pair<const char*, const char*>> sample_types;
  std::pair<const char*, const char*> period_type;
};

// The table of jfr.h, in output order. Index 1 is ExecutionSample as wall.
const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"jdk.ExecutionSample", "process_cpu", {{"cpu", "nanoseconds"}}, {"cpu", "nanoseconds"}},
      {"jdk.ExecutionSample", "wall", {{"wall", "nanoseconds"}}, {"wall", "nanoseconds"}},
      {"profiler.WallClockSample", "wall", {{"wall", "nanoseconds"}}, {"wall", "nanoseconds"}},
      {"jdk.ObjectAllocationInNewTLAB",
       "memory",
       {{"alloc_in_new_tlab_objects", "count"}, {"alloc_in_new_tlab_bytes", "bytes"}},
       {"space", "bytes"}},
      {"jdk.ObjectAllocationOutsideTLAB",
       "memory",
       {{"alloc_outside_tlab_objects", "count"}, {"alloc_outside_tlab_bytes", "bytes"}},
       {"space", "bytes"}},
      {"jdk.ObjectAllocationSample",
       "memory",
       {{"alloc_sample_objects", "count"}, {"alloc_sample_bytes", "bytes"}},
       {"space", "bytes"}},
      {"jdk.JavaMonitorEnter",
       "mutex",
       {{"contentions", "count"}, {"delay", "nanoseconds"}},
       {"mutex", "count"}},
      {"jdk.ThreadPark",
       "block",
       {{"contentions", "count"}, {"delay", "nanoseconds"}},
       {"block", "count"}},
      {"profiler.LiveObject", "memory", {{"live", "count"}}, {"objects", "count"}},
      {"profiler.Malloc",
       "memory",
       {{"malloc_objects", "count"}, {"malloc_bytes", "bytes"}},
       {"", ""}},
  };
  return k;
}
constexpr size_t kCpu = 0, kWallFromExecution = 1;

struct Frame {
  std::string function;
  int64_t line = 0;
};

class Builder {
 public:
  explicit Builder(const Kind& k) : kind_(k) {}
  size_t events = 0;

  void add(const std::vector<uint32_t>& frames, const std::vector<Frame>& all_frames,
           uint32_t label_set,
           const std::vector<std::vector<std::pair<std::string, std::string>>>& sets,
           const int64_t* values) {
    ++events;
    HashMix h(11);
    h.add(static_cast<uint64_t>(frames.size())).add(static_cast<uint64_t>(label_set));
    for (uint32_t f : frames) h.add(static_cast<uint64_t>(f));
    Hash128 key = h.done();
    auto [it, fresh] = samples_.emplace(key, profile_.sample_size());
    perftools::profiles::Sample* s;
    if (fresh) {
      s = profile_.add_sample();
      for (uint32_t f : frames) s->add_location_id(location(f, all_frames));
      for (size_t k = 0; k < kind_.sample_types.size(); ++k) s->add_value(0);
      for (const auto& [key_text, value] : sets[label_set]) {
        auto* l = s->add_label();
        l->set_key(str(key_text));
        l->set_str(str(value));
      }
    } else {
      s = profile_.mutable_sample(static_cast<int>(it->second));
    }
    for (size_t k = 0; k < kind_.sample_types.size(); ++k) {
      s->set_value(static_cast<int>(k), s->value(static_cast<int>(k)) + values[k]);
    }
  }

  perftools::profiles::Profile finish(int64_t period, int64_t time_ns, int64_t duration_ns) {
    for (const auto& [type, unit] : kind_.sample_types) {
      auto* vt = profile_.add_sample_type();
      vt->set_type(str(type));
      vt->set_unit(str(unit));
    }
    if (*kind_.period_type.first) {
      profile_.mutable_period_type()->set_type(str(kind_.period_type.first));
      profile_.mutable_period_type()->set_unit(str(kind_.period_type.second));
      profile_.set_period(period);
    }
    profile_.set_time_nanos(time_ns);
    profile_.set_duration_nanos(duration_ns);
    return std::move(profile_);
  }

 private:
  int64_t str(const std::string& s) {
    if (profile_.string_table_size() == 0) profile_.add_string_table("");
    auto [it, fresh] = strings_.emplace(s, profile_.string_table_size());
    if (fresh) profile_.add_string_table(s);
    return it->second;
  }
  uint64_t location(uint32_t frame, const std::vector<Frame>& all) {
    if (frame >= loc_of_frame_.size()) loc_of_frame_.resize(all.size(), 0);
    uint64_t& loc = loc_of_frame_[frame];
    if (loc) return loc;
    const Frame& f = all[frame];
    auto [fit, fresh] = function_of_.emplace(f.function, profile_.function_size() + 1);
    if (fresh) {
      auto* fn = profile_.add_function();
      fn->set_id(fit->second);
      fn->set_name(str(f.function));
      fn->set_system_name(fn->name());
    }
    auto* l = profile_.add_location();
    loc = static_cast<uint64_t>(profile_.location_size());
    l->set_id(loc);
    auto* line = l->add_line();
    line->set_function_id(fit->second);
    line->set_line(f.line);
    return loc;
  }

  const Kind& kind_;
  perftools::profiles::Profile profile_;
  std::unordered_map<std::string, int64_t> strings_;
  std::unordered_map<std::string, uint64_t> function_of_;
  std::vector<uint64_t> loc_of_frame_;
  std::unordered_map<Hash128, size_t, Hash128Hasher> samples_;
};

// "10 ms", "20 ms", "1 s", "999 us", "500000 ns" → nanoseconds (0: not a duration).
int64_t parse_period(std::string_view text) {
  size_t k = 0;
  int64_t n = 0;
  while (k < text.size() && text[k] >= '0' && text[k] <= '9' && n < (int64_t{1} << 40)) {
    n = n * 10 + (text[k++] - '0');
  }
  if (k == 0) return 0;
  while (k < text.size() && text[k] == ' ') ++k;
  std::string_view unit = text.substr(k);
  if (unit == "ns") return n;
  if (unit == "us") return n * 1000;
  if (unit == "ms") return n * 1'000'000;
  if (unit == "s") return n * 1'000'000'000;
  return 0;
}

class Reader {
 public:
  explicit Reader(const JfrOptions& o) : opts_(o) {
    for (const auto& k : kinds()) builders_.emplace_back(k);
    label_sets_.emplace_back();  // 0: no labels
  }

  Status chunk(std::string_view data, size_t index, size_t at) {
    auto where = [&](const std::string& what) {
      return Status::invalid("JFR chunk " + std::to_string(index + 1) + " (at byte " +
                             std::to_string(at) + " of the recording) " + what);
    };
    if (data.size() < kHeaderSize) return where("is cut short: its header needs 68 bytes");
    In h(data, false);
    if (h.bytes(4) != std::string_view("FLR\0", 4)) return where("does not start with FLR\\0");
    int64_t major = h.fixed(2);
    h.fixed(2);  // minor
    if (major != 2) {
      return where("has format version " + std::to_string(major) +
                   " (stoker reads version 2: JDK 11 and later, async-profiler)");
    }
    int64_t size = h.fixed(8);
    int64_t cp_offset = h.fixed(8);
    int64_t meta_offset = h.fixed(8);
    int64_t start_nanos = h.fixed(8);
    int64_t duration = h.fixed(8);
    h.fixed(8);  // start ticks
    int64_t tps = h.fixed(8);
    int64_t features = h.fixed(4);
    if (size < static_cast<int64_t>(kHeaderSize) || static_cast<uint64_t>(size) > data.size()) {
      return where("says it is " + std::to_string(size) + " bytes long, but " +
                   std::to_string(data.size()) + " remain (a truncated recording?)");
    }
    data = data.substr(0, static_cast<size_t>(size));
    if (meta_offset < static_cast<int64_t>(kHeaderSize) || meta_offset >= size || cp_offset < 0 ||
        cp_offset >= size) {
      return where("has its metadata or constant pools outside the chunk");
    }
    if (tps <= 0) return where("has no tick frequency");
    if (index == 0) time_ns_ = start_nanos;
    duration_ns_ += std::max<int64_t>(duration, 0);
    ticks_per_ns_ = static_cast<double>(tps) / 1e9;

    auto chunk = std::make_unique<Chunk>(data, (features & 1) != 0);
    Chunk& c = *chunk;
    c.previous = previous_.get();
    // Constant pool keys are the chunk's own.
    stacks_.clear();
    methods_.clear();
    c.read_metadata(static_cast<size_t>(meta_offset));
    if (!c.in().ok()) return where(c.in().error());

    // The event types read, by id.
    std::unordered_map<uint64_t, std::vector<size_t>> wanted;  // type id → kinds
    for (size_t k = 0; k < kinds().size(); ++k) {
      if (auto id = c.type_named(kinds()[k].event)) wanted[*id].push_back(k);
    }
    const auto setting = c.type_named("jdk.ActiveSetting");
    const auto execution = c.type_named("jdk.ExecutionSample");

    // Three passes over the events: the constant pools, then the settings
    // (they say what ExecutionSample means), then the samples.
    for (int pass = 0; pass < 3; ++pass) {
      In& in = c.in();
      in.seek(kHeaderSize);
      while (in.ok() && in.pos() < data.size()) {
        size_t start = in.pos();
        int64_t esize = in.i32();
        uint64_t type = static_cast<uint64_t>(in.i64());
        if (!in.ok()) break;
        if (esize <= 0 || static_cast<uint64_t>(esize) > data.size() - start ||
            in.pos() > start + static_cast<size_t>(esize)) {
          in.fail("bad event size " + std::to_string(esize));
          break;
        }
        const size_t end = start + static_cast<size_t>(esize);
        if (pass == 0 && type == kCheckpointType) {
          c.read_checkpoint(start);
        } else if (pass == 1 && setting && type == *setting) {
          Val v;
          c.read_value(type, false, false, &v, 0);
          read_setting(c, v, execution);
        } else if (pass == 2) {
          auto w = wanted.find(type);
          if (w != wanted.end()) {
            if (++events_ > opts_.max_events) {
              return where("has more than " + std::to_string(opts_.max_events) + " events");
            }
            Val v;
            c.read_value(type, false, false, &v, 0);
            if (!c.in().ok()) break;
            sample(c, w->second, v);
          }
        }
        if (!in.ok()) break;
        in.seek(end);
      }
      if (!c.in().ok()) return where(c.in().error());
    }
    c.previous = nullptr;  // one chunk back, no further
    previous_ = std::move(chunk);
    return Status();
  }

  std::vector<JfrProfile> finish() {
    std::vector<JfrProfile> out;
    for (size_t k = 0; k < builders_.size(); ++k) {
      if (builders_[k].events == 0) continue;
      JfrProfile p;
      p.name = kinds()[k].name;
      p.event = kinds()[k].event;
      p.events = builders_[k].events;
      const bool sampled = k == kCpu || k == kWallFromExecution || k == 2;
      p.profile = builders_[k].finish(sampled ? cpu_period() : 1, time_ns_, duration_ns_);
      out.push_back(std::move(p));
    }
    return out;
  }

 private:
  int64_t cpu_period() const {
    if (opts_.sample_rate_hz > 0) return 1'000'000'000 / opts_.sample_rate_hz;
    return setting_period_ > 0 ? setting_period_ : 10'000'000;
  }

  int64_t ticks_to_ns(int64_t ticks) const {
    return static_cast<int64_t>(static_cast<double>(ticks) / ticks_per_ns_);
  }

  void read_setting(Chunk& c, const Val& v, std::optional<uint64_t> execution) {
    const Val* id = c.field(v, "id");
    const Val* name = c.field(v, "name");
    const Val* value = c.field(v, "value");
    if (!name || !value) return;
    std::string n = c.text(*name), val = c.text(*value);
    if (n == "event" && val == "wall") wall_ = true;
    if (n == "period" && execution && id && id->kind == Val::Kind::kInt &&
        static_cast<uint64_t>(id->i) == *execution) {
      if (int64_t p = parse_period(val)) setting_period_ = p;
    }
  }

  int64_t number(Chunk& c, const Val& event, const char* name) {
    const Val* f = c.field(event, name);
    return f && f->kind == Val::Kind::kInt ? f->i : 0;
  }

  // The frames of a stack trace reference, as global frame ids (cached per
  // chunk by key).
  const std::vector<uint32_t>* stack(Chunk& c, const Val& ref) {
    if (ref.kind != Val::Kind::kRef) return nullptr;

    auto it = stacks_.find(ref.i);
    if (it != stacks_.end()) return &it->second;
    Val trace;
    std::vector<uint32_t> frames;
    if (c.deref(ref, &trace, 0)) {
      if (const Val* fs = c.field(trace, "frames"); fs && fs->kind == Val::Kind::kArr) {
        for (const Val& f : fs->items) {
          const Val* method = c.field(f, "method");
          const Val* line = c.field(f, "lineNumber");
          std::string name = method ? method_name(c, *method) : "";
          if (name.empty()) name = "<unknown>";
          frames.push_back(frame(name, line && line->kind == Val::Kind::kInt ? line->i : 0));
        }
      }
    }
    return &stacks_.emplace(ref.i, std::move(frames)).first->second;
  }

  std::string method_name(Chunk& c, const Val& ref) {
    auto it = methods_.find(ref.i);
    if (ref.kind == Val::Kind::kRef && it != methods_.end()) return it->second;
    Val m;
    std::string out;
    const Val* mv = &ref;
    if (ref.kind == Val::Kind::kRef) {
      if (!c.deref(ref, &m, 0)) return "";
      mv = &m;
    }
    const Val* type = c.field(*mv, "type");
    const Val* name = c.field(*mv, "name");
    std::string cls = type ? c.text(*type) : "";
    out = (cls.empty() ? "" : cls + ".") + (name ? c.text(*name) : "");
    if (ref.kind == Val::Kind::kRef) methods_[ref.i] = out;
    return out;
  }

  uint32_t frame(const std::string& function, int64_t line) {
    std::string key = function;
    key += '\0';
    key += std::to_string(line);
    auto [it, fresh] = frame_ids_.emplace(std::move(key), static_cast<uint32_t>(frames_.size()));
    if (fresh) frames_.push_back({function, line});
    return it->second;
  }

  uint32_t label_set(std::vector<std::pair<std::string, std::string>> labels) {
    if (labels.empty()) return 0;
    std::sort(labels.begin(), labels.end());
    std::string key;
    for (const auto& [k, v] : labels) key += k + '\0' + v + '\0';
    auto [it, fresh] = label_ids_.emplace(key, static_cast<uint32_t>(label_sets_.size()));
    if (fresh) label_sets_.push_back(std::move(labels));
    return it->second;
  }

  void sample(Chunk& c, const std::vector<size_t>& candidates, const Val& event) {
    size_t k = candidates[0];
    if (kinds()[k].event == std::string_view("jdk.ExecutionSample")) {
      k = wall_ ? kWallFromExecution : kCpu;
      if (k == kCpu) {
        if (const Val* st = c.field(event, "state"); st && c.text(*st) == "STATE_SLEEPING") return;
      }
    }
    const Val* trace = c.field(event, "stackTrace");
    const std::vector<uint32_t>* frames = trace ? stack(c, *trace) : nullptr;
    static const std::vector<uint32_t> kNone;
    if (!frames) frames = &kNone;
    // Labels: the agent's context, async-profiler's span fields.
    std::vector<std::pair<std::string, std::string>> labels;
    if (int64_t ctx = number(c, event, "contextId"); ctx != 0) {
      auto it = opts_.contexts.find(ctx);
      if (it != opts_.contexts.end()) labels = it->second;
    }
    if (int64_t span = number(c, event, "spanId"); span != 0) {
      labels.emplace_back("span_id", format_span_id(static_cast<uint64_t>(span)));
    }
    if (const Val* name = c.field(event, "spanName")) {
      std::string n = c.text(*name);
      if (!n.empty()) labels.emplace_back("span_name", n);
    }
    int64_t values[2] = {1, 0};
    const int64_t period = cpu_period();
    switch (k) {
      case kCpu:
      case kWallFromExecution:
        values[0] = period;
        break;
      case 2:  // profiler.WallClockSample
        values[0] = std::max<int64_t>(number(c, event, "samples"), 1) * period;
        break;
      case 3:
        values[1] = number(c, event, "tlabSize");
        break;
      case 4:
        values[1] = number(c, event, "allocationSize");
        break;
      case 5:
        values[1] = number(c, event, "weight");
        break;
      case 6:
      case 7:
        values[1] = ticks_to_ns(number(c, event, "duration"));
        break;
      case 9:
        values[1] = number(c, event, "size");
        break;
      default:
        break;
    }
    builders_[k].add(*frames, frames_, label_set(std::move(labels)), label_sets_, values);
  }

  const JfrOptions& opts_;
  std::unique_ptr<Chunk> previous_;
  std::vector<Builder> builders_;
  std::vector<Frame> frames_;
  std::unordered_map<std::string, uint32_t> frame_ids_;
  std::vector<std::vector<std::pair<std::string, std::string>>> label_sets_;
  std::unordered_map<std::string, uint32_t> label_ids_;
  std::unordered_map<int64_t, std::vector<uint32_t>> stacks_;
  std::unordered_map<int64_t, std::string> methods_;
  bool wall_ = false;
  int64_t setting_period_ = 0;
  int64_t time_ns_ = 0, duration_ns_ = 0;
  double ticks_per_ns_ = 1;
  size_t events_ = 0;
};

}  // namespace

bool is_jfr(std::string_view data) {
  return data.size() >= 4 && data.substr(0, 4) == std::string_view("FLR\0", 4);
}

Result<std::vector<JfrProfile>> jfr_to_pprof(std::string_view recording,
                                             const JfrOptions& options) {
  if (!is_jfr(recording)) {
    return Status::invalid("not a JFR recording (it does not start with FLR\\0)");
  }
  Reader reader(options);
  size_t at = 0, index = 0;
  while (at < recording.size()) {
    std::string_view rest = recording.substr(at);
    if (Status s = reader.chunk(rest, index, at); !s.ok()) return s;
    // The chunk's size is in its header (checked by chunk()).
    uint64_t size = 0;
    for (int b = 0; b < 8; ++b) size = size << 8 | static_cast<uint8_t>(rest[8 + b]);
    at += static_cast<size_t>(size);
    ++index;
  }
  return reader.finish();
}

}  // namespace stoker::pprof
