// The demo Go app (examples/demo) as a real pprof producer for integration
// tests, and small helpers shared by them. Header-only: DEMO_APP comes from the
// integration test target.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "model/selector.h"
#include "storage/reader.h"
#include "tests/support/process.h"

namespace stoker::test {

// The demo app (examples/demo) on a free port; `flags` are added to its
// command line (e.g. -counter-label).
struct Demo {
  int port = free_port();
  TempDir dir;
  Child child;
  explicit Demo(std::vector<std::string> flags = {})
      : child(with_listen(std::move(flags), port), dir.file("demo.log")) {
    std::string body;
    bool up = wait_for([&] { return http_get(port, "/debug/pprof/", &body) == 200; }, 15000);
    INFO(read_file(dir.file("demo.log")));
    REQUIRE(up);
  }

 private:
  static std::vector<std::string> with_listen(std::vector<std::string> flags, int port) {
    flags.insert(flags.begin(), {DEMO_APP, "-listen", "127.0.0.1:" + std::to_string(port)});
    return flags;
  }
};

// Profiles of one type stored in the database `r` reads.
inline int64_t profiles_of(Reader& r, const std::string& type) {
  std::string err;
  auto sel = Selector::parse(type);
  int64_t n = 0;
  // The demo app labels its requests by endpoint: each CPU profile is stored
  // as several series. Its unlabelled series has one per scrape.
  for (const auto& s : r.series(*sel, {})) {
    if (!s.labels.has("endpoint")) n += s.profiles;
  }
  return n;
}

}  // namespace stoker::test
