#include "storage/storage.h"

#include <malloc.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "model/encoding.h"
#include "model/hash.h"
#include "model/labels.h"
#include "model/log.h"
#include "model/profile_type.h"
#include "model/timeparse.h"
#include "pprof/id_index.h"
#include "pprof/view.h"
#include "proto/profile.pb.h"
#include "storage/id_table.h"
#include "storage/profile_header.h"
#include "storage/sample_block.h"
#include "storage/schema.h"

namespace stoker {

namespace {

constexpr size_t kMaxQueue = 4096;
constexpr size_t kMaxBatch = 256;
// Group commit: the writer lets profiles gather this long after the first of
// a batch arrives (unless someone waits for the commit, a batch is full or
// half of Storage::kSoftPendingBytes is queued),
// so at 100 profiles/s it commits ~10 transactions a second instead of ~100,
// each one wake-up and one round of WAL writes.
constexpr auto kGroupWindow = std::chrono::milliseconds(100);
constexpr auto kTrimEvery = std::chrono::seconds(10);

// Entries an interner caches before it starts over. Stacks and locations are
// looked up for every profile and cached generously; strings and functions
// only when a location is new (new code, a deploy), so a small cache of the
// recent ones is enough and the rest are found in the table by hash.
constexpr size_t kMaxCacheEntries = 2'000'000;
constexpr size_t kSmallCacheEntries = 1 << 15;

// Interns keys of one dedup table (key → id). In memory, a flat table from
// the key's 128-bit hash (seeded per process) to the id, so a hit costs one
// hash of the key bytes and no allocation. On a miss, rows are found by the
// 64-bit FNV-1a `hash` index of the table and confirmed by comparing the key,
// so a hash collision in the database only costs an extra row read.
class Interner {
 public:
  Interner(sql::Db& db, const std::string& table, const char* col = "key",
           size_t max_cached = kMaxCacheEntries)
      : select_(db,
                ("SELECT id, " + std::string(col) + " FROM " + table + " WHERE hash=? AND id>=?")
                    .c_str()),
        insert_(db, ("INSERT INTO " + table + "(id, hash, " + col + ") VALUES(?, ?, ?)").c_str()),
        db_(db),
        table_(table),
        is_text_(std::string(col) == "value"),
        max_cached_(max_cached) {}

  // Symbols are shared only within a symbol epoch (see Storage::Impl): rows
  // before `first_id` are not reused, new rows get ids from `first_id` on
  // (ids only ever grow, even when older epochs are deleted).
  void start_epoch(int64_t first_id) {
    first_id_ = first_id;
    cache_.clear(first_id);
    reload_next_id();
  }
  // After a rollback: the next id is what the table says.
  void reload_next_id() {
    next_id_ = std::max(first_id_,
                        db_.scalar_int(("SELECT coalesce(max(id), 0) + 1 FROM " + table_).c_str()));
  }
  int64_t next_id() const { return next_id_; }
  const std::string& table() const { return table_; }

  // Rows are cached by a 128-bit hash of their content — the content of
  // what they refer to, not its ids (see write_one) — so that a profile
  // whose symbols are all known needs no id of them but its stacks'.

  // The cached id of the row with content hash `h`, or 0.
  int64_t cached(const Hash128& h) const { return cache_.find(h); }
  // The ids of `n` content hashes into `out` (0 for those not cached), their
  // table slots prefetched a few keys ahead so that the cache misses overlap.
  void lookup(const Hash128* hs, size_t n, int64_t* out) const {
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < std::min(n, kAhead); ++i) cache_.prefetch(hs[i]);
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) cache_.prefetch(hs[i + kAhead]);
      out[i] = cache_.find(hs[i]);
    }
  }
  // The id of the row with stored key `key` and content hash `h`: found in
  // the table by the key's FNV-1a hash (and compared, so a collision there
  // only costs a row read), or inserted; then cached.
  int64_t resolve(std::string_view key, const Hash128& h) {
    if (int64_t id = cache_.find(h)) return id;
    if (cache_.size() >= max_cached_) cache_.clear(first_id_);
    auto hash = static_cast<int64_t>(fnv1a64(key));
    int64_t id = 0;
    select_.reset().bind(1, hash).bind(2, first_id_);
    while (select_.step()) {
      std::string_view stored = is_text_ ? select_.col_text(1) : select_.col_blob(1);
      if (stored == key) {
        id = select_.col_int(0);
        break;
      }
    }
    select_.reset();
    if (id == 0) {
      id = next_id_++;
      insert_.reset().bind(1, id).bind(2, hash);
      if (is_text_) {
        insert_.bind(3, key);
      } else {
        insert_.bind_blob(3, key);
      }
      insert_.run();
    }
    cache_.insert(h, id);  // (not cached past 2^32 ids in one epoch: looked up again)
    return id;
  }
  // A row whose content is its key (mappings: they refer to strings only by
  // content hash too, but are few): hash and resolve.
  int64_t id(std::string_view key) { return resolve(key, hash_bytes(key, process_hash_seed())); }
  void clear() { cache_.clear(first_id_); }
  size_t memory_bytes() const { return cache_.memory_bytes(); }
  size_t entries() const { return cache_.size(); }

 private:
  sql::Stmt select_, insert_;
  sql::Db& db_;
  std::string table_;
  bool is_text_;
  size_t max_cached_;
  int64_t first_id_ = 1, next_id_ = 1;
  IdTable cache_;
};

uint64_t file_size(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

class Storage::Impl {
 public:
  Impl(const StorageConfig& cfg, sql::Db db, StorageOptions options)
      : cfg_(cfg),
        db_(std::move(db)),
        strings_(db_, "strings", "value", kSmallCacheEntries),
        mappings_(db_, "mappings"),
        functions_(db_, "functions", "key", kSmallCacheEntries),
        locations_(db_, "locations"),
        stacks_(db_, "stacks"),
        label_sets_(db_, "label_sets"),
        series_select_(db_, "SELECT id FROM series WHERE labels=?"),
        series_insert_(db_, "INSERT INTO series(labels, name) VALUES(?, ?)"),
        profile_insert_(
            db_,
            "INSERT INTO profiles(series_id, ts, time_nanos, duration_nanos, period, "
            "header, samples, sample_count, wire_size, totals) VALUES(?,?,?,?,?,?,?,?,?,?)") {
    clock_ = options.clock ? options.clock : [] { return now_unix_nanos(); };
    epoch_length_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           options.symbol_epoch.count() > 0 ? options.symbol_epoch
                                                            : default_symbol_epoch(cfg.retention))
                           .count();
    load_epoch();
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

  bool append(std::vector<ProfileRecord>& records, std::string* error, uint64_t* ticket) {
    bool wake = false;
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        if (error) *error = "storage is shutting down";
        return false;
      }
      if (queue_.size() + records.size() > kMaxQueue) {
        stats_.rejected_queue_full += records.size();
        if (error) {
          *error = "storage write queue is full (" + std::to_string(kMaxQueue) +
                   " profiles waiting); the disk is too slow or failing";
        }
        return false;
      }
      if (queue_.empty()) first_queued_ = std::chrono::steady_clock::now();
      wake = queue_.empty() || queue_.size() + records.size() >= kMaxBatch;
      for (auto& r : records) {
        pending_bytes_.fetch_add(record_bytes(r), std::memory_order_relaxed);
        queue_.push_back(std::move(r));
      }
      wake = wake || pressed();
      enqueued_ += records.size();
      if (ticket) *ticket = enqueued_;
    }
    // The writer is woken by the first profile of a batch (it then waits out
    // the group window) and by a full batch; the rest just queue.
    if (wake) cv_.notify_all();
    return true;
  }

  bool wait_committed(uint64_t ticket, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    ++urgent_;  // someone waits: commit now, not at the end of the window
    cv_.notify_all();
    done_cv_.wait_for(lock, timeout, [&] { return committed_ >= ticket || writer_exited_; });
    --urgent_;
    return committed_ >= ticket;
  }

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    uint64_t target = enqueued_;
    ++urgent_;
    cv_.notify_all();
    bool done =
        done_cv_.wait_for(lock, timeout, [&] { return finished_ >= target || writer_exited_; });
    --urgent_;
    return done;
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

  // Half the decoded bytes at which scrapes stop decoding are queued: the
  // group window must not be what holds them back (at 1,000 services it did).
  bool pressed() const {
    return pending_bytes_.load(std::memory_order_relaxed) >= Storage::kSoftPendingBytes / 2;
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
    auto next_trim = next_limits + kTrimEvery;
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait_until(lock, std::min(next_limits, next_trim),
                     [&] { return stopping_ || !queue_.empty() || limits_requested_; });
      if (std::chrono::steady_clock::now() >= next_trim) {
        // Profiles are large and short-lived and pass between threads, so
        // glibc's per-thread arenas keep tens of MiB of freed memory they
        // never return; handing it back now and then keeps the RSS close to
        // what is in use.
        lock.unlock();
        malloc_trim(0);
        lock.lock();
        next_trim = std::chrono::steady_clock::now() + kTrimEvery;
      }
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
      // Group commit: wait for the window to close unless the batch is full,
      // someone waits for the commit or stoker is stopping.
      auto window_end = first_queued_ + kGroupWindow;
      auto go = [&] {
        return queue_.size() >= kMaxBatch || urgent_ || stopping_ || limits_requested_ ||
               pressed();
      };
      if (!go() && std::chrono::steady_clock::now() < window_end) {
        cv_.wait_until(lock, window_end, go);
      }
      std::vector<ProfileRecord> batch;
      while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      // What stays queued starts the next window now.
      first_queued_ = std::chrono::steady_clock::now();
      lock.unlock();
      const size_t n = batch.size();
      bool ok = write_batch(batch);
      if (ok) {
        size_t bytes = 0;
        for (const auto& r : batch) bytes += record_bytes(r);
        batch.clear();  // the memory goes now
        pending_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
      }
      lock.lock();
      if (ok) {
        stats_.symbol_cache_entries = 0;
        stats_.symbol_cache_bytes = 0;
        for (const Interner* in :
             {&strings_, &mappings_, &functions_, &locations_, &stacks_, &label_sets_}) {
          stats_.symbol_cache_entries += in->entries();
          stats_.symbol_cache_bytes += in->memory_bytes();
        }
        stats_.profiles_written += n;
        ++stats_.batches_committed;
        finished_ += n;
        committed_ += n;
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
          pending_bytes_.store(0, std::memory_order_relaxed);
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
      const bool forwarding = forward_.active();
      std::vector<ForwardEntry> committed;
      sql::Transaction tx(db_);
      maybe_start_epoch();
      const pprof::View* previous = nullptr;
      for (const auto& r : batch) {
        // The records of one split profile share its view: its symbols are
        // resolved once (the view is alive: the batch holds it).
        bool same = r.view && r.view.get() == previous;
        write_one(r, same);
        previous = r.view.get();
        if (forwarding) {
          committed.push_back({sqlite3_last_insert_rowid(db_.get()), r.scrape_time_ns,
                               std::make_shared<const Labels>(r.labels), r.forward_gzip});
        }
      }
      tx.commit();
      // Into the forward cache before the new id is published: an endpoint
      // that sees the id finds the profiles there.
      if (forwarding) forward_.put(std::move(committed));
      last_id_.store(sqlite3_last_insert_rowid(db_.get()), std::memory_order_release);
      return true;
    } catch (const std::exception& e) {
      // Ids cached during the rolled-back transaction no longer exist, nor
      // does an epoch it started.
      try {
        load_epoch();
      } catch (const std::exception&) {
        for (Interner* in : interners()) in->clear();
      }
      series_cache_.clear();
      type_rows_.clear();
      series_types_.clear();
      log::error(
          "storage", "writing profiles failed; will retry",
          {{"path", cfg_.path}, {"profiles", std::to_string(batch.size())}, {"err", e.what()}});
      return false;
    }
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

  // write_one's per-profile state: content hashes of every symbol, and the
  // row ids resolved so far (0: not yet).
  struct ProfileSymbols {
    const pprof::View* p = nullptr;
    const std::vector<Hash128>* str_hash = nullptr;
    std::vector<Hash128> own_hashes;               // when the view had none
    std::vector<int64_t> str_id;                   // -1: not resolved yet
    pprof::IdIndex<int64_t> mapping_id;            // row ids, all resolved up front
    pprof::IdIndex<uint32_t> fn_index, loc_index;  // pprof id → index + 1
    // The view's content hashes (View::symbol_hashes), or own ones for a
    // view that came without.
    const pprof::View::SymbolHashes* hashes = nullptr;
    pprof::View::SymbolHashes own_symbol_hashes;
    std::vector<int64_t> fn_id, loc_id;  // 0: not resolved yet
    int64_t span_key = -1;               // the string index of "span_id"
    std::vector<std::string> sanitized;  // label key index → series label name (lazily)
  };

  int64_t string_id(ProfileSymbols& ps, int64_t i) {
    if (i <= 0 || static_cast<size_t>(i) >= ps.str_id.size()) return 0;
    auto u = static_cast<size_t>(i);
    if (ps.str_id[u] < 0) {
      std::string_view text = ps.p->strings[u];
      ps.str_id[u] = text.empty() ? 0 : strings_.resolve(text, (*ps.str_hash)[u]);
    }
    return ps.str_id[u];
  }

  int64_t function_id(ProfileSymbols& ps, uint64_t pprof_id) {
    uint32_t k = ps.fn_index.get(pprof_id);
    if (k == 0) return 0;
    int64_t& id = ps.fn_id[k - 1];
    if (id == 0) {
      id = functions_.cached(ps.hashes->functions[k - 1]);
      if (id == 0) {
        const auto& f = ps.p->functions[k - 1];
        std::string key;
        enc::put_varint(key, static_cast<uint64_t>(string_id(ps, f.name)));
        enc::put_varint(key, static_cast<uint64_t>(string_id(ps, f.system_name)));
        enc::put_varint(key, static_cast<uint64_t>(string_id(ps, f.filename)));
        enc::put_svarint(key, f.start_line);
        id = functions_.resolve(key, ps.hashes->functions[k - 1]);
      }
    }
    return id;
  }

  int64_t location_id(ProfileSymbols& ps, uint64_t pprof_id) {
    uint32_t k = ps.loc_index.get(pprof_id);
    if (k == 0) return 0;
    int64_t& id = ps.loc_id[k - 1];
    if (id == 0) {
      id = locations_.cached(ps.hashes->locations[k - 1]);
      if (id == 0) {
        const auto& l = ps.p->locations[k - 1];
        std::string key;
        enc::put_varint(key,
                        l.mapping_id ? static_cast<uint64_t>(ps.mapping_id.get(l.mapping_id)) : 0);
        enc::put_varint(key, l.address);
        enc::put_varint(key, l.is_folded ? 1 : 0);
        enc::put_varint(key, l.line_count);
        for (uint32_t n = 0; n < l.line_count; ++n) {
          const auto& line = ps.p->lines[l.line_begin + n];
          enc::put_varint(key, static_cast<uint64_t>(function_id(ps, line.function_id)));
          enc::put_svarint(key, line.line);
          enc::put_svarint(key, line.column);
        }
        id = locations_.resolve(key, ps.hashes->locations[k - 1]);
      }
    }
    return id;
  }

  // Every symbol is looked up by a hash of its content, computed bottom-up
  // from the strings' bytes: a stack's hash from its locations', a location's
  // from its functions', a function's from its strings'. A stack already
  // stored is then found with one lookup, and the ids of its locations,
  // functions and strings are resolved only for stacks (and so on down) that
  // are new. A profile of known code costs a lookup per stack, not one per
  // string, function, location and stack.
  void write_one(const ProfileRecord& r, bool same_symbols) {
    std::shared_ptr<const pprof::View> converted;
    if (!r.view) converted = pprof::view_of(*r.profile);
    const pprof::View& p = r.view ? *r.view : *converted;
    ProfileSymbols& ps = symbols_;
    if (!same_symbols) prepare_symbols(p);
    const std::vector<Hash128>* hashes = ps.str_hash;
    auto sh = [&](int64_t i) {
      return i > 0 && static_cast<size_t>(i) < hashes->size() ? (*hashes)[static_cast<size_t>(i)]
                                                              : Hash128{};
    };
    write_rows(r, p, sh);
  }

  // Hashes and indexes the symbols of `p` for write_rows(); ids are resolved
  // lazily there.
  void prepare_symbols(const pprof::View& p) {
    ProfileSymbols& ps = symbols_;
    ps.p = &p;
    // Hashed once per profile (the delta may have done it already); a
    // converted profile is ours to hash.
    const std::vector<Hash128>* hashes = &p.string_hashes;
    if (p.string_hashes.size() != p.strings.size()) {
      pprof::View::hash_strings(p, &ps.own_hashes);
      hashes = &ps.own_hashes;
    }
    ps.str_hash = hashes;
    ps.str_id.assign(p.strings.size(), -1);
    ps.span_key = -1;
    ps.sanitized.clear();  // sized when a split record first needs it
    for (size_t i = 1; i < p.strings.size() && !p.labels.empty(); ++i) {
      if (p.strings[i] == "span_id") {
        ps.span_key = static_cast<int64_t>(i);
        break;
      }
    }
    ps.mapping_id.reset(p.mappings, [](const auto& m) { return m.id; });
    for (const auto& m : p.mappings) {
      std::string key;
      enc::put_varint(key, m.memory_start);
      enc::put_varint(key, m.memory_limit);
      enc::put_varint(key, m.file_offset);
      enc::put_varint(key, static_cast<uint64_t>(string_id(ps, m.filename)));
      enc::put_varint(key, static_cast<uint64_t>(string_id(ps, m.build_id)));
      enc::put_varint(key, (m.has_functions ? 1u : 0u) | (m.has_filenames ? 2u : 0u) |
                               (m.has_line_numbers ? 4u : 0u) | (m.has_inline_frames ? 8u : 0u));
      ps.mapping_id.set(m.id, mappings_.id(key));
    }
    ps.fn_index.reset(p.functions, [](const auto& f) { return f.id; });
    ps.fn_id.assign(p.functions.size(), 0);
    for (size_t k = 0; k < p.functions.size(); ++k) {
      ps.fn_index.set(p.functions[k].id, static_cast<uint32_t>(k + 1));
    }
    ps.loc_index.reset(p.locations, [](const auto& l) { return l.id; });
    ps.loc_id.assign(p.locations.size(), 0);
    for (size_t k = 0; k < p.locations.size(); ++k) {
      ps.loc_index.set(p.locations[k].id, static_cast<uint32_t>(k + 1));
    }
    // Content hashes: the ingest pipeline computed them off this thread.
    if (p.has_symbol_hashes()) {
      ps.hashes = &p.symbol_hashes;
    } else {
      pprof::View::hash_symbols(p, *hashes, &ps.own_symbol_hashes);
      ps.hashes = &ps.own_symbol_hashes;
    }
  }

  // Whether a split record's sample keeps string label `lab`: its series
  // carries it (under its sanitized name) with the same value.
  bool series_has(const ProfileRecord& r, const pprof::View& p, const pprof::View::Label& lab) {
    ProfileSymbols& ps = symbols_;
    auto k = static_cast<size_t>(lab.key);
    if (k >= p.strings.size()) return false;
    if (ps.sanitized.size() != p.strings.size()) ps.sanitized.assign(p.strings.size(), {});
    // series_carries(), with the sanitized name computed once per key.
    if (ps.sanitized[k].empty()) ps.sanitized[k] = sanitize_sample_label_name(p.str(lab.key));
    return !p.str(lab.str).empty() && r.labels.get(ps.sanitized[k]) == p.str(lab.str);
  }

  template <typename StringHash>
  void write_rows(const ProfileRecord& r, const pprof::View& p, StringHash sh) {
    ProfileSymbols& ps = symbols_;
    // The writer's block, reused from profile to profile (fresh vectors of
    // tens of KiB per profile were a third of the writer's page faults).
    SampleBlock& block = block_;
    block.clear();
    block.num_values = p.sample_types.size();
    const std::vector<uint32_t>* subset = r.samples.get();
    const size_t nsamples = subset ? subset->size() : p.samples.size();
    auto sample = [&](size_t i) -> const pprof::View::Sample& {
      return p.samples[subset ? (*subset)[i] : i];
    };
    // Stacks: hashed from their locations' hashes (summed per sample by the
    // ingest pipeline), looked up in one batch.
    hashes_.resize(nsamples);
    for (size_t i = 0; i < nsamples; ++i) {
      const size_t k = subset ? (*subset)[i] : i;
      hashes_[i] =
          HashMix(ps.hashes->frame_sums[k]).add(3).add(p.samples[k].loc_count).done();
    }
    block.stack_ids.resize(nsamples);
    stacks_.lookup(hashes_.data(), nsamples, block.stack_ids.data());
    std::string key;
    for (size_t i = 0; i < nsamples; ++i) {
      if (block.stack_ids[i]) continue;
      const auto& s = sample(i);
      key.clear();
      for (uint32_t k = 0; k < s.loc_count; ++k) {
        enc::put_varint(
            key, static_cast<uint64_t>(location_id(ps, p.sample_locations[s.loc_begin + k])));
      }
      block.stack_ids[i] = stacks_.resolve(key, hashes_[i]);
    }
    // Label sets, for the samples that have labels; span ids apart.
    block.label_set_ids.assign(nsamples, 0);
    std::vector<const pprof::View::Label*> kept;
    for (size_t i = 0; i < nsamples; ++i) {
      const auto& s = sample(i);
      if (s.label_count == 0) continue;
      kept.clear();
      for (uint32_t k = 0; k < s.label_count; ++k) {
        const auto& lab = p.labels[s.label_begin + k];
        if (lab.key == ps.span_key && lab.str != 0) {
          if (uint64_t span = parse_span_id(p.str(lab.str))) {
            if (block.span_ids.empty()) block.span_ids.assign(nsamples, 0);
            block.span_ids[i] = span;
            continue;
          }
        }
        if (r.split_labels && lab.str != 0 && !series_has(r, p, lab)) continue;
        kept.push_back(&lab);
      }
      if (kept.empty()) continue;
      HashMix h(4);
      for (const auto* lab : kept) {
        h.add(sh(lab->key))
            .add(sh(lab->str))
            .add(static_cast<uint64_t>(lab->num))
            .add(sh(lab->num_unit));
      }
      Hash128 lh = h.done();
      int64_t id = label_sets_.cached(lh);
      if (id == 0) {
        key.clear();
        for (const auto* labp : kept) {
          const auto& lab = *labp;
          enc::put_varint(key, static_cast<uint64_t>(string_id(ps, lab.key)));
          enc::put_varint(key, static_cast<uint64_t>(string_id(ps, lab.str)));
          enc::put_svarint(key, lab.num);
          enc::put_varint(key, static_cast<uint64_t>(string_id(ps, lab.num_unit)));
        }
        id = label_sets_.resolve(key, lh);
      }
      block.label_set_ids[i] = id;
    }
    block.values.resize(nsamples * block.num_values);
    for (size_t i = 0; i < nsamples; ++i) {
      std::copy_n(p.sample_values(sample(i)), block.num_values,
                  block.values.begin() + static_cast<std::ptrdiff_t>(i * block.num_values));
    }
    block.normalize(&block_scratch_);

    int64_t series = series_id(r.labels);
    // Each sample type is one Pyroscope profile type of this series; its total
    // goes next to the samples so that timelines need not inflate them.
    std::string name(r.labels.get("__name__"));
    std::string period_type(p.str(p.period_type.type));
    std::string period_unit(p.str(p.period_type.unit));
    ProfileTotals totals;
    for (size_t i = 0; i < p.sample_types.size(); ++i) {
      ProfileTypeId type{name, std::string(p.str(p.sample_types[i].type)),
                         std::string(p.str(p.sample_types[i].unit)), period_type, period_unit};
      int64_t row = type_row(series, type.id());
      int64_t sum = 0;
      for (size_t k = 0; k < block.rows(); ++k) sum += block.values[k * block.num_values + i];
      totals.emplace_back(row, sum);
    }

    ProfileHeader header;
    auto sid = [&](int64_t i) { return string_id(ps, i); };
    for (const auto& vt : p.sample_types)
      header.sample_types.emplace_back(sid(vt.type), sid(vt.unit));
    header.period_type = sid(p.period_type.type);
    header.period_unit = sid(p.period_type.unit);
    header.default_sample_type = sid(p.default_sample_type);
    header.drop_frames = sid(p.drop_frames);
    header.keep_frames = sid(p.keep_frames);
    header.doc_url = sid(p.doc_url);
    for (int64_t c : p.comments) header.comments.push_back(sid(c));

    profile_insert_.reset()
        .bind(1, series)
        .bind(2, r.scrape_time_ns)
        .bind(3, p.time_nanos)
        .bind(4, p.duration_nanos)
        .bind(5, p.period)
        .bind_blob(6, header.encode())
        .bind_blob(7, block.encode())
        .bind(8, static_cast<int64_t>(block.rows()))
        .bind(9, static_cast<int64_t>(r.wire_size))
        .bind_blob(10, encode_totals(totals));
    profile_insert_.run();
    // An unusually large profile does not keep its memory for the rest.
    if (block_.values.capacity() + block_scratch_.values.capacity() > (4u << 20) / sizeof(int64_t)) {
      block_ = SampleBlock();
      block_scratch_ = SampleBlock();
    }
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

  // --- Symbol epochs -------------------------------------------------------
  //
  // Symbols (strings, mappings, functions, locations, stacks, label sets) are
  // shared between profiles only within an epoch: a new epoch starts with
  // empty caches and looks up only its own rows, so every profile refers to
  // symbols of the epoch it was written in. An epoch none of whose profiles is
  // left (retention, max_size) is deleted whole, by id range. The store then
  // holds the symbols of the retained profiles plus at most one epoch, however
  // often the programs behind them change (deploys move addresses and rename
  // functions): without this, symbols would pile up forever.

  static Duration default_symbol_epoch(Duration retention) {
    using std::chrono::hours;
    if (retention.count() <= 0) return hours(24);
    return std::clamp<Duration>(retention / 4, hours(1), hours(24));
  }

  std::vector<Interner*> interners() {
    return {&strings_, &mappings_, &functions_, &locations_, &stacks_, &label_sets_};
  }

  // The newest epoch from the database (creating the first one if needed).
  void load_epoch() {
    sql::Stmt st(db_,
                 "SELECT epoch, started_ns, first_strings, first_mappings, first_functions, "
                 "first_locations, first_stacks, first_label_sets FROM symbol_epochs "
                 "ORDER BY epoch DESC LIMIT 1");
    if (!st.step()) throw sql::Error("no symbol epoch in the database", SQLITE_CORRUPT);
    epoch_ = st.col_int(0);
    epoch_started_ns_ = st.col_int(1);
    auto list = interners();
    for (size_t i = 0; i < list.size(); ++i)
      list[i]->start_epoch(st.col_int(static_cast<int>(i) + 2));
  }

  // Starts a new epoch when the current one is old enough (inside the batch's
  // transaction: a rollback undoes it).
  void maybe_start_epoch() {
    int64_t now = clock_();
    if (now < epoch_started_ns_) {
      // The clock went back (or the epoch was started by another clock):
      // count the epoch's age from now rather than never ending it.
      sql::Stmt up(db_, "UPDATE symbol_epochs SET started_ns = ? WHERE epoch = ?");
      up.bind(1, now).bind(2, epoch_);
      up.run();
      epoch_started_ns_ = now;
      return;
    }
    if (now - epoch_started_ns_ < epoch_length_ns_) return;
    int64_t first_profile = db_.scalar_int(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'profiles'), 0) + 1");
    sql::Stmt ins(db_,
                  "INSERT INTO symbol_epochs(epoch, started_ns, first_profile, first_strings, "
                  "first_mappings, first_functions, first_locations, first_stacks, "
                  "first_label_sets) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ins.bind(1, epoch_ + 1).bind(2, now).bind(3, first_profile);
    auto list = interners();
    for (size_t i = 0; i < list.size(); ++i) ins.bind(static_cast<int>(i) + 4, list[i]->next_id());
    ins.run();
    ++epoch_;
    epoch_started_ns_ = now;
    for (Interner* in : list) in->start_epoch(in->next_id());
    log::debug("storage", "new symbol epoch", {{"epoch", std::to_string(epoch_)}});
  }

  // Deletes the symbols of every epoch (but the current one) whose profiles
  // are all gone, a bounded number of rows per transaction. Returns the rows
  // deleted.
  int64_t collect_symbols() {
    struct Epoch {
      int64_t epoch, first_profile;
      std::vector<int64_t> first;  // per table, in interners() order
    };
    std::vector<Epoch> epochs;
    {
      sql::Stmt st(db_,
                   "SELECT epoch, first_profile, first_strings, first_mappings, first_functions, "
                   "first_locations, first_stacks, first_label_sets FROM symbol_epochs "
                   "ORDER BY epoch");
      while (st.step()) {
        Epoch e{st.col_int(0), st.col_int(1), {}};
        for (int i = 2; i < 8; ++i) e.first.push_back(st.col_int(i));
        epochs.push_back(std::move(e));
      }
    }
    int64_t deleted = 0;
    auto list = interners();
    for (size_t k = 0; k + 1 < epochs.size(); ++k) {
      const Epoch& e = epochs[k];
      const Epoch& next = epochs[k + 1];
      sql::Stmt alive(db_, "SELECT 1 FROM profiles WHERE id >= ? AND id < ? LIMIT 1");
      alive.bind(1, e.first_profile).bind(2, next.first_profile);
      if (alive.step()) continue;
      constexpr int64_t kChunk = 20000;
      int64_t rows = 0;
      for (size_t t = 0; t < list.size(); ++t) {
        for (int64_t lo = e.first[t]; lo < next.first[t]; lo += kChunk) {
          sql::Transaction tx(db_);
          sql::Stmt del(db_,
                        ("DELETE FROM " + list[t]->table() + " WHERE id >= ? AND id < ?").c_str());
          del.bind(1, lo).bind(2, std::min(lo + kChunk, next.first[t]));
          del.run();
          rows += sqlite3_changes(db_.get());
          tx.commit();
        }
      }
      deleted += rows;
      sql::Transaction tx(db_);
      sql::Stmt del(db_, "DELETE FROM symbol_epochs WHERE epoch = ?");
      del.bind(1, e.epoch);
      del.run();
      tx.commit();
      log::info("storage", "deleted the symbols of an epoch without profiles",
                {{"epoch", std::to_string(e.epoch)}, {"rows", std::to_string(rows)}});
    }
    return deleted;
  }

  // Profiles waiting in the forward cache that limits just deleted are not
  // forwarded either (they were counted as dropped).
  void forget_deleted_forwards() {
    auto entries = forward_.after(0, SIZE_MAX, SIZE_MAX);
    if (entries.empty()) return;
    sql::Stmt st(db_, "SELECT id FROM profiles WHERE id BETWEEN ? AND ?");
    st.bind(1, entries.front().id).bind(2, entries.back().id);
    std::set<int64_t> present;
    while (st.step()) present.insert(st.col_int(0));
    std::vector<int64_t> gone;
    for (const auto& e : entries) {
      if (!present.count(e.id)) gone.push_back(e.id);
    }
    forward_.erase(gone);
  }

  void enforce_limits() {
    try {
      int64_t deleted_age = 0, deleted_size = 0;
      if (cfg_.retention.count() > 0) {
        int64_t cutoff = clock_() - cfg_.retention.count() * 1'000'000LL;
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
          if (used > static_cast<int64_t>(cfg_.max_size) && collect_symbols() > 0) continue;
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
      int64_t collected = collect_symbols();
      if (deleted_age || deleted_size) {
        forget_deleted_forwards();
        db_.exec("PRAGMA wal_checkpoint(PASSIVE)");
        std::lock_guard lock(mu_);
        stats_.deleted_by_retention += static_cast<uint64_t>(deleted_age);
        stats_.deleted_by_size += static_cast<uint64_t>(deleted_size);
        log::info(
            "storage", "deleted old profiles",
            {{"by_age", std::to_string(deleted_age)}, {"by_size", std::to_string(deleted_size)}});
      }
      if (collected > 0) {
        std::lock_guard lock(mu_);
        stats_.symbols_collected += static_cast<uint64_t>(collected);
      }
    } catch (const std::exception& e) {
      log::error("storage", "enforcing retention failed", {{"path", cfg_.path}, {"err", e.what()}});
    }
  }

 public:
  int64_t last_id() const { return last_id_.load(std::memory_order_acquire); }
  size_t pending_bytes() const { return pending_bytes_.load(std::memory_order_relaxed); }

 private:
  static size_t record_bytes(const ProfileRecord& r) {
    size_t n = sizeof(ProfileRecord);
    if (r.view) n += r.view->memory_bytes();
    if (r.profile) n += r.profile->SpaceUsedLong();
    if (r.forward_gzip) n += r.forward_gzip->capacity();
    return n;
  }

 public:
  ForwardCache& forward_cache() { return forward_; }

 private:
  StorageConfig cfg_;
  sql::Db db_;
  Interner strings_, mappings_, functions_, locations_, stacks_, label_sets_;
  sql::Stmt series_select_, series_insert_, profile_insert_;
  std::unordered_map<std::string, int64_t> series_cache_;
  std::unordered_map<std::string, int64_t> type_rows_;
  std::set<std::pair<int64_t, int64_t>> series_types_;  // (series, type row) linked
  // Scratch space of write_one, kept between profiles.
  ProfileSymbols symbols_;
  std::vector<Hash128> hashes_;
  SampleBlock block_, block_scratch_;  // write_rows()'s, reused

  mutable std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<ProfileRecord> queue_;
  // Profiles queued, finished (committed or given up at shutdown) and
  // committed; the queue is FIFO, so ticket N is committed once committed_ >= N.
  uint64_t enqueued_ = 0, finished_ = 0, committed_ = 0;
  int failures_ = 0;
  bool stopping_ = false, writer_exited_ = false, limits_requested_ = false;
  int urgent_ = 0;  // threads in wait_committed() / flush()
  std::chrono::steady_clock::time_point first_queued_;  // the batch's first profile
  StorageStats stats_;
  std::atomic<int64_t> last_id_{0};  // id of the newest committed profile
  std::atomic<size_t> pending_bytes_{0};
  ForwardCache forward_;
  std::function<int64_t()> clock_;
  int64_t epoch_ = 0, epoch_started_ns_ = 0, epoch_length_ns_ = 0;
  std::thread writer_;
};

Storage::Storage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Storage::~Storage() = default;

Result<std::unique_ptr<Storage>> Storage::open(const StorageConfig& cfg, StorageOptions options) {
  try {
    sql::Db db = schema::open_for_write(cfg.path);
    return std::unique_ptr<Storage>(
        new Storage(std::make_unique<Impl>(cfg, std::move(db), std::move(options))));
  } catch (const std::exception& e) {
    return Status::internal(e.what());
  }
}

Status Storage::append(ProfileRecord record) {
  std::vector<ProfileRecord> one;
  one.push_back(std::move(record));
  std::string err;
  if (!impl_->append(one, &err, nullptr)) return Status::unavailable(err);
  return Status();
}
Result<uint64_t> Storage::append_all(std::vector<ProfileRecord> records) {
  std::string err;
  uint64_t ticket = 0;
  if (!impl_->append(records, &err, &ticket)) return Status::unavailable(err);
  return ticket;
}
bool Storage::wait_committed(uint64_t ticket, std::chrono::milliseconds timeout) {
  return impl_->wait_committed(ticket, timeout);
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
size_t Storage::pending_bytes() const {
  return impl_->pending_bytes();
}
int64_t Storage::last_committed_id() const {
  return impl_->last_id();
}
ForwardCache& Storage::forward_cache() {
  return impl_->forward_cache();
}

}  // namespace stoker
