// Stored bytes per profile against the gzipped pprof size, at steady state.
//
// Usage: storage_bench DIR
//   DIR/<type>/<n>.pb.gz are profiles fetched in order (bench/storage_size.sh makes them).
// For each type, and for all types in one database, stores the first 5 profiles
// (warm-up: symbols and stacks are new), then the rest, and reports the growth of
// the bytes used in the database per profile against the mean size of the gzipped files.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "storage/storage.h"
#include "tests/support/or_exit.h"

namespace fs = std::filesystem;
using namespace stoker;

namespace {

struct Input {
  std::string type;
  std::string gz;
  std::shared_ptr<const pprof::Profile> profile;
};

int64_t used_bytes(const std::string& path) {
  sqlite3* db;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  auto q = [&](const char* sql) {
    sqlite3_stmt* st;
    sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    sqlite3_step(st);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  };
  // Bytes actually used inside pages (dbstat), not whole pages: small profiles
  // fill pages gradually, so page counts would hide or exaggerate their cost.
  int64_t used = q("SELECT sum(pgsize - unused) FROM dbstat");
  sqlite3_close(db);
  return used;
}

void run(const std::string& name, const std::vector<const Input*>& inputs, size_t warmup,
         const std::string& dir) {
  std::string path = dir + "/" + name + ".db";
  fs::remove(path);
  StorageConfig cfg;
  cfg.path = path;
  cfg.retention = Duration(0);
  cfg.max_size = 0;
  int64_t base = 0, ts = now_unix_nanos();
  double gz_total = 0, secs = 0;
  size_t measured = 0;
  for (size_t phase = 0; phase < 2; ++phase) {
    auto store = test::or_exit(Storage::open(cfg), "open");
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = phase ? warmup : 0; i < (phase ? inputs.size() : warmup); ++i) {
      ProfileRecord r;
      r.labels =
          Labels{{"__name__", inputs[i]->type}, {"job", "bench"}, {"instance", "127.0.0.1:6060"}};
      r.scrape_time_ns = ts + static_cast<int64_t>(i) * 1'000'000'000;
      r.profile = inputs[i]->profile;
      r.wire_size = inputs[i]->gz.size();
      (void)store->append(std::move(r));
      if (phase) {
        gz_total += static_cast<double>(inputs[i]->gz.size());
        ++measured;
      }
    }
    store->flush();
    if (phase) secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    store.reset();
    if (!phase) base = used_bytes(path);
  }
  double grown = static_cast<double>(used_bytes(path) - base);
  double per = grown / static_cast<double>(measured);
  double gz = gz_total / static_cast<double>(measured);
  std::printf("%-12s %6zu %12.0f %12.0f %8.1f%% %10.3f\n", name.c_str(), measured, gz, per,
              100.0 * per / gz, 1000.0 * secs / static_cast<double>(measured));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: storage_bench DIR\n");
    return 2;
  }
  std::map<std::string, std::vector<Input>> by_type;
  for (const auto& d : fs::directory_iterator(argv[1])) {
    if (!d.is_directory()) continue;
    std::vector<fs::path> files;
    for (const auto& f : fs::directory_iterator(d.path())) files.push_back(f.path());
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      return std::stoi(a.stem().stem().string()) < std::stoi(b.stem().stem().string());
    });
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      auto dec = pprof::decode(s.str());
      if (!dec.ok()) {
        std::fprintf(stderr, "%s: %s\n", f.c_str(), dec.error().c_str());
        return 1;
      }
      by_type[d.path().filename()].push_back({d.path().filename(), s.str(), std::move(*dec)});
    }
  }
  std::string dir = fs::temp_directory_path() / "stoker-storage-bench";
  fs::create_directories(dir);
  std::printf("%-12s %6s %12s %12s %9s %10s\n", "type", "n", "gz_bytes", "stored_bytes", "ratio",
              "ms/profile");
  std::vector<const Input*> all;
  size_t rounds = 0;
  for (auto& [type, inputs] : by_type) {
    std::vector<const Input*> ptrs;
    for (auto& in : inputs) ptrs.push_back(&in);
    run(type, ptrs, 5, dir);
    rounds = std::max(rounds, inputs.size());
  }
  // Interleaved as a collector writes them: round by round.
  for (size_t i = 0; i < rounds; ++i) {
    for (auto& [type, inputs] : by_type) {
      if (i < inputs.size()) all.push_back(&inputs[i]);
    }
  }
  run("all", all, 5 * by_type.size(), dir);
  fs::remove_all(dir);
  return 0;
}
