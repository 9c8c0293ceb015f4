// End to end on the read side: the stoker binary scrapes the demo Go app, then
// the CLI draws flame graphs and top tables from the store, the API serves them,
// `go tool pprof` reads the downloads over HTTP, and the web config file puts
// TLS and basic auth in front of every endpoint.
#include <signal.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <sstream>

#include "model/timeparse.h"
#include "storage/reader.h"
#include "tests/support/demo.h"
#include "tests/support/fake_kube.h"
#include "tests/support/must.h"
#include "tests/support/process.h"

using namespace stoker;
using test::Child;
using test::TempDir;

namespace {

std::string cmd(const std::string& args, int* status) {
  return test::run_command(std::string(STOKER_BINARY) + " " + args + " 2>&1", status);
}

// A running collector on the demo app with a 2 s interval, until it has stored
// at least `n` CPU profiles.
struct Scraped {
  test::Demo demo;
  TempDir dir;
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  std::unique_ptr<Child> stoker;

  explicit Scraped(int n) {
    test::write_file(dir.file("stoker.yaml"),
                     "global: {scrape_interval: 2s}\nstorage: {path: " + db +
                         "}\nweb: {listen_address: '127.0.0.1:" + std::to_string(web_port) +
                         "'}\nscrape_configs:\n  - job_name: demo\n    static_configs:\n"
                         "      - targets: ['127.0.0.1:" +
                         std::to_string(demo.port) + "']\n        labels: {service_name: demo}\n");
    stoker = std::make_unique<Child>(
        std::vector<std::string>{STOKER_BINARY, "--config", dir.file("stoker.yaml")},
        dir.file("stoker.log"));
    bool ok = test::wait_for(
        [&] {
          auto r = Reader::open(db);  // not there until stoker has started
          return r && test::profiles_of(**r, "process_cpu") >= n;
        },
        60000);
    INFO(test::read_file(dir.file("stoker.log")));
    REQUIRE(ok);
  }
};

int64_t folded_total(const std::string& folded) {
  std::istringstream in(folded);
  std::string line;
  int64_t total = 0;
  while (std::getline(in, line)) total += std::stoll(line.substr(line.rfind(' ') + 1));
  return total;
}

}  // namespace

TEST_CASE("the CLI draws the demo app's flame graphs and top tables from the store",
          "[integration][read]") {
  Scraped s(3);
  // One fixed range for every command: stoker keeps storing meanwhile, and
  // the commands below compare their totals. Once two more CPU profiles are
  // stored, every scrape that started before `until` has been stored.
  const std::string until = std::to_string(now_unix_nanos() / 1'000'000'000);
  const std::string from = std::to_string(std::stoll(until) - 600);
  auto cpu_profiles = [&] {
    return test::profiles_of(*test::must(Reader::open(s.db)), "process_cpu");
  };
  int64_t stored = cpu_profiles();
  REQUIRE(test::wait_for([&] { return cpu_profiles() >= stored + 2; }, 30000));
  std::string db = " --storage.path " + s.db + " --from " + from + " --until " + until;
  int status = 0;

  std::string out = cmd("flamegraph" + db + " --query 'process_cpu{service_name=\"demo\"}' -o " +
                            s.dir.file("cpu.svg"),
                        &status);
  INFO(out);
  REQUIRE(status == 0);
  std::string svg = test::read_file(s.dir.file("cpu.svg"));
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("main.burnCPU") != std::string::npos);  // the demo app's hot function
  CHECK(svg.find("crypto/sha256") != std::string::npos);
  CHECK(svg.find("<script") != std::string::npos);
  CHECK(svg.find("http://") == svg.find("http://www.w3.org/2000/svg"));  // nothing fetched

  // The same data as folded stacks, flamebearer JSON and a top table agree.
  // The SVG's total is the flame graph's: compare the raw numbers.
  REQUIRE(cmd("flamegraph" + db + " --query process_cpu:cpu:nanoseconds:cpu:nanoseconds -o " +
                  s.dir.file("cpu.folded"),
              &status)
              .find("wrote") != std::string::npos);
  REQUIRE(cmd("flamegraph" + db + " --query process_cpu:cpu:nanoseconds:cpu:nanoseconds -o " +
                  s.dir.file("cpu.json"),
              &status)
              .find("wrote") != std::string::npos);
  auto fb = boost::json::parse(test::read_file(s.dir.file("cpu.json"))).as_object();
  int64_t total = fb["flamebearer"].at("numTicks").as_int64();
  CHECK(total > 0);
  CHECK(folded_total(test::read_file(s.dir.file("cpu.folded"))) == total);
  CHECK(test::read_file(s.dir.file("cpu.folded")).find("main.worker;main.burnCPU") !=
        std::string::npos);
  // The JSON file is the document /pyroscope/render answers for the same range:
  // the flame graph, and metadata with the units and sample rate.
  std::string rendered;
  REQUIRE(test::http_get(s.web_port,
                         "/pyroscope/render?query=process_cpu:cpu:nanoseconds:cpu:nanoseconds"
                         "%7B%7D&format=json&timeline=false&from=" +
                             from + "&until=" + until,
                         &rendered) == 200);
  auto file = boost::json::parse(test::read_file(s.dir.file("cpu.json")));
  CHECK(file == boost::json::parse(rendered));
  CHECK(file.at("metadata").at("units") == "samples");
  CHECK(file.at("metadata").at("sampleRate") == 1'000'000'000);
  out = cmd("top" + db + " --query process_cpu --output json --nodecount 0", &status);
  REQUIRE(status == 0);
  auto top = boost::json::parse(out).as_object();
  CHECK(top["total"].as_int64() == total);
  int64_t self_sum = 0;
  for (const auto& f : top["functions"].as_array()) self_sum += f.at("self").as_int64();
  CHECK(self_sum == total);

  // Bottom-up: the hottest leaf is a root; icicle and HTML render too.
  REQUIRE(cmd("flamegraph" + db + " --query process_cpu --bottom-up -o " + s.dir.file("up.folded"),
              &status)
              .find("wrote") != std::string::npos);
  CHECK(test::read_file(s.dir.file("up.folded")).find("crypto/sha256.block;") != std::string::npos);
  REQUIRE(
      cmd("flamegraph" + db + " --query process_cpu --icicle -o " + s.dir.file("cpu.html"), &status)
          .find("wrote") != std::string::npos);
  CHECK(test::read_file(s.dir.file("cpu.html")).rfind("<!doctype html>", 0) == 0);

  out = cmd("query series" + db +
                " --query 'memory:alloc_space:bytes:space:bytes' --step 1m "
                "--group-by service_name --output json",
            &status);
  REQUIRE(status == 0);
  auto series = boost::json::parse(out).as_object();
  REQUIRE(series["series"].as_array().size() == 1);
  CHECK(series["series"].as_array()[0].at("labels").at("service_name") == "demo");

  // Errors say what is wrong.
  out = cmd("flamegraph" + db + " --query 'nosuch{}' -o " + s.dir.file("x.svg"), &status);
  CHECK(status == 1);
  CHECK_THAT(out,
             Catch::Contains("no nosuch profiles match") && Catch::Contains("types stored then"));
  out = cmd("flamegraph" + db + " --query '{}' -o " + s.dir.file("x.svg"), &status);
  CHECK(status == 2);
  CHECK_THAT(out, Catch::Contains("needs a profile type"));
  out = cmd("top" + db + " --query 'process_cpu{service_name=~\"(\"}'", &status);
  CHECK(status == 2);
  CHECK_THAT(out, Catch::Contains("position"));
  out = cmd("flamegraph" + db + " --query process_cpu -o " + s.dir.file("x.png"), &status);
  CHECK(status == 2);
  out = cmd("top --storage.path " + s.db +
                " --query process_cpu --from 2020-01-01T00:00:00Z "
                "--until 2020-01-01T01:00:00Z",
            &status);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("2020-01-01T00:00:00.000Z"));
}

TEST_CASE("go tool pprof reads stored and merged profiles straight from the API",
          "[integration][read]") {
  Scraped s(2);
  std::string base = "http://127.0.0.1:" + std::to_string(s.web_port);
  int status = 0;
  std::string out = test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -top '" + base +
                                          "/api/v1/profiles/merged?query=process_cpu:cpu:"
                                          "nanoseconds:cpu:nanoseconds%7B%7D&from=now-10m' 2>&1",
                                      &status);
  INFO(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("Type: cpu") && Catch::Contains("main.burnCPU"));
  out = test::run_command(
      std::string(GO_EXECUTABLE) + " tool pprof -top " + base + "/api/v1/profiles/1 2>&1", &status);
  CHECK(status == 0);
  // The API's flame graph names the demo app's functions.
  std::string body;
  auto r = test::http_request(
      s.web_port, "POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
      {{"Content-Type", "application/json"}},
      "{\"profileTypeID\":\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\",\"labelSelector\":"
      "\"{service_name=\\\"demo\\\"}\",\"start\":" +
          std::to_string((now_unix_nanos() / 1'000'000) - 600'000) +
          ",\"end\":" + std::to_string(now_unix_nanos() / 1'000'000) + "}");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("main.burnCPU") != std::string::npos);
}

TEST_CASE("a web config file puts TLS and basic auth in front of every endpoint",
          "[integration][read]") {
  TempDir dir;
  test::make_test_certs(dir.path());
  std::string hash = test::bcrypt_hash("s3cret");
  test::write_file(dir.file("web.yml"),
                   "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                   "http_server_config:\n  headers: {X-Frame-Options: deny}\n"
                   "basic_auth_users:\n  alice: '" +
                       hash + "'\n");
  int status = 0;
  std::string out = cmd("check web-config " + dir.file("web.yml"), &status);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("SUCCESS: TLS, 1 basic auth users"));

  int port = test::free_port();
  Child stoker({STOKER_BINARY, "--storage.path", dir.file("s.db"), "--web.listen-address",
                "127.0.0.1:" + std::to_string(port), "--web.config.file", dir.file("web.yml")},
               dir.file("stoker.log"));
  std::string curl = "curl -s -o /dev/null -w '%{http_code}' --cacert " + dir.file("ca.pem") + " ";
  std::string url = "https://127.0.0.1:" + std::to_string(port);
  REQUIRE(test::wait_for(
      [&] { return test::run_command(curl + "-u alice:s3cret " + url + "/-/healthy") == "200"; },
      15000));
  CHECK(test::run_command(curl + url + "/-/healthy") == "401");
  CHECK(test::run_command(curl + "-u alice:wrong " + url + "/-/healthy") == "401");
  CHECK(test::run_command(curl + "-u bob:s3cret " + url + "/-/healthy") == "401");
  CHECK(test::run_command(curl + url +
                          "/querier.v1.QuerierService/ProfileTypes -H "
                          "'Content-Type: application/json' -d '{}'") == "401");
  CHECK(test::run_command(curl + "-u alice:s3cret " + url +
                          "/querier.v1.QuerierService/ProfileTypes -H 'Content-Type: "
                          "application/json' -d '{}'") == "200");
  // Plain HTTP gets no answer; the configured header is on every response.
  CHECK(test::run_command("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" +
                          std::to_string(port) + "/-/healthy") != "200");
  out = test::run_command("curl -s -D - -o /dev/null --cacert " + dir.file("ca.pem") + " " + url +
                          "/metrics");
  CHECK_THAT(
      out, Catch::Contains("X-Frame-Options: deny") && Catch::Contains("WWW-Authenticate: Basic"));
  // A client that does not trust the server's CA does not get in.
  CHECK(test::run_command("curl -s -o /dev/null -w '%{http_code}' -u alice:s3cret " + url +
                          "/-/healthy") == "000");
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
  std::string log = test::read_file(dir.file("stoker.log"));
  CHECK(log.find("s3cret") == std::string::npos);
  CHECK(log.find(hash) == std::string::npos);

  // Bad web config files are refused with the toolkit's words.
  test::write_file(dir.file("bad.yml"), "tls_server_config:\n  cert_file: server.pem\n");
  out = cmd("check web-config " + dir.file("bad.yml"), &status);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("missing one of key or key_file"));
  test::write_file(dir.file("bad2.yml"), "basic_auth_users:\n  alice: plaintext\n");
  out = cmd("check web-config " + dir.file("bad2.yml"), &status);
  CHECK_THAT(out, Catch::Contains("is not a bcrypt hash"));
  CHECK(out.find("plaintext") == std::string::npos);
  out = cmd("--storage.path " + dir.file("s.db") + " --web.config.file " + dir.file("bad.yml"),
            &status);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("invalid web config file"));
}
