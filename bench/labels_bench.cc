// Labels inside profiles (see BENCHMARKS.md, issue #18): one hour of a
// synthetic Go service's CPU profiles (240 at 15 s, ≈2,600 sample draws over
// ≈1,500 stacks each) stored twice through the ingest pipeline:
//   unlabelled: the profiles as they are;
//   labelled:   every draw belongs to one of 300 requests per profile, each
//               request with one of 10 endpoints and its own span id (as
//               pprof.Do with otel-profiling-go labels them); 10 % of draws
//               are background work without labels.
// It prints the CPU time of prepare + store (process CPU, the writer thread
// included), the database size and the bytes added per labelled sample, then
// times a span profile (merge_stacks + call tree + flame graph, what
// SelectMergeSpanProfile runs) over the hour with 100 span ids and checks its
// total against the samples it was made from.
//
// Usage: labels_bench [--dir DIR]
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/synth_profile.h"
#include "ingest/pipeline.h"
#include "model/labels.h"
#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "query/call_tree.h"
#include "query/engine.h"
#include "storage/storage.h"
#include "tests/support/or_exit.h"

using namespace stoker;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kSec = 1'000'000'000;
constexpr int kProfiles = 240;
constexpr int kRequests = 300;
constexpr int kEndpoints = 10;
const std::string kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// What the labelled variant knows about its spans: id → CPU nanoseconds.
using SpanCost = std::map<uint64_t, int64_t>;

// `p` with every sample split into its requests' samples (one unit of its
// count at a time), as Go writes a profile of labelled goroutines.
perftools::profiles::Profile label(const perftools::profiles::Profile& p, std::mt19937_64& rng,
                                   SpanCost* cost, size_t* labelled) {
  perftools::profiles::Profile out = p;
  out.clear_sample();
  auto intern = [&](const std::string& s) {
    out.add_string_table(s);
    return static_cast<int64_t>(out.string_table_size() - 1);
  };
  const int64_t k_endpoint = intern("endpoint"), k_span = intern("span_id");
  std::vector<int64_t> endpoints;
  for (int e = 0; e < kEndpoints; ++e)
    endpoints.push_back(intern("/api/v1/endpoint" + std::to_string(e)));
  struct Request {
    uint64_t span;
    int64_t span_str, endpoint;
  };
  std::vector<Request> requests;
  for (int r = 0; r < kRequests; ++r) {
    uint64_t span = rng() | 1;
    requests.push_back({span, intern(format_span_id(span)), endpoints[rng() % kEndpoints]});
  }
  for (const auto& s : p.sample()) {
    const int64_t count = s.value(0), per = count ? s.value(1) / count : 0;
    std::map<int, int64_t> units;  // request (-1: none) → count
    for (int64_t u = 0; u < count; ++u) {
      units[rng() % 10 == 0 ? -1 : static_cast<int>(rng() % kRequests)] += 1;
    }
    for (const auto& [r, n] : units) {
      auto* o = out.add_sample();
      *o->mutable_location_id() = s.location_id();
      o->add_value(n);
      o->add_value(n * per);
      if (r < 0) continue;
      auto* e = o->add_label();
      e->set_key(k_endpoint);
      e->set_str(requests[static_cast<size_t>(r)].endpoint);
      auto* sp = o->add_label();
      sp->set_key(k_span);
      sp->set_str(requests[static_cast<size_t>(r)].span_str);
      (*cost)[requests[static_cast<size_t>(r)].span] += n * per;
      ++*labelled;
    }
  }
  return out;
}

struct Stored {
  double cpu_s = 0;
  double db_mb = 0;
  size_t samples = 0, series = 0;
};

Stored store_all(const std::string& path, const std::vector<std::string>& bodies) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  StorageConfig cfg;
  cfg.path = path;
  cfg.max_size = 0;
  Stored out;
  {
    auto storage = test::or_exit(Storage::open(cfg), "open");
    ingest::Pipeline pipeline(storage.get(), nullptr);
    auto policy = std::make_shared<const ingest::LabelPolicy>();
    auto cap = std::make_shared<ingest::SeriesCap>(kDefaultSampleLabelSeriesLimit, "bench");
    const int64_t now = now_unix_nanos();
    double started = cpu_seconds();
    for (size_t i = 0; i < bodies.size(); ++i) {
      ingest::Input in;
      in.body = bodies[i];
      in.labels = Labels{{"__name__", "process_cpu"}, {"service_name", "shop"}, {"job", "shop"}};
      in.policy = policy;
      in.series_cap = cap;
      in.time_ns = now - 3600 * kSec + static_cast<int64_t>(i) * 15 * kSec;
      auto prepared = test::or_exit(pipeline.prepare(std::move(in)), "prepare");
      out.series += prepared.records.size();
      std::vector<ingest::Prepared> batch;
      batch.push_back(std::move(prepared));
      while (!pipeline.store(std::move(batch)).ok()) {
        storage->flush(std::chrono::seconds(60));
        std::fprintf(stderr, "store behind; retrying\n");
        std::exit(1);
      }
    }
    storage->flush(std::chrono::seconds(120));
    out.cpu_s = cpu_seconds() - started;
  }  // closed: the WAL is checkpointed into the file
  out.db_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/stoker-labels-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--dir") dir = argv[i + 1];
  }
  std::filesystem::create_directories(dir);

  bench::SynthService svc(42);
  std::mt19937_64 rng(7);
  std::vector<std::string> plain, labelled;
  SpanCost cost;
  size_t plain_samples = 0, labelled_samples = 0, with_span = 0;
  for (int i = 0; i < kProfiles; ++i) {
    auto p = svc.cpu(static_cast<int64_t>(i) * 15 * kSec, 14 * kSec);
    auto l = label(p, rng, &cost, &with_span);
    plain_samples += static_cast<size_t>(p.sample_size());
    labelled_samples += static_cast<size_t>(l.sample_size());
    plain.push_back(pprof::encode_gzip(p));
    labelled.push_back(pprof::encode_gzip(l));
  }
  std::printf("%d CPU profiles: %zu samples each unlabelled, %zu labelled (%zu with a span id)\n",
              kProfiles, plain_samples / kProfiles, labelled_samples / kProfiles,
              with_span / kProfiles);

  auto u = store_all(dir + "/unlabelled.db", plain);
  auto l = store_all(dir + "/labelled.db", labelled);
  std::printf("unlabelled: %.2f s CPU, %.2f MB, %zu series rows\n", u.cpu_s, u.db_mb, u.series);
  std::printf("labelled:   %.2f s CPU (%.2fx), %.2f MB, %zu series rows\n", l.cpu_s,
              l.cpu_s / u.cpu_s, l.db_mb, l.series);
  std::printf(
      "per sample: %.1f bytes unlabelled, %.1f labelled; added per labelled sample "
      "(with a span id): %.1f bytes\n",
      u.db_mb * 1e6 / static_cast<double>(plain_samples),
      l.db_mb * 1e6 / static_cast<double>(labelled_samples),
      (l.db_mb - u.db_mb) * 1e6 / static_cast<double>(with_span));

  // A span profile of 100 spans spread over the hour.
  std::vector<uint64_t> all;
  for (const auto& [span, c] : cost) all.push_back(span);
  std::shuffle(all.begin(), all.end(), rng);
  query::Selection sel;
  sel.profile_type = kCpu;
  sel.label_selector = "{service_name=\"shop\"}";
  sel.end_ms = now_unix_nanos() / 1'000'000;
  sel.start_ms = sel.end_ms - 3'700'000;
  int64_t expected = 0;
  for (size_t i = 0; i < 100; ++i) {
    sel.span_ids.push_back(all[i]);
    expected += cost[all[i]];
  }
  query::Limits limits;
  limits.max_profiles = 1'000'000;
  std::vector<double> times;
  int64_t total = 0;
  size_t profiles = 0;
  // As the server asks: one engine (the pool keeps them open), the first
  // query cold (the page cache warm: the store was just written).
  auto engine = test::or_exit(query::Engine::open(dir + "/labelled.db", limits), "open");
  for (int run = 0; run < 6; ++run) {
    auto t = Clock::now();
    query::StackSet stacks;
    query::MergeInfo info;
    auto s = engine->merge_stacks(sel, &stacks, &info);
    if (!s.ok()) {
      std::fprintf(stderr, "span profile: %s\n", s.message().c_str());
      return 1;
    }
    auto tree = query::CallTree::build(stacks);
    auto fg = tree.flame_graph(16384);
    times.push_back(ms_since(t));
    total = stacks.total();
    profiles = info.profiles;
  }
  std::sort(times.begin() + 1, times.end());
  std::printf(
      "span profile, 100 span ids over 1 h (%zu profiles read): first %.1f ms, median of "
      "5 more %.1f ms; total %s (%lld ns)\n",
      profiles, times[0], times[3], total == expected ? "matches" : "DIFFERS",
      static_cast<long long>(total));
  return total == expected ? 0 : 1;
}
