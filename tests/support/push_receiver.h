// PushReceiver: the project's own Pyroscope push API receiver for tests. A real
// HTTP server on 127.0.0.1 that decodes every POST /push.v1.PusherService/Push
// body with the push.v1 schema, checks the Connect headers, gunzips and
// validates each pprof inside, and records what arrived. A policy decides the
// answer (accept, a status, or a hang); invalid requests get a Connect
// invalid_argument error and are listed in errors(). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/labels.h"
#include "proto/profile.pb.h"
#include "tests/support/test_server.h"

namespace stoker::test {

struct ReceivedProfile {
  Labels labels;
  std::shared_ptr<perftools::profiles::Profile> profile;
  size_t request = 0;  // index of the accepted request it came in
};

class PushReceiver {
 public:
  // Returns the HTTP status to answer a valid request with (200 accepts it);
  // `series` are the label sets of the request.
  using Policy = std::function<int(const std::vector<Labels>& series)>;
  // Listens on `port` (0: ephemeral).
  explicit PushReceiver(int port = 0, Policy policy = nullptr);
  int port() const { return server_->port(); }
  std::string url() const { return server_->base_url(); }
  void set_policy(Policy p);

  // Profiles of accepted requests, in arrival order.
  std::vector<ReceivedProfile> received() const;
  std::vector<std::string> errors() const;
  // Every request seen (accepted or not), with its status.
  struct Attempt {
    int status;
    size_t profiles;
    std::vector<Labels> series;
  };
  std::vector<Attempt> attempts() const;
  std::vector<RecordedRequest> requests() const { return server_->requests(); }

 private:
  RawResponse handle(const RecordedRequest& req);

  mutable std::mutex mu_;
  Policy policy_;
  std::vector<ReceivedProfile> received_;
  std::vector<std::string> errors_;
  std::vector<Attempt> attempts_;
  size_t accepted_requests_ = 0;
  std::unique_ptr<TestServer> server_;  // last: stops before the state goes
};

}  // namespace stoker::test
