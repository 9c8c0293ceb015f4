// ConnectProxy: a real HTTP proxy on 127.0.0.1 for tests. It tunnels CONNECT
// requests and forwards absolute-form requests (http:// targets) in origin
// form, every request of a kept-alive connection, recording the first
// request of every connection. Host names are looked up in a table
// the test fills (so a target can be named app.stoker.test), else used as they
// are. With `required_header` set, a CONNECT without that header is answered
// 407 Proxy Authentication Required. One thread per connection; stops in the
// destructor.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_server.h"

namespace stoker::test {

class ConnectProxy {
 public:
  explicit ConnectProxy(std::map<std::string, std::string> hosts = {},
                        std::string required_header = "");
  ~ConnectProxy();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<RecordedRequest> requests() const;

 private:
  void accept_loop();
  void serve(int fd);

  std::map<std::string, std::string> hosts_;
  std::string required_header_;  // lower-case
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<RecordedRequest> requests_;
  std::vector<std::thread> workers_;
};

}  // namespace stoker::test
