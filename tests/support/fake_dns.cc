#include "tests/support/fake_dns.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace stoker::test {

namespace {

std::string lower_unrooted(std::string s) {
  while (!s.empty() && s.back() == '.') s.pop_back();
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

void put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

// A name in DNS wire form, uncompressed.
std::string wire_name(const std::string& name) {
  std::string out;
  size_t pos = 0;
  std::string n = lower_unrooted(name);
  while (pos < n.size()) {
    size_t dot = n.find('.', pos);
    if (dot == std::string::npos) dot = n.size();
    out += static_cast<char>(dot - pos);
    out += n.substr(pos, dot - pos);
    pos = dot + 1;
  }
  out += '\0';
  return out;
}

}  // namespace

FakeDns::FakeDns() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("FakeDns: cannot bind");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeDns::~FakeDns() {
  stopping_ = true;
  thread_.join();
  ::close(fd_);
}

void FakeDns::set(const std::string& name, std::vector<DnsRecord> records) {
  std::lock_guard lock(mu_);
  records_[lower_unrooted(name)] = std::move(records);
  failing_.erase(lower_unrooted(name));
}

void FakeDns::fail(const std::string& name) {
  std::lock_guard lock(mu_);
  failing_[lower_unrooted(name)] = true;
}

void FakeDns::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  records_.erase(lower_unrooted(name));
  failing_.erase(lower_unrooted(name));
}

std::string FakeDns::answer(const std::string& q) {
  if (q.size() < 12) return "";
  // The question: labels from offset 12, then type and class.
  std::string name;
  size_t pos = 12;
  while (pos < q.size() && q[pos] != 0) {
    size_t n = static_cast<unsigned char>(q[pos]);
    if (pos + 1 + n > q.size()) return "";
    if (!name.empty()) name += '.';
    name += q.substr(pos + 1, n);
    pos += 1 + n;
  }
  size_t question_end = pos + 5;
  if (question_end > q.size()) return "";
  int qtype =
      (static_cast<unsigned char>(q[pos + 1]) << 8) | static_cast<unsigned char>(q[pos + 2]);
  std::vector<DnsRecord> matching;
  int rcode = 0;
  {
    std::lock_guard lock(mu_);
    std::string key = lower_unrooted(name);
    if (failing_.count(key)) {
      rcode = 2;  // SERVFAIL
    } else if (auto it = records_.find(key); it == records_.end()) {
      rcode = 3;  // NXDOMAIN
    } else {
      for (const auto& r : it->second)
        if (r.type == qtype) matching.push_back(r);
    }
  }
  std::string out = q.substr(0, 2);
  put16(out, static_cast<uint16_t>(0x8180 | rcode));  // response, RD, RA
  put16(out, 1);
  put16(out, static_cast<uint16_t>(matching.size()));
  put16(out, 0);
  put16(out, 0);
  out += q.substr(12, question_end - 12);
  for (const auto& r : matching) {
    put16(out, 0xc00c);  // the question's name
    put16(out, static_cast<uint16_t>(r.type));
    put16(out, 1);
    put16(out, 0);
    put16(out, 5);  // TTL
    std::string rdata;
    if (r.type == 1 || r.type == 28) {
      unsigned char buf[16];
      ::inet_pton(r.type == 1 ? AF_INET : AF_INET6, r.value.c_str(), buf);
      rdata.assign(reinterpret_cast<char*>(buf), r.type == 1 ? 4 : 16);
    } else if (r.type == 33) {
      put16(rdata, r.priority);
      put16(rdata, r.weight);
      put16(rdata, r.port);
      rdata += wire_name(r.value);
    } else if (r.type == 15) {
      put16(rdata, r.priority);
      rdata += wire_name(r.value);
    } else {
      rdata += wire_name(r.value);
    }
    put16(out, static_cast<uint16_t>(rdata.size()));
    out += rdata;
  }
  return out;
}

void FakeDns::serve() {
  char buf[4096];
  while (!stopping_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    ++queries_;
    std::string reply = answer(std::string(buf, static_cast<size_t>(n)));
    if (!reply.empty())
      ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
  }
}

}  // namespace stoker::test
