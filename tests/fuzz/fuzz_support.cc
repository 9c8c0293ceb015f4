#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>

#include <filesystem>

#include "model/timeparse.h"
#include "proto/profile.pb.h"
#include "storage/storage.h"
#include "tests/support/or_exit.h"

namespace stoker::fuzz {

namespace {

perftools::profiles::Profile profile(int64_t value) {
  perftools::profiles::Profile p;
  for (const char* s : {"", "samples", "count", "cpu", "nanoseconds", "main.main", "main.work"})
    p.add_string_table(s);
  auto* st = p.add_sample_type();
  st->set_type(1);
  st->set_unit(2);
  st = p.add_sample_type();
  st->set_type(3);
  st->set_unit(4);
  p.mutable_period_type()->set_type(3);
  p.mutable_period_type()->set_unit(4);
  for (uint64_t i = 1; i <= 2; ++i) {
    auto* f = p.add_function();
    f->set_id(i);
    f->set_name(static_cast<int64_t>(4 + i));
    auto* l = p.add_location();
    l->set_id(i);
    l->add_line()->set_function_id(i);
  }
  auto* s = p.add_sample();
  s->add_location_id(2);
  s->add_location_id(1);
  s->add_value(1);
  s->add_value(value);
  return p;
}

struct Store {
  std::string dir;
  std::unique_ptr<query::EnginePool> pool;
  Store() {
    char tmpl[] = "/tmp/stoker-fuzz-XXXXXX";
    dir = mkdtemp(tmpl);
    StorageConfig cfg;
    cfg.path = dir + "/f.db";
    auto storage = test::or_exit(Storage::open(cfg), "open");
    int64_t now = now_unix_nanos();
    for (int i = 0; i < 20; ++i) {
      ProfileRecord r;
      r.labels = Labels{{"__name__", "process_cpu"}, {"service_name", i % 2 ? "a" : "b"}};
      r.scrape_time_ns = now - static_cast<int64_t>(i) * 15'000'000'000;
      r.profile = std::make_shared<perftools::profiles::Profile>(profile(10 + i));
      (void)storage->append(std::move(r));
    }
    storage->flush();
    query::Limits limits;
    limits.timeout = std::chrono::seconds(5);
    pool = std::make_unique<query::EnginePool>(cfg.path, limits);
  }
  ~Store() {
    pool.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

query::EnginePool& pool() {
  static Store store;
  return *store.pool;
}

}  // namespace stoker::fuzz
