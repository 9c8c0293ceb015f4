// Bounded storage over time (issue #11): a simulated week of profiles from
// services that are redeployed every hour (every address moves, one function
// in twenty is renamed), with retention 1 d, written through Storage with a
// simulated clock. Prints, per simulated day, the database size and the rows
// of the symbol tables — once with symbol epochs as stoker runs them, once
// with epochs switched off (symbols are then never collected, as before).
//
// Usage: gc_bench [--dir DIR] [--services N] [--every-minutes M] [--days D]
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/synth_profile.h"
#include "model/timeparse.h"
#include "storage/sqlite_util.h"
#include "storage/storage.h"
#include "tests/support/or_exit.h"

using namespace stoker;

namespace {

constexpr int64_t kMinute = 60'000'000'000LL;

uint64_t file_size(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

int64_t rows(sql::Db& db, const char* table) {
  return db.scalar_int((std::string("SELECT count(*) FROM ") + table).c_str());
}

void run(const std::string& path, bool epochs, int services, int every_minutes, int days) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  StorageConfig cfg;
  cfg.path = path;
  cfg.retention = std::chrono::hours(24);
  cfg.max_size = 0;
  int64_t start = now_unix_nanos() - static_cast<int64_t>(days) * 24 * 60 * kMinute;
  int64_t now = start;
  StorageOptions opt;
  opt.clock = [&now] { return now; };
  // Off: an epoch longer than the run, so nothing is ever collected.
  opt.symbol_epoch = epochs ? Duration(0) : std::chrono::hours(24 * 365);
  auto store = test::or_exit(Storage::open(cfg, opt), "open");
  std::vector<std::unique_ptr<bench::SynthService>> svcs;
  bench::SynthShape shape;
  shape.samples = 1200;
  for (int i = 0; i < services; ++i)
    svcs.push_back(std::make_unique<bench::SynthService>(1000 + i % 4, shape));
  std::printf("%s: %d services, a profile each every %d min, deploy every hour, retention 1 d\n",
              epochs ? "with symbol epochs (stoker)" : "without (symbols kept forever)", services,
              every_minutes);
  std::printf("%6s %10s %9s %9s %10s %10s %10s\n", "day", "db_mib", "profiles", "strings",
              "functions", "locations", "stacks");
  int generation = 0;
  const int64_t step = every_minutes * kMinute;
  for (int64_t t = 0; t < static_cast<int64_t>(days) * 24 * 60 * kMinute; t += step) {
    now = start + t;
    int gen = static_cast<int>(t / (60 * kMinute));
    if (gen != generation) {
      generation = gen;
      for (auto& s : svcs) s->deploy(gen);
    }
    for (int i = 0; i < services; ++i) {
      ProfileRecord r;
      r.labels = {{"__name__", "process_cpu"},
                  {"service_name", "svc" + std::to_string(i % 4)},
                  {"instance", "10.0.0." + std::to_string(i)}};
      r.scrape_time_ns = now;
      r.profile =
          std::make_shared<perftools::profiles::Profile>(svcs[i]->cpu(now, 10 * 1'000'000'000LL));
      while (!store->append(std::move(r)).ok()) store->flush(std::chrono::seconds(60));
    }
    bool day_end = (t + step) % (24 * 60 * kMinute) == 0;
    if ((t + step) % (60 * kMinute) == 0) {
      store->flush();
      store->enforce_limits();
    }
    if (day_end) {
      sql::Db db;
      db.open(path, true);
      std::printf("%6.0f %10.1f %9lld %9lld %10lld %10lld %10lld\n",
                  static_cast<double>(t + step) / (24 * 60 * kMinute),
                  static_cast<double>(file_size(path) + file_size(path + "-wal")) / (1 << 20),
                  static_cast<long long>(rows(db, "profiles")),
                  static_cast<long long>(rows(db, "strings")),
                  static_cast<long long>(rows(db, "functions")),
                  static_cast<long long>(rows(db, "locations")),
                  static_cast<long long>(rows(db, "stacks")));
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/stoker-gc-bench";
  int services = 8, every = 5, days = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--services") services = std::stoi(argv[i + 1]);
    if (a == "--every-minutes") every = std::stoi(argv[i + 1]);
    if (a == "--days") days = std::stoi(argv[i + 1]);
  }
  std::filesystem::create_directories(dir);
  run(dir + "/epochs.db", true, services, every, days);
  run(dir + "/forever.db", false, services, every, days);
  return 0;
}
