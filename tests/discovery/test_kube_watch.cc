// Kubernetes discovery over HTTP against the project's fake API server: list,
// watch, bookmarks, 410 relists without churn, bearer token and TLS.
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <mutex>

#include "discovery/kubernetes.h"
#include "tests/support/connect_proxy.h"
#include "tests/support/fake_kube.h"
#include "tests/support/io_thread.h"
#include "tests/support/must.h"
#include "tests/support/process.h"

using namespace stoker;
using namespace std::chrono_literals;
namespace json = boost::json;

namespace {

json::object pod(const std::string& ns, const std::string& name, const std::string& ip,
                 const std::string& node = "node1", int port = 6060) {
  return json::object{
      {"kind", "Pod"},
      {"metadata", json::object{{"name", name},
                                {"namespace", ns},
                                {"uid", name + "-uid"},
                                {"labels", json::object{{"app", name}}}}},
      {"spec", json::object{{"nodeName", node},
                            {"containers",
                             json::array{json::object{
                                 {"name", "app"},
                                 {"image", "app:1"},
                                 {"ports", json::array{json::object{{"name", "pprof"},
                                                                    {"containerPort", port},
                                                                    {"protocol", "TCP"}}}}}}}}},
      {"status", json::object{{"podIP", ip}, {"phase", "Running"}}}};
}

// Collects what a discoverer reports: the last group per source, and how many
// groups arrived in total.
struct Collector {
  std::mutex mu;
  std::map<std::string, TargetGroup> groups;
  size_t updates = 0;
  KubernetesDiscoverer::Sink sink() {
    return [this](std::vector<TargetGroup> gs) {
      std::lock_guard lock(mu);
      for (auto& g : gs) {
        ++updates;
        groups[g.source] = std::move(g);
      }
    };
  }
  size_t live() {
    std::lock_guard lock(mu);
    size_t n = 0;
    for (const auto& [s, g] : groups) n += !g.targets.empty();
    return n;
  }
  std::string address(const std::string& source) {
    std::lock_guard lock(mu);
    auto it = groups.find(source);
    if (it == groups.end() || it->second.targets.empty()) return "";
    return std::string(it->second.targets[0].get("__address__"));
  }
  size_t count() {
    std::lock_guard lock(mu);
    return updates;
  }
};

// A discoverer started on an io_context thread of its own, stopped and
// destroyed there at the end of the scope.
struct Running {
  test::IoThread io{"stoker-k8s-sd"};
  std::unique_ptr<KubernetesDiscoverer> d;
  Running(const KubernetesSdConfig& cfg, Discoverer::Sink sink, const KubernetesOptions& opts) {
    DiscoveryContext ctx;
    ctx.io = &io.io();
    ctx.kubernetes = opts;
    d = test::must(KubernetesDiscoverer::make("job", cfg, ctx));
    io.sync([&] { d->start(std::move(sink)); });
  }
  ~Running() {
    io.sync([&] {
      d->stop();
      d.reset();
    });
  }
};

KubernetesOptions fast() {
  KubernetesOptions o;
  o.min_backoff = 50ms;
  o.max_backoff = 200ms;
  return o;
}

}  // namespace

TEST_CASE("pods are listed, then watched: add, update, delete", "[kube][watch]") {
  test::FakeKube api;
  api.create("Pod", pod("default", "a", "10.0.0.1"));
  api.create("Pod", pod("other", "b", "10.0.0.2"));
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = api.url();
  Collector got;
  Running d(cfg, got.sink(), fast());
  REQUIRE(test::wait_for([&] { return got.live() == 2; }, 5000));
  CHECK(got.address("pod/default/a") == "10.0.0.1:6060");
  REQUIRE(test::wait_for([&] { return api.open_watches() == 1; }, 5000));
  api.create("Pod", pod("default", "c", "10.0.0.3"));
  REQUIRE(test::wait_for([&] { return got.live() == 3; }, 5000));
  api.update("Pod", pod("default", "a", "10.0.0.9"));
  REQUIRE(test::wait_for([&] { return got.address("pod/default/a") == "10.0.0.9:6060"; }, 5000));
  api.remove("Pod", "other", "b");
  REQUIRE(test::wait_for([&] { return got.live() == 2; }, 5000));
  CHECK(got.address("pod/other/b").empty());
  CHECK(api.lists("Pod") == 1);
}

TEST_CASE("an expired version relists, and a relist that changes nothing sends nothing",
          "[kube][watch]") {
  test::FakeKube api;
  api.create("Pod", pod("default", "a", "10.0.0.1"));
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = api.url();
  Collector got;
  Running d(cfg, got.sink(), fast());
  REQUIRE(test::wait_for([&] { return got.live() == 1 && api.open_watches() == 1; }, 5000));
  size_t before = got.count();
  // The server forgets history and drops the watch: re-watching from the old
  // version gets 410, and the discoverer lists again.
  api.compact();
  api.drop_watches();
  REQUIRE(test::wait_for([&] { return api.lists("Pod") == 2 && api.open_watches() == 1; }, 5000));
  CHECK(api.gone() >= 1);
  CHECK(got.count() == before);  // same pods: no target churn
  // Watching goes on from the new list's version.
  api.create("Pod", pod("default", "n", "10.0.0.4"));
  REQUIRE(test::wait_for([&] { return got.live() == 2; }, 5000));
  // A pod deleted while the watch was down is removed by the relist.
  api.compact();
  api.drop_watches();
  api.remove("Pod", "default", "a");
  REQUIRE(test::wait_for([&] { return got.live() == 1; }, 5000));
}

TEST_CASE("a watch that times out resumes from its version, bookmarks advance it",
          "[kube][watch]") {
  test::FakeKube api;
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = api.url();
  Collector got;
  auto opts = fast();
  opts.min_watch_timeout = 1s;
  Running d(cfg, got.sink(), opts);
  REQUIRE(test::wait_for([&] { return api.watches("Pod") >= 3; }, 10000));
  CHECK(api.lists("Pod") == 1);  // resumed, not relisted
  api.bookmark();
  api.create("Pod", pod("default", "late", "10.0.0.5"));
  REQUIRE(test::wait_for([&] { return got.live() == 1; }, 5000));
  CHECK(api.gone() == 0);
}

TEST_CASE("the API is reached over TLS with the bearer token, re-read when it rotates",
          "[kube][watch][tls]") {
  test::TempDir dir;
  test::make_test_certs(dir.path());
  test::FakeKube api({"s3cret-token", dir.file("server.pem"), dir.file("server.key")});
  api.create("Pod", pod("default", "a", "10.0.0.1"));
  test::write_file(dir.file("token"), "wrong-token\n");
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = api.url();
  cfg.http.tls.ca_file = dir.file("ca.pem");
  Authorization a;
  a.credentials_file = dir.file("token");
  cfg.http.authorization = a;
  Collector got;
  Running d(cfg, got.sink(), fast());
  // Refused while the token is wrong, retried with backoff...
  REQUIRE(test::wait_for([&] { return api.unauthorized() >= 2; }, 5000));
  CHECK(got.live() == 0);
  // ...and working once the file holds the right one.
  test::write_file(dir.file("token"), "s3cret-token\n");
  REQUIRE(test::wait_for([&] { return got.live() == 1; }, 5000));
}

TEST_CASE("the API is reached through a CONNECT proxy with an OAuth2 token",
          "[kube][watch][proxy][oauth2]") {
  test::TempDir dir;
  test::make_test_certs(dir.path());
  test::FakeKube api({"kube-token", dir.file("server.pem"), dir.file("server.key")});
  api.create("Pod", pod("default", "a", "10.0.0.1"));
  test::TestServer auth([](const test::RecordedRequest&) {
    return test::RawResponse{test::TestServer::response(
        200, "application/json", R"({"access_token":"kube-token","expires_in":3600})")};
  });
  test::ConnectProxy proxy({{"stoker.test", "127.0.0.1"}}, "X-Proxy-Token");
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = "https://stoker.test:" + std::to_string(api.port());
  cfg.http.tls.ca_file = dir.file("ca.pem");
  cfg.http.proxy.url = proxy.url();
  cfg.http.proxy.connect_headers = {{"X-Proxy-Token", Secret{"p"}}};
  cfg.http.oauth2 = OAuth2Config{};
  cfg.http.oauth2->client_id = "stoker";
  cfg.http.oauth2->token_url = auth.base_url() + "/token";
  Collector got;
  Running d(cfg, got.sink(), fast());
  REQUIRE(test::wait_for([&] { return got.live() == 1; }, 5000));  // listed and watched
  REQUIRE(test::wait_for([&] { return api.open_watches() == 1; }, 5000));
  CHECK(api.unauthorized() == 0);
  auto seen = proxy.requests();
  REQUIRE(seen.size() >= 2);  // the list and the watch, each through its own tunnel
  for (const auto& r : seen) {
    CHECK(r.method == "CONNECT");
    CHECK(r.target == "stoker.test:" + std::to_string(api.port()));
  }
  CHECK(auth.requests().size() == 1);  // one token for both
}
TEST_CASE("selectors and namespaces narrow what is listed and watched", "[kube][watch]") {
  test::FakeKube api;
  api.create("Pod", pod("ns1", "on-mine", "10.0.0.1", "mine"));
  api.create("Pod", pod("ns1", "on-other", "10.0.0.2", "other"));
  api.create("Pod", pod("ns2", "elsewhere", "10.0.0.3", "mine"));
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = api.url();
  cfg.namespaces = {"ns1"};
  cfg.selectors.push_back({"pod", "", "spec.nodeName=mine"});
  Collector got;
  Running d(cfg, got.sink(), fast());
  REQUIRE(test::wait_for([&] { return got.live() == 1; }, 5000));
  CHECK(!got.address("pod/ns1/on-mine").empty());
  // One list for `stoker targets`.
  std::vector<TargetGroup> once;
  CHECK(KubernetesDiscoverer::list_once(cfg, &once).ok());
  REQUIRE(once.size() == 1);
  CHECK(once[0].source == "pod/ns1/on-mine");
}

TEST_CASE("in-cluster mode needs the service environment, failures name what is missing",
          "[kube]") {
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  CHECK_THAT(resolve_kubernetes_connection(cfg, {}).error(),
             Catch::Contains("KUBERNETES_SERVICE_HOST"));

  test::TempDir sa;
  test::write_file(sa.file("token"), "tok");
  test::write_file(sa.file("ca.crt"), "x");
  test::write_file(sa.file("namespace"), "monitoring\n");
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  KubernetesOptions opts;
  opts.service_account_dir = sa.path();
  cfg.own_namespace = true;
  auto conn = test::must(resolve_kubernetes_connection(cfg, opts));
  CHECK(conn.base_url == "https://10.96.0.1:443");
  CHECK(conn.own_namespace == "monitoring");
  REQUIRE(conn.http.authorization);
  CHECK(conn.http.authorization->credentials_file == sa.file("token"));
  CHECK(conn.http.tls.ca_file == sa.file("ca.crt"));
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  ::unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST_CASE("a kubeconfig's current context gives the server, CA data and token", "[kube]") {
  test::TempDir dir;
  test::write_file(dir.file("kubeconfig"),
                   "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
                   "contexts:\n- name: dev\n  context: {cluster: c1, user: u1}\n"
                   "- name: prod\n  context: {cluster: c2, user: u2}\n"
                   "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n"
                   "    certificate-authority-data: aGVsbG8=\n"
                   "- name: c2\n  cluster: {server: https://prod:6443}\n"
                   "users:\n- name: u1\n  user: {token: abc}\n- name: u2\n  user: {token: xyz}\n");
  KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.kubeconfig_file = dir.file("kubeconfig");
  auto conn = test::must(resolve_kubernetes_connection(cfg, {}));
  CHECK(conn.base_url == "https://127.0.0.1:6443");
  REQUIRE(conn.http.authorization);
  CHECK(conn.http.authorization->credentials.value == "abc");
  CHECK(test::read_file(conn.http.tls.ca_file) == "hello");
  std::filesystem::remove_all(conn.temp_dir);
}
