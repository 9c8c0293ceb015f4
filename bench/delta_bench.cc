// Time and peak memory to delta a ~10 MB heap profile (Alloy's fastdelta is
// quoted at ~100 ms for 10 MB; the goal here is at most 20 ms).
//
// Usage: delta_bench [SAMPLES]   (default 60000, about 10 MB of uncompressed pprof)
// Builds 11 Go-like heap profiles of the same stacks (each with larger
// cumulative values and location ids assigned in a different order), primes a
// DeltaState with the first and times apply() on each of the others in turn, as
// one scrape loop would.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "pprof/delta.h"
#include "pprof/pprof_decode.h"
#include "pprof/view.h"

using perftools::profiles::Profile;
using stoker::pprof::DeltaState;

namespace {

long max_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

Profile make(size_t samples, size_t functions, int scrape, uint32_t order_seed) {
  Profile p;
  p.add_string_table("");
  for (const char* s : {"alloc_objects", "count", "alloc_space", "bytes", "inuse_objects",
                        "inuse_space", "space", "bytes"}) {
    p.add_string_table(s);
  }
  auto vt = [&](int t, int u) {
    auto* v = p.add_sample_type();
    v->set_type(t);
    v->set_unit(u);
  };
  vt(1, 2), vt(3, 4), vt(5, 2), vt(6, 4);
  p.mutable_period_type()->set_type(7);
  p.mutable_period_type()->set_unit(8);
  p.set_period(524288);
  // Functions and locations; ids are a permutation that differs per scrape, as Go's do.
  std::vector<uint64_t> ids(functions);
  for (size_t i = 0; i < functions; ++i) ids[i] = i + 1;
  std::shuffle(ids.begin(), ids.end(), std::mt19937(order_seed));
  for (size_t i = 0; i < functions; ++i) {
    int name = p.string_table_size();
    p.add_string_table("github.com/example/service/pkg" + std::to_string(i % 97) + ".Func" +
                       std::to_string(i));
    int file = p.string_table_size();
    p.add_string_table("/src/service/pkg" + std::to_string(i % 97) + "/file" +
                       std::to_string(i % 13) + ".go");
    auto* f = p.add_function();
    f->set_id(ids[i]);
    f->set_name(name);
    f->set_system_name(name);
    f->set_filename(file);
    auto* l = p.add_location();
    l->set_id(ids[i]);
    l->set_address(0x400000 + i * 64);
    auto* line = l->add_line();
    line->set_function_id(ids[i]);
    line->set_line(static_cast<int64_t>(10 + i % 400));
  }
  std::mt19937 rng(42);  // the same stacks in both scrapes
  int bytes_key = p.string_table_size();
  p.add_string_table("bytes");
  for (size_t s = 0; s < samples; ++s) {
    auto* sample = p.add_sample();
    size_t depth = 8 + rng() % 24;
    for (size_t d = 0; d < depth; ++d) sample->add_location_id(ids[rng() % functions]);
    int64_t objects = 1 + static_cast<int64_t>(rng() % 1000) * scrape;
    sample->add_value(objects);
    sample->add_value(objects * 512);
    sample->add_value(objects / 3);
    sample->add_value(objects / 3 * 512);
    auto* lab = sample->add_label();
    lab->set_key(bytes_key);
    lab->set_num(512);
  }
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  size_t samples = argc > 1 ? std::stoul(argv[1]) : 60000;
  constexpr int kRuns = 10;
  // Scrape k has the same stacks with larger cumulative values and its own id order.
  std::vector<std::shared_ptr<stoker::pprof::View>> scrapes;
  size_t bytes = 0;
  for (int k = 1; k <= kRuns + 1; ++k) {
    // Through the wire format and the scrape path's decoder.
    std::string wire = make(samples, 20000, k, static_cast<uint32_t>(k)).SerializeAsString();
    bytes = wire.size();
    auto decoded = stoker::pprof::decode_view(wire);
    if (!decoded) return 1;
    scrapes.push_back(*decoded);
  }
  std::printf("profile: %zu samples, %zu bytes uncompressed\n", samples, bytes);
  DeltaState state;
  auto cols = DeltaState::cumulative_columns(*scrapes[0], "memory");
  scrapes[0]->hash_symbols();
  if (state.apply(*scrapes[0], cols) != DeltaState::Outcome::kPrimed) return 1;
  // The steady state of a scrape loop: one state, one delta per scrape. The
  // symbols' content hashes are computed first, as the scrape path does (the
  // store uses them too); both are timed (the decoder hashed the strings).
  std::vector<double> ms;
  for (int run = 1; run <= kRuns; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    scrapes[static_cast<size_t>(run)]->hash_symbols();
    auto r = state.apply(*scrapes[static_cast<size_t>(run)], cols);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    if (r != DeltaState::Outcome::kDelta) {
      std::fprintf(stderr, "unexpected result\n");
      return 1;
    }
  }
  std::sort(ms.begin(), ms.end());
  std::printf("delta: median %.1f ms, min %.1f ms, max %.1f ms over %zu runs; tracked stacks %zu\n",
              ms[ms.size() / 2], ms.front(), ms.back(), ms.size(), state.tracked_stacks());
  std::printf(
      "delta state: %.1f MiB (%.0f bytes per distinct stack); process peak RSS %ld KiB\n",
      static_cast<double>(state.memory_bytes()) / (1 << 20),
      static_cast<double>(state.memory_bytes()) / static_cast<double>(state.tracked_stacks()),
      max_rss_kib());
  return 0;
}
