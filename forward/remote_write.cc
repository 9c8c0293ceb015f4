#include "forward/remote_write.h"

#include <boost/json.hpp>
#include <map>
#include <random>

#include "model/encoding.h"
#include "model/log.h"
#include "model/timeparse.h"
#include "net/asio_pch.h"
#include "net/http_client.h"
#include "proto/push.pb.h"
#include "storage/storage.h"

namespace stoker {

namespace asio = boost::asio;

namespace {

// Connect error codes (connectrpc) and whether Alloy retries them.
RemoteWriter::Verdict connect_code_verdict(const std::string& code, bool retry_on_429,
                                           bool* known) {
  *known = true;
  if (code == "deadline_exceeded" || code == "unknown" || code == "internal" ||
      code == "unavailable" || code == "data_loss" || code == "aborted")
    return RemoteWriter::Verdict::kRetry;
  if (code == "resource_exhausted")
    return retry_on_429 ? RemoteWriter::Verdict::kRetry : RemoteWriter::Verdict::kReject;
  if (code == "canceled" || code == "invalid_argument" || code == "not_found" ||
      code == "already_exists" || code == "permission_denied" || code == "failed_precondition" ||
      code == "out_of_range" || code == "unimplemented" || code == "unauthenticated")
    return RemoteWriter::Verdict::kReject;
  *known = false;
  return RemoteWriter::Verdict::kRetry;
}

// A readable description of a failed push: status and a short, single-line
// excerpt of the body (a Connect error's message when there is one).
std::string describe_failure(const HttpResult& r) {
  if (!r.error.ok()) return r.error.message();
  std::string msg = r.body.substr(0, 300);
  if (r.content_type.rfind("application/json", 0) == 0) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.as_object();
      std::string text;
      if (auto* c = o.if_contains("code"); c && c->is_string()) text = std::string(c->as_string());
      if (auto* m = o.if_contains("message"); m && m->is_string())
        text += (text.empty() ? "" : ": ") + std::string(m->as_string());
      if (!text.empty()) msg = text;
    }
  }
  for (char& c : msg) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  while (!msg.empty() && msg.back() == ' ') msg.pop_back();
  std::string out = "HTTP " + std::to_string(r.status);
  if (!msg.empty()) out += ": " + msg;
  return out;
}

}  // namespace

ForwardMetrics::ForwardMetrics(metrics::Registry& r)
    : requests(r.counter("stoker_push_requests_total", "Push requests sent, per endpoint.",
                         {"endpoint"})),
      failures(r.counter("stoker_push_failures_total",
                         "Push requests that failed (any reason), per endpoint.", {"endpoint"})),
      retries(r.counter("stoker_push_retries_total",
                        "Push requests retried after a retryable failure.", {"endpoint"})),
      profiles(r.counter("stoker_pushed_profiles_total",
                         "Profiles delivered (accepted by the endpoint).", {"endpoint"})),
      bytes(r.counter("stoker_pushed_bytes_total", "Request body bytes delivered.", {"endpoint"})),
      set_aside(r.counter(
          "stoker_outbox_set_aside_profiles_total",
          "Profiles set aside undelivered: rejected by the endpoint or retries exhausted.",
          {"endpoint"})) {}

void ForwardMetrics::remove(const std::string& endpoint) {
  for (auto* f : {&requests, &failures, &retries, &profiles, &bytes, &set_aside}) {
    f->remove({endpoint});
  }
}

RemoteWriter::RemoteWriter(Deps deps, RemoteWriteConfig cfg)
    : deps_(std::move(deps)), cfg_(std::move(cfg)), timer_(deps_.ex) {
  status_.name = cfg_.key();
  status_.url = cfg_.url;
}

RemoteWriter::~RemoteWriter() = default;

Status RemoteWriter::start() {
  auto outbox = Outbox::open(deps_.storage->path());
  if (!outbox) return outbox.status();
  outbox_ = std::move(*outbox);
  client_ =
      std::make_shared<HttpClient>(deps_.ex, cfg_.http, 1 << 20, "stoker/" STOKER_VERSION_STRING);
  asio::co_spawn(
      deps_.ex, [self = shared_from_this()]() { return self->run(); },
      asio::bind_cancellation_slot(cancel_.slot(), [name = cfg_.key()](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const boost::system::system_error& ex) {
          if (ex.code() == asio::error::operation_aborted) return;  // stopped
          log::error("remote_write", "delivery loop ended unexpectedly",
                     {{"endpoint", name}, {"err", ex.what()}});
        } catch (const std::exception& ex) {
          log::error("remote_write", "delivery loop ended unexpectedly",
                     {{"endpoint", name}, {"err", ex.what()}});
        }
      }));
  return Status();
}

void RemoteWriter::stop() {
  if (stopped_.exchange(true)) return;
  // Cancels a backoff or an in-flight push; an interrupted batch is sent again
  // by whoever delivers this endpoint next.
  asio::post(deps_.ex, [self = shared_from_this()] {
    self->cancel_.emit(asio::cancellation_type::terminal);
    self->timer_.cancel();
    if (self->client_) self->client_->close_idle();
  });
  set_state("stopped");
}

RemoteWriteStatus RemoteWriter::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void RemoteWriter::set_state(const char* s) {
  std::lock_guard lock(mu_);
  status_.state = s;
}

RemoteWriter::Verdict RemoteWriter::classify(const HttpResult& r, bool retry_on_http_429) {
  if (!r.error.ok()) return Verdict::kRetry;  // connection errors, timeouts
  if (r.status >= 200 && r.status < 300) return Verdict::kDelivered;
  if (r.content_type.rfind("application/json", 0) == 0) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    if (!ec && v.is_object()) {
      if (auto* c = v.as_object().if_contains("code"); c && c->is_string()) {
        bool known = false;
        Verdict verdict =
            connect_code_verdict(std::string(c->as_string()), retry_on_http_429, &known);
        if (known) return verdict;
      }
    }
  }
  switch (r.status) {
    case 400:
    case 401:
    case 403:
    case 404:
    case 412:
      return Verdict::kReject;
    case 408:
      return Verdict::kRetry;
    case 413:
    case 429:
    case 431:
      return retry_on_http_429 ? Verdict::kRetry : Verdict::kReject;
    default:
      return Verdict::kRetry;  // 5xx, and anything unexpected (Connect's "unknown")
  }
}

Labels RemoteWriter::upstream_labels(const Labels& stored, const Labels& external) {
  Labels out;
  for (const auto& l : stored) {
    if (l.name.rfind("__", 0) == 0 && l.name != "__name__" && l.name != "__delta__") continue;
    out.set(l.name, l.value);
  }
  for (const auto& l : external) out.set(l.name, l.value);
  return out;
}

namespace {

// Protobuf wire helpers for the push request, written directly: the profiles
// are copied once, into the body (through the generated classes they were
// copied into the message and again by serializing it).
// A length-delimited field's size: its tag (fields < 16 take a byte), length and bytes.
size_t field_size(size_t len) { return 1 + enc::varint_size(len) + len; }
void put_field_head(std::string& out, uint32_t field, size_t len) {
  out.push_back(static_cast<char>(field << 3 | 2));
  enc::put_varint(out, len);
}
void put_field(std::string& out, uint32_t field, std::string_view bytes) {
  put_field_head(out, field, bytes.size());
  out.append(bytes);
}

}  // namespace

void RemoteWriter::encode_request_to(const std::vector<OutboxItem>& items, const Labels& external,
                                     size_t* series, std::string* out) {
  // push.v1.PushRequest { repeated RawProfileSeries series = 1 }
  // RawProfileSeries { repeated types.v1.LabelPair labels = 1; repeated RawSample samples = 2 }
  // LabelPair { string name = 1; string value = 2 }   RawSample { bytes raw_profile = 1 }
  struct Series {
    Labels labels;
    std::vector<const std::string*> profiles;
    size_t labels_bytes = 0, size = 0;
  };
  std::vector<Series> out_series;
  std::map<std::string, size_t> index;  // canonical labels → position in out_series
  static const std::string kEmpty;
  for (const auto& it : items) {
    Labels labels = upstream_labels(it.labels, external);
    auto [pos, fresh] = index.emplace(labels.to_string(), out_series.size());
    if (fresh) out_series.push_back(Series{std::move(labels), {}, 0, 0});
    out_series[pos->second].profiles.push_back(it.pprof_gzip ? it.pprof_gzip.get() : &kEmpty);
  }
  size_t total = 0;
  for (auto& s : out_series) {
    for (const auto& l : s.labels) {
      s.labels_bytes += field_size(field_size(l.name.size()) + field_size(l.value.size()));
    }
    s.size = s.labels_bytes;
    for (const auto* p : s.profiles) {
      s.size += field_size(p->empty() ? 0 : field_size(p->size()));
    }
    total += field_size(s.size);
  }
  std::string& body = *out;
  body.clear();
  body.reserve(total);
  for (const auto& s : out_series) {
    put_field_head(body, 1, s.size);
    for (const auto& l : s.labels) {
      put_field_head(body, 1, field_size(l.name.size()) + field_size(l.value.size()));
      put_field(body, 1, l.name);
      put_field(body, 2, l.value);
    }
    for (const auto* p : s.profiles) {
      if (p->empty()) {
        put_field_head(body, 2, 0);  // proto3 leaves an empty bytes field out
      } else {
        put_field_head(body, 2, field_size(p->size()));
        put_field(body, 1, *p);
      }
    }
  }
  if (series) *series = out_series.size();
}

std::chrono::milliseconds RemoteWriter::backoff(const RemoteWriteConfig& cfg, uint64_t attempt) {
  using std::chrono::milliseconds;
  auto min = std::chrono::duration_cast<milliseconds>(cfg.min_backoff).count();
  auto max = std::chrono::duration_cast<milliseconds>(cfg.max_backoff).count();
  int64_t base = min;
  for (uint64_t i = 1; i < attempt && base < max; ++i) base *= 2;
  base = std::min(base, max);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t span = std::max<int64_t>(1, std::min(base, max - base + 1));
  int64_t d = base + static_cast<int64_t>(rng() % static_cast<uint64_t>(span));
  return milliseconds(std::min(d, std::max<int64_t>(max, 1)));
}

asio::awaitable<bool> RemoteWriter::sleep(std::chrono::milliseconds d) {
  if (stopped_) co_return false;
  timer_.expires_after(d);
  co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !stopped_;
}

asio::awaitable<void> RemoteWriter::refresh_status_every(std::chrono::seconds period) {
  auto now = std::chrono::steady_clock::now();
  if (now - last_refresh_ < period) co_return;
  last_refresh_ = now;
  co_await on_pool([this] {
    refresh_status();
    return true;
  });
}

void RemoteWriter::refresh_status() {
  auto st = outbox_->status(cfg_.key());
  std::lock_guard lock(mu_);
  if (st) {
    status_.outbox = *st;
    status_.outbox_error.clear();
  } else {
    status_.outbox_error = st.error();
  }
}

template <typename F>
asio::awaitable<std::invoke_result_t<F>> RemoteWriter::on_pool(F fn) {
  using T = std::invoke_result_t<F>;
  co_return co_await asio::co_spawn(
      deps_.pool->get_executor(),
      [fn = std::move(fn)]() mutable -> asio::awaitable<T> { co_return fn(); },
      uncancelled_awaitable());
}

asio::awaitable<bool> RemoteWriter::set_aside(std::vector<OutboxItem> items, int status,
                                              std::string reason, int64_t* cursor,
                                              metrics::Counter* counter) {
  const std::string& key = cfg_.key();
  Status recorded = co_await on_pool([&] {
    for (const auto& it : items) {
      if (Status s = outbox_->set_aside(key, it, status, reason); !s.ok()) return s;
    }
    return Status();
  });
  if (!recorded.ok()) {
    log::error("remote_write", "cannot record a set-aside profile",
               {{"endpoint", key}, {"err", recorded.message()}});
    co_return false;
  }
  for (const auto& it : items) {
    log::error("remote_write", "profile set aside, not delivered",
               {{"endpoint", key},
                {"profile_id", std::to_string(it.id)},
                {"series", it.labels.to_string()},
                {"err", reason}});
  }
  if (counter) counter->inc(static_cast<double>(items.size()));
  *cursor = std::max(*cursor, items.back().id);
  deps_.storage->forward_cache().delivered(key, *cursor);
  co_return true;
}

asio::awaitable<void> RemoteWriter::run() {
  auto self = shared_from_this();
  // stop() cancels the pending operation; it then completes with an error and
  // the loop sees stopped_, instead of the next co_await throwing.
  co_await asio::this_coro::throw_if_cancelled(false);
  const std::string key = cfg_.key();
  const std::string url = cfg_.url + "/push.v1.PusherService/Push";
  // Handles: the process may remove the series of a removed endpoint while
  // this loop is still finishing.
  std::shared_ptr<metrics::Counter> m_requests, m_failures, m_retries, m_profiles, m_bytes, m_aside;
  if (deps_.metrics) {
    m_requests = deps_.metrics->requests.handle({key});
    m_failures = deps_.metrics->failures.handle({key});
    m_retries = deps_.metrics->retries.handle({key});
    m_profiles = deps_.metrics->profiles.handle({key});
    m_bytes = deps_.metrics->bytes.handle({key});
    m_aside = deps_.metrics->set_aside.handle({key});
  }

  auto delivered = co_await on_pool([&] { return outbox_->delivered_id(key); });
  int64_t cursor = delivered.value_or(-1);
  if (cursor < 0) {
    log::error(
        "remote_write", "endpoint missing from the outbox; not delivering",
        {{"endpoint", key}, {"err", delivered.ok() ? "unknown endpoint" : delivered.error()}});
    co_return;
  }
  co_await refresh_status_every(std::chrono::seconds(0));
  // Profiles committed from now on are kept in memory for this endpoint until
  // it has passed them (see ForwardCache).
  ForwardCache& cache = deps_.storage->forward_cache();
  cache.register_endpoint(key, cursor);
  struct Unregister {
    ForwardCache& cache;
    const std::string& key;
    ~Unregister() { cache.unregister_endpoint(key); }
  } unregister{cache, key};
  uint64_t attempt = 0;     // failed attempts of the current batch
  size_t isolate = 0;       // send this many next profiles one by one
  std::string last_logged;  // the last failure logged at warn level

  while (!stopped_) {
    std::vector<OutboxItem> items;
    std::vector<std::string> broken;
    size_t max_count = isolate ? 1 : kMaxBatchProfiles;
    Status read = co_await on_pool(
        [&] { return outbox_->next(cursor, max_count, kMaxBatchBytes, &cache, &items, &broken); });
    if (stopped_) break;
    if (!read.ok()) {
      log::error("remote_write", "reading the outbox failed; retrying",
                 {{"endpoint", key}, {"err", read.message()}});
      if (!co_await sleep(std::chrono::seconds(1))) break;
      continue;
    }
    // A profile that cannot be rebuilt is set aside; the batch ends before it.
    for (size_t i = 0; i < items.size(); ++i) {
      if (broken[i].empty()) continue;
      if (i == 0) {
        std::vector<OutboxItem> first(1, items[0]);  // (GCC 12: no init-lists across co_await)
        co_await set_aside(first, 0, broken[0], &cursor, m_aside.get());
        items.clear();
      } else {
        items.resize(i);
      }
      break;
    }
    if (items.empty()) {
      if (!broken.empty()) continue;  // something was set aside; look again
      set_state("idle");
      co_await refresh_status_every(std::chrono::seconds(5));
      // Wait for the store to commit something newer than the cursor.
      while (!stopped_ && deps_.storage->last_committed_id() <= cursor &&
             std::chrono::steady_clock::now() - last_refresh_ < std::chrono::seconds(5)) {
        if (!co_await sleep(std::chrono::milliseconds(200))) break;
      }
      continue;
    }

    size_t series = 0;
    std::string body = std::move(spare_body_);
    encode_request_to(items, deps_.external_labels, &series, &body);
    set_state("sending");
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.headers = {
        {"Content-Type", "application/proto"},
        {"Connect-Protocol-Version", "1"},
        {"Connect-Timeout-Ms",
         std::to_string(
             std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.remote_timeout).count())}};
    for (const auto& h : cfg_.headers) req.headers.push_back(h);
    req.body = std::move(body);
    size_t body_size = req.body.size();
    if (m_requests) m_requests->inc();
    HttpResult res = co_await client_->send(std::move(req),
                                            std::chrono::steady_clock::now() + cfg_.remote_timeout);
    // Kept for the next push unless it is unusually large (a batch is at most
    // kMaxBatchBytes, or one profile over it).
    spare_body_ = std::move(res.request_body);
    if (spare_body_.capacity() > 2 * kMaxBatchBytes) std::string().swap(spare_body_);
    Verdict verdict = classify(res, cfg_.retry_on_http_429);
    // Stopped meanwhile: a batch the endpoint accepted is still recorded as
    // delivered (else the next writer sends it again); anything else waits
    // for the next writer.
    if (stopped_ && verdict != Verdict::kDelivered) break;
    int64_t now_ns = now_unix_nanos();

    if (verdict == Verdict::kDelivered) {
      int64_t last = items.back().id;
      Status marked = co_await on_pool([&] { return outbox_->mark_delivered(key, last); });
      if (!marked.ok()) {
        // Delivered but not recorded: it will be sent again (at-least-once).
        log::error("remote_write", "cannot record delivery",
                   {{"endpoint", key}, {"err", marked.message()}});
        if (!co_await sleep(std::chrono::seconds(1))) break;
        continue;
      }
      cursor = last;
      cache.delivered(key, cursor);
      if (stopped_) break;
      if (m_profiles) m_profiles->inc(static_cast<double>(items.size()));
      if (m_bytes) m_bytes->inc(static_cast<double>(body_size));
      if (isolate) isolate = isolate > items.size() ? isolate - items.size() : 0;
      if (!last_logged.empty()) {
        log::info("remote_write", "delivery recovered",
                  {{"endpoint", key}, {"after_failures", std::to_string(attempt)}});
        last_logged.clear();
      }
      attempt = 0;
      {
        std::lock_guard lock(mu_);
        status_.last_success_ns = now_ns;
        status_.consecutive_failures = 0;
      }
      log::debug("remote_write", "pushed",
                 {{"endpoint", key},
                  {"profiles", std::to_string(items.size())},
                  {"series", std::to_string(series)},
                  {"bytes", std::to_string(body_size)}});
      co_await refresh_status_every(std::chrono::seconds(1));
      continue;
    }

    if (m_failures) m_failures->inc();
    std::string why = describe_failure(res);
    {
      std::lock_guard lock(mu_);
      status_.last_error = why;
      status_.last_error_ns = now_ns;
      ++status_.consecutive_failures;
    }
    if (verdict == Verdict::kReject) {
      attempt = 0;
      if (items.size() > 1) {
        // Find the offending profiles: resend this batch one profile at a time.
        log::warn("remote_write", "batch rejected; resending its profiles one by one",
                  {{"endpoint", key}, {"profiles", std::to_string(items.size())}, {"err", why}});
        isolate = items.size();
        continue;
      }
      co_await set_aside(items, res.status, "rejected by the endpoint: " + why, &cursor,
                         m_aside.get());
      if (isolate) --isolate;
      continue;
    }

    // Retryable.
    ++attempt;
    if (cfg_.max_retries && attempt >= cfg_.max_retries) {
      co_await set_aside(items, res.status,
                         "gave up after " + std::to_string(attempt) + " attempts: " + why, &cursor,
                         m_aside.get());
      attempt = 0;
      continue;
    }
    if (m_retries) m_retries->inc();
    auto wait = backoff(cfg_, attempt);
    bool repeat = why == last_logged;
    log::write(repeat ? log::Level::kDebug : log::Level::kWarn, "remote_write",
               "push failed; will retry",
               {{"endpoint", key},
                {"attempt", std::to_string(attempt)},
                {"retry_in", format_duration(std::chrono::duration_cast<Duration>(wait))},
                {"pending_from_id", std::to_string(items.front().id)},
                {"err", why}});
    last_logged = why;
    set_state("backoff");
    co_await refresh_status_every(std::chrono::seconds(1));
    if (!co_await sleep(wait)) break;
  }
  set_state("stopped");
}

}  // namespace stoker
