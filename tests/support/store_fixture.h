// StoreFixture: a real SQLite store filled with known profiles for the read
// side's tests: services `api` and `web`, a CPU profile (samples + cpu) every
// 15 s for two minutes, and one memory profile. Each api CPU profile i holds
// main.main;main.work;runtime.leaf = 10·(i+1), main.main;main.idle = 20 and
// main.main = 5 (cpu ns); each web profile main.main;web.serve = 7.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/profile.pb.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"

namespace stoker::test {

constexpr int64_t kSec = 1'000'000'000;

// A Go-like CPU profile: sample types samples/count and cpu/nanoseconds, period cpu/nanoseconds.
perftools::profiles::Profile cpu_profile(const std::vector<SampleSpec>& samples);

struct StoreFixture {
  TempDir dir;
  std::string path = dir.file("q.db");
  std::vector<perftools::profiles::Profile> api_cpu;
  int64_t now;  // whole ms, in ns
  int64_t t0;   // the first profile's scrape time (ns)

  StoreFixture();
  int64_t start_ms() const { return (t0 - kSec) / 1'000'000; }
  int64_t end_ms() const { return now / 1'000'000; }
};

}  // namespace stoker::test
