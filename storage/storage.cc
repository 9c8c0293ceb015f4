#include "storage/storage.h"

#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "model/labels.h"
#include "model/log.h"
#include "model/profile_type.h"
#include "model/timeparse.h"
#include "proto/profile.pb.h"
#include "storage/encoding.h"
#include "storage/profile_header.h"
#include "storage/sample_block.h"
#include "storage/schema.h"

namespace stoker {

namespace {

constexpr size_t kMaxQueue = 4096;
constexpr size_t kMaxBatch = 256;
constexpr size_t kMaxCacheEntries = 2'000'000;

// Interns keys of one dedup table (key → id) with an in-memory cache. Rows are
// found by the hash index and confirmed by comparing the key, so a hash
// collision only costs an extra row read.
class Interner {
 public:
  Interner(sql::Db& db, const std::string& table, const char* col = "key")
      : select_(db,
                ("SELECT id, " + std::string(col) + " FROM " + table + " WHERE hash=?").c_str()),
        insert_(db, ("INSERT INTO " + table + "(hash, " + col + ") VALUES(?, ?)").c_str()),
        db_(db),
        is_text_(std::string(col) == "value") {}

  int64_t id(const std::string& key) {
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    auto hash = static_cast<int64_t>(fnv1a64(key));
    int64_t id = 0;
    select_.reset().bind(1, hash);
    while (select_.step()) {
      std::string_view stored = is_text_ ? select_.col_text(1) : select_.col_blob(1);
      if (stored == key) {
        id = select_.col_int(0);
        break;
      }
    }
    select_.reset();
    if (id == 0) {
      insert_.reset().bind(1, hash);
      if (is_text_) {
        insert_.bind(2, std::string_view(key));
      } else {
        insert_.bind_blob(2, key);
      }
      insert_.run();
      id = sqlite3_last_insert_rowid(db_.get());
    }
    cache_.emplace(key, id);
    return id;
  }
  void clear() { cache_.clear(); }

 private:
  sql::Stmt select_, insert_;
  sql::Db& db_;
  bool is_text_;
  std::unordered_map<std::string, int64_t> cache_;
};

uint64_t file_size(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

class Storage::Impl {
 public:
  Impl(const StorageConfig& cfg, sql::Db db)
      : cfg_(cfg),
        db_(std::move(db)),
        strings_(db_, "strings", "value"),
        mappings_(db_, "mappings"),
        functions_(db_, "functions"),
        locations_(db_, "locations"),
        stacks_(db_, "stacks"),
        label_sets_(db_, "label_sets"),
        series_select_(db_, "SELECT id FROM series WHERE labels=?"),
        series_insert_(db_, "INSERT INTO series(labels, name) VALUES(?, ?)"),
        profile_insert_(
            db_,
            "INSERT INTO profiles(series_id, ts, time_nanos, duration_nanos, period, "
            "header, samples, sample_count, wire_size, totals) VALUES(?,?,?,?,?,?,?,?,?,?)") {
    last_id_ = db_.scalar_int("SELECT coalesce(max(id), 0) FROM profiles");
    writer_ = std::thread([this] { run(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    writer_.join();
  }

  bool append(ProfileRecord r, std::string* error) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        if (error) *error = "storage is shutting down";
        return false;
      }
      if (queue_.size() >= kMaxQueue) {
        ++stats_.rejected_queue_full;
        if (error) {
          *error = "storage write queue is full (" + std::to_string(kMaxQueue) +
                   " profiles waiting); the disk is too slow or failing";
        }
        return false;
      }
      queue_.push_back(std::move(r));
      ++enqueued_;
    }
    cv_.notify_all();
    return true;
  }

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    uint64_t target = enqueued_;
    return done_cv_.wait_for(lock, timeout, [&] { return finished_ >= target || writer_exited_; });
  }

  void request_limits() {
    {
      std::lock_guard lock(mu_);
      limits_requested_ = true;
    }
    cv_.notify_all();
    std::unique_lock lock(mu_);
    done_cv_.wait(lock, [&] { return !limits_requested_ || writer_exited_; });
  }

  StorageStats stats() const {
    std::lock_guard lock(mu_);
    StorageStats s = stats_;
    s.queue_depth = queue_.size();
    s.db_bytes = file_size(cfg_.path) + file_size(cfg_.path + "-wal");
    return s;
  }

  const std::string& path() const { return cfg_.path; }

 private:
  void run() {
    auto next_limits = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait_until(lock, next_limits,
                     [&] { return stopping_ || !queue_.empty() || limits_requested_; });
      if (limits_requested_ || std::chrono::steady_clock::now() >= next_limits) {
        lock.unlock();
        enforce_limits();
        lock.lock();
        limits_requested_ = false;
        next_limits = std::chrono::steady_clock::now() + std::chrono::minutes(1);
        done_cv_.notify_all();
      }
      if (queue_.empty()) {
        if (stopping_) break;
        continue;
      }
      std::vector<ProfileRecord> batch;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      bool ok = write_batch(batch);
      lock.lock();
      if (ok) {
        stats_.profiles_written += batch.size();
        ++stats_.batches_committed;
        finished_ += batch.size();
        failures_ = 0;
      } else {
        ++stats_.write_errors;
        // Keep the batch and retry: nothing committed is lost and nothing queued is
        // dropped while the disk recovers; the bounded queue pushes back on scrapers.
        ++failures_;
        for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue_.push_front(std::move(*it));
        if (stopping_ && failures_ >= 3) {
          log::error("storage", "giving up on queued profiles at shutdown",
                     {{"path", cfg_.path}, {"profiles", std::to_string(queue_.size())}});
          finished_ += queue_.size();
          queue_.clear();
        } else {
          lock.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(std::min(5000, 200 * failures_)));
          lock.lock();
        }
      }
      done_cv_.notify_all();
    }
    writer_exited_ = true;
    done_cv_.notify_all();
  }

  bool write_batch(const std::vector<ProfileRecord>& batch) {
    try {
      sql::Transaction tx(db_);
      for (const auto& r : batch) write_one(r);
      tx.commit();
      last_id_.store(sqlite3_last_insert_rowid(db_.get()), std::memory_order_release);
      return true;
    } catch (const std::exception& e) {
      // Ids cached during the rolled-back transaction no longer exist.
      for (Interner* in : {&strings_, &mappings_, &functions_, &locations_, &stacks_, &label_sets_})
        in->clear();
      series_cache_.clear();
      type_rows_.clear();
      series_types_.clear();
      log::error(
          "storage", "writing profiles failed; will retry",
          {{"path", cfg_.path}, {"profiles", std::to_string(batch.size())}, {"err", e.what()}});
      return false;
    }
  }

  int64_t str(const perftools::profiles::Profile& p, int64_t idx) {
    const std::string& s = p.string_table(static_cast<int>(idx));
    return s.empty() ? 0 : strings_.id(s);
  }

  int64_t series_id(const Labels& labels) {
    std::string key = labels.to_string();
    auto it = series_cache_.find(key);
    if (it != series_cache_.end()) return it->second;
    int64_t id;
    series_select_.reset().bind(1, std::string_view(key));
    if (series_select_.step()) {
      id = series_select_.col_int(0);
      series_select_.reset();
    } else {
      series_select_.reset();
      series_insert_.reset().bind(1, std::string_view(key)).bind(2, labels.get("__name__"));
      series_insert_.run();
      id = sqlite3_last_insert_rowid(db_.get());
    }
    series_cache_.emplace(std::move(key), id);
    return id;
  }

  // The profile_types row of `id`, linked to `series` (both cached).
  int64_t type_row(int64_t series, const std::string& id) {
    auto it = type_rows_.find(id);
    int64_t row;
    if (it != type_rows_.end()) {
      row = it->second;
    } else {
      row = schema::profile_type_row(db_, id);
      type_rows_.emplace(id, row);
    }
    if (series_types_.emplace(series, row).second) schema::link_series_type(db_, series, row);
    return row;
  }

  void write_one(const ProfileRecord& r) {
    const auto& p = *r.profile;
    std::string key;
    std::unordered_map<uint64_t, int64_t> mapping_ids, function_ids, location_ids;
    for (const auto& m : p.mapping()) {
      key.clear();
      enc::put_varint(key, m.memory_start());
      enc::put_varint(key, m.memory_limit());
      enc::put_varint(key, m.file_offset());
      enc::put_varint(key, static_cast<uint64_t>(str(p, m.filename())));
      enc::put_varint(key, static_cast<uint64_t>(str(p, m.build_id())));
      enc::put_varint(key, (m.has_functions() ? 1u : 0u) | (m.has_filenames() ? 2u : 0u) |
                               (m.has_line_numbers() ? 4u : 0u) |
                               (m.has_inline_frames() ? 8u : 0u));
      mapping_ids[m.id()] = mappings_.id(key);
    }
    for (const auto& f : p.function()) {
      key.clear();
      enc::put_varint(key, static_cast<uint64_t>(str(p, f.name())));
      enc::put_varint(key, static_cast<uint64_t>(str(p, f.system_name())));
      enc::put_varint(key, static_cast<uint64_t>(str(p, f.filename())));
      enc::put_svarint(key, f.start_line());
      function_ids[f.id()] = functions_.id(key);
    }
    for (const auto& l : p.location()) {
      key.clear();
      enc::put_varint(key, l.mapping_id() ? static_cast<uint64_t>(mapping_ids[l.mapping_id()]) : 0);
      enc::put_varint(key, l.address());
      enc::put_varint(key, l.is_folded() ? 1 : 0);
      enc::put_varint(key, static_cast<uint64_t>(l.line_size()));
      for (const auto& line : l.line()) {
        enc::put_varint(key, static_cast<uint64_t>(function_ids[line.function_id()]));
        enc::put_svarint(key, line.line());
        enc::put_svarint(key, line.column());
      }
      location_ids[l.id()] = locations_.id(key);
    }
    SampleBlock block;
    block.num_values = static_cast<size_t>(p.sample_type_size());
    block.stack_ids.reserve(static_cast<size_t>(p.sample_size()));
    block.label_set_ids.reserve(static_cast<size_t>(p.sample_size()));
    block.values.reserve(static_cast<size_t>(p.sample_size()) * block.num_values);
    for (const auto& s : p.sample()) {
      key.clear();
      for (uint64_t loc : s.location_id())
        enc::put_varint(key, static_cast<uint64_t>(location_ids[loc]));
      block.stack_ids.push_back(stacks_.id(key));
      int64_t ls = 0;
      if (s.label_size() > 0) {
        key.clear();
        for (const auto& lab : s.label()) {
          enc::put_varint(key, static_cast<uint64_t>(str(p, lab.key())));
          enc::put_varint(key, static_cast<uint64_t>(str(p, lab.str())));
          enc::put_svarint(key, lab.num());
          enc::put_varint(key, static_cast<uint64_t>(str(p, lab.num_unit())));
        }
        ls = label_sets_.id(key);
      }
      block.label_set_ids.push_back(ls);
      block.values.insert(block.values.end(), s.value().begin(), s.value().end());
    }
    block.normalize();

    int64_t series = series_id(r.labels);
    // Each sample type is one Pyroscope profile type of this series; its total
    // goes next to the samples so that timelines need not inflate them.
    std::string name(r.labels.get("__name__"));
    const std::string& period_type = p.string_table(static_cast<int>(p.period_type().type()));
    const std::string& period_unit = p.string_table(static_cast<int>(p.period_type().unit()));
    ProfileTotals totals;
    for (int i = 0; i < p.sample_type_size(); ++i) {
      ProfileTypeId type{name, p.string_table(static_cast<int>(p.sample_type(i).type())),
                         p.string_table(static_cast<int>(p.sample_type(i).unit())), period_type,
                         period_unit};
      int64_t row = type_row(series, type.id());
      int64_t sum = 0;
      for (size_t k = 0; k < block.rows(); ++k)
        sum += block.values[k * block.num_values + static_cast<size_t>(i)];
      totals.emplace_back(row, sum);
    }

    ProfileHeader header;
    for (const auto& vt : p.sample_type())
      header.sample_types.emplace_back(str(p, vt.type()), str(p, vt.unit()));
    header.period_type = str(p, p.period_type().type());
    header.period_unit = str(p, p.period_type().unit());
    header.default_sample_type = str(p, p.default_sample_type());
    header.drop_frames = str(p, p.drop_frames());
    header.keep_frames = str(p, p.keep_frames());
    header.doc_url = str(p, p.doc_url());
    for (int64_t c : p.comment()) header.comments.push_back(str(p, c));

    profile_insert_.reset()
        .bind(1, series)
        .bind(2, r.scrape_time_ns)
        .bind(3, p.time_nanos())
        .bind(4, p.duration_nanos())
        .bind(5, p.period())
        .bind_blob(6, header.encode())
        .bind_blob(7, block.encode())
        .bind(8, static_cast<int64_t>(block.rows()))
        .bind(9, static_cast<int64_t>(r.wire_size))
        .bind_blob(10, encode_totals(totals));
    profile_insert_.run();
  }

  // Undelivered profiles (per outbox endpoint) among those `where` selects, so
  // that deleting them for space is counted and logged.
  void count_undelivered(const std::string& where, int64_t arg, const char* reason) {
    std::string q =
        "SELECT e.name, count(p.id) FROM outbox_endpoints e JOIN profiles p ON p.id > "
        "e.delivered_id WHERE " +
        where + " GROUP BY e.name";
    sql::Stmt st(db_, q.c_str());
    st.bind(1, arg);
    std::vector<std::pair<std::string, int64_t>> lost;
    while (st.step()) lost.emplace_back(std::string(st.col_text(0)), st.col_int(1));
    for (const auto& [name, n] : lost) {
      if (n == 0) continue;
      sql::Stmt up(db_, "UPDATE outbox_endpoints SET dropped = dropped + ? WHERE name = ?");
      up.bind(1, n).bind(2, std::string_view(name));
      up.run();
      log::warn("storage", "undelivered profiles deleted to respect storage limits",
                {{"endpoint", name}, {"profiles", std::to_string(n)}, {"reason", reason}});
    }
  }

  void enforce_limits() {
    try {
      int64_t deleted_age = 0, deleted_size = 0;
      if (cfg_.retention.count() > 0) {
        int64_t cutoff = now_unix_nanos() - cfg_.retention.count() * 1'000'000LL;
        sql::Transaction tx(db_);
        count_undelivered("p.ts < ?1", cutoff, "retention");
        sql::Stmt del(db_, "DELETE FROM profiles WHERE ts < ?");
        del.bind(1, cutoff);
        del.run();
        deleted_age = sqlite3_changes(db_.get());
        tx.commit();
      }
      if (cfg_.max_size > 0) {
        // Pages in use, not the file size: freed pages are reused before the file grows.
        for (int round = 0; round < 20; ++round) {
          int64_t used =
              (db_.scalar_int("PRAGMA page_count") - db_.scalar_int("PRAGMA freelist_count")) *
              db_.scalar_int("PRAGMA page_size");
          if (used <= static_cast<int64_t>(cfg_.max_size)) break;
          int64_t total = db_.scalar_int("SELECT count(*) FROM profiles");
          if (total == 0) break;
          int64_t n = std::max<int64_t>(1, total / 20);
          sql::Transaction tx(db_);
          count_undelivered("p.id IN (SELECT id FROM profiles ORDER BY ts LIMIT ?1)", n,
                            "max_size");
          sql::Stmt del(
              db_,
              "DELETE FROM profiles WHERE id IN (SELECT id FROM profiles ORDER BY ts LIMIT ?)");
          del.bind(1, n);
          del.run();
          deleted_size += sqlite3_changes(db_.get());
          tx.commit();
        }
      }
      if (deleted_age || deleted_size) {
        db_.exec("PRAGMA wal_checkpoint(PASSIVE)");
        std::lock_guard lock(mu_);
        stats_.deleted_by_retention += static_cast<uint64_t>(deleted_age);
        stats_.deleted_by_size += static_cast<uint64_t>(deleted_size);
        log::info(
            "storage", "deleted old profiles",
            {{"by_age", std::to_string(deleted_age)}, {"by_size", std::to_string(deleted_size)}});
      }
    } catch (const std::exception& e) {
      log::error("storage", "enforcing retention failed", {{"path", cfg_.path}, {"err", e.what()}});
    }
  }

 public:
  int64_t last_id() const { return last_id_.load(std::memory_order_acquire); }

 private:
  StorageConfig cfg_;
  sql::Db db_;
  Interner strings_, mappings_, functions_, locations_, stacks_, label_sets_;
  sql::Stmt series_select_, series_insert_, profile_insert_;
  std::unordered_map<std::string, int64_t> series_cache_;
  std::unordered_map<std::string, int64_t> type_rows_;
  std::set<std::pair<int64_t, int64_t>> series_types_;  // (series, type row) linked

  mutable std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<ProfileRecord> queue_;
  uint64_t enqueued_ = 0, finished_ = 0;
  int failures_ = 0;
  bool stopping_ = false, writer_exited_ = false, limits_requested_ = false;
  StorageStats stats_;
  std::atomic<int64_t> last_id_{0};  // id of the newest committed profile
  std::thread writer_;
};

Storage::Storage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Storage::~Storage() = default;

std::unique_ptr<Storage> Storage::open(const StorageConfig& cfg, std::string* error) {
  try {
    sql::Db db = schema::open_for_write(cfg.path);
    return std::unique_ptr<Storage>(new Storage(std::make_unique<Impl>(cfg, std::move(db))));
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return nullptr;
  }
}

bool Storage::append(ProfileRecord record, std::string* error) {
  return impl_->append(std::move(record), error);
}
bool Storage::flush(std::chrono::milliseconds timeout) {
  return impl_->flush(timeout);
}
void Storage::enforce_limits() {
  impl_->request_limits();
}
StorageStats Storage::stats() const {
  return impl_->stats();
}
const std::string& Storage::path() const {
  return impl_->path();
}
int64_t Storage::last_committed_id() const {
  return impl_->last_id();
}

}  // namespace stoker
