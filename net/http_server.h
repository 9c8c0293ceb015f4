// WebServer: a small HTTP/1.1 server (Beast) for stoker's API and health checks.
//
// Each request is answered by a Handler working on plain values, so handlers
// need no Beast. Requests are bounded (8 KiB headers, bodies up to
// `body_limit` or what `body_limit_for` says for the path, chunked or not;
// `Expect: 100-continue` is answered once the headers are accepted) and every
// connection has an idle timeout. Requests `offload` assigns a thread pool
// (queries, pushed profiles) run there so that the I/O thread never waits for
// them; the others run on the I/O thread. start() binds synchronously so that
// a bad listen address fails at start-up with a clear message. Runs on one
// io_context; stop() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/status.h"

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
  // A different body limit for some paths (0: `body_limit`); may be unset.
  std::function<size_t(std::string_view path)> body_limit_for;
  // Told about each request refused (413) for its body size; may be unset.
  std::function<void(std::string_view path)> on_body_too_large;
  // TLS and basic auth from the web config file, applied to every request (unset: none).
  std::shared_ptr<WebSecurity> security;
  // Where basic-auth passwords are checked (bcrypt is slow); unset: the I/O thread.
  boost::asio::thread_pool* auth_pool = nullptr;
  // The pool a request runs on; null (or unset): the I/O thread.
  std::function<boost::asio::thread_pool*(const WebRequest&)> offload;
};

class WebServer {
 public:
  WebServer(boost::asio::io_context& io, WebHandler handler, WebServerOptions options = {});
  ~WebServer();
  // Binds and listens on host:port; a failure names the address and why.
  Status start(const std::string& listen_address);
  // The bound port (useful with port 0).
  unsigned short port() const;
  void stop();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
