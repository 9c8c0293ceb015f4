#include "net/http_server.h"

#include "model/log.h"
#include "net/appended_body.h"
#include "net/asio_pch.h"
#include "net/web_security.h"

namespace stoker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct WebServer::Impl : std::enable_shared_from_this<WebServer::Impl> {
  Impl(asio::io_context& io, WebHandler h, WebServerOptions o)
      : io(io), acceptor(io), handler(std::move(h)), options(std::move(o)) {}

  WebResponse run(const WebRequest& wr) {
    try {
      return handler(wr);
    } catch (const std::exception& e) {
      log::error("web", "handler failed", {{"path", wr.path}, {"err", e.what()}});
      WebResponse out;
      out.status = 500;
      out.body = std::string("internal error: ") + e.what() + "\n";
      return out;
    }
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (acceptor.is_open()) {
      auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (!acceptor.is_open()) break;
        continue;
      }
      asio::co_spawn(io, connection(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> connection(tcp::socket sock) {
    auto self = shared_from_this();
    std::shared_ptr<const WebSecurity::State> sec;
    if (options.security) sec = options.security->current();
    if (!sec || !sec->ssl) {
      beast::tcp_stream stream(std::move(sock));
      co_await serve(stream, sec.get());
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(sock)), *sec->ssl);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                asio::as_tuple(asio::use_awaitable));
    if (ec) {
      log::debug("web", "TLS handshake failed", {{"err", ec.message()}});
      co_return;
    }
    std::string refused = WebSecurity::check_peer(*sec, stream.native_handle());
    if (!refused.empty()) {
      log::warn("web", "client certificate refused", {{"err", refused}});
      co_return;
    }
    co_await serve(stream, sec.get());
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, const WebSecurity::State* sec) {
    beast::flat_buffer buffer;
    for (;;) {
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
      http::request_parser<AppendedStringBody> parser;  // (no zeroing before the copy)
      parser.header_limit(8 * 1024);
      // The limit depends on the path: Beast would refuse a Content-Length
      // over its 1 MiB default while reading the header, so it is checked
      // below, once the path is known.
      parser.body_limit(boost::none);
      auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser,
                                                        asio::as_tuple(asio::use_awaitable));
      if (hec) break;
      size_t limit = options.body_limit;
      std::string path(parser.get().target());
      path = path.substr(0, path.find('?'));
      if (options.body_limit_for) {
        if (size_t l = options.body_limit_for(path)) limit = l;
      }
      parser.body_limit(limit);
      const auto declared = parser.content_length();
      if (declared && *declared > limit) {
        co_await refuse_too_large(stream, limit, path);
        break;
      }
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // The client waits for this before sending its body (curl does for
        // bodies over 1 KiB); without it, every such upload stalls a second.
        http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
        auto [cec, cn] =
            co_await http::async_write(stream, cont, asio::as_tuple(asio::use_awaitable));
        if (cec) break;
      }
      auto [ec, n] =
          co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec == http::error::body_limit) {
        co_await refuse_too_large(stream, limit, path);
        break;
      }
      if (ec) break;
      auto req = parser.release();
      WebRequest wr;
      wr.method = std::string(req.method_string());
      std::string target(req.target());
      auto q = target.find('?');
      wr.path = target.substr(0, q);
      if (q != std::string::npos) wr.query = target.substr(q + 1);
      wr.body = std::move(req.body());
      for (const auto& f : req) {
        std::string name(f.name_string());
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        wr.headers.emplace_back(std::move(name), std::string(f.value()));
      }
      WebResponse out;
      bool allowed = true;
      if (sec && !sec->config.basic_auth_users.empty()) {
        // bcrypt is slow on purpose: check off the I/O thread.
        auto check = [this, sec, auth = wr.header("authorization")]() -> asio::awaitable<bool> {
          co_return options.security->authorized(*sec, auth);
        };
        allowed = options.auth_pool
                      ? co_await asio::co_spawn(options.auth_pool->get_executor(), check,
                                                uncancelled_awaitable())
                      : options.security->authorized(*sec, wr.header("authorization"));
      }
      asio::thread_pool* pool = allowed && options.offload ? options.offload(wr) : nullptr;
      if (!allowed) {
        out.status = 401;
        out.body = "Unauthorized\n";
        out.headers.emplace_back("WWW-Authenticate", "Basic");
      } else if (pool) {
        out = co_await asio::co_spawn(
            pool->get_executor(), [&]() -> asio::awaitable<WebResponse> { co_return run(wr); },
            uncancelled_awaitable());
      } else {
        out = run(wr);
      }
      http::response<http::string_body> res{static_cast<http::status>(out.status), req.version()};
      res.set(http::field::server, "stoker");
      res.set(http::field::content_type, out.content_type);
      if (sec) {
        for (const auto& [k, v] : sec->config.headers) res.set(k, v);
      }
      for (const auto& [k, v] : out.headers) res.set(k, v);
      res.keep_alive(req.keep_alive());
      res.body() = std::move(out.body);
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (wec || !res.keep_alive()) break;
    }
  }

  // Says why before closing: the rest of the body is not read.
  template <typename Stream>
  asio::awaitable<void> refuse_too_large(Stream& stream, size_t limit, const std::string& path) {
    if (options.on_body_too_large) options.on_body_too_large(path);
    http::response<http::string_body> res{http::status::payload_too_large, 11};
    res.set(http::field::server, "stoker");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "request body exceeds " + std::to_string(limit) + " bytes\n";
    res.keep_alive(false);
    res.prepare_payload();
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  }

  asio::io_context& io;
  tcp::acceptor acceptor;
  WebHandler handler;
  WebServerOptions options;
};

WebServer::WebServer(asio::io_context& io, WebHandler handler, WebServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(handler), std::move(options))) {}

WebServer::~WebServer() {
  stop();
}

Status WebServer::start(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return Status::invalid("invalid listen address \"" + listen + "\" (want host:port)");
  }
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) {
    return Status::invalid("cannot resolve listen address \"" + listen + "\": " + ec.message());
  }
  tcp::endpoint ep = results.begin()->endpoint();
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string why = ec.message();
    acc.close(ec);
    return Status::invalid("cannot listen on " + listen + ": " + why);
  }
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  return Status();
}

unsigned short WebServer::port() const {
  boost::system::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void WebServer::stop() {
  asio::post(impl_->io, [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
}

}  // namespace stoker
