// Reloads against the real stoker binary: what did not change keeps running.
// Targets come from every kind of discovery (file, HTTP, DNS through a DNS
// server on 127.0.0.1, Kubernetes through the fake API server), all pointing
// at the demo app; reloads keep their loops, health and discoverers, a changed
// job keeps the loops of targets whose labels did not change, and a removed
// job takes its targets and metric series with it.
#include <signal.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "tests/support/demo.h"
#include "tests/support/fake_dns.h"
#include "tests/support/fake_kube.h"
#include "tests/support/stoker_api.h"
#include "tests/support/test_server.h"

using namespace stoker;
using namespace std::chrono_literals;
using test::Child;
using test::Demo;
using test::TempDir;

namespace {

// Each active target's scrape count (its goroutine endpoint), keyed by job and labels.
std::map<std::string, uint64_t> scrapes(int web_port) {
  std::map<std::string, uint64_t> out;
  for (const auto& t : test::active_targets(web_port)) {
    const auto& o = t.as_object();
    std::string key =
        std::string(o.at("scrapePool").as_string()) + " " + boost::json::serialize(o.at("labels"));
    const auto& profiles = o.at("profiles").as_object();
    out[key] = profiles.at("goroutine").at("scrapes").to_number<uint64_t>();
  }
  return out;
}

bool all_scraped(const std::map<std::string, uint64_t>& s, size_t targets, uint64_t at_least) {
  if (s.size() != targets) return false;
  for (const auto& [k, n] : s) {
    if (n < at_least) return false;
  }
  return true;
}

std::string scrape_block(const std::string& job) {
  return "  - job_name: " + job +
         "\n    profiling_config:\n      process_cpu: {enabled: false}\n"
         "      memory: {enabled: false}\n      block: {enabled: false}\n"
         "      mutex: {enabled: false}\n";
}

std::string head(int web_port, const std::string& db) {
  return "global:\n  scrape_interval: 1s\nstorage:\n  path: " + db +
         "\nweb:\n  listen_address: 127.0.0.1:" + std::to_string(web_port) + "\nscrape_configs:\n";
}

// The part of the log written after `offset` bytes.
std::string log_since(const std::string& path, size_t offset) {
  std::string all = test::read_file(path);
  return offset < all.size() ? all.substr(offset) : "";
}

// Points the stoker processes started meanwhile at `dns` (they inherit it).
struct DnsEnv {
  TempDir dir;
  explicit DnsEnv(const test::FakeDns& dns) {
    test::write_file(dir.file("resolv.conf"),
                     "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    ::setenv("STOKER_RESOLV_CONF", dir.file("resolv.conf").c_str(), 1);
    ::setenv("STOKER_DNS_SERVERS", ("127.0.0.1:" + std::to_string(dns.port())).c_str(), 1);
  }
  ~DnsEnv() {
    ::unsetenv("STOKER_RESOLV_CONF");
    ::unsetenv("STOKER_DNS_SERVERS");
  }
};

}  // namespace

TEST_CASE("a reload with the same config keeps every discovered target's loop, for each SD kind",
          "[integration][reload]") {
  Demo demo;
  TempDir dir;
  const std::string addr = "127.0.0.1:" + std::to_string(demo.port);
  // file_sd
  test::write_file(dir.file("targets.json"), "[{\"targets\": [\"" + addr + "\"]}]");
  // http_sd
  std::atomic<int> sd_requests{0};
  test::TestServer http_sd([&](const test::RecordedRequest&) {
    ++sd_requests;
    return test::RawResponse{
        test::TestServer::response(200, "application/json", "[{\"targets\": [\"" + addr + "\"]}]")};
  });
  // dns_sd
  test::FakeDns dns;
  dns.set("app.stoker.test", {{1, "127.0.0.1"}});
  DnsEnv env(dns);
  // kubernetes_sd
  test::FakeKube api;
  api.create("Pod",
             boost::json::object{
                 {"metadata", boost::json::object{{"name", "demo"}, {"namespace", "shop"}}},
                 {"spec",
                  boost::json::object{
                      {"containers",
                       boost::json::array{boost::json::object{
                           {"name", "app"},
                           {"ports", boost::json::array{boost::json::object{
                                         {"containerPort", demo.port}, {"protocol", "TCP"}}}}}}}}},
                 {"status", boost::json::object{{"podIP", "127.0.0.1"}, {"phase", "Running"}}}});

  int web_port = test::free_port();
  const std::string yaml =
      head(web_port, dir.file("stoker.db")) + scrape_block("files") +
      "    file_sd_configs: [{files: ['targets.json']}]\n" + scrape_block("http") +
      "    http_sd_configs: [{url: '" + http_sd.base_url() + "/sd', refresh_interval: 1h}]\n" +
      scrape_block("dns") + "    dns_sd_configs: [{names: [app.stoker.test], type: A, port: " +
      std::to_string(demo.port) + ", refresh_interval: 1h}]\n" + scrape_block("k8s") +
      "    kubernetes_sd_configs: [{role: pod, api_server: '" + api.url() + "'}]\n";
  test::write_file(dir.file("stoker.yaml"), yaml);
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for([&] { return test::ready(web_port); }, 10000));
  REQUIRE(test::wait_for([&] { return all_scraped(scrapes(web_port), 4, 2); }, 20000));

  const auto before = scrapes(web_port);
  const int sd_before = sd_requests.load(), dns_before = dns.queries();
  const int lists_before = api.lists("Pod");
  const double reloaded_before =
      test::metric(web_port, "stoker_config_last_reload_success_timestamp_seconds");
  size_t log_offset = test::read_file(dir.file("stoker.log")).size();
  std::this_thread::sleep_for(1100ms);  // the reload timestamp has second resolution at least
  int status = 0;
  test::post(web_port, "/-/reload", &status);
  REQUIRE(status == 200);
  ::kill(stoker.pid(), SIGHUP);  // the config reloaders' way, too

  // Every loop keeps counting from where it was: none was restarted.
  REQUIRE(test::wait_for(
      [&] {
        auto now = scrapes(web_port);
        if (now.size() != before.size()) return false;
        for (const auto& [k, n] : before) {
          if (now.at(k) < n + 2) return false;
        }
        return true;
      },
      15000));
  CHECK(test::metric(web_port, "stoker_scrape_loops") == 4);
  std::string since = log_since(dir.file("stoker.log"), log_offset);
  INFO(since);
  CHECK(since.find("config reloaded") != std::string::npos);
  CHECK(since.find("targets updated") == std::string::npos);  // no loop started or stopped
  // No discoverer was restarted: nothing was asked again.
  CHECK(sd_requests.load() == sd_before);
  CHECK(dns.queries() == dns_before);
  CHECK(api.lists("Pod") == lists_before);
  CHECK(api.open_watches() == 1);
  // The one thing that changes.
  CHECK(test::metric(web_port, "stoker_config_last_reload_success_timestamp_seconds") >
        reloaded_before);
  CHECK(test::metric(web_port, "stoker_sd_discovered_targets{config=\"k8s\"}") == 1);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}

TEST_CASE("a reload that changes a job's relabeling keeps the loops of unchanged targets",
          "[integration][reload]") {
  Demo demo;
  TempDir dir;
  const std::string addr = "127.0.0.1:" + std::to_string(demo.port);
  // Two targets at the same address, told apart by a group label.
  test::write_file(dir.file("targets.json"), "[{\"targets\": [\"" + addr +
                                                 "\"], \"labels\": {\"group\": \"a\"}}, "
                                                 "{\"targets\": [\"" +
                                                 addr + "\"], \"labels\": {\"group\": \"b\"}}]");
  int web_port = test::free_port();
  const std::string base = head(web_port, dir.file("stoker.db")) + scrape_block("app") +
                           "    file_sd_configs: [{files: ['targets.json']}]\n";
  test::write_file(dir.file("stoker.yaml"), base);
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for([&] { return test::ready(web_port); }, 10000));
  REQUIRE(test::wait_for([&] { return all_scraped(scrapes(web_port), 2, 3); }, 20000));
  auto before = scrapes(web_port);
  std::string key_a, key_b;
  for (const auto& [k, n] : before)
    (k.find("\"group\":\"a\"") != std::string::npos ? key_a : key_b) = k;
  REQUIRE(!key_a.empty());
  REQUIRE(!key_b.empty());

  // A rule that changes only group b's labels.
  test::write_file(dir.file("stoker.yaml"),
                   base +
                       "    relabel_configs: [{source_labels: [group], regex: b, "
                       "target_label: tier, replacement: gold}]\n");
  size_t log_offset = test::read_file(dir.file("stoker.log")).size();
  int status = 0;
  test::post(web_port, "/-/reload", &status);
  REQUIRE(status == 200);
  std::map<std::string, uint64_t> after;
  REQUIRE(test::wait_for(
      [&] {
        after = scrapes(web_port);
        return after.size() == 2 && after.count(key_a) && after.at(key_a) >= before.at(key_a) + 2;
      },
      15000));
  // Group a's loop went on counting; group b has a new loop (new labels).
  CHECK_FALSE(after.count(key_b));
  for (const auto& [k, n] : after) {
    if (k == key_a) continue;
    CHECK(k.find("\"tier\":\"gold\"") != std::string::npos);
    CHECK(n < before.at(key_b) + 2);
  }
  std::string since = log_since(dir.file("stoker.log"), log_offset);
  INFO(since);
  CHECK(since.find("started=1 stopped=1 reconfigured=1") != std::string::npos);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}

TEST_CASE("a reload that removes a job removes its targets and its metric series",
          "[integration][reload]") {
  Demo demo;
  TempDir dir;
  const std::string target =
      "    static_configs: [{targets: ['127.0.0.1:" + std::to_string(demo.port) + "']}]\n";
  int web_port = test::free_port();
  const std::string keep = head(web_port, dir.file("stoker.db")) + scrape_block("keep") + target;
  test::write_file(dir.file("stoker.yaml"), keep + scrape_block("gone") + target);
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml")}, dir.file("stoker.log"));
  INFO(test::read_file(dir.file("stoker.log")));
  REQUIRE(test::wait_for([&] { return test::ready(web_port); }, 10000));
  REQUIRE(test::wait_for([&] { return all_scraped(scrapes(web_port), 2, 2); }, 20000));
  std::string page = test::metrics_page(web_port);
  CHECK(page.find("job=\"gone\"") != std::string::npos);
  CHECK(page.find("config=\"gone\"") != std::string::npos);

  test::write_file(dir.file("stoker.yaml"), keep);
  int status = 0;
  test::post(web_port, "/-/reload", &status);
  REQUIRE(status == 200);
  REQUIRE(test::wait_for([&] { return scrapes(web_port).size() == 1; }, 10000));
  CHECK(scrapes(web_port).begin()->first.rfind("keep ", 0) == 0);
  page = test::metrics_page(web_port);
  CHECK(page.find("job=\"gone\"") == std::string::npos);     // stoker_scrapes_total & co.
  CHECK(page.find("config=\"gone\"") == std::string::npos);  // stoker_sd_discovered_targets
  CHECK(page.find("job=\"keep\"") != std::string::npos);
  CHECK(test::metric(web_port, "stoker_scrape_loops") == 1);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}
