// The read side's speed on realistic data (see BENCHMARKS.md):
//  1. a merged flame graph of 240 stored CPU profiles of a synthetic Go
//     service (≈1,500 samples, ≈2,000 functions each), against
//     `go tool pprof -top` merging the same 240 profiles as files;
//  2. 24 h of that service at 15 s (5,760 profiles): a flame graph, and
//     SelectSeries over 24 h × 100 series;
//  3. the last hour answered from the 24 h store as fast as from a store that
//     holds only that hour (cost does not grow outside the range).
// Peak memory is measured per query by resetting the process' high-water mark.
//
// Usage: query_bench [--dir DIR] [--go GO] [--skip-day]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "bench/synth_profile.h"
#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "query/call_tree.h"
#include "query/engine.h"
#include "query/graph.h"
#include "query/source.h"
#include "proto/profile.pb.h"
#include "storage/storage.h"
#include "tests/support/or_exit.h"

using namespace stoker;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kSec = 1'000'000'000;
const std::string kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return 0;
}

void append(Storage& s, ProfileRecord r) {
  while (!s.append(r).ok()) s.flush(std::chrono::seconds(60));
}

struct Timed {
  double cold_ms = 0, warm_ms = 0;  // warm: median of 5
  double peak_mib = 0;
  int64_t total = 0;
  size_t profiles = 0;
};

std::unique_ptr<query::Engine> open_engine(const std::string& db) {
  query::Limits limits;
  limits.max_profiles = 1'000'000;
  auto e = test::or_exit(query::Engine::open(db, limits), "open");
  return e;
}

// The query's peak memory: this program runs it alone (`--peak NAME`) in a
// fresh process and reports its high-water mark above the RSS it started at.
std::string g_self, g_dir;
double peak_mib_of(const std::string& name) {
  std::string cmd = g_self + " --dir " + g_dir + " --peak '" + name + "'";
  FILE* f = popen(cmd.c_str(), "r");
  char buf[64] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  pclose(f);
  buf[n] = 0;
  return std::atof(buf) / 1024.0;
}

// Runs `q` once on a fresh engine (cold caches), then 5 times more (warm).
Timed measure(const std::string& name, const std::string& db,
              const std::function<int64_t(query::Engine&, size_t*)>& q) {
  Timed t;
  auto e = open_engine(db);
  auto start = Clock::now();
  t.total = q(*e, &t.profiles);
  t.cold_ms = ms_since(start);
  t.peak_mib = peak_mib_of(name);
  std::vector<double> warm;
  for (int i = 0; i < 5; ++i) {
    start = Clock::now();
    q(*e, &t.profiles);
    warm.push_back(ms_since(start));
  }
  std::sort(warm.begin(), warm.end());
  t.warm_ms = warm[2];
  return t;
}

int64_t flame(query::Engine& e, int64_t from_ms, int64_t to_ms, const std::string& sel,
              size_t* profiles) {
  query::StackSet set;
  query::MergeInfo info;
  auto s = e.merge_stacks({kCpu, sel, from_ms, to_ms}, &set, &info);
  if (!s.ok()) {
    std::fprintf(stderr, "merge failed: %s\n", s.message().c_str());
    std::exit(1);
  }
  auto fg = query::CallTree::build(set).flame_graph(8192);
  *profiles = info.profiles;
  return fg.total;
}

void report(const char* what, const Timed& t) {
  std::printf(
      "%-52s %7.1f ms cold  %7.1f ms warm  peak +%.1f MiB  (%zu profiles or points, %lld)\n", what,
      t.cold_ms, t.warm_ms, t.peak_mib, t.profiles, static_cast<long long>(t.total));
}

// Builds dir/hour.db (240 realistic profiles, also written as .pb.gz files)
// and, unless `hour_only`, dir/day.db (24 h of the service plus 99 small
// services). Returns the "now" the data was written around.
int64_t build_stores(const std::string& dir, bool hour_only) {
  const int64_t now = now_unix_nanos() / 1'000'000 * 1'000'000;
  const int64_t hour_ns = 3600 * kSec;
  Labels shop{{"__name__", "process_cpu"}, {"service_name", "shop"}, {"job", "shop"}};
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/files");
  std::ofstream(dir + "/now.txt") << now;
  bench::SynthService svc(42);
  StorageConfig cfg;
  cfg.path = dir + "/hour.db";
  cfg.max_size = 0;
  auto store = test::or_exit(Storage::open(cfg), "open");
  size_t gz = 0, samples = 0, functions = 0;
  for (int i = 0; i < 240; ++i) {
    int64_t ts = now - hour_ns + static_cast<int64_t>(i) * 15 * kSec;
    auto p = std::make_shared<perftools::profiles::Profile>(svc.cpu(ts, 14 * kSec));
    std::string bytes = pprof::encode_gzip(*p);
    gz += bytes.size();
    samples += static_cast<size_t>(p->sample_size());
    functions += static_cast<size_t>(p->function_size());
    char name[64];
    std::snprintf(name, sizeof name, "/files/%03d.pb.gz", i);
    std::ofstream(dir + name, std::ios::binary) << bytes;
    append(*store, {shop, ts, p, bytes.size()});
  }
  store->flush();
  std::printf("240 CPU profiles: %.1f KB gzipped, %zu samples, %zu functions each (mean)\n",
              static_cast<double>(gz) / 240 / 1000, samples / 240, functions / 240);
  if (hour_only) return now;
  cfg.path = dir + "/day.db";
  auto day_store = test::or_exit(Storage::open(cfg), "open");
  bench::SynthService day(42);
  bench::SynthShape small_shape;
  small_shape.functions = 40;
  small_shape.stacks = 20;
  small_shape.samples = 5;
  auto start = Clock::now();
  for (int i = 0; i < 5760; ++i) {
    int64_t ts = now - 24 * hour_ns + static_cast<int64_t>(i) * 15 * kSec;
    append(*day_store,
           {shop, ts, std::make_shared<perftools::profiles::Profile>(day.cpu(ts, 14 * kSec)), 0});
    bench::SynthService tiny(static_cast<uint64_t>(i), small_shape);
    auto small = std::make_shared<perftools::profiles::Profile>(tiny.cpu(ts, 14 * kSec));
    for (int k = 0; k < 99; ++k) {
      Labels l{{"__name__", "process_cpu"}, {"service_name", "svc-" + std::to_string(k)}};
      append(*day_store, {l, ts + k * 1'000'000, small, 0});
    }
  }
  day_store->flush();
  std::printf("day store: 5,760 + 99 x 5,760 profiles written in %.1f s, %.1f MB\n",
              ms_since(start) / 1000,
              static_cast<double>(std::filesystem::file_size(cfg.path)) / 1e6);
  return now;
}

struct Query {
  std::string name, db;
  std::function<int64_t(query::Engine&, size_t*)> run;
};

std::vector<Query> queries(const std::string& dir, int64_t now) {
  const int64_t hour_ms = 3600 * 1000, to = now / 1'000'000;
  const int64_t from = to - hour_ms - 1000, day_from = to - 24 * hour_ms - 1000;
  std::vector<Query> q;
  q.push_back(
      {"flame graph, 240 profiles (1 h)", dir + "/hour.db", [=](query::Engine& e, size_t* n) {
         return flame(e, from, to, "{service_name=\"shop\"}", n);
       }});
  // pprof's views over the same hour (issue #20): they read the merged pprof.
  q.push_back({"source view of runtime.mallocgc, 240 profiles (1 h)", dir + "/hour.db",
               [=](query::Engine& e, size_t* n) {
                 perftools::profiles::Profile p;
                 query::MergeInfo info;
                 if (!e.merge_pprof({kCpu, "{service_name=\"shop\"}", from, to}, &p, &info).ok())
                   std::exit(1);
                 query::SourceLocator locator({}, {});
                 std::vector<query::SourceListing> out;
                 int64_t total = 0;
                 if (!query::list_source(p, "^runtime\\.mallocgc$", locator, true, &out, &total).ok())
                   std::exit(1);
                 *n = info.profiles;
                 return out.empty() ? 0 : out[0].cum;
               }});
  q.push_back({"call graph (80 nodes), 240 profiles (1 h)", dir + "/hour.db",
               [=](query::Engine& e, size_t* n) {
                 perftools::profiles::Profile p;
                 query::MergeInfo info;
                 if (!e.merge_pprof({kCpu, "{service_name=\"shop\"}", from, to}, &p, &info).ok())
                   std::exit(1);
                 auto g = query::build_graph(p, {});
                 *n = info.profiles;
                 return static_cast<int64_t>(g.nodes.size());
               }});
  q.push_back({"flame graph, focus + hide, 240 profiles (1 h)", dir + "/hour.db",
               [=](query::Engine& e, size_t* n) {
                 query::RefineOptions o;
                 (void)o.set("focus", "ServeHTTP");
                 (void)o.set("hide", "^runtime\\.");
                 query::Selection sel{kCpu, "{service_name=\"shop\"}", from, to};
                 sel.refine = *query::Refiner::compile(o);
                 query::StackSet set;
                 query::MergeInfo info;
                 if (!e.merge_stacks(sel, &set, &info).ok()) std::exit(1);
                 *n = info.profiles;
                 return set.total();
               }});
  q.push_back(
      {"flame graph, 5,760 profiles (24 h)", dir + "/day.db", [=](query::Engine& e, size_t* n) {
         return flame(e, day_from, to, "{service_name=\"shop\"}", n);
       }});
  for (double step : {300.0, 60.0, 15.0}) {
    char name[96];
    std::snprintf(name, sizeof name, "SelectSeries 24 h x 100 series, step %.0f s", step);
    q.push_back({name, dir + "/day.db", [=](query::Engine& e, size_t* n) {
                   query::SeriesQuery sq;
                   sq.sel = {kCpu, "{}", day_from, to};
                   sq.step_s = step;
                   sq.group_by = {"service_name"};
                   std::vector<query::SeriesResult> out;
                   if (!e.select_series(sq, &out).ok()) std::exit(1);
                   size_t points = 0;
                   for (const auto& r : out) points += r.points.size();
                   *n = points;
                   return static_cast<int64_t>(out.size());
                 }});
  }
  q.push_back({"flame graph, last hour of the 24 h store", dir + "/day.db",
               [=](query::Engine& e, size_t* n) {
                 return flame(e, from, to, "{service_name=\"shop\"}", n);
               }});
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/stoker-query-bench", go = "go", peak;
  bool skip_day = false, reuse = false;
  int repeat = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    if (!std::strcmp(argv[i], "--go") && i + 1 < argc) go = argv[++i];
    if (!std::strcmp(argv[i], "--skip-day")) skip_day = true;  // only the 1 h store
    if (!std::strcmp(argv[i], "--reuse")) reuse = true;        // keep the stores of a previous run
    if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--peak") && i + 1 < argc) peak = argv[++i];
  }
  g_self = std::filesystem::canonical("/proc/self/exe").string();
  g_dir = dir;
  int64_t now = 0;
  if (reuse || !peak.empty()) {
    std::ifstream(dir + "/now.txt") >> now;
  } else {
    now = build_stores(dir, skip_day);
  }
  auto all = queries(dir, now);
  if (!peak.empty()) {  // child of peak_mib_of(): one cold query, print KiB
    for (const auto& q : all) {
      if (q.name != peak) continue;
      auto e = open_engine(q.db);
      long base = status_kib("VmRSS:");
      size_t n = 0;
      q.run(*e, &n);
      std::printf("%ld\n", status_kib("VmHWM:") - base);
    }
    return 0;
  }
  Timed hour = measure(all[0].name, all[0].db, all[0].run);
  report(all[0].name.c_str(), hour);
  for (size_t i = 1; i < 4; ++i) report(all[i].name.c_str(), measure(all[i].name, all[i].db, all[i].run));
  for (int r = 0; r < repeat; ++r) {  // more cold queries, for a profiler
    auto e = open_engine(all[0].db);
    size_t n = 0;
    all[0].run(*e, &n);
  }
  if (!reuse) {
    // go tool pprof merging the same 240 files.
    std::string cmd = go + " tool pprof -top -unit=ns " + dir + "/files/*.pb.gz 2>&1";
    std::vector<double> pprof_ms;
    std::string out;
    for (int run = 0; run < 2; ++run) {
      auto start = Clock::now();
      FILE* f = popen(cmd.c_str(), "r");
      out.clear();
      char buf[4096];
      size_t n;
      while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
      pclose(f);
      pprof_ms.push_back(ms_since(start));
    }
    long long pprof_total = 0;
    auto of = out.find(" total");
    if (of != std::string::npos)
      pprof_total = std::atoll(out.substr(out.rfind("of ", of) + 3).c_str());
    double best = *std::min_element(pprof_ms.begin(), pprof_ms.end());
    std::printf("%-52s %7.1f ms (best of 2), total %lld ns -> %s; stoker %.0fx faster (cold)\n",
                "go tool pprof -top, the same 240 files", best, pprof_total,
                pprof_total == hour.total ? "same total" : "DIFFERENT TOTAL", best / hour.cold_ms);
  }
  if (skip_day || !std::filesystem::exists(dir + "/day.db")) return 0;
  for (size_t i = 4; i < all.size(); ++i)
    report(all[i].name.c_str(), measure(all[i].name, all[i].db, all[i].run));
  return 0;
}
