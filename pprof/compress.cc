#include "pprof/compress.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <stdexcept>

namespace stoker::pprof {

namespace {

struct FreeDecompressor {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};
struct FreeCompressor {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

libdeflate_decompressor* decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, FreeDecompressor> d(
      libdeflate_alloc_decompressor());
  return d.get();
}

libdeflate_compressor* compressor(int level) {
  level = std::clamp(level, 1, 12);
  thread_local std::unique_ptr<libdeflate_compressor, FreeCompressor> c[13];
  if (!c[level]) c[level].reset(libdeflate_alloc_compressor(level));
  return c[level].get();
}

// zlib's streaming inflate over one gzip member, only to say precisely why a
// stream libdeflate refused is bad (truncated or corrupt).
std::string explain_bad_gzip(std::string_view in) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return "corrupt gzip stream";
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[16 * 1024];
  std::string why;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    int rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      why = "truncated gzip stream";
    } else if (rc == Z_STREAM_END) {
      why = "corrupt gzip stream";
    } else {
      why = std::string("corrupt gzip stream: ") + (zs.msg ? zs.msg : "inflate failed");
    }
    break;
  }
  inflateEnd(&zs);
  return why;
}

}  // namespace

bool is_gzip(std::string_view d) {
  return d.size() >= 2 && static_cast<unsigned char>(d[0]) == 0x1f &&
         static_cast<unsigned char>(d[1]) == 0x8b;
}

Status gunzip(std::string_view in, size_t limit, std::string* out) {
  // `out`'s present bytes are overwritten, not cleared first: a buffer that
  // is reused from profile to profile (the views') is not zero-filled again
  // up to the size it had.
  size_t used = 0;
  std::string_view rest = in;
  do {
    if (rest.size() < 18) return out->clear(), Status::invalid("truncated gzip stream");
    // The trailer's ISIZE is the size of a lone member (mod 2^32); DEFLATE
    // cannot expand more than 1032:1, so a larger claim is not believed.
    uint32_t isize;
    std::memcpy(&isize, rest.data() + rest.size() - 4, 4);
    size_t room = limit - used;
    size_t cap = std::min({room, std::max<size_t>(isize, 4096), rest.size() * 1032});
    while (true) {
      if (out->size() < used + cap) out->resize(used + cap);
      size_t in_used = 0, produced = 0;
      auto rc = libdeflate_gzip_decompress_ex(decompressor(), rest.data(), rest.size(),
                                              out->data() + used, cap, &in_used, &produced);
      if (rc == LIBDEFLATE_SUCCESS) {
        used += produced;
        rest.remove_prefix(in_used);
        break;
      }
      if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) {
        if (cap >= room) {
          out->clear();
          return Status::exhausted("decompressed profile exceeds " + std::to_string(limit) +
                                   " bytes (possible gzip bomb)");
        }
        cap = std::min(room, cap * 2);
        continue;
      }
      out->clear();
      return Status::invalid(explain_bad_gzip(rest));
    }
  } while (!rest.empty() && is_gzip(rest));
  out->resize(used);
  // Anything after the last member (padding some writers add) is ignored, as
  // Go's reader ignores trailing zeros.
  return Status();
}

namespace {

// Compresses with `compress(dst, capacity)` into a buffer this thread keeps
// (up to 4 MiB), then copies the result out at its size: a fresh buffer of
// the bound (about the input's size) would be a new mapping to fault in (or
// to zero-fill) for every profile, and the result would keep that capacity.
template <typename Compress>
std::string compress_kept(size_t bound, Compress compress) {
  constexpr size_t kKeep = 4u << 20;
  thread_local std::unique_ptr<char[]> kept;
  thread_local size_t kept_size = 0;
  std::unique_ptr<char[]> once;
  char* dst;
  if (bound <= kKeep) {
    if (kept_size < bound) {
      kept.reset(new char[bound]);  // not zero-filled
      kept_size = bound;
    }
    dst = kept.get();
  } else {
    once.reset(new char[bound]);
    dst = once.get();
  }
  return std::string(dst, compress(dst, bound));
}

}  // namespace

std::string gzip(std::string_view in, int level) {
  libdeflate_compressor* c = compressor(level);
  return compress_kept(libdeflate_gzip_compress_bound(c, in.size()), [&](char* dst, size_t cap) {
    return libdeflate_gzip_compress(c, in.data(), in.size(), dst, cap);
  });
}

DeflatePart deflate_part(std::string_view in, int level) {
  DeflatePart part;
  part.size = in.size();
  part.crc = libdeflate_crc32(0, in.data(), in.size());
  if (in.size() > std::numeric_limits<uInt>::max() / 2) {
    throw std::length_error("deflate_part: input too large");  // (profiles are far smaller)
  }
  z_stream zs{};
  // Raw DEFLATE (negative window bits: no zlib or gzip wrapper).
  if (deflateInit2(&zs, std::clamp(level, 1, 9), Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    throw std::bad_alloc();
  }
  // deflateBound() covers the whole input with Z_FINISH; a sync flush adds
  // at most an empty stored block (5 bytes) and the bits before it.
  part.deflated.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 16);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(part.deflated.data());
  zs.avail_out = static_cast<uInt>(part.deflated.size());
  const int rc = deflate(&zs, Z_SYNC_FLUSH);
  const bool ok = rc == Z_OK && zs.avail_in == 0 && zs.avail_out > 0;
  part.deflated.resize(zs.total_out);
  part.deflated.shrink_to_fit();  // (sized for the bound: about the input's size)
  deflateEnd(&zs);
  if (!ok) throw std::runtime_error("deflate_part: zlib deflate failed");
  return part;
}

std::string gzip_after(const DeflatePart& first, std::string_view rest, int level) {
  // The member's header (no name, no time, OS unknown), the
  // first part's blocks, the rest's blocks (the last one final), and the
  // trailer: the CRC-32 of all the bytes (combined from the two parts'), and
  // their size mod 2^32.
  static constexpr unsigned char kHeader[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  libdeflate_compressor* c = compressor(level);
  const size_t bound =
      sizeof kHeader + first.deflated.size() + libdeflate_deflate_compress_bound(c, rest.size()) + 8;
  return compress_kept(bound, [&](char* dst, size_t cap) -> size_t {
    char* p = dst;
    std::memcpy(p, kHeader, sizeof kHeader);
    p += sizeof kHeader;
    std::memcpy(p, first.deflated.data(), first.deflated.size());
    p += first.deflated.size();
    size_t n = libdeflate_deflate_compress(c, rest.data(), rest.size(), p,
                                           cap - static_cast<size_t>(p - dst) - 8);
    if (n == 0) throw std::runtime_error("gzip_after: libdeflate output exceeded its bound");
    p += n;
    uint32_t crc = static_cast<uint32_t>(crc32_combine(
        first.crc, libdeflate_crc32(0, rest.data(), rest.size()), static_cast<z_off_t>(rest.size())));
    uint32_t isize = static_cast<uint32_t>(first.size + rest.size());
    for (int i = 0; i < 4; ++i) *p++ = static_cast<char>(crc >> (8 * i));
    for (int i = 0; i < 4; ++i) *p++ = static_cast<char>(isize >> (8 * i));
    return static_cast<size_t>(p - dst);
  });
}

std::string zlib_compress(std::string_view in, int level) {
  libdeflate_compressor* c = compressor(level);
  return compress_kept(libdeflate_zlib_compress_bound(c, in.size()), [&](char* dst, size_t cap) {
    return libdeflate_zlib_compress(c, in.data(), in.size(), dst, cap);
  });
}

Status zlib_decompress_exact(std::string_view in, size_t raw_size, std::string* out) {
  out->resize(raw_size);
  if (libdeflate_zlib_decompress(decompressor(), in.data(), in.size(), out->data(), raw_size,
                                 nullptr) != LIBDEFLATE_SUCCESS) {
    return Status::invalid("corrupt zlib block (expected " + std::to_string(raw_size) + " bytes)");
  }
  return Status();
}

}  // namespace stoker::pprof
