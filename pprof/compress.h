// Compression for profiles and storage blocks, with libdeflate (whole-buffer
// DEFLATE, about twice zlib's speed) and thread-local (de)compressors.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/status.h"

namespace stoker::pprof {

// True when `data` starts with the gzip magic bytes.
bool is_gzip(std::string_view data);

// Inflates a gzip stream — several members in a row, as RFC 1952 allows, are
// one stream — into `out`, failing once more than `limit` bytes would be
// produced. A failure says what is wrong: "truncated gzip stream", "corrupt
// gzip stream: …" (invalid_argument), "decompressed profile exceeds …"
// (resource_exhausted).
Status gunzip(std::string_view in, size_t limit, std::string* out);
// Compresses `in` as one gzip member. Level 1 (fastest) to 12 (smallest);
// 6 is about zlib's default size in less time.
std::string gzip(std::string_view in, int level = 6);

// The first part of a gzip member whose rest is not known yet: raw DEFLATE
// that ends with a sync flush (an empty stored block, byte-aligned) instead of
// a final block, so that more DEFLATE data can follow it in the same stream;
// with the CRC-32 and the size of what it holds. A part is compressed once and
// can start any number of members (gzip_after).
struct DeflatePart {
  std::string deflated;
  uint32_t crc = 0;
  uint64_t size = 0;
};
// `in` as such a part (zlib, `level` 1 to 9).
DeflatePart deflate_part(std::string_view in, int level);
// One gzip member holding the bytes of `first` followed by `rest`, which is
// compressed here (libdeflate, `level` as for gzip()): what gzip() of the two
// joined would give, but for the DEFLATE blocks themselves.
std::string gzip_after(const DeflatePart& first, std::string_view rest, int level);

// zlib-format (RFC 1950) buffers, for storage blocks.
std::string zlib_compress(std::string_view in, int level = 6);
// Inflates `in`, which must inflate to exactly `raw_size` bytes, into `out`.
Status zlib_decompress_exact(std::string_view in, size_t raw_size, std::string* out);

}  // namespace stoker::pprof
