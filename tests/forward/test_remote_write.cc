// remote_write: classification, request encoding, and delivery from a real
// SQLite outbox to the project's own push receiver over HTTP on 127.0.0.1.
#include <catch2/catch.hpp>

#include "forward/remote_write.h"
#include "net/asio_pch.h"
#include "net/http_client.h"
#include "pprof/pprof_decode.h"
#include "proto/push.pb.h"
#include "storage/outbox.h"
#include "storage/storage.h"
#include "tests/support/connect_proxy.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"
#include "tests/support/push_receiver.h"

using namespace stoker;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

HttpResult status(int code, const std::string& content_type = "text/plain",
                  const std::string& body = "") {
  HttpResult r;
  r.status = code;
  r.content_type = content_type;
  r.body = body;
  return r;
}

// A store with profiles, an I/O thread and a pool, and RemoteWriters on them.
struct Rig {
  test::TempDir dir;
  std::unique_ptr<Storage> storage;
  asio::io_context io;
  asio::thread_pool pool{2};
  std::thread runner;
  std::vector<std::shared_ptr<RemoteWriter>> writers;
  int64_t next_time = 1'700'000'000'000'000'000;

  Rig() {
    StorageConfig sc;
    sc.path = dir.file("s.db");
    storage = test::must(Storage::open(sc));
    REQUIRE(storage);
    runner = std::thread([this] {
      auto guard = asio::make_work_guard(io);
      io.run();
    });
  }
  ~Rig() {
    for (auto& w : writers) w->stop();
    std::this_thread::sleep_for(50ms);
    io.stop();
    runner.join();
    pool.join();
  }
  // Appends `n` profiles of series {__name__=memory, app=<app>} and commits them.
  // With `prepared`, each comes with bytes to forward, as scrapes prepare
  // them: the same profile with the comment "prepared".
  void add(int n, const std::string& app = "a", const std::string& extra = "",
           bool prepared = false) {
    for (int i = 0; i < n; ++i) {
      ProfileRecord r;
      r.labels = Labels{{"__name__", "memory"},
                        {"service_name", app},
                        {"__delta__", "false"},
                        {"__internal__", "x"}};
      if (!extra.empty()) r.labels.set("bad", extra);
      r.scrape_time_ns = next_time;
      r.profile = std::make_shared<perftools::profiles::Profile>(test::make_profile(
          {{"alloc_space", "bytes"}}, {{{"main.f", "main.main"}, {100 + i}}}, next_time));
      if (prepared) {
        auto p = *r.profile;
        p.add_comment(p.string_table_size());
        p.add_string_table("prepared");
        r.forward_gzip = std::make_shared<const std::string>(pprof::encode_gzip(p));
      }
      next_time += 1'000'000'000;
      REQUIRE(storage->append(std::move(r)).ok());
    }
    REQUIRE(storage->flush(10s));
  }
  RemoteWriteConfig endpoint(const std::string& url) {
    RemoteWriteConfig c;
    c.url = url;
    c.name = "test";
    c.min_backoff = 20ms;
    c.max_backoff = 100ms;
    c.remote_timeout = 2s;
    return c;
  }
  std::shared_ptr<RemoteWriter> start(const RemoteWriteConfig& c, const Labels& external = {}) {
    auto ob = test::must(Outbox::open(storage->path()));
    REQUIRE(ob);
    std::vector<std::string> keys;
    for (auto& w : writers) keys.push_back(w->config().key());
    keys.push_back(c.key());
    REQUIRE(ob->sync_endpoints(keys).ok());
    RemoteWriter::Deps deps{io.get_executor(), &pool, storage.get(), external, nullptr};
    auto w = std::make_shared<RemoteWriter>(deps, c);
    REQUIRE(w->start().ok());
    writers.push_back(w);
    return w;
  }
  OutboxStatus outbox(const std::string& key = "test") {
    auto ob = test::must(Outbox::open(storage->path()));
    return test::must(ob->status(key));
  }
};

// The time_nanos of received profiles, in arrival order.
std::vector<int64_t> times(const std::vector<test::ReceivedProfile>& got) {
  std::vector<int64_t> out;
  for (const auto& g : got) out.push_back(g.profile->time_nanos());
  return out;
}

std::vector<int64_t> expected_times(int64_t first, int n) {
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(first + i * 1'000'000'000LL);
  return out;
}

constexpr int64_t kT0 = 1'700'000'000'000'000'000;

}  // namespace

TEST_CASE("push failures are classified as Alloy's pyroscope.write does", "[remote_write]") {
  using V = RemoteWriter::Verdict;
  CHECK(RemoteWriter::classify(status(200), true) == V::kDelivered);
  for (int s : {400, 401, 403, 404, 412}) {
    INFO(s);
    CHECK(RemoteWriter::classify(status(s), true) == V::kReject);
  }
  for (int s : {408, 500, 502, 503, 504, 302, 418}) {
    INFO(s);
    CHECK(RemoteWriter::classify(status(s), false) == V::kRetry);
  }
  for (int s : {429, 413, 431}) {
    INFO(s);
    CHECK(RemoteWriter::classify(status(s), true) == V::kRetry);
    CHECK(RemoteWriter::classify(status(s), false) == V::kReject);
  }
  HttpResult net;
  net.error = Status::unavailable("connection refused");
  CHECK(RemoteWriter::classify(net, false) == V::kRetry);
  // A Connect error body decides over the status.
  auto connect = [](const std::string& code) {
    return status(500, "application/json", "{\"code\":\"" + code + "\",\"message\":\"m\"}");
  };
  CHECK(RemoteWriter::classify(connect("invalid_argument"), true) == V::kReject);
  CHECK(RemoteWriter::classify(connect("unavailable"), true) == V::kRetry);
  CHECK(RemoteWriter::classify(connect("resource_exhausted"), true) == V::kRetry);
  CHECK(RemoteWriter::classify(connect("resource_exhausted"), false) == V::kReject);
}

TEST_CASE("backoff doubles from min_backoff up to max_backoff with jitter", "[remote_write]") {
  RemoteWriteConfig c;
  c.min_backoff = 500ms;
  c.max_backoff = 5min;
  for (int i = 0; i < 50; ++i) {
    auto b1 = RemoteWriter::backoff(c, 1);
    CHECK(b1 >= 500ms);
    CHECK(b1 < 1000ms);
    auto b3 = RemoteWriter::backoff(c, 3);
    CHECK(b3 >= 2000ms);
    CHECK(b3 < 4000ms);
    auto b20 = RemoteWriter::backoff(c, 20);
    CHECK(b20 <= 5min);
    CHECK(b20 >= 150s);
  }
}

TEST_CASE("a push request carries filtered labels and groups profiles by series",
          "[remote_write]") {
  std::vector<OutboxItem> items(3);
  items[0].labels = Labels{{"__name__", "memory"},
                           {"__delta__", "false"},
                           {"__tmp", "x"},
                           {"cluster", "old"},
                           {"service_name", "a"}};
  items[1].labels = Labels{{"__name__", "process_cpu"}, {"service_name", "a"}};
  items[2].labels = items[0].labels;
  for (size_t i = 0; i < items.size(); ++i) items[i].pprof_gzip = std::make_shared<const std::string>("p" + std::to_string(i));
  size_t series = 0;
  std::string body;
  RemoteWriter::encode_request_to(items, Labels{{"cluster", "prod"}}, &series, &body);
  CHECK(series == 2);
  // Into a buffer that held a longer body before (a writer's previous
  // push): the same bytes.
  std::string reused(body.size() * 3, 'z');
  RemoteWriter::encode_request_to(items, Labels{{"cluster", "prod"}}, nullptr, &reused);
  CHECK(reused == body);
  push::v1::PushRequest req;
  REQUIRE(req.ParseFromString(body));
  REQUIRE(req.series_size() == 2);
  Labels first;
  for (const auto& l : req.series(0).labels()) first.set(l.name(), l.value());
  CHECK(first == Labels{{"__name__", "memory"},
                        {"__delta__", "false"},
                        {"cluster", "prod"},
                        {"service_name", "a"}});
  REQUIRE(req.series(0).samples_size() == 2);
  CHECK(req.series(0).samples(0).raw_profile() == "p0");
  CHECK(req.series(0).samples(1).raw_profile() == "p2");
  CHECK(req.series(1).samples(0).raw_profile() == "p1");
  CHECK(req.series(0).samples(0).id().empty());
}

TEST_CASE("every committed profile arrives exactly once, in order, with its labels",
          "[remote_write]") {
  test::PushReceiver receiver;
  Rig rig;
  auto w = rig.start(rig.endpoint(receiver.url()), Labels{{"cluster", "c1"}});
  rig.add(5);  // one request or a few
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 5; }, 10000));
  rig.add(100);  // a backlog larger than one request
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 105; }, 20000));
  std::this_thread::sleep_for(300ms);
  auto got = receiver.received();
  CHECK(receiver.errors().empty());
  REQUIRE(got.size() == 105);
  CHECK(times(got) == expected_times(kT0, 105));
  CHECK(got[0].labels == Labels{{"__name__", "memory"},
                                {"__delta__", "false"},
                                {"cluster", "c1"},
                                {"service_name", "a"}});
  // The profile inside is the stored one.
  CHECK(test::totals(*got[7].profile) == std::vector<int64_t>{102});  // 3rd of the 2nd batch
  // Batching: fewer requests than profiles, none above the profile bound.
  auto attempts = receiver.attempts();
  CHECK(attempts.size() < 105);
  for (const auto& a : attempts) CHECK(a.profiles <= RemoteWriter::kMaxBatchProfiles);
  auto st = rig.outbox();
  CHECK(st.pending == 0);
  CHECK(st.set_aside == 0);
}

TEST_CASE("profiles committed before an endpoint exists are not queued for it", "[remote_write]") {
  test::PushReceiver receiver;
  Rig rig;
  rig.add(3);  // no remote_write yet: nothing is queued
  auto ob = test::must(Outbox::open(rig.storage->path()));
  REQUIRE(ob);
  CHECK(ob->delivered_id("test").value_or(0) == -1);
  rig.start(rig.endpoint(receiver.url()));
  rig.add(2);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 2; }, 10000));
  std::this_thread::sleep_for(300ms);
  CHECK(times(receiver.received()) == expected_times(kT0 + 3'000'000'000LL, 2));
}

TEST_CASE("a receiver that is down for a while gets everything, in order, when back",
          "[remote_write]") {
  int port = test::free_port();
  Rig rig;
  auto cfg = rig.endpoint("http://127.0.0.1:" + std::to_string(port));
  cfg.max_retries = 0;  // retry forever
  auto w = rig.start(cfg);
  rig.add(20);
  // Nothing listens: the writer retries with backoff and keeps everything.
  REQUIRE(test::wait_for([&] { return w->status().consecutive_failures >= 3; }, 10000));
  CHECK(w->status().last_error.find("refused") != std::string::npos);
  CHECK(rig.outbox().pending == 20);
  rig.add(10);  // scraping goes on meanwhile
  test::PushReceiver receiver(port);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 30; }, 15000));
  std::this_thread::sleep_for(300ms);
  CHECK(times(receiver.received()) == expected_times(kT0, 30));
  CHECK(rig.outbox().pending == 0);
}

TEST_CASE("400 is not retried: the offending profile is set aside, the rest delivered",
          "[remote_write]") {
  test::PushReceiver receiver(0, [](const std::vector<Labels>& series) {
    for (const auto& s : series) {
      if (s.get("bad") == "yes") return 400;
    }
    return 200;
  });
  Rig rig;
  rig.add(3);
  rig.start(rig.endpoint(receiver.url()));
  rig.add(2);
  rig.add(1, "a", "yes");  // rejected
  rig.add(2);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 4; }, 10000));
  std::this_thread::sleep_for(300ms);
  auto got = receiver.received();
  REQUIRE(got.size() == 4);
  auto t = times(got);
  CHECK(t == std::vector<int64_t>{kT0 + 3'000'000'000LL, kT0 + 4'000'000'000LL,
                                  kT0 + 6'000'000'000LL, kT0 + 7'000'000'000LL});
  // The bad profile was tried alone exactly once after its batch was split.
  size_t bad_alone = 0;
  for (const auto& a : receiver.attempts()) {
    if (a.profiles == 1 && a.series.size() == 1 && a.series[0].get("bad") == "yes") ++bad_alone;
  }
  CHECK(bad_alone == 1);
  auto st = rig.outbox();
  CHECK(st.set_aside == 1);
  CHECK(st.pending == 0);
  auto ob = test::must(Outbox::open(rig.storage->path()));
  auto aside = test::must(ob->set_aside_list("test", 10));
  REQUIRE(aside.size() == 1);
  CHECK(aside[0].status == 400);
  CHECK(aside[0].error.find("rejected by the endpoint: HTTP 400") != std::string::npos);
  CHECK(aside[0].series.find("bad=\"yes\"") != std::string::npos);
}

TEST_CASE("429 and 503 are retried with backoff until accepted", "[remote_write]") {
  std::atomic<int> calls{0};
  int code = GENERATE(429, 503);
  test::PushReceiver receiver(
      0, [&](const std::vector<Labels>&) { return ++calls <= 3 ? code : 200; });
  Rig rig;
  auto cfg = rig.endpoint(receiver.url());
  cfg.min_backoff = 100ms;
  cfg.max_backoff = 1s;
  rig.start(cfg);
  auto started = std::chrono::steady_clock::now();
  rig.add(4);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 4; }, 15000));
  auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK(times(receiver.received()) == expected_times(kT0, 4));
  CHECK(rig.outbox().set_aside == 0);
  // Three failures: sleeps of at least 100 + 200 + 400 ms before the success.
  CHECK(elapsed >= 700ms);
}

TEST_CASE("429 with retry_on_http_429 false, and exhausted retries, set profiles aside",
          "[remote_write]") {
  test::PushReceiver receiver(0, [](const std::vector<Labels>&) { return 429; });
  Rig rig;
  auto cfg = rig.endpoint(receiver.url());
  cfg.retry_on_http_429 = false;
  rig.start(cfg);
  rig.add(1);
  REQUIRE(test::wait_for([&] { return rig.outbox().set_aside == 1; }, 10000));
  CHECK(receiver.attempts().size() == 1);

  test::PushReceiver failing(0, [](const std::vector<Labels>&) { return 503; });
  auto cfg2 = rig.endpoint(failing.url());
  cfg2.name = "other";
  cfg2.max_retries = 3;
  rig.start(cfg2);
  rig.add(1);
  REQUIRE(test::wait_for([&] { return rig.outbox("other").set_aside == 1; }, 10000));
  CHECK(failing.attempts().size() == 3);
  auto aside =
      test::must(test::must(Outbox::open(rig.storage->path()))->set_aside_list("other", 10));
  REQUIRE(aside.size() == 1);
  CHECK(aside[0].error.find("gave up after 3 attempts: HTTP 503") != std::string::npos);
}

TEST_CASE("a new writer resumes after the last delivered profile", "[remote_write]") {
  test::PushReceiver receiver;
  Rig rig;
  auto w = rig.start(rig.endpoint(receiver.url()));
  rig.add(10);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 10; }, 10000));
  w->stop();
  rig.writers.clear();
  std::this_thread::sleep_for(100ms);
  rig.add(5);  // committed while no writer runs
  rig.start(rig.endpoint(receiver.url()));
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 15; }, 10000));
  std::this_thread::sleep_for(300ms);
  CHECK(times(receiver.received()) == expected_times(kT0, 15));
}

TEST_CASE("what scrapes prepared is sent as it is, a backlog from before is rebuilt from the store",
          "[remote_write]") {
  auto prepared = [](const test::ReceivedProfile& p) {
    for (int64_t c : p.profile->comment()) {
      if (p.profile->string_table(static_cast<int>(c)) == "prepared") return true;
    }
    return false;
  };
  test::PushReceiver receiver;
  Rig rig;
  auto w = rig.start(rig.endpoint(receiver.url()));
  ForwardCache& cache = rig.storage->forward_cache();
  REQUIRE(test::wait_for([&] { return cache.active(); }, 5000));
  rig.add(4, "a", "", true);  // the endpoint keeps up: sent from memory
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 4; }, 10000));
  // The writer records a delivery after the receiver answers: stopping it
  // before then sends those again on restart (at least once), which is not
  // what this test is about (seen under CI's load: 13 received, not 9).
  REQUIRE(test::wait_for([&] { return rig.outbox().pending == 0; }, 10000));
  w->stop();
  rig.writers.clear();
  REQUIRE(test::wait_for([&] { return !cache.active(); }, 5000));
  CHECK(cache.size() == 0);   // nobody forwards: nothing kept
  rig.add(3, "a", "", true);  // committed while no writer runs: only in the store
  rig.start(rig.endpoint(receiver.url()));
  REQUIRE(test::wait_for([&] { return cache.active(); }, 5000));
  rig.add(2, "a", "", true);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 9; }, 10000));
  std::this_thread::sleep_for(300ms);
  auto got = receiver.received();
  REQUIRE(got.size() == 9);
  CHECK(times(got) == expected_times(kT0, 9));
  std::vector<bool> kinds;
  for (const auto& p : got) kinds.push_back(prepared(p));
  CHECK(kinds == std::vector<bool>{true, true, true, true, false, false, false, true, true});
  // Either way the samples are the same.
  CHECK(test::totals(*got[4].profile) == std::vector<int64_t>{100});
  CHECK(test::totals(*got[8].profile) == std::vector<int64_t>{101});
  CHECK(rig.outbox().pending == 0);
}

TEST_CASE("retention deleting undelivered profiles counts them per endpoint", "[remote_write]") {
  test::TempDir dir;
  StorageConfig sc;
  sc.path = dir.file("s.db");
  sc.retention = 1h;
  auto storage = test::must(Storage::open(sc));
  REQUIRE(storage);
  {
    auto ob = test::must(Outbox::open(sc.path));
    REQUIRE(ob->sync_endpoints({"up"}).ok());
  }
  for (int i = 0; i < 3; ++i) {
    ProfileRecord r;
    r.labels = Labels{{"__name__", "memory"}};
    r.scrape_time_ns = kT0 + i;  // 2023: older than the retention
    r.profile = std::make_shared<perftools::profiles::Profile>(
        test::make_profile({{"alloc_space", "bytes"}}, {{{"f"}, {1}}}));
    REQUIRE(storage->append(std::move(r)).ok());
  }
  REQUIRE(storage->flush(10s));
  storage->enforce_limits();
  auto ob = test::must(Outbox::open(sc.path));
  auto st = test::must(ob->status("up"));
  CHECK(st.dropped == 3);
  CHECK(st.pending == 0);
}

TEST_CASE("remote_write goes through a proxy with an OAuth2 token and http_headers",
          "[remote_write][proxy][oauth2]") {
  test::PushReceiver receiver;
  test::TestServer auth([](const test::RecordedRequest&) {
    return test::RawResponse{test::TestServer::response(
        200, "application/json", R"({"access_token":"rw-token","expires_in":3600})")};
  });
  test::ConnectProxy proxy;
  Rig rig;
  auto c = rig.endpoint(receiver.url());
  c.http.proxy.url = proxy.url();  // proxy_url alone proxies loopback too, as in Go
  c.http.headers.push_back({"X-Tenant", {"t1"}, {}, {}});
  c.http.oauth2 = OAuth2Config{};
  c.http.oauth2->client_id = "stoker";
  c.http.oauth2->client_secret = Secret{"s"};
  c.http.oauth2->token_url = auth.base_url() + "/token";
  rig.start(c);
  rig.add(3);
  REQUIRE(test::wait_for([&] { return receiver.received().size() >= 3; }, 10000));
  auto reqs = receiver.requests();
  REQUIRE(!reqs.empty());
  CHECK(reqs.back().header("authorization") == "Bearer rw-token");
  CHECK(reqs.back().header("x-tenant") == "t1");
  auto seen = proxy.requests();
  REQUIRE(!seen.empty());
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].target.rfind(receiver.url() + "/push.v1.PusherService/Push", 0) == 0);
  CHECK(auth.requests().size() == 1);
}
