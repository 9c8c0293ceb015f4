// ProxySelector: which HTTP proxy, if any, a request goes through.
//
// Follows Go's net/http semantics as Prometheus uses them: a fixed proxy_url
// without no_proxy proxies every request; proxy_url with no_proxy and
// proxy_from_environment (HTTP_PROXY, HTTPS_PROXY, NO_PROXY and their lower-case
// forms) never proxy localhost or loopback addresses and skip hosts matched by
// the no-proxy list (IP addresses, CIDR ranges, domains with their subdomains,
// ".domain" for subdomains only, an optional :port, or "*" for everything).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "model/status.h"

namespace stoker {

struct ProxyRoute {
  std::string host;  // the proxy's host (without brackets) and port
  std::string port;
  std::string authorization;  // "Basic …" from the proxy URL's user info, or empty
  std::vector<std::pair<std::string, std::string>> connect_headers;
  std::string display() const;  // host:port, for messages (never the credentials)
};

class ProxySelector {
 public:
  using Getenv = std::function<const char*(const char*)>;
  ProxySelector() = default;
  // Reads the environment once, as Go does.
  explicit ProxySelector(const ProxyConfig& cfg, const Getenv& getenv = nullptr);

  // The proxy for a request to `host`:`port` (`tls`: an https URL); nullopt
  // for a direct connection. A failure when the proxy URL is unusable.
  Result<std::optional<ProxyRoute>> route(bool tls, const std::string& host,
                                          const std::string& port) const;

 private:
  struct Matcher {
    enum Kind { kIp, kCidr, kDomain } kind;
    std::string text;         // IP address, CIDR or domain (leading '.')
    std::string port;         // empty: any
    bool match_host = false;  // a domain entry without a leading '.' also matches itself
  };
  bool bypass(const std::string& host, const std::string& port) const;
  Result<ProxyRoute> parse(const std::string& url) const;

  bool fixed_ = false;  // proxy_url without no_proxy: everything through it
  std::string http_proxy_, https_proxy_;
  bool no_proxy_all_ = false;
  std::vector<Matcher> no_proxy_;
  std::vector<std::pair<std::string, std::string>> connect_headers_;
};

}  // namespace stoker
