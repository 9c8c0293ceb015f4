#include "net/http_client.h"

#include <boost/json.hpp>
#include <boost/url.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "model/text.h"
#include "net/appended_body.h"
#include "net/asio_pch.h"
#include "net/proxy.h"

namespace stoker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

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

// What the exchange code fills in; turned into the public HttpResult at the end.
struct RawResult {
  std::string error;  // empty on success
  Status::Code code = Status::Code::kUnavailable;
  int status = 0;
  std::string reason, content_type, content_encoding, body, final_url;
  int redirects = 0;
};

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

// application/x-www-form-urlencoded escaping (Go's url.QueryEscape).
std::string form_escape(std::string_view in) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

// OAuth2 tokens shared by every client with the same token request (one per
// job, not one per target), until they expire.
struct CachedToken {
  std::string header;  // "Bearer <token>"
  std::optional<std::chrono::steady_clock::time_point> expiry;
};
std::mutex g_token_mu;
std::map<std::string, CachedToken> g_tokens;

// Go's oauth2 Token.Type(): the usual spellings of the common types.
std::string token_type(const std::string& t) {
  std::string l;
  for (char c : t) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l.empty() || l == "bearer") return "Bearer";
  if (l == "mac") return "MAC";
  if (l == "basic") return "Basic";
  return t;
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

// A response: its body appended as it comes (net/appended_body.h).
using ResponseParser = http::response_parser<AppendedStringBody>;

}  // namespace

// The read buffer of a connection in use: Beast's largest single read.
constexpr size_t kReadChunk = 64 * 1024;
// Spare read buffers a client keeps (2 MiB at most).
constexpr size_t kSpareBuffers = 32;

struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

// Reads a response's head (head_only) or the rest of it into `parser`.
template <typename Stream>
asio::awaitable<boost::system::error_code> read_response(Stream& s, beast::flat_buffer& buffer,
                                                         ResponseParser& parser, bool head_only) {
  boost::system::error_code ec;
  if (head_only) {
    std::tie(ec, std::ignore) = co_await http::async_read_header(
        s, buffer, parser, asio::as_tuple(asio::use_awaitable));
  } else {
    std::tie(ec, std::ignore) =
        co_await http::async_read(s, buffer, parser, asio::as_tuple(asio::use_awaitable));
  }
  co_return ec;
}
asio::awaitable<boost::system::error_code> read_response(Connection& c, ResponseParser& parser,
                                                         bool head_only) {
  if (c.tls) co_return co_await read_response(*c.tls, c.buffer, parser, head_only);
  co_return co_await read_response(*c.plain, c.buffer, parser, head_only);
}

// Reads a body of known length (`body` sized to it) straight into `body`:
// first what the head's read brought along (left in `buffer`), then the
// rest with reads as large as what is missing, each taking all the socket
// has. (Through the parser, a body came in reads of at most 64 KiB into the
// connection's buffer and was copied from there.)
template <typename Stream>
asio::awaitable<boost::system::error_code> read_known_body(Stream& s, beast::flat_buffer& buffer,
                                                           std::string& body) {
  const size_t have = asio::buffer_copy(asio::buffer(body), buffer.data());
  buffer.consume(have);
  boost::system::error_code ec;
  if (have < body.size()) {
    std::tie(ec, std::ignore) =
        co_await asio::async_read(s, asio::buffer(body.data() + have, body.size() - have),
                                  asio::as_tuple(asio::use_awaitable));
  }
  co_return ec;
}
asio::awaitable<boost::system::error_code> read_known_body(Connection& c, std::string& body) {
  if (c.tls) co_return co_await read_known_body(*c.tls, c.buffer, body);
  co_return co_await read_known_body(*c.plain, c.buffer, body);
}

struct HttpClient::Impl {
  asio::any_io_executor ex;
  HttpClientConfig cfg;
  uint64_t body_limit;
  std::string user_agent;
  std::unique_ptr<ssl::context> tls_ctx;
  std::string tls_error;  // set when the TLS config cannot be loaded
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  ProxySelector proxy;
  std::unique_ptr<HttpClient> token_client;  // oauth2's own client (its TLS and proxy)
  // Read buffers of connections gone idle, for the next exchange: a fresh
  // 64 KiB for every scrape cost 16 page faults (the kernel zeroing them).
  std::vector<beast::flat_buffer> spare_buffers;

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

  // The Authorization header value for the configured credentials (empty for none).
  asio::awaitable<bool> auth_header(Clock::time_point deadline, std::string* value,
                                    std::string* error) {
    if (cfg.basic_auth) {
      std::string password = cfg.basic_auth->password.value;
      if (!cfg.basic_auth->password_file.empty() &&
          !read_secret_file(cfg.basic_auth->password_file, &password, error)) {
        co_return false;
      }
      *value = "Basic " + base64_encode(cfg.basic_auth->username + ":" + password);
    } else if (cfg.authorization) {
      std::string cred = cfg.authorization->credentials.value;
      if (!cfg.authorization->credentials_file.empty() &&
          !read_secret_file(cfg.authorization->credentials_file, &cred, error)) {
        co_return false;
      }
      *value = cfg.authorization->type + " " + cred;
    } else if (cfg.oauth2) {
      bool ok = co_await oauth2_header(deadline, value, error);
      co_return ok;
    }
    co_return true;
  }

  // OAuth2 client credentials grant (RFC 6749 4.4) as Go's clientcredentials
  // package does it: client id and secret in a Basic header first, in the form
  // body if the server refuses that; the token is reused until 10 s before it
  // expires. A changed client_secret_file means a new token.
  asio::awaitable<bool> oauth2_header(Clock::time_point deadline, std::string* value,
                                      std::string* error) {
    const OAuth2Config& o = *cfg.oauth2;
    std::string secret = o.client_secret.value;
    if (!o.client_secret_file.empty() && !read_secret_file(o.client_secret_file, &secret, error)) {
      *error = "oauth2: " + *error;
      co_return false;
    }
    std::string form = "grant_type=client_credentials";
    if (!o.scopes.empty()) {
      std::string scopes;
      for (const auto& sc : o.scopes) scopes += (scopes.empty() ? "" : " ") + sc;
      form += "&scope=" + form_escape(scopes);
    }
    for (const auto& [k, v] : o.endpoint_params)
      form += "&" + form_escape(k) + "=" + form_escape(v);
    std::string key = o.token_url + '\n' + o.client_id + '\n' + secret + '\n' + form;
    {
      std::lock_guard lock(g_token_mu);
      auto it = g_tokens.find(key);
      if (it != g_tokens.end() &&
          (!it->second.expiry || Clock::now() + std::chrono::seconds(10) < *it->second.expiry)) {
        *value = it->second.header;
        co_return true;
      }
    }
    if (!token_client) {
      HttpClientConfig tc;
      tc.tls = o.tls;
      tc.proxy = o.proxy;
      token_client = std::make_unique<HttpClient>(ex, tc, 1u << 20, user_agent);
    }
    HttpResult res;  // the public result: a Status for a failed exchange
    for (int in_params = 0; in_params < 2; ++in_params) {
      HttpRequest req;
      req.method = "POST";
      req.url = o.token_url;
      req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
      req.body = form;
      if (in_params) {
        req.body += "&client_id=" + form_escape(o.client_id);
        if (!secret.empty()) req.body += "&client_secret=" + form_escape(secret);
      } else {
        req.headers.emplace_back(
            "Authorization",
            "Basic " + base64_encode(form_escape(o.client_id) + ":" + form_escape(secret)));
      }
      res = co_await token_client->send(std::move(req), deadline);
      std::string().swap(res.request_body);  // (the form, with the secret: not kept)
      if (!res.error.ok() || (res.status >= 200 && res.status < 300)) break;
    }
    std::string shown = o.token_url;  // never with credentials, should the URL hold any
    if (auto u = boost::urls::parse_uri(o.token_url); u && u->has_userinfo()) {
      boost::urls::url copy(*u);
      copy.remove_userinfo();
      shown = std::string(copy.buffer());
    }
    std::string prefix = "oauth2: cannot fetch token from " + shown + ": ";
    if (!res.error.ok()) {
      *error = prefix + res.error.message();
      co_return false;
    }
    // JSON (the standard) or a form-encoded body (some older servers).
    std::string access, type, err_code, err_desc;
    double expires_in = 0;
    if (res.content_type.find("application/x-www-form-urlencoded") != std::string::npos ||
        res.content_type.find("text/plain") != std::string::npos) {
      auto q = parse_query_string(res.body);
      auto first = [&](const char* k) { return q.count(k) ? q[k].front() : std::string(); };
      access = first("access_token");
      type = first("token_type");
      expires_in = std::atof(first("expires_in").c_str());
      err_code = first("error");
      err_desc = first("error_description");
    } else {
      boost::system::error_code jec;
      auto doc = boost::json::parse(res.body, jec);
      if (!jec && doc.is_object()) {
        const auto& obj = doc.as_object();
        auto str = [&](const char* k) {
          auto it = obj.find(k);
          return it != obj.end() && it->value().is_string() ? std::string(it->value().as_string())
                                                            : std::string();
        };
        access = str("access_token");
        type = str("token_type");
        err_code = str("error");
        err_desc = str("error_description");
        if (auto it = obj.find("expires_in"); it != obj.end()) {
          if (it->value().is_number()) expires_in = it->value().to_number<double>();
          if (it->value().is_string()) expires_in = std::atof(it->value().as_string().c_str());
        }
      }
    }
    if (res.status < 200 || res.status >= 300) {
      *error = prefix + "HTTP " + std::to_string(res.status) + " " + res.reason;
      if (!err_code.empty()) *error += ": " + err_code.substr(0, 200);
      if (!err_desc.empty()) *error += " (" + err_desc.substr(0, 200) + ")";
      co_return false;
    }
    if (access.empty()) {
      *error = prefix + "the response has no access_token";
      co_return false;
    }
    CachedToken t;
    t.header = token_type(type) + " " + access;
    if (expires_in > 0) {
      t.expiry = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(expires_in * 1000));
    }
    *value = t.header;
    std::lock_guard lock(g_token_mu);
    for (auto it = g_tokens.begin(); it != g_tokens.end();) {  // e.g. after secret rotations
      it = it->second.expiry && *it->second.expiry < Clock::now() ? g_tokens.erase(it)
                                                                  : std::next(it);
    }
    g_tokens[key] = std::move(t);
    co_return true;
  }

  // http_headers: values, secrets and files (read now), added to the request.
  bool add_configured_headers(http::request<http::string_body>* req, std::string* error) {
    for (const auto& h : cfg.headers) {
      for (const auto& v : h.values) req->insert(h.name, v);
      for (const auto& v : h.secrets) req->insert(h.name, v.value);
      for (const auto& f : h.files) {
        std::string v;
        if (!read_secret_file(f, &v, error)) {
          *error = "http_headers " + h.name + ": " + *error;
          return false;
        }
        if (v.find_first_of("\r\n") != std::string::npos) {
          *error = "http_headers " + h.name + ": the file " + f + " holds more than one line";
          return false;
        }
        req->insert(h.name, v);
      }
    }
    return true;
  }

  // The request for `r` to `ep`, through `route` when set: an http:// URL goes to
  // the proxy in absolute form (with Proxy-Authorization); an https:// one is
  // tunnelled (see connect) and is sent as if directly.
  // The body moves from `r` into `req` (a push's body is megabytes: copying
  // it was fresh memory to fault in per request); send_raw() moves it back
  // after the exchange, for a redirect that keeps the method.
  bool build_request(const Endpoint& ep, const std::optional<ProxyRoute>& route,
                     HttpRequest& r, const std::string& auth,
                     http::request<http::string_body>* req, std::string* error) {
    bool post = r.method == "POST";
    bool absolute = route && !ep.tls;
    bool default_port = (ep.tls && ep.port == "443") || (!ep.tls && ep.port == "80");
    std::string host_hdr = ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host;
    if (!default_port) host_hdr += ":" + ep.port;
    *req = http::request<http::string_body>{post ? http::verb::post : http::verb::get,
                                            absolute ? "http://" + host_hdr + ep.target : ep.target,
                                            11};
    req->set(http::field::host, host_hdr);
    req->set(http::field::user_agent, user_agent);
    for (const auto& [name, value] : r.headers) req->set(name, value);
    if (!add_configured_headers(req, error)) return false;
    if (post) {
      req->body() = std::move(r.body);
      req->prepare_payload();
    }
    req->keep_alive(true);
    if (!auth.empty()) req->set(http::field::authorization, auth);
    if (absolute && !route->authorization.empty())
      req->set(http::field::proxy_authorization, route->authorization);
    return true;
  }

  // The proxy for `ep`, or a direct connection; false when the proxy URL is unusable.
  bool route_for(const Endpoint& ep, std::optional<ProxyRoute>* route, std::string* error) {
    auto r = proxy.route(ep.tls, ep.host, ep.port);
    if (!r) {
      *error = r.error();
      return false;
    }
    *route = std::move(*r);
    return true;
  }

  // Idle connections are pooled per target and per way of reaching it.
  static std::string pool_key(const Endpoint& ep, const std::optional<ProxyRoute>& route) {
    return route ? ep.key() + " via " + route->display() : ep.key();
  }

  // Reads a response whose body is handed to `on_data` as it arrives.
  template <typename Stream>
  asio::awaitable<void> read_streaming(Stream& s, Connection& c, Clock::time_point deadline,
                                       const std::function<bool(std::string_view)>& on_data,
                                       RawResult* out) {
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
      auto [ec, n] =
          co_await http::async_read_some(s, c.buffer, parser, asio::as_tuple(asio::use_awaitable));
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
                                                       const std::optional<ProxyRoute>& route,
                                                       Clock::time_point deadline,
                                                       std::string* error) {
    auto conn = std::make_unique<Connection>();
    const std::string& host = route ? route->host : ep.host;
    const std::string& port = route ? route->port : ep.port;
    tcp::resolver resolver(ex);
    asio::steady_timer timer(ex, deadline);
    auto res = co_await (resolver.async_resolve(host, port, asio::as_tuple(asio::use_awaitable)) ||
                         timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (res.index() == 1) {
      *error = "resolving " + (route ? "proxy " + host : host) + " timed out";
      co_return nullptr;
    }
    auto [rec, results] = std::get<0>(res);
    if (rec) {
      *error = "cannot resolve " + (route ? "proxy " + host : host) + ": " + rec.message();
      co_return nullptr;
    }
    beast::tcp_stream tcp(ex);
    tcp.expires_at(deadline);
    auto [cec, ep_used] = co_await tcp.async_connect(results, asio::as_tuple(asio::use_awaitable));
    if (cec) {
      *error = route ? "cannot connect to proxy " + route->display() + ": " +
                           describe_error(cec, "connect")
                     : describe_error(cec, "connect to " + host + ":" + port);
      co_return nullptr;
    }
    if (!ep.tls) {
      conn->plain = std::make_unique<beast::tcp_stream>(std::move(tcp));
      co_return conn;
    }
    if (route) {
      bool tunnelled = co_await tunnel(tcp, ep, *route, deadline, error);
      if (!tunnelled) co_return nullptr;
    }
    ssl::context* ctx = tls_context();
    if (!ctx) {
      *error = tls_error;
      co_return nullptr;
    }
    conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(tcp), *ctx);
    std::string sni = cfg.tls.server_name.empty() ? ep.host : cfg.tls.server_name;
    boost::system::error_code addr_ec;
    asio::ip::make_address(sni, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(conn->tls->native_handle(), sni.c_str());
    if (!cfg.tls.insecure_skip_verify)
      conn->tls->set_verify_callback(ssl::host_name_verification(sni));
    conn->lowest().expires_at(deadline);
    auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client,
                                                     asio::as_tuple(asio::use_awaitable));
    if (hec) {
      *error = describe_error(hec, "TLS handshake");
      co_return nullptr;
    }
    co_return conn;
  }

  // Asks the proxy on `tcp` for a tunnel to `ep` (HTTP CONNECT) with the
  // configured proxy_connect_header and the proxy URL's credentials.
  asio::awaitable<bool> tunnel(beast::tcp_stream& tcp, const Endpoint& ep, const ProxyRoute& route,
                               Clock::time_point deadline, std::string* error) {
    std::string authority =
        (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" + ep.port;
    http::request<http::empty_body> req{http::verb::connect, authority, 11};
    req.set(http::field::host, authority);
    req.set(http::field::user_agent, user_agent);
    for (const auto& [name, value] : route.connect_headers) req.insert(name, value);
    if (!route.authorization.empty() && req.find(http::field::proxy_authorization) == req.end())
      req.set(http::field::proxy_authorization, route.authorization);
    tcp.expires_at(deadline);
    auto [wec, wn] = co_await http::async_write(tcp, req, asio::as_tuple(asio::use_awaitable));
    (void)wn;
    if (wec) {
      *error = describe_error(wec, "CONNECT to proxy " + route.display());
      co_return false;
    }
    // The answer to CONNECT has no body, whatever its headers say.
    beast::flat_buffer buf;
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    auto [rec, rn] =
        co_await http::async_read_header(tcp, buf, parser, asio::as_tuple(asio::use_awaitable));
    (void)rn;
    if (rec) {
      *error = describe_error(rec, "CONNECT to proxy " + route.display());
      co_return false;
    }
    int status = static_cast<int>(parser.get().result_int());
    if (status < 200 || status >= 300) {
      *error = "proxy " + route.display() + " refused CONNECT to " + authority + ": HTTP " +
               std::to_string(status) + " " + std::string(parser.get().reason());
      co_return false;
    }
    if (buf.size() != 0) {
      *error = "proxy " + route.display() + " sent data before the tunnel was set up";
      co_return false;
    }
    co_return true;
  }

  // Gives `c` a read buffer of kReadChunk, a spare one when there is one.
  void take_read_buffer(Connection& c) {
    if (c.buffer.capacity() < kReadChunk && !spare_buffers.empty()) {
      beast::flat_buffer spare = std::move(spare_buffers.back());
      spare_buffers.pop_back();
      spare.clear();
      auto n = asio::buffer_copy(spare.prepare(c.buffer.size()), c.buffer.data());
      spare.commit(n);
      c.buffer = std::move(spare);
    }
    c.buffer.reserve(kReadChunk);
  }

  // One request/response exchange. `reused` tells whether the connection came from
  // the idle pool, in which case a failure before any response byte is retryable.
  asio::awaitable<bool> exchange(Connection& c, http::request<http::string_body>& req,
                                 bool answer_delayed, size_t body_size_hint,
                                 Clock::time_point deadline, RawResult* out, bool* keep_alive,
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
    ResponseParser parser;
    parser.body_limit(body_limit);
    parser.header_limit(64 * 1024);
    // The head first. A prompt answer's with a read buffer of 64 KiB
    // (Beast's largest read; a spare one when there is one), which takes the
    // head and the start of the body, often all of it, in one read. A delayed
    // answer's (a CPU profile's comes N seconds later: hundreds of scrapes
    // wait at once, holding little) with whatever buffer the connection has.
    // A body of known length (the parser refused one above the body limit)
    // is then read straight into its string. Other bodies (chunked, as Go's
    // net/http sends any answer over 2 KiB whose length its handler did not
    // set, or ended by the connection's close) go through the parser in
    // reads of 64 KiB: Beast reads at most what the buffer has room for, and
    // no less than 512 bytes, so an idle connection's released buffer made a
    // 200 KB profile hundreds of 512-byte recv() calls, each after an
    // epoll_wait. Such a body of a successful answer goes into a string of
    // the request's body_size_hint capacity (a scrape loop's last body
    // size): grown read by read, a 200 KB string was reallocated and copied
    // as it grew (0.6 % of the collector's CPU, in memmove, in a perf window
    // of bench/fleet_bench.sh).
    if (!answer_delayed) take_read_buffer(c);
    ec = co_await read_response(c, parser, true);
    std::optional<std::string> known_body;
    if (!ec && !parser.is_done() && !parser.chunked() && parser.content_length() &&
        *parser.content_length() <= body_limit && req.method() != http::verb::head) {
      known_body.emplace(static_cast<size_t>(*parser.content_length()), '\0');
      ec = co_await read_known_body(c, *known_body);
      if (ec == asio::error::eof) ec = http::error::partial_message;  // as the parser says
    } else if (!ec && !parser.is_done()) {
      const unsigned status = parser.get().result_int();
      if (body_size_hint && body_size_hint <= body_limit && status >= 200 && status < 300) {
        parser.get().body().reserve(body_size_hint);
      }
      take_read_buffer(c);
      ec = co_await read_response(c, parser, false);
    }
    if (ec) {
      *retryable = !parser.got_some() && ec != beast::error::timeout;
      if (ec == http::error::body_limit) {
        out->code = Status::Code::kResourceExhausted;
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
    out->body = known_body ? std::move(*known_body) : std::move(res.body());
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
  impl_->proxy = ProxySelector(impl_->cfg.proxy);
}

HttpClient::~HttpClient() = default;

void HttpClient::close_idle() {
  impl_->idle.clear();
  if (impl_->token_client) impl_->token_client->close_idle();
}

asio::awaitable<HttpResult> HttpClient::get(std::string url, Clock::time_point deadline,
                                            std::chrono::milliseconds scrape_timeout,
                                            bool answer_delayed, size_t body_size_hint) {
  HttpRequest r;
  r.url = std::move(url);
  r.answer_delayed = answer_delayed;
  r.body_size_hint = body_size_hint;
  r.headers = {{"Accept", "application/octet-stream, */*;q=0.5"},
               {"X-Prometheus-Scrape-Timeout-Seconds",
                std::to_string(static_cast<double>(scrape_timeout.count()) / 1000.0)}};
  co_return co_await send(std::move(r), deadline);
}

namespace {

asio::awaitable<RawResult> stream_raw(HttpClient::Impl* impl_, HttpRequest r,
                                      HttpClient::Clock::time_point deadline,
                                      std::function<bool(std::string_view)> on_data) {
  RawResult out;
  Endpoint ep;
  if (!parse_url(r.url, &ep, &out.error)) co_return out;
  std::optional<ProxyRoute> route;
  if (!impl_->route_for(ep, &route, &out.error)) co_return out;
  std::string auth;
  bool auth_ok = co_await impl_->auth_header(deadline, &auth, &out.error);
  if (!auth_ok) co_return out;
  http::request<http::string_body> req;
  if (!impl_->build_request(ep, route, r, auth, &req, &out.error)) co_return out;
  req.keep_alive(false);
  auto conn = co_await impl_->connect(ep, route, deadline, &out.error);
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

// (`r`'s body is in it again when this returns.)
asio::awaitable<RawResult> send_raw(HttpClient::Impl* impl_, HttpRequest& r,
                                    HttpClient::Clock::time_point deadline) {
  RawResult out;
  std::string original_host;
  std::string url = std::move(r.url);
  bool post = r.method == "POST";
  for (int hop = 0;; ++hop) {
    Endpoint ep;
    if (!parse_url(url, &ep, &out.error)) co_return out;
    if (hop == 0) original_host = ep.key();

    std::optional<ProxyRoute> route;
    if (!impl_->route_for(ep, &route, &out.error)) co_return out;
    // Credentials go only to the configured host, never across a redirect to another one.
    std::string auth;
    if (ep.key() == original_host) {
      bool ok = co_await impl_->auth_header(deadline, &auth, &out.error);
      if (!ok) co_return out;
    }
    http::request<http::string_body> req;
    if (!impl_->build_request(ep, route, r, auth, &req, &out.error)) co_return out;
    // However this hop ends, a POST's body goes back to `r`: for a redirect
    // that keeps the method, and for the caller.
    struct BodyBack {
      std::string* to;
      std::string* from;
      ~BodyBack() {
        if (to) *to = std::move(*from);
      }
    } body_back{post ? &r.body : nullptr, &req.body()};
    std::string key = HttpClient::Impl::pool_key(ep, route);

    RawResult attempt;
    bool done = false;
    for (int tries = 0; tries < 2 && !done; ++tries) {
      std::unique_ptr<Connection> conn;
      bool reused = false;
      auto& pool = impl_->idle[key];
      if (!pool.empty()) {
        conn = std::move(pool.back());
        pool.pop_back();
        reused = true;
      } else {
        std::string err;
        conn = co_await impl_->connect(ep, route, deadline, &err);
        if (!conn) {
          out.error = err;
          co_return out;
        }
      }
      bool keep_alive = false, retryable = false;
      attempt = RawResult{};
      bool ok = co_await impl_->exchange(*conn, req, r.answer_delayed, r.body_size_hint, deadline,
                                         &attempt, &keep_alive, &retryable);
      if (ok) {
        done = true;
        if (keep_alive && impl_->idle[key].size() < 4) {
          // An idle connection keeps no read buffer: with hundreds of
          // targets, 64 KiB each would add up to more than everything else.
          // A few go back to the spares (as many as exchanges run at once).
          conn->buffer.clear();
          if (impl_->spare_buffers.size() < kSpareBuffers) {
            impl_->spare_buffers.push_back(std::move(conn->buffer));
            conn->buffer = beast::flat_buffer();
          } else {
            conn->buffer.shrink_to_fit();
          }
          impl_->idle[key].push_back(std::move(conn));
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
    bool is_redirect =
        keeps_method ||
        (!post && (attempt.status == 301 || attempt.status == 302 || attempt.status == 303));
    if (!is_redirect || !impl_->cfg.follow_redirects) {
      attempt.redirects = hop;
      if (attempt.final_url.empty() || !is_redirect) attempt.final_url = url;
      co_return attempt;
    }
    if (hop >= HttpClient::kMaxRedirects) {
      out.error = "stopped after " + std::to_string(HttpClient::kMaxRedirects) +
                  " redirects (last to " + url + ")";
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

// The public form: the failure as a Status.
HttpResult publish(RawResult r) {
  HttpResult out;
  if (!r.error.empty()) out.error = Status(r.code, std::move(r.error));
  out.status = r.status;
  out.reason = std::move(r.reason);
  out.content_type = std::move(r.content_type);
  out.content_encoding = std::move(r.content_encoding);
  out.body = std::move(r.body);
  out.final_url = std::move(r.final_url);
  out.redirects = r.redirects;
  return out;
}

}  // namespace

asio::awaitable<HttpResult> HttpClient::send(HttpRequest r, Clock::time_point deadline) {
  HttpResult out = publish(co_await send_raw(impl_.get(), r, deadline));
  out.request_body = std::move(r.body);
  co_return out;
}

asio::awaitable<HttpResult> HttpClient::stream(HttpRequest r, Clock::time_point deadline,
                                               std::function<bool(std::string_view)> on_data) {
  co_return publish(co_await stream_raw(impl_.get(), std::move(r), deadline, std::move(on_data)));
}

}  // namespace stoker
