// The HTTP client options of Prometheus' config against real servers on
// 127.0.0.1: http_headers, HTTP proxies (absolute-form requests and CONNECT
// tunnels), proxy_from_environment with NO_PROXY, and OAuth2 client
// credentials with a token endpoint.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "model/text.h"
#include "net/asio_pch.h"
#include "net/http_client.h"
#include "net/proxy.h"
#include "pprof/pprof_decode.h"
#include "tests/support/connect_proxy.h"
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

std::string profile_body() {
  return pprof::encode_gzip(test::make_profile({{"goroutine", "count"}}, {{{"main.main"}, {4}}}));
}

RawResponse ok() {
  return {TestServer::response(200, "application/octet-stream", profile_body()), false, false};
}

// One GET through `client` (run on `io`), as a scrape does.
HttpResult get(HttpClient& client, asio::io_context& io, const std::string& url) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  auto fut = asio::co_spawn(io, client.get(url, deadline, 5000ms), asio::use_future);
  io.restart();
  io.run();
  return fut.get();
}

HttpResult get_once(const HttpClientConfig& cfg, const std::string& url) {
  asio::io_context io;
  HttpClient client(io.get_executor(), cfg, 0, "stoker-test");
  return get(client, io, url);
}

std::vector<std::string> header_values(const RecordedRequest& r, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : r.headers)
    if (k == name) out.push_back(v);
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("http_headers reach the target: values, secrets and files re-read", "[http]") {
  TestServer target([](const RecordedRequest&) { return ok(); });
  test::TempDir dir;
  test::write_file(dir.file("tenant"), "from-file\n");
  HttpClientConfig cfg;
  cfg.headers.push_back({"X-Scope-OrgID", {"v1", "v2"}, {Secret{"s1"}}, {dir.file("tenant")}});
  cfg.headers.push_back({"X-Other", {"o"}, {}, {}});
  asio::io_context io;
  HttpClient client(io.get_executor(), cfg, 0, "stoker-test");
  auto r = get(client, io, target.base_url() + "/debug/pprof/goroutine");
  INFO(r.error.message());
  REQUIRE(r.status == 200);
  auto seen = target.requests().back();
  CHECK(header_values(seen, "x-scope-orgid") ==
        std::vector<std::string>{"v1", "v2", "s1", "from-file"});
  CHECK(seen.header("x-other") == "o");
  CHECK(seen.header("user-agent") == "stoker-test");  // untouched

  test::write_file(dir.file("tenant"), "rotated");
  get(client, io, target.base_url() + "/debug/pprof/goroutine");
  CHECK(header_values(target.requests().back(), "x-scope-orgid").back() == "rotated");

  std::remove(dir.file("tenant").c_str());
  r = get(client, io, target.base_url() + "/debug/pprof/goroutine");
  CHECK(contains(r.error.message(), "http_headers X-Scope-OrgID: cannot read credentials file"));
}

TEST_CASE("which requests go through a proxy follows Go's rules", "[http][proxy]") {
  ProxyConfig fixed;
  fixed.url = "http://u:p%40ss@proxy.local:3128";
  ProxySelector all(fixed);
  // proxy_url alone proxies everything, loopback included (Go's http.ProxyURL).
  auto r = all.route(false, "127.0.0.1", "6060").value();
  REQUIRE(r);
  CHECK(r->display() == "proxy.local:3128");
  CHECK(r->authorization == "Basic " + base64_encode("u:p@ss"));
  CHECK(all.route(true, "app.example.com", "443").value());

  ProxyConfig with_no_proxy = fixed;
  with_no_proxy.no_proxy = "10.0.0.0/8, .internal,example.com,192.168.1.5:6060,::1";
  ProxySelector sel(with_no_proxy);
  CHECK_FALSE(sel.route(false, "127.0.0.1", "6060").value());  // loopback: never
  CHECK_FALSE(sel.route(false, "localhost", "6060").value());
  CHECK_FALSE(sel.route(false, "10.1.2.3", "6060").value());
  CHECK(sel.route(false, "11.1.2.3", "6060").value());
  CHECK_FALSE(sel.route(false, "db.internal", "6060").value());
  CHECK(sel.route(false, "internal", "6060").value());  // ".internal": subdomains only
  CHECK_FALSE(sel.route(false, "example.com", "6060").value());
  CHECK_FALSE(sel.route(false, "a.b.example.com", "6060").value());
  CHECK(sel.route(false, "notexample.com", "6060").value());
  CHECK_FALSE(sel.route(false, "192.168.1.5", "6060").value());
  CHECK(sel.route(false, "192.168.1.5", "6061").value());

  ProxyConfig env;
  env.from_environment = true;
  std::map<std::string, std::string> vars = {{"http_proxy", "plain.proxy:8080"},
                                             {"HTTPS_PROXY", "http://tls.proxy:8443"},
                                             {"NO_PROXY", ":80, *., ,*.skip.me"}};
  ProxySelector from_env(env, [&](const char* k) -> const char* {
    auto it = vars.find(k);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
  auto plain = from_env.route(false, "app.example.com", "80").value();
  REQUIRE(plain);
  CHECK(plain->display() == "plain.proxy:8080");  // lower-case name, no scheme: http://
  CHECK(from_env.route(true, "app.example.com", "443").value()->display() == "tls.proxy:8443");
  CHECK_FALSE(from_env.route(true, "a.skip.me", "443").value());
}

TEST_CASE("http:// targets through proxy_url: absolute-form requests with the proxy's credentials",
          "[http][proxy]") {
  TestServer target([](const RecordedRequest&) { return ok(); });
  test::ConnectProxy proxy({{"app.stoker.test", "127.0.0.1"}}, "");
  HttpClientConfig cfg;
  cfg.proxy.url = "http://scraper:pw@127.0.0.1:" + std::to_string(proxy.port());
  std::string url = "http://app.stoker.test:" + std::to_string(target.port()) + "/debug/pprof/heap";
  auto r = get_once(cfg, url);
  INFO(r.error.message());
  REQUIRE(r.status == 200);  // the name resolves only at the proxy
  REQUIRE(proxy.requests().size() == 1);
  const auto seen = proxy.requests()[0];
  CHECK(seen.method == "GET");
  CHECK(seen.target == url);
  CHECK(seen.header("proxy-authorization") == "Basic " + base64_encode("scraper:pw"));
  // The target gets an ordinary request, without the proxy's credentials.
  CHECK(target.requests().back().target == "/debug/pprof/heap");
  CHECK(target.requests().back().header("proxy-authorization").empty());
  CHECK(target.requests().back().header("host") ==
        "app.stoker.test:" + std::to_string(target.port()));

  // no_proxy: this host is reached directly, and the proxy sees nothing.
  cfg.proxy.no_proxy = "stoker.test";
  CHECK_FALSE(get_once(cfg, url).error.ok());  // app.stoker.test does not resolve here
  CHECK(proxy.requests().size() == 1);
}

TEST_CASE("https:// targets through a proxy: a CONNECT tunnel with proxy_connect_header",
          "[http][proxy][tls]") {
  test::TlsTarget tls(profile_body());
  test::ConnectProxy proxy({{"stoker.test", "127.0.0.1"}}, "X-Proxy-Token");
  HttpClientConfig cfg;
  cfg.tls.ca_file = tls.dir.file("ca.pem");
  cfg.proxy.url = "http://127.0.0.1:" + std::to_string(proxy.port());
  cfg.proxy.connect_headers = {{"X-Proxy-Token", Secret{"let-me-in"}}};
  std::string url = "https://stoker.test:" + std::to_string(tls.port) + "/debug/pprof/goroutine";
  auto r = get_once(cfg, url);
  INFO(r.error.message());
  REQUIRE(r.status == 200);
  CHECK(r.body == profile_body());  // verified TLS to stoker.test, end to end through the tunnel
  REQUIRE(proxy.requests().size() == 1);
  CHECK(proxy.requests()[0].method == "CONNECT");
  CHECK(proxy.requests()[0].target == "stoker.test:" + std::to_string(tls.port));
  CHECK(proxy.requests()[0].header("x-proxy-token") == "let-me-in");

  // Without the header the proxy refuses, and the error says who refused what.
  cfg.proxy.connect_headers.clear();
  r = get_once(cfg, url);
  CHECK(r.error.message() == "proxy 127.0.0.1:" + std::to_string(proxy.port()) +
                                 " refused CONNECT to stoker.test:" + std::to_string(tls.port) +
                                 ": HTTP 407 Proxy Authentication Required");
  // A proxy that is down is named as the proxy.
  cfg.proxy.url = "http://127.0.0.1:" + std::to_string(test::free_port());
  r = get_once(cfg, url);
  CHECK(contains(r.error.message(), "cannot connect to proxy 127.0.0.1:"));
  CHECK(contains(r.error.message(), "connection refused"));
}

TEST_CASE("proxy_from_environment reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY", "[http][proxy]") {
  TestServer target([](const RecordedRequest&) { return ok(); });
  test::ConnectProxy proxy({{"app.stoker.test", "127.0.0.1"}, {"other.stoker.test", "127.0.0.1"}},
                           "");
  ::setenv("HTTP_PROXY", ("127.0.0.1:" + std::to_string(proxy.port())).c_str(), 1);
  ::setenv("NO_PROXY", "other.stoker.test", 1);
  HttpClientConfig cfg;
  cfg.proxy.from_environment = true;
  std::string port = std::to_string(target.port());
  auto via = get_once(cfg, "http://app.stoker.test:" + port + "/x");
  auto direct = get_once(cfg, "http://127.0.0.1:" + port + "/y");  // loopback: never proxied
  auto skipped = get_once(cfg, "http://other.stoker.test:" + port + "/z");
  ::unsetenv("HTTP_PROXY");
  ::unsetenv("NO_PROXY");
  INFO(via.error.message());
  CHECK(via.status == 200);
  CHECK(direct.status == 200);
  CHECK(contains(skipped.error.message(), "cannot resolve other.stoker.test"));  // went direct
  REQUIRE(proxy.requests().size() == 1);
  CHECK(proxy.requests()[0].target == "http://app.stoker.test:" + port + "/x");
}

namespace {

// An OAuth2 token endpoint: client credentials in a Basic header or in the
// form body; answers tokens tok-1, tok-2, … valid for `expires_in` seconds.
struct TokenServer {
  std::string client_id = "stoker", secret = "s3cret";
  int expires_in = 3600;
  bool header_auth = true;  // false: only credentials in the body are accepted
  std::atomic<int> issued{0};
  TestServer server{[this](const RecordedRequest& r) { return handle(r); }};

  RawResponse handle(const RecordedRequest& r) {
    auto form = parse_query_string(r.body);
    auto field = [&](const char* k) { return form.count(k) ? form[k].front() : std::string(); };
    bool creds = false;
    if (header_auth) {
      creds = r.header("authorization") == "Basic " + base64_encode(client_id + ":" + secret);
    } else {
      creds = field("client_id") == client_id && field("client_secret") == secret;
    }
    if (r.method != "POST" || field("grant_type") != "client_credentials" ||
        r.header("content-type") != "application/x-www-form-urlencoded") {
      return {TestServer::response(400, "application/json", R"({"error":"invalid_request"})")};
    }
    if (!creds) {
      return {TestServer::response(
          401, "application/json",
          R"({"error":"invalid_client","error_description":"client authentication failed"})")};
    }
    int n = ++issued;
    return {TestServer::response(200, "application/json; charset=utf-8",
                                 R"({"access_token":"tok-)" + std::to_string(n) +
                                     R"(","token_type":"bearer","expires_in":)" +
                                     std::to_string(expires_in) + "}")};
  }
  std::string url() const { return server.base_url() + "/oauth2/token"; }
};

}  // namespace

TEST_CASE("oauth2: a client-credentials token is fetched, cached, refreshed before it expires",
          "[http][oauth2]") {
  TokenServer auth;
  TestServer target([](const RecordedRequest& r) {
    if (r.header("authorization").rfind("Bearer tok-", 0) != 0)
      return RawResponse{TestServer::response(401, "text/plain", "no token")};
    return ok();
  });
  HttpClientConfig cfg;
  cfg.oauth2 = OAuth2Config{};
  cfg.oauth2->client_id = "stoker";
  cfg.oauth2->client_secret = Secret{"s3cret"};
  cfg.oauth2->token_url = auth.url();
  cfg.oauth2->scopes = {"profiles:read", "x"};
  cfg.oauth2->endpoint_params = {{"audience", "pyroscope"}};
  asio::io_context io;
  HttpClient client(io.get_executor(), cfg, 0, "stoker-test");
  std::string url = target.base_url() + "/debug/pprof/goroutine";
  auto r = get(client, io, url);
  INFO(r.error.message());
  REQUIRE(r.status == 200);
  CHECK(target.requests().back().header("authorization") == "Bearer tok-1");
  auto token_req = auth.server.requests().at(0);
  auto form = parse_query_string(token_req.body);
  CHECK(form["scope"].at(0) == "profiles:read x");
  CHECK(form["audience"].at(0) == "pyroscope");
  // Reused while valid, by this client and by another one with the same settings.
  get(client, io, url);
  CHECK(get_once(cfg, url).status == 200);
  CHECK(auth.issued == 1);
  CHECK(target.requests().back().header("authorization") == "Bearer tok-1");

  // A token about to expire (Go's oauth2 refreshes 10 s early) is replaced.
  auth.expires_in = 13;                               // usable for 3 s
  cfg.oauth2->endpoint_params["audience"] = "other";  // a new cache entry
  asio::io_context io2;
  HttpClient short_lived(io2.get_executor(), cfg, 0, "stoker-test");
  get(short_lived, io2, url);
  CHECK(target.requests().back().header("authorization") == "Bearer tok-2");
  get(short_lived, io2, url);
  CHECK(target.requests().back().header("authorization") == "Bearer tok-2");
  std::this_thread::sleep_for(3200ms);
  r = get(short_lived, io2, url);
  CHECK(r.status == 200);
  CHECK(target.requests().back().header("authorization") == "Bearer tok-3");
}

TEST_CASE("oauth2: a wrong secret is a target error that says so, secrets in the body work too",
          "[http][oauth2]") {
  TokenServer auth;
  TestServer target([](const RecordedRequest&) { return ok(); });
  test::TempDir dir;
  test::write_file(dir.file("secret"), "wrong-secret\n");
  HttpClientConfig cfg;
  cfg.oauth2 = OAuth2Config{};
  cfg.oauth2->client_id = "stoker";
  cfg.oauth2->client_secret_file = dir.file("secret");
  cfg.oauth2->token_url = auth.url();
  asio::io_context io;
  HttpClient client(io.get_executor(), cfg, 0, "stoker-test");
  std::string url = target.base_url() + "/debug/pprof/goroutine";
  auto r = get(client, io, url);
  CHECK(r.error.message() ==
        "oauth2: cannot fetch token from " + auth.url() +
            ": HTTP 401 Status: invalid_client (client authentication failed)");
  CHECK_FALSE(contains(r.error.message(), "wrong-secret"));
  CHECK(target.requests().empty());  // the target was never asked without a token
  // The secret file is re-read: fixing it fixes the next scrape.
  test::write_file(dir.file("secret"), "s3cret");
  r = get(client, io, url);
  INFO(r.error.message());
  CHECK(r.status == 200);
  CHECK(target.requests().back().header("authorization") == "Bearer tok-1");

  // A server that takes client credentials only in the form body (AuthStyleInParams).
  TokenServer body_only;
  body_only.header_auth = false;
  cfg.oauth2->token_url = body_only.url();
  r = get_once(cfg, url);
  INFO(r.error.message());
  CHECK(r.status == 200);
  CHECK(body_only.server.requests().size() == 2);  // header first, then the body
  // An endpoint that is down.
  cfg.oauth2->token_url = "http://127.0.0.1:" + std::to_string(test::free_port()) + "/token";
  r = get_once(cfg, url);
  CHECK(contains(r.error.message(), "oauth2: cannot fetch token from http://127.0.0.1:"));
  CHECK(contains(r.error.message(), "connection refused"));
}
