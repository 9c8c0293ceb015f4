// The ingest pipeline: its steps on their own (decode, delta, labels, the
// bytes to forward), and the one path in practice — the same bytes scraped by
// the scrape manager from a real HTTP target and pushed to the receiver over
// real HTTP end up as identical rows in the store.
#include <sqlite3.h>

#include <boost/asio.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "collector/scrape_manager.h"
#include "ingest/pipeline.h"
#include "net/http_server.h"
#include "pprof/compress.h"
#include "pprof/pprof_decode.h"
#include "proto/push.pb.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"
#include "tests/support/test_server.h"
#include "web/api.h"
#include "web/receive_api.h"

using namespace stoker;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

perftools::profiles::Profile heap(int64_t scale) {
  return test::make_profile({{"alloc_objects", "count"},
                             {"alloc_space", "bytes"},
                             {"inuse_objects", "count"},
                             {"inuse_space", "bytes"}},
                            {{{"main.alloc", "main.main"}, {10 * scale, 1000 * scale, 1, 100}},
                             {{"main.other", "main.main"}, {5, 500, 0, 0}}});
}

std::shared_ptr<const ingest::LabelPolicy> policy(const std::string& relabel_yaml = "",
                                                  Labels external = {}) {
  auto p = std::make_shared<ingest::LabelPolicy>();
  if (!relabel_yaml.empty()) {
    auto r = load_config_string(
        "scrape_configs:\n  - job_name: j\n    profile_relabel_configs: " + relabel_yaml + "\n",
        "t.yaml", "/tmp");
    REQUIRE(r.config);
    p->relabel = r.config->scrape_configs[0].profile_relabel;
  }
  p->external = std::move(external);
  return p;
}

ingest::Input input(const std::string& body, Labels labels,
                    std::shared_ptr<const ingest::LabelPolicy> pol) {
  ingest::Input in;
  in.body = body;
  in.labels = std::move(labels);
  in.policy = std::move(pol);
  in.time_ns = 1'700'000'000'000'000'000;
  return in;
}

// A store of its own in a temporary directory.
struct Store {
  test::TempDir dir;
  std::unique_ptr<Storage> storage;
  Store() {
    StorageConfig c;
    c.path = dir.file("s.db");
    storage = test::must(Storage::open(c));
  }
};

}  // namespace

TEST_CASE("the pipeline decodes, differences cumulative types and labels a profile",
          "[ingest][pipeline]") {
  Store s;
  metrics::Registry reg;
  ingest::Pipeline pipeline(s.storage.get(), &reg);
  auto pol = policy("[{target_label: env, replacement: prod}]", Labels{{"cluster", "c1"}});
  Labels labels{{"__name__", "memory"}, {"service_name", "app"}, {"__tmp", "x"}};
  auto cell = std::make_shared<ingest::DeltaCell>();

  // The first cumulative profile primes the delta state: nothing to store.
  auto in = input(pprof::encode_gzip(heap(1)), labels, pol);
  in.delta = cell;
  in.delta_flag = "false";
  auto first = test::must(pipeline.prepare(in));
  CHECK(first.disposition == ingest::Prepared::Disposition::kPrimed);
  CHECK(first.records.empty());

  // The second one holds the difference of the cumulative columns; inuse_*
  // pass through; labels are relabeled, "__" ones dropped, external set last.
  in.body = pprof::encode_gzip(heap(3));
  auto second = test::must(pipeline.prepare(in));
  REQUIRE(second.disposition == ingest::Prepared::Disposition::kStore);
  REQUIRE(second.records.size() == 1);
  const auto& rec = second.records[0];
  CHECK(rec.labels == Labels{{"__name__", "memory"},
                             {"service_name", "app"},
                             {"env", "prod"},
                             {"cluster", "c1"},
                             {"__delta__", "false"}});
  // main.alloc grew by 20 objects / 2000 bytes; main.other did not grow and is gone.
  CHECK(test::totals(*rec.view) == std::vector<int64_t>{20, 2000, 1, 100});
  CHECK(rec.view->samples.size() == 1);
  CHECK(rec.scrape_time_ns == 1'700'000'000'000'000'000);
  CHECK_THAT(
      reg.render(),
      Catch::Contains("stoker_ingest_profiles_total{origin=\"scrape\",outcome=\"primed\"} 1"));

  // A counter that goes down (the target restarted) re-primes.
  in.body = pprof::encode_gzip(heap(1));
  CHECK(test::must(pipeline.prepare(in)).disposition == ingest::Prepared::Disposition::kReset);
}

TEST_CASE("the pipeline refuses bad bytes and labels with the reason, and drops on relabel",
          "[ingest][pipeline]") {
  Store s;
  metrics::Registry reg;
  ingest::Pipeline pipeline(s.storage.get(), &reg);
  Labels labels{{"__name__", "goroutine"}, {"service_name", "app"}};
  auto in = input("<html>oops</html>", labels, policy());
  in.content_type = "text/html";
  in.where = "HTTP 200";
  auto bad = pipeline.prepare(in);
  CHECK(bad.status().code() == Status::Code::kInvalidArgument);
  CHECK(bad.error() == "expected pprof, got text/html (HTTP 200)");

  pprof::Limits small;
  small.max_decompressed = 64;
  in = input(pprof::encode_gzip(heap(1)), labels, policy());
  in.limits = small;
  CHECK(pipeline.prepare(in).status().code() == Status::Code::kResourceExhausted);

  auto limited = std::make_shared<ingest::LabelPolicy>();
  limited->limits.label_limit = 1;
  in = input(pprof::encode_gzip(heap(1)), labels, limited);
  CHECK(pipeline.prepare(in).error() == "label_limit exceeded (number of labels: 2, limit: 1)");

  auto pushed = std::make_shared<ingest::LabelPolicy>();
  pushed->require_service_name = true;
  in = input(pprof::encode_gzip(heap(1)), Labels{{"__name__", "memory"}}, pushed);
  CHECK(pipeline.prepare(in).error() == "the series has no service_name label");

  in = input(pprof::encode_gzip(heap(1)), labels,
             policy("[{action: drop, source_labels: [__name__], regex: goroutine}]"));
  CHECK(test::must(pipeline.prepare(in)).disposition == ingest::Prepared::Disposition::kDropped);
  std::string text = reg.render();
  CHECK_THAT(text, Catch::Contains(
                       "stoker_ingest_profiles_total{origin=\"scrape\",outcome=\"invalid\"} 4"));
  CHECK_THAT(text, Catch::Contains(
                       "stoker_ingest_profiles_total{origin=\"scrape\",outcome=\"dropped\"} 1"));
}

TEST_CASE("with remote_write running, the pipeline keeps the bytes to forward",
          "[ingest][pipeline][remote_write]") {
  Store s;
  ingest::Pipeline pipeline(s.storage.get(), nullptr);
  s.storage->forward_cache().register_endpoint("up", 0);
  Labels labels{{"__name__", "memory"}, {"service_name", "app"}};
  // Unchanged and gzipped: forwarded exactly as received.
  std::string gz = pprof::encode_gzip(heap(2));
  auto as_is = test::must(pipeline.prepare(input(gz, labels, policy())));
  REQUIRE(as_is.records.at(0).forward_gzip);
  CHECK(*as_is.records[0].forward_gzip == gz);
  // Raw protobuf: gzipped once.
  std::string raw = heap(2).SerializeAsString();
  auto zipped = test::must(pipeline.prepare(input(raw, labels, policy())));
  std::string back;
  REQUIRE(pprof::gunzip(*zipped.records.at(0).forward_gzip, 1 << 20, &back).ok());
  CHECK(back == raw);
  // Differenced: the delta, encoded.
  auto cell = std::make_shared<ingest::DeltaCell>();
  auto in = input(gz, labels, policy());
  in.delta = cell;
  REQUIRE(test::must(pipeline.prepare(in)).records.empty());
  in.body = pprof::encode_gzip(heap(5));
  auto delta = test::must(pipeline.prepare(in));
  auto fwd = test::must(pprof::decode(*delta.records.at(0).forward_gzip));
  CHECK(test::totals(*fwd) == std::vector<int64_t>{30, 3000, 1, 100});
  s.storage->forward_cache().unregister_endpoint("up");
}

TEST_CASE("a differenced profile forwarded whole takes its symbol tables compressed once",
          "[ingest][pipeline][remote_write]") {
  Store s;
  metrics::Registry reg;
  ingest::Pipeline pipeline(s.storage.get(), &reg);
  s.storage->forward_cache().register_endpoint("up", 0);
  Labels labels{{"__name__", "memory"}, {"service_name", "app"}};
  auto lookups = [&](const std::string& result) {
    std::string needle = "stoker_forward_tables_lookups_total{result=\"" + result + "\"} ";
    std::string text = reg.render();
    auto at = text.find(needle);
    return at == std::string::npos ? -1 : std::stoi(text.substr(at + needle.size()));
  };
  auto cell = std::make_shared<ingest::DeltaCell>();
  auto in = input(pprof::encode_gzip(heap(1)), labels, policy());
  in.delta = cell;
  REQUIRE(test::must(pipeline.prepare(in)).records.empty());  // primed
  // Every later scrape has the same tables; main.other did not grow, so its
  // sample is dropped and two of the three locations are used.
  std::vector<std::shared_ptr<pprof::View>> forwarded;
  for (int64_t k = 2; k <= 5; ++k) {
    in.body = pprof::encode_gzip(heap(k));
    auto prepared = test::must(pipeline.prepare(in));
    REQUIRE(prepared.records.size() == 1);
    const auto& rec = prepared.records[0];
    REQUIRE(rec.forward_gzip);
    INFO("scrape " << k);
    // What is forwarded is the delta ...
    forwarded.push_back(test::must(pprof::decode_view(*rec.forward_gzip)));
    CHECK(test::totals(*forwarded.back()) == std::vector<int64_t>{10, 1000, 1, 100});
    CHECK(test::canonical(*forwarded.back()).size() == 1);  // main.alloc's stack
    // ... and what is stored is the same, pruned as before.
    CHECK(rec.view->locations.size() == 2);
    CHECK(test::canonical(*rec.view) == test::canonical(*forwarded.back()));
  }
  // The first time the tables came up they were pruned with the samples; the
  // second time they were compressed and kept, whole; then taken as kept.
  CHECK(forwarded[0]->locations.size() == 2);
  for (size_t i = 1; i < forwarded.size(); ++i) CHECK(forwarded[i]->locations.size() == 3);
  CHECK(lookups("skipped") == 1);
  CHECK(lookups("added") == 1);
  CHECK(lookups("hit") == 2);
  // Identical bytes from a kept part as from the part made for them.
  in.body = pprof::encode_gzip(heap(6));
  auto a = test::must(pipeline.prepare(in));
  CHECK(test::must(pprof::decode_view(*a.records.at(0).forward_gzip))->encode() ==
        forwarded.back()->encode());

  // A delta that uses fewer than half the locations is pruned, as before,
  // and does not look its tables up.
  auto sparse = [](int64_t k) {
    std::vector<test::SampleSpec> samples = {{{"main.grow", "main.main"}, {k, 10 * k, 0, 0}}};
    for (int i = 0; i < 6; ++i) {
      samples.push_back({{"main.still" + std::to_string(i), "main.main"}, {1, 10, 0, 0}});
    }
    return test::make_profile({{"alloc_objects", "count"},
                               {"alloc_space", "bytes"},
                               {"inuse_objects", "count"},
                               {"inuse_space", "bytes"}},
                              samples);
  };
  auto cell2 = std::make_shared<ingest::DeltaCell>();
  auto in2 = input(pprof::encode_gzip(sparse(1)), labels, policy());
  in2.delta = cell2;
  REQUIRE(test::must(pipeline.prepare(in2)).records.empty());
  for (int64_t k = 2; k <= 4; ++k) {
    in2.body = pprof::encode_gzip(sparse(k));
    auto prepared = test::must(pipeline.prepare(in2));
    auto fwd = test::must(pprof::decode_view(*prepared.records.at(0).forward_gzip));
    CHECK(fwd->locations.size() == 2);
    CHECK(test::totals(*fwd) == std::vector<int64_t>{1, 10, 0, 0});
    CHECK(test::canonical(*fwd).size() == 1);  // main.grow's stack
  }
  CHECK(lookups("skipped") == 1);
  CHECK(lookups("hit") == 3);
  s.storage->forward_cache().unregister_endpoint("up");
}

namespace {

// The stored rows of a database: series labels and every profile's sample
// block, in id order.
struct Rows {
  std::vector<std::string> series;
  std::vector<std::string> blocks;
  std::vector<std::string> stacks;
};

Rows rows_of(const std::string& db) {
  Rows out;
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  auto each = [&](const char* sql, std::vector<std::string>* into) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
      const void* blob = sqlite3_column_blob(st, 0);
      into->emplace_back(static_cast<const char*>(blob),
                         static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    }
    sqlite3_finalize(st);
  };
  each("SELECT labels FROM series ORDER BY id", &out.series);
  each("SELECT samples FROM profiles ORDER BY id", &out.blocks);
  each("SELECT CAST(id AS TEXT) || ':' || hex(key) FROM stacks ORDER BY id", &out.stacks);
  sqlite3_close(h);
  return out;
}

}  // namespace

TEST_CASE("a scraped and a pushed profile of the same bytes are stored as identical rows",
          "[ingest][pipeline][receive]") {
  // The same cumulative-free profile (goroutines) served to a scrape and pushed.
  std::string body = pprof::encode_gzip(test::make_profile(
      {{"goroutine", "count"}}, {{{"runtime.gopark", "main.worker"}, {7}}, {{"main.main"}, {1}}}));
  test::TestServer target([&](const test::RecordedRequest&) {
    return test::RawResponse{test::TestServer::response(200, "application/octet-stream", body)};
  });
  const std::string instance = "127.0.0.1:" + std::to_string(target.port());
  const std::string yaml =
      "global:\n  scrape_interval: 1s\n  external_labels: {cluster: c1}\n"
      "scrape_configs:\n  - job_name: app\n    static_configs: [{targets: ['" +
      instance +
      "']}]\n    profiling_config:\n      process_cpu: {enabled: false}\n"
      "      memory: {enabled: false}\n      block: {enabled: false}\n"
      "      mutex: {enabled: false}\n";
  test::TempDir dir;
  auto cfg = load_config_string(yaml, "t.yaml", dir.path());
  REQUIRE(cfg.config);

  // Scraped: the scrape manager, one scrape, into a store of its own.
  StorageConfig scraped_cfg;
  scraped_cfg.path = dir.file("scraped.db");
  {
    auto storage = test::must(Storage::open(scraped_cfg));
    ingest::Pipeline pipeline(storage.get(), nullptr);
    asio::io_context io;
    ScrapeManager manager(io, &pipeline);
    manager.apply_config(*cfg.config);
    std::thread runner([&] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
    REQUIRE(test::wait_for([&] { return storage->stats().profiles_written >= 1; }, 10000));
    asio::post(io, [&] { manager.stop_all(); });
    io.stop();
    runner.join();
  }

  // Pushed: push.v1 over HTTP with the labels the scrape gives the series.
  StorageConfig pushed_cfg;
  pushed_cfg.path = dir.file("pushed.db");
  {
    auto storage = test::must(Storage::open(pushed_cfg));
    ingest::Pipeline pipeline(storage.get(), nullptr);
    Receiver receiver(&pipeline, nullptr);
    receiver.configure(*cfg.config);
    asio::io_context io;
    asio::thread_pool threads(1);
    ApiContext ctx;
    ctx.receiver = &receiver;
    WebServerOptions opts;
    opts.offload = [&](const WebRequest&) { return &threads; };
    WebServer web(
        io, [ctx](const WebRequest& r) { return handle_request(r, ctx); }, opts);
    REQUIRE(web.start("127.0.0.1:0").ok());
    std::thread runner([&] { io.run(); });
    push::v1::PushRequest req;
    auto* series = req.add_series();
    for (const auto& [k, v] :
         std::vector<std::pair<std::string, std::string>>{{"__name__", "goroutine"},
                                                          {"instance", instance},
                                                          {"job", "app"},
                                                          {"service_name", "app"}}) {
      auto* l = series->add_labels();
      l->set_name(k);
      l->set_value(v);
    }
    series->add_samples()->set_raw_profile(body);
    auto r = test::http_request(web.port(), "POST", "/push.v1.PusherService/Push",
                                {{"Content-Type", "application/proto"}}, req.SerializeAsString());
    CHECK(r.status == 200);
    web.stop();
    io.stop();
    runner.join();
    threads.join();
    REQUIRE(storage->stats().profiles_written == 1);
  }

  Rows scraped = rows_of(scraped_cfg.path), pushed = rows_of(pushed_cfg.path);
  REQUIRE(scraped.series.size() == 1);
  CHECK(scraped.series == pushed.series);  // the same labels, cluster included
  CHECK(scraped.series[0].find("cluster=\"c1\"") != std::string::npos);
  REQUIRE(!scraped.blocks.empty());
  CHECK(scraped.blocks[0] == pushed.blocks.at(0));  // the same stacks and values
  CHECK(scraped.stacks == pushed.stacks);
}
