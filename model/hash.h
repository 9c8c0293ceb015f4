// Fast non-cryptographic hashing for in-memory tables: two independent 64-bit
// lanes over eight bytes at a time, so that a 128-bit key can stand in for the
// bytes it was computed from (collisions among billions of keys are
// negligible). Seeded: tables that hold what targets send use a per-process
// random seed, so that a target cannot choose names that collide with another
// target's. Header-only, thread-safe.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace stoker {

struct Hash128 {
  uint64_t a = 0, b = 0;
  bool operator==(const Hash128&) const = default;
};

// For unordered containers keyed by a Hash128 (already well mixed).
struct Hash128Hasher {
  size_t operator()(const Hash128& h) const { return static_cast<size_t>(h.a ^ (h.b << 1)); }
};

inline uint64_t hash_mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

// Combines parts (numbers, other hashes) into a Hash128, in two independent
// lanes: HashMix(tag).add(x).add(h).done().
struct HashMix {
  uint64_t a, b;
  explicit HashMix(uint64_t tag) : a(tag), b(~tag) {}
  explicit HashMix(const Hash128& start) : a(start.a), b(start.b) {}
  HashMix& add(uint64_t v) {
    a = hash_mix(a, v);
    b = hash_mix(b, v ^ 0x5851f42d4c957f2dull);
    return *this;
  }
  HashMix& add(const Hash128& h) {
    a = hash_mix(a, h.a);
    b = hash_mix(b, h.b);
    return *this;
  }
  Hash128 done() const { return {a, b}; }
};

namespace detail {
// The last `rem` (< 8) bytes of the `n` bytes at `p` as a little-endian word
// (the upper bytes zero), read with full-width loads: copying them out with a
// memcpy of variable size and loading the word back stalled on the store
// (a sixth of hashing a short string).
inline uint64_t tail_word(const char* p, size_t n, size_t rem) {
  uint64_t w = 0;
  if (rem == 0) return 0;  // (p may be null then)
  if constexpr (std::endian::native != std::endian::little) {
    std::memcpy(&w, p + n - rem, rem);
  } else if (n >= 8) {
    std::memcpy(&w, p + n - 8, 8);  // the word that ends with them
    w >>= 8 * (8 - rem);
  } else if (rem >= 4) {  // n == rem: two overlapping 4-byte loads
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + rem - 4, 4);
    w = lo | (static_cast<uint64_t>(hi) << (8 * (rem - 4)));
  } else {  // 1 to 3 bytes
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    w = u[0] | (static_cast<uint64_t>(u[rem / 2]) << (8 * (rem / 2))) |
        (static_cast<uint64_t>(u[rem - 1]) << (8 * (rem - 1)));
  }
  return w;
}

// hash_bytes, and the OR of every byte read when `kHighBits` (so that a
// caller can tell ASCII text from the same pass).
template <bool kHighBits>
inline Hash128 hash_bytes(std::string_view s, uint64_t seed, uint64_t* high_bits) {
  uint64_t a = 0x9ae16a3b2f90404full ^ s.size() ^ seed;
  uint64_t b = 0xc3a5c85c97cb3127ull ^ s.size() ^ (seed * 0x9e3779b97f4a7c15ull);
  uint64_t seen = 0;
  auto step = [&](uint64_t w) {
    if constexpr (kHighBits) seen |= w;
    a = (a ^ w) * 0xff51afd7ed558ccdull;
    a ^= a >> 29;
    b = (b ^ w) * 0xc4ceb9fe1a85ec53ull;
    b ^= b >> 31;
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    step(w);
  }
  step(tail_word(s.data(), s.size(), s.size() - i));
  if constexpr (kHighBits) *high_bits = seen & 0x8080808080808080ull;
  return {hash_mix(a, 0x5bd1e995), hash_mix(b, 0x1b873593)};
}
}  // namespace detail

inline Hash128 hash_bytes(std::string_view s, uint64_t seed = 0) {
  return detail::hash_bytes<false>(s, seed, nullptr);
}

// hash_bytes(s, seed), and in the same pass whether `s` is all ASCII.
inline Hash128 hash_bytes_ascii(std::string_view s, uint64_t seed, bool* ascii) {
  uint64_t high = 0;
  Hash128 h = detail::hash_bytes<true>(s, seed, &high);
  *ascii = high == 0;
  return h;
}

namespace detail {
// FrameSum's odd per-position multipliers (fixed: they only need to differ).
struct PositionMultipliers {
  uint64_t a[64] = {}, b[64] = {};
  constexpr PositionMultipliers() {
    uint64_t x = 0x2545f4914f6cdd1dull;
    auto next = [&x] {  // splitmix64
      uint64_t z = (x += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return z ^ (z >> 31);
    };
    for (auto& m : a) m = next() | 1;
    for (auto& m : b) m = next() | 1;
  }
};
inline constexpr PositionMultipliers kPositionMultipliers{};
}  // namespace detail

// A stack's hash from its frames' hashes: the sum of each frame's hash times
// an odd multiplier of its position, in two lanes. The frames are combined
// independently of each other (no chain of dependent multiplications, which
// cost more than loading the frames' hashes), while order and repetition still
// matter (each multiplier is odd, hence invertible). Mix the sum with the depth
// (HashMix) before using it as a key.
class FrameSum {
 public:
  void add(size_t position, const Hash128& frame) {
    if (position < 64) {  // (nearly every frame: no scaling to multiply by)
      a_ += frame.a * detail::kPositionMultipliers.a[position];
      b_ += frame.b * detail::kPositionMultipliers.b[position];
      return;
    }
    // Beyond 64 frames the multipliers repeat, scaled by another odd factor.
    const uint64_t round = 2 * static_cast<uint64_t>(position >> 6) + 1;
    a_ += frame.a * (detail::kPositionMultipliers.a[position & 63] * round);
    b_ += frame.b * (detail::kPositionMultipliers.b[position & 63] * round);
  }
  Hash128 sum() const { return {a_, b_}; }

 private:
  uint64_t a_ = 0, b_ = 0;
};

// A random seed chosen once per process.
uint64_t process_hash_seed();

}  // namespace stoker
