#include "ingest/pipeline.h"

#include "model/text.h"
#include "pprof/compress.h"
#include "pprof/pprof_decode.h"

namespace stoker::ingest {

namespace {

// Profiles changed by stoker are re-encoded for remote_write at libdeflate's
// fastest level (≈240 MB/s here), about as small as Go's gzip.BestSpeed,
// which is what Go programs and Alloy send.
constexpr int kForwardGzipLevel = 1;
// A profile time before 1971 is not a time (old SDKs sent microseconds or 0).
constexpr int64_t kMinPlausibleNanos = 365LL * 24 * 3600 * 1'000'000'000;

const char* kOutcomes[] = {"stored", "dropped", "primed", "invalid", "refused"};
enum OutcomeIndex { kStored, kDroppedOut, kPrimedOut, kInvalid, kRefused, kOutcomeCount };

}  // namespace

Result<std::optional<Labels>> finish_labels(Labels labels, const LabelPolicy& policy,
                                            const std::string& delta_flag) {
  if (!policy.relabel->empty() && !policy.relabel->apply(labels)) {
    return std::optional<Labels>();
  }
  Labels out;
  for (const auto& l : labels) {
    if (l.name.rfind("__", 0) != 0 || l.name == "__name__") out.set(l.name, l.value);
  }
  for (const auto& l : policy.external) out.set(l.name, l.value);
  if (out.get("__name__").empty()) {
    return Status::invalid(
        "the series has no __name__ (the profile type, like process_cpu or "
        "memory)");
  }
  if (policy.require_service_name && out.get("service_name").empty()) {
    return Status::invalid("the series has no service_name label");
  }
  for (const auto& l : out) {
    if (!valid_utf8(l.name) || !valid_utf8(l.value)) {
      return Status::invalid("label " + quote(l.name) + " is not valid UTF-8");
    }
  }
  if (Status s = policy.limits.check_labels(out); !s.ok()) return s;
  if (!delta_flag.empty()) out.set("__delta__", delta_flag);
  return std::optional<Labels>(std::move(out));
}

const char* origin_name(Origin o) {
  return o == Origin::kScrape ? "scrape" : "push";
}

struct Pipeline::Metrics {
  metrics::Registry own;  // when none is given
  metrics::Counter* profiles[2][kOutcomeCount];
  metrics::Counter* bytes[2];
  metrics::Histogram* seconds[2];

  explicit Metrics(metrics::Registry* given) {
    metrics::Registry& r = given ? *given : own;
    auto& p = r.counter("stoker_ingest_profiles_total",
                        "Profiles through the ingest pipeline, per origin (scrape, push) and "
                        "outcome: stored (queued for the store), dropped (by relabeling), primed "
                        "(a first cumulative profile), invalid (refused), refused (store full).",
                        {"origin", "outcome"});
    auto& b = r.counter("stoker_ingest_decoded_bytes_total",
                        "Uncompressed pprof bytes decoded by the ingest pipeline, per origin.",
                        {"origin"});
    auto& h =
        r.histogram("stoker_ingest_prepare_seconds",
                    "Time to decode, difference and label one profile, per origin.", {"origin"},
                    {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
    for (int o = 0; o < 2; ++o) {
      std::string origin = origin_name(static_cast<Origin>(o));
      for (int k = 0; k < kOutcomeCount; ++k) profiles[o][k] = &p.with({origin, kOutcomes[k]});
      bytes[o] = &b.with({origin});
      seconds[o] = &h.with({origin});
    }
  }
  void count(Origin o, int outcome, double n = 1) const {
    profiles[static_cast<int>(o)][outcome]->inc(n);
  }
};

Pipeline::Pipeline(Storage* storage, metrics::Registry* registry)
    : storage_(storage), metrics_(std::make_unique<Metrics>(registry)) {}

Pipeline::~Pipeline() = default;

Result<Prepared> Pipeline::prepare(Input in) const {
  auto started = std::chrono::steady_clock::now();
  const int o = static_cast<int>(in.origin);
  auto refuse = [&](Status s) -> Result<Prepared> {
    metrics_->count(in.origin, kInvalid);
    return s;
  };
  Prepared out;
  out.origin = in.origin;

  // Decode and validate.
  std::shared_ptr<pprof::View> view = std::move(in.view);
  if (!view) {
    auto decoded = pprof::decode_view(in.body, in.limits);
    if (!decoded) {
      return refuse(pprof::explain_not_pprof(in.content_type, in.body, decoded.status(), in.where));
    }
    view = std::move(*decoded);
  }
  metrics_->bytes[o]->inc(static_cast<double>(view->buf.size()));
  // Strings are hashed here, off the storage writer's thread, once: the delta
  // and the writer both use the hashes.
  view->hash_strings();

  if (in.sample_types) {
    in.labels.set("__name__", pprof_series_name(*view, *in.sample_types));
    if (!in.prev_body.empty() && !in.columns) {
      in.columns = cumulative_columns(*view, *in.sample_types);
    }
  }

  // Delta.
  bool changed = false;
  std::string series_name(in.labels.get("__name__"));
  if (in.delta || !in.prev_body.empty()) {
    auto columns =
        in.columns ? *in.columns : pprof::DeltaState::cumulative_columns(*view, series_name);
    if (columns.size() > pprof::DeltaState::kMaxColumns) {
      return refuse(Status::invalid("more cumulative sample types than stoker differences"));
    }
    if (!columns.empty()) {
      pprof::DeltaState::Outcome r;
      if (!in.prev_body.empty()) {
        auto before = pprof::decode_view(in.prev_body, in.limits);
        if (!before) {
          return refuse(
              pprof::explain_not_pprof("", in.prev_body, before.status()).context("prev_profile"));
        }
        const auto& b = **before;
        bool same_types = b.sample_types.size() == view->sample_types.size();
        for (size_t i = 0; same_types && i < view->sample_types.size(); ++i) {
          same_types = b.str(b.sample_types[i].type) == view->str(view->sample_types[i].type) &&
                       b.str(b.sample_types[i].unit) == view->str(view->sample_types[i].unit);
        }
        if (!same_types) {
          return refuse(Status::invalid("prev_profile has other sample types than profile"));
        }
        (*before)->hash_strings();
        pprof::DeltaState state;
        state.apply(**before, columns);
        r = state.apply(*view, columns);
        if (r == pprof::DeltaState::Outcome::kReset) {
          // A counter went down (the program restarted): what it sent holds
          // what accumulated since, as it is.
          auto again = pprof::decode_view(in.body, in.limits);
          if (!again) return refuse(again.status());
          view = std::move(*again);
          view->hash_strings();
          r = pprof::DeltaState::Outcome::kDelta;
        } else {
          changed = true;
        }
      } else {
        std::lock_guard lock(in.delta->mu);
        r = in.delta->state.apply(*view, columns);
        changed = true;
      }
      if (r != pprof::DeltaState::Outcome::kDelta) {
        out.disposition = r == pprof::DeltaState::Outcome::kPrimed ? Prepared::Disposition::kPrimed
                                                                   : Prepared::Disposition::kReset;
        metrics_->count(in.origin, kPrimedOut);
        return out;
      }
      // Samples without new counts are gone: so are the symbols only they used.
      if (changed) view->prune();
    }
  }

  // Labels.
  auto labels = finish_labels(std::move(in.labels), *in.policy, in.delta_flag);
  if (!labels) return refuse(labels.status());
  if (!*labels) {
    out.disposition = Prepared::Disposition::kDropped;
    metrics_->count(in.origin, kDroppedOut);
    return out;
  }

  int64_t ts = in.time_ns;
  if (in.prefer_profile_time) {
    if (view->time_nanos >= kMinPlausibleNanos) {
      ts = view->time_nanos;
    } else {
      view->time_nanos = in.time_ns;
    }
  }

  ProfileRecord rec;
  rec.labels = std::move(**labels);
  rec.scrape_time_ns = ts;
  rec.wire_size = in.wire_bytes;
  // With remote_write endpoints running, the bytes to forward are prepared
  // here: the body as received when stoker did not change the profile, else
  // the changed profile encoded once.
  if (forwarding()) {
    if (changed) {
      rec.forward_gzip =
          std::make_shared<const std::string>(pprof::gzip(view->encode(), kForwardGzipLevel));
    } else if (!in.body.empty()) {
      if (pprof::is_gzip(in.body)) {
        in.body.shrink_to_fit();  // a chunked body grew by doubling
        rec.forward_gzip = std::make_shared<const std::string>(std::move(in.body));
      } else {
        rec.forward_gzip =
            std::make_shared<const std::string>(pprof::gzip(in.body, kForwardGzipLevel));
      }
    }
  }
  rec.view = std::move(view);
  out.records.push_back(std::move(rec));
  metrics_->seconds[o]->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return out;
}

Result<uint64_t> Pipeline::store(std::vector<Prepared> batch) {
  std::vector<ProfileRecord> records;
  size_t counts[2] = {0, 0};
  for (auto& p : batch) {
    counts[static_cast<int>(p.origin)] += p.records.size();
    for (auto& r : p.records) records.push_back(std::move(r));
  }
  if (records.empty()) return uint64_t{0};
  auto ticket = storage_->append_all(std::move(records));
  for (int o = 0; o < 2; ++o) {
    if (counts[o]) {
      metrics_->count(static_cast<Origin>(o), ticket ? kStored : kRefused,
                      static_cast<double>(counts[o]));
    }
  }
  return ticket;
}

Status Pipeline::wait_committed(uint64_t ticket, std::chrono::milliseconds timeout) {
  if (ticket == 0 || storage_->wait_committed(ticket, timeout)) return Status();
  return Status::deadline("queued but not committed within " + format_duration(timeout) +
                          " (the disk is slow or failing); it may still be stored, retry later");
}

size_t Pipeline::pending_bytes() const {
  return storage_->pending_bytes();
}

bool Pipeline::forwarding() const {
  return storage_->forward_cache().active();
}

}  // namespace stoker::ingest
