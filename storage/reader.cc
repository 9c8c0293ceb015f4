#include "storage/reader.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "model/encoding.h"
#include "proto/profile.pb.h"
#include "storage/profile_header.h"
#include "storage/sample_block.h"
#include "storage/schema.h"

namespace stoker {

Labels parse_canonical_labels(std::string_view s) {
  Labels out;
  size_t i = 1;
  while (i < s.size() && s[i] != '}') {
    size_t eq = s.find('=', i);
    if (eq == std::string_view::npos) break;
    std::string name(s.substr(i, eq - i));
    std::string value;
    size_t j = eq + 2;  // skip ="
    while (j < s.size() && s[j] != '"') {
      if (s[j] == '\\' && j + 1 < s.size()) {
        char e = s[++j];
        if (e == 'n') {
          value += '\n';
        } else if (e == 't') {
          value += '\t';
        } else if (e == 'r') {
          value += '\r';
        } else if (e == 'x' && j + 2 < s.size()) {
          value += static_cast<char>(std::stoi(std::string(s.substr(j + 1, 2)), nullptr, 16));
          j += 2;
        } else {
          value += e;
        }
      } else {
        value += s[j];
      }
      ++j;
    }
    out.set(name, value);
    i = j + 1;
    if (i < s.size() && s[i] == ',') i += 2;
  }
  return out;
}

class Reader::Impl {
 public:
  explicit Impl(sql::Db db) : db_(std::move(db)) {}

  std::vector<SeriesSummary> series(const Selector& sel, const TimeRange& range) {
    std::vector<SeriesSummary> out;
    sql::Stmt st(db_,
                 "SELECT s.id, s.labels, count(p.id), min(p.ts), max(p.ts), "
                 "sum(length(p.samples) + length(p.header)), sum(p.wire_size) "
                 "FROM series s JOIN profiles p ON p.series_id = s.id "
                 "WHERE p.ts >= ? AND p.ts <= ? GROUP BY s.id ORDER BY s.labels");
    st.bind(1, range.from_ns).bind(2, range.until_ns);
    while (st.step()) {
      SeriesSummary s;
      s.id = st.col_int(0);
      s.labels = parse_canonical_labels(st.col_text(1));
      if (!sel.matches(s.labels)) continue;
      s.profiles = st.col_int(2);
      s.first_ns = st.col_int(3);
      s.last_ns = st.col_int(4);
      s.stored_bytes = st.col_int(5);
      s.wire_bytes = st.col_int(6);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<int64_t> profile_ids(const Selector& sel, const TimeRange& range) {
    std::vector<std::pair<int64_t, int64_t>> by_time;  // (ts, id), oldest first across series
    sql::Stmt st(db_, "SELECT ts, id FROM profiles WHERE series_id = ? AND ts >= ? AND ts <= ?");
    for (const auto& s : series(sel, range)) {
      st.reset().bind(1, s.id).bind(2, range.from_ns).bind(3, range.until_ns);
      while (st.step()) by_time.emplace_back(st.col_int(0), st.col_int(1));
      st.reset();
    }
    std::sort(by_time.begin(), by_time.end());
    std::vector<int64_t> ids;
    ids.reserve(by_time.size());
    for (const auto& entry : by_time) ids.push_back(entry.second);
    return ids;
  }

  bool build(const std::vector<int64_t>& ids, perftools::profiles::Profile* out,
             std::string* error) {
    out->Clear();
    if (ids.empty()) {
      *error = "no profiles to export";
      return false;
    }
    sql::Stmt st(db_,
                 "SELECT p.time_nanos, p.duration_nanos, p.period, p.header, p.samples, s.name "
                 "FROM profiles p JOIN series s ON s.id = p.series_id WHERE p.id = ?");
    ProfileHeader first;
    std::string first_name;
    // (stack, label set, span id) → summed values.
    std::map<std::tuple<int64_t, int64_t, uint64_t>, std::vector<int64_t>> merged;
    int64_t time_nanos = 0, duration = 0, period = 0;
    for (size_t k = 0; k < ids.size(); ++k) {
      st.reset().bind(1, ids[k]);
      if (!st.step()) {
        *error = "profile " + std::to_string(ids[k]) + " not found";
        return false;
      }
      ProfileHeader h;
      if (!ProfileHeader::decode(st.col_blob(3), &h)) {
        *error = "profile " + std::to_string(ids[k]) + " has a corrupt header";
        return false;
      }
      std::string name(st.col_text(5));
      if (k == 0) {
        first = h;
        first_name = name;
      } else if (h.sample_types != first.sample_types) {
        *error = "cannot merge profiles with different sample types (" + first_name + ": " +
                 describe_types(first) + "; " + name + ": " + describe_types(h) +
                 "); select one profile type";
        return false;
      }
      int64_t t = st.col_int(0);
      if (t != 0 && (time_nanos == 0 || t < time_nanos)) time_nanos = t;
      duration += st.col_int(1);
      period = std::max(period, st.col_int(2));
      SampleBlock block;
      if (!SampleBlock::decode(st.col_blob(4), h.sample_types.size(), &block).ok()) {
        *error = "profile " + std::to_string(ids[k]) + " has a corrupt sample block";
        return false;
      }
      for (size_t r = 0; r < block.rows(); ++r) {
        uint64_t span = block.span_ids.empty() ? 0 : block.span_ids[r];
        auto& v = merged[{block.stack_ids[r], block.label_set_ids[r], span}];
        if (v.empty()) v.assign(block.num_values, 0);
        for (size_t j = 0; j < block.num_values; ++j)
          v[j] += block.values[r * block.num_values + j];
      }
      st.reset();
    }

    string_index_.clear();
    literal_index_.clear();
    out->add_string_table("");
    for (const auto& [type, unit] : first.sample_types) {
      auto* vt = out->add_sample_type();
      vt->set_type(str(type, out));
      vt->set_unit(str(unit, out));
    }
    out->mutable_period_type()->set_type(str(first.period_type, out));
    out->mutable_period_type()->set_unit(str(first.period_unit, out));
    out->set_default_sample_type(str(first.default_sample_type, out));
    out->set_drop_frames(str(first.drop_frames, out));
    out->set_keep_frames(str(first.keep_frames, out));
    out->set_doc_url(str(first.doc_url, out));
    for (int64_t c : first.comments) out->add_comment(str(c, out));
    out->set_time_nanos(time_nanos);
    out->set_duration_nanos(duration);
    out->set_period(period);

    std::set<int64_t> locations_used;
    for (const auto& [key, values] : merged) {
      bool all_zero = true;
      for (int64_t v : values) all_zero = all_zero && v == 0;
      if (all_zero) continue;
      auto* s = out->add_sample();
      const auto& [stack_id, label_set, span] = key;
      for (int64_t loc : stack(stack_id)) {
        s->add_location_id(static_cast<uint64_t>(loc));
        locations_used.insert(loc);
      }
      for (int64_t v : values) s->add_value(v);
      if (label_set != 0) add_labels(label_set, s, out);
      if (span != 0) {
        auto* l = s->add_label();
        l->set_key(literal("span_id", out));
        l->set_str(literal(format_span_id(span), out));
      }
    }
    std::set<int64_t> functions_used, mappings_used;
    sql::Stmt loc_st(db_, "SELECT key FROM locations WHERE id = ?");
    for (int64_t id : locations_used) {
      loc_st.reset().bind(1, id);
      if (!loc_st.step()) continue;
      enc::Reader r(loc_st.col_blob(0));
      auto* l = out->add_location();
      l->set_id(static_cast<uint64_t>(id));
      int64_t mapping = static_cast<int64_t>(r.varint());
      l->set_mapping_id(static_cast<uint64_t>(mapping));
      if (mapping) mappings_used.insert(mapping);
      l->set_address(r.varint());
      l->set_is_folded(r.varint() != 0);
      uint64_t nlines = r.varint();
      for (uint64_t i = 0; i < nlines && r.ok(); ++i) {
        auto* line = l->add_line();
        int64_t fn = static_cast<int64_t>(r.varint());
        line->set_function_id(static_cast<uint64_t>(fn));
        line->set_line(r.svarint());
        line->set_column(r.svarint());
        functions_used.insert(fn);
      }
    }
    sql::Stmt fn_st(db_, "SELECT key FROM functions WHERE id = ?");
    for (int64_t id : functions_used) {
      fn_st.reset().bind(1, id);
      if (!fn_st.step()) continue;
      enc::Reader r(fn_st.col_blob(0));
      auto* f = out->add_function();
      f->set_id(static_cast<uint64_t>(id));
      f->set_name(str(static_cast<int64_t>(r.varint()), out));
      f->set_system_name(str(static_cast<int64_t>(r.varint()), out));
      f->set_filename(str(static_cast<int64_t>(r.varint()), out));
      f->set_start_line(r.svarint());
    }
    sql::Stmt map_st(db_, "SELECT key FROM mappings WHERE id = ?");
    for (int64_t id : mappings_used) {
      map_st.reset().bind(1, id);
      if (!map_st.step()) continue;
      enc::Reader r(map_st.col_blob(0));
      auto* m = out->add_mapping();
      m->set_id(static_cast<uint64_t>(id));
      m->set_memory_start(r.varint());
      m->set_memory_limit(r.varint());
      m->set_file_offset(r.varint());
      m->set_filename(str(static_cast<int64_t>(r.varint()), out));
      m->set_build_id(str(static_cast<int64_t>(r.varint()), out));
      uint64_t flags = r.varint();
      m->set_has_functions(flags & 1);
      m->set_has_filenames(flags & 2);
      m->set_has_line_numbers(flags & 4);
      m->set_has_inline_frames(flags & 8);
    }
    return true;
  }

 private:
  std::string describe_types(const ProfileHeader& h) {
    std::string out;
    sql::Stmt st(db_, "SELECT value FROM strings WHERE id = ?");
    auto name = [&](int64_t id) -> std::string {
      if (id == 0) return "";
      st.reset().bind(1, id);
      std::string v = st.step() ? std::string(st.col_text(0)) : "?";
      st.reset();
      return v;
    };
    for (size_t i = 0; i < h.sample_types.size(); ++i) {
      if (i) out += ",";
      out += name(h.sample_types[i].first) + "/" + name(h.sample_types[i].second);
    }
    return out;
  }

  // Maps a database string id to an index in `out`'s string table.
  // A string of the output that is not a stored string (span ids).
  int64_t literal(const std::string& value, perftools::profiles::Profile* out) {
    auto it = literal_index_.find(value);
    if (it != literal_index_.end()) return it->second;
    int64_t idx = out->string_table_size();
    out->add_string_table(value);
    literal_index_.emplace(value, idx);
    return idx;
  }

  int64_t str(int64_t db_id, perftools::profiles::Profile* out) {
    if (db_id == 0) return 0;
    auto it = string_index_.find(db_id);
    if (it != string_index_.end()) return it->second;
    if (!string_st_)
      string_st_ = std::make_unique<sql::Stmt>(db_, "SELECT value FROM strings WHERE id = ?");
    string_st_->reset().bind(1, db_id);
    std::string value = string_st_->step() ? std::string(string_st_->col_text(0)) : "";
    string_st_->reset();
    int64_t idx = out->string_table_size();
    out->add_string_table(value);
    string_index_.emplace(db_id, idx);
    return idx;
  }

  std::vector<int64_t> stack(int64_t id) {
    if (!stack_st_)
      stack_st_ = std::make_unique<sql::Stmt>(db_, "SELECT key FROM stacks WHERE id = ?");
    std::vector<int64_t> locs;
    stack_st_->reset().bind(1, id);
    if (stack_st_->step()) {
      enc::Reader r(stack_st_->col_blob(0));
      while (!r.done() && r.ok()) locs.push_back(static_cast<int64_t>(r.varint()));
    }
    stack_st_->reset();
    return locs;
  }

  void add_labels(int64_t id, perftools::profiles::Sample* s, perftools::profiles::Profile* out) {
    if (!labels_st_)
      labels_st_ = std::make_unique<sql::Stmt>(db_, "SELECT key FROM label_sets WHERE id = ?");
    labels_st_->reset().bind(1, id);
    if (labels_st_->step()) {
      std::string blob(labels_st_->col_blob(0));
      labels_st_->reset();
      enc::Reader r(blob);
      while (!r.done() && r.ok()) {
        auto* l = s->add_label();
        l->set_key(str(static_cast<int64_t>(r.varint()), out));
        l->set_str(str(static_cast<int64_t>(r.varint()), out));
        l->set_num(r.svarint());
        l->set_num_unit(str(static_cast<int64_t>(r.varint()), out));
      }
    } else {
      labels_st_->reset();
    }
  }

 public:
  sql::Db& db() { return db_; }

 private:
  sql::Db db_;
  std::unique_ptr<sql::Stmt> string_st_, stack_st_, labels_st_;
  std::unordered_map<int64_t, int64_t> string_index_;
  std::unordered_map<std::string, int64_t> literal_index_;
};

Reader::Reader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Reader::~Reader() = default;

Result<std::unique_ptr<Reader>> Reader::open(const std::string& path) {
  try {
    return std::unique_ptr<Reader>(new Reader(std::make_unique<Impl>(schema::open_for_read(path))));
  } catch (const std::exception& e) {
    return Status::invalid(e.what());
  }
}

sql::Db& Reader::connection() {
  return impl_->db();
}

std::vector<SeriesSummary> Reader::series(const Selector& sel, const TimeRange& range) {
  return impl_->series(sel, range);
}
std::vector<int64_t> Reader::profile_ids(const Selector& sel, const TimeRange& range) {
  return impl_->profile_ids(sel, range);
}
Status Reader::build(const std::vector<int64_t>& ids, perftools::profiles::Profile* out) {
  try {
    std::string err;
    if (!impl_->build(ids, out, &err)) return Status::invalid(err);
    return Status();
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
}

Result<size_t> Reader::export_merged(const Selector& sel, const TimeRange& range,
                                     perftools::profiles::Profile* out) {
  try {
    auto found = impl_->series(sel, range);
    std::set<std::string> types;
    for (const auto& s : found) types.insert(std::string(s.labels.get("__name__")));
    if (found.empty()) {
      return Status::not_found("no stored profiles match the selector in that time range");
    }
    if (types.size() > 1) {
      std::string list;
      for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
      return Status::invalid("the selector matches several profile types (" + list +
                             "); put one first, for example " + *types.begin() + "{...}");
    }
    auto ids = impl_->profile_ids(sel, range);
    std::string err;
    if (!impl_->build(ids, out, &err)) return Status::invalid(err);
    return ids.size();
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
}

}  // namespace stoker
