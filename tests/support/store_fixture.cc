#include "tests/support/store_fixture.h"

#include <catch2/catch.hpp>

#include "model/timeparse.h"
#include "storage/storage.h"
#include "tests/support/must.h"

namespace stoker::test {

namespace {

void put(Storage& s, const Labels& labels, const perftools::profiles::Profile& p, int64_t ts) {
  ProfileRecord r;
  r.labels = labels;
  r.scrape_time_ns = ts;
  r.profile = std::make_shared<perftools::profiles::Profile>(p);
  REQUIRE(s.append(std::move(r)).ok());
}

}  // namespace

perftools::profiles::Profile cpu_profile(const std::vector<SampleSpec>& samples) {
  auto p = make_profile({{"samples", "count"}, {"cpu", "nanoseconds"}}, samples);
  p.add_string_table("cpu");
  p.add_string_table("nanoseconds");
  p.mutable_period_type()->set_type(p.string_table_size() - 2);
  p.mutable_period_type()->set_unit(p.string_table_size() - 1);
  p.set_period(10'000'000);
  return p;
}

StoreFixture::StoreFixture() : now(now_unix_nanos() / 1'000'000 * 1'000'000), t0(now - 120 * kSec) {
  StorageConfig cfg;
  cfg.path = path;
  auto store = test::must(Storage::open(cfg));
  REQUIRE(store);
  Labels api{{"__name__", "process_cpu"}, {"service_name", "api"}, {"job", "a"}, {"pod", "p1"}};
  Labels web{{"__name__", "process_cpu"}, {"service_name", "web"}, {"job", "w"}};
  for (int i = 0; i < 8; ++i) {
    auto p = cpu_profile({{{"runtime.leaf", "main.work", "main.main"}, {1, 10 * (i + 1)}},
                          {{"main.idle", "main.main"}, {2, 20}},
                          {{"main.main"}, {1, 5}}});
    api_cpu.push_back(p);
    put(*store, api, p, t0 + i * 15 * kSec);
    put(*store, web, cpu_profile({{{"web.serve", "main.main"}, {1, 7}}}),
        t0 + i * 15 * kSec + kSec);
  }
  Labels heap{{"__name__", "memory"}, {"service_name", "api"}, {"__delta__", "false"}};
  put(*store, heap,
      make_profile({{"alloc_objects", "count"}, {"alloc_space", "bytes"}},
                   {{{"malloc", "main.main"}, {3, 300}}}),
      t0);
  REQUIRE(store->flush(std::chrono::seconds(10)));
}

}  // namespace stoker::test
