#include "net/http_client.h"

#include <boost/url.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "net/asio_pch.h"

namespace stoker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

std::string base64(std::string_view in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], k[n & 63]};
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += {k[n >> 18], k[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {k[n >> 18], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return out;
}

// Reads a secret file, trimming surrounding whitespace. The error never includes contents.
bool read_secret_file(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read credentials file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  std::string v = s.str();
  size_t b = v.find_first_not_of(" \t\r\n");
  size_t e = v.find_last_not_of(" \t\r\n");
  *out = b == std::string::npos ? "" : v.substr(b, e - b + 1);
  return true;
}

struct Endpoint {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string target;  // path and query
  std::string key() const { return (tls ? "https://" : "http://") + host + ":" + port; }
};

bool parse_url(const std::string& url, Endpoint* ep, std::string* error) {
  auto r = boost::urls::parse_uri(url);
  if (!r) {
    *error = "invalid URL " + url + ": " + r.error().message();
    return false;
  }
  auto u = *r;
  if (u.scheme() == "https") {
    ep->tls = true;
  } else if (u.scheme() != "http") {
    *error = "unsupported URL scheme in " + url;
    return false;
  }
  ep->host = u.host_address();  // IPv6 without brackets
  if (ep->host.empty()) {
    *error = "URL without host: " + url;
    return false;
  }
  ep->port = u.has_port() ? std::string(u.port()) : (ep->tls ? "443" : "80");
  ep->target = u.encoded_path().empty() ? "/" : std::string(u.encoded_path());
  if (u.has_query()) ep->target += "?" + std::string(u.encoded_query());
  return true;
}

std::string resolve_redirect(const std::string& base, const std::string& location) {
  auto b = boost::urls::parse_uri(base);
  auto ref = boost::urls::parse_uri_reference(location);
  if (!b || !ref) return "";
  boost::urls::url out;
  auto rc = boost::urls::resolve(*b, *ref, out);
  if (!rc) return "";
  return std::string(out.buffer());
}

std::string describe_error(const boost::system::error_code& ec, const std::string& stage) {
  if (ec == beast::error::timeout || ec == asio::error::operation_aborted)
    return stage + " timed out";
  if (ec == http::error::body_limit) return "response body exceeds the body size limit";
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == http::error::end_of_stream || ec == asio::error::eof)
    return "connection closed by the target during " + stage;
  if (ec.category() == asio::error::get_ssl_category() ||
      ec.category() == asio::ssl::error::get_stream_category()) {
    return "TLS error during " + stage + ": " + ec.message();
  }
  return stage + " failed: " + ec.message();
}

}  // namespace

struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

struct HttpClient::Impl {
  asio::any_io_executor ex;
  HttpClientConfig cfg;
  uint64_t body_limit;
  std::string user_agent;
  std::unique_ptr<ssl::context> tls_ctx;
  std::string tls_error;  // set when the TLS config cannot be loaded
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;

  ssl::context* tls_context() {
    if (tls_ctx || !tls_error.empty()) return tls_ctx.get();
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    boost::system::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (cfg.tls.insecure_skip_verify) {
      ctx->set_verify_mode(ssl::verify_none);
    } else {
      ctx->set_verify_mode(ssl::verify_peer);
      if (!cfg.tls.ca_file.empty()) {
        ctx->load_verify_file(cfg.tls.ca_file, ec);
        if (ec)
          tls_error = "cannot load tls_config.ca_file " + cfg.tls.ca_file + ": " + ec.message();
      } else {
        ctx->set_default_verify_paths(ec);
      }
    }
    if (tls_error.empty() && !cfg.tls.cert_file.empty()) {
      ctx->use_certificate_chain_file(cfg.tls.cert_file, ec);
      if (ec)
        tls_error = "cannot load tls_config.cert_file " + cfg.tls.cert_file + ": " + ec.message();
      if (!ec) {
        ctx->use_private_key_file(cfg.tls.key_file, ssl::context::pem, ec);
        if (ec)
          tls_error = "cannot load tls_config.key_file " + cfg.tls.key_file + ": " + ec.message();
      }
    }
    if (tls_error.empty()) tls_ctx = std::move(ctx);
    return tls_ctx.get();
  }

  bool auth_header(std::string* value, std::string* error) {
    if (cfg.basic_auth) {
      std::string password = cfg.basic_auth->password.value;
      if (!cfg.basic_auth->password_file.empty() &&
          !read_secret_file(cfg.basic_auth->password_file, &password, error)) {
        return false;
      }
      *value = "Basic " + base64(cfg.basic_auth->username + ":" + password);
    } else if (cfg.authorization) {
      std::string cred = cfg.authorization->credentials.value;
      if (!cfg.authorization->credentials_file.empty() &&
          !read_secret_file(cfg.authorization->credentials_file, &cred, error)) {
        return false;
      }
      *value = cfg.authorization->type + " " + cred;
    }
    return true;
  }

  bool build_request(const Endpoint& ep, const HttpRequest& r, bool with_auth,
                     http::request<http::string_body>* req, std::string* error) {
    bool post = r.method == "POST";
    *req = http::request<http::string_body>{post ? http::verb::post : http::verb::get, ep.target,
                                            11};
    bool default_port = (ep.tls && ep.port == "443") || (!ep.tls && ep.port == "80");
    std::string host_hdr = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    req->set(http::field::host, default_port ? host_hdr : host_hdr + ":" + ep.port);
    req->set(http::field::user_agent, user_agent);
    for (const auto& [name, value] : r.headers) req->set(name, value);
    if (post) {
      req->body() = r.body;
      req->prepare_payload();
    }
    req->keep_alive(true);
    if (with_auth) {
      std::string auth;
      if (!auth_header(&auth, error)) return false;
      if (!auth.empty()) req->set(http::field::authorization, auth);
    }
    return true;
  }

  // Reads a response whose body is handed to `on_data` as it arrives.
  template <typename Stream>
  asio::awaitable<void> read_streaming(Stream& s, Connection& c, Clock::time_point deadline,
                                       const std::function<bool(std::string_view)>& on_data,
                                       HttpResult* out) {
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    parser.header_limit(64 * 1024);
    c.lowest().expires_at(deadline);
    auto [hec, hn] =
        co_await http::async_read_header(s, c.buffer, parser, asio::as_tuple(asio::use_awaitable));
    (void)hn;
    if (hec) {
      out->error = hec == beast::error::timeout ? "timed out waiting for a response"
                                                : describe_error(hec, "reading the response");
      co_return;
    }
    const auto& head = parser.get();
    out->status = static_cast<int>(head.result_int());
    out->reason = std::string(head.reason());
    out->content_type = std::string(head[http::field::content_type]);
    bool ok = out->status >= 200 && out->status < 300;
    char buf[64 * 1024];
    while (!parser.is_done()) {
      parser.get().body().data = buf;
      parser.get().body().size = sizeof buf;
      // read_some: return with whatever arrived, not when the buffer is full.
      auto [ec, n] = co_await http::async_read_some(s, c.buffer, parser,
                                                    asio::as_tuple(asio::use_awaitable));
      (void)n;
      if (ec == http::error::need_buffer) ec = {};
      size_t got = sizeof buf - parser.get().body().size;
      if (got) {
        std::string_view chunk(buf, got);
        if (!ok) {
          if (out->body.size() < 64 * 1024) out->body.append(chunk);
        } else if (!on_data(chunk)) {
          co_return;  // the consumer has what it wants
        }
      }
      if (ec) {
        out->error = ec == beast::error::timeout ? "the stream timed out"
                                                 : describe_error(ec, "reading the stream");
        co_return;
      }
    }
  }

  asio::awaitable<std::unique_ptr<Connection>> connect(const Endpoint& ep,
                                                       Clock::time_point deadline,
                                                       std::string* error) {
    auto conn = std::make_unique<Connection>();
    tcp::resolver resolver(ex);
    asio::steady_timer timer(ex, deadline);
    auto res =
        co_await (resolver.async_resolve(ep.host, ep.port, asio::as_tuple(asio::use_awaitable)) ||
                  timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (res.index() == 1) {
      *error = "resolving " + ep.host + " timed out";
      co_return nullptr;
    }
    auto [rec, results] = std::get<0>(res);
    if (rec) {
      *error = "cannot resolve " + ep.host + ": " + rec.message();
      co_return nullptr;
    }
    if (ep.tls) {
      ssl::context* ctx = tls_context();
      if (!ctx) {
        *error = tls_error;
        co_return nullptr;
      }
      conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(ex, *ctx);
      std::string sni = cfg.tls.server_name.empty() ? ep.host : cfg.tls.server_name;
      boost::system::error_code addr_ec;
      asio::ip::make_address(sni, addr_ec);
      if (addr_ec) SSL_set_tlsext_host_name(conn->tls->native_handle(), sni.c_str());
      if (!cfg.tls.insecure_skip_verify)
        conn->tls->set_verify_callback(ssl::host_name_verification(sni));
    } else {
      conn->plain = std::make_unique<beast::tcp_stream>(ex);
    }
    conn->lowest().expires_at(deadline);
    auto [cec, ep_used] =
        co_await conn->lowest().async_connect(results, asio::as_tuple(asio::use_awaitable));
    if (cec) {
      *error = describe_error(cec, "connect to " + ep.host + ":" + ep.port);
      co_return nullptr;
    }
    if (conn->tls) {
      conn->lowest().expires_at(deadline);
      auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client,
                                                       asio::as_tuple(asio::use_awaitable));
      if (hec) {
        *error = describe_error(hec, "TLS handshake");
        co_return nullptr;
      }
    }
    co_return conn;
  }

  // One request/response exchange. `reused` tells whether the connection came from
  // the idle pool, in which case a failure before any response byte is retryable.
  asio::awaitable<bool> exchange(Connection& c, http::request<http::string_body>& req,
                                 Clock::time_point deadline, HttpResult* out, bool* keep_alive,
                                 bool* retryable) {
    *retryable = false;
    c.lowest().expires_at(deadline);
    boost::system::error_code ec;
    if (c.tls) {
      std::tie(ec, std::ignore) =
          co_await http::async_write(*c.tls, req, asio::as_tuple(asio::use_awaitable));
    } else {
      std::tie(ec, std::ignore) =
          co_await http::async_write(*c.plain, req, asio::as_tuple(asio::use_awaitable));
    }
    if (ec) {
      *retryable = true;
      out->error = describe_error(ec, "sending the request");
      co_return false;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(64 * 1024);
    if (c.tls) {
      std::tie(ec, std::ignore) =
          co_await http::async_read(*c.tls, c.buffer, parser, asio::as_tuple(asio::use_awaitable));
    } else {
      std::tie(ec, std::ignore) = co_await http::async_read(*c.plain, c.buffer, parser,
                                                            asio::as_tuple(asio::use_awaitable));
    }
    if (ec) {
      *retryable = !parser.got_some() && ec != beast::error::timeout;
      if (ec == http::error::body_limit) {
        out->error =
            "response body exceeds the body size limit of " + std::to_string(body_limit) + " bytes";
      } else if (ec == beast::error::timeout) {
        out->error = parser.is_header_done() ? "timed out while reading the response body"
                                             : "timed out waiting for a response";
      } else {
        out->error = describe_error(ec, "reading the response");
      }
      co_return false;
    }
    auto res = parser.release();
    out->status = static_cast<int>(res.result_int());
    out->reason = std::string(res.reason());
    out->content_type = std::string(res[http::field::content_type]);
    out->content_encoding = std::string(res[http::field::content_encoding]);
    out->body = std::move(res.body());
    *keep_alive = res.keep_alive();
    if (out->status >= 300 && out->status < 400)
      out->final_url = std::string(res[http::field::location]);
    co_return true;
  }
};

HttpClient::HttpClient(asio::any_io_executor ex, HttpClientConfig cfg, uint64_t body_limit,
                       std::string user_agent)
    : impl_(std::make_unique<Impl>()) {
  impl_->ex = std::move(ex);
  impl_->cfg = std::move(cfg);
  impl_->body_limit = body_limit ? body_limit : kDefaultBodyLimit;
  impl_->user_agent = std::move(user_agent);
}

HttpClient::~HttpClient() = default;

void HttpClient::close_idle() {
  impl_->idle.clear();
}

asio::awaitable<HttpResult> HttpClient::get(std::string url, Clock::time_point deadline,
                                            std::chrono::milliseconds scrape_timeout) {
  HttpRequest r;
  r.url = std::move(url);
  r.headers = {{"Accept", "application/octet-stream, */*;q=0.5"},
               {"X-Prometheus-Scrape-Timeout-Seconds",
                std::to_string(static_cast<double>(scrape_timeout.count()) / 1000.0)}};
  co_return co_await send(std::move(r), deadline);
}

asio::awaitable<HttpResult> HttpClient::stream(HttpRequest r, Clock::time_point deadline,
                                               std::function<bool(std::string_view)> on_data) {
  HttpResult out;
  Endpoint ep;
  if (!parse_url(r.url, &ep, &out.error)) co_return out;
  http::request<http::string_body> req;
  if (!impl_->build_request(ep, r, true, &req, &out.error)) co_return out;
  req.keep_alive(false);
  auto conn = co_await impl_->connect(ep, deadline, &out.error);
  if (!conn) co_return out;
  conn->lowest().expires_at(deadline);
  boost::system::error_code ec;
  if (conn->tls) {
    std::tie(ec, std::ignore) =
        co_await http::async_write(*conn->tls, req, asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, std::ignore) =
        co_await http::async_write(*conn->plain, req, asio::as_tuple(asio::use_awaitable));
  }
  if (ec) {
    out.error = describe_error(ec, "sending the request");
    co_return out;
  }
  if (conn->tls) {
    co_await impl_->read_streaming(*conn->tls, *conn, deadline, on_data, &out);
  } else {
    co_await impl_->read_streaming(*conn->plain, *conn, deadline, on_data, &out);
  }
  out.final_url = r.url;
  co_return out;
}

asio::awaitable<HttpResult> HttpClient::send(HttpRequest r, Clock::time_point deadline) {
  HttpResult out;
  std::string original_host;
  std::string url = std::move(r.url);
  bool post = r.method == "POST";
  for (int hop = 0;; ++hop) {
    Endpoint ep;
    if (!parse_url(url, &ep, &out.error)) co_return out;
    if (hop == 0) original_host = ep.key();

    http::request<http::string_body> req;
    // Credentials go only to the configured host, never across a redirect to another one.
    if (!impl_->build_request(ep, r, ep.key() == original_host, &req, &out.error)) co_return out;

    HttpResult attempt;
    bool done = false;
    for (int tries = 0; tries < 2 && !done; ++tries) {
      std::unique_ptr<Connection> conn;
      bool reused = false;
      auto& pool = impl_->idle[ep.key()];
      if (!pool.empty()) {
        conn = std::move(pool.back());
        pool.pop_back();
        reused = true;
      } else {
        std::string err;
        conn = co_await impl_->connect(ep, deadline, &err);
        if (!conn) {
          out.error = err;
          co_return out;
        }
      }
      bool keep_alive = false, retryable = false;
      attempt = HttpResult{};
      bool ok = co_await impl_->exchange(*conn, req, deadline, &attempt, &keep_alive, &retryable);
      if (ok) {
        done = true;
        if (keep_alive && impl_->idle[ep.key()].size() < 4) {
          // An idle connection keeps no read buffer: with hundreds of
          // targets, 64 KiB each would add up to more than everything else.
          conn->buffer.clear();
          conn->buffer.shrink_to_fit();
          impl_->idle[ep.key()].push_back(std::move(conn));
        }
      } else if (!(reused && retryable)) {
        out.error = attempt.error;
        co_return out;
      }
      // A stale keep-alive connection: try once more on a fresh one.
    }
    if (!done) {
      out.error = attempt.error;
      co_return out;
    }
    bool keeps_method = attempt.status == 307 || attempt.status == 308;
    bool is_redirect = keeps_method || (!post && (attempt.status == 301 || attempt.status == 302 ||
                                                  attempt.status == 303));
    if (!is_redirect || !impl_->cfg.follow_redirects) {
      attempt.redirects = hop;
      if (attempt.final_url.empty() || !is_redirect) attempt.final_url = url;
      co_return attempt;
    }
    if (hop >= kMaxRedirects) {
      out.error =
          "stopped after " + std::to_string(kMaxRedirects) + " redirects (last to " + url + ")";
      co_return out;
    }
    std::string next = resolve_redirect(url, attempt.final_url);
    if (next.empty()) {
      out.error =
          "redirect (HTTP " + std::to_string(attempt.status) + ") with an invalid Location header";
      co_return out;
    }
    url = next;
  }
}

}  // namespace stoker
