#include <catch2/catch.hpp>

#include "pprof/delta.h"
#include "collector/scrape_loop.h"
#include "config/config.h"
#include "tests/support/profiles.h"

using namespace stoker;
using pprof::DeltaState;

namespace {

const std::vector<std::pair<std::string, std::string>> kHeap = {{"alloc_objects", "count"},
                                                                {"alloc_space", "bytes"},
                                                                {"inuse_objects", "count"},
                                                                {"inuse_space", "bytes"}};

perftools::profiles::Profile heap(const std::vector<test::SampleSpec>& samples) {
  return test::make_profile(kHeap, samples);
}

}  // namespace

TEST_CASE("cumulative columns per profile type", "[delta]") {
  auto h = heap({{{"f"}, {1, 2, 3, 4}}});
  CHECK(DeltaState::cumulative_columns(h, "memory") == std::vector<size_t>{0, 1});
  auto m =
      test::make_profile({{"contentions", "count"}, {"delay", "nanoseconds"}}, {{{"f"}, {1, 2}}});
  CHECK(DeltaState::cumulative_columns(m, "mutex") == std::vector<size_t>{0, 1});
  CHECK(DeltaState::cumulative_columns(m, "block") == std::vector<size_t>{0, 1});
  CHECK(DeltaState::cumulative_columns(h, "goroutine").empty());
  CHECK(DeltaState::cumulative_columns(h, "process_cpu").empty());
}

TEST_CASE("the first profile primes, later ones become deltas, in-use values pass through",
          "[delta]") {
  DeltaState state;
  auto first = heap({{{"malloc", "a"}, {10, 1000, 2, 200}}, {{"malloc", "b"}, {5, 500, 0, 0}}});
  auto cols = DeltaState::cumulative_columns(first, "memory");
  CHECK(state.apply(first, cols) == DeltaState::Result::kPrimed);

  // Samples in another order, so Go-style location ids differ from the first profile.
  auto second = heap({{{"malloc", "c"}, {1, 64, 1, 64}},
                      {{"malloc", "b"}, {5, 500, 0, 0}},
                      {{"malloc", "a"}, {14, 1400, 3, 300}}});
  CHECK(state.apply(second, cols) == DeltaState::Result::kDelta);
  auto got = test::canonical(second);
  auto expect = test::canonical(
      heap({{{"malloc", "a"}, {4, 400, 3, 300}}, {{"malloc", "c"}, {1, 64, 1, 64}}}));
  CHECK(got == expect);  // b had no new allocations and nothing in use: dropped
  CHECK(state.tracked_stacks() == 3);
}

TEST_CASE("sample labels keep stacks apart", "[delta]") {
  DeltaState state;
  auto p1 =
      heap({{{"malloc", "a"}, {1, 10, 0, 0}, {}, 16}, {{"malloc", "a"}, {1, 100, 0, 0}, {}, 128}});
  auto cols = DeltaState::cumulative_columns(p1, "memory");
  state.apply(p1, cols);
  auto p2 =
      heap({{{"malloc", "a"}, {3, 30, 0, 0}, {}, 16}, {{"malloc", "a"}, {1, 100, 0, 0}, {}, 128}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Result::kDelta);
  REQUIRE(p2.sample_size() == 1);
  CHECK(test::totals(p2) == std::vector<int64_t>{2, 20, 0, 0});
}

TEST_CASE("a counter that went down re-primes instead of going negative", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{{"a"}, {100, 1000, 0, 0}}});
  state.apply(p1, cols);
  auto restarted = heap({{{"a"}, {3, 30, 0, 0}}});
  CHECK(state.apply(restarted, cols) == DeltaState::Result::kReset);
  auto p3 = heap({{{"a"}, {5, 50, 0, 0}}});
  CHECK(state.apply(p3, cols) == DeltaState::Result::kDelta);
  CHECK(test::totals(p3) == std::vector<int64_t>{2, 20, 0, 0});
}

TEST_CASE("repeated stacks within one profile are differenced once", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{{"a"}, {1, 10, 0, 0}}, {{"a"}, {1, 10, 0, 0}}});
  state.apply(p1, cols);
  auto p2 = heap({{{"a"}, {2, 20, 0, 0}}, {{"a"}, {3, 30, 0, 0}}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Result::kDelta);
  CHECK(test::totals(p2) == std::vector<int64_t>{3, 30, 0, 0});
}

TEST_CASE("the deltas of N scrapes add up to last minus first", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  std::vector<int64_t> sum(4, 0);
  int64_t a = 10, b = 7;
  auto first = heap({{{"x", "a"}, {a, a * 8, 1, 8}}, {{"y", "b"}, {b, b * 8, 0, 0}}});
  state.apply(first, cols);
  for (int i = 1; i <= 20; ++i) {
    a += i;
    b += (i % 3 == 0) ? 5 : 0;
    auto p = heap({{{"y", "b"}, {b, b * 8, 0, 0}}, {{"x", "a"}, {a, a * 8, 1, 8}}});
    REQUIRE(state.apply(p, cols) == DeltaState::Result::kDelta);
    auto t = test::totals(p);
    sum[0] += t[0];
    sum[1] += t[1];
  }
  CHECK(sum[0] == (a - 10) + (b - 7));
  CHECK(sum[1] == 8 * ((a - 10) + (b - 7)));
}

TEST_CASE("only cumulative types that are not deltas already are differenced", "[delta]") {
  auto type = [](const std::string& name, bool delta = false) {
    for (auto t : default_profile_types()) {
      if (t.name == name) {
        t.delta = t.delta || delta;
        return t;
      }
    }
    ProfileTypeConfig custom;
    custom.name = name;
    custom.delta = delta;
    return custom;
  };
  CHECK(ScrapeLoop::computes_delta(type("memory")));
  CHECK(ScrapeLoop::computes_delta(type("block")));
  CHECK(ScrapeLoop::computes_delta(type("mutex")));
  // godeltaprof endpoints deliver deltas; `delta: true` fetches ?seconds=N deltas.
  CHECK_FALSE(ScrapeLoop::computes_delta(type("godeltaprof_memory")));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("godeltaprof_mutex")));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("godeltaprof_block")));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("memory", true)));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("process_cpu")));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("goroutine")));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("fgprof")));
  CHECK_FALSE(ScrapeLoop::computes_delta(type("my_custom")));
}
