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

struct Demo {
  int port = free_port();
  TempDir dir;
  Child child{{DEMO_APP, "-listen", "127.0.0.1:" + std::to_string(port)}, dir.file("demo.log")};
  Demo() {
    std::string body;
    bool up = wait_for([&] { return http_get(port, "/debug/pprof/", &body) == 200; }, 15000);
    INFO(read_file(dir.file("demo.log")));
    REQUIRE(up);
  }
};

// Profiles of one type stored in the database `r` reads.
inline int64_t profiles_of(Reader& r, const std::string& type) {
  std::string err;
  auto sel = Selector::parse(type);
  int64_t n = 0;
  for (const auto& s : r.series(*sel, {})) n += s.profiles;
  return n;
}

}  // namespace stoker::test
