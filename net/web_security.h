// WebSecurity: TLS and HTTP basic authentication of stoker's HTTP server, from
// a web configuration file in Prometheus' exporter-toolkit format.
//
// The file is checked again (at most once a second) when a connection or
// request arrives; when it or a certificate file changed, it is reloaded, so
// certificates and users rotate without a restart. A file that no longer loads
// is logged and the previous settings stay. Passwords are checked against
// bcrypt hashes (libcrypt); successful checks are cached so that a client does
// not pay bcrypt on every request. Nothing secret is logged. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "config/web_config.h"

namespace boost::asio::ssl {
class context;
}
typedef struct ssl_st SSL;

namespace stoker {

class WebSecurity {
 public:
  // What one connection uses: a snapshot of the settings.
  struct State {
    WebFileConfig config;
    std::shared_ptr<boost::asio::ssl::context> ssl;  // null: plain HTTP
  };

  // Loads and checks `path` (TLS files, cipher names, bcrypt hashes); nullptr
  // and every error when it is not usable.
  static std::shared_ptr<WebSecurity> open(const std::string& path,
                                           std::vector<std::string>* errors);

  // The current settings, reloading the file first when it changed.
  std::shared_ptr<const State> current();

  // Whether an `Authorization` header value passes basic_auth_users (always
  // true when no users are configured).
  bool authorized(const State& s, const std::string& authorization);
  // Checks client_allowed_sans against the client certificate of `ssl`; ""
  // when it passes, else why not.
  static std::string check_peer(const State& s, SSL* ssl);

 private:
  explicit WebSecurity(std::string path) : path_(std::move(path)) {}
  std::shared_ptr<const State> build(std::vector<std::string>* errors) const;
  std::string fingerprint() const;  // mtimes of the file and the files it names

  std::string path_;
  std::mutex mu_;
  std::shared_ptr<const State> state_;
  std::string loaded_fingerprint_;
  int64_t last_check_ms_ = 0;
  std::vector<std::string> good_;  // digests of verified user:password:hash, most recent last
};

}  // namespace stoker
