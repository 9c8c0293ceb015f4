// ScrapeLoop: the periodic scrape of one (target, profile type).
//
// The first scrape waits a deterministic offset within the interval (a hash of
// the loop key) so that loops spread out; then it scrapes every interval,
// skipping ticks it missed. Each scrape fetches, checks and decodes the profile
// off the I/O thread and queues it to storage; its outcome is recorded in a
// HealthCell that the API reads. Runs on one io_context; start/stop may be
// called from any thread.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "pprof/delta.h"
#include "pprof/pprof_decode.h"
#include "discovery/target.h"
#include "model/metrics.h"

namespace boost::asio {
class thread_pool;
}

namespace stoker {

class HttpClient;
class Storage;
struct SelfMetrics;

struct ScrapeHealth {
  enum class State { kUnknown, kUp, kDown };
  State state = State::kUnknown;
  std::string last_error;
  int64_t last_scrape_ns = 0;
  double last_duration_s = 0;
  uint64_t scrapes = 0, failures = 0;
  static const char* name(State s) {
    return s == State::kUp ? "up" : s == State::kDown ? "down" : "unknown";
  }
};

// Thread-safe holder of one loop's health.
class HealthCell {
 public:
  ScrapeHealth get() const {
    std::lock_guard lock(mu_);
    return h_;
  }
  void record(bool ok, std::string error, int64_t at_ns, double duration_s) {
    std::lock_guard lock(mu_);
    h_.state = ok ? ScrapeHealth::State::kUp : ScrapeHealth::State::kDown;
    h_.last_error = std::move(error);
    h_.last_scrape_ns = at_ns;
    h_.last_duration_s = duration_s;
    ++h_.scrapes;
    if (!ok) ++h_.failures;
  }

 private:
  mutable std::mutex mu_;
  ScrapeHealth h_;
};

// What a loop carries across a config reload that keeps its (target, endpoint):
// the delta state of a cumulative profile type, and its health.
struct LoopState {
  std::mutex mu;  // the delta state is used from the worker pool
  pprof::DeltaState delta;
  std::shared_ptr<HealthCell> health = std::make_shared<HealthCell>();
};

class ScrapeLoop : public std::enable_shared_from_this<ScrapeLoop> {
 public:
  struct Deps {
    boost::asio::any_io_executor ex;
    boost::asio::thread_pool* pool = nullptr;  // decoding runs here
    Storage* storage = nullptr;
    Labels external_labels;
    std::shared_ptr<const RelabelRules> profile_relabel;  // never null
    ScrapeLimits limits;
    std::shared_ptr<HttpClient> client;
    SelfMetrics* metrics = nullptr;  // optional
  };

  // `state` continues a previous loop of the same target and endpoint (reload);
  // null starts fresh.
  ScrapeLoop(Deps deps, Target target, ProfileEndpoint endpoint, Duration interval,
             std::shared_ptr<LoopState> state = nullptr);
  void start();
  // Cancels the loop, including an in-flight request. Idempotent.
  void stop();
  const std::shared_ptr<HealthCell>& health() const { return state_->health; }
  const std::shared_ptr<LoopState>& state() const { return state_; }
  // True when this loop differences a cumulative type itself (memory, block,
  // mutex not from godeltaprof and not fetched with ?seconds=N).
  bool computes_delta() const { return computes_delta_; }
  static bool computes_delta(const ProfileTypeConfig& type);
  const Target& target() const { return target_; }
  const ProfileEndpoint& endpoint() const { return endpoint_; }

  // The first-scrape offset for `key` within `interval`.
  static Duration offset(const std::string& key, Duration interval);

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> scrape_once();

  Deps deps_;
  Target target_;
  ProfileEndpoint endpoint_;
  Duration interval_;
  std::shared_ptr<LoopState> state_;
  bool computes_delta_ = false;
  struct Handles {
    metrics::Counter *scrapes = nullptr, *failures = nullptr, *bytes = nullptr,
                     *stored = nullptr, *primed = nullptr;
    metrics::Histogram* duration = nullptr;
  } m_;
  boost::asio::steady_timer timer_;
  boost::asio::cancellation_signal cancel_;
  std::atomic<bool> stopped_{false};
  bool last_failed_ = false;
  std::string last_logged_error_;
};

// Turns an HTTP exchange into either a decoded profile or a message saying what
// was received instead. Pure; exposed for tests.
struct ScrapeOutcome {
  std::shared_ptr<pprof::View> profile;
  std::string error;
};
ScrapeOutcome check_response(int status, const std::string& reason, const std::string& content_type,
                             const std::string& content_encoding, const std::string& body,
                             const pprof::Limits& limits = {});

}  // namespace stoker
