#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <set>

#include "collector/scrape_loop.h"
#include "collector/cluster.h"
#include "collector/scrape_manager.h"
#include "discovery/static_sd.h"
#include "net/asio_pch.h"
#include "net/http_client.h"
#include "pprof/pprof_decode.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include "tests/support/cluster_rig.h"
#include "tests/support/fake_kube.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"
#include "tests/support/test_server.h"
#include "tests/support/tls_target.h"

using namespace stoker;
using namespace std::chrono_literals;
using test::RawResponse;
using test::RecordedRequest;
using test::TestServer;
namespace asio = boost::asio;

namespace {

std::string pprof_body() {
  return pprof::encode_gzip(test::make_profile(
      {{"goroutine", "count"}}, {{{"main.main"}, {4}}, {{"runtime.gopark", "main.worker"}, {2}}}));
}

RawResponse ok_pprof() {
  return {TestServer::response(200, "application/octet-stream", pprof_body()), false, false};
}

struct Fetch {
  HttpResult res;
  std::shared_ptr<pprof::View> profile;  // what the pipeline would decode
  std::string error;                     // or why the scrape fails
  double seconds = 0;
};

// Runs one GET through the real client and judges it like a scrape loop does.
Fetch fetch(const std::string& url, HttpClientConfig cfg = {}, uint64_t body_limit = 0,
            std::chrono::milliseconds timeout = 2000ms, pprof::Limits limits = {},
            HttpClient* shared = nullptr, asio::io_context* shared_io = nullptr,
            bool answer_delayed = false, size_t body_size_hint = 0) {
  asio::io_context local_io;
  asio::io_context& io = shared_io ? *shared_io : local_io;
  std::unique_ptr<HttpClient> own;
  if (!shared)
    own = std::make_unique<HttpClient>(io.get_executor(), cfg, body_limit, "stoker-test");
  HttpClient& client = shared ? *shared : *own;
  auto start = std::chrono::steady_clock::now();
  auto fut =
      asio::co_spawn(io, client.get(url, start + timeout, timeout, answer_delayed, body_size_hint),
                     asio::use_future);
  io.restart();
  io.run();
  Fetch f;
  f.res = fut.get();
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (f.res.error.ok()) {
    auto decoded = check_response(f.res.status, f.res.reason, f.res.content_type,
                                  f.res.content_encoding, f.res.body, limits);
    if (decoded) {
      f.profile = *decoded;
    } else {
      f.error = decoded.error();
    }
  } else {
    f.error = f.res.error.message();
  }
  return f;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a pprof response decodes", "[scrape]") {
  TestServer server([](const RecordedRequest&) { return ok_pprof(); });
  auto f = fetch(server.base_url() + "/debug/pprof/goroutine");
  INFO(f.error);
  REQUIRE(f.profile);
  CHECK(test::totals(*f.profile) == std::vector<int64_t>{6});
  auto reqs = server.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].target == "/debug/pprof/goroutine");
  CHECK(reqs[0].header("user-agent") == "stoker-test");
  CHECK(reqs[0].header("x-prometheus-scrape-timeout-seconds") == "2.000000");
}

TEST_CASE("a 404 HTML page is an error saying what came back", "[scrape]") {
  TestServer server([](const RecordedRequest&) {
    return RawResponse{TestServer::response(404, "text/html; charset=utf-8",
                                            "<html><body>Not Found</body></html>")};
  });
  auto f = fetch(server.base_url() + "/debug/pprof/allocs");
  CHECK_FALSE(f.profile);
  CHECK(contains(f.error, "expected pprof, got text/html (HTTP 404"));
}

TEST_CASE("a 500 with a text body is an error quoting the body", "[scrape]") {
  TestServer server([](const RecordedRequest&) {
    return RawResponse{TestServer::response(
        500, "text/plain", "Could not enable CPU profiling: cpu profiling already in use\n")};
  });
  auto f = fetch(server.base_url() + "/debug/pprof/profile?seconds=1");
  CHECK(contains(f.error,
                 "expected pprof, got plain text \"Could not enable CPU profiling: cpu profiling "
                 "already in use\" (HTTP 500"));
}

TEST_CASE("Go's WriteTimeout refusal is explained", "[scrape]") {
  TestServer server([](const RecordedRequest&) {
    return RawResponse{TestServer::response(400, "text/plain",
                                            "profile duration exceeds server's WriteTimeout\n",
                                            "X-Go-Pprof: 1\r\n")};
  });
  auto f = fetch(server.base_url() + "/debug/pprof/profile?seconds=59");
  CHECK(contains(f.error, "refused the profile duration"));
  CHECK(contains(f.error, "delta_profiling_duration"));
}

TEST_CASE("a target that never answers times out at the deadline", "[scrape]") {
  TestServer server([](const RecordedRequest&) { return RawResponse{"", true}; });
  auto f = fetch(server.base_url() + "/debug/pprof/heap", {}, 0, 300ms);
  CHECK(contains(f.error, "timed out waiting for a response"));
  CHECK(f.seconds < 2.0);
  CHECK(f.seconds >= 0.29);
}

TEST_CASE("a body over body_size_limit is refused", "[scrape]") {
  TestServer server([](const RecordedRequest&) {
    return RawResponse{
        TestServer::response(200, "application/octet-stream", std::string(64 * 1024, 'x'))};
  });
  auto f = fetch(server.base_url() + "/big", {}, 4096);
  CHECK(contains(f.error, "exceeds the body size limit of 4096 bytes"));
  // The same for a chunked body (its length is known only as it comes).
  TestServer chunks([](const RecordedRequest&) {
    std::string r =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 16; ++i) r += "1000\r\n" + std::string(4096, 'x') + "\r\n";
    return RawResponse{r + "0\r\n\r\n"};
  });
  f = fetch(chunks.base_url() + "/big", {}, 3 * 4096 + 10);
  CHECK(contains(f.error, "exceeds the body size limit of 12298 bytes"));
  f = fetch(chunks.base_url() + "/big", {}, 16 * 4096);
  CHECK(f.res.error.ok());
  CHECK(f.res.body == std::string(16 * 4096, 'x'));
}

TEST_CASE("a POST's body is handed back to the caller whatever became of the request", "[scrape]") {
  TestServer server([](const RecordedRequest& r) {
    if (r.target == "/moved")
      return RawResponse{TestServer::response(307, "", "", "Location: /push\r\n")};
    if (r.target == "/refuse") return RawResponse{TestServer::response(400, "text/plain", "no")};
    return RawResponse{TestServer::response(200, "text/plain", "ok")};
  });
  asio::io_context io;
  HttpClient client(io.get_executor(), {}, 0, "t");
  const std::string body(300000, 'b');
  auto post = [&](const std::string& url) {
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.body = body;
    auto fut = asio::co_spawn(
        io, client.send(std::move(req), std::chrono::steady_clock::now() + 5s), asio::use_future);
    io.restart();
    io.run();
    return fut.get();
  };
  auto r = post(server.base_url() + "/push");
  REQUIRE(r.error.ok());
  CHECK(r.status == 200);
  CHECK(r.request_body == body);
  r = post(server.base_url() + "/moved");  // sent twice: the redirect keeps the method
  REQUIRE(r.error.ok());
  CHECK(r.redirects == 1);
  CHECK(r.request_body == body);
  r = post(server.base_url() + "/refuse");
  CHECK(r.status == 400);
  CHECK(r.request_body == body);
  r = post("http://127.0.0.1:" + std::to_string(test::free_port()) + "/push");
  CHECK(contains(r.error.message(), "connection refused"));
  CHECK(r.request_body == body);
  const auto seen = server.requests();
  REQUIRE(seen.size() == 4);
  for (const auto& q : seen) {
    CHECK(q.method == "POST");
    CHECK(q.body == body);
  }
}

TEST_CASE("a gzip bomb is stopped at the decompression limit", "[scrape]") {
  std::string bomb = pprof::gzip(std::string(64u << 20, '\0'), 9);
  TestServer server([&](const RecordedRequest&) {
    return RawResponse{TestServer::response(200, "application/octet-stream", bomb)};
  });
  pprof::Limits limits;
  limits.max_decompressed = 4u << 20;
  auto f = fetch(server.base_url() + "/bomb", {}, 0, 2000ms, limits);
  CHECK(contains(f.error, "invalid pprof (HTTP 200"));
  CHECK(contains(f.error, "possible gzip bomb"));
}

TEST_CASE("non-pprof 200 bodies are errors", "[scrape]") {
  std::string body;
  std::string ctype;
  TestServer server(
      [&](const RecordedRequest&) { return RawResponse{TestServer::response(200, ctype, body)}; });
  body = R"({"error": "nope"})";
  ctype = "application/json";
  CHECK(contains(fetch(server.base_url() + "/").error, "expected pprof, got JSON (HTTP 200"));
  body = "";
  ctype = "application/octet-stream";
  CHECK(contains(fetch(server.base_url() + "/").error,
                 "expected pprof, got an empty body (HTTP 200)"));
  body = pprof_body().substr(0, 40);
  CHECK(contains(fetch(server.base_url() + "/").error, "truncated gzip stream"));
}

TEST_CASE("a body cut short by the target is an error", "[scrape]") {
  TestServer server([](const RecordedRequest&) {
    std::string full = TestServer::response(200, "application/octet-stream", pprof_body());
    return RawResponse{full.substr(0, full.size() - 10), false, true};
  });
  auto f = fetch(server.base_url() + "/short");
  CHECK_FALSE(f.profile);
  CHECK(contains(f.error, "reading the response"));
}

TEST_CASE("bodies arrive whole: known length in many reads or none, chunked, one connection",
          "[scrape]") {
  // Each kind twice with a prompt answer's read (head and body with the
  // large buffer) and twice with a delayed answer's (the head with the
  // connection's own small buffer first).
  // 3 MB that do not compress, more than the socket holds at once: read
  // straight into the body in as many reads as it takes.
  std::string big(3u << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (auto& c : big) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
  // 200 KB in chunks of 70,000 bytes: more than one large read.
  const std::string big_chunked_body = big.substr(0, 200000);
  std::string big_chunked =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < big_chunked_body.size(); at += 70000) {
    size_t n = std::min<size_t>(70000, big_chunked_body.size() - at);
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    big_chunked += size_line + big_chunked_body.substr(at, n) + "\r\n";
  }
  big_chunked += "0\r\n\r\n";
  TestServer server([&](const RecordedRequest& r) {
    if (r.target == "/big") return RawResponse{TestServer::response(200, "text/plain", big)};
    if (r.target == "/bigchunked") return RawResponse{big_chunked};
    if (r.target == "/empty") return RawResponse{TestServer::response(200, "text/plain", "")};
    if (r.target == "/chunked") return RawResponse{chunked};
    return ok_pprof();
  });
  asio::io_context io;
  HttpClient client(io.get_executor(), {}, 0, "t");
  bool delayed = false;
  auto get = [&](const std::string& path, size_t hint = 0) {
    return fetch(server.base_url() + path, {}, 0, 5000ms, {}, &client, &io, delayed, hint).res;
  };
  for (int round = 0; round < 4; ++round) {
    delayed = round % 2 == 1;
    INFO("answer_delayed " << delayed);
    auto r = get("/big");
    INFO(r.error.message());
    REQUIRE(r.error.ok());
    CHECK(r.body.size() == big.size());
    CHECK(r.body == big);
    r = get("/empty");
    REQUIRE(r.error.ok());
    CHECK(r.body.empty());
    r = get("/chunked");
    REQUIRE(r.error.ok());
    CHECK(r.body == "hello, world");
    r = get("/bigchunked");
    REQUIRE(r.error.ok());
    CHECK(r.body == big_chunked_body);
    r = get("/pprof");
    REQUIRE(r.error.ok());
    CHECK(check_response(r.status, r.reason, r.content_type, r.content_encoding, r.body, {}));
  }
  // A size hint: a chunked body is read into a string of that capacity from
  // the start (not regrown as it comes); a hint too small, one over the
  // client's body limit, or one for a body of announced length change
  // nothing but the capacity.
  delayed = false;
  const size_t hint = big_chunked_body.size() + big_chunked_body.size() / 8;
  auto r = get("/bigchunked", hint);
  REQUIRE(r.error.ok());
  CHECK(r.body == big_chunked_body);
  CHECK(r.body.capacity() == hint);
  r = get("/bigchunked", 1000);
  REQUIRE(r.error.ok());
  CHECK(r.body == big_chunked_body);
  r = get("/bigchunked", HttpClient::kDefaultBodyLimit + 1);
  REQUIRE(r.error.ok());
  CHECK(r.body == big_chunked_body);
  CHECK(r.body.capacity() < HttpClient::kDefaultBodyLimit);
  r = get("/big", 2 * big.size());
  REQUIRE(r.error.ok());
  CHECK(r.body == big);
  // Every response was read to its end exactly: the next one came over the
  // same kept-alive connection.
  CHECK(server.connections() == 1);
  CHECK(server.requests().size() == 24);
}

TEST_CASE("redirects are followed, bounded, and can be turned off", "[scrape]") {
  TestServer server([](const RecordedRequest& r) {
    if (r.target == "/loop")
      return RawResponse{TestServer::response(302, "", "", "Location: /loop\r\n")};
    if (r.target == "/old")
      return RawResponse{TestServer::response(301, "", "", "Location: /new\r\n")};
    return ok_pprof();
  });
  auto f = fetch(server.base_url() + "/old");
  CHECK(f.profile);
  CHECK(f.res.final_url == server.base_url() + "/new");
  f = fetch(server.base_url() + "/loop");
  CHECK(contains(f.error, "stopped after 10 redirects"));
  HttpClientConfig no_follow;
  no_follow.follow_redirects = false;
  f = fetch(server.base_url() + "/old", no_follow);
  CHECK(contains(f.error, "(HTTP 301"));
}

TEST_CASE("connection refused is reported", "[scrape]") {
  int port = test::free_port();
  auto f = fetch("http://127.0.0.1:" + std::to_string(port) + "/debug/pprof/heap");
  CHECK(contains(f.error, "connection refused"));
}

TEST_CASE("auth headers are sent and credential files re-read", "[scrape]") {
  TestServer server([](const RecordedRequest&) { return ok_pprof(); });
  HttpClientConfig basic;
  basic.basic_auth = BasicAuth{"user", Secret{"pass"}, ""};
  fetch(server.base_url() + "/", basic);
  CHECK(server.requests().back().header("authorization") == "Basic dXNlcjpwYXNz");

  test::TempDir dir;
  test::write_file(dir.file("token"), "first\n");
  HttpClientConfig bearer;
  bearer.authorization = Authorization{"Bearer", {}, dir.file("token")};
  asio::io_context io;
  HttpClient client(io.get_executor(), bearer, 0, "t");
  fetch(server.base_url() + "/", {}, 0, 2000ms, {}, &client, &io);
  CHECK(server.requests().back().header("authorization") == "Bearer first");
  test::write_file(dir.file("token"), "second");
  fetch(server.base_url() + "/", {}, 0, 2000ms, {}, &client, &io);
  CHECK(server.requests().back().header("authorization") == "Bearer second");
  // Both requests went over one kept-alive connection.
  CHECK(server.connections() == 2);  // one for the basic-auth client, one for this one

  std::remove(dir.file("token").c_str());
  auto f = fetch(server.base_url() + "/", {}, 0, 2000ms, {}, &client, &io);
  CHECK(contains(f.error, "cannot read credentials file"));
  CHECK_FALSE(contains(f.error, "second"));
}

TEST_CASE("first-scrape offsets are deterministic and inside the interval", "[scrape]") {
  auto a = ScrapeLoop::offset("job\x1ftarget-a\x1fmemory", 15000ms);
  CHECK(a == ScrapeLoop::offset("job\x1ftarget-a\x1fmemory", 15000ms));
  CHECK(a < 15000ms);
  CHECK(a != ScrapeLoop::offset("job\x1ftarget-b\x1fmemory", 15000ms));
}

TEST_CASE("scrape times are rounded up to a common grid of ticks", "[scrape]") {
  using Clock = std::chrono::steady_clock;
  CHECK(ScrapeLoop::tick(15000ms) == 100ms);
  CHECK(ScrapeLoop::tick(500ms) == 50ms);
  CHECK(ScrapeLoop::tick(5ms) == 1ms);
  const Clock::time_point base(std::chrono::seconds(1000));  // on every grid
  CHECK(ScrapeLoop::on_grid(base, 100ms) == base);
  CHECK(ScrapeLoop::on_grid(base + 1ns, 100ms) == base + 100ms);
  CHECK(ScrapeLoop::on_grid(base + 99ms, 100ms) == base + 100ms);
  CHECK(ScrapeLoop::on_grid(base + 100ms, 100ms) == base + 100ms);
  CHECK(ScrapeLoop::on_grid(base + 100ms + 1us, 100ms) == base + 200ms);
  // Loops whose offsets fall in one tick start together; 300 loops over a
  // 15 s interval start in at most 150 batches, each within a tick of its
  // offset.
  std::set<Clock::time_point> starts;
  for (int i = 0; i < 300; ++i) {
    std::string key = "job\x1f" "127.0.0." + std::to_string(i) + ":6060\x1fmemory";
    auto ideal = base + ScrapeLoop::offset(key, 15000ms);
    auto t = ScrapeLoop::on_grid(ideal, ScrapeLoop::tick(15000ms));
    CHECK(t >= ideal);
    CHECK(t - ideal < 100ms);
    starts.insert(t);
  }
  CHECK(starts.size() <= 150);
}

namespace {

// A scrape manager for one YAML config, with its own store and I/O thread.
// stop() ends the loops and the thread; the store stays readable.
struct ManagerRig {
  test::TempDir dir;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<ingest::Pipeline> pipeline;
  asio::io_context io;
  std::unique_ptr<ScrapeManager> manager;
  std::thread runner;

  explicit ManagerRig(const std::string& yaml) {
    auto cfg = load_config_string(yaml, "t.yaml", dir.path());
    REQUIRE(cfg.config);
    cfg.config->storage.path = dir.file("s.db");
    storage = test::must(Storage::open(cfg.config->storage));
    REQUIRE(storage);
    pipeline = std::make_unique<ingest::Pipeline>(storage.get(), nullptr);
    manager = std::make_unique<ScrapeManager>(io, pipeline.get());
    manager->apply_config(*cfg.config);
  }
  void run() {
    runner = std::thread([this] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  void stop() {
    if (!runner.joinable()) return;
    asio::post(io, [this] { manager->stop_all(); });
    io.stop();
    runner.join();
    storage->flush();
  }
  ~ManagerRig() { stop(); }
};

}  // namespace

TEST_CASE("the scrape manager stores profiles with target labels and tracks health", "[scrape]") {
  TestServer server([](const RecordedRequest& r) {
    if (r.target.rfind("/debug/pprof/goroutine", 0) == 0) return ok_pprof();
    return RawResponse{TestServer::response(404, "text/plain", "404 page not found\n")};
  });
  std::string yaml =
      "global:\n  scrape_interval: 1s\n  external_labels: {cluster: test}\n"
      "scrape_configs:\n  - job_name: app\n    static_configs:\n"
      "      - targets: ['127.0.0.1:" +
      std::to_string(server.port()) +
      "']\n"
      "        labels: {team: core}\n"
      "    profile_relabel_configs: [{source_labels: [team], target_label: owner}]\n"
      "    profiling_config:\n      process_cpu: {enabled: false}\n"
      "      block: {enabled: false}\n      mutex: {enabled: false}\n";
  ManagerRig rig(yaml);
  ScrapeManager& manager = *rig.manager;
  CHECK(manager.loop_count() == 2);  // goroutine + memory
  rig.run();
  bool done = test::wait_for(
      [&] {
        auto snap = manager.snapshot();
        int scraped = 0;
        for (const auto& ep : snap.at(0).endpoints) scraped += ep.health.scrapes >= 2;
        return scraped == 2;
      },
      10000);
  auto snap = manager.snapshot();
  rig.stop();
  REQUIRE(done);
  for (const auto& ep : snap[0].endpoints) {
    if (ep.type == "goroutine") {
      CHECK(ep.health.state == ScrapeHealth::State::kUp);
      CHECK(ep.health.last_error.empty());
    } else {
      CHECK(ep.health.state == ScrapeHealth::State::kDown);
      CHECK(contains(ep.health.last_error,
                     "expected pprof, got plain text \"404 page not found\" (HTTP 404"));
      CHECK(ep.url == server.base_url() + "/debug/pprof/allocs");
    }
  }
  auto reader = test::must(Reader::open(rig.dir.file("s.db")));
  REQUIRE(reader);
  auto series = reader->series(*Selector::parse(""), {});
  REQUIRE(series.size() == 1);
  std::string instance = "127.0.0.1:" + std::to_string(server.port());
  CHECK(series[0].labels == Labels{{"__name__", "goroutine"},
                                   {"job", "app"},
                                   {"instance", instance},
                                   {"service_name", "app"},
                                   {"team", "core"},
                                   {"owner", "core"},
                                   {"cluster", "test"}});
  CHECK(series[0].profiles >= 2);
}

TEST_CASE("while remote_write runs, scrapes keep the bytes to forward: as received, or the delta",
          "[scrape][remote_write]") {
  // goroutine profiles are forwarded as the target sent them; allocation
  // profiles, which stoker differences, as the delta, encoded once.
  const std::string goroutine = pprof_body();
  std::atomic<int> allocs_served{0};
  TestServer server([&](const RecordedRequest& r) {
    if (r.target.rfind("/debug/pprof/goroutine", 0) == 0) return ok_pprof();
    int n = ++allocs_served;
    return RawResponse{TestServer::response(
        200, "application/octet-stream",
        pprof::encode_gzip(test::make_profile({{"alloc_objects", "count"},
                                               {"alloc_space", "bytes"},
                                               {"inuse_objects", "count"},
                                               {"inuse_space", "bytes"}},
                                              {{{"malloc", "main.a"}, {10 * n, 640 * n, 1, 64}},
                                               {{"malloc", "main.b"}, {5, 320, 0, 0}}})))};
  });
  std::string yaml =
      "global:\n  scrape_interval: 1s\n"
      "scrape_configs:\n  - job_name: app\n    static_configs:\n"
      "      - targets: ['127.0.0.1:" +
      std::to_string(server.port()) +
      "']\n"
      "    profiling_config:\n      process_cpu: {enabled: false}\n"
      "      block: {enabled: false}\n      mutex: {enabled: false}\n";
  ManagerRig rig(yaml);
  ForwardCache& cache = rig.storage->forward_cache();
  cache.register_endpoint("test", 0);  // as a running RemoteWriter does
  rig.run();
  auto kept = [&](const std::string& name) {
    std::vector<ForwardEntry> out;
    for (auto& e : cache.after(0, SIZE_MAX, SIZE_MAX)) {
      if (e.labels->get("__name__") == name) out.push_back(e);
    }
    return out;
  };
  bool done = test::wait_for(
      [&] { return kept("goroutine").size() >= 2 && kept("memory").size() >= 2; }, 15000);
  rig.stop();
  REQUIRE(done);
  for (const auto& e : kept("goroutine")) {
    REQUIRE(e.pprof_gzip);
    CHECK(*e.pprof_gzip == goroutine);  // byte for byte
  }
  for (const auto& e : kept("memory")) {
    REQUIRE(e.pprof_gzip);
    CHECK(e.labels->get("__delta__") == "false");
    auto d = pprof::decode(*e.pprof_gzip);
    REQUIRE(d.ok());
    // 10 more main.a allocations per scrape; main.b unchanged and not in use: dropped.
    CHECK(test::totals(*(*d)) == std::vector<int64_t>{10, 640, 1, 64});
    CHECK((*d)->sample_size() == 1);
  }
  // Without endpoints nothing is kept.
  cache.unregister_endpoint("test");
  CHECK(cache.size() == 0);
}

namespace {

// A real TLS server: `openssl s_server -WWW` serving files from a directory, with a
// certificate issued by a test CA for 127.0.0.1 and stoker.test.

}  // namespace

TEST_CASE("https targets are verified against the configured CA", "[scrape][tls]") {
  test::TlsTarget tls(pprof_body());
  HttpClientConfig with_ca;
  with_ca.tls.ca_file = tls.dir.file("ca.pem");
  auto f = fetch(tls.url(), with_ca);
  INFO(f.error);
  CHECK(f.profile);

  // The system trust store does not know the test CA.
  f = fetch(tls.url());
  CHECK(contains(f.error, "TLS error during TLS handshake"));
  CHECK(contains(f.error, "certificate verify failed"));

  HttpClientConfig insecure;
  insecure.tls.insecure_skip_verify = true;
  CHECK(fetch(tls.url(), insecure).profile);

  HttpClientConfig named = with_ca;
  named.tls.server_name = "stoker.test";
  CHECK(fetch(tls.url(), named).profile);
  named.tls.server_name = "other.test";
  f = fetch(tls.url(), named);
  CHECK_FALSE(f.profile);
  CHECK(contains(f.error, "TLS error"));

  HttpClientConfig missing_ca;
  missing_ca.tls.ca_file = tls.dir.file("nope.pem");
  CHECK(contains(fetch(tls.url(), missing_ca).error, "cannot load tls_config.ca_file"));
}

TEST_CASE("target_limit marks every target down without scraping", "[scrape][limits]") {
  auto cfg = load_config_string(
      "scrape_configs:\n  - job_name: app\n    target_limit: 1\n"
      "    static_configs: [{targets: ['127.0.0.1:1', '127.0.0.1:2']}]\n",
      "t.yaml", "/tmp");
  REQUIRE(cfg.config);
  test::TempDir dir;
  StorageConfig sc;
  sc.path = dir.file("s.db");
  auto storage = test::must(Storage::open(sc));
  REQUIRE(storage);
  asio::io_context io;
  ingest::Pipeline pipeline(storage.get(), nullptr);
  ScrapeManager manager(io, &pipeline);
  manager.apply_config(*cfg.config);
  CHECK(manager.loop_count() == 0);
  auto snap = manager.snapshot();
  REQUIRE(snap.size() == 2);
  for (const auto& t : snap) {
    REQUIRE_FALSE(t.endpoints.empty());
    CHECK(t.endpoints[0].health.state == ScrapeHealth::State::kDown);
    CHECK(t.endpoints[0].health.last_error ==
          "target_limit exceeded (number of targets: 2, limit: 1)");
  }
}

TEST_CASE("label limits fail the scrape and say which limit", "[scrape][limits]") {
  TestServer server([](const RecordedRequest&) { return ok_pprof(); });
  for (const auto& [limit, expect] : std::vector<std::pair<std::string, std::string>>{
           {"label_limit: 3", "label_limit exceeded (number of labels: 4, limit: 3)"},
           {"label_value_length_limit: 4",
            "label_value_length_limit exceeded (label name: __name__, value: "
            "\"goroutine\", length: 9, limit: 4)"},
           {"label_name_length_limit: 10",
            "label_name_length_limit exceeded (label name: service_name, "
            "length: 12, limit: 10)"}}) {
    INFO(limit);
    ManagerRig rig("global: {scrape_interval: 1s, " + limit +
                   "}\nscrape_configs:\n  - job_name: app\n"
                   "    static_configs: [{targets: ['127.0.0.1:" +
                   std::to_string(server.port()) +
                   "']}]\n    profiling_config: {process_cpu: {enabled: false}, memory: "
                   "{enabled: false}, block: {enabled: false}, mutex: {enabled: false}}\n");
    rig.run();
    auto health_now = [&] { return rig.manager->snapshot().at(0).endpoints.at(0).health; };
    bool scraped = test::wait_for([&] { return health_now().scrapes >= 1; }, 5000);
    auto health = health_now();
    rig.stop();
    REQUIRE(scraped);
    CHECK(health.state == ScrapeHealth::State::kDown);
    CHECK(health.last_error == expect);
    CHECK(rig.storage->stats().profiles_written == 0);
  }
}

TEST_CASE("a peer list change hands over only the targets whose owner changed",
          "[scrape][cluster]") {
  using test::ProfileFarm;
  constexpr int kTargets = 60;
  ProfileFarm farm(kTargets);
  std::string yaml =
      "cluster: {name: a, static_peers: [a, b, c]}\nscrape_configs:\n  - job_name: apps\n"
      "    scrape_interval: 1s\n    clustering: {enabled: true}\n"
      "    http_headers: {X-Replica: {values: [a]}}\n"
      "    profiling_config: {process_cpu: {enabled: false}, goroutine: {enabled: false}, "
      "block: {enabled: false}, mutex: {enabled: false}}\n    static_configs:\n";
  for (int k = 0; k < kTargets; ++k) {
    yaml += "      - targets: ['127.0.0.1:" + std::to_string(farm.port()) +
            "']\n        labels: {service_name: svc-" + std::to_string(k) +
            ", __param_target: '" + std::to_string(k) + "'}\n";
  }
  ManagerRig rig(yaml);
  // Each target's owner for a peer list, by the target's number.
  auto cfg = load_config_string(yaml, "t.yaml", rig.dir.path());
  REQUIRE(cfg.config);
  auto targets = build_targets(cfg.config->scrape_configs[0],
                               static_groups(cfg.config->scrape_configs[0].static_configs));
  REQUIRE(targets.size() == kTargets);
  auto owned_by_a = [&](std::vector<std::string> peers) {
    std::set<int> out;
    for (const auto& t : targets) {
      if (cluster_owner(peers, cluster_key(t)) == "a")
        out.insert(std::stoi(std::string(t.labels.get("__param_target"))));
    }
    return out;
  };
  auto listed = [&] {  // target number → scrapes, as the manager lists them
    std::map<int, uint64_t> out;
    for (const auto& s : rig.manager->snapshot()) {
      CHECK(s.owner == "a");
      std::string svc(s.labels.get("service_name"));
      out[std::stoi(svc.substr(4))] = s.endpoints.at(0).health.scrapes;
    }
    return out;
  };
  auto set_peers = [&](std::vector<std::string> peers) {
    std::promise<void> done;
    asio::post(rig.io, [&] {
      rig.manager->set_cluster(ClusterView{"a", peers});
      done.set_value();
    });
    done.get_future().wait();
    return ProfileFarm::now_ms();
  };
  rig.run();

  // Before the first peer list a clustered job scrapes nothing.
  std::this_thread::sleep_for(1500ms);
  CHECK(farm.scrapes().empty());
  CHECK(rig.manager->snapshot().empty());
  CHECK_FALSE(rig.manager->cluster_stats().known);

  // Which targets a owns depends on the farm's (random) port: about a
  // third of them, but 30 or more (or 10 or fewer) happens in ~1 % of runs.
  // The test needs only that a owns some and not all.
  auto e1 = owned_by_a({"a", "b", "c"});
  REQUIRE(!e1.empty());
  REQUIRE(e1.size() < static_cast<size_t>(kTargets));
  int64_t t1 = set_peers({"a", "b", "c"});
  std::this_thread::sleep_for(3000ms);
  auto before = listed();
  CHECK(before.size() == e1.size());
  for (const auto& [k, n] : before) {
    CHECK(e1.count(k));
    CHECK(n >= 2);
  }
  std::map<int, int64_t> first_at;
  for (const auto& s : farm.scrapes(t1)) {
    CHECK(e1.count(s.target));
    first_at.emplace(s.target, s.at_ms - t1);
  }
  // The first peer list is not a hand-over: first scrapes spread over the interval.
  int64_t earliest = 1000, latest = 0;
  for (const auto& [k, at] : first_at) {
    earliest = std::min(earliest, at);
    latest = std::max(latest, at);
  }
  CHECK(latest - earliest > 400);
  CHECK(rig.manager->cluster_stats().last_gained == 0);

  // A fourth peer: a's targets that go to d are scraped once more, then
  // dropped; the rest keep their loops (scrape counts go on).
  auto e2 = owned_by_a({"a", "b", "c", "d"});
  std::set<int> moved;
  for (int k : e1) {
    if (!e2.count(k)) moved.insert(k);
  }
  REQUIRE(!moved.empty());
  for (int k : e2) REQUIRE(e1.count(k));
  int64_t t2 = set_peers({"a", "b", "c", "d"});
  std::this_thread::sleep_for(2500ms);
  auto after = listed();
  CHECK(after.size() == e2.size());
  for (const auto& [k, n] : after) {
    INFO("target " << k << " scrapes before " << before[k] << " after " << n);
    CHECK(e2.count(k));
    CHECK(n >= before[k] + 2);  // the same loop: a new one would count from 0
    CHECK(n >= 4);
  }
  auto st = rig.manager->cluster_stats();
  CHECK(st.last_gained == 0);
  CHECK(st.last_lost == moved.size());
  CHECK(st.rebalances >= 2);
  CHECK(rig.manager->cluster_rebalances() == st.rebalances);
  std::map<int, std::vector<int64_t>> by_a;
  for (const auto& s : farm.scrapes(t2)) {
    CHECK(e1.count(s.target));  // never one of b's or c's
    by_a[s.target].push_back(s.at_ms - t2);
  }
  for (int k : moved) {
    INFO("moved target " << k);
    REQUIRE(by_a.count(k));
    // At least one scrape started 600 ms or more after the change (the new
    // owner has begun by then), none after one interval more.
    CHECK(by_a[k].back() >= 600);
    CHECK(by_a[k].back() <= 600 + 1000 + 300);
  }

  // c and d leave: their targets start here at once.
  auto e3 = owned_by_a({"a", "b"});
  for (int k : e2) REQUIRE(e3.count(k));
  int64_t t3 = set_peers({"a", "b"});
  std::this_thread::sleep_for(1500ms);
  std::map<int, int64_t> first;
  for (const auto& s : farm.scrapes(t3)) first.emplace(s.target, s.at_ms - t3);
  size_t gained = 0;
  for (int k : e3) {
    if (e2.count(k)) continue;
    ++gained;
    INFO("gained target " << k);
    REQUIRE(first.count(k));
    CHECK(first[k] <= 100 + 400);  // the hand-over spread (a tenth of 1 s) and slack
  }
  st = rig.manager->cluster_stats();
  CHECK(st.last_gained == gained);
  CHECK(st.owned == e3.size());
  CHECK(st.clustered == static_cast<size_t>(kTargets));
  CHECK(st.rebalances == 3);
  CHECK(listed().size() == e3.size());
}
