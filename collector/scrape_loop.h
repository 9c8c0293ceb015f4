// ScrapeLoop: the periodic scrape of one (target, profile type).
//
// The first scrape waits a deterministic offset within the interval (a hash of
// the loop key) so that loops spread out; then it scrapes every interval,
// skipping ticks it missed. Scrape times are rounded up to a common grid of
// tick() (100 ms, or a tenth of a shorter interval): loops that would start
// within the same tick start together, so the I/O thread, the decode workers
// and the storage writer are woken once per tick's batch of profiles instead
// of once per profile (on a VM every wake-up is a costly kernel entry). Each
// scrape fetches the profile and hands the body to the ingest pipeline
// (ingest/pipeline.h) on the worker pool: decoding, the delta of cumulative
// types against the loop's DeltaCell, labels, store.
// Its outcome is recorded in a HealthCell that the API reads. A reload that
// keeps the target and endpoint but changes other settings (auth, timeouts,
// profile_relabel_configs, limits, external labels) hands the loop new
// Settings: it keeps its timer, delta state and health. Runs on one
// io_context: start(), stop() and reconfigure() are called on its thread
// (stop() may be called from any thread).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "collector/scrape_metrics.h"
#include "collector/target.h"
#include "collector/target_status.h"
#include "ingest/pipeline.h"
#include "model/status.h"

namespace stoker {

class BatchWorker;
class HttpClient;

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

class ScrapeLoop : public std::enable_shared_from_this<ScrapeLoop> {
 public:
  // What one scrape uses; a reload may replace it (reconfigure()).
  struct Settings {
    Target target;
    ProfileEndpoint endpoint;
    std::shared_ptr<HttpClient> client;
    std::shared_ptr<const ingest::LabelPolicy> policy;  // never null
    std::shared_ptr<ingest::SeriesCap> series_cap;      // the target's; null: no cap
  };
  struct Deps {
    boost::asio::any_io_executor ex;
    BatchWorker* worker = nullptr;  // decoding runs here
    ingest::Pipeline* pipeline = nullptr;
    ScrapeMetrics* metrics = nullptr;  // optional
  };

  // `health` and `delta` (both or neither) continue a loop this one replaces.
  ScrapeLoop(Deps deps, std::shared_ptr<const Settings> settings,
             std::shared_ptr<HealthCell> health = nullptr,
             std::shared_ptr<ingest::DeltaCell> delta = nullptr);
  // Starts the loop: its first scrape after offset() within the interval, or
  // after `first_after` (a target handed over by another replica starts at once).
  void start(std::optional<Duration> first_after = std::nullopt);
  // Cancels the loop, including an in-flight request. Idempotent.
  void stop();
  // Stops the loop after its first scrape that starts `after` from now or
  // later: a target moving to another replica is scraped here until the new
  // owner has begun (which starts at once, within `after`). undrain() takes it
  // back while the loop still runs.
  void drain(Duration after);
  void undrain();
  bool draining() const { return drain_after_ns_.load() != 0; }
  bool stopped() const { return stopped_.load(); }
  // New settings for the same target and endpoint (loop_key() unchanged),
  // used from the next scrape on.
  void reconfigure(std::shared_ptr<const Settings> settings);

  const std::shared_ptr<HealthCell>& health() const { return health_; }
  const std::shared_ptr<ingest::DeltaCell>& delta() const { return delta_; }
  const Settings& settings() const { return *settings_; }
  // True when this loop differences a cumulative type itself (memory, block,
  // mutex not from godeltaprof and not fetched with ?seconds=N).
  bool computes_delta() const { return computes_delta_; }
  static bool computes_delta(const ProfileTypeConfig& type);

  // The first-scrape offset for `key` within `interval`.
  static Duration offset(const std::string& key, Duration interval);
  // The grid scrape times are rounded up to, for `interval`.
  static Duration tick(Duration interval);
  // `t` rounded up to a multiple of `tick` (since the clock's epoch).
  static std::chrono::steady_clock::time_point on_grid(std::chrono::steady_clock::time_point t,
                                                       Duration tick);

 private:
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> scrape_once();

  Deps deps_;
  std::shared_ptr<const Settings> settings_;
  std::shared_ptr<HealthCell> health_ = std::make_shared<HealthCell>();
  std::shared_ptr<ingest::DeltaCell> delta_ = std::make_shared<ingest::DeltaCell>();
  bool computes_delta_ = false;
  // Held so that the scrape manager can remove the series while a stopped
  // loop's last scrape is still finishing.
  struct Handles {
    std::shared_ptr<metrics::Counter> scrapes, failures, bytes, stored, primed;
    std::shared_ptr<metrics::Histogram> duration;
  } m_;
  boost::asio::steady_timer timer_;
  boost::asio::cancellation_signal cancel_;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> drain_after_ns_{0};  // drain(): stop after a scrape started after this
  std::optional<Duration> first_after_;
  bool last_failed_ = false;
  size_t last_body_size_ = 0;  // the last answer's, as the next one's size hint
  std::string last_logged_error_;
};

// The HTTP part of a scrape's outcome: a non-2xx status is a failure saying
// what came back (Go's WriteTimeout refusal explained); a body sent with
// Content-Encoding: gzip is inflated in place (up to `max_decompressed`).
// Pure; exposed for tests.
Status check_http(int status, const std::string& reason, const std::string& content_type,
                  const std::string& content_encoding, std::string* body,
                  size_t max_decompressed = pprof::Limits().max_decompressed);

// check_http() and then what the pipeline makes of the body: the decoded
// profile, or a message saying what was received instead. Pure; for tests.
Result<std::shared_ptr<pprof::View>> check_response(int status, const std::string& reason,
                                                    const std::string& content_type,
                                                    const std::string& content_encoding,
                                                    std::string body,
                                                    const pprof::Limits& limits = {});

}  // namespace stoker
