// ForwardTables: which symbol tables are kept compressed, and which go.
#include <catch2/catch.hpp>

#include "ingest/forward_tables.h"

using namespace stoker;

namespace {

Hash128 key(uint64_t n) { return {n, ~n}; }

// A part of `n` bytes (what it holds does not matter to the cache).
pprof::DeflatePart part_of(size_t n, int* made) {
  ++*made;
  pprof::DeflatePart p;
  p.deflated.assign(n, 'x');
  p.deflated.shrink_to_fit();
  p.size = n;
  return p;
}

}  // namespace

TEST_CASE("symbol tables are kept compressed from the second time they come up",
          "[ingest][forward_tables]") {
  ingest::ForwardTables cache(1 << 20);
  int made = 0;
  auto make = [&] { return part_of(1000, &made); };
  // First seen: not compressed apart, not kept.
  CHECK(cache.get(key(1), make) == nullptr);
  CHECK(made == 0);
  // Seen again: compressed once, kept, and given back from then on.
  auto kept = cache.get(key(1), make);
  REQUIRE(kept != nullptr);
  CHECK(made == 1);
  CHECK(cache.get(key(1), make) == kept);
  CHECK(cache.get(key(1), make) == kept);
  CHECK(made == 1);
  // Other tables are other entries.
  CHECK(cache.get(key(2), make) == nullptr);
  CHECK(cache.get(key(2), make) != kept);
  auto st = cache.stats();
  CHECK(st.hits == 2);
  CHECK(st.added == 2);
  CHECK(st.skipped == 2);
  CHECK(st.entries == 2);
  CHECK(st.bytes >= 2000);
  CHECK(st.evicted == 0);
}

TEST_CASE("kept tables stay within the budget, and a larger working set keeps what fits",
          "[ingest][forward_tables]") {
  int made = 0;
  auto make = [&] { return part_of(1000, &made); };
  auto entry_cost = [&] {
    ingest::ForwardTables probe(1 << 20);
    probe.get(key(0), make);
    probe.get(key(0), make);
    return probe.stats().bytes;
  }();
  ingest::ForwardTables cache(3 * entry_cost);  // room for three
  for (uint64_t k : {1, 2, 3}) {
    cache.get(key(k), make);
    REQUIRE(cache.get(key(k), make) != nullptr);
  }
  CHECK(cache.stats().entries == 3);
  // A fourth comes up twice while the three are in use: it does not displace
  // them (in a cycle of four over room for three, three keep hitting).
  made = 0;
  CHECK(cache.get(key(4), make) == nullptr);
  for (uint64_t k : {1, 2, 3}) CHECK(cache.get(key(k), make) != nullptr);
  CHECK(cache.get(key(4), make) == nullptr);
  CHECK(made == 0);
  for (int round = 0; round < 3; ++round) {
    for (uint64_t k : {1, 2, 3}) CHECK(cache.get(key(k), make) != nullptr);
    CHECK(cache.get(key(4), make) == nullptr);
  }
  CHECK(made == 0);
  CHECK(cache.stats().evicted == 0);
  // Entry 1 goes out of use (a redeploy changed those tables): the next time
  // the fourth comes up, it takes 1's place.
  for (uint64_t k : {2, 3}) CHECK(cache.get(key(k), make) != nullptr);
  auto fourth = cache.get(key(4), make);
  CHECK(fourth != nullptr);
  CHECK(made == 1);
  auto st = cache.stats();
  CHECK(st.entries == 3);
  CHECK(st.evicted == 1);
  CHECK(st.bytes <= 3 * entry_cost);
  CHECK(cache.get(key(4), make) == fourth);
  CHECK(cache.get(key(1), make) == nullptr);  // gone: seen anew
  // Tables larger than the whole budget are compressed for the one profile
  // that has them, and not kept.
  ingest::ForwardTables small(entry_cost / 2);
  made = 0;
  small.get(key(9), make);
  CHECK(small.get(key(9), make) != nullptr);
  CHECK(made == 1);
  CHECK(small.stats().entries == 0);
  CHECK(small.stats().bytes == 0);
  // ... and from then on not compressed apart again.
  CHECK(small.get(key(9), make) == nullptr);
  CHECK(small.get(key(9), make) == nullptr);
  CHECK(made == 1);
}

TEST_CASE("the first-seen keys are forgotten all at once when there are too many",
          "[ingest][forward_tables]") {
  int made = 0;
  auto make = [&] { return part_of(100, &made); };
  ingest::ForwardTables cache(1 << 20, /*max_seen=*/4);
  for (uint64_t k = 1; k <= 4; ++k) CHECK(cache.get(key(k), make) == nullptr);
  // A fifth clears the memory: 1 is first seen again, then kept.
  CHECK(cache.get(key(5), make) == nullptr);
  CHECK(cache.get(key(1), make) == nullptr);
  CHECK(cache.get(key(1), make) != nullptr);
  CHECK(cache.get(key(5), make) != nullptr);
  CHECK(made == 2);
}
