// WebServer: a small HTTP/1.1 server (Beast) for stoker's API and health checks.
//
// Each request is answered by a Handler working on plain values, so handlers
// need no Beast. Requests are bounded (8 KiB headers, bodies up to
// `body_limit`, chunked or not) and every connection has an idle timeout.
// Requests the `blocking` predicate picks (queries) run on a separate thread
// pool so that the I/O thread never waits for them; the others run on the I/O
// thread. start() binds synchronously so that a bad listen address fails at
// start-up with a clear message. Runs on one io_context; stop() may be called
// from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
class thread_pool;
}  // namespace boost::asio

namespace stoker {

struct WebRequest {
  std::string method;
  std::string path;   // without query
  std::string query;  // without '?'
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  // The value of header `name` (lower-case), "" when absent.
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return "";
  }
};

struct WebResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
};

using WebHandler = std::function<WebResponse(const WebRequest&)>;

class WebSecurity;

struct WebServerOptions {
  size_t body_limit = 1 << 20;
  // TLS and basic auth from the web config file, applied to every request (unset: none).
  std::shared_ptr<WebSecurity> security;
  // Requests for which `blocking` is true run on `pool` (both may be unset).
  boost::asio::thread_pool* pool = nullptr;
  std::function<bool(const WebRequest&)> blocking;
};

class WebServer {
 public:
  WebServer(boost::asio::io_context& io, WebHandler handler, WebServerOptions options = {});
  ~WebServer();
  // Binds and listens on host:port; returns false with a message on failure.
  bool start(const std::string& listen_address, std::string* error);
  // The bound port (useful with port 0).
  unsigned short port() const;
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
