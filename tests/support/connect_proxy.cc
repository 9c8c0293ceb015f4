#include "tests/support/connect_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "tests/support/process.h"

namespace stoker::test {

namespace {

int dial(const std::string& host, const std::string& port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (auto* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype, 0);
    if (fd >= 0 && ::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  return fd;
}

bool send_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

ConnectProxy::ConnectProxy(std::map<std::string, std::string> hosts, std::string required_header)
    : hosts_(std::move(hosts)), required_header_(std::move(required_header)) {
  std::transform(required_header_.begin(), required_header_.end(), required_header_.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  listen_fd_ = listen_loopback(0, 64, &port_, "ConnectProxy");
  acceptor_ = std::thread([this] { accept_loop(); });
}

ConnectProxy::~ConnectProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
}

std::vector<RecordedRequest> ConnectProxy::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void ConnectProxy::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void ConnectProxy::serve(int fd) {
  std::string buf;
  char chunk[16384];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (stopping_ || ::poll(&p, 1, 100) < 0) break;
    if (!(p.revents & POLLIN)) continue;
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  if (end == std::string::npos) {
    ::close(fd);
    return;
  }
  std::string head = buf.substr(0, end);
  std::string rest = buf.substr(end + 4);
  RecordedRequest req = parse_request_head(head);
  std::string first = head.substr(0, head.find("\r\n"));
  {
    std::lock_guard lock(mu_);
    requests_.push_back(req);
  }
  // Where to: "host:port" for CONNECT, the authority of an absolute URL otherwise.
  std::string authority, origin_form;
  bool connect = req.method == "CONNECT";
  if (connect) {
    authority = req.target;
    if (!required_header_.empty() && req.header(required_header_).empty()) {
      send_all(fd, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
      ::close(fd);
      return;
    }
  } else if (req.target.rfind("http://", 0) == 0) {
    std::string after = req.target.substr(7);
    auto slash = after.find('/');
    authority = after.substr(0, slash);
    origin_form = slash == std::string::npos ? "/" : after.substr(slash);
    if (authority.find(':') == std::string::npos) authority += ":80";
  } else {
    send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    ::close(fd);
    return;
  }
  auto colon = authority.rfind(':');
  std::string host = authority.substr(0, colon), port = authority.substr(colon + 1);
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (auto it = hosts_.find(host); it != hosts_.end()) host = it->second;
  int up = dial(host, port);
  if (up < 0) {
    send_all(fd, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
    ::close(fd);
    return;
  }
  // Absolute-form requests go on in origin form without the proxy's own
  // header, each of them (a client keeps the connection for the next one):
  // requests are cut from the client's bytes by their Content-Length.
  std::string pending;   // client bytes not forwarded yet
  size_t body_left = 0;  // of the request being forwarded
  auto forward_requests = [&]() -> bool {
    while (!pending.empty()) {
      if (body_left > 0) {
        size_t n = std::min(body_left, pending.size());
        if (!send_all(up, pending.substr(0, n))) return false;
        pending.erase(0, n);
        body_left -= n;
        continue;
      }
      size_t head_end = pending.find("\r\n\r\n");
      if (head_end == std::string::npos) return true;  // wait for the rest of the head
      RecordedRequest r = parse_request_head(pending.substr(0, head_end));
      std::string line = pending.substr(0, pending.find("\r\n"));
      std::string target = r.target;
      if (target.rfind("http://", 0) == 0) {
        auto slash = target.find('/', 7);
        target = slash == std::string::npos ? "/" : target.substr(slash);
      }
      std::string fwd = r.method + " " + target + line.substr(line.rfind(' ')) + "\r\n";
      for (const auto& [k, v] : r.headers) {
        if (k != "proxy-authorization") fwd += k + ": " + v + "\r\n";
      }
      if (!send_all(up, fwd + "\r\n")) return false;
      body_left =
          static_cast<size_t>(std::strtoull(r.header("content-length").c_str(), nullptr, 10));
      pending.erase(0, head_end + 4);
    }
    return true;
  };
  if (connect) {
    send_all(fd, "HTTP/1.1 200 Connection established\r\n\r\n");
    if (!rest.empty()) send_all(up, rest);
  } else {
    pending = buf;  // the first request, and what came after it
    if (!forward_requests()) {
      ::close(up);
      ::close(fd);
      return;
    }
  }
  pollfd p[2] = {{fd, POLLIN, 0}, {up, POLLIN, 0}};
  while (!stopping_) {
    if (::poll(p, 2, 100) <= 0) continue;
    bool done = false;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!p[i].revents) continue;
      ssize_t n = ::recv(p[i].fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        done = true;
      } else if (i == 0 && !connect) {
        pending.append(chunk, static_cast<size_t>(n));
        done = !forward_requests();
      } else {
        done = !send_all(p[1 - i].fd, std::string(chunk, static_cast<size_t>(n)));
      }
    }
    if (done) break;
  }
  ::close(up);
  ::close(fd);
}

}  // namespace stoker::test
