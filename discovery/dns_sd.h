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
// DnsDiscoverer refreshes every refresh_interval: its timer and state live on
// the process's io_context, the lookups (blocking c-ares calls, up to 20 s
// each) run on the blocking pool so that they never hold up the io_context.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/discoverer.h"
#include "discovery/target_group.h"
#include "model/status.h"

namespace stoker {

// The targets of `name` (__address__ and the __meta_dns_* labels; none when
// the name or its records do not exist), or why the lookup failed. `type`:
// SRV, A, AAAA, MX or NS; `port` for all but SRV. Gives up after `timeout` or
// when `*cancel` becomes true. Blocks.
Result<std::vector<Labels>> dns_lookup(const std::string& name, const std::string& type, int port,
                                       std::chrono::milliseconds timeout,
                                       const std::atomic<bool>* cancel = nullptr);

class DnsDiscoverer : public Discoverer {
 public:
  // `ctx.blocking` must be set.
  DnsDiscoverer(std::string job, DnsSdConfig cfg, const DiscoveryContext& ctx);
  ~DnsDiscoverer() override;
  void start(Sink sink) override;
  void stop() override;

  // Looks every name up once and appends the groups (for `stoker targets`);
  // the failure lists the names that could not be looked up.
  static Status lookup_once(const DnsSdConfig& cfg, std::vector<TargetGroup>* out);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
