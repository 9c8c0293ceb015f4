#include "storage/outbox.h"

#include <algorithm>

#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "proto/profile.pb.h"
#include "storage/reader.h"
#include "storage/schema.h"
#include "storage/sqlite_util.h"

namespace stoker {

class Outbox::Impl {
 public:
  Impl(sql::Db db, std::unique_ptr<Reader> reader)
      : db_(std::move(db)), reader_(std::move(reader)) {}

  bool sync_endpoints(const std::vector<std::string>& keys) {
    sql::Transaction tx(db_);
    std::vector<std::string> existing;
    {
      sql::Stmt st(db_, "SELECT name FROM outbox_endpoints");
      while (st.step()) existing.emplace_back(st.col_text(0));
    }
    for (const auto& name : existing) {
      if (std::find(keys.begin(), keys.end(), name) != keys.end()) continue;
      for (const char* q : {"DELETE FROM outbox_endpoints WHERE name = ?",
                            "DELETE FROM outbox_set_aside WHERE endpoint = ?"}) {
        sql::Stmt del(db_, q);
        del.bind(1, std::string_view(name));
        del.run();
      }
    }
    int64_t newest = db_.scalar_int("SELECT coalesce(max(id), 0) FROM profiles");
    for (const auto& key : keys) {
      sql::Stmt ins(db_,
                    "INSERT OR IGNORE INTO outbox_endpoints(name, delivered_id, created_ns) "
                    "VALUES(?, ?, ?)");
      ins.bind(1, std::string_view(key)).bind(2, newest).bind(3, now_unix_nanos());
      ins.run();
    }
    tx.commit();
    return true;
  }

  int64_t delivered_id(const std::string& key) {
    sql::Stmt st(db_, "SELECT delivered_id FROM outbox_endpoints WHERE name = ?");
    st.bind(1, std::string_view(key));
    return st.step() ? st.col_int(0) : -1;
  }

  bool next(int64_t after_id, size_t max_count, size_t max_bytes, const ForwardCache* cache,
            std::vector<OutboxItem>* out, std::vector<std::string>* broken) {
    out->clear();
    broken->clear();
    // Every profile committed with an id >= `from_cache` is in the cache: the
    // store is read only below it (a backlog, or profiles from before a restart).
    int64_t from_cache = cache ? cache->first_id() : 0;
    std::vector<OutboxItem> rows;
    {
      sql::Stmt st(db_,
                   "SELECT p.id, p.ts, s.labels FROM profiles p JOIN series s ON s.id = "
                   "p.series_id WHERE p.id > ? AND p.id < ? ORDER BY p.id LIMIT ?");
      st.bind(1, after_id)
          .bind(2, from_cache > 0 ? from_cache : INT64_MAX)
          .bind(3, static_cast<int64_t>(max_count));
      while (st.step()) {
        OutboxItem it;
        it.id = st.col_int(0);
        it.ts = st.col_int(1);
        it.labels = parse_canonical_labels(st.col_text(2));
        rows.push_back(std::move(it));
      }
    }
    size_t bytes = 0;
    for (auto& it : rows) {
      if (!out->empty() && bytes >= max_bytes) break;
      bytes += add_rebuilt(std::move(it), out, broken);
    }
    if (from_cache > 0 && rows.size() < max_count && (out->empty() || bytes < max_bytes)) {
      int64_t after = out->empty() ? after_id : out->back().id;
      for (auto& e : cache->after(after, max_count - out->size(), max_bytes - bytes, from_cache)) {
        if (!out->empty() && bytes >= max_bytes) break;
        OutboxItem it;
        it.id = e.id;
        it.ts = e.ts;
        it.labels = *e.labels;
        if (!e.pprof_gzip) {
          bytes += add_rebuilt(std::move(it), out, broken);
          continue;
        }
        it.pprof_gzip = e.pprof_gzip;
        bytes += it.pprof_gzip->size();
        out->push_back(std::move(it));
        broken->emplace_back();
      }
    }
    return true;
  }

  // Appends `it` with its profile rebuilt from the store; returns its size.
  size_t add_rebuilt(OutboxItem it, std::vector<OutboxItem>* out,
                     std::vector<std::string>* broken) {
    if (Status built = reader_->build({it.id}, &profile_); !built.ok()) {
      sql::Stmt still(db_, "SELECT 1 FROM profiles WHERE id = ?");
      still.bind(1, it.id);
      if (!still.step()) return 0;  // deleted by retention meanwhile (counted there)
      out->push_back(std::move(it));
      broken->push_back("cannot rebuild the stored profile: " + built.message());
      return 0;
    }
    it.pprof_gzip = std::make_shared<const std::string>(pprof::encode_gzip(profile_));
    size_t n = it.pprof_gzip->size();
    out->push_back(std::move(it));
    broken->emplace_back();
    return n;
  }

  bool mark_delivered(const std::string& key, int64_t id) {
    sql::Stmt st(db_,
                 "UPDATE outbox_endpoints SET delivered_id = max(delivered_id, ?) WHERE name = ?");
    st.bind(1, id).bind(2, std::string_view(key));
    st.run();
    return true;
  }

  bool set_aside(const std::string& key, const OutboxItem& item, int status,
                 const std::string& reason) {
    sql::Transaction tx(db_);
    sql::Stmt ins(db_,
                  "INSERT INTO outbox_set_aside(endpoint, profile_id, ts, series, at_ns, status, "
                  "error) VALUES(?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, std::string_view(key))
        .bind(2, item.id)
        .bind(3, item.ts)
        .bind(4, std::string_view(item.labels.to_string()))
        .bind(5, now_unix_nanos())
        .bind(6, static_cast<int64_t>(status))
        .bind(7, std::string_view(reason));
    ins.run();
    mark_delivered(key, item.id);
    tx.commit();
    return true;
  }

  bool status(const std::string& key, OutboxStatus* out) {
    sql::Stmt st(db_, "SELECT delivered_id, dropped FROM outbox_endpoints WHERE name = ?");
    st.bind(1, std::string_view(key));
    if (!st.step()) return false;
    out->endpoint = key;
    out->delivered_id = st.col_int(0);
    out->dropped = st.col_int(1);
    sql::Stmt pend(db_, "SELECT count(*), min(ts) FROM profiles WHERE id > ?");
    pend.bind(1, out->delivered_id);
    if (pend.step()) {
      out->pending = pend.col_int(0);
      out->oldest_pending_ns = pend.col_null(1) ? 0 : pend.col_int(1);
    }
    sql::Stmt aside(db_, "SELECT count(*) FROM outbox_set_aside WHERE endpoint = ?");
    aside.bind(1, std::string_view(key));
    if (aside.step()) out->set_aside = aside.col_int(0);
    return true;
  }

  std::vector<SetAsideEntry> set_aside_list(const std::string& key, size_t limit) {
    std::vector<SetAsideEntry> out;
    sql::Stmt st(db_,
                 "SELECT endpoint, profile_id, ts, series, at_ns, status, error FROM "
                 "outbox_set_aside WHERE (? = '' OR endpoint = ?) ORDER BY id DESC LIMIT ?");
    st.bind(1, std::string_view(key))
        .bind(2, std::string_view(key))
        .bind(3, static_cast<int64_t>(limit));
    while (st.step()) {
      SetAsideEntry e;
      e.endpoint = std::string(st.col_text(0));
      e.profile_id = st.col_int(1);
      e.ts = st.col_int(2);
      e.series = std::string(st.col_text(3));
      e.at_ns = st.col_int(4);
      e.status = static_cast<int>(st.col_int(5));
      e.error = std::string(st.col_text(6));
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  sql::Db db_;
  std::unique_ptr<Reader> reader_;
  perftools::profiles::Profile profile_;  // scratch for rebuilding
};

Outbox::Outbox(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Outbox::~Outbox() = default;

Result<std::unique_ptr<Outbox>> Outbox::open(const std::string& path) {
  try {
    sql::Db db = schema::open_for_write(path);
    auto reader = Reader::open(path);
    if (!reader) return reader.status();
    return std::unique_ptr<Outbox>(
        new Outbox(std::make_unique<Impl>(std::move(db), std::move(*reader))));
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
}

namespace {
// Runs `f` (which returns false only after an SQLite exception would have
// said why), turning an SQLite exception into a failure.
template <typename F>
Status guarded(F&& f) {
  try {
    if (!f()) return Status::internal("the outbox could not be updated");
    return Status();
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
}
}  // namespace

Status Outbox::sync_endpoints(const std::vector<std::string>& keys) {
  return guarded([&] { return impl_->sync_endpoints(keys); });
}
Result<int64_t> Outbox::delivered_id(const std::string& key) {
  int64_t v = -1;
  Status s = guarded([&] {
    v = impl_->delivered_id(key);
    return true;
  });
  if (!s.ok()) return s;
  return v;
}
Status Outbox::next(int64_t after_id, size_t max_count, size_t max_bytes, const ForwardCache* cache,
                    std::vector<OutboxItem>* out, std::vector<std::string>* broken) {
  return guarded([&] { return impl_->next(after_id, max_count, max_bytes, cache, out, broken); });
}
Status Outbox::mark_delivered(const std::string& key, int64_t id) {
  return guarded([&] { return impl_->mark_delivered(key, id); });
}
Status Outbox::set_aside(const std::string& key, const OutboxItem& item, int status,
                         const std::string& reason) {
  return guarded([&] { return impl_->set_aside(key, item, status, reason); });
}
Result<OutboxStatus> Outbox::status(const std::string& key) {
  OutboxStatus out;
  bool known = false;
  Status s = guarded([&] {
    known = impl_->status(key, &out);
    return true;
  });
  if (!s.ok()) return s;
  if (!known) return Status::not_found("unknown outbox endpoint " + key);
  return out;
}
Result<std::vector<SetAsideEntry>> Outbox::set_aside_list(const std::string& key, size_t limit) {
  std::vector<SetAsideEntry> out;
  Status s = guarded([&] {
    out = impl_->set_aside_list(key, limit);
    return true;
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace stoker
