// HTTP service discovery (Prometheus' http_sd_configs).
//
// parse_http_sd_response() is the pure part: a 200 answer with Content-Type
// application/json (optionally `; charset=utf-8`) holding Prometheus'
// target-group JSON; each group gets the source "<url>:<index>" and the label
// __meta_url. HttpSdState turns successive answers into updates, with empty
// groups for indexes that vanished. HttpDiscoverer polls the URL every
// refresh_interval on the process's io_context (with an HTTP client of its own
// carrying the config's auth and TLS): a failed refresh keeps the previous
// targets, is counted and logged once (repeats at debug, recovery at info).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/discoverer.h"
#include "discovery/target_group.h"

namespace stoker {

// Bodies larger than this are refused (an HTTP SD answer is a target list).
constexpr uint64_t kHttpSdBodyLimit = 16ull << 20;

// Checks and parses one answer of `url`; a failure is in Prometheus' words
// where it has them.
Status parse_http_sd_response(const std::string& url, int status, const std::string& reason,
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

class HttpDiscoverer : public Discoverer {
 public:
  HttpDiscoverer(std::string job, HttpSdConfig cfg, const DiscoveryContext& ctx);
  ~HttpDiscoverer() override;
  void start(Sink sink) override;
  void stop() override;

  // Fetches once and appends the groups (for `stoker targets`).
  static Status fetch_once(const HttpSdConfig& cfg, std::vector<TargetGroup>* out);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
