// WebServer: a small HTTP/1.1 server (Beast) for stoker's API and health checks.
//
// Each request is answered by a Handler working on plain values, so handlers
// need no Beast. Requests are bounded (8 KiB headers, no bodies over 1 MiB) and
// every connection has an idle timeout. start() binds synchronously so that a
// bad listen address fails at start-up with a clear message. Runs on one
// io_context; stop() may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class io_context;
}

namespace stoker {

struct WebRequest {
  std::string method;
  std::string path;   // without query
  std::string query;  // without '?'
  std::string body;
};

struct WebResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using WebHandler = std::function<WebResponse(const WebRequest&)>;

class WebServer {
 public:
  WebServer(boost::asio::io_context& io, WebHandler handler);
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
