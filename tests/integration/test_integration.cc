// End to end: the demo Go app as a real pprof producer, the real stoker binary,
// and `go tool pprof` as the judge of what stoker exports.
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "ingest/pipeline.h"
#include "model/text.h"
#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include "tests/support/connect_proxy.h"
#include "tests/support/demo.h"
#include "tests/support/fake_dns.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"
#include "tests/support/test_server.h"

using namespace stoker;
using test::Child;
using test::Demo;
using test::profiles_of;
using test::TempDir;

namespace {

const std::vector<std::string> kTypes = {"process_cpu", "memory", "goroutine", "block", "mutex"};

// Sums each sample-type column of `go tool pprof -raw FILE`.
std::vector<int64_t> pprof_raw_totals(const std::string& file, std::string* header) {
  int status = 0;
  std::string out =
      test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -raw " + file + " 2>&1", &status);
  REQUIRE(status == 0);
  std::istringstream in(out);
  std::string line;
  std::vector<int64_t> totals;
  bool in_samples = false;
  while (std::getline(in, line)) {
    if (line == "Samples:") {
      in_samples = true;
      std::getline(in, *header);
      continue;
    }
    if (line.rfind("Locations", 0) == 0) break;
    if (!in_samples) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos || line.find('[') != std::string::npos) continue;
    std::istringstream vals(line.substr(0, colon));
    std::vector<int64_t> v;
    int64_t x;
    while (vals >> x) v.push_back(x);
    if (v.empty()) continue;
    if (totals.empty()) totals.assign(v.size(), 0);
    REQUIRE(v.size() == totals.size());
    for (size_t i = 0; i < v.size(); ++i) totals[i] += v[i];
  }
  return totals;
}

}  // namespace

TEST_CASE("stoker scrapes every default profile type of the demo app", "[integration]") {
  Demo demo;
  TempDir dir;
  int web_port = test::free_port();
  std::string db = dir.file("data/stoker.db");
  test::write_file(dir.file("stoker.yaml"),
                   "global:\n  scrape_interval: 2s\n"
                   "storage:\n  path: " +
                       db +
                       "\n"
                       "web:\n  listen_address: 127.0.0.1:" +
                       std::to_string(web_port) +
                       "\n"
                       "scrape_configs:\n  - job_name: demo\n    static_configs:\n"
                       "      - targets: ['127.0.0.1:" +
                       std::to_string(demo.port) +
                       "']\n"
                       "        labels: {env: test}\n");
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml"), "--log.level", "debug"},
               dir.file("stoker.log"));
  std::string body;
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(
      test::wait_for([&] { return test::http_get(web_port, "/-/ready", &body) == 200; }, 10000));
  CHECK(test::http_get(web_port, "/-/healthy", &body) == 200);

  // At a 2 s interval, three profiles of every type arrive within about 8 s.
  bool enough = test::wait_for(
      [&] {
        auto r = Reader::open(db);  // not there until stoker has started
        if (!r) return false;
        for (const auto& t : kTypes) {
          if (profiles_of(**r, t) < 3) return false;
        }
        return true;
      },
      30000);
  CHECK(enough);

  REQUIRE(test::http_get(web_port, "/api/v1/targets", &body) == 200);
  auto doc = boost::json::parse(body).as_object();
  CHECK(doc.at("status") == "success");
  auto& active = doc.at("data").at("activeTargets").as_array();
  REQUIRE(active.size() == 1);
  auto& target = active[0].as_object();
  CHECK(target.at("scrapePool") == "demo");
  CHECK(target.at("labels").at("env") == "test");
  CHECK(
      target.at("scrapeUrls").at("process_cpu").as_string() ==
      ("http://127.0.0.1:" + std::to_string(demo.port) + "/debug/pprof/profile?seconds=1").c_str());
  for (const auto& t : kTypes) {
    INFO(t << ": " << boost::json::serialize(target.at("profiles").at(t)));
    CHECK(target.at("profiles").at(t).at("health") == "up");
  }

  // The web page's Targets view (rendered by the browser tests) loads from /targets.
  REQUIRE(test::http_get(web_port, "/targets", &body) == 200);
  CHECK(body.find("/ui/app.js") != std::string::npos);

  CHECK(stoker.stop(SIGTERM, 10000) == 0);

  auto reader = test::must(Reader::open(db));
  REQUIRE(reader);
  std::string instance = "127.0.0.1:" + std::to_string(demo.port);
  for (const auto& t : kTypes) {
    // The series of the profile's unlabelled samples (the demo app labels
    // its requests' samples by endpoint: those are series of their own).
    auto series = reader->series(*Selector::parse(t + "{endpoint=\"\"}"), {});
    REQUIRE(series.size() == 1);
    Labels want{{"__name__", t},
                {"job", "demo"},
                {"instance", instance},
                {"service_name", "demo"},
                {"env", "test"}};
    // Cumulative types are differenced by stoker and marked so upstream does not.
    if (t == "memory" || t == "block" || t == "mutex") want.set("__delta__", "false");
    CHECK(series[0].labels == want);
    CHECK(series[0].profiles >= 3);
    // Each type exports to a file `go tool pprof` reads.
    std::string out = dir.file(t + ".pb.gz");
    int status = 0;
    std::string msg =
        test::run_command(std::string(STOKER_BINARY) + " export --storage.path " + db +
                              " --query '" + t + "{job=\"demo\"}' -o " + out + " 2>&1",
                          &status);
    INFO(msg);
    REQUIRE(status == 0);
    std::string top = test::run_command(
        std::string(GO_EXECUTABLE) + " tool pprof -top " + out + " 2>&1", &status);
    INFO(top);
    CHECK(status == 0);
    CHECK(top.find("Type:") != std::string::npos);
  }
  int status = 0;
  std::string cpu = test::run_command(
      std::string(GO_EXECUTABLE) + " tool pprof -raw " + dir.file("process_cpu.pb.gz"), &status);
  CHECK(cpu.find("main.burnCPU") != std::string::npos);

  std::string listing = test::run_command(
      std::string(STOKER_BINARY) + " profiles --output json --storage.path " + db, &status);
  CHECK(status == 0);
  // One series per type, and more for the label sets the demo app puts on
  // CPU and goroutine samples (its endpoints).
  std::set<std::string> names;
  size_t with_endpoint = 0;
  auto listed = boost::json::parse(listing);
  for (const auto& x : listed.as_array()) {
    const auto& labels = x.at("labels").as_object();
    names.insert(labels.at("__name__").as_string().c_str());
    with_endpoint += labels.contains("endpoint");
  }
  CHECK(names.size() == kTypes.size());
  CHECK(with_endpoint > 0);
}

TEST_CASE("an exported profile has the same totals as the app's own profile", "[integration]") {
  Demo demo;
  TempDir dir;
  for (const std::string endpoint : {"allocs", "goroutine", "block"}) {
    std::string raw;
    REQUIRE(test::http_get(demo.port, "/debug/pprof/" + endpoint, &raw) == 200);
    test::write_file(dir.file(endpoint + "-direct.pb.gz"), raw);
    auto decoded = pprof::decode(raw);
    REQUIRE(decoded.ok());

    StorageConfig cfg;
    cfg.path = dir.file(endpoint + ".db");
    std::string err;
    {
      auto storage = test::must(Storage::open(cfg));
      REQUIRE(storage);
      ProfileRecord rec;
      rec.labels = Labels{{"__name__", endpoint}, {"job", "direct"}};
      rec.scrape_time_ns = now_unix_nanos();
      rec.profile = std::move((*decoded));
      REQUIRE(storage->append(std::move(rec)).ok());
    }
    std::string exported = dir.file(endpoint + "-export.pb.gz");
    int status = 0;
    test::run_command(std::string(STOKER_BINARY) + " export --storage.path " + cfg.path +
                          " --query " + endpoint + " -o " + exported,
                      &status);
    REQUIRE(status == 0);
    std::string header_direct, header_export;
    auto direct = pprof_raw_totals(dir.file(endpoint + "-direct.pb.gz"), &header_direct);
    auto exported_totals = pprof_raw_totals(exported, &header_export);
    INFO(endpoint);
    CHECK(header_direct == header_export);
    CHECK_FALSE(direct.empty());
    CHECK(direct == exported_totals);
  }
}

namespace {

// The "Samples:" part of `go tool pprof -raw FILE` (values and location ids).
std::string pprof_raw_samples(const std::string& file) {
  int status = 0;
  std::string out =
      test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -raw " + file + " 2>&1", &status);
  REQUIRE(status == 0);
  auto begin = out.find("Samples:");
  auto end = out.find("Locations");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return out.substr(begin, end - begin);
}

}  // namespace

TEST_CASE("forwarded deltas on kept symbol tables read in go tool pprof as the differences",
          "[integration][remote_write][pprof_oracle]") {
  // The demo app's heap profile (real Go tables: mappings, inlined frames),
  // its allocation counters grown k times: the tables stay the same.
  Demo demo;
  std::string body;
  REQUIRE(test::http_get(demo.port, "/debug/pprof/allocs", &body) == 200);
  auto heap = test::must(pprof::decode(body));
  REQUIRE(heap->sample_type_size() == 4);  // alloc_objects, alloc_space, inuse_objects, inuse_space
  auto grown = [&](int64_t k) {
    auto p = *heap;
    for (auto& s : *p.mutable_sample()) {
      s.set_value(0, s.value(0) * k);
      s.set_value(1, s.value(1) * k);
    }
    return pprof::encode_gzip(p);
  };
  // What each forwarded delta must hold: the samples that allocated, with
  // one step's allocations and their in-use values.
  std::vector<int64_t> expected(4, 0);
  for (const auto& s : heap->sample()) {
    if (s.value(0) == 0 && s.value(1) == 0) continue;
    for (int i = 0; i < 4; ++i) expected[static_cast<size_t>(i)] += s.value(i);
  }
  REQUIRE(expected[0] > 0);

  TempDir dir;
  StorageConfig sc;
  sc.path = dir.file("s.db");
  auto storage = test::must(Storage::open(sc));
  metrics::Registry reg;
  ingest::Pipeline pipeline(storage.get(), &reg);
  storage->forward_cache().register_endpoint("up", 0);
  ingest::Input in;
  in.labels = Labels{{"__name__", "memory"}, {"service_name", "demo"}};
  in.policy = std::make_shared<ingest::LabelPolicy>();
  in.delta = std::make_shared<ingest::DeltaCell>();
  in.body = grown(1);
  REQUIRE(test::must(pipeline.prepare(in)).records.empty());  // primed
  std::vector<std::string> samples;
  for (int64_t k = 2; k <= 4; ++k) {
    in.body = grown(k);
    auto prepared = test::must(pipeline.prepare(in));
    REQUIRE(prepared.records.size() == 1);
    const std::string file = dir.file("fwd" + std::to_string(k) + ".pb.gz");
    test::write_file(file, *prepared.records[0].forward_gzip);
    INFO("forwarded delta " << k);
    std::string header;
    CHECK(pprof_raw_totals(file, &header) == expected);
    samples.push_back(pprof_raw_samples(file));
  }
  // Pruned the first time, on kept tables the second (compressed then) and
  // third time: go tool pprof reads the same samples from all three.
  std::string text = reg.render();
  CHECK_THAT(text, Catch::Contains("stoker_forward_tables_lookups_total{result=\"added\"} 1"));
  CHECK_THAT(text, Catch::Contains("stoker_forward_tables_lookups_total{result=\"hit\"} 1"));
  CHECK(samples[1] == samples[0]);
  CHECK(samples[2] == samples[0]);
  storage->forward_cache().unregister_endpoint("up");
}

TEST_CASE("stoker fails fast with clear messages on bad start-up input", "[integration]") {
  TempDir dir;
  int status = 0;
  test::write_file(dir.file("bad.yaml"),
                   "scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n");
  std::string out = test::run_command(
      std::string(STOKER_BINARY) + " --config " + dir.file("bad.yaml") + " 2>&1", &status);
  CHECK(status == 1);
  CHECK(out.find(dir.file("bad.yaml") + ":3:5: scrape_configs[0].scrape_intervall: unknown key") !=
        std::string::npos);

  test::write_file(dir.file("garbage.db"), std::string(4096, 'z'));
  test::write_file(dir.file("ok.yaml"),
                   "storage: {path: " + dir.file("garbage.db") + "}\nscrape_configs: []\n");
  out = test::run_command(std::string(STOKER_BINARY) + " --config " + dir.file("ok.yaml") + " 2>&1",
                          &status);
  CHECK(status == 1);
  CHECK(out.find("not a valid stoker database") != std::string::npos);

  out = test::run_command(
      std::string(STOKER_BINARY) + " check config " + dir.file("bad.yaml") + " 2>&1", &status);
  CHECK(status == 1);
  CHECK(out.find("FAILED") != std::string::npos);
  out = test::run_command(
      std::string(STOKER_BINARY) + " check config " STOKER_SOURCE_DIR "/examples/local.yaml 2>&1",
      &status);
  CHECK(status == 0);
  CHECK(out.find("SUCCESS") != std::string::npos);
  CHECK(out.find("receiving pushes on (/ingest)") != std::string::npos);  // loopback
  out = test::run_command(std::string(STOKER_BINARY) + " check config " STOKER_SOURCE_DIR
                                                       "/examples/central.yaml " STOKER_SOURCE_DIR
                                                       "/examples/forward.yaml 2>&1",
                          &status);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("0 scrape configs, 0 static targets, receiving pushes on") &&
                      Catch::Contains("1 static targets, receiving pushes on"));

  out = test::run_command(std::string(STOKER_BINARY) + " --help", &status);
  CHECK(status == 0);
  for (const char* cmd :
       {"run", "check config", "profiles", "export", "--version", "--log.level", "--log.format"}) {
    CHECK(out.find(cmd) != std::string::npos);
  }
  out = test::run_command(std::string(STOKER_BINARY) + " frobnicate 2>&1", &status);
  CHECK(status == 2);
}

namespace {

// Health of one target's goroutine loop in /api/v1/targets, keyed by instance.
std::map<std::string, int64_t> goroutine_scrapes(int web_port) {
  std::map<std::string, int64_t> out;
  std::string body;
  if (test::http_get(web_port, "/api/v1/targets", &body) != 200) return out;
  auto doc = boost::json::parse(body);
  for (const auto& t : doc.at("data").at("activeTargets").as_array()) {
    std::string instance(t.at("labels").at("instance").as_string());
    out[instance] = t.at("profiles").at("goroutine").at("scrapes").to_number<int64_t>();
  }
  return out;
}

// A target serving a one-sample goroutine profile on every path.
test::TestServer::Handler goroutine_target() {
  auto body = std::make_shared<std::string>(
      pprof::encode_gzip(test::make_profile({{"goroutine", "count"}}, {{{"main.main"}, {1}}})));
  return [body](const test::RecordedRequest&) {
    return test::RawResponse{test::TestServer::response(200, "application/octet-stream", *body)};
  };
}

std::string addr(const test::TestServer& s) {
  return "127.0.0.1:" + std::to_string(s.port());
}

// Prometheus' target-group JSON with one group of `addrs`.
std::string target_groups_json(const std::vector<std::string>& addrs,
                               const std::string& labels = "") {
  std::string json = "[{\"targets\": [";
  for (size_t i = 0; i < addrs.size(); ++i) json += (i ? ", \"" : "\"") + addrs[i] + "\"";
  return json + "]" + (labels.empty() ? "" : ", \"labels\": " + labels) + "}]";
}

// A profiling_config scraping only goroutine profiles (quick, no ?seconds=N).
const char* kGoroutineOnly =
    "    profiling_config:\n"
    "      process_cpu: {enabled: false}\n      memory: {enabled: false}\n"
    "      block: {enabled: false}\n      mutex: {enabled: false}\n";

}  // namespace

TEST_CASE("editing a file_sd file adds and removes loops without restarting the others",
          "[integration]") {
  test::TestServer a(goroutine_target()), b(goroutine_target()), c(goroutine_target());
  TempDir dir;
  auto write_targets = [&](const std::vector<std::string>& addrs) {
    test::write_file(dir.file("targets.json.tmp"), target_groups_json(addrs));
    std::filesystem::rename(dir.file("targets.json.tmp"),
                            dir.file("targets.json"));  // atomic, as tools do
  };
  write_targets({addr(a), addr(b)});
  int web_port = test::free_port();
  test::write_file(dir.file("stoker.yaml"),
                   "global: {scrape_interval: 1s}\n"
                   "storage: {path: " +
                       dir.file("s.db") +
                       "}\n"
                       "web: {listen_address: 127.0.0.1:" +
                       std::to_string(web_port) +
                       "}\n"
                       "scrape_configs:\n  - job_name: files\n"
                       "    file_sd_configs: [{files: ['*.json']}]\n" +
                       kGoroutineOnly);
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for(
      [&] {
        auto s = goroutine_scrapes(web_port);
        return s.size() == 2 && s[addr(a)] >= 2 && s[addr(b)] >= 2;
      },
      15000));
  int64_t a_before = goroutine_scrapes(web_port)[addr(a)];

  write_targets({addr(a), addr(c)});
  bool switched = test::wait_for(
      [&] {
        auto s = goroutine_scrapes(web_port);
        return s.size() == 2 && s.count(addr(a)) && s.count(addr(c)) && s[addr(c)] >= 1;
      },
      15000);
  CHECK(switched);
  // A's loop kept running through the change: its scrape count carried on.
  CHECK(goroutine_scrapes(web_port)[addr(a)] > a_before);
  size_t b_requests = b.requests().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  CHECK(b.requests().size() == b_requests);  // B is no longer scraped
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}

TEST_CASE("http_sd_configs: targets follow the endpoint's answer, a failing endpoint keeps them",
          "[integration][http_sd]") {
  test::TestServer a(goroutine_target()), b(goroutine_target()), c(goroutine_target());
  std::mutex mu;
  int answer_status = 200;
  std::string answer;
  auto set_targets = [&](const std::vector<std::string>& addrs) {
    std::lock_guard lock(mu);
    answer = target_groups_json(addrs, "{\"team\": \"checkout\"}");
  };
  test::TestServer sd([&](const test::RecordedRequest&) {
    std::lock_guard lock(mu);
    return test::RawResponse{test::TestServer::response(
        answer_status, answer_status == 200 ? "application/json" : "text/plain", answer)};
  });
  set_targets({addr(a), addr(b)});
  TempDir dir;
  int web_port = test::free_port();
  test::write_file(dir.file("stoker.yaml"),
                   "global: {scrape_interval: 1s}\nstorage: {path: " + dir.file("s.db") +
                       "}\nweb: {listen_address: 127.0.0.1:" + std::to_string(web_port) +
                       "}\nscrape_configs:\n  - job_name: registry\n    http_sd_configs:\n"
                       "      - url: " +
                       sd.base_url() +
                       "/targets\n        refresh_interval: 1s\n"
                       "    relabel_configs:\n      - source_labels: [__meta_url]\n"
                       "        target_label: sd_url\n" +
                       kGoroutineOnly);
  // stoker targets asks the endpoint once.
  int status = 0;
  std::string out = test::run_command(std::string(STOKER_BINARY) + " targets --config " +
                                          dir.file("stoker.yaml") + " --output json 2>&1",
                                      &status);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains(addr(a)) && Catch::Contains(sd.base_url() + "/targets"));

  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for(
      [&] {
        auto s = goroutine_scrapes(web_port);
        return s.size() == 2 && s[addr(a)] >= 1 && s[addr(b)] >= 1;
      },
      15000));
  // The registry's labels and __meta_url reach the targets.
  std::string targets;
  REQUIRE(test::http_get(web_port, "/api/v1/targets", &targets) == 200);
  CHECK_THAT(targets, Catch::Contains("\"team\":\"checkout\"") &&
                          Catch::Contains("\"sd_url\":\"" + sd.base_url() + "/targets\""));
  CHECK(sd.requests().at(0).header("x-prometheus-refresh-interval-seconds") == "1");

  // B leaves the registry and C joins.
  set_targets({addr(a), addr(c)});
  CHECK(test::wait_for(
      [&] {
        auto s = goroutine_scrapes(web_port);
        return s.size() == 2 && s.count(addr(a)) && s.count(addr(c)) && s[addr(c)] >= 1;
      },
      15000));
  // The registry fails: the targets stay, the failure is logged once.
  {
    std::lock_guard lock(mu);
    answer_status = 500;
    answer = "registry down";
  }
  size_t sd_requests = sd.requests().size();
  REQUIRE(test::wait_for([&] { return sd.requests().size() >= sd_requests + 3; }, 15000));
  auto s = goroutine_scrapes(web_port);
  CHECK((s.size() == 2 && s.count(addr(a)) && s.count(addr(c))));
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
  std::string log = test::read_file(dir.file("stoker.log"));
  size_t first = log.find("http_sd_configs refresh failed");
  CHECK(first != std::string::npos);
  CHECK(log.find("server returned HTTP status 500", first) != std::string::npos);
  CHECK(log.find("level=warn component=discovery msg=\"http_sd_configs refresh failed",
                 log.find("level=warn component=discovery msg=\"http_sd_configs refresh failed") +
                     1) == std::string::npos);  // once
}

TEST_CASE("a reload reads scrape_config_files again and applies the jobs they hold",
          "[integration][scrape_config_files]") {
  test::TestServer a(goroutine_target()), b(goroutine_target());
  auto job = [](const std::string& name, const test::TestServer& s) {
    return "scrape_configs:\n  - job_name: " + name + "\n    static_configs: [{targets: ['" +
           addr(s) + "']}]\n" + kGoroutineOnly;
  };
  TempDir dir;
  std::filesystem::create_directories(dir.file("jobs"));
  test::write_file(dir.file("jobs/a.yml"), job("from-a", a));
  int web_port = test::free_port();
  test::write_file(dir.file("stoker.yaml"),
                   "global: {scrape_interval: 1s}\nstorage: {path: " + dir.file("s.db") +
                       "}\nweb: {listen_address: 127.0.0.1:" + std::to_string(web_port) +
                       "}\nscrape_config_files: ['jobs/*.yml']\n");
  int status = 0;
  std::string out = test::run_command(
      std::string(STOKER_BINARY) + " check config " + dir.file("stoker.yaml") + " 2>&1", &status);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("1 scrape configs") &&
                      Catch::Contains("included " + dir.file("jobs/a.yml")));
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  auto jobs = [&] {
    std::string body;
    std::set<std::string> out;
    if (test::http_get(web_port, "/api/v1/targets", &body) != 200) return out;
    auto doc = boost::json::parse(body);  // kept alive for the loop
    for (const auto& t : doc.at("data").at("activeTargets").as_array()) {
      out.insert(std::string(t.at("scrapePool").as_string()));
    }
    return out;
  };
  REQUIRE(test::wait_for([&] { return jobs() == std::set<std::string>{"from-a"}; }, 10000));
  REQUIRE(test::wait_for([&] { return a.requests().size() >= 1; }, 10000));

  // A new file appears: a reload picks it up; the first one's job keeps going.
  test::write_file(dir.file("jobs/b.yml"), job("from-b", b));
  out = test::run_command("curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:" +
                          std::to_string(web_port) + "/-/reload");
  CHECK(out == "200");
  CHECK(test::wait_for([&] { return jobs() == std::set<std::string>{"from-a", "from-b"}; }, 10000));
  CHECK(test::wait_for([&] { return b.requests().size() >= 1; }, 10000));
  std::string config;
  REQUIRE(test::http_get(web_port, "/api/v1/status/config", &config) == 200);
  CHECK_THAT(config, Catch::Contains("# from scrape_config_files: " + dir.file("jobs/b.yml")));

  // A broken included file is refused with its name; the running jobs stay.
  test::write_file(dir.file("jobs/b.yml"), "scrape_configs:\n  - job_name: from-a\n");
  out = test::run_command("curl -s -X POST http://127.0.0.1:" + std::to_string(web_port) +
                          "/-/reload");
  CHECK_THAT(out, Catch::Contains(dir.file("jobs/b.yml") + ":2:5:") &&
                      Catch::Contains("found multiple scrape configs with job name \"from-a\""));
  CHECK(jobs() == std::set<std::string>{"from-a", "from-b"});
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}

TEST_CASE("stoker targets prints the active and dropped targets Prometheus would compute",
          "[integration]") {
  TempDir dir;
  std::filesystem::create_directories(dir.file("sd"));
  test::write_file(dir.file("sd/a.yml"),
                   "- targets: [api-1:6060]\n  labels: {env: prod, team: api}\n"
                   "- targets: [stage-1:6060]\n  labels: {env: staging}\n");
  test::write_file(dir.file("stoker.yaml"), R"(
scrape_configs:
  - job_name: mixed
    scrape_interval: 20s
    static_configs:
      - targets: [web-1:6060, web-2:6060]
        labels: {env: prod}
    file_sd_configs:
      - files: [sd/*.yml]
    relabel_configs:
      - {source_labels: [env], regex: staging, action: drop}
      - {source_labels: [__meta_filepath], regex: '.*/(.*)\.yml', target_label: sd_file}
      - {source_labels: [__address__], regex: '(.*):6060', target_label: host}
      - {action: labeldrop, regex: env}
)");
  int status = 0;
  std::string out = test::run_command(
      std::string(STOKER_BINARY) + " targets --config " + dir.file("stoker.yaml"), &status);
  INFO(out);
  REQUIRE(status == 0);
  auto doc = boost::json::parse(out).as_object();
  // Expected by Prometheus' rules: group labels under target labels, relabel in
  // order, a no-match replace is a no-op, __meta_* and other __ labels not public.
  std::map<std::string, std::string> expect_active = {
      {"web-1:6060", R"({host="web-1", instance="web-1:6060", job="mixed"})"},
      {"web-2:6060", R"({host="web-2", instance="web-2:6060", job="mixed"})"},
      {"api-1:6060",
       R"({host="api-1", instance="api-1:6060", job="mixed", sd_file="a", team="api"})"},
  };
  std::map<std::string, std::string> active;
  for (const auto& t : doc.at("activeTargets").as_array()) {
    Labels labels;
    for (const auto& [k, v] : t.at("labels").as_object())
      labels.set(std::string(k), std::string(v.as_string()));
    std::string address(t.at("discoveredLabels").at("__address__").as_string());
    active[address] = labels.to_string();
    CHECK(t.at("scrapePool") == "mixed");
    CHECK(t.at("scrapeUrls").at("process_cpu").as_string() ==
          ("http://" + address + "/debug/pprof/profile?seconds=19").c_str());
  }
  CHECK(active == expect_active);
  const auto& dropped = doc.at("droppedTargets").as_array();
  REQUIRE(dropped.size() == 1);
  const auto& d = dropped[0].at("discoveredLabels").as_object();
  CHECK(d.at("__address__") == "stage-1:6060");
  CHECK(d.at("env") == "staging");
  CHECK(d.at("__meta_filepath").as_string() == dir.file("sd/a.yml").c_str());
  CHECK(d.at("job") == "mixed");
  CHECK(d.at("__scrape_interval__") == "20s");

  std::string table = test::run_command(
      std::string(STOKER_BINARY) + " targets --output table --config " + dir.file("stoker.yaml"),
      &status);
  CHECK(status == 0);
  CHECK(table.find("dropped") != std::string::npos);
  CHECK(table.find("http://api-1:6060/debug/pprof/allocs") != std::string::npos);
}

TEST_CASE("every Kubernetes example manifest is well formed and its config checks",
          "[integration][examples]") {
  int files = 0, configs = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(STOKER_SOURCE_DIR "/examples/kubernetes")) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    INFO(entry.path().string());
    auto docs = YAML::LoadAllFromFile(entry.path().string());
    CHECK(!docs.empty());
    for (const auto& doc : docs) {
      REQUIRE(doc.IsMap());
      CHECK(!doc["apiVersion"].as<std::string>("").empty());
      CHECK(!doc["kind"].as<std::string>("").empty());
      CHECK(!doc["metadata"]["name"].as<std::string>("").empty());
      if (doc["kind"].as<std::string>() != "ConfigMap" || !doc["data"]["stoker.yaml"]) continue;
      TempDir dir;
      test::write_file(dir.file("stoker.yaml"), doc["data"]["stoker.yaml"].as<std::string>());
      int status = 0;
      std::string out = test::run_command(
          "NODE_NAME=node-a POD_NAME=p POD_NAMESPACE=ns " + std::string(STOKER_BINARY) +
              " check config --config.expand-env " + dir.file("stoker.yaml") + " 2>&1",
          &status);
      INFO(out);
      CHECK(status == 0);
      ++configs;
    }
  }
  CHECK(files == 3);
  CHECK(configs == 3);
}

TEST_CASE("a job found through DNS SRV records is scraped through a proxy with OAuth2 and headers",
          "[integration][dns][proxy][oauth2]") {
  // Two targets that want a bearer token and the tenant header.
  auto guarded = [] {
    auto inner = goroutine_target();
    return [inner](const test::RecordedRequest& r) {
      if (r.header("authorization").rfind("Bearer tok-", 0) != 0 || r.header("x-tenant") != "t1")
        return test::RawResponse{test::TestServer::response(403, "text/plain", "who are you")};
      return inner(r);
    };
  };
  test::TestServer a(guarded()), b(guarded());
  std::atomic<int> tokens{0};
  test::TestServer auth([&](const test::RecordedRequest& r) {
    if (r.header("authorization") != "Basic " + base64_encode("stoker:s3cret"))
      return test::RawResponse{
          test::TestServer::response(401, "application/json", R"({"error":"invalid_client"})")};
    return test::RawResponse{test::TestServer::response(
        200, "application/json",
        R"({"access_token":"tok-)" + std::to_string(++tokens) + R"(","expires_in":3600})")};
  });
  test::ConnectProxy proxy({}, "");
  test::FakeDns dns;
  dns.set("_pprof._tcp.stoker.test", {{33, "localhost", static_cast<uint16_t>(a.port())}});
  TempDir dir;
  test::write_file(dir.file("resolv.conf"), "nameserver 127.0.0.1\noptions timeout:1\n");
  test::write_file(dir.file("client-secret"), "s3cret\n");
  int web_port = test::free_port();
  test::write_file(dir.file("stoker.yaml"),
                   "global: {scrape_interval: 1s}\nstorage: {path: " + dir.file("s.db") +
                       "}\nweb: {listen_address: 127.0.0.1:" + std::to_string(web_port) +
                       "}\nscrape_configs:\n  - job_name: dns\n"
                       "    dns_sd_configs: [{names: [_pprof._tcp.stoker.test], "
                       "refresh_interval: 1s}]\n"
                       "    proxy_url: " +
                       proxy.url() +
                       "\n"
                       "    http_headers: {X-Tenant: {values: [t1]}}\n"
                       "    oauth2: {client_id: stoker, client_secret_file: client-secret, "
                       "token_url: '" +
                       auth.base_url() + "/token'}\n" + kGoroutineOnly);
  ::setenv("STOKER_RESOLV_CONF", dir.file("resolv.conf").c_str(), 1);
  ::setenv("STOKER_DNS_SERVERS", ("127.0.0.1:" + std::to_string(dns.port())).c_str(), 1);
  int status = 0;
  std::string listed = test::run_command(
      std::string(STOKER_BINARY) + " targets --config " + dir.file("stoker.yaml"), &status);
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  ::unsetenv("STOKER_RESOLV_CONF");
  ::unsetenv("STOKER_DNS_SERVERS");
  INFO(listed);
  REQUIRE(status == 0);
  auto listed_doc = boost::json::parse(listed);
  const auto& dl = listed_doc.at("activeTargets").as_array().at(0).at("discoveredLabels");
  CHECK(dl.at("__address__").as_string() == ("localhost:" + std::to_string(a.port())).c_str());
  CHECK(dl.at("__meta_dns_name") == "_pprof._tcp.stoker.test");
  CHECK(dl.at("__meta_dns_srv_record_target") == "localhost.");

  auto healthy = [&] {
    std::set<std::string> up;
    std::string body;
    if (test::http_get(web_port, "/api/v1/targets", &body) != 200) return up;
    auto doc = boost::json::parse(body);
    for (const auto& t : doc.at("data").at("activeTargets").as_array())
      if (t.at("health") == "up") up.insert(std::string(t.at("labels").at("instance").as_string()));
    return up;
  };
  bool first_up = test::wait_for([&] { return healthy().size() == 1; }, 20000);
  if (!first_up) FAIL("stoker log:\n" << test::read_file(dir.file("stoker.log")));
  // A second SRV record: the new target is found and scraped too.
  dns.set("_pprof._tcp.stoker.test", {{33, "localhost", static_cast<uint16_t>(a.port())},
                                      {33, "localhost", static_cast<uint16_t>(b.port())}});
  bool both_up = test::wait_for([&] { return healthy().size() == 2; }, 20000);
  if (!both_up) FAIL("stoker log:\n" << test::read_file(dir.file("stoker.log")));
  CHECK(tokens == 1);  // one token for the job, cached
  CHECK(!proxy.requests().empty());
  for (const auto& r : proxy.requests()) CHECK(r.target.rfind("http://localhost:", 0) == 0);
  std::string config;
  REQUIRE(test::http_get(web_port, "/api/v1/status/config", &config) == 200);
  CHECK(config.find("dns_sd_configs") != std::string::npos);
  CHECK(config.find("s3cret") == std::string::npos);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}
