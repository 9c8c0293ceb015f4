#include "web/receive_api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "ingest/open_file.h"
#include "ingest/upload.h"
#include "model/log.h"
#include "model/text.h"
#include "model/timeparse.h"
#include "model/units.h"
#include "pprof/compress.h"
#include "proto/push.pb.h"
#include "web/connect.h"

namespace stoker {

namespace {

constexpr std::string_view kUploadPath = "/api/v1/upload";

constexpr std::string_view kPushPath = "/push.v1.PusherService/Push";
// Beyond this many distinct service_name values, metrics say "other".
constexpr size_t kMaxMetricServices = 1000;
// Requests are refused (503) while this much decoded profile data waits for
// the writer: the client keeps its data and retries.
constexpr size_t kMaxPendingBytes = 4 * Storage::kSoftPendingBytes;

// How a refusal is answered and counted.
struct Answer {
  int status;
  const char* reason;  // the metrics label
};
Answer answer_for(const Status& s) {
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
      return {400, "invalid"};
    case Status::Code::kResourceExhausted:
      return {413, "too_large"};
    case Status::Code::kUnimplemented:
      return {415, "unsupported_format"};
    case Status::Code::kUnavailable:
      return {503, "queue_full"};
    case Status::Code::kDeadlineExceeded:
      return {503, "not_committed"};
    case Status::Code::kFailedPrecondition:
      return {404, "disabled"};
    default:
      return {500, "internal"};
  }
}

WebResponse plain(int status, std::string body) {
  WebResponse r;
  r.status = status;
  r.body = std::move(body);
  if (!r.body.empty() && r.body.back() != '\n') r.body += '\n';
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
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

struct Receiver::Settings {
  bool enabled = false;
  ReceiveConfig cfg;
  std::shared_ptr<const ingest::LabelPolicy> policy;
  pprof::Limits limits;
  std::string ingest_path, pyroscope_ingest_path, push_path;
};

struct Receiver::Metrics {
  metrics::Registry own;  // when none is given
  metrics::CounterFamily &profiles, &bytes, &dropped, &rejected;
  explicit Metrics(metrics::Registry* given) : Metrics(given ? *given : own) {}
  explicit Metrics(metrics::Registry& r)
      : profiles(r.counter("stoker_received_profiles_total",
                           "Pushed profiles stored, per service_name and format.",
                           {"service_name", "format"})),
        bytes(r.counter(
            "stoker_received_bytes_total",
            "Request body bytes of pushed profiles that were stored, per service_name and format.",
            {"service_name", "format"})),
        dropped(r.counter(
            "stoker_received_dropped_profiles_total",
            "Pushed profiles accepted but not stored because receive.relabel_configs dropped them.",
            {"format"})),
        rejected(r.counter(
            "stoker_receive_rejected_requests_total",
            "Push requests refused, per format and reason (invalid, too_large, unsupported_format, "
            "queue_full, not_committed, disabled).",
            {"format", "reason"})) {}
};

Receiver::Receiver(ingest::Pipeline* pipeline, metrics::Registry* registry,
                   std::chrono::milliseconds commit_timeout)
    : pipeline_(pipeline),
      metrics_(std::make_unique<Metrics>(registry)),
      commit_timeout_(commit_timeout),
      settings_(std::make_shared<Settings>()) {}

Receiver::~Receiver() = default;

void Receiver::configure(const Config& cfg) {
  auto s = std::make_shared<Settings>();
  s->enabled = cfg.receive.active(cfg.web.listen_address);
  s->cfg = cfg.receive;
  auto policy = std::make_shared<ingest::LabelPolicy>();
  policy->relabel = cfg.receive.relabel;
  policy->external = cfg.global.external_labels;
  policy->limits = cfg.receive.limits;
  policy->require_service_name = true;
  s->policy = std::move(policy);
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
  return !s->ingest_path.empty() && (path == s->ingest_path || path == s->pyroscope_ingest_path ||
                                     path == s->push_path || path == kUploadPath);
}

size_t Receiver::body_limit(std::string_view path) const {
  if (path == kUploadPath) return settings()->cfg.profile_size_limit;  // a whole file
  return handles(path) ? settings()->cfg.body_size_limit : 0;
}

void Receiver::count_too_large(std::string_view path) {
  if (!handles(path)) return;
  metrics_->rejected.with({path.ends_with(kPushPath) ? "push" : "ingest", "too_large"}).inc();
}

WebResponse Receiver::handle(const WebRequest& req) {
  auto s = settings();
  const bool is_push = req.path == s->push_path;
  if (!s->enabled) {
    metrics_->rejected.with({is_push ? "push" : "ingest", "disabled"}).inc();
    std::string msg =
        "stoker does not accept pushed profiles here: set receive.enabled: true in its config "
        "(it is on by default only when web.listen_address is a loopback address)";
    log_refusal(is_push ? "push" : "ingest", "disabled", 404, msg);
    return is_push ? connect::error(connect::Code::kUnimplemented, msg) : plain(404, msg);
  }
  if (req.path == kUploadPath) return upload(req, *s);
  return is_push ? push(req, *s) : ingest(req, *s);
}

WebResponse Receiver::refuse_plain(const std::string& format, const Status& why) {
  Answer a = answer_for(why);
  metrics_->rejected.with({format, a.reason}).inc();
  log_refusal(format, a.reason, a.status, why.message());
  return plain(a.status, why.message());
}

// The page's "Open a profile": POST /api/v1/upload?name=FILE with the file as
// the body (pprof, JFR or folded stacks; ingest/open_file.h). Stored at once,
// all its profiles or none; answers the profile types stored and the
// selector that shows them.
WebResponse Receiver::upload(const WebRequest& req, const Settings& s) {
  const std::string format = "upload";
  auto refuse = [&](const Status& why) { return refuse_plain(format, why); };
  if (req.method != "POST") {
    WebResponse r = plain(405, req.method + " is not allowed; use POST");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  auto params = parse_query_string(req.query);
  auto name = params.find("name");
  if (name == params.end() || name->second.empty() || name->second.front().empty()) {
    return refuse(Status::invalid("name (the file's name) is required"));
  }
  ingest::FileInput in;
  in.name = name->second.front();
  in.bytes = req.body;
  in.policy = s.policy;
  in.now_ns = now_unix_nanos();
  in.limits = s.limits;
  in.max_inflated = s.cfg.profile_size_limit;
  std::string kind;
  auto prepared = ingest::prepare_file(*pipeline_, in, &kind);
  if (!prepared) return refuse(prepared.status());
  if (prepared->empty()) return refuse(Status::invalid("receive.relabel_configs dropped the file"));
  boost::json::array types;
  std::string file, service;
  for (const auto& p : *prepared) {
    for (const auto& r : p.records) {
      file = std::string(r.labels.get("file"));
      service = std::string(r.labels.get("service_name"));
      if (!r.view) continue;
      const auto& v = *r.view;
      size_t pick = v.sample_types.size() - 1;
      for (size_t i = 0; i < v.sample_types.size() && v.default_sample_type != 0; ++i) {
        if (v.sample_types[i].type == v.default_sample_type) pick = i;
      }
      std::string id = std::string(r.labels.get("__name__")) + ":" +
                       std::string(v.str(v.sample_types[pick].type)) + ":" +
                       std::string(v.str(v.sample_types[pick].unit)) + ":" +
                       std::string(v.str(v.period_type.type)) + ":" +
                       std::string(v.str(v.period_type.unit));
      if (std::find(types.begin(), types.end(), boost::json::value(id)) == types.end()) {
        types.push_back(boost::json::string(id));
      }
    }
  }
  if (Status st = commit(std::move(*prepared), {req.body.size()}, kind); !st.ok()) {
    return refuse(st);
  }
  boost::json::object doc;
  doc["file"] = file;
  doc["format"] = kind;
  doc["types"] = std::move(types);
  auto quoted = [](const std::string& v) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
    }
    return q + "\"";
  };
  doc["query"] = "{service_name=" + quoted(service) + ",file=" + quoted(file) + "}";
  doc["time"] = in.now_ns / 1'000'000;
  WebResponse r;
  r.content_type = "application/json";
  r.body = boost::json::serialize(doc);
  return r;
}

// The series labels a pushed profile starts from: what the client sent, then
// receive.labels over it.
// The series cap of the client that pushed `labels` (its labels but __name__:
// one per process of an SDK, whatever profile types it sends).
static std::shared_ptr<ingest::SeriesCap> cap_for(ingest::SeriesCaps& caps, const Labels& labels,
                                                  const ReceiveConfig& cfg) {
  if (cfg.sample_label_series_limit == 0) return nullptr;
  Labels source = labels;
  source.erase("__name__");
  std::string name = source.to_string();
  if (name.size() > 256) name = name.substr(0, 253) + "...";
  return caps.get(source.hash(), cfg.sample_label_series_limit, name, now_unix_nanos());
}

// What every /ingest upload's profiles start from.
static ingest::Input upload_input(const Receiver::Settings& s, const ingest::Params& params) {
  ingest::Input in;
  in.origin = ingest::Origin::kPush;
  in.limits = s.limits;
  in.policy = s.policy;
  in.time_ns = params.from_ns;
  in.delta_flag = "false";
  return in;
}

static Labels with_receive_labels(Labels labels, const ReceiveConfig& cfg) {
  for (const auto& l : cfg.labels) labels.set(l.name, l.value);
  return labels;
}

WebResponse Receiver::ingest(const WebRequest& req, const Settings& s) {
  std::string format = "ingest";
  auto refuse = [&](const Status& why) { return refuse_plain(format, why); };
  if (req.method != "POST") {
    WebResponse r = plain(405, req.method + " is not allowed; use POST");
    metrics_->rejected.with({format, "invalid"}).inc();
    log_refusal(format, "invalid", 405, r.body);
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  const int64_t now = now_unix_nanos();
  ingest::Params params;
  const std::string content_type = req.header("content-type");
  if (Status bad = ingest::parse_params(req.query, content_type, now, &params); !bad.ok()) {
    return refuse(bad);
  }
  format = params.format;
  if (format != "pprof" && format != "folded" && format != "lines" && format != "jfr") {
    std::string shown = format.size() > 40 ? format.substr(0, 40) + "…" : format;
    format = "other";  // bounded metric labels
    return refuse(Status::unimplemented("format=" + quote(shown) +
                                        " is not supported by stoker; it accepts pprof, jfr, "
                                        "folded and lines"));
  }
  if (pipeline_->pending_bytes() > kMaxPendingBytes) {  // checked before decoding anything
    return refuse(Status::unavailable("stoker's store is behind; retry later"));
  }
  // The body, inflated if the request says it is compressed.
  std::string inflated;
  std::string_view body = req.body;
  std::string encoding = req.header("content-encoding");
  if (encoding == "gzip") {
    if (Status bad = pprof::gunzip(req.body, s.cfg.profile_size_limit, &inflated); !bad.ok()) {
      return refuse(bad.context("invalid gzip request body"));
    }
    body = inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return refuse(Status::unimplemented("unsupported Content-Encoding " + quote(encoding) +
                                        " (supported: gzip)"));
  }

  if (format == "jfr") return ingest_jfr(req, s, params, body, refuse);

  ingest::Input in = upload_input(s, params);
  in.wire_bytes = req.body.size();
  std::string app = params.app;
  ingest::SampleTypeConfigs config = ingest::default_sample_type_config();  // outlives `in`
  if (format == "pprof") {
    std::string_view profile = body;
    in.content_type = content_type;
    if (content_type.find("multipart/form-data") != std::string::npos) {
      std::vector<ingest::Part> parts;
      if (Status bad = ingest::parse_multipart(body, content_type, &parts); !bad.ok()) {
        return refuse(bad.context("invalid multipart/form-data body"));
      }
      bool has_profile = false;
      for (const auto& p : parts) {
        if (p.name == "profile") {
          profile = p.data;
          in.content_type = p.content_type;
          has_profile = true;
        } else if (p.name == "prev_profile") {
          in.prev_body = p.data;
        } else if (p.name == "sample_type_config") {
          if (Status bad = ingest::parse_sample_type_config(p.data, &config); !bad.ok()) {
            return refuse(bad);
          }
        }
      }
      if (!has_profile) {
        return refuse(Status::invalid("the multipart/form-data body has no \"profile\" part"));
      }
    }
    // The pipeline names the series (and, with a prev_profile from an old
    // SDK, picks the cumulative sample types) from the profile's sample types.
    in.body = std::string(profile);
    in.sample_types = &config;
    in.prefer_profile_time = true;
    in.labels = with_receive_labels(ingest::series_labels(params, "", app), s.cfg);
  } else {
    auto converted = ingest::convert_collapsed(body, format == "lines", params, s.limits);
    if (!converted) return refuse(converted.status());
    in.view = std::move(converted->profile);
    in.labels = with_receive_labels(
        ingest::series_labels(params, converted->series_name, converted->app), s.cfg);
  }
  in.series_cap = cap_for(caps_, in.labels, s.cfg);
  auto prepared = pipeline_->prepare(std::move(in));
  if (!prepared) return refuse(prepared.status());
  if (prepared->disposition == ingest::Prepared::Disposition::kDropped) {
    metrics_->dropped.with({format}).inc();
    return plain(200, "");
  }
  std::vector<ingest::Prepared> batch;
  batch.push_back(std::move(*prepared));
  if (Status s2 = commit(std::move(batch), {req.body.size()}, format); !s2.ok()) {
    return refuse(s2);
  }
  return plain(200, "");
}

// A Java Flight Recorder upload: one profile per event type, stored together
// or not at all.
WebResponse Receiver::ingest_jfr(const WebRequest& req, const Settings& s,
                                 const ingest::Params& params, std::string_view body,
                                 const std::function<WebResponse(const Status&)>& refuse) {
  auto profiles =
      ingest::convert_jfr(body, req.header("content-type"), params, s.cfg.profile_size_limit);
  if (!profiles) return refuse(profiles.status());
  std::vector<ingest::Prepared> batch;
  std::vector<size_t> wire_bytes;
  size_t dropped = 0;
  for (auto& p : *profiles) {
    ingest::Input in = upload_input(s, params);
    in.view = pprof::view_of(p.profile);
    in.wire_bytes = batch.empty() ? req.body.size() : 0;
    in.labels = with_receive_labels(ingest::series_labels(params, p.name, params.app), s.cfg);
    in.series_cap = cap_for(caps_, in.labels, s.cfg);
    size_t wire = in.wire_bytes;
    auto prepared = pipeline_->prepare(std::move(in));
    if (!prepared) return refuse(prepared.status().context(p.event));
    if (prepared->disposition == ingest::Prepared::Disposition::kDropped) {
      ++dropped;
      continue;
    }
    batch.push_back(std::move(*prepared));
    wire_bytes.push_back(wire);
  }
  if (dropped) metrics_->dropped.with({"jfr"}).inc(static_cast<double>(dropped));
  if (Status s2 = commit(std::move(batch), wire_bytes, "jfr"); !s2.ok()) return refuse(s2);
  return plain(200, "");
}

Status Receiver::commit(std::vector<ingest::Prepared> batch, const std::vector<size_t>& wire_bytes,
                        const std::string& format) {
  // What the metrics need, before the records go to the writer: a profile
  // split into several series counts once.
  std::vector<std::pair<std::string, size_t>> counted;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].records.empty()) continue;
    counted.emplace_back(batch[i].records[0].labels.get("service_name"),
                         i < wire_bytes.size() ? wire_bytes[i] : 0);
  }
  if (counted.empty()) return Status();
  auto ticket = pipeline_->store(std::move(batch));
  if (!ticket) return ticket.status().context("not stored");
  if (Status s = pipeline_->wait_committed(*ticket, commit_timeout_); !s.ok()) return s;
  for (const auto& [service, bytes] : counted) {
    auto svc = metric_service(service);
    metrics_->profiles.with({svc, format}).inc();
    metrics_->bytes.with({svc, format}).inc(static_cast<double>(bytes));
  }
  return Status();
}

WebResponse Receiver::push(const WebRequest& req, const Settings& s) {
  const std::string format = "push";
  auto refuse = [&](const Status& why) {
    Answer a = answer_for(why);
    metrics_->rejected.with({format, a.reason}).inc();
    log_refusal(format, a.reason, a.status, why.message());
    // Connect's code for each: a commit that is late is worth retrying like a full queue.
    WebResponse r = why.code() == Status::Code::kDeadlineExceeded
                        ? connect::error(connect::Code::kUnavailable, why.message())
                        : connect::error(why);
    if (a.status == 503) r.headers.emplace_back("Retry-After", "1");
    return r;
  };
  push::v1::PushRequest pr;
  connect::Codec codec;
  if (auto bad = connect::decode(req, &pr, &codec)) {
    metrics_->rejected.with({format, "invalid"}).inc();
    log_refusal(format, "invalid", bad->status, bad->body);
    return *bad;
  }
  if (pipeline_->pending_bytes() > kMaxPendingBytes) {  // checked before decoding anything
    return refuse(Status::unavailable("stoker's store is behind; retry later"));
  }
  const int64_t now = now_unix_nanos();
  std::vector<ingest::Prepared> batch;
  std::vector<size_t> wire_bytes;
  size_t dropped = 0;
  for (int i = 0; i < pr.series_size(); ++i) {
    auto* series = pr.mutable_series(i);
    Labels pushed;
    std::string where = "series " + std::to_string(i);
    for (const auto& lp : series->labels()) {
      if (lp.name().empty() || pushed.has(lp.name())) {
        return refuse(Status::invalid(where + ": label names must be non-empty and distinct (" +
                                      quote(lp.name()) + ")"));
      }
      pushed.set(lp.name(), lp.value());
    }
    where += " " + pushed.to_string();
    std::string delta(pushed.get("__delta__"));
    Labels labels = with_receive_labels(std::move(pushed), s.cfg);
    std::shared_ptr<ingest::SeriesCap> cap = cap_for(caps_, labels, s.cfg);
    for (int j = 0; j < series->samples_size(); ++j) {
      ingest::Input in;
      in.origin = ingest::Origin::kPush;
      // The bytes move into the pipeline (and on to the forward cache).
      in.body.swap(*series->mutable_samples(j)->mutable_raw_profile());
      in.limits = s.limits;
      in.labels = labels;
      in.policy = s.policy;
      in.series_cap = cap;
      in.time_ns = now;
      in.prefer_profile_time = true;
      in.delta_flag = delta;
      in.wire_bytes = in.body.size();
      size_t wire = in.wire_bytes;
      auto prepared = pipeline_->prepare(std::move(in));
      if (!prepared)
        return refuse(prepared.status().context(where + " sample " + std::to_string(j)));
      if (prepared->disposition == ingest::Prepared::Disposition::kDropped) {
        ++dropped;
        continue;
      }
      batch.push_back(std::move(*prepared));
      wire_bytes.push_back(wire);
    }
  }
  if (dropped) metrics_->dropped.with({format}).inc(static_cast<double>(dropped));
  if (Status s2 = commit(std::move(batch), wire_bytes, format); !s2.ok()) return refuse(s2);
  return connect::encode(push::v1::PushResponse(), codec);
}

}  // namespace stoker
