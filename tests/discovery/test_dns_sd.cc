// dns_sd_configs against a DNS server on 127.0.0.1 (tests/support/fake_dns),
// reached through STOKER_DNS_SERVERS, with a resolv.conf of the test's own
// (STOKER_RESOLV_CONF) for search domains.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>

#include "discovery/dns_sd.h"
#include "tests/support/fake_dns.h"
#include "tests/support/io_thread.h"
#include "tests/support/process.h"

using namespace stoker;
using namespace std::chrono_literals;
using test::DnsRecord;
using test::FakeDns;

namespace {

// Points stoker's resolver at `dns` for the lifetime of the object.
struct ResolverEnv {
  test::TempDir dir;
  explicit ResolverEnv(const FakeDns& dns, const std::string& search = "") {
    test::write_file(dir.file("resolv.conf"),
                     "nameserver 127.0.0.1\n" + (search.empty() ? "" : "search " + search + "\n") +
                         "options ndots:1 timeout:1 attempts:1\n");
    ::setenv("STOKER_RESOLV_CONF", dir.file("resolv.conf").c_str(), 1);
    ::setenv("STOKER_DNS_SERVERS", ("127.0.0.1:" + std::to_string(dns.port())).c_str(), 1);
  }
  ~ResolverEnv() {
    ::unsetenv("STOKER_RESOLV_CONF");
    ::unsetenv("STOKER_DNS_SERVERS");
  }
};

std::vector<std::string> addresses(const std::vector<Labels>& targets) {
  std::vector<std::string> out;
  for (const auto& t : targets) out.emplace_back(t.get("__address__"));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("DNS lookups turn SRV, A, AAAA, MX and NS records into targets as Prometheus does",
          "[dns]") {
  FakeDns dns;
  ResolverEnv env(dns);
  dns.set("_pprof._tcp.stoker.test",
          {{33, "app-1.stoker.test", 6060}, {33, "app-2.stoker.test.", 6061}});
  dns.set("app.stoker.test", {{1, "10.0.0.7"}, {1, "10.0.0.8"}, {28, "fd00::7"}});
  dns.set("mail.stoker.test", {{15, "mx1.stoker.test"}});
  dns.set("zone.stoker.test", {{2, "ns1.stoker.test"}, {2, "ns2.stoker.test"}});

  auto srv = dns_lookup("_pprof._tcp.stoker.test", "SRV", 0, 5s);
  INFO(srv.error());
  REQUIRE(srv.ok());
  REQUIRE((*srv).size() == 2);
  CHECK(addresses((*srv)) ==
        std::vector<std::string>{"app-1.stoker.test:6060", "app-2.stoker.test:6061"});
  for (const auto& t : (*srv)) {
    CHECK(t.get("__meta_dns_name") == "_pprof._tcp.stoker.test");
    CHECK(t.get("__meta_dns_srv_record_target").back() == '.');  // rooted, as Prometheus keeps it
  }
  const Labels& first =
      (*srv)[0].get("__address__") == "app-1.stoker.test:6060" ? (*srv)[0] : (*srv)[1];
  CHECK(first.get("__meta_dns_srv_record_target") == "app-1.stoker.test.");
  CHECK(first.get("__meta_dns_srv_record_port") == "6060");

  auto a = dns_lookup("app.stoker.test", "A", 6060, 5s);
  CHECK(addresses((*a)) == std::vector<std::string>{"10.0.0.7:6060", "10.0.0.8:6060"});
  CHECK_FALSE((*a)[0].has("__meta_dns_srv_record_target"));
  auto aaaa = dns_lookup("app.stoker.test", "AAAA", 6060, 5s);
  CHECK(addresses((*aaaa)) == std::vector<std::string>{"[fd00::7]:6060"});
  auto mx = dns_lookup("mail.stoker.test", "MX", 9090, 5s);
  REQUIRE((*mx).size() == 1);
  CHECK((*mx)[0].get("__address__") == "mx1.stoker.test:9090");
  CHECK((*mx)[0].get("__meta_dns_mx_record_target") == "mx1.stoker.test.");
  auto ns = dns_lookup("zone.stoker.test", "NS", 53, 5s);
  CHECK(addresses((*ns)) == std::vector<std::string>{"ns1.stoker.test:53", "ns2.stoker.test:53"});
  CHECK((*ns)[0].get("__meta_dns_ns_record_target").back() == '.');

  // No such name, or no records of the type: an answer with no targets.
  auto missing = dns_lookup("nothing.stoker.test", "SRV", 0, 5s);
  CHECK(missing.ok());
  CHECK((*missing).empty());
  auto no_mx = dns_lookup("app.stoker.test", "MX", 1, 5s);
  CHECK(no_mx.ok());
  CHECK((*no_mx).empty());
  // A server failure is an error (the discoverer then keeps what it had).
  dns.fail("app.stoker.test");
  auto failed = dns_lookup("app.stoker.test", "A", 6060, 5s);
  CHECK(failed.error().find("could not resolve \"app.stoker.test\" (A)") != std::string::npos);
}

TEST_CASE("DNS names are completed with the resolver's search domains", "[dns]") {
  FakeDns dns;
  ResolverEnv env(dns, "svc.stoker.test");
  dns.set("app.svc.stoker.test", {{1, "10.1.1.1"}});
  auto r = dns_lookup("app", "A", 80, 5s);
  INFO(r.error());
  CHECK(addresses((*r)) == std::vector<std::string>{"10.1.1.1:80"});
  CHECK((*r).at(0).get("__meta_dns_name") == "app");  // the configured name
}

TEST_CASE("a silent DNS server is an error within the timeout, not a hang", "[dns]") {
  // A UDP socket that takes queries and never answers (a closed port would
  // answer at once with ICMP "port unreachable").
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  test::TempDir dir;
  test::write_file(dir.file("resolv.conf"), "nameserver 127.0.0.1\n");
  ::setenv("STOKER_RESOLV_CONF", dir.file("resolv.conf").c_str(), 1);
  ::setenv("STOKER_DNS_SERVERS", ("127.0.0.1:" + std::to_string(ntohs(addr.sin_port))).c_str(), 1);
  auto start = std::chrono::steady_clock::now();
  auto r = dns_lookup("app.stoker.test", "A", 80, 20s);
  auto took = std::chrono::steady_clock::now() - start;
  // And a caller's deadline shorter than the resolver's own retries.
  auto capped = dns_lookup("app.stoker.test", "A", 80, 1s);
  ::unsetenv("STOKER_RESOLV_CONF");
  ::unsetenv("STOKER_DNS_SERVERS");
  ::close(fd);
  INFO(r.error());
  CHECK(r.error().find("could not resolve \"app.stoker.test\" (A)") != std::string::npos);
  CHECK(took >= 3s);  // 2 tries of 2 s each
  CHECK(took < 10s);
  CHECK(capped.error() == "the lookup of app.stoker.test timed out");
}

TEST_CASE("the DNS discoverer follows changing answers and keeps targets through failures",
          "[dns]") {
  FakeDns dns;
  ResolverEnv env(dns);
  dns.set("_pprof._tcp.stoker.test", {{33, "a.stoker.test", 1}});
  DnsSdConfig cfg;
  cfg.names = {"_pprof._tcp.stoker.test"};
  cfg.refresh_interval = 200ms;
  std::mutex mu;
  std::vector<std::vector<TargetGroup>> updates;
  test::IoThread io;
  boost::asio::thread_pool blocking(1);
  DiscoveryContext ctx;
  ctx.io = &io.io();
  ctx.blocking = &blocking;
  auto d = std::make_unique<DnsDiscoverer>("job", cfg, ctx);
  io.sync([&] {
    d->start([&](std::vector<TargetGroup> g) {
      std::lock_guard lock(mu);
      updates.push_back(std::move(g));
    });
  });
  auto last = [&] {
    std::lock_guard lock(mu);
    return updates.empty() ? std::vector<std::string>{"-"}
                           : addresses(updates.back().at(0).targets);
  };
  auto count = [&] {
    std::lock_guard lock(mu);
    return updates.size();
  };
  REQUIRE(
      test::wait_for([&] { return last() == std::vector<std::string>{"a.stoker.test:1"}; }, 5000));
  {
    std::lock_guard lock(mu);
    CHECK(updates.back().at(0).source == "_pprof._tcp.stoker.test");
  }
  dns.set("_pprof._tcp.stoker.test", {{33, "a.stoker.test", 1}, {33, "b.stoker.test", 2}});
  REQUIRE(test::wait_for(
      [&] {
        return last() == std::vector<std::string>{"a.stoker.test:1", "b.stoker.test:2"};
      },
      5000));
  // A failing server: no update, so the manager keeps the two targets.
  dns.fail("_pprof._tcp.stoker.test");
  size_t before = count();
  int queries = dns.queries();
  REQUIRE(test::wait_for([&] { return dns.queries() >= queries + 2; }, 5000));
  CHECK(count() == before);
  // Gone from DNS: an empty group removes the targets.
  dns.remove("_pprof._tcp.stoker.test");
  REQUIRE(test::wait_for([&] { return last().empty(); }, 5000));
  io.sync([&] {
    d->stop();
    d.reset();
  });
  blocking.join();
}
