#include "web/receive_api.h"

#include <algorithm>
#include <map>
#include <set>

#include "collector/ingest.h"
#include "collector/self_metrics.h"
#include "model/log.h"
#include "model/timeparse.h"
#include "model/units.h"
#include "pprof/compress.h"
#include "pprof/delta.h"
#include "proto/push.pb.h"
#include "storage/storage.h"
#include "web/connect.h"

namespace stoker {

namespace {

constexpr std::string_view kPushPath = "/push.v1.PusherService/Push";
// Pushed bodies are compressed: level 1 re-encodes the rare uncompressed one.
constexpr int kForwardGzipLevel = 1;
// Beyond this many distinct service_name values, metrics say "other".
constexpr size_t kMaxMetricServices = 1000;
// Requests are refused (503) while this much decoded profile data waits for
// the writer: the client keeps its data and retries.
constexpr size_t kMaxPendingBytes = 4 * Storage::kSoftPendingBytes;
// A profile time before 1971 is not a time (old SDKs sent microseconds or 0).
constexpr int64_t kMinPlausibleNanos = 365LL * 24 * 3600 * 1'000'000'000;

WebResponse plain(int status, std::string body) {
  WebResponse r;
  r.status = status;
  r.body = std::move(body);
  if (!r.body.empty() && r.body.back() != '\n') r.body += '\n';
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

std::string not_committed_message(std::chrono::milliseconds timeout) {
  return "queued but not committed within " + format_duration(timeout) +
         " (the disk is slow or failing); it may still be stored, retry later";
}

connect::Code connect_code(int status) {
  switch (status) {
    case 400:
      return connect::Code::kInvalidArgument;
    case 404:
      return connect::Code::kUnimplemented;
    case 413:
      return connect::Code::kResourceExhausted;
    case 503:
      return connect::Code::kUnavailable;
    default:
      return connect::Code::kInternal;
  }
}

}  // namespace

struct Receiver::Settings {
  bool enabled = false;
  ReceiveConfig cfg;
  Labels external_labels;
  pprof::Limits limits;
  std::string ingest_path, pyroscope_ingest_path, push_path;
};

Receiver::Receiver(Storage* storage, SelfMetrics* metrics, std::chrono::milliseconds commit_timeout)
    : storage_(storage),
      metrics_(metrics),
      commit_timeout_(commit_timeout),
      settings_(std::make_shared<Settings>()) {}

Receiver::~Receiver() = default;

void Receiver::configure(const Config& cfg) {
  auto s = std::make_shared<Settings>();
  s->enabled = cfg.receive.active(cfg.web.listen_address);
  s->cfg = cfg.receive;
  s->external_labels = cfg.global.external_labels;
  s->limits.max_decompressed = cfg.receive.profile_size_limit;
  s->ingest_path = cfg.receive.path_prefix + "/ingest";
  s->pyroscope_ingest_path = cfg.receive.path_prefix + "/pyroscope/ingest";
  s->push_path = cfg.receive.path_prefix + std::string(kPushPath);
  std::lock_guard lock(mu_);
  settings_ = std::move(s);
}

std::shared_ptr<const Receiver::Settings> Receiver::settings() const {
  std::lock_guard lock(mu_);
  return settings_;
}

bool Receiver::enabled() const {
  return settings()->enabled;
}

bool Receiver::handles(std::string_view path) const {
  auto s = settings();
  return !s->ingest_path.empty() &&
         (path == s->ingest_path || path == s->pyroscope_ingest_path || path == s->push_path);
}

size_t Receiver::body_limit(std::string_view path) const {
  return handles(path) ? settings()->cfg.body_size_limit : 0;
}

void Receiver::count_too_large(std::string_view path) {
  if (!metrics_ || !handles(path)) return;
  metrics_->receive_rejected.with({path.ends_with(kPushPath) ? "push" : "ingest", "too_large"})
      .inc();
}

namespace {

// What both routes do with a pushed profile once its labels are known:
// receive.labels, relabeling, limits, external labels. nullopt: dropped by
// relabeling. `error` says why the labels are refused.
std::optional<Labels> finish_labels(Labels labels, const Receiver::Settings& s,
                                    std::string_view delta, std::string* error);
void log_refusal(const std::string& format, const std::string& reason, int status,
                 const std::string& message);

}  // namespace

WebResponse Receiver::handle(const WebRequest& req) {
  auto s = settings();
  const bool is_push = req.path == s->push_path;
  if (!s->enabled) {
    if (metrics_) metrics_->receive_rejected.with({is_push ? "push" : "ingest", "disabled"}).inc();
    std::string msg =
        "stoker does not accept pushed profiles here: set receive.enabled: true in its config "
        "(it is on by default only when web.listen_address is a loopback address)";
    log_refusal(is_push ? "push" : "ingest", "disabled", 404, msg);
    return is_push ? connect::error(connect::Code::kUnimplemented, msg) : plain(404, msg);
  }
  return is_push ? push(req, *s) : ingest(req, *s);
}

namespace {

std::optional<Labels> finish_labels(Labels labels, const Receiver::Settings& s,
                                    std::string_view delta, std::string* error) {
  for (const auto& l : s.cfg.labels) labels.set(l.name, l.value);
  if (!s.cfg.relabel->empty() && !s.cfg.relabel->apply(labels)) return std::nullopt;
  Labels out;
  for (const auto& l : labels) {
    if (l.name.rfind("__", 0) != 0 || l.name == "__name__") out.set(l.name, l.value);
  }
  for (const auto& l : s.external_labels) out.set(l.name, l.value);
  if (out.get("__name__").empty()) {
    *error = "the series has no __name__ (the profile type, like process_cpu or memory)";
    return std::nullopt;
  }
  if (out.get("service_name").empty()) {
    *error = "the series has no service_name label";
    return std::nullopt;
  }
  for (const auto& l : out) {
    if (!valid_utf8(l.name) || !valid_utf8(l.value)) {
      *error = "label " + quote(l.name) + " is not valid UTF-8";
      return std::nullopt;
    }
  }
  *error = s.cfg.limits.check_labels(out);
  if (!error->empty()) return std::nullopt;
  if (!delta.empty()) out.set("__delta__", delta);
  return out;
}

// Refusals are logged as warnings, at most one per format and reason every
// 10 s (a misconfigured SDK retries all the time); the rest at debug.
void log_refusal(const std::string& format, const std::string& reason, int status,
                 const std::string& message) {
  static std::mutex mu;
  static std::map<std::string, std::chrono::steady_clock::time_point> last;
  auto now = std::chrono::steady_clock::now();
  bool warn;
  {
    std::lock_guard lock(mu);
    auto& t = last[format + "/" + reason];
    warn = t.time_since_epoch().count() == 0 || now - t >= std::chrono::seconds(10);
    if (warn) t = now;
  }
  log::write(warn ? log::Level::kWarn : log::Level::kDebug, "receive", "refused a pushed profile",
             {{"format", format},
              {"status", std::to_string(status)},
              {"reason", reason},
              {"err", message.substr(0, 300)}});
}

// The service_name label of the metrics, bounded in cardinality.
std::string metric_service(std::string_view service) {
  static std::mutex mu;
  static std::set<std::string, std::less<>> seen;
  std::lock_guard lock(mu);
  if (seen.count(service)) return std::string(service);
  if (seen.size() >= kMaxMetricServices) return "other";
  return *seen.emplace(service).first;
}

}  // namespace

WebResponse Receiver::ingest(const WebRequest& req, const Settings& s) {
  std::string format = "ingest";
  auto refuse = [&](int status, const std::string& reason, const std::string& message) {
    if (metrics_) metrics_->receive_rejected.with({format, reason}).inc();
    log_refusal(format, reason, status, message);
    return plain(status, message);
  };
  if (req.method != "POST") {
    WebResponse r = refuse(405, "invalid", req.method + " is not allowed; use POST");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  const int64_t now = now_unix_nanos();
  ingest::Params params;
  const std::string content_type = req.header("content-type");
  if (std::string err = ingest::parse_params(req.query, content_type, now, &params); !err.empty()) {
    return refuse(400, "invalid", err);
  }
  format = params.format;
  if (format != "pprof" && format != "folded" && format != "lines") {
    if (format == "jfr") {
      return refuse(415, "unsupported_format",
                    "format=jfr (Java Flight Recorder) is not supported by stoker yet; send "
                    "pprof or folded (collapsed) stacks instead");
    }
    std::string shown = format.size() > 40 ? format.substr(0, 40) + "…" : format;
    format = "other";  // bounded metric labels
    return refuse(415, "unsupported_format",
                  "format=" + quote(shown) +
                      " is not supported by stoker; it accepts pprof, folded and lines");
  }
  if (storage_->pending_bytes() > kMaxPendingBytes) {  // checked before decoding anything
    return refuse(503, "queue_full", "stoker's store is behind; retry later");
  }
  // The body, inflated if the request says it is compressed.
  std::string inflated;
  std::string_view body = req.body;
  std::string encoding = req.header("content-encoding");
  if (encoding == "gzip") {
    std::string err = pprof::gunzip(req.body, s.cfg.profile_size_limit, &inflated);
    if (!err.empty()) return refuse(400, "invalid", "invalid gzip request body: " + err);
    body = inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return refuse(415, "unsupported_format",
                  "unsupported Content-Encoding " + quote(encoding) + " (supported: gzip)");
  }

  std::shared_ptr<const pprof::View> view;
  std::shared_ptr<const std::string> forward;
  std::string series_name, app = params.app;
  int64_t ts = params.from_ns;
  if (format == "pprof") {
    std::string_view profile = body, prev;
    std::string_view profile_type = content_type;
    ingest::SampleTypeConfigs config = ingest::default_sample_type_config();
    if (content_type.find("multipart/form-data") != std::string::npos) {
      std::vector<ingest::Part> parts;
      if (std::string err = ingest::parse_multipart(body, content_type, &parts); !err.empty()) {
        return refuse(400, "invalid", "invalid multipart/form-data body: " + err);
      }
      bool has_profile = false;
      for (const auto& p : parts) {
        if (p.name == "profile") {
          profile = p.data;
          profile_type = p.content_type;
          has_profile = true;
        } else if (p.name == "prev_profile") {
          prev = p.data;
        } else if (p.name == "sample_type_config") {
          if (std::string err = ingest::parse_sample_type_config(p.data, &config); !err.empty()) {
            return refuse(400, "invalid", err);
          }
        }
      }
      if (!has_profile) {
        return refuse(400, "invalid", "the multipart/form-data body has no \"profile\" part");
      }
    }
    auto decoded = pprof::decode_view(profile, s.limits);
    if (!decoded.error.empty()) {
      return refuse(decoded.error.find("exceeds") != std::string::npos ? 413 : 400,
                    decoded.error.find("exceeds") != std::string::npos ? "too_large" : "invalid",
                    pprof::explain_not_pprof(profile_type, profile, decoded.error));
    }
    std::shared_ptr<pprof::View> v = std::move(decoded.view);
    if (!prev.empty()) {
      // An SDK that sends cumulative profiles with the previous one (old
      // pyroscope-go): store the difference of the cumulative sample types.
      auto before = pprof::decode_view(prev, s.limits);
      if (!before.error.empty()) {
        return refuse(400, "invalid",
                      "prev_profile: " + pprof::explain_not_pprof("", prev, before.error));
      }
      bool same_types = before.view->sample_types.size() == v->sample_types.size();
      for (size_t i = 0; same_types && i < v->sample_types.size(); ++i) {
        same_types =
            before.view->str(before.view->sample_types[i].type) ==
                v->str(v->sample_types[i].type) &&
            before.view->str(before.view->sample_types[i].unit) == v->str(v->sample_types[i].unit);
      }
      if (!same_types) {
        return refuse(400, "invalid", "prev_profile has other sample types than profile");
      }
      auto columns = ingest::cumulative_columns(*v, config);
      if (!columns.empty()) {
        if (columns.size() > pprof::DeltaState::kMaxColumns) {
          return refuse(400, "invalid", "more cumulative sample types than stoker differences");
        }
        pprof::DeltaState delta;
        v->hash_strings();
        before.view->hash_strings();
        delta.apply(*before.view, columns);
        if (delta.apply(*v, columns) == pprof::DeltaState::Result::kReset) {
          // A counter went down (the program restarted): the profile holds
          // what accumulated since, as it is.
          v = pprof::decode_view(profile, s.limits).view;
        } else {
          v->prune();
        }
      }
    }
    v->hash_strings();  // here, not on the single storage writer
    series_name = ingest::pprof_series_name(*v, config);
    if (v->time_nanos < kMinPlausibleNanos) v->time_nanos = params.from_ns;
    ts = v->time_nanos;
    if (storage_->forward_cache().active()) {
      forward = std::make_shared<const std::string>(
          prev.empty() && pprof::is_gzip(profile) ? std::string(profile)
                                                  : pprof::gzip(v->encode(), kForwardGzipLevel));
    }
    view = std::move(v);
  } else {
    auto converted = ingest::convert_collapsed(body, format == "lines", params, s.limits);
    if (!converted.error.empty()) return refuse(400, "invalid", converted.error);
    series_name = converted.series_name;
    app = converted.app;
    converted.profile->hash_strings();
    view = std::move(converted.profile);
  }
  std::string err;
  auto labels = finish_labels(ingest::series_labels(params, series_name, app), s, "false", &err);
  if (!labels) {
    if (!err.empty()) return refuse(400, "invalid", err);
    if (metrics_) metrics_->receive_dropped.with({format}).inc();
    return plain(200, "");
  }
  ProfileRecord rec;
  rec.labels = std::move(*labels);
  rec.scrape_time_ns = ts;
  rec.view = std::move(view);
  rec.wire_size = req.body.size();
  rec.forward_gzip = std::move(forward);
  std::vector<ProfileRecord> records;
  records.push_back(std::move(rec));
  if (auto no = commit(std::move(records), format))
    return refuse(no->status, no->reason, no->message);
  return plain(200, "");
}

std::optional<Receiver::Refusal> Receiver::commit(std::vector<ProfileRecord> records,
                                                  const std::string& format) {
  if (records.empty()) return std::nullopt;
  // What the metrics need, before the records go to the writer.
  std::vector<std::pair<std::string, size_t>> counted;
  for (const auto& r : records) counted.emplace_back(r.labels.get("service_name"), r.wire_size);
  uint64_t ticket = 0;
  std::string err;
  if (!storage_->append_all(std::move(records), &err, &ticket)) {
    return Refusal{503, "queue_full", "not stored: " + err};
  }
  if (!storage_->wait_committed(ticket, commit_timeout_)) {
    return Refusal{503, "not_committed", not_committed_message(commit_timeout_)};
  }
  if (metrics_) {
    for (const auto& [service, bytes] : counted) {
      auto svc = metric_service(service);
      metrics_->received_profiles.with({svc, format}).inc();
      metrics_->received_bytes.with({svc, format}).inc(static_cast<double>(bytes));
    }
  }
  return std::nullopt;
}

WebResponse Receiver::push(const WebRequest& req, const Settings& s) {
  const std::string format = "push";
  auto refuse = [&](int status, const std::string& reason, const std::string& message) {
    if (metrics_) metrics_->receive_rejected.with({format, reason}).inc();
    log_refusal(format, reason, status, message);
    WebResponse r = connect::error(connect_code(status), message);
    if (status == 503) r.headers.emplace_back("Retry-After", "1");
    return r;
  };
  push::v1::PushRequest pr;
  connect::Codec codec;
  if (auto bad = connect::decode(req, &pr, &codec)) {
    if (metrics_) metrics_->receive_rejected.with({format, "invalid"}).inc();
    log_refusal(format, "invalid", bad->status, bad->body);
    return *bad;
  }
  if (storage_->pending_bytes() > kMaxPendingBytes) {  // checked before decoding anything
    return refuse(503, "queue_full", "stoker's store is behind; retry later");
  }
  const int64_t now = now_unix_nanos();
  const bool forwarding = storage_->forward_cache().active();
  std::vector<ProfileRecord> records;
  size_t dropped = 0;
  for (int i = 0; i < pr.series_size(); ++i) {
    const auto& series = pr.series(i);
    Labels pushed;
    std::string where = "series " + std::to_string(i);
    for (const auto& lp : series.labels()) {
      if (lp.name().empty() || pushed.has(lp.name())) {
        return refuse(
            400, "invalid",
            where + ": label names must be non-empty and distinct (" + quote(lp.name()) + ")");
      }
      pushed.set(lp.name(), lp.value());
    }
    where += " " + pushed.to_string();
    std::string delta(pushed.get("__delta__"));
    std::string err;
    auto labels = finish_labels(pushed, s, delta, &err);
    if (!labels) {
      if (!err.empty()) return refuse(400, "invalid", where + ": " + err);
      dropped += static_cast<size_t>(series.samples_size());
      continue;
    }
    for (int j = 0; j < series.samples_size(); ++j) {
      const std::string& raw = series.samples(j).raw_profile();
      auto decoded = pprof::decode_view(raw, s.limits);
      if (!decoded.error.empty()) {
        bool big = decoded.error.find("exceeds") != std::string::npos;
        return refuse(big ? 413 : 400, big ? "too_large" : "invalid",
                      where + " sample " + std::to_string(j) + ": " +
                          pprof::explain_not_pprof("", raw, decoded.error));
      }
      ProfileRecord rec;
      rec.labels = *labels;
      rec.scrape_time_ns =
          decoded.view->time_nanos >= kMinPlausibleNanos ? decoded.view->time_nanos : now;
      rec.wire_size = raw.size();
      if (forwarding) {
        rec.forward_gzip = std::make_shared<const std::string>(
            pprof::is_gzip(raw) ? raw : pprof::gzip(raw, kForwardGzipLevel));
      }
      // Hashed here, on a receive thread, not by the single storage writer.
      decoded.view->hash_strings();
      rec.view = std::move(decoded.view);
      records.push_back(std::move(rec));
    }
  }
  if (dropped && metrics_)
    metrics_->receive_dropped.with({format}).inc(static_cast<double>(dropped));
  if (auto no = commit(std::move(records), format))
    return refuse(no->status, no->reason, no->message);
  return connect::encode(push::v1::PushResponse(), codec);
}

}  // namespace stoker
