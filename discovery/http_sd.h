// HTTP service discovery (Prometheus' http_sd_configs).
//
// parse_http_sd_response() is the pure part: a 200 answer with Content-Type
// application/json (optionally `; charset=utf-8`) holding Prometheus'
// target-group JSON; each group gets the source "<url>:<index>" and the label
// __meta_url. HttpSdState turns successive answers into updates, with empty
// groups for indexes that vanished. HttpDiscoverer polls the URL every
// refresh_interval on its own thread (its own io_context and HTTP client, with
// the config's auth and TLS): a failed refresh keeps the previous targets and
// is logged once (repeats at debug, recovery at info). Calls `on_update` from
// that thread. stop() (or the destructor) joins it.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/target.h"

namespace stoker {

// Bodies larger than this are refused (an HTTP SD answer is a target list).
constexpr uint64_t kHttpSdBodyLimit = 16ull << 20;

// Checks and parses one answer of `url`. Returns "" or the error, in
// Prometheus' words where it has them.
std::string parse_http_sd_response(const std::string& url, int status, const std::string& reason,
                                   const std::string& content_type, const std::string& body,
                                   std::vector<TargetGroup>* groups);

class HttpSdState {
 public:
  // The update for a new answer: its groups, then empty groups for the
  // sources of the previous answer that are gone.
  std::vector<TargetGroup> update(const std::string& url, std::vector<TargetGroup> groups);

 private:
  size_t last_size_ = 0;
};

class HttpDiscoverer {
 public:
  using Callback = std::function<void(std::vector<TargetGroup>)>;
  HttpDiscoverer(std::string job, HttpSdConfig cfg, Callback on_update);
  ~HttpDiscoverer();
  void start();
  void stop();

  // Fetches once (for `stoker targets`); sets `error` on failure.
  static std::vector<TargetGroup> fetch_once(const HttpSdConfig& cfg, std::string* error);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
