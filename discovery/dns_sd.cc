#include "discovery/dns_sd.h"

#include <ares.h>
#include <arpa/inet.h>
#include <poll.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "model/log.h"
#include "net/asio_pch.h"

namespace stoker {

namespace asio = boost::asio;

namespace {

constexpr int kClassIn = 1;
constexpr int kTypeA = 1, kTypeNs = 2, kTypeMx = 15, kTypeAaaa = 28, kTypeSrv = 33;

int qtype_of(const std::string& type) {
  if (type == "A") return kTypeA;
  if (type == "AAAA") return kTypeAaaa;
  if (type == "MX") return kTypeMx;
  if (type == "NS") return kTypeNs;
  return kTypeSrv;
}

// Go's net.JoinHostPort.
std::string join_host_port(const std::string& host, int port) {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

// A rooted name, as Prometheus' miekg/dns records carry them.
std::string rooted(const std::string& name) {
  return !name.empty() && name.back() == '.' ? name : name + ".";
}

std::string unrooted(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

struct Query {
  bool done = false;
  int status = ARES_SUCCESS;
  std::string answer;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* q = static_cast<Query*>(arg);
  q->done = true;
  q->status = status;
  if (status == ARES_SUCCESS && abuf && alen > 0)
    q->answer.assign(reinterpret_cast<char*>(abuf), static_cast<size_t>(alen));
}

// Targets from a successful answer; false (and `error`) when it cannot be parsed.
bool parse_answer(const std::string& name, int qtype, int port, const std::string& answer,
                  std::vector<Labels>* out, std::string* error) {
  const auto* buf = reinterpret_cast<const unsigned char*>(answer.data());
  int len = static_cast<int>(answer.size());
  auto target = [&](const std::string& address) {
    Labels l;
    l.set("__address__", address);
    l.set("__meta_dns_name", name);
    return l;
  };
  int rc = ARES_SUCCESS;
  if (qtype == kTypeSrv) {
    ares_srv_reply* srv = nullptr;
    rc = ares_parse_srv_reply(buf, len, &srv);
    for (auto* r = srv; rc == ARES_SUCCESS && r; r = r->next) {
      Labels l = target(join_host_port(unrooted(r->host), r->port));
      l.set("__meta_dns_srv_record_target", rooted(r->host));
      l.set("__meta_dns_srv_record_port", std::to_string(r->port));
      out->push_back(std::move(l));
    }
    if (srv) ares_free_data(srv);
  } else if (qtype == kTypeMx) {
    ares_mx_reply* mx = nullptr;
    rc = ares_parse_mx_reply(buf, len, &mx);
    for (auto* r = mx; rc == ARES_SUCCESS && r; r = r->next) {
      Labels l = target(join_host_port(unrooted(r->host), port));
      l.set("__meta_dns_mx_record_target", rooted(r->host));
      out->push_back(std::move(l));
    }
    if (mx) ares_free_data(mx);
  } else if (qtype == kTypeNs) {
    hostent* host = nullptr;
    rc = ares_parse_ns_reply(buf, len, &host);
    for (int i = 0; rc == ARES_SUCCESS && host && host->h_aliases && host->h_aliases[i]; ++i) {
      std::string ns = host->h_aliases[i];
      Labels l = target(join_host_port(unrooted(ns), port));
      l.set("__meta_dns_ns_record_target", rooted(ns));
      out->push_back(std::move(l));
    }
    if (host) ares_free_hostent(host);
  } else if (qtype == kTypeA) {
    ares_addrttl addrs[256];
    int n = 256;
    rc = ares_parse_a_reply(buf, len, nullptr, addrs, &n);
    char text[INET6_ADDRSTRLEN];
    for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
      ::inet_ntop(AF_INET, &addrs[i].ipaddr, text, sizeof text);
      out->push_back(target(join_host_port(text, port)));
    }
  } else {
    ares_addr6ttl addrs[256];
    int n = 256;
    rc = ares_parse_aaaa_reply(buf, len, nullptr, addrs, &n);
    char text[INET6_ADDRSTRLEN];
    for (int i = 0; rc == ARES_SUCCESS && i < n; ++i) {
      ::inet_ntop(AF_INET6, &addrs[i].ip6addr, text, sizeof text);
      out->push_back(target(join_host_port(text, port)));
    }
  }
  if (rc == ARES_ENODATA) {  // the name exists without records of this type
    out->clear();
    return true;
  }
  if (rc != ARES_SUCCESS) {
    *error = std::string("cannot parse the DNS answer: ") + ares_strerror(rc);
    return false;
  }
  return true;
}

std::once_flag g_ares_init;

}  // namespace

Result<std::vector<Labels>> dns_lookup(const std::string& name, const std::string& type, int port,
                                       std::chrono::milliseconds timeout,
                                       const std::atomic<bool>* cancel) {
  std::call_once(g_ares_init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_options opts{};
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  opts.timeout = 2000;  // per try and server
  opts.tries = 2;
  const char* resolv_conf = std::getenv("STOKER_RESOLV_CONF");
  std::string resolv_path = resolv_conf && *resolv_conf ? resolv_conf : "";
  if (!resolv_path.empty()) {
    opts.resolvconf_path = resolv_path.data();
    mask |= ARES_OPT_RESOLVCONF;
  }
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    return Status::internal(std::string("cannot read the resolver configuration: ") +
                            ares_strerror(rc));
  }
  const char* servers = std::getenv("STOKER_DNS_SERVERS");
  if (servers && *servers && (rc = ares_set_servers_ports_csv(channel, servers)) != ARES_SUCCESS) {
    ares_destroy(channel);
    return Status::invalid(std::string("STOKER_DNS_SERVERS: ") + ares_strerror(rc));
  }
  int qtype = qtype_of(type);
  Query q;
  // ares_search applies the search domains and ndots of the resolver configuration.
  ares_search(channel, name.c_str(), kClassIn, qtype, on_answer, &q);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!q.done) {
    if ((cancel && *cancel) || std::chrono::steady_clock::now() >= deadline) {
      ares_cancel(channel);  // calls on_answer with ARES_ECANCELLED
      break;
    }
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    int nfds = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[nfds++] = pollfd{socks[i], events, 0};
    }
    timeval max_wait{0, 100 * 1000}, tv{};
    timeval* wait = ares_timeout(channel, &max_wait, &tv);
    int ms = static_cast<int>(wait->tv_sec * 1000 + wait->tv_usec / 1000);
    int ready = ::poll(fds, static_cast<nfds_t>(nfds), ms);
    if (ready <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
      continue;
    }
    for (int i = 0; i < nfds; ++i) {
      if (!fds[i].revents) continue;
      bool readable = fds[i].revents & (POLLIN | POLLERR | POLLHUP);
      bool writable = fds[i].revents & POLLOUT;
      ares_process_fd(channel, readable ? fds[i].fd : ARES_SOCKET_BAD,
                      writable ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  ares_destroy(channel);
  if (!q.done || q.status == ARES_ECANCELLED) {
    if (cancel && *cancel) return Status::unavailable("cancelled");
    return Status::deadline("the lookup of " + name + " timed out");
  }
  std::vector<Labels> targets;
  if (q.status == ARES_ENOTFOUND || q.status == ARES_ENODATA) return targets;  // no such records
  if (q.status != ARES_SUCCESS) {
    return Status::unavailable("could not resolve \"" + name + "\" (" + type +
                               "): " + ares_strerror(q.status));
  }
  std::string err;
  if (!parse_answer(name, qtype, port, q.answer, &targets, &err)) return Status::invalid(err);
  return targets;
}

struct DnsDiscoverer::Impl : std::enable_shared_from_this<DnsDiscoverer::Impl> {
  std::string job;
  DnsSdConfig cfg;
  Sink sink;
  DiscoveryMetrics* metrics = nullptr;
  asio::thread_pool* blocking = nullptr;
  asio::steady_timer timer;
  std::atomic<bool> stopping{false};              // read by lookups on the blocking pool
  std::map<std::string, std::string> last_error;  // name → error of the last refresh

  explicit Impl(asio::io_context& io) : timer(io) {}

  // Looks every name up on the blocking pool, then continues on the io_context.
  void refresh() {
    asio::post(*blocking, [self = shared_from_this()] {
      std::vector<std::pair<std::string, Result<std::vector<Labels>>>> answers;
      for (const auto& name : self->cfg.names) {
        if (self->stopping) return;
        answers.emplace_back(name, dns_lookup(name, self->cfg.type, self->cfg.port,
                                              std::chrono::seconds(20), &self->stopping));
      }
      asio::post(self->timer.get_executor(), [self, answers = std::move(answers)]() mutable {
        self->done(std::move(answers));
      });
    });
  }

  void done(std::vector<std::pair<std::string, Result<std::vector<Labels>>>> answers) {
    if (stopping) return;
    std::vector<TargetGroup> update;
    for (auto& [name, r] : answers) {
      std::string& last = last_error[name];
      if (!r) {
        metrics->refresh_failures(SdKind::kDns).inc();
        log::write(r.error() == last ? log::Level::kDebug : log::Level::kWarn, "discovery",
                   "dns_sd_configs lookup failed; keeping the previous targets",
                   {{"job", job}, {"name", name}, {"type", cfg.type}, {"err", r.error()}});
        last = r.error();
        continue;
      }
      if (!last.empty()) {
        log::info("discovery", "dns_sd_configs lookup recovered", {{"job", job}, {"name", name}});
      }
      last.clear();
      update.push_back(TargetGroup{name, std::move(*r), {}});
    }
    // A name that failed sends nothing: the manager keeps its previous targets.
    if (!update.empty()) sink(std::move(update));
    timer.expires_after(cfg.refresh_interval);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec && !self->stopping) self->refresh();
    });
  }
};

DnsDiscoverer::DnsDiscoverer(std::string job, DnsSdConfig cfg, const DiscoveryContext& ctx)
    : impl_(std::make_shared<Impl>(*ctx.io)) {
  impl_->job = std::move(job);
  impl_->cfg = std::move(cfg);
  impl_->metrics = ctx.metrics;
  impl_->blocking = ctx.blocking;
}

DnsDiscoverer::~DnsDiscoverer() {
  stop();
}

void DnsDiscoverer::start(Sink sink) {
  impl_->sink = std::move(sink);
  impl_->refresh();
}

void DnsDiscoverer::stop() {
  if (impl_->stopping.exchange(true)) return;
  impl_->timer.cancel();
}

Status DnsDiscoverer::lookup_once(const DnsSdConfig& cfg, std::vector<TargetGroup>* out) {
  std::string failures;
  for (const auto& name : cfg.names) {
    auto r = dns_lookup(name, cfg.type, cfg.port, std::chrono::seconds(20));
    if (!r) {
      failures += (failures.empty() ? "" : "; ") + r.error();
      continue;
    }
    out->push_back(TargetGroup{name, std::move(*r), {}});
  }
  return failures.empty() ? Status() : Status::unavailable(failures);
}

}  // namespace stoker
