#include "storage/sample_block.h"

#include <zlib.h>

#include <algorithm>
#include <numeric>
#include <optional>

#include "model/encoding.h"
#include "pprof/compress.h"

namespace stoker {

namespace {
constexpr char kFormatDeflate = 1;       // zlib stream of the columns
constexpr char kFormatSizedDeflate = 2;  // varint size of the columns, then their zlib stream
constexpr size_t kMaxRows = 16u << 20;
}  // namespace

void SampleBlock::normalize() {
  std::vector<size_t> order(rows());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (stack_ids[a] != stack_ids[b]) return stack_ids[a] < stack_ids[b];
    return label_set_ids[a] < label_set_ids[b];
  });
  SampleBlock out;
  out.num_values = num_values;
  for (size_t idx : order) {
    bool same = !out.stack_ids.empty() && out.stack_ids.back() == stack_ids[idx] &&
                out.label_set_ids.back() == label_set_ids[idx];
    if (!same) {
      out.stack_ids.push_back(stack_ids[idx]);
      out.label_set_ids.push_back(label_set_ids[idx]);
      out.values.insert(out.values.end(), num_values, 0);
    }
    int64_t* dst = &out.values[out.values.size() - num_values];
    for (size_t j = 0; j < num_values; ++j) dst[j] += values[idx * num_values + j];
  }
  *this = std::move(out);
}

std::string SampleBlock::encode() const {
  std::string raw;
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
  std::string out(1, kFormatSizedDeflate);
  enc::put_varint(out, raw.size());
  // libdeflate's level 4: within a few percent of level 6's size (the
  // columns are varints that compress alike) at about 1.7 times the speed.
  out += pprof::zlib_compress(raw, 4);
  return out;
}

namespace {

// Inflates a block's payload into `raw`: format 2 knows its size, format 1
// (before schema v4's writer) is inflated with a growing buffer. Returns the
// inflated bytes (a view into `raw`), or nullopt when the block is corrupt.
std::optional<std::string_view> inflate_block(std::string_view data, std::string* raw) {
  if (data.empty()) return std::nullopt;
  char format = data[0];
  data.remove_prefix(1);
  if (format == kFormatSizedDeflate) {
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

Status SampleBlock::decode(std::string_view data, size_t num_values, SampleBlock* out) {
  std::string buf;
  auto raw = inflate_block(data, &buf);
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
  return r.ok() && r.done() ? Status() : corrupt();
}

SampleColumnReader::SampleColumnReader() = default;
SampleColumnReader::~SampleColumnReader() = default;

Status SampleColumnReader::read(std::string_view data, size_t num_values, size_t col,
                                std::vector<int64_t>* stacks, std::vector<int64_t>* values) {
  if (col >= num_values) return corrupt();
  auto raw = inflate_block(data, &raw_);
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
  return r.ok() ? Status() : corrupt();
}

}  // namespace stoker
