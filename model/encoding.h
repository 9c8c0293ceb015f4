// Compact binary encodings used inside stoker's SQLite rows: LEB128 varints,
// zigzag for signed values, and length-checked readers. Pure, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace stoker::enc {

inline void put_varint(std::string& out, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out.append(buf, n);
}
// The bytes put_varint writes for `v`.
inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}
inline uint64_t zigzag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t unzigzag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
inline void put_svarint(std::string& out, int64_t v) {
  put_varint(out, zigzag(v));
}

// Reads varints from a buffer; ok() turns false on truncation and stays false.
class Reader {
 public:
  explicit Reader(std::string_view data) : p_(data) {}
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_.empty()) {
        ok_ = false;
        return 0;
      }
      auto b = static_cast<unsigned char>(p_[0]);
      p_.remove_prefix(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  int64_t svarint() { return unzigzag(varint()); }
  // Eight bytes, little endian.
  uint64_t fixed64() {
    if (p_.size() < 8) {
      ok_ = false;
      p_ = {};
      return 0;
    }
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(p_[b])) << (8 * b);
    p_.remove_prefix(8);
    return v;
  }
  bool ok() const { return ok_; }
  bool done() const { return p_.empty(); }
  std::string_view rest() const { return p_; }

 private:
  std::string_view p_;
  bool ok_ = true;
};

}  // namespace stoker::enc
