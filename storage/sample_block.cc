#include "storage/sample_block.h"

#include <zlib.h>

#include <algorithm>
#include <optional>

#include "model/encoding.h"
#include "pprof/compress.h"

namespace stoker {

namespace {
constexpr char kFormatDeflate = 1;       // zlib stream of the columns
constexpr char kFormatSizedDeflate = 2;  // varint size of the columns, then their zlib stream
// Profiles whose samples carry span_id: the block's distinct span ids first,
// sorted and not deflated (a span query skips a block that has none of its
// ids without inflating it: varint count, then 8 bytes each, little endian),
// then format 2 with a column after the values: per row 0 for no span, else
// 1 + the index of its id in that list.
constexpr char kFormatSizedDeflateSpans = 3;
constexpr size_t kMaxRows = 16u << 20;
}  // namespace

void SampleBlock::clear() {
  num_values = 0;
  stack_ids.clear();
  label_set_ids.clear();
  values.clear();
  span_ids.clear();
}

void SampleBlock::normalize(SampleBlock* scratch) {
  const bool spans = !span_ids.empty();
  auto span = [&](size_t i) { return spans ? span_ids[i] : 0; };
  SampleBlock local;
  SampleBlock& out = scratch ? *scratch : local;
  out.clear();
  out.num_values = num_values;
  // Sorted by stack id held next to the row index (not through the index: a
  // cache miss per comparison); only rows of the same stack are then ordered
  // by label set and span. Rows with all three the same are merged, so their
  // order among themselves does not matter.
  auto& ord = out.order;
  ord.resize(rows());
  for (size_t i = 0; i < rows(); ++i) ord[i] = {stack_ids[i], i};
  // A cumulative profile lists its stacks in the same order scrape after
  // scrape, the order the store numbered them in: often sorted already.
  if (!std::is_sorted(ord.begin(), ord.end())) std::sort(ord.begin(), ord.end());
  for (size_t b = 0; b < ord.size();) {
    size_t e = b + 1;
    while (e < ord.size() && ord[e].first == ord[b].first) ++e;
    if (e - b > 1) {
      std::sort(ord.begin() + static_cast<std::ptrdiff_t>(b),
                ord.begin() + static_cast<std::ptrdiff_t>(e), [&](const auto& x, const auto& y) {
                  if (label_set_ids[x.second] != label_set_ids[y.second]) {
                    return label_set_ids[x.second] < label_set_ids[y.second];
                  }
                  return span(x.second) < span(y.second);
                });
    }
    b = e;
  }
  out.stack_ids.reserve(rows());
  out.label_set_ids.reserve(rows());
  out.values.reserve(values.size());
  if (spans) out.span_ids.reserve(rows());
  for (const auto& [stack, idx] : ord) {
    bool same = !out.stack_ids.empty() && out.stack_ids.back() == stack &&
                out.label_set_ids.back() == label_set_ids[idx] &&
                (!spans || out.span_ids.back() == span_ids[idx]);
    if (!same) {
      out.stack_ids.push_back(stack);
      out.label_set_ids.push_back(label_set_ids[idx]);
      if (spans) out.span_ids.push_back(span_ids[idx]);
      out.values.insert(out.values.end(), num_values, 0);
    }
    int64_t* dst = &out.values[out.values.size() - num_values];
    for (size_t j = 0; j < num_values; ++j) dst[j] += values[idx * num_values + j];
  }
  std::swap(stack_ids, out.stack_ids);
  std::swap(label_set_ids, out.label_set_ids);
  std::swap(values, out.values);
  std::swap(span_ids, out.span_ids);
}

std::string SampleBlock::encode() const {
  // The columns before compression, in a buffer kept per thread (grown by
  // doubling per block, it was reallocated and copied a dozen times each).
  thread_local std::string raw;
  raw.clear();
  enc::put_varint(raw, rows());
  int64_t prev = 0;
  for (int64_t s : stack_ids) {
    enc::put_svarint(raw, s - prev);
    prev = s;
  }
  for (int64_t l : label_set_ids) enc::put_varint(raw, static_cast<uint64_t>(l));
  for (size_t j = 0; j < num_values; ++j) {
    for (size_t r = 0; r < rows(); ++r) enc::put_svarint(raw, values[r * num_values + j]);
  }
  const bool spans = !span_ids.empty();
  std::vector<uint64_t> distinct;
  if (spans) {
    for (uint64_t id : span_ids) {
      if (id) distinct.push_back(id);
    }
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (uint64_t id : span_ids) {
      enc::put_varint(raw, id ? 1 + static_cast<uint64_t>(
                                        std::lower_bound(distinct.begin(), distinct.end(), id) -
                                        distinct.begin())
                              : 0);
    }
  }
  std::string out(1, spans ? kFormatSizedDeflateSpans : kFormatSizedDeflate);
  if (spans) {
    enc::put_varint(out, distinct.size());
    for (uint64_t id : distinct) {
      for (int b = 0; b < 8; ++b) out += static_cast<char>((id >> (8 * b)) & 0xff);
    }
  }
  enc::put_varint(out, raw.size());
  // libdeflate's level 4: within a few percent of level 6's size (the
  // columns are varints that compress alike) at about 1.7 times the speed.
  out += pprof::zlib_compress(raw, 4);
  if (raw.capacity() > (4u << 20)) std::string().swap(raw);  // (a rare huge block)
  return out;
}

namespace {

// The span id list of a format 3 block (8 bytes per id) and what follows it;
// nullopt when it is cut short.
std::optional<std::string_view> span_list(std::string_view* data) {
  enc::Reader r(*data);
  uint64_t k = r.varint();
  if (!r.ok() || k > r.rest().size() / 8) return std::nullopt;
  std::string_view list = r.rest().substr(0, k * 8);
  *data = r.rest().substr(k * 8);
  return list;
}

uint64_t span_at(std::string_view list, size_t i) {
  uint64_t v = 0;
  for (int b = 7; b >= 0; --b) v = v << 8 | static_cast<unsigned char>(list[i * 8 + b]);
  return v;
}

// Inflates a block's payload into `raw`: format 2 knows its size, format 1
// (before schema v4's writer) is inflated with a growing buffer. Returns the
// inflated bytes (a view into `raw`), or nullopt when the block is corrupt;
// `spans` is the span id list of a format 3 block (else empty).
std::optional<std::string_view> inflate_block(std::string_view data, std::string* raw,
                                              std::string_view* spans) {
  *spans = {};
  if (data.empty()) return std::nullopt;
  char format = data[0];
  data.remove_prefix(1);
  if (format == kFormatSizedDeflateSpans) {
    auto list = span_list(&data);
    if (!list) return std::nullopt;
    *spans = *list;
  }
  if (format == kFormatSizedDeflate || format == kFormatSizedDeflateSpans) {
    enc::Reader r(data);
    uint64_t size = r.varint();
    if (!r.ok() || size > (1u << 30)) return std::nullopt;
    if (!pprof::zlib_decompress_exact(r.rest(), size, raw).ok()) return std::nullopt;
    return std::string_view(*raw);
  }
  if (format != kFormatDeflate) return std::nullopt;
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  // Blocks inflate to a few times their size; grow the buffer as needed.
  if (raw->size() < data.size() * 4 + 4096) raw->resize(data.size() * 4 + 4096);
  size_t used = 0;
  int rc;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(&(*raw)[used]);
    zs.avail_out = static_cast<uInt>(raw->size() - used);
    rc = inflate(&zs, Z_NO_FLUSH);
    used = raw->size() - zs.avail_out;
    if (rc != Z_OK) break;
    if (zs.avail_out == 0) {
      if (raw->size() >= (1u << 30)) break;
      raw->resize(raw->size() * 2);
    }
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return std::nullopt;
  return std::string_view(raw->data(), used);
}

Status corrupt() {
  return Status::internal("corrupt sample block in the database");
}

}  // namespace

bool SampleBlock::has_spans(std::string_view data) {
  return !data.empty() && data[0] == kFormatSizedDeflateSpans;
}

bool SampleBlock::has_any_span(std::string_view data, const std::vector<uint64_t>& sorted_ids) {
  if (!has_spans(data)) return false;
  data.remove_prefix(1);
  auto list = span_list(&data);
  if (!list) return true;  // corrupt: let the reader say so
  // Both sorted: walk the shorter, binary-search the longer.
  const size_t k = list->size() / 8;
  if (k <= sorted_ids.size()) {
    for (size_t i = 0; i < k; ++i) {
      if (std::binary_search(sorted_ids.begin(), sorted_ids.end(), span_at(*list, i))) return true;
    }
    return false;
  }
  for (uint64_t id : sorted_ids) {
    size_t lo = 0, hi = k;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      uint64_t v = span_at(*list, mid);
      if (v == id) return true;
      if (v < id)
        lo = mid + 1;
      else
        hi = mid;
    }
  }
  return false;
}

namespace {

// Reads the span column (indices into `list`) into `out`.
bool read_span_column(enc::Reader& r, std::string_view list, uint64_t n,
                      std::vector<uint64_t>* out) {
  const uint64_t k = list.size() / 8;
  out->resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t idx = r.varint();
    if (idx > k) return false;
    (*out)[i] = idx ? span_at(list, idx - 1) : 0;
  }
  return true;
}

}  // namespace

Status SampleBlock::decode(std::string_view data, size_t num_values, SampleBlock* out) {
  std::string buf;
  std::string_view spans;
  const bool with_spans = has_spans(data);
  auto raw = inflate_block(data, &buf, &spans);
  if (!raw) return corrupt();
  enc::Reader r(*raw);
  uint64_t n = r.varint();
  if (!r.ok() || n > kMaxRows) return corrupt();
  out->num_values = num_values;
  out->stack_ids.resize(n);
  out->label_set_ids.resize(n);
  out->values.assign(n * num_values, 0);
  int64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) out->stack_ids[i] = prev += r.svarint();
  for (uint64_t i = 0; i < n; ++i) out->label_set_ids[i] = static_cast<int64_t>(r.varint());
  for (size_t j = 0; j < num_values; ++j) {
    for (uint64_t i = 0; i < n; ++i) out->values[i * num_values + j] = r.svarint();
  }
  out->span_ids.clear();
  if (with_spans && !read_span_column(r, spans, n, &out->span_ids)) return corrupt();
  return r.ok() && r.done() ? Status() : corrupt();
}

SampleColumnReader::SampleColumnReader() = default;
SampleColumnReader::~SampleColumnReader() = default;

Status SampleColumnReader::read(std::string_view data, size_t num_values, size_t col,
                                std::vector<int64_t>* stacks, std::vector<int64_t>* values,
                                std::vector<uint64_t>* span_ids) {
  if (col >= num_values) return corrupt();
  std::string_view spans;
  const bool with_spans = SampleBlock::has_spans(data);
  auto raw = inflate_block(data, &raw_, &spans);
  if (!raw) return corrupt();
  enc::Reader r(*raw);
  uint64_t n = r.varint();
  if (!r.ok() || n > kMaxRows) return corrupt();
  stacks->resize(n);
  values->resize(n);
  int64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) (*stacks)[i] = prev += r.svarint();
  for (uint64_t i = 0; i < n; ++i) r.varint();  // label set ids
  for (size_t j = 0; j < col; ++j) {
    for (uint64_t i = 0; i < n; ++i) r.varint();
  }
  for (uint64_t i = 0; i < n; ++i) (*values)[i] = r.svarint();
  if (span_ids) {
    if (with_spans) {
      for (size_t j = col + 1; j < num_values; ++j) {
        for (uint64_t i = 0; i < n; ++i) r.varint();
      }
      if (!read_span_column(r, spans, n, span_ids)) return corrupt();
    } else {
      span_ids->assign(n, 0);
    }
  }
  return r.ok() ? Status() : corrupt();
}

}  // namespace stoker
