// The read side: call trees and Pyroscope's encodings (golden vectors from
// Pyroscope's own tests and reference examples), and the query engine over a
// real SQLite store (profile types, labels, merges checked against the stored
// profiles' own sums, series buckets, limits, an upgraded v2 database).
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <map>

#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "query/call_tree.h"
#include "query/engine.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"
#include "tests/support/store_fixture.h"

using namespace stoker;
using namespace stoker::query;

namespace {

StackSet stacks(const std::vector<std::pair<std::vector<std::string>, int64_t>>& root_first) {
  StackSet s;
  for (const auto& [names, v] : root_first) {
    std::vector<uint32_t> f;
    for (const auto& n : names) f.push_back(s.intern(n));
    s.add(f, v);
  }
  return s;
}

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// Reads Pyroscope's tree bytes back into "path value" lines (self values).
std::map<std::string, int64_t> read_tree(const std::string& b) {
  size_t pos = 0;
  auto uv = [&] {
    uint64_t v = 0;
    for (int s = 0; pos < b.size(); s += 7) {
      auto c = static_cast<uint8_t>(b[pos++]);
      v |= uint64_t(c & 0x7f) << s;
      if (!(c & 0x80)) break;
    }
    return v;
  };
  std::map<std::string, int64_t> out;
  std::vector<std::pair<std::string, uint64_t>> stack;  // path, children left
  while (pos < b.size()) {
    uint64_t len = uv();
    std::string name = b.substr(pos, len);
    pos += len;
    auto self = static_cast<int64_t>(uv());
    uint64_t kids = uv();
    while (!stack.empty() && stack.back().second == 0) stack.pop_back();
    std::string path;
    if (!stack.empty()) {
      --stack.back().second;
      path = stack.back().first.empty() ? name : stack.back().first + ";" + name;
    }
    if (self) out[path] += self;
    stack.emplace_back(path, kids);
  }
  return out;
}

}  // namespace

TEST_CASE("flame graph levels match Pyroscope's golden test", "[query]") {
  // pkg/model/flamegraph_test.go Test_ExportToFlamebearer (stacks given root first).
  auto t = CallTree::build(stacks({{{"a", "b", "e"}, 1}, {{"a", "c"}, 2}, {{"a", "c", "d"}, 1}}));
  auto fg = t.flame_graph(-1);
  CHECK(fg.names == std::vector<std::string>{"total", "a", "c", "d", "b", "e"});
  REQUIRE(fg.levels.size() == 4);
  CHECK(fg.levels[0] == std::vector<int64_t>{0, 4, 0, 0});
  CHECK(fg.levels[1] == std::vector<int64_t>{0, 4, 0, 1});
  CHECK(fg.levels[2] == std::vector<int64_t>{0, 1, 0, 4, 0, 3, 2, 2});
  CHECK(fg.levels[3] == std::vector<int64_t>{0, 1, 1, 5, 2, 1, 1, 3});
  CHECK(fg.total == 4);
  CHECK(fg.max_self == 2);
}

TEST_CASE("the reference example: flame graph and tree bytes", "[query]") {
  // pyroscope-query-api.md §5: main;foo 60, main;bar 30, main self 10.
  auto t = CallTree::build(stacks({{{"main", "foo"}, 60}, {{"main", "bar"}, 30}, {{"main"}, 10}}));
  auto fg = t.flame_graph(0);
  CHECK(fg.names == std::vector<std::string>{"total", "main", "foo", "bar"});
  CHECK(fg.levels == std::vector<std::vector<int64_t>>{
                         {0, 100, 0, 0}, {0, 100, 10, 1}, {10, 30, 30, 3, 0, 60, 60, 2}});
  CHECK(fg.total == 100);
  CHECK(fg.max_self == 60);
  CHECK(base64(t.tree_bytes(0)) == "AAABBG1haW4KAgNmb288AANiYXIeAA==");
}

TEST_CASE("an empty tree gives Pyroscope's empty answers", "[query]") {
  auto t = CallTree::build(StackSet{});
  auto fg = t.flame_graph(8192);
  CHECK(fg.names == std::vector<std::string>{"total"});
  CHECK(fg.levels == std::vector<std::vector<int64_t>>{{0, 0, 0, 0}});
  CHECK(t.tree_bytes(8192).empty());
  CHECK(t.folded().empty());
}

TEST_CASE("max_nodes folds the smallest nodes into other", "[query]") {
  // Pyroscope's Test_FlameGraphMerger "non-empty flamegraph result truncation".
  auto t = CallTree::build(stacks({{{"foo", "bar"}, 1},
                                   {{"foo", "bar", "baz"}, 1},
                                   {{"foo", "qux"}, 2},
                                   {{"fred", "zoo"}, 1},
                                   {{"fred", "other"}, 1}}));
  CHECK(t.min_value(4) == 2);
  CHECK(t.min_value(100) == 0);
  auto got = read_tree(t.tree_bytes(4));
  CHECK(got == std::map<std::string, int64_t>{
                   {"foo;bar", 1}, {"foo;bar;other", 1}, {"foo;qux", 2}, {"fred;other", 2}});
  // The flame graph keeps the same nodes and sums what it folded.
  auto fg = t.flame_graph(4);
  int64_t others = 0;
  for (size_t l = 0; l < fg.levels.size(); ++l) {
    for (size_t i = 0; i < fg.levels[l].size(); i += 4) {
      if (fg.names[static_cast<size_t>(fg.levels[l][i + 3])] == "other")
        others += fg.levels[l][i + 2];
    }
  }
  CHECK(others == 3);
  CHECK(fg.total == 6);
  // Untruncated, the tree round-trips every stack.
  CHECK(
      read_tree(t.tree_bytes(0)) ==
      std::map<std::string, int64_t>{
          {"foo;bar", 1}, {"foo;bar;baz", 1}, {"foo;qux", 2}, {"fred;zoo", 1}, {"fred;other", 1}});
}

TEST_CASE("a diff aligns both trees by name in Pyroscope's 7-int format", "[query]") {
  auto left = CallTree::build(stacks({{{"a", "b"}, 1}}));
  auto right = CallTree::build(stacks({{{"a", "b"}, 2}, {{"a", "c"}, 1}}));
  auto d = flame_graph_diff(left, right, 0);
  CHECK(d.names == std::vector<std::string>{"total", "a", "c", "b"});
  CHECK(d.levels == std::vector<std::vector<int64_t>>{{0, 1, 0, 0, 3, 0, 0},
                                                      {0, 1, 0, 0, 3, 0, 1},
                                                      {0, 1, 1, 0, 2, 2, 3, 0, 0, 0, 0, 1, 1, 2}});
  CHECK(d.left_ticks == 1);
  CHECK(d.right_ticks == 3);
  CHECK(d.total == 4);
  CHECK(d.max_self == 2);
}

TEST_CASE("folded stacks, top tables, bottom-up and collapsed recursion", "[query]") {
  auto set = stacks({{{"main", "work", "work", "leaf"}, 5}, {{"main", "work"}, 3}, {{"main"}, 2}});
  auto t = CallTree::build(set);
  CHECK(t.folded() == "main 2\nmain;work 3\nmain;work;work;leaf 5\n");
  auto top = t.top(false);
  REQUIRE(top.size() == 3);
  CHECK(top[0].name == "leaf");
  CHECK(top[0].self == 5);
  CHECK(top[1].name == "work");
  CHECK(top[1].self == 3);
  CHECK(top[1].total == 8);  // counted once per stack despite the recursion
  CHECK(top[2].name == "main");
  CHECK(top[2].total == 10);
  auto up = CallTree::build(set, true);
  CHECK(up.folded() == "leaf;work;work;main 5\nmain 2\nwork;main 3\n");
  auto flat = CallTree::build(set, false, true);
  CHECK(flat.folded() == "main 2\nmain;work 3\nmain;work;leaf 5\n");
}

namespace {

using test::kSec;
using test::StoreFixture;

std::unique_ptr<Engine> open_engine(const StoreFixture& f, Limits limits = {}) {
  auto e = test::must(Engine::open(f.path, limits));
  REQUIRE(e);
  return e;
}

const std::string kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

std::map<std::string, int64_t> by_stack(const StackSet& s) {
  std::map<std::string, int64_t> out;
  for (const auto& st : s.stacks()) {
    std::string k;
    for (uint32_t f : s.frames(st)) k += (k.empty() ? "" : ";") + s.names()[f];
    out[k] += st.value;
  }
  return out;
}

}  // namespace

TEST_CASE("the engine lists profile types, label names, values and series", "[query]") {
  StoreFixture f;
  auto e = open_engine(f);
  std::vector<ProfileTypeId> types;
  REQUIRE(e->profile_types(f.start_ms(), f.end_ms(), &types).ok());
  std::vector<std::string> ids;
  for (const auto& t : types) ids.push_back(t.id());
  CHECK(ids == std::vector<std::string>{"memory:alloc_objects:count:alloc_objects:count",
                                        "memory:alloc_space:bytes:alloc_objects:count",
                                        "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
                                        "process_cpu:samples:count:cpu:nanoseconds"});
  // A window with no data (Grafana's health check) is empty, not an error.
  types.clear();
  REQUIRE(e->profile_types(1000, 4000, &types).ok());
  CHECK(types.empty());

  std::vector<std::string> names;
  REQUIRE(e->label_names({"{__profile_type__=\"" + kCpu + "\",service_name=\"api\"}"}, f.start_ms(),
                         f.end_ms(), &names)
              .ok());
  CHECK(names == std::vector<std::string>{"__name__", "__period_type__", "__period_unit__",
                                          "__profile_type__", "__service_name__", "__type__",
                                          "__unit__", "job", "pod", "service_name"});
  std::vector<std::string> values;
  REQUIRE(e->label_values("service_name", {"{__profile_type__=\"" + kCpu + "\"}"}, f.start_ms(),
                          f.end_ms(), &values)
              .ok());
  CHECK(values == std::vector<std::string>{"api", "web"});
  values.clear();
  REQUIRE(e->label_values("service_name", {"memory{}"}, f.start_ms(), f.end_ms(), &values).ok());
  CHECK(values == std::vector<std::string>{"api"});
  CHECK(e->label_values("", {}, f.start_ms(), f.end_ms(), &values).code() ==
        Status::Code::kInvalidArgument);

  std::vector<Labels> sets;
  REQUIRE(
      e->series({}, {"service_name", "__profile_type__"}, f.start_ms(), f.end_ms(), &sets).ok());
  CHECK(sets.size() == 6);  // api × 4 types, web × 2
  CHECK(sets.front().to_string() ==
        "{__profile_type__=\"memory:alloc_objects:count:alloc_objects:count\", "
        "service_name=\"api\"}");
  // __delta__ is stoker's forwarding hint, not a series label.
  names.clear();
  REQUIRE(e->label_names({"memory{}"}, f.start_ms(), f.end_ms(), &names).ok());
  CHECK(std::find(names.begin(), names.end(), "__delta__") == names.end());
}

TEST_CASE("a merge sums each stack over the selected profiles", "[query]") {
  StoreFixture f;
  auto e = open_engine(f);
  Selection sel{kCpu, "{service_name=\"api\"}", f.start_ms(), f.end_ms()};
  StackSet set;
  MergeInfo info;
  REQUIRE(e->merge_stacks(sel, &set, &info).ok());
  CHECK(info.profiles == 8);
  // Expected: the sum of the stored profiles' own cpu values per stack.
  std::map<std::string, int64_t> want;
  for (const auto& p : f.api_cpu) {
    for (const auto& [key, v] : test::canonical(p)) {
      std::string names, frame;
      std::vector<std::string> leaf_first;
      for (char c : key.substr(0, key.find('|'))) {
        if (c == ';') {
          leaf_first.push_back(frame.substr(0, frame.find(':')));
          frame.clear();
        } else {
          frame += c;
        }
      }
      for (auto it = leaf_first.rbegin(); it != leaf_first.rend(); ++it)
        names += (names.empty() ? "" : ";") + *it;
      want[names] += v[1];
    }
  }
  CHECK(by_stack(set) == want);
  CHECK(set.total() == 8 * (20 + 5) + 360);
  auto fg = CallTree::build(set).flame_graph(8192);
  CHECK(fg.total == set.total());
  CHECK(fg.names[1] == "main.main");

  // The samples column of the same profiles.
  StackSet samples;
  sel.profile_type = "process_cpu:samples:count:cpu:nanoseconds";
  REQUIRE(e->merge_stacks(sel, &samples, &info).ok());
  CHECK(samples.total() == 8 * 4);

  // Only the stacks under a call site.
  StackSet under;
  sel.profile_type = kCpu;
  sel.call_site = {"main.main", "main.work"};
  REQUIRE(e->merge_stacks(sel, &under, &info).ok());
  CHECK(by_stack(under) ==
        std::map<std::string, int64_t>{{"main.main;main.work;runtime.leaf", 360}});

  // A selector and a profile type that match nothing merge nothing.
  StackSet none;
  sel.call_site.clear();
  sel.label_selector = "{service_name=\"nope\"}";
  REQUIRE(e->merge_stacks(sel, &none, &info).ok());
  CHECK(none.empty());
  CHECK(info.profiles == 0);
}

TEST_CASE("series buckets follow Pyroscope: T-step < ts <= T, empty buckets left out", "[query]") {
  StoreFixture f;
  auto e = open_engine(f);
  SeriesQuery q;
  q.sel = {kCpu, "{}", (f.t0) / 1'000'000, f.end_ms()};
  q.step_s = 30;
  q.group_by = {"service_name"};
  std::vector<SeriesResult> out;
  REQUIRE(e->select_series(q, &out).ok());
  REQUIRE(out.size() == 2);
  CHECK(out[0].labels == std::vector<Label>{{"service_name", "api"}});  // larger total first
  CHECK(out[1].labels == std::vector<Label>{{"service_name", "web"}});
  // api: profiles at t0 + 15·i s; the point at t0 + 30·k s holds i = 2k−1 and 2k.
  REQUIRE(out[0].points.size() == 5);
  auto api_value = [](int i) { return 10.0 * (i + 1) + 25; };
  CHECK(out[0].points[0].ts_ms == f.t0 / 1'000'000);
  CHECK(out[0].points[0].value == api_value(0));
  CHECK(out[0].points[1].ts_ms == f.t0 / 1'000'000 + 30'000);
  CHECK(out[0].points[1].value == api_value(1) + api_value(2));
  CHECK(out[0].points[4].value == api_value(7));
  double sum = 0;
  for (const auto& p : out[0].points) sum += p.value;
  CHECK(sum == 8 * 25 + 360);

  // Average, limit and exemplars.
  q.average = true;
  q.limit = 1;
  q.exemplars = true;
  out.clear();
  REQUIRE(e->select_series(q, &out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].points[1].value == (api_value(1) + api_value(2)) / 2);
  REQUIRE(out[0].points[1].exemplar);
  CHECK(out[0].points[1].exemplar->value == static_cast<int64_t>(api_value(2)));
  CHECK(out[0].points[1].exemplar->labels.get("pod") == "p1");

  // The same series from the samples themselves (call-site path) agrees.
  q.average = false;
  q.limit = 0;
  q.exemplars = false;
  q.group_by.clear();
  q.sel.label_selector = "{service_name=\"api\"}";
  std::vector<SeriesResult> from_totals, from_samples;
  REQUIRE(e->select_series(q, &from_totals).ok());
  q.sel.call_site = {"main.main"};
  REQUIRE(e->select_series(q, &from_samples).ok());
  REQUIRE(from_totals.size() == 1);
  REQUIRE(from_samples.size() == 1);
  REQUIRE(from_totals[0].points.size() == from_samples[0].points.size());
  for (size_t i = 0; i < from_totals[0].points.size(); ++i)
    CHECK(from_totals[0].points[i].value == from_samples[0].points[i].value);
  q.sel.call_site = {"main.main", "main.work"};
  std::vector<SeriesResult> work;
  REQUIRE(e->select_series(q, &work).ok());
  CHECK(work[0].points[0].value == 10);

  q.step_s = 0;
  CHECK(e->select_series(q, &work).code() == Status::Code::kInvalidArgument);
}

TEST_CASE("queries are bounded: time range, profiles, bad input", "[query]") {
  StoreFixture f;
  Limits limits;
  limits.max_profiles = 5;
  limits.max_range = std::chrono::hours(1);
  auto e = open_engine(f, limits);
  StackSet set;
  MergeInfo info;
  Selection sel{kCpu, "{}", f.start_ms(), f.end_ms()};
  auto s = e->merge_stacks(sel, &set, &info);
  CHECK(s.code() == Status::Code::kResourceExhausted);
  CHECK_THAT(s.message(), Catch::Contains("more than 5 profiles"));
  sel.start_ms = f.end_ms() - 2 * 3600 * 1000;
  s = e->merge_stacks(sel, &set, &info);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(s.message(), Catch::Contains("exceeds the limit"));
  sel = {kCpu, "{}", 0, f.end_ms()};
  CHECK(e->merge_stacks(sel, &set, &info).message() == "missing time range in the query");
  sel = {kCpu, "{}", f.end_ms(), f.start_ms()};
  CHECK(e->merge_stacks(sel, &set, &info).message() == "query start time is after end time");
  sel = {"process_cpu:cpu", "{}", f.start_ms(), f.end_ms()};
  CHECK_THAT(e->merge_stacks(sel, &set, &info).message(),
             Catch::StartsWith("profile-type selection"));
  sel = {kCpu, "{service_name=~\"(\"}", f.start_ms(), f.end_ms()};
  CHECK_THAT(e->merge_stacks(sel, &set, &info).message(),
             Catch::Contains("invalid regular expression"));
  // Only the chosen profiles.
  auto e2 = open_engine(f);
  std::vector<SeriesResult> series;
  SeriesQuery q;
  q.sel = {kCpu, "{service_name=\"api\"}", f.start_ms(), f.end_ms()};
  q.step_s = 15;
  q.exemplars = true;
  REQUIRE(e2->select_series(q, &series).ok());
  int64_t id = series[0].points[3].exemplar->profile_id;
  Selection one{kCpu, "{}", f.start_ms(), f.end_ms(), {}, {id}};
  REQUIRE(e2->merge_stacks(one, &set, &info).ok());
  CHECK(info.profiles == 1);
  CHECK(set.total() == 10 * 4 + 25);
}

TEST_CASE("the engine picks pprof's default sample type for a short type", "[query]") {
  StoreFixture f;
  auto e = open_engine(f);
  std::string id;
  REQUIRE(e->default_profile_type("process_cpu", "{}", f.start_ms(), f.end_ms(), &id).ok());
  CHECK(id == kCpu);  // the last sample type, as pprof picks without default_sample_type
  REQUIRE(e->default_profile_type("memory", "{}", f.start_ms(), f.end_ms(), &id).ok());
  CHECK(id == "memory:alloc_space:bytes:alloc_objects:count");
  CHECK(e->default_profile_type("mutex", "{}", f.start_ms(), f.end_ms(), &id).code() ==
        Status::Code::kNotFound);
}

TEST_CASE("a merged pprof holds one sample type and the same values", "[query]") {
  StoreFixture f;
  auto e = open_engine(f);
  perftools::profiles::Profile p;
  MergeInfo info;
  Selection sel{kCpu, "{service_name=\"api\"}", f.start_ms(), f.end_ms()};
  REQUIRE(e->merge_pprof(sel, &p, &info).ok());
  REQUIRE(p.sample_type_size() == 1);
  CHECK(p.string_table(static_cast<int>(p.sample_type(0).type())) == "cpu");
  CHECK(test::totals(p) == std::vector<int64_t>{8 * 25 + 360});
  CHECK(p.time_nanos() == f.end_ms() * 1'000'000);
  CHECK(pprof::validate(p).ok());
  sel.call_site = {"main.main", "main.idle"};
  REQUIRE(e->merge_pprof(sel, &p, &info).ok());
  CHECK(test::totals(p) == std::vector<int64_t>{8 * 20});
}

TEST_CASE("a database written before the read side is upgraded and queried", "[query]") {
  StoreFixture f;
  {
    // Turn the store back into schema v2: no type index, no totals.
    sqlite3* db;
    REQUIRE(sqlite3_open(f.path.c_str(), &db) == SQLITE_OK);
    const char* sql =
        "DROP TABLE symbol_epochs; DROP TABLE series_types; DROP TABLE profile_types; "
        "DROP INDEX profiles_series_ts; "
        "ALTER TABLE profiles DROP COLUMN totals; "
        "CREATE INDEX profiles_series_ts ON profiles(series_id, ts); PRAGMA user_version=2;";
    char* err = nullptr;
    INFO((err ? err : ""));
    REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto e = open_engine(f);
  std::vector<ProfileTypeId> types;
  REQUIRE(e->profile_types(f.start_ms(), f.end_ms(), &types).ok());
  CHECK(types.size() == 4);
  SeriesQuery q;
  q.sel = {kCpu, "{service_name=\"api\"}", f.start_ms(), f.end_ms()};
  q.step_s = 15;
  std::vector<SeriesResult> out;
  REQUIRE(e->select_series(q, &out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].total == 8 * 25 + 360);  // from the sample blocks: no totals were stored
  StackSet set;
  MergeInfo info;
  REQUIRE(e->merge_stacks(q.sel, &set, &info).ok());
  CHECK(set.total() == 8 * 25 + 360);
}

TEST_CASE("a sandwich splits the stacks through a function into callers and callees", "[query]") {
  auto set = stacks({{{"main", "a", "f", "x"}, 3}, {{"main", "b", "f"}, 2}, {{"main", "c"}, 7}});
  auto callees = CallTree::build(set.callees("f"));
  CHECK(callees.folded() == "f 2\nf;x 3\n");
  auto callers = CallTree::build(set.callers("f"));
  CHECK(callers.folded() == "f;a;main 3\nf;b;main 2\n");
  CHECK(set.callees("nosuch").empty());
}

TEST_CASE("one function's self and total over time", "[query]") {
  StoreFixture f;
  auto e = open_engine(f);
  SeriesQuery q;
  q.sel = {kCpu, "{service_name=\"api\"}", f.start_ms(), f.end_ms()};
  q.step_s = 15;
  std::vector<Point> self, total;
  REQUIRE(e->function_series(q, "main.work", &self, &total).ok());
  REQUIRE(total.size() == 8);
  CHECK(total[0].value == 10);
  CHECK(total[7].value == 80);
  CHECK(self[7].value == 0);  // main.work is never a leaf
  self.clear();
  total.clear();
  REQUIRE(e->function_series(q, "main.main", &self, &total).ok());
  CHECK(self[0].value == 5);
  CHECK(total[0].value == 35);
  CHECK(e->function_series(q, "", &self, &total).code() == Status::Code::kInvalidArgument);
}
