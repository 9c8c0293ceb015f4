// Operating the real stoker binary: forwarding to the project's push receiver,
// kill -9 and restart, delta correctness against the demo app, reload, and the
// real Prometheus server scraping /metrics.
#include <signal.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "forward/remote_write.h"
#include "pprof/pprof_decode.h"
#include "storage/outbox.h"
#include "tests/support/demo.h"
#include "tests/support/fake_kube.h"
#include "tests/support/must.h"
#include "tests/support/profiles.h"
#include "tests/support/push_receiver.h"
#include "tests/support/stoker_api.h"

using namespace stoker;
using namespace std::chrono_literals;
using test::Child;
using test::Demo;
using test::metric;
using test::post;
using test::ready;
using test::TempDir;

namespace {

// A stoker config scraping the demo app (memory, goroutine and mutex at 1 s;
// process_cpu and block off to keep the tests quick) with optional extra YAML.
std::string demo_config(int demo_port, int web_port, const std::string& db,
                        const std::string& extra = "", const std::string& interval = "1s") {
  return "global:\n  scrape_interval: " + interval + "\nstorage:\n  path: " + db +
         "\nweb:\n  listen_address: 127.0.0.1:" + std::to_string(web_port) +
         "\nscrape_configs:\n  - job_name: demo\n    static_configs:\n"
         "      - targets: ['127.0.0.1:" +
         std::to_string(demo_port) +
         "']\n    profiling_config:\n      process_cpu: {enabled: false}\n"
         "      block: {enabled: false}\n" +
         extra;
}

std::string remote_write_yaml(const std::string& url, const std::string& more = "") {
  return "remote_write:\n  - url: " + url + "\n    name: recv\n    min_backoff: 100ms\n" +
         "    max_backoff: 500ms\n    max_retries: 0\n" + more;
}

// Identity of a profile across the store and the receiver.
std::string key_of(const Labels& upstream, int64_t time_nanos) {
  return upstream.to_string() + "@" + std::to_string(time_nanos);
}

// Every profile in the database: key → id, with upstream labels as stoker sends them.
std::map<std::string, int64_t> stored_profiles(const std::string& db, int64_t* delivered_id) {
  auto ob = test::must(Outbox::open(db));
  REQUIRE(ob);
  if (delivered_id) *delivered_id = test::must(ob->delivered_id("recv"));
  std::vector<OutboxItem> items;
  std::vector<std::string> broken;
  REQUIRE(ob->next(0, 1'000'000, SIZE_MAX, nullptr, &items, &broken).ok());
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i < items.size(); ++i) {
    REQUIRE(broken[i].empty());
    auto d = pprof::decode(*items[i].pprof_gzip);
    REQUIRE(d.ok());
    out[key_of(RemoteWriter::upstream_labels(items[i].labels, {}), (*d)->time_nanos())] =
        items[i].id;
  }
  return out;
}

std::map<std::string, int> received_keys(const test::PushReceiver& r) {
  std::map<std::string, int> out;
  for (const auto& p : r.received()) ++out[key_of(p.labels, p.profile->time_nanos())];
  return out;
}

}  // namespace

TEST_CASE("stoker forwards every stored profile once, with its labels, and resumes after kill -9",
          "[integration][remote_write]") {
  Demo demo;
  TempDir dir;
  test::PushReceiver receiver;
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  test::write_file(
      dir.file("stoker.yaml"),
      demo_config(demo.port, web_port, db,
                  remote_write_yaml(receiver.url(), "    headers: {X-Scope-OrgID: t1}\n")));
  auto start = [&] {
    return std::make_unique<Child>(
        std::vector<std::string>{STOKER_BINARY, "--config", dir.file("stoker.yaml")},
        dir.file("stoker.log"));
  };
  auto stoker = start();
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for([&] { return ready(web_port); }, 10000));

  // Normal operation: profiles flow while scraping goes on.
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 8; }, 30000));
  CHECK(receiver.errors().empty());
  CHECK(receiver.requests().at(0).header("x-scope-orgid") == "t1");
  std::string body;
  REQUIRE(test::http_get(web_port, "/api/v1/remote_write", &body) == 200);
  auto ep = boost::json::parse(body).at("data").at("endpoints").as_array().at(0).as_object();
  CHECK(ep.at("name") == "recv");

  // The upstream starts failing: a backlog builds up in the outbox...
  receiver.set_policy([](const std::vector<Labels>&) { return 503; });
  size_t before = receiver.received().size();
  std::this_thread::sleep_for(3s);
  CHECK(metric(web_port, "stoker_outbox_pending_profiles{endpoint=\"recv\"}") > 0);
  CHECK(metric(web_port, "stoker_push_retries_total{endpoint=\"recv\"}") > 0);
  // ...and stoker is killed without warning.
  CHECK(stoker->stop(SIGKILL, 5000) == 128 + SIGKILL);
  int status = 0;
  std::string integrity = test::run_command("sqlite3 " + db + " 'PRAGMA integrity_check'", &status);
  CHECK(integrity == "ok\n");
  int64_t delivered_id = 0;
  auto committed = stored_profiles(db, &delivered_id);
  auto got = received_keys(receiver);
  REQUIRE(got.size() == before);
  // Exactly the profiles up to the delivery cursor arrived, each once.
  for (const auto& [key, n] : got) {
    INFO(key);
    CHECK(n == 1);
    REQUIRE(committed.count(key));
    CHECK(committed[key] <= delivered_id);
  }
  size_t pending = 0;
  for (const auto& [key, id] : committed) pending += id > delivered_id;
  CHECK(pending + got.size() == committed.size());
  CHECK(pending > 0);
  // Labels as Pyroscope expects them.
  for (const auto& p : receiver.received()) {
    CHECK(p.labels.get("service_name") == "demo");
    CHECK(p.labels.get("job") == "demo");
    bool cumulative = p.labels.get("__name__") == "memory" || p.labels.get("__name__") == "mutex";
    CHECK(p.labels.get("__delta__") == (cumulative ? "false" : ""));
    for (const auto& l : p.labels) {
      if (l.name.rfind("__", 0) == 0) CHECK((l.name == "__name__" || l.name == "__delta__"));
    }
  }

  // Restart with the upstream healthy: the backlog from before the kill arrives.
  receiver.set_policy(nullptr);
  stoker = start();
  REQUIRE(test::wait_for([&] { return ready(web_port); }, 10000));
  bool all = test::wait_for(
      [&] {
        auto now = received_keys(receiver);
        for (const auto& [key, id] : committed) {
          if (!now.count(key)) return false;
        }
        return true;
      },
      30000);
  CHECK(all);
  CHECK(stoker->stop(SIGTERM, 10000) == 0);
  for (const auto& [key, n] : received_keys(receiver)) {
    INFO(key);
    CHECK(n == 1);  // nothing delivered twice across the kill
  }
  CHECK(receiver.errors().empty());
}

TEST_CASE("one stoker forwards into another's receive endpoint and loses nothing across outages",
          "[integration][remote_write][receive]") {
  Demo demo;
  TempDir dir;
  int web_a = test::free_port(), web_b = test::free_port();
  std::string db_a = dir.file("a.db"), db_b = dir.file("b.db");
  test::write_file(dir.file("a.yaml"),
                   demo_config(demo.port, web_a, db_a,
                               remote_write_yaml("http://127.0.0.1:" + std::to_string(web_b))));
  // The central stoker B scrapes nothing; it receives (on by default on
  // loopback) and forwards what it received through its own outbox to C.
  test::PushReceiver upstream;
  test::write_file(dir.file("b.yaml"),
                   "storage: {path: " + db_b +
                       "}\nweb: {listen_address: '127.0.0.1:" + std::to_string(web_b) +
                       "'}\nscrape_configs: []\n" + remote_write_yaml(upstream.url()));
  auto start = [&](const std::string& name) {
    return std::make_unique<Child>(
        std::vector<std::string>{STOKER_BINARY, "--config", dir.file(name + ".yaml")},
        dir.file(name + ".log"));
  };
  auto logs = [&] {
    std::string a2 = std::filesystem::exists(dir.file("a2.log"))
                         ? "\nA again:\n" + test::read_file(dir.file("a2.log"))
                         : "";
    return "A:\n" + test::read_file(dir.file("a.log")) + a2 + "\nB:\n" +
           test::read_file(dir.file("b.log"));
  };
  auto a = start("a");  // B is not there yet: A's outbox fills
  REQUIRE(test::wait_for([&] { return ready(web_a); }, 10000));
  auto stored_by_a = [&] { return stored_profiles(db_a, nullptr).size(); };
  REQUIRE(test::wait_for([&] { return stored_by_a() >= 6; }, 30000));
  auto delivered_all_from = [&](const std::string& db) {
    int64_t delivered = 0;
    auto committed = stored_profiles(db, &delivered);
    int64_t last = 0;
    for (const auto& [k, id] : committed) last = std::max(last, id);
    return last > 0 && delivered == last;
  };
  auto delivered_all = [&] { return delivered_all_from(db_a); };
  auto b = start("b");
  INFO(logs());
  REQUIRE(test::wait_for([&] { return ready(web_b); }, 10000));
  REQUIRE(test::wait_for(delivered_all, 30000));
  // B goes away while A keeps scraping, then comes back with its database.
  CHECK(b->stop(SIGTERM, 10000) == 0);
  const double pushed = metric(web_a, "stoker_pushed_profiles_total{endpoint=\"recv\"}");
  const size_t before = stored_by_a();
  REQUIRE(test::wait_for([&] { return stored_by_a() >= before + 6; }, 30000));
  CHECK(metric(web_a, "stoker_pushed_profiles_total{endpoint=\"recv\"}") == pushed);
  CHECK(metric(web_a, "stoker_push_failures_total{endpoint=\"recv\"}") > 0);
  b = start("b");
  REQUIRE(test::wait_for([&] { return ready(web_b); }, 10000));
  REQUIRE(test::wait_for(delivered_all, 30000));
  CHECK(a->stop(SIGTERM, 10000) == 0);
  // A may have stored a profile after it caught up and before it stopped: it
  // stays in A's outbox (not sent at shutdown) until A runs again. A comes
  // back without scrape jobs and delivers that rest.
  test::write_file(dir.file("a2.yaml"),
                   "storage: {path: " + db_a + "}\nweb: {listen_address: '127.0.0.1:" +
                       std::to_string(web_a) + "'}\nscrape_configs: []\n" +
                       remote_write_yaml("http://127.0.0.1:" + std::to_string(web_b)));
  a = start("a2");
  REQUIRE(test::wait_for([&] { return ready(web_a); }, 10000));
  REQUIRE(test::wait_for(delivered_all, 30000));
  CHECK(a->stop(SIGTERM, 10000) == 0);
  REQUIRE(test::wait_for([&] { return delivered_all_from(db_b); }, 30000));
  CHECK(b->stop(SIGTERM, 10000) == 0);

  // Everything A stored is in B, with the labels A sent, and nothing else.
  auto sent = stored_profiles(db_a, nullptr);
  std::map<std::string, int> got;
  {
    auto r = test::must(Reader::open(db_b));
    REQUIRE(r);
    for (const auto& s : r->series(Selector{}, {})) {
      auto sel = Selector::parse(s.labels.to_string());
      REQUIRE(sel);
      for (int64_t id : r->profile_ids(*sel, {})) {
        perftools::profiles::Profile p;
        REQUIRE(r->build({id}, &p).ok());
        ++got[key_of(s.labels, p.time_nanos())];
      }
    }
  }
  INFO(logs());
  CHECK(sent.size() >= 12);
  size_t copies = 0;
  for (const auto& [key, id] : sent) {
    INFO(key);
    CHECK(got.count(key) == 1);
  }
  for (const auto& [key, n] : got) {
    INFO(key);
    CHECK(sent.count(key) == 1);
    copies += static_cast<size_t>(n);
  }
  // Delivery is at least once: only a push in flight when B stopped may have
  // been stored without A hearing so (one batch at most).
  CHECK(copies - got.size() <= RemoteWriter::kMaxBatchProfiles);
  // B forwarded every profile it received to C, with the same labels.
  auto forwarded = received_keys(upstream);
  for (const auto& [key, n] : got) {
    INFO(key);
    CHECK(forwarded.count(key) == 1);
  }
  CHECK(forwarded.size() == got.size());
  CHECK(upstream.errors().empty());
  int status = 0;
  std::string m = test::run_command("sqlite3 " + db_b + " 'PRAGMA integrity_check'", &status);
  CHECK(m == "ok\n");
}

namespace {

// A recording proxy between stoker and the demo app: it keeps every raw allocs
// profile stoker received, so a test can compute the expected deltas itself.
struct RecordingProxy {
  std::mutex mu;
  std::vector<std::string> raw;
  test::TestServer server;
  explicit RecordingProxy(int demo_port)
      : server([this, demo_port](const test::RecordedRequest& r) {
          std::string body;
          int code = test::http_get(demo_port, r.target, &body);
          if (r.target.rfind("/debug/pprof/allocs", 0) == 0 && code == 200) {
            std::lock_guard lock(mu);
            raw.push_back(body);
          }
          return test::RawResponse{
              test::TestServer::response(code, "application/octet-stream", body)};
        }) {}
};

// The memory profiles stored in `db`, in commit order, add up to the last raw
// cumulative profile minus the first (which only primed the delta state): no
// window lost, none counted twice, nothing negative. inuse_* pass through.
void check_deltas_add_up(const std::string& db, RecordingProxy& proxy) {
  auto ob = test::must(Outbox::open(db));
  std::vector<OutboxItem> items;
  std::vector<std::string> broken;
  REQUIRE(ob->next(0, 1000, SIZE_MAX, nullptr, &items, &broken).ok());
  size_t m = items.size();
  REQUIRE(m >= 5);
  std::lock_guard lock(proxy.mu);
  const auto& raw = proxy.raw;
  // Every scrape was stored but the first, which primed the state (and one
  // that SIGTERM may have cut short after the proxy saw it): a scrape whose
  // delta went missing in between would make the sums below disagree.
  REQUIRE(raw.size() >= m + 1);

  auto decode = [](const std::string& gz) {
    auto d = pprof::decode(gz);
    REQUIRE(d.ok());
    return std::shared_ptr<perftools::profiles::Profile>(std::move((*d)));
  };
  auto first = decode(raw[0]);
  auto last = decode(raw[m]);
  auto column = [](const perftools::profiles::Profile& p, const std::string& name) {
    for (int i = 0; i < p.sample_type_size(); ++i) {
      if (p.string_table(static_cast<int>(p.sample_type(i).type())) == name) return i;
    }
    FAIL("no sample type " << name);
    return -1;
  };
  for (const std::string type : {"alloc_space", "alloc_objects"}) {
    INFO(type);
    int rc = column(*first, type);
    std::map<std::string, int64_t> expected, summed;
    for (const auto& [stack, v] : test::canonical(*last)) expected[stack] += v[rc];
    for (const auto& [stack, v] : test::canonical(*first)) expected[stack] -= v[rc];
    int64_t total = 0;
    for (const auto& it : items) {
      auto d = decode(*it.pprof_gzip);
      int dc = column(*d, type);
      for (const auto& [stack, v] : test::canonical(*d)) {
        CHECK(v[dc] >= 0);  // never negative
        summed[stack] += v[dc];
        total += v[dc];
      }
    }
    for (auto it = expected.begin(); it != expected.end();) {
      it = it->second == 0 ? expected.erase(it) : std::next(it);
    }
    for (auto it = summed.begin(); it != summed.end();) {
      it = it->second == 0 ? summed.erase(it) : std::next(it);
    }
    CHECK(total > 0);  // the demo app allocates all the time
    CHECK(summed == expected);
  }
  auto stored_last = decode(*items.back().pprof_gzip);
  int ri = column(*last, "inuse_space"), si = column(*stored_last, "inuse_space");
  CHECK(test::totals(*stored_last)[static_cast<size_t>(si)] ==
        test::totals(*last)[static_cast<size_t>(ri)]);
}

// Waits until `db` holds `n` memory profiles; fails with the log if it does not.
void wait_for_memory_profiles(const std::string& db, int64_t n, const std::string& log) {
  bool stored = test::wait_for(
      [&] {
        auto r = Reader::open(db);  // not there until stoker has started
        return r && test::profiles_of(**r, "memory") >= n;
      },
      60000);  // generous: the ASan build on a loaded 2-core machine is slow
  if (!stored) FAIL("stoker log:\n" << test::read_file(log));
}

}  // namespace

TEST_CASE("the stored alloc deltas add up to the difference of the raw cumulative profiles",
          "[integration][delta]") {
  Demo demo;
  TempDir dir;
  RecordingProxy proxy(demo.port);
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  test::write_file(
      dir.file("stoker.yaml"),
      demo_config(proxy.server.port(), web_port, db,
                  "      goroutine: {enabled: false}\n      mutex: {enabled: false}\n"));
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  wait_for_memory_profiles(db, 5, dir.file("stoker.log"));
  REQUIRE(stoker.stop(SIGTERM, 10000) == 0);
  CHECK(test::read_file(dir.file("stoker.log")).find("re-primed") == std::string::npos);
  check_deltas_add_up(db, proxy);
}

TEST_CASE("a cumulative series has no gap and no double window across 5 reloads in a row",
          "[integration][delta][reload]") {
  Demo demo;
  TempDir dir;
  RecordingProxy proxy(demo.port);
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  // Reloads alternate between the same file and one that changes the job's
  // settings (its body size limit): both keep the loop, with its delta state.
  auto config = [&](int i) {
    return demo_config(proxy.server.port(), web_port, db,
                       "      goroutine: {enabled: false}\n      mutex: {enabled: false}\n"
                       "    body_size_limit: " +
                           std::string(i % 2 ? "20MiB" : "10MiB") + "\n");
  };
  test::write_file(dir.file("stoker.yaml"), config(0));
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  wait_for_memory_profiles(db, 1, dir.file("stoker.log"));
  for (int i = 1; i <= 5; ++i) {
    test::write_file(dir.file("stoker.yaml"), config(i / 2));  // 0,1,1,2→0,… : same, changed, …
    int status = 0;
    test::post(web_port, "/-/reload", &status);
    REQUIRE(status == 200);
    std::this_thread::sleep_for(700ms);
  }
  wait_for_memory_profiles(db, 8, dir.file("stoker.log"));
  REQUIRE(stoker.stop(SIGTERM, 10000) == 0);
  std::string log = test::read_file(dir.file("stoker.log"));
  CHECK(log.find("re-primed") == std::string::npos);
  CHECK(log.find("reconfigured=1") != std::string::npos);  // the changed settings were taken
  check_deltas_add_up(db, proxy);
}

TEST_CASE("reload applies a valid config, keeps delta state, and rejects an invalid one",
          "[integration][reload]") {
  Demo demo;
  TempDir dir;
  test::PushReceiver receiver;
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  std::string rw =
      remote_write_yaml(receiver.url(), "    basic_auth: {username: u, password: hunter2}\n");
  test::write_file(dir.file("stoker.yaml"), demo_config(demo.port, web_port, db, rw));
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml"), "--log.level", "debug"},
               dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for([&] { return ready(web_port); }, 10000));
  const std::string primed = "stoker_delta_primed_total{job=\"demo\",profile=\"memory\"}";
  const std::string stored = "stoker_profiles_stored_total{job=\"demo\",profile=\"memory\"}";
  REQUIRE(test::wait_for([&] { return metric(web_port, stored) >= 2; }, 15000));
  CHECK(metric(web_port, primed) == 1);
  CHECK(metric(web_port, "stoker_config_last_reload_successful") == 1);
  // The memory gauges see the delta state and the writer's symbol index.
  double stacks = metric(web_port, "stoker_delta_tracked_stacks");
  CHECK(stacks > 0);
  // (8 bytes of key and at least a byte for each of memory's two columns.)
  CHECK(metric(web_port, "stoker_delta_state_bytes") >= 10 * stacks);
  CHECK(metric(web_port, "stoker_storage_symbol_cache_bytes") > 0);
  CHECK(metric(web_port, "stoker_forward_cache_bytes") >= 0);

  // The config as the API shows it has the password replaced.
  std::string body;
  REQUIRE(test::http_get(web_port, "/api/v1/status/config", &body) == 200);
  std::string yaml(boost::json::parse(body).at("data").at("yaml").as_string());
  CHECK(yaml.find("hunter2") == std::string::npos);
  CHECK(yaml.find("password: <secret>") != std::string::npos);

  // An invalid file is rejected; the running config goes on.
  test::write_file(dir.file("stoker.yaml"), "scrape_configs:\n  - job_name: demo\n    bogus: 1\n");
  int status = 0;
  std::string msg = post(web_port, "/-/reload", &status);
  CHECK(status == 500);
  CHECK(msg.find("stoker.yaml:3:5") != std::string::npos);
  CHECK(msg.find("unknown key \"bogus\"") != std::string::npos);
  CHECK(metric(web_port, "stoker_config_last_reload_successful") == 0);
  REQUIRE(test::http_get(web_port, "/api/v1/remote_write", &body) == 200);
  CHECK(body.find("bogus") != std::string::npos);
  double stored_before = metric(web_port, stored);
  REQUIRE(test::wait_for([&] { return metric(web_port, stored) > stored_before; }, 10000));

  // A valid change via SIGHUP (a profile label added to the job, a second job):
  // the job's loops take the new settings and continue their delta state — the
  // memory loop is not primed a second time.
  test::write_file(
      dir.file("stoker.yaml"),
      demo_config(demo.port, web_port, db,
                  "    profile_relabel_configs: [{target_label: env, replacement: prod}]\n"
                  "  - job_name: second\n    static_configs: [{targets: ['127.0.0.1:" +
                      std::to_string(demo.port) +
                      "']}]\n    profiling_config:\n      process_cpu: {enabled: false}\n"
                      "      block: {enabled: false}\n      mutex: {enabled: false}\n"
                      "      memory: {enabled: false}\n" +
                      rw));
  ::kill(stoker.pid(), SIGHUP);
  REQUIRE(test::wait_for([&] { return metric(web_port, "stoker_scrape_loops") == 4; },
                         10000));  // 3 + 1
  CHECK(metric(web_port, "stoker_config_last_reload_successful") == 1);
  stored_before = metric(web_port, stored);
  REQUIRE(test::wait_for([&] { return metric(web_port, stored) >= stored_before + 2; }, 15000));
  CHECK(metric(web_port, primed) == 1);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);

  std::string log = test::read_file(dir.file("stoker.log"));
  CHECK(log.find("hunter2") == std::string::npos);
  CHECK(log.find("config reloaded") != std::string::npos);
  // Profiles after the reload carry the new label.
  auto r = test::must(Reader::open(db));
  REQUIRE(r);
  auto sel = Selector::parse("memory{env=\"prod\"}");
  CHECK(!r->series(*sel, {}).empty());
  CHECK(receiver.requests().size() > 0);
  CHECK(receiver.requests().at(0).header("authorization") == "Basic dTpodW50ZXIy");
}

TEST_CASE("the real Prometheus server scrapes stoker's /metrics", "[integration][metrics]") {
  std::string prometheus = test::run_command("command -v prometheus");
  while (!prometheus.empty() && prometheus.back() == '\n') prometheus.pop_back();
  INFO("the Debian package prometheus is needed; scripts/setup.sh installs it");
  REQUIRE(!prometheus.empty());
  Demo demo;
  TempDir dir;
  int web_port = test::free_port(), prom_port = test::free_port();
  test::write_file(dir.file("stoker.yaml"),
                   demo_config(demo.port, web_port, dir.file("stoker.db")));
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  REQUIRE(test::wait_for([&] { return ready(web_port); }, 10000));
  test::write_file(dir.file("prometheus.yml"),
                   "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: stoker\n"
                   "    static_configs: [{targets: ['127.0.0.1:" +
                       std::to_string(web_port) + "']}]\n");
  Child prom({prometheus, "--config.file=" + dir.file("prometheus.yml"),
              "--storage.tsdb.path=" + dir.file("prom"),
              "--web.listen-address=127.0.0.1:" + std::to_string(prom_port)},
             dir.file("prometheus.log"));
  INFO(test::read_file(dir.file("prometheus.log")));
  std::string body;
  bool scraped = test::wait_for(
      [&] {
        if (test::http_get(prom_port, "/api/v1/targets", &body) != 200) return false;
        auto doc = boost::json::parse(body);
        auto& active = doc.at("data").at("activeTargets").as_array();
        return !active.empty() && active[0].at("health") == "up";
      },
      30000);
  INFO(body);
  REQUIRE(scraped);
  auto target = boost::json::parse(body).at("data").at("activeTargets").as_array()[0];
  CHECK(target.at("lastError") == "");
  // Prometheus parsed our samples: query a few back.
  bool has = test::wait_for(
      [&] {
        std::string q;
        if (test::http_get(prom_port,
                           "/api/v1/query?query=stoker_scrapes_total%7Bprofile%3D%22memory%22%7D",
                           &q) != 200)
          return false;
        auto res = boost::json::parse(q).at("data").at("result").as_array();
        return !res.empty();
      },
      15000);
  CHECK(has);
  std::string q;
  REQUIRE(test::http_get(prom_port, "/api/v1/query?query=process_resident_memory_bytes", &q) ==
          200);
  auto res = boost::json::parse(q).at("data").at("result").as_array();
  REQUIRE(res.size() == 1);
  double rss = std::stod(std::string(res[0].at("value").as_array()[1].as_string()));
  CHECK(rss > 1e6);
  REQUIRE(test::http_get(prom_port, "/api/v1/query?query=stoker_scrape_duration_seconds_count",
                         &q) == 200);
  CHECK(!boost::json::parse(q).at("data").at("result").as_array().empty());
  CHECK(prom.stop(SIGTERM, 10000) == 0);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}

TEST_CASE("a pod discovered through the Kubernetes API is scraped until it is deleted",
          "[integration][kube]") {
  Demo demo;
  TempDir dir;
  test::make_test_certs(dir.path());
  test::FakeKube api({"e2e-token", dir.file("server.pem"), dir.file("server.key")});
  test::write_file(dir.file("token"), "e2e-token");
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  test::write_file(
      dir.file("stoker.yaml"),
      "global:\n  scrape_interval: 1s\nstorage:\n  path: " + db +
          "\nweb:\n  listen_address: 127.0.0.1:" + std::to_string(web_port) +
          "\nscrape_configs:\n  - job_name: k8s\n    kubernetes_sd_configs:\n"
          "      - role: pod\n        api_server: " +
          api.url() +
          "\n        bearer_token_file: token\n        tls_config: {ca_file: ca.pem}\n" +
          "    relabel_configs:\n"
          "      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}\n"
          "      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}\n"
          "    profiling_config:\n      process_cpu: {enabled: false}\n"
          "      memory: {enabled: false}\n      block: {enabled: false}\n"
          "      mutex: {enabled: false}\n");
  auto demo_pod = [&] {
    return boost::json::object{
        {"metadata", boost::json::object{{"name", "demo-7f9c"}, {"namespace", "shop"}}},
        {"spec",
         boost::json::object{
             {"nodeName", "n1"},
             {"containers",
              boost::json::array{boost::json::object{
                  {"name", "app"},
                  {"ports", boost::json::array{boost::json::object{{"containerPort", demo.port},
                                                                   {"protocol", "TCP"}}}}}}}}},
        {"status", boost::json::object{{"podIP", "127.0.0.1"}, {"phase", "Running"}}}};
  };
  // `stoker targets` lists once.
  api.create("Pod", demo_pod());
  int status = 0;
  std::string out = test::run_command(std::string(STOKER_BINARY) + " targets --config " +
                                          dir.file("stoker.yaml") + " --output json 2>&1",
                                      &status);
  INFO(out);
  CHECK(status == 0);
  CHECK(out.find("\"pod\":\"demo-7f9c\"") != std::string::npos);

  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for([&] { return ready(web_port); }, 10000));
  const std::string stored = "stoker_profiles_stored_total{job=\"k8s\",profile=\"goroutine\"}";
  REQUIRE(test::wait_for([&] { return metric(web_port, stored) >= 2; }, 20000));
  auto r = test::must(Reader::open(db));
  REQUIRE(r);
  auto series = r->series(*Selector::parse("goroutine{endpoint=\"\"}"), {});
  REQUIRE(series.size() == 1);
  CHECK(series[0].labels.get("namespace") == "shop");
  CHECK(series[0].labels.get("pod") == "demo-7f9c");
  CHECK(series[0].labels.get("service_name") == "shop/app");  // Alloy's inference
  CHECK(series[0].labels.get("instance") == "127.0.0.1:" + std::to_string(demo.port));

  // The pod goes away: its loop stops.
  api.remove("Pod", "shop", "demo-7f9c");
  REQUIRE(test::wait_for([&] { return metric(web_port, "stoker_scrape_loops") == 0; }, 15000));
  std::string body;
  REQUIRE(test::http_get(web_port, "/api/v1/targets", &body) == 200);
  CHECK(boost::json::parse(body).at("data").at("activeTargets").as_array().empty());
  CHECK(api.unauthorized() == 0);
  CHECK(metric(web_port, "stoker_sd_kubernetes_lists_total") >= 1);
  CHECK(metric(web_port, "stoker_sd_kubernetes_events_total") >= 1);  // the DELETED
  CHECK(metric(web_port, "stoker_sd_refresh_failures_total{mechanism=\"kubernetes\"}") == 0);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}
