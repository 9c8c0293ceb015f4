#include "collector/scrape_loop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "collector/batch_worker.h"
#include "model/hash.h"
#include "model/log.h"
#include "model/timeparse.h"
#include "net/asio_pch.h"
#include "net/http_client.h"
#include "pprof/compress.h"
#include "pprof/pprof_decode.h"

namespace stoker {

namespace asio = boost::asio;

namespace {

// Process-wide bound on profiles handed to the worker and not yet queued for
// storage (their bodies wait there; the worker decodes one at a time).
constexpr int kMaxDecoding = 16;
// How long a scrape waits for the store to catch up before it decodes anyway.
constexpr auto kMaxStoreWait = std::chrono::minutes(1);
std::atomic<int> g_decoding{0};
struct DecodeSlot {
  bool acquired = false;
  bool try_acquire() {
    int n = g_decoding.load(std::memory_order_relaxed);
    acquired = n < kMaxDecoding && g_decoding.compare_exchange_strong(n, n + 1);
    return acquired;
  }
  ~DecodeSlot() {
    if (acquired) g_decoding.fetch_sub(1, std::memory_order_relaxed);
  }
};

}  // namespace

ScrapeLoop::ScrapeLoop(Deps deps, std::shared_ptr<const Settings> settings,
                       std::shared_ptr<HealthCell> health, std::shared_ptr<ingest::DeltaCell> delta)
    : deps_(std::move(deps)),
      settings_(std::move(settings)),
      computes_delta_(computes_delta(settings_->endpoint.type)),
      timer_(deps_.ex) {
  if (health) health_ = std::move(health);
  if (delta) delta_ = std::move(delta);
  if (deps_.metrics) {
    std::vector<std::string> lv{settings_->target.job, settings_->endpoint.type.name};
    m_.scrapes = deps_.metrics->scrapes.handle(lv);
    m_.failures = deps_.metrics->failures.handle(lv);
    m_.bytes = deps_.metrics->bytes.handle(lv);
    m_.stored = deps_.metrics->stored.handle(lv);
    m_.primed = deps_.metrics->primed.handle(lv);
    m_.duration = deps_.metrics->duration.handle(lv);
  }
}

bool ScrapeLoop::computes_delta(const ProfileTypeConfig& type) {
  std::string name = type.series_name();
  return (name == "memory" || name == "block" || name == "mutex") && !type.is_godeltaprof() &&
         !type.delta;
}

Duration ScrapeLoop::offset(const std::string& key, Duration interval) {
  if (interval.count() <= 0) return Duration(0);
  return Duration(static_cast<int64_t>(fnv1a64(key) % static_cast<uint64_t>(interval.count())));
}

Duration ScrapeLoop::tick(Duration interval) {
  return std::clamp(interval / 10, Duration(1), Duration(std::chrono::milliseconds(100)));
}

std::chrono::steady_clock::time_point ScrapeLoop::on_grid(std::chrono::steady_clock::time_point t,
                                                          Duration tick) {
  using D = std::chrono::steady_clock::duration;
  const D step = std::chrono::duration_cast<D>(tick);
  if (step.count() <= 0) return t;
  const D rest = t.time_since_epoch() % step;
  return rest.count() <= 0 ? t : t + (step - rest);
}

void ScrapeLoop::start(std::optional<Duration> first_after) {
  first_after_ = first_after;
  asio::co_spawn(
      deps_.ex, [self = shared_from_this()]() { return self->run(); },
      asio::bind_cancellation_slot(cancel_.slot(), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const boost::system::system_error& ex) {
          if (ex.code() == asio::error::operation_aborted) return;  // stopped
          log::error("scrape", "scrape loop ended unexpectedly", {{"err", ex.what()}});
        } catch (const std::exception& ex) {
          log::error("scrape", "scrape loop ended unexpectedly", {{"err", ex.what()}});
        }
      }));
}

void ScrapeLoop::stop() {
  if (stopped_.exchange(true)) return;
  asio::post(deps_.ex, [self = shared_from_this()] {
    self->cancel_.emit(asio::cancellation_type::terminal);
    self->timer_.cancel();
  });
}

void ScrapeLoop::drain(Duration after) {
  int64_t at = now_unix_nanos() + std::chrono::duration_cast<std::chrono::nanoseconds>(after).count();
  int64_t expected = 0;
  drain_after_ns_.compare_exchange_strong(expected, std::max<int64_t>(1, at));
}

void ScrapeLoop::undrain() {
  drain_after_ns_.store(0);
}

void ScrapeLoop::reconfigure(std::shared_ptr<const Settings> settings) {
  settings_ = std::move(settings);
}

asio::awaitable<void> ScrapeLoop::run() {
  const auto& first = *settings_;
  const Duration interval = first.target.interval;  // part of the loop's identity
  const Duration grid = tick(interval);
  // `ideal` advances by exactly the interval; the timer waits for it rounded
  // up to the grid (at most one tick later, never drifting).
  auto ideal = asio::steady_timer::clock_type::now() +
               (first_after_ ? *first_after_
                             : offset(first.target.loop_key(first.endpoint), interval));
  timer_.expires_at(on_grid(ideal, grid));
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  while (!stopped_) {
    ideal += interval;
    int64_t started_ns = now_unix_nanos();
    co_await scrape_once();
    if (stopped_) break;
    int64_t drain_after = drain_after_ns_.load();
    if (drain_after != 0 && started_ns >= drain_after) {
      stopped_ = true;  // handed over: the new owner has had this scrape's time to begin
      break;
    }
    auto now = asio::steady_timer::clock_type::now();
    while (ideal <= now) ideal += interval;  // skip missed ticks
    timer_.expires_at(on_grid(ideal, grid));
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

Status check_http(int status, const std::string& reason, const std::string& content_type,
                  const std::string& content_encoding, std::string* body, size_t max_decompressed) {
  std::string http = "HTTP " + std::to_string(status);
  if (status < 200 || status > 299) {
    if (status == 400 && body->find("exceeds server's WriteTimeout") != std::string::npos) {
      return Status::invalid(
          "the target refused the profile duration (" + http +
          " \"profile duration exceeds server's WriteTimeout\"): lower delta_profiling_duration "
          "or scrape_interval below the target's http.Server WriteTimeout");
    }
    return Status::unavailable("expected pprof, got " + pprof::describe_body(content_type, *body) +
                               " (" + http + (reason.empty() ? "" : " " + reason) + ")");
  }
  if (content_encoding == "gzip") {
    std::string inflated;
    if (Status s = pprof::gunzip(*body, max_decompressed, &inflated); !s.ok()) {
      return s.context("invalid response (" + http + ", Content-Encoding gzip)");
    }
    body->swap(inflated);
  }
  return Status();
}

Result<std::shared_ptr<pprof::View>> check_response(int status, const std::string& reason,
                                                    const std::string& content_type,
                                                    const std::string& content_encoding,
                                                    std::string body, const pprof::Limits& limits) {
  if (Status s = check_http(status, reason, content_type, content_encoding, &body,
                            limits.max_decompressed);
      !s.ok()) {
    return s;
  }
  auto decoded = pprof::decode_view(body, limits);
  if (!decoded) {
    return pprof::explain_not_pprof(content_type, body, decoded.status(),
                                    "HTTP " + std::to_string(status));
  }
  return decoded;
}

asio::awaitable<void> ScrapeLoop::scrape_once() {
  using Clock = std::chrono::steady_clock;
  auto settings = settings_;  // this scrape's, whatever a reload does meanwhile
  const Target& target = settings->target;
  const ProfileEndpoint& endpoint = settings->endpoint;
  auto started = Clock::now();
  int64_t started_ns = now_unix_nanos();
  HttpResult res = co_await settings->client->get(
      endpoint.url, started + endpoint.timeout, endpoint.timeout, endpoint.type.delta,
      last_body_size_ ? last_body_size_ + last_body_size_ / 8 : 0);
  if (stopped_) co_return;
  const size_t wire_size = res.body.size();
  if (res.error.ok() && res.status >= 200 && res.status < 300) last_body_size_ = wire_size;
  Status outcome = res.error;
  auto disposition = ingest::Prepared::Disposition::kStore;
  DecodeSlot decode_slot;
  if (outcome.ok()) {
    // Decoded profiles are several times their compressed bodies: a bounded
    // number of bodies is handed over at a time (the slot is held until the
    // profile is queued for storage, below), and the worker, right before
    // decoding, waits while the store is behind (for at most a minute), so
    // that what waits is compressed bodies.
    const auto give_up = Clock::now() + kMaxStoreWait;
    for (int i = 0; i < 600 && !decode_slot.acquired; ++i) {
      if (decode_slot.try_acquire()) break;
      if (i == 0) res.body.shrink_to_fit();  // a chunked body grew by doubling
      timer_.expires_after(std::chrono::milliseconds(i < 10 ? 5 : 100));
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopped_) co_return;
    }
    // The pipeline's work is CPU work: it runs on the scrape manager's
    // worker thread, handed over with others (collector/batch_worker.h), then
    // the loop comes back here.
    outcome = co_await deps_.worker->run([&]() -> Status {
      while (deps_.pipeline->pending_bytes() > Storage::kSoftPendingBytes &&
             Clock::now() < give_up && !stopped_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      ingest::Input in;
      if (Status s = check_http(res.status, res.reason, res.content_type, res.content_encoding,
                                &res.body, in.limits.max_decompressed);
          !s.ok()) {
        return s;
      }
      in.origin = ingest::Origin::kScrape;
      in.body = std::move(res.body);
      in.content_type = res.content_type;
      in.where = "HTTP " + std::to_string(res.status);
      in.labels = target.profile_labels(endpoint.type);
      in.policy = settings->policy;
      in.series_cap = settings->series_cap;
      in.time_ns = started_ns;
      if (computes_delta_) {
        in.delta = delta_;
        // Tell upstream not to difference again (Alloy's convention).
        in.delta_flag = "false";
      }
      in.wire_bytes = wire_size;
      auto prepared = deps_.pipeline->prepare(std::move(in));
      if (!prepared) return prepared.status();
      disposition = prepared->disposition;
      if (disposition != ingest::Prepared::Disposition::kStore) return Status();
      std::vector<ingest::Prepared> batch;
      batch.push_back(std::move(*prepared));
      auto queued = deps_.pipeline->store(std::move(batch));
      if (!queued) return queued.status().context("not stored");
      return Status();
    });
    if (stopped_) co_return;
  }
  if (m_.bytes) m_.bytes->inc(static_cast<double>(wire_size));
  using Disposition = ingest::Prepared::Disposition;
  if (outcome.ok()) {
    if (disposition == Disposition::kStore) {
      if (m_.stored) m_.stored->inc();
    } else if (disposition == Disposition::kPrimed || disposition == Disposition::kReset) {
      // Primed (first scrape) or re-primed (a counter went down: the target
      // restarted): there is no delta to store yet.
      if (m_.primed) m_.primed->inc();
      if (disposition == Disposition::kReset) {
        log::info("scrape",
                  "a cumulative counter went down (target restarted?); delta state re-primed",
                  {{"job", target.job},
                   {"instance", std::string(target.labels.get("instance"))},
                   {"profile", endpoint.type.name}});
      }
    }
    // kDropped: profile_relabel_configs dropped it, on purpose.
  }
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  bool ok = outcome.ok();
  health_->record(ok, outcome.message(), started_ns, secs);
  if (m_.scrapes) {
    m_.scrapes->inc();
    m_.duration->observe(secs);
    if (!ok) m_.failures->inc();
  }
  if (!ok) {
    // A new or changed error is worth a warning; repeats of the same one are debug noise.
    bool repeat = last_failed_ && outcome.message() == last_logged_error_;
    log::write(repeat ? log::Level::kDebug : log::Level::kWarn, "scrape", "scrape failed",
               {{"job", target.job},
                {"instance", std::string(target.labels.get("instance"))},
                {"profile", endpoint.type.name},
                {"url", endpoint.url},
                {"err", outcome.message()}});
    last_logged_error_ = outcome.message();
  } else if (last_failed_) {
    log::info("scrape", "scrape recovered",
              {{"job", target.job},
               {"instance", std::string(target.labels.get("instance"))},
               {"profile", endpoint.type.name}});
  }
  last_failed_ = !ok;
}

}  // namespace stoker
