// RemoteWriter: delivers the outbox of one remote_write endpoint to a Pyroscope
// push API, in commit order, never blocking scraping.
//
// A coroutine on the I/O thread reads the next batch from the outbox (SQLite
// and gzip work run on the worker pool), sends it as one PushRequest
// (POST {url}/push.v1.PusherService/Push, Connect protocol, binary protobuf)
// and marks it delivered when the endpoint accepts it. Failures are classified
// as in Alloy's pyroscope.write (shared/reference/alloy-pyroscope.md §2.3):
// network errors, timeouts, 408, 5xx and unknown statuses are retried with
// exponential backoff (min_backoff doubling up to max_backoff, jittered);
// 429/413/431 and Connect's resource_exhausted only if retry_on_http_429;
// 400/401/403/404/412 are permanent. A permanently rejected batch is retried
// one profile at a time so that only the offending profiles are set aside (with
// the error, in the database, the API and the log); a batch whose retries run
// out (max_retries attempts, 0 = never) is set aside too. Set-aside profiles
// stay in the local store.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "config/config.h"
#include "model/metrics.h"
#include "model/status.h"
#include "storage/outbox.h"

namespace boost::asio {
class thread_pool;
}

namespace stoker {

class HttpClient;
struct HttpResult;
class Storage;

struct RemoteWriteStatus {
  std::string name, url;
  std::string state = "starting";  // idle | sending | backoff | stopped
  std::string last_error;
  int64_t last_error_ns = 0, last_success_ns = 0;
  uint64_t consecutive_failures = 0;
  OutboxStatus outbox;
  std::string outbox_error;  // why `outbox` could not be read last time ("" when it was)
};

// The metric families of forwarding, per endpoint, registered once per
// process; the process removes an endpoint's series when a reload removes it.
struct ForwardMetrics {
  explicit ForwardMetrics(metrics::Registry& r);
  void remove(const std::string& endpoint);
  metrics::CounterFamily &requests, &failures, &retries, &profiles, &bytes, &set_aside;
};

class RemoteWriter : public std::enable_shared_from_this<RemoteWriter> {
 public:
  struct Deps {
    boost::asio::any_io_executor ex;
    boost::asio::thread_pool* pool = nullptr;
    Storage* storage = nullptr;
    Labels external_labels;
    ForwardMetrics* metrics = nullptr;  // optional
  };
  // Largest request, in bytes of gzipped profiles (a single larger profile
  // still goes alone), and most profiles per request.
  static constexpr size_t kMaxBatchBytes = 4 << 20;
  static constexpr size_t kMaxBatchProfiles = 64;

  RemoteWriter(Deps deps, RemoteWriteConfig cfg);
  ~RemoteWriter();
  // Opens the outbox and starts delivering; fails when the database cannot be
  // opened.
  Status start();
  void stop();  // idempotent; cancels an in-flight request or backoff
  RemoteWriteStatus status() const;
  const RemoteWriteConfig& config() const { return cfg_; }

  enum class Verdict { kDelivered, kRetry, kReject };
  // How a push outcome is treated (pure; exposed for tests).
  static Verdict classify(const HttpResult& r, bool retry_on_http_429);
  // The PushRequest body for `items` into `body` (replacing its contents,
  // keeping its capacity): labels filtered (every "__" label except __name__
  // and __delta__ dropped), `external` labels overriding, profiles of
  // identical label sets grouped into one series, in order. `series` (may be
  // null) receives how many series the request holds.
  static void encode_request_to(const std::vector<OutboxItem>& items, const Labels& external,
                                size_t* series, std::string* body);
  // The label set sent upstream for stored series labels `stored`.
  static Labels upstream_labels(const Labels& stored, const Labels& external);
  // Sleep before attempt `attempt` (1 = first retry): uniform in [b, 2b) with
  // b = min·2^(attempt-1), capped at max.
  static std::chrono::milliseconds backoff(const RemoteWriteConfig& cfg, uint64_t attempt);

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<bool> sleep(std::chrono::milliseconds d);
  // Runs `fn` on the worker pool and resumes here with its result.
  template <typename F>
  boost::asio::awaitable<std::invoke_result_t<F>> on_pool(F fn);
  // Records `items` as set aside with `reason` and moves `*cursor` past them.
  boost::asio::awaitable<bool> set_aside(std::vector<OutboxItem> items, int status,
                                         std::string reason, int64_t* cursor,
                                         metrics::Counter* counter);
  void refresh_status();  // on the pool
  // Refreshes the outbox figures of status() when the last refresh is older than `period`.
  boost::asio::awaitable<void> refresh_status_every(std::chrono::seconds period);
  void set_state(const char* s);

  Deps deps_;
  RemoteWriteConfig cfg_;
  std::unique_ptr<Outbox> outbox_;
  std::shared_ptr<HttpClient> client_;
  boost::asio::steady_timer timer_;
  std::atomic<bool> stopped_{false};
  boost::asio::cancellation_signal cancel_;
  std::chrono::steady_clock::time_point last_refresh_{};
  mutable std::mutex mu_;
  RemoteWriteStatus status_;
  // The last push's body, handed back by the client: the next one is encoded
  // into its memory (a fresh multi-megabyte string per push was pages to
  // fault in and zero every time).
  std::string spare_body_;
};

}  // namespace stoker
