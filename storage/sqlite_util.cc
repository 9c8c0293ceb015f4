#include "storage/sqlite_util.h"

#include "storage/wal_vfs.h"

namespace stoker::sql {

Db::~Db() {
  if (db_) sqlite3_close_v2(db_);
}

Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close_v2(db_);
    db_ = o.db_;
    o.db_ = nullptr;
  }
  return *this;
}

namespace {
// Process-wide, before the first connection: no memory statistics (they take a
// global mutex on every allocation SQLite makes).
const bool kConfigured = [] {
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  return true;
}();
}  // namespace

void Db::open(const std::string& path, bool readonly) {
  (void)kConfigured;
  int flags = readonly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  sqlite3* db = nullptr;
  // Writers gather a transaction's WAL frames into few writes (wal_vfs.h).
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, readonly ? nullptr : wal_coalescing_vfs());
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db) sqlite3_close_v2(db);
    throw Error(msg, rc);
  }
  if (db_) sqlite3_close_v2(db_);
  db_ = db;
  sqlite3_busy_timeout(db_, 5000);
  sqlite3_extended_result_codes(db_, 1);
}

void Db::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(msg, rc);
  }
}

int64_t Db::scalar_int(const char* sql) {
  Stmt st(*this, sql);
  return st.step() ? st.col_int(0) : 0;
}

Stmt::Stmt(const Db& db, const char* sql) : db_(db.get()) {
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st_, nullptr);
  if (rc != SQLITE_OK) throw Error(std::string(sqlite3_errmsg(db_)) + " in: " + sql, rc);
}

Stmt::~Stmt() {
  if (st_) sqlite3_finalize(st_);
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (st_) sqlite3_finalize(st_);
    st_ = o.st_;
    db_ = o.db_;
    o.st_ = nullptr;
  }
  return *this;
}

Stmt& Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
  return *this;
}

Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(st_, i, v);
  return *this;
}

Stmt& Stmt::bind(int i, std::string_view text) {
  sqlite3_bind_text(st_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::string_view blob) {
  sqlite3_bind_blob(st_, i, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(st_, i);
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(st_);
  throw Error(msg, rc);
}

std::string_view Stmt::col_text(int i) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, i));
  return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(st_, i)))
           : std::string_view();
}

std::string_view Stmt::col_blob(int i) const {
  auto* p = static_cast<const char*>(sqlite3_column_blob(st_, i));
  return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(st_, i)))
           : std::string_view();
}

Transaction::Transaction(Db& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace stoker::sql
