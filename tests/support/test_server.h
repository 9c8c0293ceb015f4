// TestServer: a real HTTP/1.1 server on 127.0.0.1 with an ephemeral port, for
// tests that need a misbehaving or scripted target. Each connection is served on
// its own thread by a handler returning the raw response bytes (or choosing to
// hang). Requests are recorded for assertions. Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stoker::test {

struct RecordedRequest {
  std::string method, target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;                                          // read when Content-Length is given
  std::string header(const std::string& name) const;
};

// Method, target and headers (names lower-cased) of a request head without its
// final blank line.
RecordedRequest parse_request_head(const std::string& head);

// What to send back. `hang` keeps the connection open without answering until the
// server stops. `close_after` closes the connection after the response.
struct RawResponse {
  std::string bytes;
  bool hang = false;
  bool close_after = false;
};

class TestServer {
 public:
  using Handler = std::function<RawResponse(const RecordedRequest&)>;
  // Listens on `port` (0: an ephemeral port).
  explicit TestServer(Handler handler, int port = 0);
  ~TestServer();
  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedRequest> requests() const;
  int connections() const { return connections_.load(); }

  // Builds a complete response with Content-Length.
  static std::string response(int status, const std::string& content_type, const std::string& body,
                              const std::string& extra_headers = "");

 private:
  void accept_loop();
  void serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::vector<std::thread> workers_;
  std::vector<int> open_fds_;
};

}  // namespace stoker::test
