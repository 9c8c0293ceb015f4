#include "net/proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <boost/url.hpp>
#include <cstdlib>
#include <cstring>

#include "model/text.h"

namespace stoker {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// An IPv4 or IPv6 address in network order; empty when `s` is not one.
std::string ip_bytes(const std::string& s) {
  unsigned char buf[16];
  if (::inet_pton(AF_INET, s.c_str(), buf) == 1)
    return std::string(reinterpret_cast<char*>(buf), 4);
  if (::inet_pton(AF_INET6, s.c_str(), buf) == 1)
    return std::string(reinterpret_cast<char*>(buf), 16);
  return "";
}

bool is_loopback(const std::string& ip) {
  if (ip.size() == 4) return static_cast<unsigned char>(ip[0]) == 127;
  if (ip.size() == 16) {
    static const std::string v6(std::string(15, '\0') + '\1');
    static const std::string mapped_prefix(std::string(10, '\0') + "\xff\xff");
    return ip == v6 ||
           (ip.compare(0, 12, mapped_prefix) == 0 && static_cast<unsigned char>(ip[12]) == 127);
  }
  return false;
}

bool in_cidr(const std::string& ip, const std::string& cidr) {
  auto slash = cidr.find('/');
  std::string net = ip_bytes(cidr.substr(0, slash));
  int bits = std::atoi(cidr.c_str() + slash + 1);
  if (net.empty() || net.size() != ip.size() || bits < 0 || bits > static_cast<int>(net.size() * 8))
    return false;
  for (int i = 0; i < bits; ++i) {
    int byte = i / 8, bit = 7 - i % 8;
    if (((ip[byte] >> bit) & 1) != ((net[byte] >> bit) & 1)) return false;
  }
  return true;
}

// Splits "host:port", "[v6]:port", "host" or "v6".
void split_host_port(const std::string& s, std::string* host, std::string* port) {
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    *host = s.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    *port = close != std::string::npos && close + 1 < s.size() && s[close + 1] == ':'
                ? s.substr(close + 2)
                : "";
    return;
  }
  auto colon = s.find(':');
  if (colon != std::string::npos && s.find(':', colon + 1) == std::string::npos) {
    *host = s.substr(0, colon);
    *port = s.substr(colon + 1);
  } else {
    *host = s;
    port->clear();
  }
}

}  // namespace

std::string ProxyRoute::display() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

ProxySelector::ProxySelector(const ProxyConfig& cfg, const Getenv& getenv_fn) {
  for (const auto& [name, value] : cfg.connect_headers)
    connect_headers_.emplace_back(name, value.value);
  std::string no_proxy;
  if (cfg.from_environment) {
    auto env = [&](const char* upper, const char* low) -> std::string {
      const char* v = getenv_fn ? getenv_fn(upper) : std::getenv(upper);
      if (!v || !*v) v = getenv_fn ? getenv_fn(low) : std::getenv(low);
      return v ? v : "";
    };
    http_proxy_ = env("HTTP_PROXY", "http_proxy");
    https_proxy_ = env("HTTPS_PROXY", "https_proxy");
    no_proxy = env("NO_PROXY", "no_proxy");
  } else if (!cfg.url.empty()) {
    http_proxy_ = https_proxy_ = cfg.url;
    fixed_ = cfg.no_proxy.empty();
    no_proxy = cfg.no_proxy;
  }
  size_t pos = 0;
  while (pos <= no_proxy.size()) {
    size_t comma = no_proxy.find(',', pos);
    std::string entry =
        lower(trim(no_proxy.substr(pos, comma == std::string::npos ? comma : comma - pos)));
    pos = comma == std::string::npos ? no_proxy.size() + 1 : comma + 1;
    if (entry.empty()) continue;
    if (entry == "*") {
      no_proxy_all_ = true;
      continue;
    }
    if (entry.find('/') != std::string::npos) {
      no_proxy_.push_back({Matcher::kCidr, entry, "", false});
      continue;
    }
    std::string host, port;
    split_host_port(entry, &host, &port);
    if (!ip_bytes(host).empty()) {
      no_proxy_.push_back({Matcher::kIp, ip_bytes(host), port, false});
      continue;
    }
    if (host.rfind("*.", 0) == 0) host.erase(0, 1);
    if (host.empty() || host == ".") continue;  // ":80", "*.": nothing to match
    bool match_host = host.front() != '.';
    if (match_host) host = "." + host;
    no_proxy_.push_back({Matcher::kDomain, host, port, match_host});
  }
}

bool ProxySelector::bypass(const std::string& host_in, const std::string& port) const {
  std::string host = lower(host_in);
  if (host == "localhost") return true;
  std::string ip = ip_bytes(host);
  if (!ip.empty() && is_loopback(ip)) return true;
  if (no_proxy_all_) return true;
  for (const auto& m : no_proxy_) {
    if (m.kind == Matcher::kCidr) {
      if (!ip.empty() && in_cidr(ip, m.text)) return true;
    } else if (m.kind == Matcher::kIp) {
      if (!ip.empty() && ip == m.text && (m.port.empty() || m.port == port)) return true;
    } else if (ip.empty()) {
      bool suffix = host.size() >= m.text.size() &&
                    host.compare(host.size() - m.text.size(), m.text.size(), m.text) == 0;
      if ((suffix || (m.match_host && host == m.text.substr(1))) &&
          (m.port.empty() || m.port == port))
        return true;
    }
  }
  return false;
}

Result<ProxyRoute> ProxySelector::parse(const std::string& raw) const {
  // Go accepts an environment value without a scheme as an http:// proxy.
  std::string url = raw.find("://") == std::string::npos ? "http://" + raw : raw;
  auto r = boost::urls::parse_uri(url);
  if (!r || r->scheme() != "http" || r->host_address().empty()) {
    // The URL may hold a password: name the proxy only by what precedes it.
    return Status::invalid("unusable proxy URL (stoker supports http://[user:password@]host:port)");
  }
  ProxyRoute route;
  route.host = r->host_address();
  route.port = r->has_port() ? std::string(r->port()) : "80";
  if (r->has_userinfo()) {
    route.authorization = "Basic " + base64_encode(r->user() + ":" + r->password());
  }
  route.connect_headers = connect_headers_;
  return route;
}

Result<std::optional<ProxyRoute>> ProxySelector::route(bool tls, const std::string& host,
                                                       const std::string& port) const {
  const std::string& proxy = tls ? https_proxy_ : http_proxy_;
  if (proxy.empty()) return std::optional<ProxyRoute>();
  if (!fixed_ && bypass(host, port)) return std::optional<ProxyRoute>();
  auto r = parse(proxy);
  if (!r) return r.status();
  return std::optional<ProxyRoute>(std::move(*r));
}

}  // namespace stoker
