// DNS service discovery (Prometheus' dns_sd_configs), with c-ares.
//
// dns_lookup() resolves one name with the system resolver configuration
// (/etc/resolv.conf: nameservers, search domains, ndots) and turns the answer
// into targets as Prometheus does: SRV records give <target>:<port>, A/AAAA
// records <address>:<port>, MX and NS records <host>:<port>, each with
// __meta_dns_name and, per type, __meta_dns_srv_record_target/_port,
// __meta_dns_mx_record_target or __meta_dns_ns_record_target (record targets
// keep their trailing dot; the address does not). A name that does not exist
// (NXDOMAIN) or has no records of the type gives no targets; any other failure
// (timeout, SERVFAIL, refused) is an error, and the discoverer then keeps the
// name's previous targets. Each name is one target group whose source is the
// name.
//
// For tests and debugging, STOKER_RESOLV_CONF names a file read instead of
// /etc/resolv.conf and STOKER_DNS_SERVERS ("127.0.0.1:5353,[::1]:5353")
// replaces its nameservers.
//
// DnsDiscoverer refreshes every refresh_interval on its own thread and calls
// `on_update` from it; stop() (or the destructor) joins it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/target.h"

namespace stoker {

struct DnsLookup {
  std::string error;            // empty: an answer (possibly with no records)
  std::vector<Labels> targets;  // __address__ and the __meta_dns_* labels
};

// `type`: SRV, A, AAAA, MX or NS; `port` for all but SRV. Gives up after
// `timeout` or when `*cancel` becomes true.
DnsLookup dns_lookup(const std::string& name, const std::string& type, int port,
                     std::chrono::milliseconds timeout, const std::atomic<bool>* cancel = nullptr);

class DnsDiscoverer {
 public:
  using Callback = std::function<void(std::vector<TargetGroup>)>;
  DnsDiscoverer(std::string job, DnsSdConfig cfg, Callback on_update);
  ~DnsDiscoverer();
  void start();
  void stop();

  // Looks every name up once (for `stoker targets`); errors are appended.
  static std::vector<TargetGroup> lookup_once(const DnsSdConfig& cfg,
                                              std::vector<std::string>* errors);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
