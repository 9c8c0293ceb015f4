// FakeDns: a real DNS server over UDP on 127.0.0.1 for tests, answering from a
// table the test changes while it runs. Names are matched case-insensitively
// without the trailing dot; a name not in the table is NXDOMAIN, a name set to
// fail answers SERVFAIL. Records: SRV, A, AAAA, MX, NS. Stops in the destructor.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stoker::test {

struct DnsRecord {
  int type = 0;       // 1 A, 2 NS, 15 MX, 28 AAAA, 33 SRV
  std::string value;  // address (A/AAAA) or host name (SRV/MX/NS)
  uint16_t port = 0;  // SRV
  uint16_t priority = 10, weight = 5;
};

class FakeDns {
 public:
  FakeDns();
  ~FakeDns();
  int port() const { return port_; }
  void set(const std::string& name, std::vector<DnsRecord> records);
  void fail(const std::string& name);  // SERVFAIL from now on
  void remove(const std::string& name);
  int queries() const { return queries_.load(); }

 private:
  void serve();
  std::string answer(const std::string& query);

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, std::vector<DnsRecord>> records_;
  std::map<std::string, bool> failing_;
};

}  // namespace stoker::test
