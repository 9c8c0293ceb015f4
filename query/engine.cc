#include "query/engine.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "model/encoding.h"
#include "model/selector.h"
#include "model/units.h"
#include "pprof/transform.h"
#include "proto/profile.pb.h"
#include "query/flat_map.h"
#include "query/symbols.h"
#include "storage/profile_header.h"
#include "storage/reader.h"
#include "storage/sample_block.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"
#include "storage/storage.h"

namespace stoker::query {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kNsPerMs = 1'000'000;

// Wraps a query in one read transaction: every statement sees the same
// snapshot, and the writer is never blocked (WAL).
class ReadTxn {
 public:
  explicit ReadTxn(sql::Db& db) : db_(db) { db_.exec("BEGIN"); }
  ~ReadTxn() {
    try {
      db_.exec("COMMIT");
    } catch (const std::exception&) {
    }
  }

 private:
  sql::Db& db_;
};

int64_t ms_to_ns(int64_t ms) {
  if (ms > INT64_MAX / kNsPerMs) return INT64_MAX;
  if (ms < INT64_MIN / kNsPerMs) return INT64_MIN;
  return ms * kNsPerMs;
}

// A selector from each matcher string, ANDed by the caller.
Status parse_matchers(const std::vector<std::string>& texts, std::vector<Selector>* out) {
  for (const auto& t : texts) {
    auto sel = Selector::parse(t);
    if (!sel) return sel.status();
    out->push_back(std::move(*sel));
  }
  return {};
}

}  // namespace

class Engine::Impl {
 public:
  explicit Impl(std::unique_ptr<Reader> reader)
      : reader_(std::move(reader)), db_(reader_->connection()), symbols_(db_) {}

  struct TypeInfo {
    ProfileTypeId type;
    std::string id;
  };
  // One Pyroscope series: a stored series and one of its profile types.
  struct VSeries {
    int64_t series_id = 0;
    int64_t type_row = 0;
    const TypeInfo* type = nullptr;
    Labels labels;  // stored labels + the derived private ones
  };

  // Loads what was added to the index tables since the last call.
  void refresh() {
    {
      sql::Stmt st(db_, "SELECT id, name FROM profile_types WHERE id > ? ORDER BY id");
      st.bind(1, last_type_);
      while (st.step()) {
        int64_t id = st.col_int(0);
        std::string name(st.col_text(1));
        auto parsed = ProfileTypeId::parse(name);
        if (parsed) types_[id] = TypeInfo{*parsed, parsed->id()};
        last_type_ = id;
      }
    }
    {
      sql::Stmt st(db_, "SELECT id, labels FROM series WHERE id > ? ORDER BY id");
      st.bind(1, last_series_);
      while (st.step()) {
        last_series_ = st.col_int(0);
        series_labels_[last_series_] = parse_canonical_labels(st.col_text(1));
      }
    }
    sql::Stmt st(db_, "SELECT id, series_id, type_id FROM series_types WHERE id > ? ORDER BY id");
    st.bind(1, last_link_);
    while (st.step()) {
      last_link_ = st.col_int(0);
      auto t = types_.find(st.col_int(2));
      auto s = series_labels_.find(st.col_int(1));
      if (t == types_.end() || s == series_labels_.end()) continue;
      VSeries v;
      v.series_id = s->first;
      v.type_row = t->first;
      v.type = &t->second;
      v.labels = s->second;
      v.labels.erase("__delta__");
      if (!v.labels.has("service_name")) v.labels.set("service_name", "unknown_service");
      v.labels.set("__profile_type__", t->second.id);
      v.labels.set("__type__", t->second.type.sample_type);
      v.labels.set("__unit__", t->second.type.sample_unit);
      v.labels.set("__period_type__", t->second.type.period_type);
      v.labels.set("__period_unit__", t->second.type.period_unit);
      v.labels.set("__service_name__", v.labels.get("service_name"));
      vseries_.push_back(std::move(v));
    }
  }

  // Whether the stored series has a profile in [from, until] (ns), memoised per query.
  bool has_data(int64_t series_id, int64_t from_ns, int64_t until_ns) {
    auto it = has_data_.find(series_id);
    if (it != has_data_.end()) return it->second;
    if (!exists_st_) {
      exists_st_ = std::make_unique<sql::Stmt>(
          db_, "SELECT 1 FROM profiles WHERE series_id = ? AND ts >= ? AND ts <= ? LIMIT 1");
    }
    exists_st_->reset().bind(1, series_id).bind(2, from_ns).bind(3, until_ns);
    bool found = exists_st_->step();
    exists_st_->reset();
    has_data_.emplace(series_id, found);
    return found;
  }

  // The series matching every selector, with data in range.
  std::vector<const VSeries*> matching(const std::vector<Selector>& sels, int64_t start_ms,
                                       int64_t end_ms, const std::string* type_id = nullptr) {
    has_data_.clear();
    std::vector<const VSeries*> out;
    int64_t from = ms_to_ns(start_ms), until = ms_to_ns(end_ms);
    for (const auto& v : vseries_) {
      if (type_id && v.type->id != *type_id) continue;
      bool ok = true;
      for (const auto& s : sels) ok = ok && s.matches(v.labels);
      if (ok && has_data(v.series_id, from, until)) out.push_back(&v);
    }
    return out;
  }

  Status check_range(int64_t start_ms, int64_t end_ms, const Limits& limits) {
    if (start_ms == 0 || end_ms == 0) return Status::invalid("missing time range in the query");
    if (start_ms > end_ms) return Status::invalid("query start time is after end time");
    // Nanoseconds since 1970 fit in int64 until 2262: keep every sum in range.
    constexpr int64_t kLimitMs = 9'000'000'000'000;
    if (start_ms < -kLimitMs || end_ms > kLimitMs) {
      return Status::invalid("query time out of range (milliseconds since 1970 within ±" +
                             std::to_string(kLimitMs) + ")");
    }
    if (end_ms - start_ms > limits.max_range.count()) {
      return Status::invalid("the query time range exceeds the limit (query length: " +
                             format_duration(Duration(end_ms - start_ms)) + ", limit: " +
                             format_duration(limits.max_range) + "); narrow the time range");
    }
    return {};
  }

  // The series a Selection covers.
  Status select(const Selection& sel, const Limits& limits, std::vector<const VSeries*>* out,
                ProfileTypeId* type) {
    Status s = check_range(sel.start_ms, sel.end_ms, limits);
    if (!s.ok()) return s;
    auto parsed = ProfileTypeId::parse(sel.profile_type);
    if (!parsed) return parsed.status();
    *type = *parsed;
    std::vector<Selector> sels;
    s = parse_matchers({sel.label_selector}, &sels);
    if (!s.ok()) return s;
    std::string id = parsed->id();
    refresh();
    *out = matching(sels, sel.start_ms, sel.end_ms, &id);
    return {};
  }

  struct ProfileRow {
    int64_t id = 0, ts = 0;
    const VSeries* series = nullptr;
  };

  // The selected profiles, oldest first; at most max_profiles.
  Status profiles(const Selection& sel, const Limits& limits,
                  const std::vector<const VSeries*>& series, std::vector<ProfileRow>* out) {
    int64_t from = ms_to_ns(sel.start_ms), until = ms_to_ns(sel.end_ms);
    std::set<int64_t> wanted(sel.profile_ids.begin(), sel.profile_ids.end());
    sql::Stmt st(db_, "SELECT id, ts FROM profiles WHERE series_id = ? AND ts >= ? AND ts <= ?");
    for (const VSeries* v : series) {
      st.reset().bind(1, v->series_id).bind(2, from).bind(3, until);
      while (st.step()) {
        int64_t id = st.col_int(0);
        if (!wanted.empty() && !wanted.count(id)) continue;
        out->push_back({id, st.col_int(1), v});
        if (out->size() > limits.max_profiles) {
          return {Status::Code::kResourceExhausted,
                  "the query selects more than " + std::to_string(limits.max_profiles) +
                      " profiles (the limit); narrow the time range or the label selector"};
        }
      }
      st.reset();
    }
    std::sort(out->begin(), out->end(), [](const ProfileRow& a, const ProfileRow& b) {
      return a.ts < b.ts || (a.ts == b.ts && a.id < b.id);
    });
    return {};
  }

  // Which value column of a stored profile holds `type_row`; -1 if none.
  // `num_values` receives the number of columns.
  int column(const VSeries& v, std::string_view totals_blob, std::string_view header_blob,
             size_t* num_values) {
    ProfileTotals totals;
    if (!totals_blob.empty() && decode_totals(totals_blob, &totals)) {
      *num_values = totals.size();
      for (size_t i = 0; i < totals.size(); ++i) {
        if (totals[i].first == v.type_row) return static_cast<int>(i);
      }
      return -1;
    }
    ProfileHeader h;
    if (!ProfileHeader::decode(header_blob, &h)) return -1;
    *num_values = h.sample_types.size();
    const ProfileTypeId& t = v.type->type;
    if (symbols_.text(h.period_type) != t.period_type ||
        symbols_.text(h.period_unit) != t.period_unit) {
      return -1;
    }
    for (size_t i = 0; i < h.sample_types.size(); ++i) {
      if (symbols_.text(h.sample_types[i].first) == t.sample_type &&
          symbols_.text(h.sample_types[i].second) == t.sample_unit) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // Root-first frames of a stack as StackSet name indices; false when corrupt.
  // Each location is resolved to names once per query.
  bool resolve(int64_t stack_id, StackSet* set, std::vector<uint32_t>* root_first) {
    const auto* locs = symbols_.stack(stack_id);
    if (!locs) return false;
    root_first->clear();
    for (auto it = locs->rbegin(); it != locs->rend(); ++it) {
      int64_t* entry = loc_entry_.find_or_insert(*it, 0);
      if (*entry == 0) {
        frame_ids_.clear();
        symbols_.location_frames(*it, &frame_ids_);
        loc_spans_.emplace_back(static_cast<uint32_t>(loc_names_.size()),
                                static_cast<uint32_t>(frame_ids_.size()));
        for (int64_t f : frame_ids_) {
          auto found = name_index_.find(f);
          if (found == name_index_.end())
            found = name_index_.emplace(f, set->intern(symbols_.frame_name(f))).first;
          loc_names_.push_back(found->second);
        }
        *entry = static_cast<int64_t>(loc_spans_.size());
      }
      const auto& [begin, count] = loc_spans_[static_cast<size_t>(*entry - 1)];
      // A location's lines are innermost first: root first is the reverse.
      for (uint32_t k = count; k-- > 0;) root_first->push_back(loc_names_[begin + k]);
    }
    return true;
  }

  // Starts a query's name resolution into `set`.
  void reset_names() {
    name_index_.clear();
    loc_entry_ = FlatMap64(4096);
    loc_spans_.clear();
    loc_names_.clear();
  }

  // The total of profile type `type_row` in a totals blob, without allocating.
  static bool find_total(std::string_view blob, int64_t type_row, int64_t* value) {
    enc::Reader r(blob);
    uint64_t n = r.varint();
    for (uint64_t i = 0; i < n && r.ok(); ++i) {
      auto row = static_cast<int64_t>(r.varint());
      int64_t total = r.svarint();
      if (row == type_row && r.ok()) {
        *value = total;
        return true;
      }
    }
    return false;
  }

  static std::vector<uint64_t> sorted_span_ids(const Selection& sel) {
    std::vector<uint64_t> ids = sel.span_ids;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
  }

  // A selection's span filter (off without span ids): which stored blocks
  // can hold its samples, and which rows are its samples.
  struct SpanFilter {
    explicit SpanFilter(const Selection& sel) : ids(sorted_span_ids(sel)), on(!ids.empty()) {}
    std::vector<uint64_t> ids;
    bool on;
    bool block_may_match(std::string_view blob) const {
      return !on || SampleBlock::has_any_span(blob, ids);
    }
    // (Only when `on`: rows are read without span ids otherwise.)
    bool keeps(uint64_t span) const { return std::binary_search(ids.begin(), ids.end(), span); }
  };

  static bool under_call_site(const std::vector<uint32_t>& frames,
                              const std::vector<uint32_t>& call_site) {
    if (frames.size() < call_site.size()) return false;
    return std::equal(call_site.begin(), call_site.end(), frames.begin());
  }

  Status deadline(Clock::time_point started, const Limits& limits) {
    if (Clock::now() - started > limits.timeout) {
      return {Status::Code::kDeadlineExceeded, "the query did not finish within " +
                                                   format_duration(limits.timeout) +
                                                   "; narrow the time range or the label selector"};
    }
    return {};
  }

  Status merge_stacks(const Selection& sel, const Limits& limits, StackSet* out, MergeInfo* info) {
    auto started = Clock::now();
    ReadTxn txn(db_);
    std::vector<const VSeries*> series;
    Status s = select(sel, limits, &series, &info->type);
    if (!s.ok()) return s;
    std::vector<ProfileRow> rows;
    s = profiles(sel, limits, series, &rows);
    if (!s.ok()) return s;
    info->profiles = rows.size();
    const SpanFilter spans(sel);
    const bool by_span = spans.on;

    FlatMap64 sums(4096);
    sql::Stmt st(db_, "SELECT totals, header, samples FROM profiles WHERE id = ?");
    for (size_t k = 0; k < rows.size(); ++k) {
      if (k % 64 == 0) {
        s = deadline(started, limits);
        if (!s.ok()) return s;
      }
      st.reset().bind(1, rows[k].id);
      if (!st.step()) continue;  // deleted by retention since: skip it
      // A span profile needs only the blocks with span ids.
      if (!spans.block_may_match(st.col_blob(2))) continue;
      size_t num_values = 0;
      int col = column(*rows[k].series, st.col_null(0) ? "" : st.col_blob(0), st.col_blob(1),
                       &num_values);
      if (col < 0) continue;
      if (!blocks_
               .read(st.col_blob(2), num_values, static_cast<size_t>(col), &stacks_, &values_,
                     by_span ? &spans_ : nullptr)
               .ok()) {
        return Status::internal("profile " + std::to_string(rows[k].id) +
                                " has a corrupt sample block");
      }
      for (size_t i = 0; i < stacks_.size(); ++i) {
        if (values_[i] == 0) continue;
        if (by_span && !spans.keeps(spans_[i])) {
          continue;
        }
        sums.add(stacks_[i], values_[i]);
      }
    }
    st.reset();

    reset_names();
    std::vector<uint32_t> call_site;
    for (const auto& n : sel.call_site) call_site.push_back(out->intern(n));
    // Stack rows are read in id order: neighbouring rows share B-tree pages.
    std::vector<std::pair<int64_t, int64_t>> ordered;
    ordered.reserve(sums.size());
    sums.for_each([&](int64_t stack, int64_t value) {
      if (value != 0) ordered.emplace_back(stack, value);
    });
    std::sort(ordered.begin(), ordered.end());
    std::vector<uint32_t> frames;
    for (const auto& [stack, value] : ordered) {
      if (!resolve(stack, out, &frames)) {
        return Status::internal("stored stack " + std::to_string(stack) + " is missing or corrupt");
      }
      if (!call_site.empty() && !under_call_site(frames, call_site)) continue;
      out->add(frames, value);
    }
    return deadline(started, limits);
  }

  Status select_series(const SeriesQuery& q, const Limits& limits, std::vector<SeriesResult>* out) {
    auto started = Clock::now();
    if (!(q.step_s >= 0.001) || !std::isfinite(q.step_s)) {
      return Status::invalid("step must be non-zero");
    }
    if (q.step_s > 1e7) return Status::invalid("step must be at most 10000000 seconds");
    ReadTxn txn(db_);
    std::vector<const VSeries*> series;
    ProfileTypeId type;
    Status s = select(q.sel, limits, &series, &type);
    if (!s.ok()) return s;
    const int64_t step_ns = static_cast<int64_t>(std::llround(q.step_s * 1e9));
    const int64_t start_ns = ms_to_ns(q.sel.start_ms), end_ns = ms_to_ns(q.sel.end_ms);
    // Profiles in (start − step, end] fall in a bucket; the last bucket is at
    // start + k·step ≤ end.
    const int64_t last_bucket = (end_ns - start_ns) / step_ns;
    std::set<int64_t> wanted(q.sel.profile_ids.begin(), q.sel.profile_ids.end());

    struct Bucket {
      int64_t k = 0;  // point index: the point is at start + k·step
      double sum = 0;
      int64_t count = 0;
      int64_t best_value = INT64_MIN, best_id = 0, best_ts = 0;
      const VSeries* best_series = nullptr;
      void add(const Bucket& o) {
        sum += o.sum;
        count += o.count;
        if (o.best_value > best_value) {
          best_value = o.best_value;
          best_id = o.best_id;
          best_ts = o.best_ts;
          best_series = o.best_series;
        }
      }
    };
    // Rows come in ts order per series, so each series fills its buckets in
    // order (no lookups); the series of a group are merged at the end.
    std::map<std::vector<Label>, std::vector<Bucket>> groups;

    // Call-site filtering needs the stacks; otherwise totals from the index.
    StackSet names;
    std::vector<uint32_t> call_site, frames;
    reset_names();
    for (const auto& n : q.sel.call_site) call_site.push_back(names.intern(n));
    FlatMap64 passes(1024);  // stack id → 1 under the call site, 2 not

    sql::Stmt idx_st(db_,
                     "SELECT ts, totals, id FROM profiles WHERE series_id = ? AND ts > ? AND ts "
                     "<= ?");
    // A span filter, like a call site, needs the samples.
    const SpanFilter spans(q.sel);
    const bool by_span = spans.on;
    const bool need_ids = q.exemplars || !wanted.empty() || !call_site.empty() || by_span;
    sql::Stmt row_st(db_, "SELECT totals, header, samples FROM profiles WHERE id = ?");
    size_t seen = 0;
    for (const VSeries* v : series) {
      std::vector<Label> key;
      for (const auto& g : q.group_by) {
        auto val = v->labels.get(g);
        if (!val.empty()) key.push_back({g, std::string(val)});
      }
      auto& buckets = groups[key];
      const size_t group_start = buckets.size();
      idx_st.reset().bind(1, v->series_id).bind(2, start_ns - step_ns).bind(3, end_ns);
      while (idx_st.step()) {
        if (++seen % 4096 == 0) {
          s = deadline(started, limits);
          if (!s.ok()) return s;
        }
        int64_t ts = idx_st.col_int(0), id = need_ids ? idx_st.col_int(2) : 0;
        if (!wanted.empty() && !wanted.count(id)) continue;
        // Ceil division: the first bucket point at or after ts.
        int64_t k = ts <= start_ns ? 0 : (ts - start_ns + step_ns - 1) / step_ns;
        if (k > last_bucket) continue;
        int64_t value = 0;
        bool found = false;
        std::string_view totals = idx_st.col_blob(1);
        if (call_site.empty() && !by_span && !totals.empty()) {
          found = find_total(totals, v->type_row, &value);
        } else {
          // Profiles stored before totals existed, or a call-site filter.
          id = idx_st.col_int(2);
          row_st.reset().bind(1, id);
          if (row_st.step() && spans.block_may_match(row_st.col_blob(2))) {
            size_t num_values = 0;
            int col = column(*v, row_st.col_null(0) ? "" : row_st.col_blob(0), row_st.col_blob(1),
                             &num_values);
            if (col >= 0 && blocks_
                                .read(row_st.col_blob(2), num_values, static_cast<size_t>(col),
                                      &stacks_, &values_, by_span ? &spans_ : nullptr)
                                .ok()) {
              found = true;
              for (size_t i = 0; i < stacks_.size(); ++i) {
                if (by_span && !spans.keeps(spans_[i])) {
                  continue;
                }
                if (!call_site.empty()) {
                  int64_t* verdict = passes.find_or_insert(stacks_[i], 0);
                  if (*verdict == 0) {
                    *verdict =
                        resolve(stacks_[i], &names, &frames) && under_call_site(frames, call_site)
                            ? 1
                            : 2;
                  }
                  if (*verdict != 1) continue;
                }
                value += values_[i];
              }
            }
          }
          row_st.reset();
        }
        if (!found || (by_span && value == 0)) continue;
        if (buckets.size() == group_start || buckets.back().k != k) buckets.push_back({k});
        Bucket& b = buckets.back();
        b.sum += static_cast<double>(value);
        ++b.count;
        if (value > b.best_value) {
          b.best_value = value;
          b.best_id = id;
          b.best_ts = ts;
          b.best_series = v;
        }
      }
      idx_st.reset();
    }

    for (auto& [key, all] : groups) {
      if (all.empty()) continue;
      // Several series in one group: merge their buckets by point.
      std::stable_sort(all.begin(), all.end(),
                       [](const Bucket& a, const Bucket& b) { return a.k < b.k; });
      std::vector<Bucket> buckets;
      for (const Bucket& b : all) {
        if (!buckets.empty() && buckets.back().k == b.k) {
          buckets.back().add(b);
        } else {
          buckets.push_back(b);
        }
      }
      SeriesResult r;
      r.labels = key;
      for (const Bucket& b : buckets) {
        const int64_t k = b.k;
        Point p;
        p.ts_ms = q.sel.start_ms +
                  static_cast<int64_t>(std::llround(static_cast<double>(k) * q.step_s * 1000));
        p.value = q.average ? b.sum / static_cast<double>(b.count) : b.sum;
        r.total += p.value;
        if (q.exemplars && b.best_series) {
          Exemplar e;
          e.ts_ms = b.best_ts / kNsPerMs;
          e.profile_id = b.best_id;
          e.value = b.best_value;
          for (const auto& l : b.best_series->labels) {
            if (l.name.rfind("__", 0) != 0) e.labels.set(l.name, l.value);
          }
          p.exemplar = std::make_shared<const Exemplar>(std::move(e));
        }
        r.points.push_back(std::move(p));
      }
      out->push_back(std::move(r));
    }
    std::sort(out->begin(), out->end(), [](const SeriesResult& a, const SeriesResult& b) {
      if (a.total != b.total) return a.total > b.total;
      return a.labels < b.labels;
    });
    if (q.limit > 0 && static_cast<int64_t>(out->size()) > q.limit) {
      out->resize(static_cast<size_t>(q.limit));
    }
    return {};
  }

  Status function_series(const SeriesQuery& q, const std::string& name, const Limits& limits,
                         std::vector<Point>* self_out, std::vector<Point>* total_out) {
    auto started = Clock::now();
    if (!(q.step_s >= 0.001) || !std::isfinite(q.step_s) || q.step_s > 1e7) {
      return Status::invalid("step must be between 0.001 and 10000000 seconds");
    }
    if (name.empty()) return Status::invalid("function is required");
    ReadTxn txn(db_);
    std::vector<const VSeries*> series;
    ProfileTypeId type;
    Status s = select(q.sel, limits, &series, &type);
    if (!s.ok()) return s;
    std::vector<ProfileRow> rows;
    s = profiles(q.sel, limits, series, &rows);
    if (!s.ok()) return s;
    const int64_t step_ns = static_cast<int64_t>(std::llround(q.step_s * 1e9));
    const int64_t start_ns = ms_to_ns(q.sel.start_ms);
    StackSet names;
    reset_names();
    const uint32_t fn = names.intern(name);
    FlatMap64 verdicts(4096);  // stack id → 1 + (leaf is fn) + 2·(fn in stack)
    std::vector<uint32_t> frames;
    std::map<int64_t, std::pair<double, double>> buckets;  // k → (self, total)
    const SpanFilter spans(q.sel);
    const bool by_span = spans.on;
    sql::Stmt st(db_, "SELECT totals, header, samples FROM profiles WHERE id = ?");
    for (size_t i = 0; i < rows.size(); ++i) {
      if (i % 64 == 0) {
        s = deadline(started, limits);
        if (!s.ok()) return s;
      }
      st.reset().bind(1, rows[i].id);
      if (!st.step()) continue;
      if (!spans.block_may_match(st.col_blob(2))) continue;
      size_t num_values = 0;
      int col = column(*rows[i].series, st.col_null(0) ? "" : st.col_blob(0), st.col_blob(1),
                       &num_values);
      if (col < 0 || !blocks_
                          .read(st.col_blob(2), num_values, static_cast<size_t>(col), &stacks_,
                                &values_, by_span ? &spans_ : nullptr)
                          .ok()) {
        continue;
      }
      int64_t ts = rows[i].ts;
      int64_t k = ts <= start_ns ? 0 : (ts - start_ns + step_ns - 1) / step_ns;
      if (k > (ms_to_ns(q.sel.end_ms) - start_ns) / step_ns) continue;
      auto& b = buckets[k];
      for (size_t j = 0; j < stacks_.size(); ++j) {
        if (by_span && !spans.keeps(spans_[j])) {
          continue;
        }
        int64_t* v = verdicts.find_or_insert(stacks_[j], 0);
        if (*v == 0) {
          *v = 1;
          if (resolve(stacks_[j], &names, &frames) && !frames.empty()) {
            if (frames.back() == fn) *v += 1;
            if (std::find(frames.begin(), frames.end(), fn) != frames.end()) *v += 2;
          }
        }
        if ((*v - 1) & 1) b.first += static_cast<double>(values_[j]);
        if ((*v - 1) & 2) b.second += static_cast<double>(values_[j]);
      }
    }
    for (const auto& [k, b] : buckets) {
      int64_t ts = q.sel.start_ms +
                   static_cast<int64_t>(std::llround(static_cast<double>(k) * q.step_s * 1000));
      self_out->push_back({ts, b.first, nullptr});
      total_out->push_back({ts, b.second, nullptr});
    }
    return {};
  }

  Status labels_of(const std::vector<std::string>& matchers, int64_t start_ms, int64_t end_ms,
                   std::vector<const VSeries*>* out) {
    std::vector<Selector> sels;
    Status s = parse_matchers(matchers, &sels);
    if (!s.ok()) return s;
    if (start_ms > end_ms) return Status::invalid("query start time is after end time");
    refresh();
    *out = matching(sels, start_ms, end_ms);
    return {};
  }

  std::unique_ptr<Reader> reader_;
  sql::Db& db_;
  Symbols symbols_;
  std::map<int64_t, TypeInfo> types_;  // node-based: VSeries keep pointers into it
  std::unordered_map<int64_t, Labels> series_labels_;
  std::vector<VSeries> vseries_;
  int64_t last_type_ = 0, last_series_ = 0, last_link_ = 0;
  std::unordered_map<int64_t, bool> has_data_;
  std::unique_ptr<sql::Stmt> exists_st_;
  SampleColumnReader blocks_;
  std::vector<int64_t> stacks_, values_, frame_ids_;
  std::vector<uint64_t> spans_;
  // Per query: frame id → StackSet name; location → its names (a span of loc_names_).
  std::unordered_map<int64_t, uint32_t> name_index_;
  FlatMap64 loc_entry_{16};  // location id → 1 + index into loc_spans_
  std::vector<std::pair<uint32_t, uint32_t>> loc_spans_;
  std::vector<uint32_t> loc_names_;
};

Engine::Engine(std::unique_ptr<Impl> impl, Limits limits)
    : impl_(std::move(impl)), limits_(limits) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::open(const std::string& path, Limits limits) {
  try {
    {
      // An older database: let the writer's migrations bring it up to date.
      sql::Db probe = schema::open_for_read(path);
      if (probe.scalar_int("PRAGMA user_version") < kSchemaVersion) {
        sql::Db upgraded = schema::open_for_write(path);
      }
    }
    auto reader = Reader::open(path);
    if (!reader) return reader.status();
    return std::unique_ptr<Engine>(new Engine(std::make_unique<Impl>(std::move(*reader)), limits));
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
}

namespace {

// Runs `fn`, turning SQLite failures into an internal Status.
template <typename Fn>
Status guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Status::internal(std::string("reading the database failed: ") + e.what());
  }
}

}  // namespace

Status Engine::profile_types(int64_t start_ms, int64_t end_ms, std::vector<ProfileTypeId>* out) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    std::vector<const Impl::VSeries*> series;
    Status s = impl_->labels_of({}, start_ms, end_ms, &series);
    if (!s.ok()) return s;
    std::map<std::string, ProfileTypeId> types;
    for (const auto* v : series) types.emplace(v->type->id, v->type->type);
    for (auto& [id, t] : types) out->push_back(t);
    return s;
  });
}

Status Engine::label_names(const std::vector<std::string>& matchers, int64_t start_ms,
                           int64_t end_ms, std::vector<std::string>* out) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    std::vector<const Impl::VSeries*> series;
    Status s = impl_->labels_of(matchers, start_ms, end_ms, &series);
    if (!s.ok()) return s;
    std::set<std::string> names;
    for (const auto* v : series) {
      for (const auto& l : v->labels) names.insert(l.name);
    }
    out->assign(names.begin(), names.end());
    return s;
  });
}

Status Engine::label_values(const std::string& name, const std::vector<std::string>& matchers,
                            int64_t start_ms, int64_t end_ms, std::vector<std::string>* out) {
  return guarded([&]() -> Status {
    if (name.empty()) return Status::invalid("name is required");
    ReadTxn txn(impl_->db_);
    std::vector<const Impl::VSeries*> series;
    Status s = impl_->labels_of(matchers, start_ms, end_ms, &series);
    if (!s.ok()) return s;
    std::set<std::string> values;
    for (const auto* v : series) {
      auto val = v->labels.get(name);
      if (!val.empty()) values.emplace(val);
    }
    out->assign(values.begin(), values.end());
    return s;
  });
}

Status Engine::series(const std::vector<std::string>& matchers,
                      const std::vector<std::string>& label_names, int64_t start_ms, int64_t end_ms,
                      std::vector<Labels>* out) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    std::vector<const Impl::VSeries*> series;
    Status s = impl_->labels_of(matchers, start_ms, end_ms, &series);
    if (!s.ok()) return s;
    std::set<std::string> seen;
    for (const auto* v : series) {
      Labels l;
      if (label_names.empty()) {
        l = v->labels;
      } else {
        for (const auto& n : label_names) l.set(n, v->labels.get(n));
      }
      if (seen.insert(l.to_string()).second) out->push_back(std::move(l));
    }
    std::sort(out->begin(), out->end(),
              [](const Labels& a, const Labels& b) { return a.items() < b.items(); });
    return s;
  });
}

Status Engine::merge_stacks(const Selection& sel, StackSet* out, MergeInfo* info) {
  if (sel.refine && sel.refine->options().active()) {
    // Refined: through the merged pprof, which keeps files, lines and labels.
    Selection whole = sel;
    whole.call_site.clear();
    perftools::profiles::Profile p;
    Status s = merge_pprof(whole, &p, info);
    if (!s.ok()) return s;
    *out = StackSet();
    stacks_of(p, sel.refine->options().granularity, sel.call_site, out);
    return s;
  }
  return guarded([&] { return impl_->merge_stacks(sel, limits_, out, info); });
}

Status Engine::select_series(const SeriesQuery& q, std::vector<SeriesResult>* out) {
  return guarded([&] { return impl_->select_series(q, limits_, out); });
}

Status Engine::function_series(const SeriesQuery& q, const std::string& name,
                               std::vector<Point>* self, std::vector<Point>* total) {
  return guarded([&] { return impl_->function_series(q, name, limits_, self, total); });
}

Status Engine::merge_pprof(const Selection& sel, perftools::profiles::Profile* out,
                           MergeInfo* info) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    std::vector<const Impl::VSeries*> series;
    Status s = impl_->select(sel, limits_, &series, &info->type);
    if (!s.ok()) return s;
    std::vector<Impl::ProfileRow> rows;
    s = impl_->profiles(sel, limits_, series, &rows);
    if (!s.ok()) return s;
    info->profiles = rows.size();
    out->Clear();
    if (rows.empty()) return s;
    std::vector<int64_t> ids;
    for (const auto& r : rows) ids.push_back(r.id);
    if (Status built = impl_->reader_->build(ids, out); !built.ok()) return built;
    if (!pprof::keep_sample_type(*out, info->type.sample_type, info->type.sample_unit)) {
      return Status::internal("the merged profile has no sample type " + info->type.sample_type +
                              "/" + info->type.sample_unit);
    }
    if (!sel.call_site.empty()) pprof::keep_call_site(*out, sel.call_site);
    if (!sel.span_ids.empty()) pprof::keep_span_ids(*out, Impl::sorted_span_ids(sel));
    if (sel.refine) sel.refine->apply(*out, &info->unmatched);
    out->set_time_nanos(ms_to_ns(sel.end_ms));
    out->set_duration_nanos(ms_to_ns(sel.end_ms - sel.start_ms));
    return s;
  });
}

Status Engine::profile(int64_t id, perftools::profiles::Profile* out, Labels* labels) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    sql::Stmt st(
        impl_->db_,
        "SELECT s.labels FROM profiles p JOIN series s ON s.id = p.series_id WHERE p.id = ?");
    st.bind(1, id);
    if (!st.step())
      return {Status::Code::kNotFound, "no stored profile with id " + std::to_string(id)};
    *labels = parse_canonical_labels(st.col_text(0));
    st.reset();
    return impl_->reader_->build({id}, out);
  });
}

Status Engine::profile_stats(ProfileStats* out) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    sql::Stmt st(impl_->db_, "SELECT min(ts), max(ts) FROM profiles");
    if (st.step() && !st.col_null(0)) {
      out->ingested = true;
      out->oldest_ms = st.col_int(0) / kNsPerMs;
      out->newest_ms = st.col_int(1) / kNsPerMs;
    }
    return {};
  });
}

Status Engine::default_profile_type(const std::string& name, const std::string& label_selector,
                                    int64_t start_ms, int64_t end_ms, std::string* full_id) {
  return guarded([&]() -> Status {
    ReadTxn txn(impl_->db_);
    std::vector<Selector> sels;
    Status s = parse_matchers({label_selector}, &sels);
    if (!s.ok()) return s;
    impl_->refresh();
    auto series = impl_->matching(sels, start_ms, end_ms);
    int64_t newest_ts = INT64_MIN, newest_series = 0;
    sql::Stmt st(impl_->db_,
                 "SELECT ts FROM profiles WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts "
                 "DESC LIMIT 1");
    for (const auto* v : series) {
      if (v->labels.get("__name__") != name) continue;
      st.reset().bind(1, v->series_id).bind(2, ms_to_ns(start_ms)).bind(3, ms_to_ns(end_ms));
      if (st.step() && st.col_int(0) > newest_ts) {
        newest_ts = st.col_int(0);
        newest_series = v->series_id;
      }
    }
    st.reset();
    if (newest_series == 0) {
      return {Status::Code::kNotFound, "no " + name + " profiles match in that time range"};
    }
    sql::Stmt h_st(impl_->db_, "SELECT header FROM profiles WHERE series_id = ? AND ts = ?");
    h_st.bind(1, newest_series).bind(2, newest_ts);
    ProfileHeader h;
    if (!h_st.step() || !ProfileHeader::decode(h_st.col_blob(0), &h) || h.sample_types.empty()) {
      return Status::internal("cannot read the newest " + name + " profile");
    }
    auto& sym = impl_->symbols_;
    size_t pick = h.sample_types.size() - 1;
    const std::string& def = sym.text(h.default_sample_type);
    for (size_t i = 0; i < h.sample_types.size() && !def.empty(); ++i) {
      if (sym.text(h.sample_types[i].first) == def) pick = i;
    }
    ProfileTypeId t{name, sym.text(h.sample_types[pick].first),
                    sym.text(h.sample_types[pick].second), sym.text(h.period_type),
                    sym.text(h.period_unit)};
    *full_id = t.id();
    return {};
  });
}

Result<std::unique_ptr<Engine>> EnginePool::take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto e = std::move(idle_.back());
      idle_.pop_back();
      return e;
    }
  }
  return Engine::open(path_, limits_);
}

void EnginePool::give(std::unique_ptr<Engine> e) {
  std::lock_guard lock(mu_);
  if (idle_.size() < 4) idle_.push_back(std::move(e));
}

}  // namespace stoker::query
