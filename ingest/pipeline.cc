#include "ingest/pipeline.h"

#include <algorithm>
#include <unordered_map>

#include "model/log.h"
#include "model/text.h"
#include "model/timeparse.h"
#include "pprof/compress.h"
#include "pprof/pprof_decode.h"

namespace stoker::ingest {

namespace {

// Profiles changed by stoker are re-encoded for remote_write at libdeflate's
// fastest level (≈240 MB/s here), about as small as Go's gzip.BestSpeed,
// which is what Go programs and Alloy send.
constexpr int kForwardGzipLevel = 1;
// The gzipped pprof of (a subset of) a changed profile, for remote_write.
// Encoded into a buffer each worker thread keeps: a profile's worth of fresh
// memory per forwarded profile was a new mapping to fault in every time.
std::string gzip_for_forward(const pprof::View& view, const std::vector<uint32_t>* subset,
                             const std::function<bool(const pprof::View::Label&)>* keep) {
  thread_local std::string encoded;
  view.encode_subset_to(&encoded, subset, keep);
  std::string out = pprof::gzip(encoded, kForwardGzipLevel);
  if (encoded.capacity() > (8u << 20)) std::string().swap(encoded);  // a rare huge one
  return out;
}
// The compressed symbol tables a forwarding collector keeps
// (ForwardTables): at 300 services of 50 programs, the fleet benchmark's
// tables take about 7 MiB.
constexpr size_t kForwardTablesBytes = 16u << 20;
// Kept tables are compressed once, at zlib's default level (smaller than the
// per-profile level 1; it is paid once per distinct tables).
constexpr int kForwardTablesLevel = 6;
// A profile forwarded whole keeps its tables as they were when the samples
// use at least this share of its locations; below, they are pruned to what
// the samples use (fewer bytes upstream, compressed per profile).
constexpr double kWholeTablesMinUse = 0.5;
// A profile time before 1971 is not a time (old SDKs sent microseconds or 0).
constexpr int64_t kMinPlausibleNanos = 365LL * 24 * 3600 * 1'000'000'000;

const char* kOutcomes[] = {"stored", "dropped", "primed", "invalid", "refused"};
enum OutcomeIndex { kStored, kDroppedOut, kPrimedOut, kInvalid, kRefused, kOutcomeCount };
// What became of a group of samples with the same labels inside a profile.
const char* kGroupOutcomes[] = {"series", "dropped", "folded"};
enum GroupOutcome { kGroupSeries, kGroupDropped, kGroupFolded, kGroupOutcomeCount };

// Samples of a profile with the same string labels (span_id aside).
struct SampleGroup {
  std::vector<std::pair<int64_t, int64_t>> labels;  // (key, value) string indices
  std::vector<uint32_t> samples;
};

// The samples of `v` grouped by their string labels but span_id, in the order
// groups first appear; empty when no sample has such a label (the profile is
// then stored whole, as it is). Numeric labels stay on the samples.
std::vector<SampleGroup> group_by_sample_labels(const pprof::View& v) {
  if (v.labels.empty()) return {};
  std::vector<char> is_span(v.strings.size(), 0);
  for (size_t i = 1; i < v.strings.size(); ++i) is_span[i] = v.strings[i] == "span_id";
  auto grouping = [&](const pprof::View::Label& l) {
    return l.str > 0 && l.key > 0 && static_cast<size_t>(l.key) < is_span.size() &&
           !is_span[static_cast<size_t>(l.key)];
  };
  bool any = false;
  for (const auto& l : v.labels) {
    if (grouping(l)) {
      any = true;
      break;
    }
  }
  if (!any) return {};
  std::vector<SampleGroup> groups;
  std::unordered_map<Hash128, size_t, Hash128Hasher> index;
  std::vector<std::pair<int64_t, int64_t>> pairs;
  for (uint32_t i = 0; i < v.samples.size(); ++i) {
    const auto& s = v.samples[i];
    pairs.clear();
    for (uint32_t k = 0; k < s.label_count; ++k) {
      const auto& l = v.labels[s.label_begin + k];
      if (grouping(l)) pairs.emplace_back(l.key, l.str);
    }
    // By name, then value, as text: the same labels group together whatever
    // the string indices.
    std::sort(pairs.begin(), pairs.end(), [&](const auto& a, const auto& b) {
      int c = v.str(a.first).compare(v.str(b.first));
      return c != 0 ? c < 0 : v.str(a.second) < v.str(b.second);
    });
    HashMix h(5);
    for (const auto& [key, value] : pairs) h.add(v.string_hash(key)).add(v.string_hash(value));
    auto [it, fresh] = index.emplace(h.done(), groups.size());
    if (fresh) groups.push_back({pairs, {}});
    groups[it->second].samples.push_back(i);
  }
  return groups;
}

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
  metrics::Counter* groups[2][kGroupOutcomeCount];
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
    auto& g = r.counter(
        "stoker_ingest_label_groups_total",
        "Groups of samples with the same labels inside a profile, per origin and outcome: "
        "series (stored as a series of their own), dropped (by relabeling), folded (into the "
        "unlabelled series: over the source's sample_label_series_limit, or labels refused).",
        {"origin", "outcome"});
    auto& tl = r.counter(
        "stoker_forward_tables_lookups_total",
        "Differenced profiles forwarded whole that looked their symbol tables up among the "
        "kept compressed ones, per result: hit (kept), added (compressed now and kept), "
        "skipped (compressed with the profile: tables seen for the first time, or no room).",
        {"result"});
    const char* results[] = {"hit", "added", "skipped"};
    for (int k = 0; k < 3; ++k) tables_lookups[k] = &tl.with({results[k]});
    tables_evicted = &r.counter("stoker_forward_tables_evicted_total",
                                "Kept compressed symbol tables dropped to stay within the budget.")
                          .with({});
    tables_bytes = &r.gauge("stoker_forward_tables_bytes",
                            "Bytes of symbol tables kept compressed for forwarding.")
                        .with({});
    for (int o = 0; o < 2; ++o) {
      std::string origin = origin_name(static_cast<Origin>(o));
      for (int k = 0; k < kOutcomeCount; ++k) profiles[o][k] = &p.with({origin, kOutcomes[k]});
      for (int k = 0; k < kGroupOutcomeCount; ++k)
        groups[o][k] = &g.with({origin, kGroupOutcomes[k]});
      bytes[o] = &b.with({origin});
      seconds[o] = &h.with({origin});
    }
  }
  metrics::Counter* tables_lookups[3];  // hit, added, skipped
  metrics::Counter* tables_evicted;
  metrics::Counter* tables_bytes;
  void note_tables(const ForwardTables& t) const {
    auto st = t.stats();
    tables_lookups[0]->set(static_cast<double>(st.hits));
    tables_lookups[1]->set(static_cast<double>(st.added));
    tables_lookups[2]->set(static_cast<double>(st.skipped));
    tables_evicted->set(static_cast<double>(st.evicted));
    tables_bytes->set(static_cast<double>(st.bytes));
  }
  void count(Origin o, int outcome, double n = 1) const {
    profiles[static_cast<int>(o)][outcome]->inc(n);
  }
};

Pipeline::Pipeline(Storage* storage, metrics::Registry* registry)
    : storage_(storage),
      metrics_(std::make_unique<Metrics>(registry)),
      tables_(std::make_unique<ForwardTables>(kForwardTablesBytes)) {}

std::string Pipeline::forward_changed(pprof::View& v) const {
  if (v.has_symbol_hashes() && !v.locations.empty() &&
      static_cast<double>(v.used_location_count()) >=
          kWholeTablesMinUse * static_cast<double>(v.locations.size())) {
    auto tables = tables_->get(v.tables_key(), [&] {
      std::string encoded;
      v.encode_tables_to(&encoded);
      return pprof::deflate_part(encoded, kForwardTablesLevel);
    });
    metrics_->note_tables(*tables_);
    if (tables) {
      thread_local std::string rest;
      v.encode_without_tables_to(&rest);
      std::string out = pprof::gzip_after(*tables, rest, kForwardGzipLevel);
      if (rest.capacity() > (8u << 20)) std::string().swap(rest);
      return out;
    }
  }
  v.prune();
  return gzip_for_forward(v, nullptr, nullptr);
}

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
  // The symbols' content hashes are computed once, off the storage writer's
  // thread (decode_view() did; here for a view given otherwise): the delta
  // and the writer both use them.
  view->hash_symbols();

  if (in.sample_types) {
    in.labels.set("__name__", pprof_series_name(*view, *in.sample_types));
    if (!in.prev_body.empty() && !in.columns) {
      in.columns = cumulative_columns(*view, *in.sample_types);
    }
  }

  // Delta.
  bool changed = false, prune_pending = false;
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
        (*before)->hash_symbols();
        pprof::DeltaState state;
        state.apply(**before, columns);
        r = state.apply(*view, columns);
        if (r == pprof::DeltaState::Outcome::kReset) {
          // A counter went down (the program restarted): what it sent holds
          // what accumulated since, as it is.
          auto again = pprof::decode_view(in.body, in.limits);
          if (!again) return refuse(again.status());
          view = std::move(*again);
          view->hash_symbols();
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
      // Samples without new counts are gone: so are the symbols only they
      // used (below: a profile forwarded whole may keep them until its bytes
      // to forward are made).
      prune_pending = changed;
    }
  }

  int64_t ts = in.time_ns;
  if (in.prefer_profile_time) {
    if (view->time_nanos >= kMinPlausibleNanos) {
      ts = view->time_nanos;
    } else {
      view->time_nanos = in.time_ns;
    }
  }

  // Labels inside the profile: the samples are split into series by them.
  view->rename_label_key("profile_id", "span_id");
  if (prune_pending && !forwarding()) {
    view->prune();
    prune_pending = false;
  }
  std::vector<SampleGroup> groups = group_by_sample_labels(*view);
  if (prune_pending && !groups.empty()) {  // split: forwarded in parts, pruned first
    view->prune();
    prune_pending = false;
    groups = group_by_sample_labels(*view);  // (prune moved the string indices)
  }
  if (groups.empty()) {
    // The whole profile is one series (today's path).
    auto labels = finish_labels(std::move(in.labels), *in.policy, in.delta_flag);
    if (!labels) return refuse(labels.status());
    if (!*labels) {
      out.disposition = Prepared::Disposition::kDropped;
      metrics_->count(in.origin, kDroppedOut);
      return out;
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
        rec.forward_gzip = std::make_shared<const std::string>(forward_changed(*view));
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
    if (prune_pending) view->prune();  // (fast when forward_changed() did)
    rec.view = std::move(view);
    out.records.push_back(std::move(rec));
  } else {
    // Each group: the series labels plus the group's labels the series does
    // not have (series labels win), then relabeled; groups that end up alike
    // are one series.
    const Labels& base = in.labels;
    const int64_t now = now_unix_nanos();
    std::vector<std::pair<Labels, std::vector<uint32_t>>> parts;
    std::unordered_map<std::string, size_t> part_of;
    size_t counts[kGroupOutcomeCount] = {0, 0, 0};
    // The unlabelled series, relabeled once when first needed.
    std::optional<Result<std::optional<Labels>>> unlabelled_result;
    auto unlabelled = [&]() -> const Result<std::optional<Labels>>& {
      if (!unlabelled_result) unlabelled_result = finish_labels(base, *in.policy, in.delta_flag);
      return *unlabelled_result;
    };
    for (auto& g : groups) {
      Labels l = base;
      bool added = false;
      for (const auto& [key, value] : g.labels) {
        std::string name = sanitize_sample_label_name(view->str(key));
        if (name.empty() || l.has(name)) continue;
        l.set(name, view->str(value));
        added = true;
      }
      GroupOutcome outcome = kGroupSeries;
      Result<std::optional<Labels>> labels =
          added ? finish_labels(std::move(l), *in.policy, in.delta_flag) : unlabelled();
      if (!labels && added) {
        // A sample label the limits refuse (too long, too many) costs the
        // label, not the samples.
        labels = unlabelled();
        outcome = kGroupFolded;
      }
      if (!labels) return refuse(labels.status());
      // The cap counts the series that labels inside profiles make, after
      // relabeling (a group the rules drop or strip costs nothing); over it,
      // the samples go to the unlabelled series.
      if (*labels && outcome == kGroupSeries && added && in.series_cap) {
        const auto& u = unlabelled();
        bool same = u && *u && **u == **labels;
        if (!same && !in.series_cap->admit((*labels)->hash(), now)) {
          if (!u) return refuse(u.status());
          labels = u;
          outcome = kGroupFolded;
        }
      }
      if (!*labels) {
        ++counts[kGroupDropped];
        continue;
      }
      ++counts[outcome];
      std::string key = (*labels)->to_string();
      auto [it, fresh] = part_of.emplace(key, parts.size());
      if (fresh) {
        parts.emplace_back(std::move(**labels), std::move(g.samples));
      } else {
        auto& samples = parts[it->second].second;
        samples.insert(samples.end(), g.samples.begin(), g.samples.end());
      }
    }
    for (int k = 0; k < kGroupOutcomeCount; ++k) {
      if (counts[k]) metrics_->groups[o][k]->inc(static_cast<double>(counts[k]));
    }
    if (counts[kGroupFolded] && in.series_cap && in.series_cap->first_refusal()) {
      log::warn(
          "ingest",
          "labels inside profiles would make more series than allowed; the rest are stored "
          "without them, in the unlabelled series",
          {{"source", in.series_cap->source()}, {"limit", std::to_string(in.series_cap->limit())}});
    }
    if (parts.empty()) {
      out.disposition = Prepared::Disposition::kDropped;
      metrics_->count(in.origin, kDroppedOut);
      return out;
    }
    std::shared_ptr<const pprof::View> shared = std::move(view);
    const bool forward = forwarding();
    for (size_t i = 0; i < parts.size(); ++i) {
      auto& [labels, samples] = parts[i];
      ProfileRecord rec;
      rec.scrape_time_ns = ts;
      rec.wire_size = i == 0 ? in.wire_bytes : 0;
      rec.view = shared;
      rec.split_labels = true;
      if (samples.size() != shared->samples.size()) {
        std::sort(samples.begin(), samples.end());
        rec.samples = std::make_shared<const std::vector<uint32_t>>(std::move(samples));
      }
      if (forward) {
        // What is forwarded is what is stored: this series' samples with the
        // labels the store keeps on them (upstream splits it into the same
        // series).
        std::function<bool(const pprof::View::Label&)> keep = [&](const pprof::View::Label& l) {
          return l.str == 0 || shared->str(l.key) == "span_id" ||
                 series_carries(labels, shared->str(l.key), shared->str(l.str));
        };
        rec.forward_gzip = std::make_shared<const std::string>(
            gzip_for_forward(*shared, rec.samples.get(), &keep));
      }
      rec.labels = std::move(labels);
      out.records.push_back(std::move(rec));
    }
  }
  metrics_->seconds[o]->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return out;
}

Result<uint64_t> Pipeline::store(std::vector<Prepared> batch) {
  std::vector<ProfileRecord> records;
  size_t counts[2] = {0, 0};
  for (auto& p : batch) {
    counts[static_cast<int>(p.origin)] += p.records.empty() ? 0 : 1;  // profiles, not series
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
