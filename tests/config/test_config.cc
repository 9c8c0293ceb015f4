#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>

#include "config/config.h"
#include "config/web_config.h"
#include "tests/support/process.h"
#include "tests/support/vectors.h"

using namespace stoker;
using namespace std::chrono_literals;

namespace {
std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& e : v) out += e + "\n";
  return out;
}
}  // namespace

namespace {

ConfigResult load(const std::string& yaml, const std::string& dir = "/tmp") {
  return load_config_string(yaml, "test.yaml", dir);
}

// True when some error contains every fragment.
bool has_error(const ConfigResult& r, std::initializer_list<std::string> fragments) {
  for (const auto& e : r.errors) {
    bool all = true;
    for (const auto& f : fragments) all = all && e.find(f) != std::string::npos;
    if (all) return true;
  }
  return false;
}

std::string errors(const ConfigResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e + "\n";
  return out;
}

const ProfileTypeConfig& type(const ScrapeConfig& sc, const std::string& name) {
  for (const auto& p : sc.profiles) {
    if (p.name == name) return p;
  }
  FAIL("no profile type " << name);
  return sc.profiles.front();
}

}  // namespace

TEST_CASE("defaults follow Alloy and Prometheus", "[config]") {
  auto r = load(
      "scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: "
      "['localhost:6060']\n");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.global.scrape_interval == 15s);
  CHECK(c.global.scrape_timeout == 10s);
  CHECK(c.storage.path == "./data/stoker.db");
  CHECK(c.web.listen_address == "127.0.0.1:4040");
  REQUIRE(c.scrape_configs.size() == 1);
  const auto& sc = c.scrape_configs[0];
  CHECK(sc.scrape_interval == 15s);
  CHECK(sc.scrape_timeout == 10s);
  CHECK(sc.scheme == "http");
  CHECK(sc.http.follow_redirects);
  CHECK(sc.delta_seconds(sc.scrape_interval) == 14);
  CHECK(type(sc, "process_cpu").enabled);
  CHECK(type(sc, "process_cpu").delta);
  CHECK(type(sc, "process_cpu").path == "/debug/pprof/profile");
  CHECK(type(sc, "memory").path == "/debug/pprof/allocs");
  CHECK_FALSE(type(sc, "memory").delta);
  CHECK(type(sc, "block").enabled);
  CHECK(type(sc, "mutex").enabled);
  CHECK(type(sc, "goroutine").enabled);
  CHECK_FALSE(type(sc, "fgprof").enabled);
  CHECK(type(sc, "fgprof").delta);
  CHECK_FALSE(type(sc, "godeltaprof_memory").enabled);
  CHECK(type(sc, "godeltaprof_memory").path == "/debug/pprof/delta_heap");
  CHECK(type(sc, "godeltaprof_memory").series_name() == "memory");
}

TEST_CASE("a full config loads", "[config]") {
  stoker::test::TempDir dir;
  stoker::test::write_file(dir.file("token"), "s3cret\n");
  auto r = load(R"(
global:
  scrape_interval: 30s
  scrape_timeout: 20s
  external_labels: {cluster: eu-1}
storage: {path: /var/lib/stoker/db.sqlite, retention: 3d, max_size: 2GiB}
web: {listen_address: "0.0.0.0:4040"}
scrape_configs:
  - job_name: api
    scrape_interval: 1m
    delta_profiling_duration: 30s
    scheme: https
    params: {debug: ["0"]}
    body_size_limit: 50MiB
    bearer_token_file: token
    tls_config: {insecure_skip_verify: true, server_name: api.local}
    follow_redirects: false
    static_configs:
      - targets: [a:6060, b:6060]
        labels: {env: prod}
    profiling_config:
      path_prefix: /app
      memory: {enabled: false}
      godeltaprof_memory: {enabled: true}
      fgprof: {enabled: true}
      custom_trace: {path: /debug/custom, delta: true}
)",
                dir.path());
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& c = *r.config;
  CHECK(c.global.external_labels.get("cluster") == "eu-1");
  CHECK(c.storage.retention == 72h);
  CHECK(c.storage.max_size == 2ull << 30);
  const auto& sc = c.scrape_configs[0];
  CHECK(sc.scrape_interval == 60s);
  CHECK(sc.scrape_timeout == 20s);  // min(global timeout, interval)
  CHECK(sc.delta_seconds(sc.scrape_interval) == 30);
  CHECK(sc.body_size_limit == 50ull << 20);
  REQUIRE(sc.http.authorization);
  CHECK(sc.http.authorization->type == "Bearer");
  CHECK(sc.http.authorization->credentials_file == dir.file("token"));
  CHECK(sc.http.tls.insecure_skip_verify);
  CHECK_FALSE(sc.http.follow_redirects);
  CHECK(sc.path_prefix == "/app");
  CHECK_FALSE(type(sc, "memory").enabled);
  CHECK(type(sc, "godeltaprof_memory").enabled);
  CHECK(type(sc, "custom_trace").enabled);
  CHECK(type(sc, "custom_trace").delta);
  CHECK(type(sc, "custom_trace").path == "/debug/custom");
  CHECK(sc.static_configs[0].targets.size() == 2);
  CHECK(sc.static_configs[0].labels.get("env") == "prod");
}

TEST_CASE("errors name file, line, column and key path", "[config]") {
  auto r = load("global:\n  scrape_intervall: 15s\n");
  REQUIRE_FALSE(r.config);
  CHECK(has_error(r, {"test.yaml:2:3:", "global.scrape_intervall", "unknown key"}));

  r = load("scrape_configs:\n  - job_name: a\n    scrape_interval: 15\n");
  CHECK(has_error(r, {"test.yaml:3:22:", "scrape_configs[0].scrape_interval", "missing unit"}));

  r = load("scrape_configs:\n  - job_name: a\n    body_size_limit: 50XB\n");
  CHECK(has_error(r, {"test.yaml:3:22:", "body_size_limit", "not a valid size"}));

  r = load("scrape_configs:\n  - job_name: a\n    follow_redirects: maybe\n");
  CHECK(has_error(r, {"test.yaml:3:23:", "follow_redirects", "expected true or false"}));

  r = load("scrape_configs:\n  - job_name: [a]\n");
  CHECK(has_error(r, {"test.yaml:2:15:", "job_name", "expected a string"}));

  r = load("global: {scrape_interval: 1m30s}\nglobal: {}\n");
  CHECK(has_error(r, {"test.yaml:2:1:", "already set"}));

  r = load("scrape_configs: [\n");
  CHECK(has_error(r, {"test.yaml:", "invalid YAML"}));
}

TEST_CASE("every error is reported, not just the first", "[config]") {
  auto r = load(
      "global: {foo: 1}\nscrape_configs:\n  - job_name: a\n    bar: 2\n    scrape_timeout: soon\n");
  CHECK(r.errors.size() == 3);
}

TEST_CASE("later-issue sections are rejected as not supported yet", "[config]") {
  for (const char* key : {"metric_relabel_configs"}) {
    auto r = load(std::string("scrape_configs:\n  - job_name: a\n    ") + key + ": []\n");
    CHECK(has_error(r, {"test.yaml:3:5:", key, "not supported yet"}));
  }
}

TEST_CASE("http_headers, proxies and oauth2 load with Prometheus' rules and words",
          "[config][http]") {
  stoker::test::TempDir dir;
  stoker::test::write_file(dir.file("tenant"), "t-1\n");
  stoker::test::write_file(dir.file("secret"), "s3cret\n");
  auto ok = load_config_string(
      "scrape_configs:\n  - job_name: a\n"
      "    http_headers:\n"
      "      X-Scope-OrgID: {values: [a, b], secrets: [hidden], files: [tenant]}\n"
      "    proxy_url: http://user:pw@proxy.local:3128\n"
      "    no_proxy: 10.0.0.0/8,.internal\n"
      "    proxy_connect_header: {Proxy-Token: [tok1, tok2]}\n"
      "    oauth2:\n"
      "      client_id: stoker\n      client_secret_file: secret\n"
      "      scopes: [profiles.read, x]\n      token_url: https://auth.local/token\n"
      "      endpoint_params: {audience: pyroscope}\n"
      "      proxy_from_environment: true\n"
      "    static_configs: [{targets: ['a:1']}]\n"
      "remote_write:\n  - url: http://r\n    http_headers: {X-A: {values: [1]}}\n"
      "    proxy_url: http://p:8080\n",
      "c.yaml", dir.path());
  INFO(errors(ok));
  REQUIRE(ok.config);
  const auto& h = ok.config->scrape_configs[0].http;
  REQUIRE(h.headers.size() == 1);
  CHECK(h.headers[0].name == "X-Scope-OrgID");
  CHECK(h.headers[0].values == std::vector<std::string>{"a", "b"});
  CHECK(h.headers[0].secrets.at(0).value == "hidden");
  CHECK(h.headers[0].files == std::vector<std::string>{dir.file("tenant")});
  CHECK(h.proxy.url == "http://user:pw@proxy.local:3128");
  CHECK(h.proxy.no_proxy == "10.0.0.0/8,.internal");
  REQUIRE(h.proxy.connect_headers.size() == 2);
  CHECK(h.proxy.connect_headers[1].second.value == "tok2");
  REQUIRE(h.oauth2);
  CHECK(h.oauth2->client_id == "stoker");
  CHECK(h.oauth2->client_secret_file == dir.file("secret"));
  CHECK(h.oauth2->scopes.size() == 2);
  CHECK(h.oauth2->token_url == "https://auth.local/token");
  CHECK(h.oauth2->endpoint_params.at("audience") == "pyroscope");
  CHECK(h.oauth2->proxy.from_environment);
  CHECK(ok.config->remote_write[0].http.proxy.url == "http://p:8080");
  // The config shown by the API holds none of the secrets.
  const std::string& shown = ok.config->redacted_yaml;
  CHECK(shown.find("hidden") == std::string::npos);
  CHECK(shown.find("tok1") == std::string::npos);
  CHECK(shown.find(":pw@") == std::string::npos);
  CHECK(shown.find("http://user:<secret>@proxy.local:3128") != std::string::npos);
  CHECK(
      shown.find("values:\n          - a\n          - b\n        secrets:\n          - <secret>") !=
      std::string::npos);

  auto job = [](const std::string& body) {
    return load("scrape_configs:\n  - job_name: a\n" + body);
  };
  CHECK(has_error(job("    http_headers: {Authorization: {values: [x]}}\n"),
                  {"test.yaml:3:35:", "setting header \"Authorization\" is not allowed"}));
  CHECK(has_error(job("    http_headers: {user-agent: {values: [x]}}\n"),
                  {"setting header \"User-Agent\" is not allowed"}));
  CHECK(has_error(job("    http_headers: {X-A: {value: [x]}}\n"), {"unknown key \"value\""}));
  CHECK(has_error(job("    http_headers: {\"a b\": {values: [x]}}\n"),
                  {"\"a b\" is not a valid HTTP header name"}));
  CHECK(has_error(job("    http_headers: {X-A: {files: [/nonexistent/h]}}\n"),
                  {"cannot read file \"/nonexistent/h\""}));
  CHECK(has_error(job("    no_proxy: localhost\n"),
                  {"if no_proxy is configured, proxy_url must also be configured"}));
  CHECK(has_error(job("    proxy_from_environment: true\n    proxy_url: http://p:1\n"),
                  {"if proxy_from_environment is configured, proxy_url must not be configured"}));
  CHECK(has_error(job("    proxy_from_environment: true\n    no_proxy: a\n"),
                  {"if proxy_from_environment is configured, no_proxy must not be configured"}));
  CHECK(has_error(job("    proxy_connect_header: {A: [b]}\n"),
                  {"if proxy_connect_header is configured, proxy_url or proxy_from_environment "
                   "must also be configured"}));
  CHECK(has_error(job("    proxy_url: socks5://p:1080\n"), {"stoker supports http:// proxies"}));
  CHECK(has_error(job("    oauth2: {token_url: http://t}\n"),
                  {"oauth2 client_id must be configured"}));
  CHECK(has_error(job("    oauth2: {client_id: a}\n"), {"oauth2 token_url must be configured"}));
  CHECK(has_error(job("    oauth2: {client_id: a, token_url: http://t, client_secret: b, "
                      "client_secret_file: /etc/hostname}\n"),
                  {"at most one of oauth2 client_secret, client_secret_file & client_secret_ref "
                   "must be configured"}));
  CHECK(has_error(job("    oauth2: {client_id: a, token_url: http://t}\n    bearer_token: x\n"),
                  {"at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
                   "configured"}));
  CHECK(has_error(job("    oauth2: {client_id: a, token_url: http://t}\n"
                      "    basic_auth: {username: u}\n"),
                  {"at most one of basic_auth, oauth2 & authorization must be configured"}));
  CHECK(has_error(job("    oauth2: {client_id: a, token_url: http://t}\n"
                      "    authorization: {credentials: c}\n"),
                  {"at most one of basic_auth, oauth2 & authorization must be configured"}));
  CHECK(has_error(job("    oauth2: {client_id: a, token_url: http://t, no_proxy: x}\n"),
                  {"if no_proxy is configured, proxy_url must also be configured"}));
  // Every HTTP client section takes the keys.
  CHECK(load("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs:\n"
             "      - role: pod\n        api_server: https://k:6443\n"
             "        proxy_url: http://p:3128\n        http_headers: {X-A: {values: [1]}}\n"
             "    http_sd_configs:\n      - url: http://sd/\n        oauth2: "
             "{client_id: a, token_url: http://t}\n")
            .config);
}

TEST_CASE("dns_sd_configs: defaults, types and Prometheus' errors", "[config][dns]") {
  auto r = load(
      "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n"
      "      - names: [_pprof._tcp.example.com]\n"
      "      - names: [db.example.com, web]\n        type: aaaa\n        port: 6060\n"
      "        refresh_interval: 1m\n");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& d = r.config->scrape_configs[0].dns_sd_configs;
  REQUIRE(d.size() == 2);
  CHECK(d[0].type == "SRV");
  CHECK(d[0].port == 0);
  CHECK(d[0].refresh_interval == std::chrono::seconds(30));
  CHECK(d[1].type == "AAAA");
  CHECK(d[1].port == 6060);
  CHECK(d[1].names.size() == 2);
  CHECK(d[1].refresh_interval == std::chrono::minutes(1));
  auto sd = [](const std::string& body) {
    return load("scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - " + body);
  };
  CHECK(has_error(sd("type: A\n"),
                  {"test.yaml:4:9:", "DNS-SD config must contain at least one SRV record name"}));
  CHECK(has_error(sd("names: [a]\n        type: TXT\n"),
                  {"test.yaml:5:15:", "invalid DNS-SD records type TXT"}));
  for (const char* t : {"A", "AAAA", "MX", "NS"}) {
    CHECK(has_error(sd(std::string("names: [a]\n        type: ") + t + "\n"),
                    {"a port is required in DNS-SD configs for all record types except SRV"}));
  }
  CHECK(has_error(sd("names: [a]\n        port: 70000\n"), {"port must be between 0 and 65535"}));
  CHECK(has_error(sd("names: [a]\n        server: x\n"), {"unknown key \"server\""}));
  // Prometheus' own good config with DNS SD loads.
  auto doc = stoker::test::load_vectors("config_testdata_cases.json").as_object();
  int loaded = 0;
  for (const auto& cv : doc.at("good").as_array()) {
    const auto& c = cv.as_object();
    if (c.at("filename") != "scrape_interval_larger.good.yml") continue;
    auto g = load_config_string(std::string(c.at("yaml").as_string()), "s.yml", "/tmp");
    INFO(errors(g));
    REQUIRE(g.config);
    const auto& dc = g.config->scrape_configs[0].dns_sd_configs;
    REQUIRE(dc.size() == 2);
    CHECK(dc[0].refresh_interval == std::chrono::seconds(15));
    CHECK(dc[0].names.size() == 2);
    CHECK(dc[1].refresh_interval == std::chrono::seconds(30));
    ++loaded;
  }
  CHECK(loaded == 1);
}

TEST_CASE("remote_write endpoints load with Alloy's defaults", "[config]") {
  auto r = load(
      "remote_write:\n"
      "  - url: http://pyroscope:4040/\n"
      "  - url: https://profiles.example.net\n"
      "    name: cloud\n"
      "    remote_timeout: 30s\n"
      "    headers: {X-Scope-OrgID: tenant-1}\n"
      "    basic_auth: {username: '123', password: s3cret}\n"
      "    min_backoff: 1s\n    max_backoff: 1m\n    max_retries: 0\n"
      "    retry_on_http_429: false\n");
  INFO(r.errors.size());
  REQUIRE(r.config);
  const auto& rw = r.config->remote_write;
  REQUIRE(rw.size() == 2);
  CHECK(rw[0].url == "http://pyroscope:4040");
  CHECK(rw[0].key() == "http://pyroscope:4040");
  CHECK(rw[0].remote_timeout == std::chrono::seconds(10));
  CHECK(rw[0].min_backoff == std::chrono::milliseconds(500));
  CHECK(rw[0].max_backoff == std::chrono::minutes(5));
  CHECK(rw[0].max_retries == 10);
  CHECK(rw[0].retry_on_http_429);
  CHECK(rw[1].key() == "cloud");
  CHECK(rw[1].remote_timeout == std::chrono::seconds(30));
  CHECK(rw[1].headers ==
        std::vector<std::pair<std::string, std::string>>{{"X-Scope-OrgID", "tenant-1"}});
  REQUIRE(rw[1].http.basic_auth);
  CHECK(rw[1].http.basic_auth->password.value == "s3cret");
  CHECK(rw[1].max_retries == 0);
  CHECK_FALSE(rw[1].retry_on_http_429);
  // The config shown by the API has no secret in it.
  CHECK(r.config->redacted_yaml.find("s3cret") == std::string::npos);
  CHECK(r.config->redacted_yaml.find("<secret>") != std::string::npos);
  CHECK(r.config->redacted_yaml.find("tenant-1") != std::string::npos);
}

TEST_CASE("bad remote_write endpoints are rejected with their position", "[config]") {
  CHECK(has_error(load("remote_write:\n  - name: x\n"), {"test.yaml:2:5:", "url is required"}));
  CHECK(has_error(load("remote_write:\n  - url: pyroscope:4040\n"),
                  {"test.yaml:2:10:", "remote_write[0].url", "http:// or https://"}));
  auto creds = load("remote_write:\n  - url: https://u:p4ss@host/x\n");
  CHECK(has_error(creds, {"url must not contain credentials"}));
  for (const auto& e : creds.errors) CHECK(e.find("p4ss") == std::string::npos);
  CHECK(has_error(load("remote_write:\n  - url: http://a\n  - url: http://a/\n"),
                  {"remote_write[1]", "configured twice"}));
  CHECK(has_error(load("remote_write:\n  - url: http://a\n    headers: {Authorization: x}\n"),
                  {"authorization header must be changed via the basic_auth"}));
  CHECK(has_error(load("remote_write:\n  - url: http://a\n    headers: {Content-Type: x}\n"),
                  {"Content-Type is a reserved header"}));
  CHECK(has_error(
      load("remote_write:\n  - url: http://a\n    min_backoff: 1m\n    max_backoff: 1s\n"),
      {"min_backoff (1m) must not be greater than max_backoff (1s)"}));
  CHECK(has_error(
      load(
          "remote_write:\n  - url: http://a\n    bearer_token: a\n    basic_auth: {username: u}\n"),
      {"at most one of basic_auth, oauth2, bearer_token"}));
  CHECK(has_error(load("remote_write:\n  - url: http://a\n    queue_config: {}\n"),
                  {"unknown key \"queue_config\""}));
  CHECK(has_error(load("remote_write: {url: http://a}\n"), {"expected a list"}));
}

TEST_CASE("kubernetes_sd_configs load with Prometheus' keys", "[config][kube]") {
  auto r = load(
      "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n"
      "      - role: pod\n        namespaces: {names: [a, b]}\n"
      "        selectors: [{role: pod, field: 'spec.nodeName=n1', label: 'app in (x, y),!canary'},"
      " {role: node, label: 'node-type=worker'}]\n"
      "        attach_metadata: {node: true, namespace: true}\n"
      "      - role: endpointslice\n        api_server: https://k8s.example:6443\n"
      "        bearer_token: t0k\n        tls_config: {insecure_skip_verify: true}\n");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& k = r.config->scrape_configs[0].kubernetes_sd_configs;
  REQUIRE(k.size() == 2);
  CHECK(k[0].role == "pod");
  CHECK(k[0].namespaces == std::vector<std::string>{"a", "b"});
  REQUIRE(k[0].selectors.size() == 2);
  CHECK(k[0].selectors[0].field == "spec.nodeName=n1");
  CHECK(k[0].attach_metadata.node);
  CHECK(k[0].attach_metadata.namespace_);
  CHECK(k[1].api_server == "https://k8s.example:6443");
  REQUIRE(k[1].http.authorization);
  CHECK(k[1].http.authorization->credentials.value == "t0k");
  CHECK(r.config->redacted_yaml.find("t0k") == std::string::npos);
}

TEST_CASE("bad kubernetes_sd_configs are rejected with Prometheus' messages", "[config][kube]") {
  auto k8s = [](const std::string& body) {
    return load("scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - " + body);
  };
  CHECK(
      has_error(k8s("namespaces: {names: [a]}\n"),
                {"role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"}));
  CHECK(has_error(k8s("role: pods\n"), {"test.yaml:4:15:", "unknown Kubernetes SD role \"pods\""}));
  CHECK(has_error(
      k8s("role: pod\n        api_server: http://a\n        namespaces: {own_namespace: true}\n"),
      {"cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"}));
  CHECK(has_error(
      k8s("role: pod\n        bearer_token: x\n"),
      {"to use custom HTTP client configuration please provide the 'api_server' URL explicitly"}));
  CHECK(has_error(k8s("role: pod\n        selectors: [{role: pod}, {role: pod}]\n"),
                  {"duplicated selector role: pod"}));
  CHECK(has_error(k8s("role: service\n        selectors: [{role: pod}]\n"),
                  {"service role supports only service selectors"}));
  CHECK(has_error(k8s("role: endpoints\n        selectors: [{role: node}]\n"),
                  {"endpoints role supports only pod, service, endpoints selectors"}));
  CHECK(has_error(
      k8s("role: pod\n        selectors: [{role: pod, field: 'metadata.status-Running'}]\n"),
      {"invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'"}));
  CHECK(has_error(k8s("role: pod\n        api_server: k8s:6443\n"),
                  {"api_server must be an http:// or https:// URL"}));
}

TEST_CASE("job names must be present and unique", "[config]") {
  auto r = load("scrape_configs:\n  - scrape_interval: 5s\n");
  CHECK(has_error(r, {"job_name is empty"}));
  r = load("scrape_configs:\n  - job_name: ''\n");
  CHECK(has_error(r, {"job_name is empty"}));
  r = load("scrape_configs:\n  - job_name: a\n  - job_name: a\n");
  CHECK(has_error(r, {"test.yaml:3:5:", "found multiple scrape configs with job name \"a\""}));
  r = load("scrape_configs:\n  -\n");
  CHECK(has_error(r, {"empty or null scrape config section"}));
}

TEST_CASE("timeouts follow Prometheus' rules", "[config]") {
  auto r = load("global: {scrape_interval: 5s, scrape_timeout: 10s}\n");
  CHECK(has_error(r, {"global scrape timeout greater than scrape interval"}));
  r = load("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 6s\n");
  CHECK(has_error(
      r, {"test.yaml:4:21:",
          "scrape timeout greater than scrape interval for scrape config with job name \"a\""}));
  // An inferred timeout is clamped to the interval, not rejected.
  r = load("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n");
  REQUIRE(r.config);
  CHECK(r.config->scrape_configs[0].scrape_timeout == 5s);
}

TEST_CASE("delta profiling bounds follow Alloy", "[config]") {
  auto r = load("scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n");
  CHECK(has_error(r, {"scrape_interval must be at least 2 seconds when using delta profiling"}));
  r = load("scrape_configs:\n  - job_name: a\n    delta_profiling_duration: 15s\n");
  CHECK(has_error(r, {"test.yaml:3:31:", "delta_profiling_duration must be more than 1s"}));
  r = load("scrape_configs:\n  - job_name: a\n    delta_profiling_duration: 1s\n");
  CHECK(has_error(r, {"delta_profiling_duration must be more than 1s"}));
  // Without any delta type enabled, a short interval is fine.
  r = load(
      "scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    profiling_config:\n      "
      "process_cpu: {enabled: false}\n");
  CHECK(r.config);
  r = load("scrape_configs:\n  - job_name: a\n    params: {seconds: ['5']}\n");
  CHECK(has_error(r, {"params.seconds", "delta_profiling_duration"}));
}

TEST_CASE("at most one authentication method", "[config]") {
  auto r = load(
      "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    basic_auth: {username: u, "
      "password: p}\n");
  CHECK(has_error(
      r,
      {"at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    authorization: "
      "{credentials: y}\n");
  CHECK(has_error(r, {"at most one of basic_auth, oauth2 & authorization must be configured"}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    authorization: {credentials: "
      "y}\n");
  CHECK(has_error(r, {"authorization is not compatible with bearer_token & bearer_token_file"}));
  r = load("scrape_configs:\n  - job_name: a\n    authorization: {type: Basic, credentials: y}\n");
  CHECK(
      has_error(r, {"authorization type cannot be set to \"basic\", use \"basic_auth\" instead"}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: "
      "/etc/hostname}\n");
  CHECK(has_error(r, {"at most one of basic_auth password & password_file must be configured"}));
  r = load("scrape_configs:\n  - job_name: a\n    bearer_token: x\n");
  REQUIRE(r.config);
  CHECK(r.config->scrape_configs[0].http.authorization->credentials.value == "x");
}

TEST_CASE("referenced files must be readable", "[config]") {
  auto r = load("scrape_configs:\n  - job_name: a\n    bearer_token_file: /nonexistent/token\n");
  CHECK(has_error(r, {"test.yaml:3:24:", "cannot read file \"/nonexistent/token\""}));
  r = load("scrape_configs:\n  - job_name: a\n    tls_config: {cert_file: /etc/hostname}\n");
  CHECK(has_error(r, {"exactly one of key or key_file must be configured"}));
  r = load("scrape_configs:\n  - job_name: a\n    tls_config: {ca_file: missing-ca.pem}\n",
           "/nonexistent-dir");
  CHECK(has_error(r, {"/nonexistent-dir/missing-ca.pem"}));
}

TEST_CASE("static targets are host:port", "[config]") {
  auto r = load(
      "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: "
      "['http://bad:6060']\n");
  CHECK(has_error(r, {"test.yaml:4:19:", "\"http://bad:6060\" is not a valid hostname"}));
  r = load("scrape_configs:\n  - job_name: a\n    scheme: ftp\n");
  CHECK(has_error(r, {"unknown scrape scheme \"ftp\""}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    profiling_config:\n      custom: {enabled: true}\n");
  CHECK(has_error(r, {"custom profile type \"custom\" needs a path"}));
}

TEST_CASE("external labels expand the environment", "[config]") {
  ::setenv("STOKER_TEST_REGION", "eu", 1);
  auto r = load("global:\n  external_labels: {region: '${STOKER_TEST_REGION}', lit: 'a$$b'}\n");
  REQUIRE(r.config);
  CHECK(r.config->global.external_labels.get("region") == "eu");
  CHECK(r.config->global.external_labels.get("lit") == "a$b");
}

TEST_CASE("the embedded default scrapes localhost:6060", "[config]") {
  Config c = default_config();
  REQUIRE(c.scrape_configs.size() == 1);
  CHECK(c.scrape_configs[0].job_name == "local");
  CHECK(c.scrape_configs[0].static_configs[0].targets[0] == "localhost:6060");
  CHECK(c.storage.path == "./data/stoker.db");
}

TEST_CASE("the example configs load", "[config]") {
  for (const char* f :
       {"/examples/local.yaml", "/examples/forward.yaml", "/examples/central.yaml"}) {
    auto r = load_config_file(std::string(STOKER_SOURCE_DIR) + f);
    INFO(f << ": " << errors(r));
    CHECK(r.config);
  }
}

TEST_CASE("relabel rules load with Prometheus' defaults", "[config][relabel]") {
  auto r = load(R"(
scrape_configs:
  - job_name: a
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.*):6060'
        target_label: host
      - action: Drop
        source_labels: [env]
        regex: dev
      - {action: hashmod, source_labels: [__address__], modulus: 4, target_label: __tmp_shard}
      - regex:
        target_label: empty_regex
    profile_relabel_configs:
      - {action: labeldrop, regex: team}
)");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& sc = r.config->scrape_configs[0];
  REQUIRE(sc.relabel_configs.size() == 4);
  const auto& first = sc.relabel_configs[0];
  CHECK(first.action == "replace");
  CHECK(first.separator == ";");
  CHECK(first.replacement == "$1");
  CHECK_FALSE(first.regex_is_default);
  CHECK(sc.relabel_configs[1].action == "drop");  // case-insensitive
  CHECK(sc.relabel_configs[1].regex_is_default == false);
  CHECK(sc.relabel_configs[2].modulus == 4);
  CHECK(sc.relabel_configs[2].regex_is_default);
  CHECK(sc.relabel_configs[3].regex.empty());  // a null regex matches only ""
  CHECK(sc.relabel->size() == 4);
  CHECK(sc.profile_relabel->size() == 1);
}

TEST_CASE("bad relabel rules are errors at their position", "[config][relabel]") {
  auto r =
      load("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: replace\n");
  CHECK(has_error(r, {"test.yaml:4:9:", "relabel_configs[0]",
                      "relabel configuration for replace action requires 'target_label' value"}));
  r = load("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: explode}\n");
  CHECK(has_error(r, {"unknown relabel action \"explode\""}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {target_label: x, regex: "
      "'abc(def'}\n");
  CHECK(has_error(r, {"test.yaml:4:34:", "relabel_configs[0].regex", "error parsing regexp"}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: hashmod, "
      "target_label: x}\n");
  CHECK(has_error(r, {"relabel configuration for hashmod requires non-zero modulus"}));
  r = load("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action:\n");
  CHECK(has_error(r, {"relabel action cannot be empty"}));
  r = load("scrape_configs:\n  - job_name: a\n    relabel_configs:\n      -\n");
  CHECK(has_error(r, {"empty or null target relabeling rule in scrape config"}));
  r = load(
      "scrape_configs:\n  - job_name: a\n    profile_relabel_configs:\n      - {action: labelkeep, "
      "regex: a, target_label: b}\n");
  CHECK(has_error(r, {"profile_relabel_configs[0]",
                      "labelkeep action requires only 'regex', and no other fields"}));
  // With relabeling, a static address may still be rewritten, so it is not checked at load.
  r = load(
      "scrape_configs:\n  - job_name: a\n    relabel_configs: [{source_labels: [x], target_label: "
      "y}]\n    static_configs: [{targets: ['http://h:1']}]\n");
  CHECK(r.config);
}

TEST_CASE("file_sd_configs load and validate their paths", "[config][discovery]") {
  auto r = load(
      "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [targets/*.json, "
      "b.yml]\n        refresh_interval: 30s\n",
      "/etc/stoker");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& fc = r.config->scrape_configs[0].file_sd_configs.at(0);
  CHECK(fc.files == std::vector<std::string>{"/etc/stoker/targets/*.json", "/etc/stoker/b.yml"});
  CHECK(fc.refresh_interval == 30s);
  r = load("scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [a/*/b.json]}]\n");
  CHECK(has_error(r,
                  {"test.yaml:3:32:", "path name \"a/*/b.json\" is not valid for file discovery"}));
  r = load("scrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [targets.txt]}]\n");
  CHECK(has_error(r, {"path name \"targets.txt\" is not valid for file discovery"}));
  r = load("scrape_configs:\n  - job_name: a\n    file_sd_configs: [{refresh_interval: 1m}]\n");
  CHECK(has_error(r, {"file service discovery config must contain at least one path name"}));
}

TEST_CASE("limits load and are inherited from global", "[config][limits]") {
  auto r = load(
      "global: {label_limit: 30, target_limit: 100}\nscrape_configs:\n  - job_name: a\n    "
      "target_limit: 5\n"
      "    label_value_length_limit: 200\n  - job_name: b\n");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& a = r.config->scrape_configs[0].limits;
  CHECK(a.target_limit == 5);
  CHECK(a.label_limit == 30);
  CHECK(a.label_value_length_limit == 200);
  CHECK(r.config->scrape_configs[1].limits.target_limit == 100);
  r = load("scrape_configs:\n  - job_name: a\n    label_limit: -1\n");
  CHECK(has_error(r, {"test.yaml:3:18:", "label_limit", "expected a non-negative integer"}));
}

TEST_CASE("sample_label_series_limit: 1000 unless set, 0 is no cap, in global, job and receive",
          "[config][limits]") {
  auto r = load("scrape_configs:\n  - job_name: a\n");
  REQUIRE(r.config);
  CHECK(r.config->scrape_configs[0].sample_label_series_limit == 1000);
  CHECK(r.config->receive.sample_label_series_limit == 1000);
  r = load(
      "global: {sample_label_series_limit: 50}\nreceive: {sample_label_series_limit: 7}\n"
      "scrape_configs:\n  - job_name: a\n  - job_name: b\n    sample_label_series_limit: 0\n");
  INFO(errors(r));
  REQUIRE(r.config);
  CHECK(r.config->scrape_configs[0].sample_label_series_limit == 50);
  CHECK(r.config->scrape_configs[1].sample_label_series_limit == 0);  // explicitly no cap
  CHECK(r.config->receive.sample_label_series_limit == 7);
  r = load("global: {sample_label_series_limit: 20}\n");
  REQUIRE(r.config);
  CHECK(r.config->receive.sample_label_series_limit == 20);
  r = load("scrape_configs:\n  - job_name: a\n    sample_label_series_limit: lots\n");
  CHECK(has_error(
      r, {"test.yaml:3:32:", "sample_label_series_limit", "expected a non-negative integer"}));
}

TEST_CASE("bad configs from Prometheus' testdata are rejected for the same reason",
          "[config][conformance]") {
  auto doc = stoker::test::load_vectors("config_testdata_cases.json").as_object();
  // Where Prometheus' message is Go-specific (yaml.v2 wording) or names a section
  // stoker does not implement, stoker's own message for the same condition.
  const std::map<std::string, std::string> ours = {
      {"unknown_attr.bad.yml", "consult_sd_configs: unknown key \"consult_sd_configs\""},
      {"unknown_global_attr.bad.yml",
       "global.nonexistent_field: unknown key \"nonexistent_field\""},
      {"section_key_dup.bad.yml", "key \"scrape_configs\" is already set in this mapping"},
      {"empty_metric_relabel_config.bad.yml", "\"metric_relabel_configs\" is not supported yet"},
      {"scrape_body_size_limit.bad.yml", "not a valid size: \"100\" has no unit"},
  };
  stoker::test::TempDir dir;
  int checked = 0;
  for (const auto& cv : doc.at("bad").as_array()) {
    const auto& c = cv.as_object();
    if (c.at("relevance") != "scrape/relabel/http") continue;
    std::string name(c.at("filename").as_string());
    stoker::test::write_file(dir.file(name), std::string(c.at("yaml").as_string()));
    auto r = load_config_file(dir.file(name));
    auto it = ours.find(name);
    std::string want =
        it != ours.end() ? it->second : std::string(c.at("expected_error_contains").as_string());
    INFO(name << " should fail with: " << want << "\ngot:\n" << errors(r));
    CHECK_FALSE(r.config);
    CHECK(has_error(r, {want}));
    CHECK(has_error(r, {dir.file(name) + ":"}));
    ++checked;
  }
  CHECK(checked == 40);
  // The Kubernetes SD bad configs: Prometheus' words, except where its message
  // is Go's YAML decoder speaking.
  int k8s = 0;
  for (const auto& cv : doc.at("bad").as_array()) {
    const auto& c = cv.as_object();
    if (c.at("relevance") != "kubernetes_sd") continue;
    std::string name(c.at("filename").as_string());
    std::string want = name == "kubernetes_namespace_discovery.bad.yml"
                           ? "unknown key \"foo\""
                           : std::string(c.at("expected_error_contains").as_string());
    auto r = load_config_string(std::string(c.at("yaml").as_string()), name, dir.path());
    INFO(name << " should fail with: " << want << "\ngot:\n" << errors(r));
    CHECK_FALSE(r.config);
    CHECK(has_error(r, {want}));
    ++k8s;
  }
  CHECK(k8s == 17);
  // The good configs that lie wholly inside what stoker implements load, with
  // Prometheus' values. (kubernetes_kubeconfig_without_apiserver.good.yml names
  // a kubeconfig that does not exist here; stoker checks that files are readable.)
  for (const auto& cv : doc.at("good").as_array()) {
    const auto& c = cv.as_object();
    std::string name(c.at("filename").as_string());
    if (name.rfind("kubernetes_", 0) != 0 || name.find("kubeconfig") != std::string::npos) continue;
    auto r = load_config_string(std::string(c.at("yaml").as_string()), name, dir.path());
    INFO(name << "\n" << errors(r));
    CHECK(r.config);
  }
  for (const auto& cv : doc.at("good").as_array()) {
    const auto& c = cv.as_object();
    std::string name(c.at("filename").as_string());
    if (name != "global_timeout.good.yml" && name != "external_labels.good.yml") continue;
    auto r = load_config_string(std::string(c.at("yaml").as_string()), name, dir.path());
    INFO(name << "\n" << errors(r));
    REQUIRE(r.config);
    if (name == "external_labels.good.yml") {
      CHECK(r.config->global.external_labels.get("qux") == "foo${TEST}");
      CHECK(r.config->global.external_labels.get("xyz") == "foo$bar");
    }
  }
}

TEST_CASE("the expand-env option replaces environment variables in the whole file", "[config]") {
  stoker::test::TempDir dir;
  stoker::test::write_file(
      dir.file("c.yaml"),
      "scrape_configs:\n  - job_name: ${STOKER_TEST_JOB}\n    static_configs:\n"
      "      - targets: ['$STOKER_TEST_HOST:6060']\n        labels: {cost: '$$5'}\n");
  ::setenv("STOKER_TEST_JOB", "from-env", 1);
  ::setenv("STOKER_TEST_HOST", "10.0.0.7", 1);
  auto r = load_config_file(dir.file("c.yaml"), true);
  INFO(errors(r));
  REQUIRE(r.config);
  CHECK(r.config->scrape_configs[0].job_name == "from-env");
  CHECK(r.config->scrape_configs[0].static_configs[0].targets[0] == "10.0.0.7:6060");
  CHECK(r.config->scrape_configs[0].static_configs[0].labels.get("cost") == "$5");
  // Without the flag, the text is taken literally.
  auto literal = load_config_file(dir.file("c.yaml"));
  REQUIRE(literal.config);
  CHECK(literal.config->scrape_configs[0].job_name == "${STOKER_TEST_JOB}");
  ::unsetenv("STOKER_TEST_JOB");
  ::unsetenv("STOKER_TEST_HOST");
}

TEST_CASE("the query section bounds what one query may cost", "[config]") {
  auto r = load("query: {max_range: 7d, max_profiles: 5000, max_nodes: 65536, timeout: 5s}\n");
  INFO(errors(r));
  REQUIRE(r.config);
  CHECK(r.config->query.max_range == std::chrono::hours(24 * 7));
  CHECK(r.config->query.max_profiles == 5000);
  CHECK(r.config->query.max_nodes == 65536);
  CHECK(r.config->query.timeout == 5s);
  auto bad = load("query: {max_profiles: 0, timeout: 0s, nodes: 3}\n");
  CHECK_THAT(errors(bad), Catch::Contains("max_profiles must be at least 1") &&
                              Catch::Contains("timeout must be greater than 0") &&
                              Catch::Contains("unknown key \"nodes\""));
}

TEST_CASE("scrape_config_files add jobs from globbed files, relative to the main file",
          "[config][scrape_config_files]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.file("jobs"));
  test::write_file(
      dir.file("jobs/a.yml"),
      "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h1:6060']}]\n"
      "    basic_auth: {username: u, password_file: pw}\n");
  test::write_file(dir.file("jobs/pw"), "s3cret");
  test::write_file(dir.file("jobs/b.yml"),
                   "scrape_configs:\n  - job_name: b\n    scrape_interval: 30s\n"
                   "    static_configs: [{targets: ['h2:6060']}]\n");
  test::write_file(dir.file("jobs/notes.txt"), "not matched");
  test::write_file(dir.file("main.yml"),
                   "global: {scrape_interval: 10s}\nscrape_config_files: ['jobs/*.yml', "
                   "'missing/*.yml']\nscrape_configs:\n  - job_name: main\n"
                   "    static_configs: [{targets: ['h0:6060']}]\n");
  auto r = load_config_file(dir.file("main.yml"));
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& c = *r.config;
  REQUIRE(c.scrape_configs.size() == 3);
  CHECK(c.scrape_configs[0].job_name == "main");
  CHECK(c.scrape_configs[1].job_name == "a");
  CHECK(c.scrape_configs[2].job_name == "b");
  // The global section applies; relative paths follow the included file.
  CHECK(c.scrape_configs[1].scrape_interval == 10s);
  CHECK(c.scrape_configs[2].scrape_interval == 30s);
  REQUIRE(c.scrape_configs[1].http.basic_auth);
  CHECK(c.scrape_configs[1].http.basic_auth->password_file == dir.file("jobs/pw"));
  CHECK(c.scrape_config_files ==
        std::vector<std::string>{dir.file("jobs/a.yml"), dir.file("jobs/b.yml")});
  // The API's view of the config shows the included files, secrets hidden.
  CHECK_THAT(c.redacted_yaml,
             Catch::Contains("# from scrape_config_files: " + dir.file("jobs/a.yml")) &&
                 Catch::Contains("job_name: b"));

  // Errors name the included file, line and column; a job defined twice names both files.
  test::write_file(
      dir.file("jobs/c.yml"),
      "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h3:6060']}]\n"
      "  - job_name: d\n    scrape_timeout: nope\n");
  test::write_file(dir.file("jobs/e.yml"), "global: {scrape_interval: 1s}\n");
  r = load_config_file(dir.file("main.yml"));
  CHECK_FALSE(r.config);
  CHECK(has_error(r, {dir.file("jobs/c.yml") + ":2:5:", "scrape_configs[0].job_name",
                      "found multiple scrape configs with job name \"a\", first found in \"" +
                          dir.file("jobs/a.yml") + "\""}));
  CHECK(has_error(r, {dir.file("jobs/c.yml") + ":5:21:", "scrape_timeout"}));
  CHECK(has_error(r, {dir.file("jobs/e.yml") + ":1:1:", "unknown key \"global\""}));
  // A duplicate of the main file's job names the main file.
  test::write_file(dir.file("jobs/c.yml"), "scrape_configs:\n  - job_name: main\n");
  std::filesystem::remove(dir.file("jobs/e.yml"));
  r = load_config_file(dir.file("main.yml"));
  CHECK(has_error(r, {"first found in \"" + dir.file("main.yml") + "\""}));

  // Prometheus' rule for the patterns: a * only in the last path element.
  r = load("scrape_config_files:\n  - scrape_configs/*/*\n");
  CHECK(has_error(r, {"test.yaml:2:5:", "invalid scrape config file path \"scrape_configs/*/*\""}));
  r = load("scrape_config_files: jobs.yml\n");
  CHECK(has_error(r, {"expected a list"}));
}

TEST_CASE("http_sd_configs load with Prometheus' defaults and words", "[config][http_sd]") {
  auto r = load(
      "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n"
      "      - url: http://sd.internal:8080/targets?env=prod\n"
      "      - url: https://sd.internal/t\n        refresh_interval: 15s\n"
      "        basic_auth: {username: u, password: p}\n"
      "        tls_config: {insecure_skip_verify: true}\n");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& h = r.config->scrape_configs[0].http_sd_configs;
  REQUIRE(h.size() == 2);
  CHECK(h[0].url == "http://sd.internal:8080/targets?env=prod");
  CHECK(h[0].refresh_interval == 60s);
  CHECK(h[1].refresh_interval == 15s);
  REQUIRE(h[1].http.basic_auth);
  CHECK(h[1].http.tls.insecure_skip_verify);
  CHECK_THAT(r.config->redacted_yaml, !Catch::Contains("password: p"));

  auto sd = [](const std::string& body) {
    return load("scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - " + body);
  };
  CHECK(has_error(sd("refresh_interval: 1m\n"), {"test.yaml:4:9:", "URL is missing"}));
  CHECK(has_error(sd("url: http://a@b.c/\n"), {"must not contain credentials"}));
  CHECK(has_error(sd("url: http://a\n        refresh_interval: 0s\n"),
                  {"refresh_interval must be greater than 0"}));
  CHECK(has_error(sd("url: http://a\n        port: 1\n"), {"unknown key \"port\""}));
  // Prometheus' own bad configs for HTTP SD and remote_write headers, with its words.
  auto doc = stoker::test::load_vectors("config_testdata_cases.json").as_object();
  int checked = 0;
  for (const auto& cv : doc.at("bad").as_array()) {
    const auto& c = cv.as_object();
    std::string name(c.at("filename").as_string());
    bool remote_write =
        name.rfind("remote_write_", 0) == 0 && name.find("header") != std::string::npos;
    if (name.rfind("http_url_", 0) != 0 && name != "http_token_file.bad.yml" && !remote_write)
      continue;
    auto res = load_config_string(std::string(c.at("yaml").as_string()), name, "/tmp");
    std::string want(c.at("expected_error_contains").as_string());
    // Prometheus names auth methods stoker lacks (sigv4, azuread, google_iam).
    if (name == "remote_write_authorization_header.bad.yml")
      want =
          "authorization header must be changed via the basic_auth, authorization, oauth2 or "
          "bearer_token parameter";
    INFO(name << " should fail with: " << want << "\ngot:\n" << errors(res));
    CHECK_FALSE(res.config);
    CHECK(has_error(res, {want}));
    ++checked;
  }
  CHECK(checked == 6);
}

TEST_CASE("Prometheus service discoveries stoker lacks are named as such, not as typos",
          "[config]") {
  for (const char* key : {"consul_sd_configs", "ec2_sd_configs", "nomad_sd_configs"}) {
    INFO(key);
    auto r = load(std::string("scrape_configs:\n  - job_name: a\n    ") + key + ": []\n");
    CHECK(has_error(r, {"test.yaml:3:5:", key,
                        "is a Prometheus service discovery that stoker does not implement; "
                        "supported: static_configs, file_sd_configs, http_sd_configs, "
                        "dns_sd_configs, kubernetes_sd_configs"}));
  }
  auto r = load("scrape_configs:\n  - job_name: a\n    consult_sd_configs: []\n");
  CHECK(has_error(r, {"unknown key \"consult_sd_configs\""}));
}

TEST_CASE("the receive section: defaults, keys, limits and errors", "[config][receive]") {
  auto d = load("web: {listen_address: '0.0.0.0:4040'}\n");
  REQUIRE(d.config);
  const auto& rc = d.config->receive;
  CHECK_FALSE(rc.enabled.has_value());
  CHECK_FALSE(rc.active(d.config->web.listen_address));
  CHECK(rc.path_prefix.empty());
  CHECK(rc.body_size_limit == 16u << 20);
  CHECK(rc.profile_size_limit == 64u << 20);
  CHECK(rc.limits.label_limit == 30);
  CHECK(rc.limits.label_name_length_limit == 1024);
  CHECK(rc.limits.label_value_length_limit == 2048);
  CHECK(rc.relabel->empty());

  auto r = load(
      "global: {label_limit: 12}\n"
      "receive:\n  enabled: true\n  path_prefix: /profiles/\n  body_size_limit: 2MiB\n"
      "  profile_size_limit: 8MiB\n  labels: {cluster: eu-1}\n"
      "  relabel_configs:\n    - source_labels: [env]\n      regex: test\n      action: drop\n");
  INFO(errors(r));
  REQUIRE(r.config);
  const auto& c = r.config->receive;
  CHECK(c.enabled == true);
  CHECK(c.path_prefix == "/profiles");
  CHECK(c.body_size_limit == 2u << 20);
  CHECK(c.profile_size_limit == 8u << 20);
  CHECK(c.labels == Labels{{"cluster", "eu-1"}});
  CHECK(c.relabel_configs.size() == 1);
  CHECK(c.limits.label_limit == 12);
  CHECK(c.limits.label_value_length_limit == 2048);
  Labels test_env{{"env", "test"}};
  CHECK_FALSE(c.relabel->apply(test_env));

  auto bad = load(
      "receive:\n  enabled: maybe\n  path_prefix: profiles\n  body_size_limit: 10B\n"
      "  labels: {__name__: x}\n  port: 1\n  relabel_configs:\n    - action: nope\n");
  CHECK_THAT(errors(bad), Catch::Contains("test.yaml:2:") && Catch::Contains("receive.enabled") &&
                              Catch::Contains("path_prefix must be a URL path") &&
                              Catch::Contains("body_size_limit must be at least 1KiB") &&
                              Catch::Contains("reserved") &&
                              Catch::Contains("unknown key \"port\"") &&
                              Catch::Contains("receive.relabel_configs[0]"));
}

TEST_CASE("web config files load with the exporter toolkit's keys and words", "[config]") {
  stoker::test::TempDir dir;
  stoker::test::write_file(dir.file("c.pem"), "x");
  stoker::test::write_file(dir.file("k.pem"), "x");
  std::string hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DSbI.a7CXGb2ZTjFxJQfm";
  auto ok = load_web_config_string(
      "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  min_version: TLS13\n"
      "  curve_preferences: [X25519]\nhttp_server_config: {http2: true, headers: {X-A: b}}\n"
      "basic_auth_users: {alice: '" +
          hash + "'}\n",
      "web.yml", dir.path());
  INFO(joined(ok.errors));
  REQUIRE(ok.config);
  REQUIRE(ok.config->tls);
  CHECK(ok.config->tls->cert_file == dir.file("c.pem"));
  CHECK(ok.config->tls->min_version == "TLS13");
  CHECK(ok.config->basic_auth_users.at("alice").value == hash);
  // An empty tls_server_config means plain HTTP.
  auto plain = load_web_config_string("tls_server_config: {}\n", "web.yml", dir.path());
  REQUIRE(plain.config);
  CHECK(!plain.config->tls);

  auto bad = load_web_config_string(
      "tls_server_config:\n  key_file: k.pem\n  client_auth_type: Sometimes\n"
      "  client_ca_file: c.pem\n  min_version: SSL3\n  curve_preferences: [P-999]\n"
      "http_server_config: {headers: {Content-Type: x}}\nbasic_auth_users: {bob: hunter2}\n"
      "rate_limit: {burst: 1}\nextra: 1\n",
      "web.yml", dir.path());
  std::string all = joined(bad.errors);
  CHECK_THAT(all,
             Catch::Contains("web.yml:2:3: tls_server_config: missing one of cert or cert_file"));
  CHECK_THAT(all, Catch::Contains("invalid ClientAuth: Sometimes"));
  CHECK_THAT(all, Catch::Contains("unknown TLS version: SSL3"));
  CHECK_THAT(all, Catch::Contains("unknown curve: P-999"));
  CHECK_THAT(all, Catch::Contains("HTTP header Content-Type can not be configured"));
  CHECK_THAT(all, Catch::Contains("the password of user bob is not a bcrypt hash"));
  CHECK(all.find("hunter2") == std::string::npos);
  CHECK_THAT(all, Catch::Contains("\"rate_limit\" is not supported by stoker"));
  CHECK_THAT(all, Catch::Contains("unknown key \"extra\""));
  auto ca = load_web_config_string(
      "tls_server_config: {cert_file: c.pem, key_file: k.pem, client_ca_file: c.pem}\n", "web.yml",
      dir.path());
  CHECK_THAT(joined(ca.errors),
             Catch::Contains("client CA's have been configured without a Client Auth Policy"));
}

TEST_CASE("the http_headers, oauth2 and dns_sd_configs blocks of Prometheus' conf.good.yml load",
          "[config][conformance]") {
  // conf.good.yml as a whole uses many Prometheus-only keys; its blocks for the
  // features stoker implements are loaded inside a job of stoker's.
  auto doc = stoker::test::load_vectors("config_testdata_cases.json").as_object();
  std::string text;
  for (const auto& cv : doc.at("good").as_array())
    if (cv.at("filename") == "conf.good.yml") text = std::string(cv.at("yaml").as_string());
  REQUIRE(!text.empty());
  YAML::Node root = YAML::Load(text);
  YAML::Node headers = root["scrape_configs"][0]["http_headers"];
  YAML::Node dns = root["scrape_configs"][1]["dns_sd_configs"];
  YAML::Node oauth2 = root["remote_write"][0]["oauth2"];
  REQUIRE(headers);
  REQUIRE(dns);
  REQUIRE(oauth2);
  stoker::test::TempDir dir;
  for (const char* f : {"valid_password_file", "valid_cert_file", "valid_key_file"})
    stoker::test::write_file(dir.file(f), "x\n");
  YAML::Node job;
  job["job_name"] = "from-prometheus";
  job["http_headers"] = headers;
  job["dns_sd_configs"] = dns;
  job["oauth2"] = oauth2;
  YAML::Node cfg;
  cfg["scrape_configs"].push_back(job);
  YAML::Emitter em;
  em << cfg;
  auto r = load_config_string(em.c_str(), "c.yaml", dir.path());
  INFO(em.c_str() << "\n" << errors(r));
  REQUIRE(r.config);
  const auto& h = r.config->scrape_configs[0].http;
  REQUIRE(h.headers.size() == 1);
  CHECK(h.headers[0].name == "foo");
  CHECK(h.headers[0].values == std::vector<std::string>{"foobar"});
  CHECK(h.headers[0].secrets.size() == 2);
  CHECK(h.headers[0].files == std::vector<std::string>{dir.file("valid_password_file")});
  REQUIRE(h.oauth2);
  CHECK(h.oauth2->client_id == "123");
  CHECK(h.oauth2->client_secret.value == "456");
  CHECK(h.oauth2->token_url == "http://remote1/auth");
  CHECK(h.oauth2->tls.cert_file == dir.file("valid_cert_file"));
  CHECK(r.config->scrape_configs[0].dns_sd_configs.size() == 2);
  CHECK(r.config->redacted_yaml.find("456") == std::string::npos);
}
