// View: a pprof profile decoded straight from the wire into flat arrays.
//
// The collector's hot path (decode, validate, delta, store, forward) works on
// this instead of a protobuf object tree: one pass over the bytes, strings as
// views into the inflated buffer the View owns, every repeated field in one
// contiguous array, no allocation per message. Field numbers and semantics
// follow perftools.profiles.Profile (proto/profile.proto): unknown fields are
// skipped, repeated scalars may be packed or not, a scalar given twice keeps
// the last value. Pure value type; thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/hash.h"
#include "pprof/pprof_decode.h"

namespace stoker::pprof {

// An allocator whose resize() leaves new elements of a trivial type as they
// are instead of zeroing them: for arrays the parser sizes and then fills
// (zeroing them first was a memset of every frame and value decoded).
template <typename T>
struct NoInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = NoInitAllocator<U>;
  };
  NoInitAllocator() = default;
  template <typename U>
  NoInitAllocator(const NoInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
template <typename T>
using FilledVector = std::vector<T, NoInitAllocator<T>>;

struct View {
  struct ValueType {
    int64_t type = 0, unit = 0;  // string indices
  };
  struct Mapping {
    uint64_t id = 0, memory_start = 0, memory_limit = 0, file_offset = 0;
    int64_t filename = 0, build_id = 0;
    bool has_functions = false, has_filenames = false, has_line_numbers = false,
         has_inline_frames = false;
  };
  struct Function {
    uint64_t id = 0;
    int64_t name = 0, system_name = 0, filename = 0, start_line = 0;
  };
  struct Line {
    uint64_t function_id = 0;
    int64_t line = 0, column = 0;
  };
  struct Location {
    uint64_t id = 0, mapping_id = 0, address = 0;
    bool is_folded = false;
    // In `lines`, innermost first; each location's lines follow the
    // previous location's (prune() relies on it).
    uint32_t line_begin = 0, line_count = 0;
  };
  struct Label {
    int64_t key = 0, str = 0, num = 0, num_unit = 0;
  };
  struct Sample {
    uint32_t loc_begin = 0, loc_count = 0;      // in `sample_locations`, leaf first
    uint32_t value_begin = 0, value_count = 0;  // in `values`
    uint32_t label_begin = 0, label_count = 0;  // in `labels`
  };

  std::string buf;  // the protobuf bytes; `strings` point into it
  std::vector<std::string_view> strings;
  std::vector<ValueType> sample_types;
  ValueType period_type;
  int64_t period = 0, time_nanos = 0, duration_nanos = 0;
  int64_t drop_frames = 0, keep_frames = 0, default_sample_type = 0, doc_url = 0;
  std::vector<int64_t> comments;
  std::vector<Mapping> mappings;
  std::vector<Function> functions;
  std::vector<Location> locations;
  std::vector<Line> lines;
  std::vector<Sample> samples;
  FilledVector<uint64_t> sample_locations;  // (resize() leaves new elements unset)
  FilledVector<int64_t> values;
  std::vector<Label> labels;
  // Seeded 128-bit hashes of `strings` (model/hash.h), for the delta and the
  // store: the decoder computes them as it reads the strings; hash_strings()
  // does for a view whose strings were changed otherwise.
  std::vector<Hash128> string_hashes;

  void hash_strings() {
    if (string_hashes.size() != strings.size()) hash_strings(*this, &string_hashes);
  }
  // The hashes of the strings of `v` into `out`, for a view that cannot be
  // changed.
  static void hash_strings(const View& v, std::vector<Hash128>* out) {
    const uint64_t seed = process_hash_seed();
    out->resize(v.strings.size());
    for (size_t i = 0; i < v.strings.size(); ++i) (*out)[i] = hash_bytes(v.strings[i], seed);
  }
  // Content hashes of the symbols, for the delta and the store, computed
  // once per profile by hash_symbols() (the ingest pipeline does, before the
  // delta): per function (its strings and start line), per location (its
  // mapping's content, address, and lines with their functions' hashes) and
  // per sample the FrameSum (model/hash.h) of its locations' hashes. The
  // delta keys samples by them; the store looks stacks, locations and
  // functions up by them. prune() and the delta keep them in step with what
  // they drop; code that changes the symbols or samples otherwise must call
  // hash_symbols() again.
  struct SymbolHashes {
    std::vector<Hash128> functions, locations, frame_sums;
    // Whether, when hashed, the samples used every location: prune() has
    // then nothing to drop, unless samples were dropped since (the delta,
    // the only code that drops samples, clears it when it does).
    bool every_location_used = false;
  };
  SymbolHashes symbol_hashes;
  bool has_symbol_hashes() const {
    return string_hashes.size() == strings.size() &&
           symbol_hashes.functions.size() == functions.size() &&
           symbol_hashes.locations.size() == locations.size() &&
           symbol_hashes.frame_sums.size() == samples.size();
  }
  // Computes string_hashes (when missing) and symbol_hashes (when missing).
  void hash_symbols();
  // symbol_hashes of `v` into `out`, for a view that cannot be changed;
  // `strings` are the hashes of its strings. False when a line names a
  // function, or a sample a location, that the view does not have (hashed
  // as an empty hash; validate() refuses such a view).
  static bool hash_symbols(const View& v, const std::vector<Hash128>& strings, SymbolHashes* out);

  Hash128 string_hash(int64_t i) const {
    return i >= 0 && static_cast<size_t>(i) < string_hashes.size()
               ? string_hashes[static_cast<size_t>(i)]
               : Hash128{};
  }

  std::string_view str(int64_t i) const {
    return i >= 0 && static_cast<size_t>(i) < strings.size() ? strings[static_cast<size_t>(i)]
                                                             : std::string_view();
  }
  int64_t* sample_values(const Sample& s) { return values.data() + s.value_begin; }
  const int64_t* sample_values(const Sample& s) const { return values.data() + s.value_begin; }

  // Empties the view, keeping its allocations.
  void reset();
  // Bytes the view holds (its buffer and arrays).
  size_t memory_bytes() const {
    return buf.capacity() + strings.capacity() * sizeof(std::string_view) +
           sample_types.capacity() * sizeof(ValueType) + comments.capacity() * sizeof(int64_t) +
           mappings.capacity() * sizeof(Mapping) + functions.capacity() * sizeof(Function) +
           locations.capacity() * sizeof(Location) + lines.capacity() * sizeof(Line) +
           samples.capacity() * sizeof(Sample) + sample_locations.capacity() * sizeof(uint64_t) +
           values.capacity() * sizeof(int64_t) + labels.capacity() * sizeof(Label) +
           (string_hashes.capacity() + symbol_hashes.functions.capacity() +
            symbol_hashes.locations.capacity() + symbol_hashes.frame_sums.capacity()) *
               sizeof(Hash128);
  }
  // Drops the locations, functions, mappings and strings that no sample
  // refers to any more (after samples were dropped), renumbering strings.
  // Fast when there is nothing to drop.
  void prune();
  // The protobuf encoding of the profile (what pprof files hold, before gzip).
  std::string encode() const;
  // The same with only the samples at the indices in `subset` (null: all),
  // and of their labels only those `keep_label` accepts (null: all); the
  // symbol tables are kept whole.
  std::string encode_subset(const std::vector<uint32_t>* subset,
                            const std::function<bool(const Label&)>* keep_label) const;
  // The same into `out` (replacing its contents, keeping its capacity: a
  // caller that encodes many profiles reuses one buffer).
  void encode_subset_to(std::string* out, const std::vector<uint32_t>* subset,
                        const std::function<bool(const Label&)>* keep_label) const;
  // The profile split in two, for a gzip stream whose first part is the
  // tables compressed once (ingest/forward_tables.h): the symbol tables
  // (mappings, locations, functions, strings), and everything else (sample
  // types, samples, the scalar fields). The tables followed by the rest are
  // the profile (protobuf fields may come in any order).
  void encode_tables_to(std::string* out) const;
  void encode_without_tables_to(std::string* out) const;
  // A key for the symbol tables as encode_tables_to() writes them: views with
  // equal keys have tables that tell the same profile (the same strings in the
  // same order, the same ids for the same symbols); only which of two equal
  // strings or symbols an index names may differ. Needs has_symbol_hashes().
  Hash128 tables_key() const;
  // How many locations the samples use.
  size_t used_location_count() const;
  // Renames the sample label key `from` to `to` (adding `to`, which must
  // outlive the view, to the string table when it is not there). Returns
  // whether any label was renamed.
  bool rename_label_key(std::string_view from, std::string_view to);
  // The same profile as protobuf objects (for tests and the non-hot paths).
  Profile to_proto() const;

 private:
  void encode_tables(std::string& out, std::string& m, std::string& sub) const;
  void encode_parts(std::string* out, const std::vector<uint32_t>* subset,
                    const std::function<bool(const Label&)>* keep_label, bool with_tables) const;
};

// Decodes gzipped or raw pprof into a View and validates it as validate()
// does for protobuf objects; the errors are the same. The view comes with its
// symbol hashes (hash_symbols()).
Result<std::shared_ptr<View>> decode_view(std::string_view body, const Limits& limits = {});

// Decoded views are reused (their buffers keep their allocations); views that
// sat unused in the pool for a whole trim period (10 s) are freed.
struct ViewPoolStats {
  size_t views = 0;  // pooled, ready for reuse
  size_t bytes = 0;
};
ViewPoolStats view_pool_stats();
void set_view_pool_trim_period(std::chrono::steady_clock::duration d);  // for tests
// A View of a protobuf profile (serializes and decodes it).
std::shared_ptr<View> view_of(const Profile& p);
// Checks the internal references of a view and the limits.
Status validate(const View& v, const Limits& limits = {});

}  // namespace stoker::pprof
