#include "storage/sample_block.h"

#include <zlib.h>

#include <algorithm>
#include <numeric>

#include "storage/encoding.h"

namespace stoker {

namespace {
constexpr char kFormatDeflate = 1;
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
  uLongf bound = compressBound(static_cast<uLong>(raw.size()));
  std::string out(1 + bound, '\0');
  out[0] = kFormatDeflate;
  compress2(reinterpret_cast<Bytef*>(&out[1]), &bound, reinterpret_cast<const Bytef*>(raw.data()),
            static_cast<uLong>(raw.size()), 6);
  out.resize(1 + bound);
  return out;
}

bool SampleBlock::decode(std::string_view data, size_t num_values, SampleBlock* out) {
  if (data.empty() || data[0] != kFormatDeflate) return false;
  data.remove_prefix(1);
  // Inflate with a growing buffer; a block never inflates beyond what rows imply.
  std::string raw;
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return false;
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&zs};
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  char buf[32 * 1024];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    raw.append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK && raw.size() < (1u << 30));
  if (rc != Z_STREAM_END) return false;

  enc::Reader r(raw);
  uint64_t n = r.varint();
  if (!r.ok() || n > kMaxRows) return false;
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
  return r.ok() && r.done();
}

struct SampleColumnReader::Inflater {
  z_stream zs{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&zs);
  }
};

SampleColumnReader::SampleColumnReader() : inflater_(std::make_unique<Inflater>()) {}
SampleColumnReader::~SampleColumnReader() = default;

bool SampleColumnReader::read(std::string_view data, size_t num_values, size_t col,
                              std::vector<int64_t>* stacks, std::vector<int64_t>* values) {
  if (data.empty() || data[0] != kFormatDeflate || col >= num_values) return false;
  data.remove_prefix(1);
  z_stream& zs = inflater_->zs;
  if (!inflater_->ready) {
    if (inflateInit(&zs) != Z_OK) return false;
    inflater_->ready = true;
  } else if (inflateReset(&zs) != Z_OK) {
    return false;
  }
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  // Blocks inflate to a few times their size; grow the buffer as needed.
  if (raw_.size() < data.size() * 4 + 4096) raw_.resize(data.size() * 4 + 4096);
  size_t used = 0;
  int rc;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(&raw_[used]);
    zs.avail_out = static_cast<uInt>(raw_.size() - used);
    rc = inflate(&zs, Z_NO_FLUSH);
    used = raw_.size() - zs.avail_out;
    if (rc != Z_OK) break;
    if (zs.avail_out == 0) {
      if (raw_.size() >= (1u << 30)) return false;
      raw_.resize(raw_.size() * 2);
    }
  }
  if (rc != Z_STREAM_END) return false;

  enc::Reader r(std::string_view(raw_.data(), used));
  uint64_t n = r.varint();
  if (!r.ok() || n > kMaxRows) return false;
  stacks->resize(n);
  values->resize(n);
  int64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) (*stacks)[i] = prev += r.svarint();
  for (uint64_t i = 0; i < n; ++i) r.varint();  // label set ids
  for (size_t j = 0; j < col; ++j) {
    for (uint64_t i = 0; i < n; ++i) r.varint();
  }
  for (uint64_t i = 0; i < n; ++i) (*values)[i] = r.svarint();
  return r.ok();
}

}  // namespace stoker
