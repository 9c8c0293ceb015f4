#include "model/hash.h"

#include <random>

namespace stoker {

uint64_t process_hash_seed() {
  static const uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ 0x2545f4914f6cdd1dull;
  }();
  return seed;
}

}  // namespace stoker
