// The discovery manager with real discoverers on an io_context thread: full
// sets per job, coalescing, providers kept across reloads that do not change
// them, shared between jobs, and replaced without an empty window when they do.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <mutex>

#include "config/config.h"
#include "discovery/manager.h"
#include "model/metrics.h"
#include "tests/support/io_thread.h"
#include "tests/support/process.h"
#include "tests/support/test_server.h"

using namespace stoker;
using namespace std::chrono_literals;

namespace {

// Records every set the manager sends, per job, as sorted addresses.
struct Sends {
  std::mutex mu;
  std::map<std::string, std::vector<std::vector<std::string>>> by_job;
  DiscoveryManager::Sink sink() {
    return [this](const std::string& job, std::vector<TargetGroup> groups) {
      std::vector<std::string> addrs;
      for (const auto& g : groups) {
        for (const auto& t : g.targets) addrs.emplace_back(t.get("__address__"));
      }
      std::sort(addrs.begin(), addrs.end());
      std::lock_guard lock(mu);
      by_job[job].push_back(std::move(addrs));
    };
  }
  std::vector<std::string> last(const std::string& job) {
    std::lock_guard lock(mu);
    auto& v = by_job[job];
    return v.empty() ? std::vector<std::string>{"<none>"} : v.back();
  }
  size_t count(const std::string& job) {
    std::lock_guard lock(mu);
    return by_job[job].size();
  }
  std::vector<std::vector<std::string>> all(const std::string& job) {
    std::lock_guard lock(mu);
    return by_job[job];
  }
};

Config config(const std::string& yaml, const std::string& dir) {
  auto r = load_config_string(yaml, "t.yaml", dir);
  std::string errors;
  for (const auto& e : r.errors) errors += e + "\n";
  INFO(errors);
  REQUIRE(r.config);
  return *r.config;
}

// A manager on an io_context thread of its own; destroyed there.
struct Rig {
  test::IoThread io;
  Sends sends;
  metrics::Registry registry;
  std::unique_ptr<DiscoveryManager> dm;
  explicit Rig(Duration coalesce = 200ms, Duration retire = 60s) {
    DiscoveryManager::Options o;
    o.coalesce = coalesce;
    o.retire_timeout = retire;
    dm = std::make_unique<DiscoveryManager>(io.io(), sends.sink(), &registry, o);
  }
  void apply(const Config& cfg) {
    io.sync([&] { dm->apply_config(cfg); });
  }
  size_t providers() {
    return io.sync([&] { return dm->providers(); });
  }
  ~Rig() {
    io.sync([&] { dm.reset(); });
  }
};

}  // namespace

TEST_CASE("the discovery manager coalesces file changes and sends full sets", "[discovery]") {
  test::TempDir dir;
  test::write_file(dir.file("a.json"), R"([{"targets": ["a:1"]}])");
  Config cfg = config(
      "scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['s:1']}]\n"
      "    file_sd_configs: [{files: ['" +
          dir.file("*.json") + "'], refresh_interval: 1h}]\n",
      dir.path());
  Rig rig(500ms);
  rig.apply(cfg);
  // The first set waits for both discoverers' first results: no partial set.
  CHECK(test::wait_for(
      [&] {
        return rig.sends.last("j") == std::vector<std::string>{"a:1", "s:1"};
      },
      5000));
  CHECK(rig.sends.count("j") == 1);
  // A burst of edits (picked up by inotify, not the 1h refresh) ends in one final state.
  for (int i = 2; i <= 6; ++i) {
    test::write_file(dir.file("a.json"), R"([{"targets": ["a:)" + std::to_string(i) + R"("]}])");
  }
  test::write_file(dir.file("b.json"), R"([{"targets": ["b:1"]}])");
  CHECK(test::wait_for(
      [&] {
        return rig.sends.last("j") == std::vector<std::string>{"a:6", "b:1", "s:1"};
      },
      5000));
  std::filesystem::remove(dir.file("a.json"));
  CHECK(test::wait_for(
      [&] {
        return rig.sends.last("j") == std::vector<std::string>{"b:1", "s:1"};
      },
      5000));
  CHECK(rig.sends.count("j") <= 5);  // coalesced: far fewer sends than the 7 file events
  CHECK_THAT(rig.registry.render(),
             Catch::Contains("stoker_sd_discovered_targets{config=\"j\"} 2"));
}

TEST_CASE("a reload that changes no SD config keeps every discoverer and sends nothing",
          "[discovery][reload]") {
  test::TempDir dir;
  test::write_file(dir.file("a.json"), R"([{"targets": ["a:1", "a:2"]}])");
  int fetches = 0;
  test::TestServer http([&](const test::RecordedRequest&) {
    ++fetches;
    return test::RawResponse{
        test::TestServer::response(200, "application/json", R"([{"targets": ["h:1"]}])")};
  });
  std::string yaml = "scrape_configs:\n  - job_name: files\n    file_sd_configs: [{files: ['" +
                     dir.file("*.json") + "']}]\n  - job_name: web\n    http_sd_configs: [{url: '" +
                     http.base_url() +
                     "/sd', refresh_interval: 1h}]\n    relabel_configs: [{target_label: x, "
                     "replacement: '1'}]\n";
  Rig rig;
  rig.apply(config(yaml, dir.path()));
  REQUIRE(test::wait_for(
      [&] { return rig.sends.count("files") == 1 && rig.sends.count("web") == 1; }, 5000));
  CHECK(rig.providers() == 2);
  // The same file, then the same SD sections with other job settings (the
  // relabel rules): no discoverer restarts, nothing is sent, the HTTP SD
  // endpoint is not asked again.
  rig.apply(config(yaml, dir.path()));
  std::string changed = yaml;
  changed.replace(changed.find("replacement: '1'"), 16, "replacement: '2'");
  rig.apply(config(changed, dir.path()));
  std::this_thread::sleep_for(500ms);
  CHECK(rig.sends.count("files") == 1);
  CHECK(rig.sends.count("web") == 1);
  CHECK(fetches == 1);
  CHECK(rig.providers() == 2);
  CHECK_THAT(rig.registry.render(), Catch::Contains("stoker_sd_received_updates_total 2"));
}

TEST_CASE("a changed SD config takes over from the old one when it first reports, never empty",
          "[discovery][reload]") {
  test::TempDir dir;
  test::write_file(dir.file("a.json"), R"([{"targets": ["old:1"]}])");
  // The new discoverer answers only after a second.
  test::TestServer slow([](const test::RecordedRequest&) {
    std::this_thread::sleep_for(1s);
    return test::RawResponse{
        test::TestServer::response(200, "application/json", R"([{"targets": ["new:1"]}])")};
  });
  Rig rig;
  rig.apply(
      config("scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['s:1']}]\n"
             "    file_sd_configs: [{files: ['" +
                 dir.file("a.json") + "']}]\n",
             dir.path()));
  REQUIRE(test::wait_for(
      [&] {
        return rig.sends.last("j") == std::vector<std::string>{"old:1", "s:1"};
      },
      5000));
  rig.apply(
      config("scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['s:1']}]\n"
             "    http_sd_configs: [{url: '" +
                 slow.base_url() + "/sd'}]\n",
             dir.path()));
  REQUIRE(test::wait_for(
      [&] {
        return rig.sends.last("j") == std::vector<std::string>{"new:1", "s:1"};
      },
      5000));
  // In between, the job kept the old targets: every set it was sent has a
  // file or HTTP target, and the static one throughout.
  for (const auto& set : rig.sends.all("j")) {
    INFO(set.size());
    CHECK(set.size() == 2);
  }
  CHECK(rig.providers() == 2);  // static (kept) and http; the file discoverer stopped
}

TEST_CASE("a new discoverer that never reports hands over after the retire timeout",
          "[discovery][reload]") {
  test::TempDir dir;
  test::write_file(dir.file("a.json"), R"([{"targets": ["old:1"]}])");
  test::TestServer down([](const test::RecordedRequest&) {
    return test::RawResponse{test::TestServer::response(503, "text/plain", "down")};
  });
  Rig rig(100ms, 1s);
  rig.apply(config("scrape_configs:\n  - job_name: j\n    file_sd_configs: [{files: ['" +
                       dir.file("a.json") + "']}]\n",
                   dir.path()));
  REQUIRE(test::wait_for([&] { return rig.sends.last("j") == std::vector<std::string>{"old:1"}; },
                         5000));
  rig.apply(config("scrape_configs:\n  - job_name: j\n    http_sd_configs: [{url: '" +
                       down.base_url() + "/sd', refresh_interval: 1h}]\n",
                   dir.path()));
  std::this_thread::sleep_for(300ms);
  CHECK(rig.sends.last("j") == std::vector<std::string>{"old:1"});
  REQUIRE(test::wait_for([&] { return rig.sends.last("j").empty(); }, 5000));
  CHECK_THAT(rig.registry.render(),
             Catch::Contains("stoker_sd_refresh_failures_total{mechanism=\"http\"} 1"));
}

TEST_CASE("jobs with the same SD config share one discoverer, a removed job loses its series",
          "[discovery]") {
  test::TempDir dir;
  test::write_file(dir.file("a.json"), R"([{"targets": ["a:1"]}])");
  std::string sd = "    file_sd_configs: [{files: ['" + dir.file("a.json") + "']}]\n";
  Rig rig;
  rig.apply(
      config("scrape_configs:\n  - job_name: one\n" + sd + "  - job_name: two\n" + sd, dir.path()));
  REQUIRE(test::wait_for(
      [&] {
        return rig.sends.last("one") == std::vector<std::string>{"a:1"} &&
               rig.sends.last("two") == std::vector<std::string>{"a:1"};
      },
      5000));
  CHECK(rig.providers() == 1);
  CHECK_THAT(rig.registry.render(),
             Catch::Contains("stoker_sd_discovered_targets{config=\"two\"} 1"));
  // Job two goes; job one keeps the discoverer (and sends nothing).
  rig.apply(config("scrape_configs:\n  - job_name: one\n" + sd, dir.path()));
  CHECK(rig.providers() == 1);
  std::string text = rig.registry.render();
  CHECK_THAT(text, Catch::Contains("stoker_sd_discovered_targets{config=\"one\"} 1"));
  CHECK_THAT(text, !Catch::Contains("config=\"two\""));
  CHECK(rig.sends.count("one") == 1);
}

TEST_CASE("a Kubernetes SD config that cannot start is counted and retried on reload",
          "[discovery][kube]") {
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  test::TempDir dir;
  Rig rig;
  Config cfg = config(
      "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs: [{role: pod}]\n", dir.path());
  rig.apply(cfg);
  // It will never report: the job is sent (empty) at once rather than waiting.
  REQUIRE(test::wait_for([&] { return rig.sends.last("k").empty(); }, 5000));
  CHECK_THAT(rig.registry.render(), Catch::Contains("stoker_sd_failed_configs 1"));
  CHECK(rig.providers() == 0);
  rig.apply(cfg);  // tried again: still failing, still counted once
  CHECK_THAT(rig.registry.render(), Catch::Contains("stoker_sd_failed_configs 1"));
}
