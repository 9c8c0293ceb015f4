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
#include "storage/storage.h"

using namespace stoker;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kSec = 1'000'000'000;
const std::string kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Resets the peak RSS (VmHWM) to the current RSS; returns the current RSS in KiB.
long reset_peak() {
  std::ofstream("/proc/self/clear_refs") << "5";
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}
long peak_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

void append(Storage& s, ProfileRecord r) {
  std::string err;
  while (!s.append(r, &err)) s.flush(std::chrono::seconds(60));
}

struct Timed {
  double cold_ms = 0, warm_ms = 0;  // warm: median of 5
  double peak_mib = 0;
  int64_t total = 0;
  size_t profiles = 0;
};

// Runs `q` once on a fresh engine (cold caches), then 5 times more (warm).
Timed measure(const std::string& db, const std::function<int64_t(query::Engine&, size_t*)>& q) {
  Timed t;
  query::Limits limits;
  limits.max_profiles = 1'000'000;
  std::string err;
  auto e = query::Engine::open(db, limits, &err);
  if (!e) {
    std::fprintf(stderr, "%s\n", err.c_str());
    std::exit(1);
  }
  long base = reset_peak();
  auto start = Clock::now();
  t.total = q(*e, &t.profiles);
  t.cold_ms = ms_since(start);
  t.peak_mib = static_cast<double>(peak_kib() - base) / 1024.0;
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
    std::fprintf(stderr, "merge failed: %s\n", s.message.c_str());
    std::exit(1);
  }
  auto fg = query::CallTree::build(set).flame_graph(8192);
  *profiles = info.profiles;
  return fg.total;
}

void report(const char* what, const Timed& t) {
  std::printf("%-52s %7.1f ms cold  %7.1f ms warm  peak +%.1f MiB  (%zu profiles, total %lld)\n",
              what, t.cold_ms, t.warm_ms, t.peak_mib, t.profiles, static_cast<long long>(t.total));
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/stoker-query-bench", go = "go";
  bool skip_day = false, reuse = false;
  int repeat = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reuse")) reuse = true;  // keep dir/hour.db (for profiling)
    if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    if (!std::strcmp(argv[i], "--go") && i + 1 < argc) go = argv[++i];
    if (!std::strcmp(argv[i], "--skip-day")) skip_day = true;
  }
  if (!reuse) std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/files");
  const int64_t now = now_unix_nanos() / 1'000'000 * 1'000'000;
  const int64_t hour_ms = 3600 * 1000;
  Labels shop{{"__name__", "process_cpu"}, {"service_name", "shop"}, {"job", "shop"}};

  // 1. One hour: 240 realistic profiles in a store and as files.
  bench::SynthService svc(42);
  if (!reuse) {
    StorageConfig cfg;
    cfg.path = dir + "/hour.db";
    cfg.max_size = 0;
    std::string err;
    auto store = Storage::open(cfg, &err);
    size_t gz = 0, samples = 0, functions = 0;
    for (int i = 0; i < 240; ++i) {
      int64_t ts = now - hour_ms * 1'000'000 + static_cast<int64_t>(i) * 15 * kSec;
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
  }
  const int64_t from = now / 1'000'000 - hour_ms - 1000, to = now / 1'000'000;
  Timed hour = measure(dir + "/hour.db", [&](query::Engine& e, size_t* n) {
    return flame(e, from, to, "{service_name=\"shop\"}", n);
  });
  report("flame graph, 240 profiles (1 h)", hour);
  for (int r = 0; r < repeat; ++r) {  // cold queries only, for a profiler
    measure(dir + "/hour.db", [&](query::Engine& e, size_t* n) {
      return flame(e, from, to, "{service_name=\"shop\"}", n);
    });
  }
  if (reuse) {
    // The store of a previous run: its profiles are older than `now`.
    return 0;
  }

  // go tool pprof merging the same files.
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
  if (of != std::string::npos) {
    auto start = out.rfind("of ", of);
    pprof_total = std::atoll(out.substr(start + 3).c_str());
  }
  double best = *std::min_element(pprof_ms.begin(), pprof_ms.end());
  std::printf("%-52s %7.1f ms (best of 2), total %lld ns -> %s; stoker %.0fx faster (cold)\n",
              "go tool pprof -top, the same 240 files", best, pprof_total,
              pprof_total == hour.total ? "same total" : "DIFFERENT TOTAL", best / hour.cold_ms);
  if (skip_day) return 0;

  // 2. A day: 5,760 realistic profiles of the service, and 99 more services
  // with small profiles (only their totals matter to a series query).
  {
    StorageConfig cfg;
    cfg.path = dir + "/day.db";
    cfg.max_size = 0;
    std::string err;
    auto store = Storage::open(cfg, &err);
    bench::SynthService day(42);
    bench::SynthShape small_shape;
    small_shape.functions = 40;
    small_shape.stacks = 20;
    small_shape.samples = 5;
    auto start = Clock::now();
    for (int i = 0; i < 5760; ++i) {
      int64_t ts = now - 24 * hour_ms * 1'000'000 + static_cast<int64_t>(i) * 15 * kSec;
      append(*store, {shop, ts, std::make_shared<perftools::profiles::Profile>(day.cpu(ts, 14 * kSec)), 0});
      bench::SynthService tiny(static_cast<uint64_t>(i), small_shape);
      auto small = std::make_shared<perftools::profiles::Profile>(tiny.cpu(ts, 14 * kSec));
      for (int s = 0; s < 99; ++s) {
        Labels l{{"__name__", "process_cpu"}, {"service_name", "svc-" + std::to_string(s)}};
        append(*store, {l, ts + s * 1'000'000, small, 0});
      }
    }
    store->flush();
    std::printf("day store: 5,760 + 99 x 5,760 profiles written in %.1f s, %.1f MB\n",
                ms_since(start) / 1000,
                static_cast<double>(std::filesystem::file_size(cfg.path)) / 1e6);
  }
  const int64_t day_from = now / 1'000'000 - 24 * hour_ms - 1000;
  report("flame graph, 5,760 profiles (24 h)", measure(dir + "/day.db", [&](query::Engine& e, size_t* n) {
           return flame(e, day_from, to, "{service_name=\"shop\"}", n);
         }));
  for (double step : {300.0, 15.0}) {
    Timed t = measure(dir + "/day.db", [&](query::Engine& e, size_t* n) {
      query::SeriesQuery q;
      q.sel = {kCpu, "{}", day_from, to};
      q.step_s = step;
      q.group_by = {"service_name"};
      std::vector<query::SeriesResult> out;
      auto s = e.select_series(q, &out);
      if (!s.ok()) std::exit(1);
      size_t points = 0;
      for (const auto& r : out) points += r.points.size();
      *n = points;
      return static_cast<int64_t>(out.size());
    });
    char what[96];
    std::snprintf(what, sizeof what, "SelectSeries 24 h x 100 series, step %.0f s (points)", step);
    report(what, t);
  }
  // 3. The last hour, from the 24 h store.
  report("flame graph, last hour of the 24 h store", measure(dir + "/day.db", [&](query::Engine& e, size_t* n) {
           return flame(e, from, to, "{service_name=\"shop\"}", n);
         }));
  return 0;
}
