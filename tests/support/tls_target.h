// TlsTarget: an https server on 127.0.0.1 (openssl s_server with the test CA's
// certificate, valid for 127.0.0.1 and stoker.test) serving `body` at
// /debug/pprof/goroutine.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "tests/support/fake_kube.h"
#include "tests/support/process.h"

namespace stoker::test {

struct TlsTarget {
  TempDir dir;
  int port = free_port();
  std::unique_ptr<Child> server;

  explicit TlsTarget(const std::string& body) {
    std::string d = dir.path();
    make_test_certs(d);
    run_command("mkdir -p " + d + "/debug/pprof");
    write_file(d + "/debug/pprof/goroutine", body);
    server = std::make_unique<Child>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "cd " + d + " && exec openssl s_server -quiet -accept 127.0.0.1:" +
                                     std::to_string(port) +
                                     " -cert server.pem -key server.key -WWW"},
        d + "/server.log");
    REQUIRE(wait_for(
        [&] {
          return run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                             " </dev/null >/dev/null 2>&1 && echo ok") == "ok\n";
        },
        10000));
  }
  std::string url() const {
    return "https://127.0.0.1:" + std::to_string(port) + "/debug/pprof/goroutine";
  }
};

}  // namespace stoker::test
