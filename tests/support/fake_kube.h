// FakeKube: the project's own fake Kubernetes API server for tests, on
// 127.0.0.1 (plain HTTP or TLS with a test certificate).
//
// It keeps objects of any kind with a cluster-wide resourceVersion, answers LIST
// (`/api/v1/pods`, `/api/v1/namespaces/<ns>/pods`, `/apis/<group>/<v>/…`) with
// `metadata.resourceVersion`, and WATCH (`?watch=1&resourceVersion=N`) with a
// chunked stream of newline-delimited JSON events (ADDED, MODIFIED, DELETED,
// BOOKMARK) that stays open until `timeoutSeconds` or the server stops. After
// compact(), a watch from an older version gets an ERROR event with code 410,
// as the real API server sends. Label (`k=v`, `k!=v`, `k`, `!k`) and field
// (`spec.nodeName`, `metadata.name`, `metadata.namespace`) selectors are
// honoured; a configured bearer token is required (401 otherwise). Thread-safe.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stoker::test {

class FakeKube {
 public:
  struct Options {
    std::string token;                // required bearer token ("" = none)
    std::string cert_file, key_file;  // set both for TLS
  };
  explicit FakeKube(Options opts = {});
  ~FakeKube();
  int port() const { return port_; }
  std::string url() const;

  // Object changes; `kind` is "Pod", "Node", "Namespace", "Service", …; the
  // object needs metadata.name (and metadata.namespace if namespaced).
  void create(const std::string& kind, boost::json::object obj);
  void update(const std::string& kind, boost::json::object obj);
  void remove(const std::string& kind, const std::string& ns, const std::string& name);
  // Forgets the event history: watches from an older version get 410.
  void compact();
  // Sends a BOOKMARK with the current version to every open watch.
  void bookmark();
  // Closes every open watch stream (as an API server restart would).
  void drop_watches();

  int lists(const std::string& kind) const;
  int watches(const std::string& kind) const;
  int unauthorized() const { return unauthorized_.load(); }
  int gone() const { return gone_.load(); }
  int open_watches() const { return open_watches_.load(); }
  int64_t version() const;

 private:
  struct Event {
    int64_t rv;
    std::string type, kind;
    boost::json::object obj;
  };
  void accept_loop();
  void serve(int fd);
  void record(const std::string& type, const std::string& kind, boost::json::object obj);

  Options opts_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*
  int listen_fd_ = -1, port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t rv_ = 100;
  int64_t compacted_ = 0;    // watches from before this get 410
  uint64_t drop_epoch_ = 0;  // bumped by drop_watches()
  std::map<std::string, std::map<std::string, boost::json::object>> objects_;  // kind → ns/name
  std::vector<Event> events_;
  std::map<std::string, int> lists_, watches_;
  std::atomic<int> unauthorized_{0}, gone_{0}, open_watches_{0};
};

// A test CA and a server certificate for 127.0.0.1 and stoker.test, made with
// the openssl CLI in `dir`: ca.pem, server.pem, server.key.
void make_test_certs(const std::string& dir);

// A bcrypt hash of `password`, for basic_auth_users in web config files.
std::string bcrypt_hash(const std::string& password);

}  // namespace stoker::test
