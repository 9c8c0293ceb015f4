// HttpClient: HTTP/1.1 and HTTPS requests with one HttpClientConfig: scrapes of
// a job's targets, Kubernetes API and HTTP SD requests, remote_write pushes.
//
// Keeps idle keep-alive connections per host for reuse, applies the config's
// auth (credential files are re-read on every request so rotation
// works), TLS settings, redirect policy and body size limit, and enforces an
// absolute deadline on every step (resolve, connect, handshake, write, read).
// Every failure is returned as a Status with a readable message, never thrown:
// unavailable for network failures and timeouts, resource_exhausted for a body
// over the limit. Must be used from the io_context it was created on (not
// thread-safe).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "model/status.h"

namespace stoker {

struct HttpResult {
  Status error;  // OK when a response arrived (any HTTP status counts as success here)
  int status = 0;
  std::string reason;
  std::string content_type;
  std::string content_encoding;
  std::string body;
  std::string final_url;  // after redirects
  int redirects = 0;
  // The request's body, handed back (a caller that sends many bodies reuses
  // its memory).
  std::string request_body;
};

// A request other than a plain scrape GET (the push API's POST).
struct HttpRequest {
  std::string method = "GET";  // GET or POST
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The server answers only after a while (a CPU profile's ?seconds=N):
  // its answer's head is read without taking a 64 KiB read buffer first,
  // so that hundreds of such waits hold little. A prompt answer is read
  // with the large buffer from its first byte: head and body in one read.
  bool answer_delayed = false;
  // The size the answer's body is expected to have (a scrape loop's last
  // one), or 0: a body of unannounced length (chunked, as Go's pprof
  // handlers send) is read into a string of this capacity from its first
  // byte instead of one regrown (and copied) as the chunks come.
  size_t body_size_hint = 0;
};

class HttpClient {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMaxRedirects = 10;
  static constexpr uint64_t kDefaultBodyLimit = 256ull << 20;

  // `body_limit` 0 means kDefaultBodyLimit.
  HttpClient(boost::asio::any_io_executor ex, HttpClientConfig cfg, uint64_t body_limit,
             std::string user_agent);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GETs `url`, following redirects per config, finishing before `deadline`.
  boost::asio::awaitable<HttpResult> get(std::string url, Clock::time_point deadline,
                                         std::chrono::milliseconds scrape_timeout,
                                         bool answer_delayed = false, size_t body_size_hint = 0);

  // Sends `req` with the configured auth and TLS. Redirects are followed per
  // config; a POST follows only 307/308 (which keep the method and body).
  boost::asio::awaitable<HttpResult> send(HttpRequest req, Clock::time_point deadline);

  // GETs `req.url` on a fresh connection and hands a 2xx response's body to
  // `on_data` as it arrives (a Kubernetes watch stream); `on_data` returns
  // false to stop reading. For other statuses the first 64 KiB of the body are
  // in the result instead. No redirects are followed.
  boost::asio::awaitable<HttpResult> stream(HttpRequest req, Clock::time_point deadline,
                                            std::function<bool(std::string_view)> on_data);

  // Closes idle connections (the OAuth2 token client's too). Must be called
  // before the io_context is destroyed if the client outlives it.
  void close_idle();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
