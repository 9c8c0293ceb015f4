// SynthService: a synthetic Go service whose profiles look like real ones —
// a few thousand functions with long package-qualified names, a call graph
// with deep shared prefixes, locations with addresses and lines in one
// mapping, and CPU profiles that draw ~1,500 samples per scrape from a skewed
// population of stacks, so consecutive profiles share most stacks but not all.
// Deterministic for a seed. Not thread-safe.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "proto/profile.pb.h"

namespace stoker::bench {

struct SynthShape {
  int functions = 2000;  // distinct functions in the binary
  int stacks = 12000;    // distinct stacks the program can be in
  int min_depth = 8, max_depth = 40;
  int samples = 2600;  // CPU samples drawn per profile (≈1,500 distinct stacks)
};

class SynthService {
 public:
  SynthService(uint64_t seed, SynthShape shape = {});

  // A CPU profile (samples/count, cpu/nanoseconds; period 10 ms) taken at
  // `time_ns` over `duration_ns`, as Go's /debug/pprof/profile writes it:
  // fresh ids, the string table built as it goes.
  perftools::profiles::Profile cpu(int64_t time_ns, int64_t duration_ns);

  // A new build of the program, as a deploy brings: every address moves and
  // about one function in twenty gets another name. Stacks stay the same.
  void deploy(int generation);

  const SynthShape& shape() const { return shape_; }

 private:
  SynthShape shape_;
  std::mt19937_64 rng_;
  std::vector<std::string> base_names_, names_, files_;
  int generation_ = 0;
  std::vector<uint64_t> addresses_;       // per function
  std::vector<std::vector<int>> stacks_;  // leaf first, function indices
  std::discrete_distribution<int> pick_;  // which stack a sample hits
};

}  // namespace stoker::bench
