// Pushed profiles over real HTTP on 127.0.0.1 into a real store: every /ingest
// format the Go, Python, Ruby and Node.js SDKs send, written by hand as they
// send it, Pyroscope's push API in protobuf and JSON, bad and oversized
// uploads, label rules, receive switched off, and a store that cannot keep up.
#include <sqlite3.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "model/selector.h"
#include "model/text.h"
#include "model/timeparse.h"
#include "net/http_server.h"
#include "pprof/compress.h"
#include "proto/push.pb.h"
#include "query/engine.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/store_fixture.h"
#include "web/api.h"
#include "web/receive_api.h"

using namespace stoker;
using namespace std::chrono_literals;
using test::HttpReply;

namespace {

// stoker's receive endpoints over a real store, configured by `yaml`.
struct ReceiveServer {
  test::TempDir dir;
  std::string db = dir.file("r.db");
  metrics::Registry metrics;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<ingest::Pipeline> pipeline;
  std::unique_ptr<Receiver> receiver;
  boost::asio::io_context io;
  boost::asio::thread_pool threads{2};
  std::unique_ptr<WebServer> web;
  std::thread thread;
  int port = 0;

  explicit ReceiveServer(const std::string& yaml = "", std::chrono::milliseconds commit = 10s) {
    auto r = load_config_string(yaml, "receive.yaml", dir.path());
    std::string errs;
    for (const auto& e : r.errors) errs += e + "\n";
    INFO(errs);
    REQUIRE(r.config);
    Config cfg = *r.config;
    cfg.storage.path = db;
    storage = test::must(Storage::open(cfg.storage));
    REQUIRE(storage);
    pipeline = std::make_unique<ingest::Pipeline>(storage.get(), &metrics);
    receiver = std::make_unique<Receiver>(pipeline.get(), &metrics, commit);
    receiver->configure(cfg);
    ApiContext ctx;
    ctx.receiver = receiver.get();
    WebServerOptions opts;
    opts.offload = [this](const WebRequest& req) {
      return receiver->handles(req.path) ? &threads : nullptr;
    };
    opts.body_limit_for = [this](std::string_view p) { return receiver->body_limit(p); };
    opts.on_body_too_large = [this](std::string_view p) { receiver->count_too_large(p); };
    web = std::make_unique<WebServer>(
        io, [ctx](const WebRequest& req) { return handle_request(req, ctx); }, opts);
    REQUIRE(web->start("127.0.0.1:0").ok());
    port = web->port();
    thread = std::thread([this] { io.run(); });
  }
  ~ReceiveServer() {
    web->stop();
    io.stop();
    thread.join();
    threads.join();
  }

  HttpReply post(const std::string& target, const std::string& body,
                 std::vector<std::pair<std::string, std::string>> headers = {},
                 bool chunked = false) {
    return test::http_request(port, "POST", target, headers, body, chunked);
  }
  std::vector<SeriesSummary> series() {
    auto r = test::must(Reader::open(db));
    REQUIRE(r);
    return r->series(Selector{}, {});
  }
  // The one stored profile of the series `selector` picks.
  perftools::profiles::Profile only_profile(const std::string& selector) {
    auto r = test::must(Reader::open(db));
    REQUIRE(r);
    auto sel = Selector::parse(selector);
    INFO(sel.error());
    REQUIRE(sel);
    auto ids = r->profile_ids(*sel, {});
    REQUIRE(ids.size() == 1);
    perftools::profiles::Profile p;
    REQUIRE(r->build(ids, &p).ok());
    return p;
  }
  std::string metrics_text() { return metrics.render(); }
};

std::string gz(const perftools::profiles::Profile& p) {
  return pprof::gzip(p.SerializeAsString());
}

perftools::profiles::Profile heap(int64_t alloc_scale, int64_t inuse) {
  return test::make_profile(
      {{"alloc_objects", "count"},
       {"alloc_space", "bytes"},
       {"inuse_objects", "count"},
       {"inuse_space", "bytes"}},
      {{{"main.alloc", "main.main"}, {10 * alloc_scale, 1000 * alloc_scale, inuse, 100 * inuse}},
       {{"main.other", "main.main"}, {5, 500, 0, 0}}});
}

// A multipart/form-data body as pyroscope-go's upload builds it.
std::string multipart(const std::vector<std::pair<std::string, std::string>>& parts,
                      const std::string& boundary) {
  std::string out;
  for (const auto& [name, data] : parts) {
    out += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
           "\"; filename=\"" + name + ".bin\"\r\nContent-Type: application/octet-stream\r\n\r\n" +
           data + "\r\n";
  }
  return out + "--" + boundary + "--\r\n";
}

bool has_series(const std::vector<SeriesSummary>& all, const Labels& want) {
  for (const auto& s : all) {
    if (s.labels == want) return true;
  }
  return false;
}

std::string series_list(const std::vector<SeriesSummary>& all) {
  std::string out;
  for (const auto& s : all) out += s.labels.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("/ingest stores each format the SDKs send, labelled as Pyroscope labels it",
          "[receive]") {
  ReceiveServer srv;
  const std::string from = "1764600000", until = "1764600010";
  const int64_t from_ns = 1'764'600'000'000'000'000;

  // Node.js and Python (pprof encoding): the gzipped profile as the body.
  auto cpu = test::cpu_profile(
      {{{"main.work", "main.main"}, {3, 30'000'000}}, {{"main.main"}, {1, 10'000'000}}});
  auto r =
      srv.post("/ingest?name=node.app%7Bregion%3Deu%7D&format=pprof&spyName=nodespy&from=" + from +
                   "&until=" + until,
               gz(cpu), {{"Content-Type", "application/octet-stream"}});
  INFO(r.body);
  CHECK(r.status == 200);
  // The same uncompressed, on Pyroscope's other route, its time (0) taken from `from`.
  cpu.set_time_nanos(0);
  r = srv.post("/pyroscope/ingest?name=raw.app&format=pprof&from=" + from, cpu.SerializeAsString());
  CHECK(r.status == 200);
  // pyroscope-go: multipart with the previous cumulative profile and sample_type_config.
  std::string config = R"({"alloc_objects":{"units":"objects","cumulative":true},)"
                       R"("alloc_space":{"units":"bytes","cumulative":true},)"
                       R"("inuse_objects":{"units":"objects","aggregation":"average"},)"
                       R"("inuse_space":{"units":"bytes","aggregation":"average"}})";
  std::string body = multipart({{"profile", gz(heap(7, 4))},
                                {"prev_profile", gz(heap(3, 9))},
                                {"sample_type_config", config}},
                               "b0undary");
  r = srv.post("/ingest?name=go.app%7Benv%3Dprod%7D&spyName=gospy&from=" + from + "&until=" + until,
               body, {{"Content-Type", "multipart/form-data; boundary=b0undary"}});
  INFO(r.body);
  CHECK(r.status == 200);
  // pyspy / rbspy: folded text, sampleRate 100.
  r = srv.post("/ingest?name=py.app.cpu%7Bversion%3D1.2%7D&spyName=pyspy&sampleRate=100&from=" +
                   from + "&until=" + until,
               "main;handler;query 30\nmain;idle 10\n", {{"Content-Type", "text/plain"}});
  CHECK(r.status == 200);
  // Bodies over the server's 1 MiB default are fine up to receive.body_size_limit.
  std::string many;
  for (int i = 0; i < 60000; ++i) many += "main;handler;work_" + std::to_string(i) + " 1\n";
  REQUIRE(many.size() > (1u << 20));
  r = srv.post("/ingest?name=big.app.cpu&from=" + from, many);
  INFO(r.body);
  CHECK(r.status == 200);
  // lines: one stack per line.
  r = srv.post("/ingest?name=rb.app.cpu&format=lines&spyName=rbspy&sampleRate=50&from=" + from,
               "main;a\nmain;a\nmain;b\n");
  CHECK(r.status == 200);

  auto all = srv.series();
  INFO(series_list(all));
  REQUIRE(all.size() == 6);
  CHECK(has_series(all, {{"__delta__", "false"},
                         {"__name__", "process_cpu"},
                         {"pyroscope_spy", "nodespy"},
                         {"region", "eu"},
                         {"service_name", "node.app"}}));
  CHECK(has_series(all, {{"__delta__", "false"},
                         {"__name__", "process_cpu"},
                         {"pyroscope_spy", "unknown"},
                         {"service_name", "raw.app"}}));
  CHECK(has_series(all, {{"__delta__", "false"},
                         {"__name__", "memory"},
                         {"env", "prod"},
                         {"pyroscope_spy", "gospy"},
                         {"service_name", "go.app"}}));
  CHECK(has_series(all, {{"__delta__", "false"},
                         {"__name__", "process_cpu"},
                         {"pyroscope_spy", "pyspy"},
                         {"service_name", "py.app"},
                         {"version", "1.2"}}));
  CHECK(has_series(all, {{"__delta__", "false"},
                         {"__name__", "process_cpu"},
                         {"pyroscope_spy", "rbspy"},
                         {"service_name", "rb.app"}}));

  auto node = srv.only_profile("{service_name=\"node.app\"}");
  CHECK(test::canonical(node) ==
        test::canonical(test::cpu_profile(
            {{{"main.work", "main.main"}, {3, 30'000'000}}, {{"main.main"}, {1, 10'000'000}}})));
  CHECK(srv.only_profile("{service_name=\"raw.app\"}").time_nanos() == from_ns);
  // Cumulative columns are the difference to prev_profile; inuse is as sent.
  auto mem = srv.only_profile("{service_name=\"go.app\"}");
  CHECK(test::canonical(mem) ==
        test::canonical(test::make_profile({{"alloc_objects", "count"},
                                            {"alloc_space", "bytes"},
                                            {"inuse_objects", "count"},
                                            {"inuse_space", "bytes"}},
                                           {{{"main.alloc", "main.main"}, {40, 4000, 4, 400}}})));
  auto py = srv.only_profile("{service_name=\"py.app\"}");
  CHECK(test::totals(py) == std::vector<int64_t>{400'000'000});  // 40 samples × 10 ms
  CHECK(py.time_nanos() == from_ns);
  CHECK(py.duration_nanos() == 10'000'000'000);
  CHECK(test::totals(srv.only_profile("{service_name=\"rb.app\"}")) ==
        std::vector<int64_t>{60'000'000});  // 3 lines × 20 ms

  std::string m = srv.metrics_text();
  CHECK_THAT(m, Catch::Contains(
                    "stoker_received_profiles_total{service_name=\"go.app\",format=\"pprof\"} 1"));
  CHECK_THAT(m, Catch::Contains(
                    "stoker_received_profiles_total{service_name=\"py.app\",format=\"folded\"} 1"));
  CHECK_THAT(m, Catch::Contains(
                    "stoker_received_profiles_total{service_name=\"rb.app\",format=\"lines\"} 1"));
  CHECK_THAT(
      m, Catch::Contains("stoker_received_bytes_total{service_name=\"go.app\",format=\"pprof\"} " +
                         std::to_string(body.size())));
}

TEST_CASE("bad and oversized uploads are refused with a message, and nothing is stored",
          "[receive]") {
  ReceiveServer srv("receive: {body_size_limit: 64KiB, profile_size_limit: 1MiB}\n");
  const std::string cpu = gz(test::cpu_profile({{{"main.main"}, {1, 10}}}));
  struct Case {
    std::string what, target, content_type, body;
    int status;
    std::string says;
  };
  std::string bomb = pprof::gzip(std::string(8u << 20, '\0'));
  std::vector<Case> cases = {
      {"no name", "/ingest?format=pprof", "", cpu, 400, "name parameter is missing"},
      {"bad name", "/ingest?name=a%20b&format=pprof", "", cpu, 400, "invalid application name"},
      {"bad time", "/ingest?name=a&format=pprof&from=soon", "", cpu, 400, "from:"},
      {"html as pprof", "/ingest?name=a&format=pprof", "text/html", "<html>hi</html>", 400,
       "expected pprof, got text/html"},
      {"empty pprof", "/ingest?name=a&format=pprof", "", "", 400, "empty body"},
      {"truncated gzip", "/ingest?name=a&format=pprof", "", cpu.substr(0, cpu.size() / 2), 400,
       "invalid pprof"},
      {"gzip bomb", "/ingest?name=a&format=pprof", "", bomb, 413, "exceeds"},
      {"multipart without profile", "/ingest?name=a", "multipart/form-data; boundary=zz",
       multipart({{"sample_type_config", "{}"}}, "zz"), 400, "no \"profile\" part"},
      {"bad sample_type_config", "/ingest?name=a", "multipart/form-data; boundary=zz",
       multipart({{"profile", cpu}, {"sample_type_config", "{oops"}}, "zz"), 400, "not JSON"},
      {"prev_profile of another type", "/ingest?name=a", "multipart/form-data; boundary=zz",
       multipart({{"profile", gz(heap(2, 1))}, {"prev_profile", cpu}}, "zz"), 400,
       "other sample types"},
      {"broken multipart", "/ingest?name=a", "multipart/form-data; boundary=zz",
       "--zz\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\nxx", 400,
       "invalid multipart"},
      {"folded garbage", "/ingest?name=a.cpu&format=folded", "", "a;b;c twelve\n", 400, "line 1"},
      {"unknown type", "/ingest?name=a.gpu&format=folded", "", "a 1\n", 400,
       "unknown profile type \"gpu\""},
      {"not jfr", "/ingest?name=a&format=jfr", "", "JFR", 400, "not a JFR recording"},
      {"trie", "/ingest?name=a", "binary/octet-stream+trie", "x", 415, "format=\"trie\""},
      {"too many labels",
       "/ingest?name=a.cpu%7Bl1%3D1%2Cl2%3D1%2Cl3%3D1%2Cl4%3D1%2Cl5%3D1%2Cl6%3D1"
       "%2Cl7%3D1%2Cl8%3D1%2Cl9%3D1%2Cl10%3D1%2Cl11%3D1%2Cl12%3D1%2Cl13%3D1"
       "%2Cl14%3D1%2Cl15%3D1%2Cl16%3D1%2Cl17%3D1%2Cl18%3D1%2Cl19%3D1%2Cl20%3D1"
       "%2Cl21%3D1%2Cl22%3D1%2Cl23%3D1%2Cl24%3D1%2Cl25%3D1%2Cl26%3D1%2Cl27%3D1"
       "%2Cl28%3D1%7D",
       "", "a 1\n", 400, "label_limit exceeded"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    std::vector<std::pair<std::string, std::string>> headers;
    if (!c.content_type.empty()) headers.emplace_back("Content-Type", c.content_type);
    auto r = srv.post(c.target, c.body, headers);
    INFO(r.body);
    CHECK(r.status == c.status);
    CHECK_THAT(r.body, Catch::Contains(c.says));
  }
  // Bodies over body_size_limit, announced or chunked, are cut off with 413.
  std::string big(100 * 1024, 'x');
  auto r = srv.post("/ingest?name=a.cpu", big);
  CHECK(r.status == 413);
  CHECK_THAT(r.body, Catch::Contains("exceeds 65536 bytes"));
  r = srv.post("/ingest?name=a.cpu", big, {}, /*chunked=*/true);
  CHECK(r.status == 413);
  r = test::http_request(srv.port, "GET", "/ingest?name=a", {}, "");
  CHECK(r.status == 405);

  CHECK(srv.series().empty());
  std::string m = srv.metrics_text();
  CHECK_THAT(m, Catch::Contains(
                    "stoker_receive_rejected_requests_total{format=\"pprof\",reason=\"invalid\"}"));
  CHECK_THAT(
      m, Catch::Contains(
             "stoker_receive_rejected_requests_total{format=\"ingest\",reason=\"too_large\"} 2"));
  CHECK_THAT(m, Catch::Contains("stoker_receive_rejected_requests_total{format=\"jfr\",reason="
                                "\"invalid\"} 1"));
  CHECK_THAT(m, Catch::Contains("stoker_receive_rejected_requests_total{format=\"pprof\",reason="
                                "\"too_large\"} 1"));
}

TEST_CASE("push.v1 Push in protobuf and JSON stores every sample, one bad series refuses the lot",
          "[receive]") {
  ReceiveServer srv;
  auto cpu = [](int64_t v, int64_t t) {
    auto p = test::cpu_profile({{{"main.work", "main.main"}, {v, v * 10'000'000}}});
    p.set_time_nanos(t);
    return p;
  };
  const int64_t t0 = now_unix_nanos() - 60 * test::kSec;
  push::v1::PushRequest req;
  auto add = [&](std::initializer_list<std::pair<std::string, std::string>> labels) {
    auto* s = req.add_series();
    for (const auto& [k, v] : labels) {
      auto* l = s->add_labels();
      l->set_name(k);
      l->set_value(v);
    }
    return s;
  };
  auto* a = add({{"__name__", "process_cpu"}, {"service_name", "api"}, {"pod", "p1"}});
  a->add_samples()->set_raw_profile(gz(cpu(1, t0)));
  a->add_samples()->set_raw_profile(gz(cpu(2, t0 + 15 * test::kSec)));
  auto* m = add({{"__name__", "memory"}, {"service_name", "api"}, {"__delta__", "false"}});
  m->add_samples()->set_raw_profile(heap(1, 1).SerializeAsString());  // not gzipped: also fine
  auto r = srv.post("/push.v1.PusherService/Push", req.SerializeAsString(),
                    {{"Content-Type", "application/proto"}, {"Connect-Protocol-Version", "1"}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/proto");
  auto all = srv.series();
  INFO(series_list(all));
  CHECK(all.size() == 2);
  CHECK(has_series(all, {{"__name__", "process_cpu"}, {"pod", "p1"}, {"service_name", "api"}}));
  CHECK(has_series(all, {{"__delta__", "false"}, {"__name__", "memory"}, {"service_name", "api"}}));
  for (const auto& s : all) {
    if (s.labels.get("__name__") == "process_cpu") {
      CHECK(s.profiles == 2);
      CHECK(s.first_ns == t0);
      CHECK(s.last_ns == t0 + 15 * test::kSec);
    }
  }

  // JSON, as curl users and Pyroscope's docs send it.
  std::string raw = gz(cpu(5, t0 + 30 * test::kSec));
  boost::json::object doc{
      {"series",
       boost::json::array{boost::json::object{
           {"labels",
            boost::json::array{
                boost::json::object{{"name", "__name__"}, {"value", "process_cpu"}},
                boost::json::object{{"name", "service_name"}, {"value", "json-client"}}}},
           {"samples",
            boost::json::array{boost::json::object{{"rawProfile", base64_encode(raw)}}}}}}}};
  r = srv.post("/push.v1.PusherService/Push", boost::json::serialize(doc),
               {{"Content-Type", "application/json"}});
  INFO(r.body);
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
  CHECK(srv.series().size() == 3);

  // A bad series anywhere refuses the whole request, so that a retry does
  // not store the good part twice.
  push::v1::PushRequest bad;
  bad.add_series()->CopyFrom(req.series(0));
  auto* nosvc = bad.add_series();
  auto* l = nosvc->add_labels();
  l->set_name("__name__");
  l->set_value("process_cpu");
  nosvc->add_samples()->set_raw_profile(gz(cpu(1, t0)));
  r = srv.post("/push.v1.PusherService/Push", bad.SerializeAsString(),
               {{"Content-Type", "application/proto"}});
  CHECK(r.status == 400);
  CHECK_THAT(r.body, Catch::Contains("invalid_argument") && Catch::Contains("series 1") &&
                         Catch::Contains("no service_name"));
  bad.mutable_series(1)->CopyFrom(req.series(0));
  bad.mutable_series(1)->mutable_samples(1)->set_raw_profile("garbage");
  r = srv.post("/push.v1.PusherService/Push", bad.SerializeAsString(),
               {{"Content-Type", "application/proto"}});
  CHECK(r.status == 400);
  CHECK_THAT(r.body, Catch::Contains("series 1") && Catch::Contains("sample 1"));
  r = srv.post("/push.v1.PusherService/Push", "not a protobuf",
               {{"Content-Type", "application/proto"}});
  CHECK(r.status == 400);
  r = srv.post("/push.v1.PusherService/Push", "x", {{"Content-Type", "text/plain"}});
  CHECK(r.status == 415);
  int64_t stored = 0;
  for (const auto& s : srv.series()) stored += s.profiles;
  CHECK(stored == 4);
  CHECK_THAT(
      srv.metrics_text(),
      Catch::Contains("stoker_received_profiles_total{service_name=\"api\",format=\"push\"} 3"));
}

TEST_CASE("receive.labels, relabel_configs and external_labels shape pushed series",
          "[receive][relabel]") {
  ReceiveServer srv(
      "global: {external_labels: {region: global}}\n"
      "receive:\n  labels: {cluster: c1}\n  relabel_configs:\n"
      "    - source_labels: [env]\n      regex: test\n      action: drop\n"
      "    - source_labels: [service_name]\n      target_label: team\n      regex: (.*)-svc\n");
  auto r = srv.post("/ingest?name=pay-svc.cpu%7Benv%3Dtest%7D", "main 1\n");
  CHECK(r.status == 200);  // accepted, dropped on purpose
  CHECK(srv.series().empty());
  r = srv.post("/ingest?name=pay-svc.cpu%7Benv%3Dprod%2Cregion%3Dlocal%2Ccluster%3Dmine%7D",
               "main 1\n");
  CHECK(r.status == 200);
  auto all = srv.series();
  REQUIRE(all.size() == 1);
  CHECK(all[0].labels == Labels{{"__delta__", "false"},
                                {"__name__", "process_cpu"},
                                {"cluster", "c1"},
                                {"env", "prod"},
                                {"pyroscope_spy", "unknown"},
                                {"region", "global"},
                                {"service_name", "pay-svc"},
                                {"team", "pay"}});
  CHECK_THAT(srv.metrics_text(),
             Catch::Contains("stoker_received_dropped_profiles_total{format=\"folded\"} 1"));
}

TEST_CASE("with receive off (a non-loopback listen address) pushes are refused, naming the setting",
          "[receive]") {
  ReceiveServer srv("web: {listen_address: '0.0.0.0:4040'}\n");
  auto r = srv.post("/ingest?name=a.cpu", "main 1\n");
  CHECK(r.status == 404);
  CHECK_THAT(r.body, Catch::Contains("receive.enabled: true"));
  r = srv.post("/push.v1.PusherService/Push", "", {{"Content-Type", "application/proto"}});
  CHECK(r.status == 501);
  CHECK_THAT(r.body, Catch::Contains("unimplemented"));
  CHECK(srv.series().empty());

  ReceiveServer on(
      "web: {listen_address: '0.0.0.0:4040'}\nreceive: {enabled: true, "
      "path_prefix: /profiles}\n");
  CHECK(on.post("/profiles/ingest?name=a.cpu", "main 1\n").status == 200);
  CHECK(on.post("/ingest?name=a.cpu", "main 1\n").status != 200);  // not under the prefix
  CHECK(on.series().size() == 1);
}

TEST_CASE("a store that cannot keep up answers 503 with Retry-After and loses nothing it took",
          "[receive]") {
  ReceiveServer srv("", 500ms);
  // Another connection holds the database's write lock: commits wait.
  sqlite3* lock = nullptr;
  REQUIRE(sqlite3_open(srv.db.c_str(), &lock) == SQLITE_OK);
  sqlite3_busy_timeout(lock, 5000);  // the writer may be busy starting up
  REQUIRE(sqlite3_exec(lock, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  auto r = srv.post("/ingest?name=slow.cpu", "main;work 3\n");
  CHECK(r.status == 503);
  CHECK(r.header("retry-after") == "1");
  CHECK_THAT(r.body, Catch::Contains("not committed within 500ms"));
  // With that much waiting to be written, new pushes are refused at once.
  std::string err;
  for (int i = 0; i < 5; ++i) {
    ProfileRecord big;
    big.labels = {{"__name__", "process_cpu"}, {"service_name", "backlog"}};
    big.scrape_time_ns = now_unix_nanos();
    big.view = pprof::view_of(test::cpu_profile({{{"main.main"}, {1, 1}}}));
    big.forward_gzip = std::make_shared<const std::string>(std::string(20u << 20, 'x'));
    REQUIRE(srv.storage->append(std::move(big)).ok());
  }
  // (before anything is decoded: the push API answers unavailable too)
  r = srv.post("/push.v1.PusherService/Push", push::v1::PushRequest().SerializeAsString(),
               {{"Content-Type", "application/proto"}});
  CHECK(r.status == 503);
  CHECK_THAT(r.body, Catch::Contains("unavailable"));
  r = srv.post("/ingest?name=late.cpu", "main 1\n");
  CHECK(r.status == 503);
  CHECK_THAT(r.body, Catch::Contains("behind"));
  CHECK_THAT(srv.metrics_text(),
             Catch::Contains("reason=\"not_committed\"} 1") &&
                 Catch::Contains("stoker_receive_rejected_requests_total{format=\"folded\","
                                 "reason=\"queue_full\"} 1"));
  // The lock goes: what was queued is committed; what was refused is not there.
  sqlite3_exec(lock, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(lock);
  REQUIRE(srv.storage->flush(30s));
  int64_t slow = 0, backlog = 0, late = 0;
  for (const auto& s : srv.series()) {
    auto svc = s.labels.get("service_name");
    (svc == "slow" ? slow : svc == "backlog" ? backlog : late) += s.profiles;
  }
  CHECK(slow == 1);
  CHECK(backlog == 5);
  CHECK(late == 0);
}

TEST_CASE("pushed profiles with labels inside are split like scraped ones, capped per client",
          "[receive][labels]") {
  ReceiveServer srv(
      "receive:\n  sample_label_series_limit: 3\n"
      "  relabel_configs: [{source_labels: [endpoint], regex: /healthz, action: drop}]\n");
  const int64_t t0 = now_unix_nanos() - 60 * test::kSec;
  // As an SDK labels its work (Go's TagWrapper, Python's tag_wrapper, …),
  // with otel-profiling-go's span ids.
  auto labelled = [&](int64_t t) {
    auto p = test::cpu_profile({
        {{"main.checkout"}, {1, 100}, {{"endpoint", "/checkout"}, {"span_id", "00000000000000a1"}}},
        {{"main.checkout"}, {1, 300}, {{"endpoint", "/checkout"}, {"span_id", "00000000000000a2"}}},
        {{"main.search"}, {1, 50}, {{"endpoint", "/search"}}},
        {{"main.health"}, {1, 9}, {{"endpoint", "/healthz"}}},
        {{"main.gc"}, {1, 10}},
    });
    p.set_time_nanos(t);
    return p;
  };
  // /ingest with format=pprof, as pyroscope-go uploads.
  auto r = srv.post("/ingest?name=shop%7Benv%3Dtest%7D&format=pprof&spyName=gospy&from=" +
                        std::to_string(t0 / test::kSec) +
                        "&until=" + std::to_string(t0 / test::kSec + 10),
                    gz(labelled(t0)));
  INFO(r.body);
  REQUIRE(r.status == 200);
  // push.v1, as Alloy forwards.
  push::v1::PushRequest req;
  auto* s = req.add_series();
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{{"__name__", "process_cpu"},
                                                                      {"service_name", "cart"}}) {
    auto* l = s->add_labels();
    l->set_name(k);
    l->set_value(v);
  }
  s->add_samples()->set_raw_profile(gz(labelled(t0 + test::kSec)));
  r = srv.post("/push.v1.PusherService/Push", req.SerializeAsString(),
               {{"Content-Type", "application/proto"}, {"Connect-Protocol-Version", "1"}});
  INFO(r.body);
  REQUIRE(r.status == 200);

  auto all = srv.series();
  std::map<std::string, std::set<std::string>> endpoints;  // service → endpoint values
  for (const auto& x : all) {
    endpoints[std::string(x.labels.get("service_name"))].insert(
        std::string(x.labels.get("endpoint")));
  }
  CHECK(endpoints["shop"] == std::set<std::string>{"", "/checkout", "/search"});
  CHECK(endpoints["cart"] == std::set<std::string>{"", "/checkout", "/search"});

  auto engine = test::must(query::Engine::open(srv.db, query::Limits{}));
  auto total = [&](const std::string& selector, std::vector<uint64_t> spans = {}) {
    query::Selection sel;
    sel.profile_type = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    sel.label_selector = selector;
    sel.start_ms = t0 / 1'000'000 - 60'000;
    sel.end_ms = t0 / 1'000'000 + 60'000;
    sel.span_ids = std::move(spans);
    query::StackSet stacks;
    query::MergeInfo info;
    REQUIRE(engine->merge_stacks(sel, &stacks, &info).ok());
    return stacks.total();
  };
  for (std::string svc : {"shop", "cart"}) {
    CHECK(total("{service_name=\"" + svc + "\"}") == 460);  // /healthz dropped by the rule
    CHECK(total("{service_name=\"" + svc + "\",endpoint=\"/checkout\"}") == 400);
    CHECK(total("{service_name=\"" + svc + "\"}", {0xa2}) == 300);
  }
  CHECK_THAT(srv.metrics_text(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"push\","
                                                 "outcome=\"dropped\"} 2"));

  // A client whose label has a new value per request is capped at 3 series;
  // the rest lands in its unlabelled series, nothing is lost.
  std::vector<test::SampleSpec> samples;
  for (int i = 0; i < 10; ++i) {
    samples.push_back({{"main.handle"}, {1, 1}, {{"request", std::to_string(i)}}});
  }
  auto counter = test::cpu_profile(samples);
  counter.set_time_nanos(t0);
  r = srv.post("/ingest?name=noisy&format=pprof&from=" + std::to_string(t0 / test::kSec),
               gz(counter));
  REQUIRE(r.status == 200);
  size_t noisy = 0;
  for (const auto& x : srv.series()) noisy += x.labels.get("service_name") == "noisy";
  CHECK(noisy == 4);  // 3 with request=…, 1 without
  engine = test::must(query::Engine::open(srv.db, query::Limits{}));
  CHECK(total("{service_name=\"noisy\"}") == 10);
  CHECK(total("{service_name=\"noisy\",request=\"\"}") == 7);
  CHECK_THAT(srv.metrics_text(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"push\","
                                                 "outcome=\"folded\"} 7"));
}
