// Pushed profiles end to end: Pyroscope's real Node.js SDK (@pyroscope/nodejs
// from tests/sdk/node, installed by scripts/setup.sh) in a small app pushes to
// the stoker binary over TLS with basic auth; `stoker export` and `go tool
// pprof` read its profiles back.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "model/selector.h"
#include "storage/reader.h"
#include "tests/support/fake_kube.h"
#include "tests/support/must.h"
#include "tests/support/process.h"

using namespace stoker;
using test::Child;
using test::TempDir;

namespace {

const std::string kSdkDir = std::string(STOKER_SOURCE_DIR) + "/tests/sdk/node";

// Series of service `service` in the store, by __name__.
std::map<std::string, SeriesSummary> series_of(const std::string& db, const std::string& service) {
  std::map<std::string, SeriesSummary> out;
  auto r = Reader::open(db);  // not there until something was stored
  if (!r) return out;
  auto sel = Selector::parse("{service_name=\"" + service + "\"}");
  for (auto& s : (*r)->series(*sel, {})) out[std::string(s.labels.get("__name__"))] = s;
  return out;
}

}  // namespace

TEST_CASE(
    "Pyroscope's Node.js SDK pushes to stoker over TLS with basic auth, and go tool pprof "
    "reads the profiles back",
    "[integration][receive]") {
  INFO("the Node.js SDK is not installed; run scripts/setup.sh (npm ci in " << kSdkDir << ")");
  REQUIRE(std::filesystem::exists(kSdkDir + "/node_modules/@pyroscope/nodejs"));
  TempDir dir;
  test::make_test_certs(dir.path());
  std::string hash = test::bcrypt_hash("pushing-secret");
  test::write_file(dir.file("web.yml"),
                   "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n"
                   "basic_auth_users:\n  sdk: '" +
                       hash + "'\n");
  int port = test::free_port();
  std::string db = dir.file("s.db");
  test::write_file(dir.file("stoker.yaml"), "storage: {path: " + db +
                                                "}\nweb: {listen_address: '127.0.0.1:" +
                                                std::to_string(port) + "'}\nscrape_configs: []\n");
  Child stoker({STOKER_BINARY, "--config", dir.file("stoker.yaml"), "--web.config.file",
                dir.file("web.yml")},
               dir.file("stoker.log"));
  const std::string url = "https://127.0.0.1:" + std::to_string(port);
  const std::string curl =
      "curl -s -o /dev/null -w '%{http_code}' --cacert " + dir.file("ca.pem") + " ";
  REQUIRE(test::wait_for(
      [&] {
        return test::run_command(curl + "-u sdk:pushing-secret " + url + "/-/ready") == "200";
      },
      15000));
  // Without the password a push is refused before anything is read.
  CHECK(test::run_command(curl + "--data-binary 'main 1' '" + url + "/ingest?name=x.cpu'") ==
        "401");

  Child app({"/usr/bin/env", "STOKER_URL=" + url, "STOKER_USER=sdk",
             "STOKER_PASSWORD=pushing-secret", "NODE_EXTRA_CA_CERTS=" + dir.file("ca.pem"),
             "FLUSH_MS=1000", "RUN_SECONDS=60", "node", kSdkDir + "/app.js"},
            dir.file("app.log"));
  bool arrived = test::wait_for(
      [&] {
        auto s = series_of(db, "node-sdk-app");
        return s.count("wall") && s["wall"].profiles >= 3 && s.count("memory");
      },
      45000);
  INFO("stoker:\n"
       << test::read_file(dir.file("stoker.log")) << "\napp:\n"
       << test::read_file(dir.file("app.log")));
  REQUIRE(arrived);
  app.stop(SIGTERM, 5000);

  // The SDK's tags and Pyroscope's labels are on the series.
  auto series = series_of(db, "node-sdk-app");
  for (const auto& name : {"wall", "memory"}) {
    INFO(name);
    const Labels& l = series[name].labels;
    CHECK(l.get("region") == "eu-test");
    CHECK(l.get("pyroscope_spy") == "nodespy");
    CHECK(l.get("process.runtime.name") == "nodejs");
    CHECK(l.get("__delta__") == "false");
  }
  // The app's hot function is in the merged wall profile, as go tool pprof reads it.
  int status = 0;
  std::string out = test::run_command(std::string(STOKER_BINARY) + " export --storage.path " + db +
                                          " --query 'wall{service_name=\"node-sdk-app\"}' -o " +
                                          dir.file("wall.pb.gz") + " 2>&1",
                                      &status);
  INFO(out);
  REQUIRE(status == 0);
  out = test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -top -nodecount 5 " +
                              dir.file("wall.pb.gz") + " 2>&1",
                          &status);
  INFO(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("Type: wall") && Catch::Contains("fibonacciWork"));

  // Listed by `stoker profiles`, and visible to Grafana through the query API.
  out = test::run_command(std::string(STOKER_BINARY) + " profiles --storage.path " + db +
                              " --query '{service_name=\"node-sdk-app\"}' 2>&1",
                          &status);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("__name__=\"wall\"") && Catch::Contains("region=\"eu-test\""));
  out =
      test::run_command("curl -s --cacert " + dir.file("ca.pem") + " -u sdk:pushing-secret " + url +
                        "/querier.v1.QuerierService/ProfileTypes -H 'Content-Type: "
                        "application/json' -d '{}'");
  CHECK_THAT(out, Catch::Contains("wall:wall:nanoseconds"));

  // Counted per service and format on /metrics.
  std::string metrics = test::run_command("curl -s --cacert " + dir.file("ca.pem") +
                                          " -u sdk:pushing-secret " + url + "/metrics");
  CHECK_THAT(metrics, Catch::Contains("stoker_received_profiles_total{service_name=\"node-sdk-"
                                      "app\",format=\"pprof\"}"));
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
  std::string log = test::read_file(dir.file("stoker.log"));
  CHECK(log.find("pushing-secret") == std::string::npos);
}
