#include "collector/scrape_loop.h"

#include <atomic>

#include "collector/self_metrics.h"
#include "model/log.h"
#include "model/timeparse.h"
#include "net/asio_pch.h"
#include "net/http_client.h"
#include "pprof/pprof_decode.h"
#include "pprof/view.h"
#include "storage/storage.h"

namespace stoker {

namespace asio = boost::asio;

namespace {
// Differenced profiles are re-encoded for remote_write at libdeflate's
// fastest level (≈240 MB/s here), about as small as Go's gzip.BestSpeed,
// which is what Go programs and Alloy send.
constexpr int kForwardGzipLevel = 1;

// Process-wide bound on profiles being decoded and not yet handed to storage.
constexpr int kMaxDecoding = 4;
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

ScrapeLoop::ScrapeLoop(Deps deps, Target target, ProfileEndpoint endpoint, Duration interval,
                       std::shared_ptr<LoopState> state)
    : deps_(std::move(deps)),
      target_(std::move(target)),
      endpoint_(std::move(endpoint)),
      interval_(interval),
      state_(state ? std::move(state) : std::make_shared<LoopState>()),
      computes_delta_(computes_delta(endpoint_.type)),
      timer_(deps_.ex) {
  if (deps_.metrics) {
    std::vector<std::string> lv{target_.job, endpoint_.type.name};
    m_.scrapes = &deps_.metrics->scrapes.with(lv);
    m_.failures = &deps_.metrics->scrape_failures.with(lv);
    m_.bytes = &deps_.metrics->scraped_bytes.with(lv);
    m_.stored = &deps_.metrics->profiles_stored.with(lv);
    m_.primed = &deps_.metrics->delta_primed.with(lv);
    m_.duration = &deps_.metrics->scrape_duration.with(lv);
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

void ScrapeLoop::start() {
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

asio::awaitable<void> ScrapeLoop::run() {
  timer_.expires_after(offset(target_.loop_key(endpoint_), interval_));
  auto next = timer_.expiry();
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  while (!stopped_) {
    next += interval_;
    co_await scrape_once();
    if (stopped_) break;
    auto now = asio::steady_timer::clock_type::now();
    while (next <= now) next += interval_;  // skip missed ticks
    timer_.expires_at(next);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

ScrapeOutcome check_response(int status, const std::string& reason, const std::string& content_type,
                             const std::string& content_encoding, const std::string& body_in,
                             const pprof::Limits& limits) {
  ScrapeOutcome out;
  std::string http = "HTTP " + std::to_string(status);
  if (status < 200 || status > 299) {
    if (status == 400 && body_in.find("exceeds server's WriteTimeout") != std::string::npos) {
      out.error =
          "the target refused the profile duration (" + http +
          " \"profile duration exceeds server's WriteTimeout\"): lower delta_profiling_duration "
          "or scrape_interval below the target's http.Server WriteTimeout";
      return out;
    }
    out.error = "expected pprof, got " + pprof::describe_body(content_type, body_in) + " (" + http +
                (reason.empty() ? "" : " " + reason) + ")";
    return out;
  }
  std::string inflated;
  const std::string* body = &body_in;
  if (content_encoding == "gzip") {
    std::string err = pprof::gunzip(body_in, limits.max_decompressed, &inflated);
    if (!err.empty()) {
      out.error = "invalid response (" + http + ", Content-Encoding gzip): " + err;
      return out;
    }
    body = &inflated;
  }
  auto decoded = pprof::decode_view(*body, limits);
  if (!decoded.error.empty()) {
    out.error = pprof::explain_not_pprof(content_type, *body, decoded.error, http);
    return out;
  }
  out.profile = std::move(decoded.view);
  return out;
}

asio::awaitable<void> ScrapeLoop::scrape_once() {
  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  int64_t started_ns = now_unix_nanos();
  HttpResult res =
      co_await deps_.client->get(endpoint_.url, started + endpoint_.timeout, endpoint_.timeout);
  if (stopped_) co_return;
  const size_t wire_size = res.body.size();
  ScrapeOutcome outcome;
  pprof::DeltaState::Result delta = pprof::DeltaState::Result::kDelta;
  // With remote_write endpoints running, the bytes to forward are prepared
  // here: the body as received when stoker does not change the profile, else
  // the differenced profile encoded once (fast compression).
  const bool forwarding = deps_.storage->forward_cache().active();
  std::shared_ptr<const std::string> forward;
  DecodeSlot decode_slot;
  if (!res.error.empty()) {
    outcome.error = res.error;
  } else {
    // Decoded profiles are several times their compressed bodies: decode a
    // few at a time (the pool has few threads anyway), and while the store is
    // behind, wait before decoding (for at most a minute).
    // (The slot is held until the profile is appended, below.)
    for (int i = 0; i < 600 && !decode_slot.acquired; ++i) {
      if (deps_.storage->pending_bytes() <= Storage::kSoftPendingBytes &&
          decode_slot.try_acquire()) {
        break;
      }
      if (i == 0) res.body.shrink_to_fit();  // a chunked body grew by doubling
      timer_.expires_after(std::chrono::milliseconds(i < 10 ? 5 : 100));
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
      if (stopped_) co_return;
    }
    // Decoding and differencing are CPU work: do them on the worker pool, then
    // come back here.
    outcome = co_await asio::co_spawn(
        deps_.pool->get_executor(),
        [this, &res, &delta, &forward, forwarding]() -> asio::awaitable<ScrapeOutcome> {
          auto out = check_response(res.status, res.reason, res.content_type, res.content_encoding,
                                    res.body);
          bool changed = false;
          // Strings are hashed here, on the pool, once: the delta and the
          // storage writer both use the hashes.
          if (out.profile) out.profile->hash_strings();
          if (out.profile && computes_delta_) {
            auto columns =
                pprof::DeltaState::cumulative_columns(*out.profile, endpoint_.type.series_name());
            if (!columns.empty()) {
              std::lock_guard lock(state_->mu);
              delta = state_->delta.apply(*out.profile, columns);
              changed = true;
            }
            // Samples without new counts are gone: so are the symbols only they used.
            if (changed && delta == pprof::DeltaState::Result::kDelta) out.profile->prune();
          }
          if (out.profile && forwarding && delta == pprof::DeltaState::Result::kDelta) {
            if (changed || res.content_encoding == "gzip" || !pprof::is_gzip(res.body)) {
              forward = std::make_shared<const std::string>(
                  pprof::gzip(out.profile->encode(), kForwardGzipLevel));
            } else {
              res.body.shrink_to_fit();  // a chunked body grew by doubling
              forward = std::make_shared<const std::string>(std::move(res.body));
            }
          }
          co_return out;
        },
        uncancelled_awaitable());
  }
  if (m_.bytes) m_.bytes->inc(static_cast<double>(wire_size));
  bool store = outcome.error.empty();
  if (store && delta != pprof::DeltaState::Result::kDelta) {
    // Primed (first scrape) or re-primed (a counter went down: the target
    // restarted): there is no delta to store yet.
    store = false;
    if (m_.primed) m_.primed->inc();
    if (delta == pprof::DeltaState::Result::kReset) {
      log::info("scrape",
                "a cumulative counter went down (target restarted?); delta state re-primed",
                {{"job", target_.job},
                 {"instance", std::string(target_.labels.get("instance"))},
                 {"profile", endpoint_.type.name}});
    }
  }
  if (store) {
    auto labels =
        target_.series_labels(endpoint_.type, deps_.external_labels, *deps_.profile_relabel);
    if (labels) outcome.error = deps_.limits.check_labels(*labels);
    if (labels &&
        outcome.error.empty()) {  // nullopt: dropped by profile_relabel_configs, on purpose
      // Tell upstream not to difference again (Alloy's convention).
      if (computes_delta_) labels->set("__delta__", "false");
      ProfileRecord rec;
      rec.labels = std::move(*labels);
      rec.scrape_time_ns = started_ns;
      rec.view = outcome.profile;
      rec.wire_size = wire_size;
      rec.forward_gzip = std::move(forward);
      if (!deps_.storage->append(std::move(rec), &outcome.error)) {
        outcome.error = "not stored: " + outcome.error;
      } else if (m_.stored) {
        m_.stored->inc();
      }
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - started).count();
  bool ok = outcome.error.empty();
  state_->health->record(ok, outcome.error, started_ns, secs);
  if (m_.scrapes) {
    m_.scrapes->inc();
    m_.duration->observe(secs);
    if (!ok) m_.failures->inc();
  }
  if (!ok) {
    // A new or changed error is worth a warning; repeats of the same one are debug noise.
    bool repeat = last_failed_ && outcome.error == last_logged_error_;
    log::write(repeat ? log::Level::kDebug : log::Level::kWarn, "scrape", "scrape failed",
               {{"job", target_.job},
                {"instance", std::string(target_.labels.get("instance"))},
                {"profile", endpoint_.type.name},
                {"url", endpoint_.url},
                {"err", outcome.error}});
    last_logged_error_ = outcome.error;
  } else if (last_failed_) {
    log::info("scrape", "scrape recovered",
              {{"job", target_.job},
               {"instance", std::string(target_.labels.get("instance"))},
               {"profile", endpoint_.type.name}});
  }
  last_failed_ = !ok;
}

}  // namespace stoker
