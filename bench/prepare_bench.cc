// Where the ingest pipeline's CPU goes per profile, phase by phase, on real
// farm profiles (bench/fleet_farm.go -dump): inflate, parse + validate, string
// hashes, delta, prune. The fleet bench says how much the whole collector
// costs; this says which step to make cheaper, in a few seconds instead of
// minutes.
//
// Usage: prepare_bench DIR_BEFORE DIR_AFTER [ROUNDS]   (default 20 rounds)
//   fleet_farm -services 60 -dump DIR_BEFORE; sleep 15; fleet_farm -services 60 -dump DIR_AFTER
// Every NNNN-KIND.pb.gz in DIR_AFTER is one profile; its namesake in
// DIR_BEFORE primes the delta state of the cumulative kinds (allocs, block,
// mutex), as the previous scrape of the same loop would.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pprof/compress.h"
#include "pprof/delta.h"
#include "pprof/view.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string series_of(const std::string& kind) {
  if (kind == "allocs") return "memory";
  if (kind == "cpu") return "process_cpu";
  return kind;
}

enum Phase { kInflate, kDecode, kHash, kDelta, kPrune, kPhases };
const char* kPhaseNames[] = {"inflate", "parse+validate", "hash strings", "delta", "prune"};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: prepare_bench DIR_BEFORE DIR_AFTER [ROUNDS]\n");
    return 2;
  }
  const std::filesystem::path before_dir = argv[1], after_dir = argv[2];
  const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 20;
  struct Item {
    std::string kind, before, after;
  };
  std::vector<Item> items;
  for (const auto& e : std::filesystem::directory_iterator(after_dir)) {
    std::string name = e.path().filename().string();
    auto dash = name.find('-'), dot = name.find('.');
    if (dash == std::string::npos || dot == std::string::npos || dot < dash) continue;
    auto prev = before_dir / name;
    if (!std::filesystem::exists(prev)) continue;
    items.push_back({name.substr(dash + 1, dot - dash - 1), read_file(prev), read_file(e.path())});
  }
  if (items.empty()) {
    std::fprintf(stderr, "prepare_bench: no NNNN-KIND.pb.gz files in both %s and %s\n",
                 before_dir.c_str(), after_dir.c_str());
    return 1;
  }
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.kind != b.kind ? a.kind < b.kind : a.after < b.after;
  });
  // Nanoseconds per phase, per kind.
  std::map<std::string, std::array<double, kPhases>> ns;
  std::map<std::string, size_t> count, bytes;
  std::string inflated;
  for (int r = 0; r < rounds; ++r) {
    for (const auto& it : items) {
      auto& t = ns[it.kind];
      const std::string series = series_of(it.kind);
      auto d = [](auto a, auto b) { return std::chrono::duration<double, std::nano>(b - a).count(); };
      auto t0 = Clock::now();
      if (auto s = stoker::pprof::gunzip(it.after, SIZE_MAX, &inflated); !s.ok()) {
        std::fprintf(stderr, "prepare_bench: %s: %s\n", it.kind.c_str(), s.message().c_str());
        return 1;
      }
      auto t1 = Clock::now();
      auto view = stoker::pprof::decode_view(it.after);
      auto t2 = Clock::now();
      if (!view.ok()) {
        std::fprintf(stderr, "prepare_bench: %s: %s\n", it.kind.c_str(),
                     view.status().message().c_str());
        return 1;
      }
      auto& v = **view;
      v.hash_symbols();
      auto t3 = Clock::now();
      auto columns = stoker::pprof::DeltaState::cumulative_columns(v, series);
      double delta_ns = 0, prune_ns = 0;
      if (!columns.empty()) {
        stoker::pprof::DeltaState state;
        auto prev = stoker::pprof::decode_view(it.before);
        if (!prev.ok()) return 1;
        (*prev)->hash_symbols();
        state.apply(**prev, columns);
        auto d0 = Clock::now();
        auto outcome = state.apply(v, columns);
        auto d1 = Clock::now();
        if (outcome == stoker::pprof::DeltaState::Outcome::kDelta) v.prune();
        auto d2 = Clock::now();
        delta_ns = d(d0, d1);
        prune_ns = d(d1, d2);
      }
      t[kInflate] += d(t0, t1);
      t[kDecode] += d(t1, t2) - d(t0, t1);  // decode_view inflates too
      t[kHash] += d(t2, t3);
      t[kDelta] += delta_ns;
      t[kPrune] += prune_ns;
      if (r == 0) {
        ++count[it.kind];
        bytes[it.kind] += inflated.size();
      }
    }
  }
  std::printf("%zu profiles × %d rounds; µs per profile (mean)\n", items.size(), rounds);
  std::printf("%-10s %9s", "kind", "KB");
  for (const char* p : kPhaseNames) std::printf(" %15s", p);
  std::printf(" %9s %9s\n", "total", "/inflate");
  std::array<double, kPhases> all{};
  for (const auto& [kind, t] : ns) {
    const double n = static_cast<double>(count[kind]) * rounds;
    std::printf("%-10s %9.1f", kind.c_str(), static_cast<double>(bytes[kind]) / count[kind] / 1e3);
    double total = 0;
    for (int p = 0; p < kPhases; ++p) {
      std::printf(" %15.1f", t[p] / n / 1e3);
      total += t[p];
      all[p] += t[p];
    }
    std::printf(" %9.1f %9.2f\n", total / n / 1e3, total / t[kInflate]);
  }
  const double n = static_cast<double>(items.size()) * rounds;
  double total = 0;
  std::printf("%-10s %9s", "all", "");
  for (int p = 0; p < kPhases; ++p) {
    std::printf(" %15.1f", all[p] / n / 1e3);
    total += all[p];
  }
  std::printf(" %9.1f %9.2f\n", total / n / 1e3, total / all[kInflate]);
  return 0;
}
