#include <catch2/catch.hpp>

#include <set>

#include "collector/scrape_loop.h"
#include "config/config.h"
#include "model/encoding.h"
#include "pprof/delta.h"
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
  CHECK(state.apply(first, cols) == DeltaState::Outcome::kPrimed);

  // Samples in another order, so Go-style location ids differ from the first profile.
  auto second = heap({{{"malloc", "c"}, {1, 64, 1, 64}},
                      {{"malloc", "b"}, {5, 500, 0, 0}},
                      {{"malloc", "a"}, {14, 1400, 3, 300}}});
  CHECK(state.apply(second, cols) == DeltaState::Outcome::kDelta);
  auto got = test::canonical(second);
  auto expect = test::canonical(
      heap({{{"malloc", "a"}, {4, 400, 3, 300}}, {{"malloc", "c"}, {1, 64, 1, 64}}}));
  CHECK(got == expect);  // b had no new allocations and nothing in use: dropped
  CHECK(state.tracked_stacks() == 3);
}

TEST_CASE("two call sites on one line are differenced each on its own", "[delta]") {
  // Frames are matched by their content, addresses included (as fastdelta
  // does): two PCs of one function and line are two frames, each with its
  // own counts, whatever ids the writer gave them.
  auto site = [](int64_t x, int64_t y) {
    auto p = heap({{{"f"}, {x, 10 * x, 0, 0}}, {{"g"}, {y, 10 * y, 0, 0}}});
    auto* second = p.mutable_location(1)->mutable_line(0);
    second->set_function_id(p.location(0).line(0).function_id());
    second->set_line(p.location(0).line(0).line());
    return p;
  };
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = site(1, 2);
  state.apply(p1, cols);
  CHECK(state.tracked_stacks() == 2);
  auto p2 = site(4, 3);
  REQUIRE(state.apply(p2, cols) == DeltaState::Outcome::kDelta);
  REQUIRE(p2.sample_size() == 2);
  CHECK(p2.sample(0).value(0) == 3);
  CHECK(p2.sample(1).value(0) == 1);
}

TEST_CASE("deep stacks that differ past the 64th frame are kept apart", "[delta]") {
  // Frame positions past 64 reuse the multipliers, scaled: frames 5 and 69
  // swapped make another stack.
  std::vector<std::string> deep;
  for (int i = 0; i < 130; ++i) deep.push_back("fn" + std::to_string(i));
  auto swapped = deep;
  std::swap(swapped[5], swapped[69]);
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{deep, {1, 10, 0, 0}}, {swapped, {100, 1000, 0, 0}}});
  state.apply(p1, cols);
  CHECK(state.tracked_stacks() == 2);
  auto p2 = heap({{deep, {2, 20, 0, 0}}, {swapped, {100, 1000, 0, 0}}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Outcome::kDelta);
  CHECK(test::totals(p2) == std::vector<int64_t>{1, 10, 0, 0});
}

TEST_CASE("sample labels keep stacks apart", "[delta]") {
  DeltaState state;
  auto p1 =
      heap({{{"malloc", "a"}, {1, 10, 0, 0}, {}, 16}, {{"malloc", "a"}, {1, 100, 0, 0}, {}, 128}});
  auto cols = DeltaState::cumulative_columns(p1, "memory");
  state.apply(p1, cols);
  auto p2 =
      heap({{{"malloc", "a"}, {3, 30, 0, 0}, {}, 16}, {{"malloc", "a"}, {1, 100, 0, 0}, {}, 128}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Outcome::kDelta);
  REQUIRE(p2.sample_size() == 1);
  CHECK(test::totals(p2) == std::vector<int64_t>{2, 20, 0, 0});
}

TEST_CASE("a counter that went down re-primes instead of going negative", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{{"a"}, {100, 1000, 0, 0}}});
  state.apply(p1, cols);
  auto restarted = heap({{{"a"}, {3, 30, 0, 0}}});
  CHECK(state.apply(restarted, cols) == DeltaState::Outcome::kReset);
  auto p3 = heap({{{"a"}, {5, 50, 0, 0}}});
  CHECK(state.apply(p3, cols) == DeltaState::Outcome::kDelta);
  CHECK(test::totals(p3) == std::vector<int64_t>{2, 20, 0, 0});
}

TEST_CASE("repeated stacks within one profile are differenced once", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{{"a"}, {1, 10, 0, 0}}, {{"a"}, {1, 10, 0, 0}}});
  state.apply(p1, cols);
  auto p2 = heap({{{"a"}, {2, 20, 0, 0}}, {{"a"}, {3, 30, 0, 0}}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Outcome::kDelta);
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
    REQUIRE(state.apply(p, cols) == DeltaState::Outcome::kDelta);
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

TEST_CASE("a stack missing from one scrape starts from zero when it comes back", "[delta]") {
  // The state is the previous scrape only: what it did not have counts from 0.
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{{"a"}, {5, 50, 0, 0}}, {{"b"}, {7, 70, 0, 0}}});
  state.apply(p1, cols);
  auto p2 = heap({{{"a"}, {6, 60, 0, 0}}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Outcome::kDelta);
  CHECK(test::totals(p2) == std::vector<int64_t>{1, 10, 0, 0});
  CHECK(state.tracked_stacks() == 1);
  auto p3 = heap({{{"a"}, {6, 60, 0, 0}}, {{"b"}, {9, 90, 0, 0}}});
  REQUIRE(state.apply(p3, cols) == DeltaState::Outcome::kDelta);
  CHECK(test::totals(p3) == std::vector<int64_t>{9, 90, 0, 0});
}

TEST_CASE("delta state holds 8 bytes of key and a varint per column for each distinct stack",
          "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  std::vector<test::SampleSpec> samples;
  for (int i = 0; i < 2000; ++i) {
    samples.push_back({{"malloc", "f" + std::to_string(i % 97), "g" + std::to_string(i)},
                       {i + 1, 64 * (i + 1), 0, 0}});
  }
  auto p = heap(samples);
  state.apply(p, cols);
  for (int round = 0; round < 5; ++round) {
    for (auto& s : samples) {
      s.values[0] += 1;
      s.values[1] += 64;
    }
    auto next = heap(samples);
    REQUIRE(state.apply(next, cols) == DeltaState::Outcome::kDelta);
    CHECK(test::totals(next)[0] == 2000);
  }
  CHECK(state.tracked_stacks() == 2000);
  // The last scrape's values, i + 6 and 64 × (i + 6), as zigzag varints.
  size_t varints = 0;
  for (const auto& s : samples) {
    varints += enc::varint_size(enc::zigzag(s.values[0])) +
               enc::varint_size(enc::zigzag(s.values[1]));
  }
  CHECK(varints < 2000 * 5);
  CHECK(state.memory_bytes() >= 2000 * 8 + varints);
  CHECK(state.memory_bytes() <= 2000 * 8 + varints + varints / 8 + 16);
}

TEST_CASE("delta state keeps values of every size and sign exactly", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  const int64_t big = (int64_t{1} << 62) + 3;
  auto p1 = heap({{{"a"}, {big, 1, 0, 0}},
                  {{"b"}, {-5, 100, 0, 0}},
                  {{"c"}, {0, INT64_MAX - 10, 0, 0}},
                  {{"d"}, {127, 128, 0, 0}}});
  state.apply(p1, cols);
  auto p2 = heap({{{"a"}, {big + 7, 1 + 1'000'000'000'000, 0, 0}},
                  {{"b"}, {-5, 164, 0, 0}},
                  {{"c"}, {0, INT64_MAX, 0, 0}},
                  {{"d"}, {128, 16511, 0, 0}}});
  REQUIRE(state.apply(p2, cols) == DeltaState::Outcome::kDelta);
  auto got = test::canonical(p2);
  REQUIRE(got.size() == 4);
  auto first = got.begin();
  CHECK(first->first.rfind("a", 0) == 0);
  CHECK(first->second == std::vector<int64_t>{7, 1'000'000'000'000, 0, 0});
  CHECK(std::next(first, 1)->second == std::vector<int64_t>{0, 64, 0, 0});
  CHECK(std::next(first, 2)->second == std::vector<int64_t>{0, 10, 0, 0});
  CHECK(std::next(first, 3)->second == std::vector<int64_t>{1, 16383, 0, 0});
  // A value going down anywhere (b's first column, -5 to -6) is a restart.
  auto p3 = heap({{{"a"}, {big + 7, 1 + 1'000'000'000'000, 0, 0}},
                  {{"b"}, {-6, 164, 0, 0}},
                  {{"c"}, {0, INT64_MAX, 0, 0}},
                  {{"d"}, {128, 16511, 0, 0}}});
  CHECK(state.apply(p3, cols) == DeltaState::Outcome::kReset);
}

TEST_CASE("pruning after a delta drops the symbols only dropped samples used", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto v1 =
      pprof::view_of(heap({{{"malloc", "main.hot", "main.main"}, {5, 50, 0, 0}, {{"k", "a"}}},
                           {{"malloc", "main.cold", "main.main"}, {7, 70, 0, 0}, {{"k", "b"}}}}));
  state.apply(*v1, cols);
  auto v2 =
      pprof::view_of(heap({{{"malloc", "main.hot", "main.main"}, {9, 90, 0, 0}, {{"k", "a"}}},
                           {{"malloc", "main.cold", "main.main"}, {7, 70, 0, 0}, {{"k", "b"}}}}));
  v2->hash_symbols();
  REQUIRE(v2->symbol_hashes.every_location_used);
  REQUIRE(state.apply(*v2, cols) == DeltaState::Outcome::kDelta);
  CHECK_FALSE(v2->symbol_hashes.every_location_used);  // a sample went: prune has work
  auto before = test::canonical(*v2);
  size_t locations = v2->locations.size(), functions = v2->functions.size();
  v2->prune();
  CHECK(test::canonical(*v2) == before);  // the same samples
  CHECK(pprof::validate(*v2).ok());
  // The content hashes moved with what was kept: as if computed afresh.
  REQUIRE(v2->has_symbol_hashes());
  pprof::View::SymbolHashes fresh;
  pprof::View::hash_symbols(*v2, v2->string_hashes, &fresh);
  CHECK(fresh.functions == v2->symbol_hashes.functions);
  CHECK(fresh.locations == v2->symbol_hashes.locations);
  CHECK(fresh.frame_sums == v2->symbol_hashes.frame_sums);
  CHECK(v2->locations.size() == locations - 1);  // main.cold's frame
  CHECK(v2->functions.size() == functions - 1);
  for (auto s : v2->strings) {
    CHECK(s != "main.cold");
    CHECK(s != "b");  // its label value
  }
  // The encoding round-trips through protobuf and through the view decoder.
  auto again = pprof::decode_view(v2->encode());
  REQUIRE(again.ok());
  CHECK(test::canonical(*(*again)) == before);
  // Nothing to drop: nothing changes.
  auto strings = v2->strings.size();
  v2->prune();
  CHECK(v2->strings.size() == strings);
}

TEST_CASE("pruning drops a location no sample used even when the delta dropped no sample", "[delta]") {
  DeltaState state;
  auto cols = std::vector<size_t>{0, 1};
  auto p1 = heap({{{"malloc", "main.hot", "main.main"}, {5, 50, 0, 0}}});
  state.apply(p1, cols);
  auto p2 = heap({{{"malloc", "main.hot", "main.main"}, {9, 90, 0, 0}}});
  // A location (and its function) that no sample refers to, as a writer may
  // leave one.
  auto* f = p2.add_function();
  f->set_id(999);
  f->set_name(p2.string_table_size());
  p2.add_string_table("main.unused");
  auto* l = p2.add_location();
  l->set_id(999);
  l->add_line()->set_function_id(999);
  auto v = pprof::view_of(p2);
  v->hash_symbols();
  CHECK_FALSE(v->symbol_hashes.every_location_used);
  REQUIRE(state.apply(*v, cols) == DeltaState::Outcome::kDelta);
  REQUIRE(v->samples.size() == 1);  // nothing dropped by the delta
  const size_t locations = v->locations.size();
  v->prune();
  CHECK(v->locations.size() == locations - 1);
  for (auto s : v->strings) CHECK(s != "main.unused");
  // A profile whose samples use every location: the flag says so and prune
  // keeps everything.
  auto all = pprof::view_of(heap({{{"malloc", "main.hot"}, {1, 10, 0, 0}}}));
  all->hash_symbols();
  CHECK(all->symbol_hashes.every_location_used);
  const size_t n = all->locations.size(), strings = all->strings.size();
  all->prune();
  CHECK(all->locations.size() == n);
  CHECK(all->strings.size() == strings);
}

TEST_CASE("location hashes tell apart every line and column, at the edges of their packing",
          "[delta]") {
  // One location per (line, column) pair, each a frame of its own sample;
  // all else alike. Lines and columns that fit are hashed packed in one
  // word, others in full behind an escape word: no two may collide.
  const int64_t edges[] = {0, 1, 2, (1LL << 31) - 1, 1LL << 31, (1LL << 32) - 1, 1LL << 32, -1};
  auto p = heap({});
  p.add_string_table("f");
  auto* fn = p.add_function();
  fn->set_id(1);
  fn->set_name(p.string_table_size() - 1);
  uint64_t id = 0;
  for (int64_t line : edges) {
    for (int64_t column : edges) {
      for (bool folded : {false, true}) {
        auto* l = p.add_location();
        l->set_id(++id);
        l->set_is_folded(folded);
        auto* ln = l->add_line();
        ln->set_function_id(1);
        ln->set_line(line);
        ln->set_column(column);
        auto* s = p.add_sample();
        s->add_location_id(id);
        for (int v = 0; v < 4; ++v) s->add_value(1);
      }
    }
  }
  auto v = pprof::view_of(p);
  v->hash_symbols();
  REQUIRE(v->symbol_hashes.locations.size() == id);
  std::set<std::pair<uint64_t, uint64_t>> distinct;
  for (const auto& h : v->symbol_hashes.locations) distinct.insert({h.a, h.b});
  CHECK(distinct.size() == id);
  // A location with two lines is not the same as two one-line locations'
  // content run together, nor as its lines' other order.
  auto two = heap({});
  two.add_string_table("f");
  auto* f2 = two.add_function();
  f2->set_id(1);
  f2->set_name(two.string_table_size() - 1);
  for (uint64_t k = 1; k <= 2; ++k) {
    auto* l = two.add_location();
    l->set_id(k);
    for (int64_t line : k == 1 ? std::vector<int64_t>{7, 9} : std::vector<int64_t>{9, 7}) {
      auto* ln = l->add_line();
      ln->set_function_id(1);
      ln->set_line(line);
    }
  }
  auto w = pprof::view_of(two);
  w->hash_symbols();
  CHECK_FALSE(w->symbol_hashes.locations[0] == w->symbol_hashes.locations[1]);
}
