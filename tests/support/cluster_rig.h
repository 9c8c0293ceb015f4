// ClusterRig: what the clustering test and benchmark run stoker replicas
// against — the project's fake Kubernetes API server listing the replicas as
// pods, and a farm of targets that counts who scraped what.
//
// The farm is one HTTP server on 127.0.0.1 standing in for N targets: target
// k is scraped as /debug/pprof/allocs?target=k (its static config sets
// __param_target), and each replica sends its name in an X-Replica header
// (the job's http_headers), so every scrape is recorded as (time, target,
// replica). Each target answers with a Go-like cumulative allocs profile of
// `stacks` stacks whose alloc_objects total (8 stacks) is 45 × (1000 + the
// scrapes of that target so far): the deltas a replica stores are 45 × the
// scrapes since its previous one, and a bogus first window (a whole
// cumulative profile stored as a delta) stands out.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/fake_kube.h"
#include "tests/support/process.h"
#include "tests/support/test_server.h"

namespace stoker::test {

class ProfileFarm {
 public:
  // `stacks` distinct stacks per profile (a real service has hundreds).
  explicit ProfileFarm(int targets, int stacks = 8);
  int port() const { return server_->port(); }
  int targets() const { return targets_; }

  struct Scrape {
    int64_t at_ms;  // steady clock
    int target;
    std::string replica;
  };
  // Scrapes recorded at or after `since_ms` (steady clock, now_ms()).
  std::vector<Scrape> scrapes(int64_t since_ms = 0) const;
  static int64_t now_ms();

  // target → the replicas that scraped it in [from_ms, to_ms).
  std::map<int, std::map<std::string, int>> who(int64_t from_ms, int64_t to_ms) const;
  // The longest time in [from_ms, to_ms] during which target k was not
  // scraped by anyone (edges count as scrapes), for each target.
  std::vector<int64_t> longest_gaps(int64_t from_ms, int64_t to_ms) const;

 private:
  RawResponse serve(const RecordedRequest& r);

  int targets_, stacks_;
  mutable std::mutex mu_;
  std::vector<int64_t> served_;  // per target
  std::vector<Scrape> log_;
  std::unique_ptr<TestServer> server_;  // last: stops before the rest goes
};

// A Kubernetes pod object for a replica, Ready or not (podIP 127.0.0.1).
boost::json::object replica_pod(const std::string& name, const std::string& ns, bool ready);

// The config of one replica: cluster section (Kubernetes at `kube_url`,
// namespace obs, app=stoker), one clustered job "apps" with the farm's
// targets, memory profiles only, every `interval_s` seconds.
std::string replica_config(const std::string& name, const std::string& kube_url,
                           const ProfileFarm& farm, int web_port, const std::string& db,
                           int interval_s);

// GET /api/v1/status/cluster of a replica, parsed ("data"); null when it does not answer.
boost::json::value cluster_status(int web_port);

}  // namespace stoker::test
