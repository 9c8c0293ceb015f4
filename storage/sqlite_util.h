// Thin RAII wrappers over sqlite3 handles and prepared statements.
//
// Db owns a connection; Stmt owns a prepared statement and resets itself on
// rebind. Neither is thread-safe: each thread uses its own connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace stoker::sql {

// Thrown for unexpected SQLite failures; callers at module boundaries turn it
// into an error value with the message.
class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class Db {
 public:
  Db() = default;
  ~Db();
  Db(Db&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Db& operator=(Db&& o) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Opens `path`; `readonly` opens without creating. Throws Error.
  void open(const std::string& path, bool readonly);
  void exec(const char* sql);
  int64_t scalar_int(const char* sql);
  sqlite3* get() const { return db_; }
  std::string errmsg() const { return db_ ? sqlite3_errmsg(db_) : "not open"; }

 private:
  sqlite3* db_ = nullptr;
};

class Stmt {
 public:
  Stmt() = default;
  Stmt(const Db& db, const char* sql);
  ~Stmt();
  Stmt(Stmt&& o) noexcept : st_(o.st_), db_(o.db_) { o.st_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& reset();
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, std::string_view text);
  Stmt& bind_blob(int i, std::string_view blob);
  Stmt& bind_null(int i);
  // Steps once; returns true when a row is available.
  bool step();
  // Runs a statement that returns no rows.
  void run() {
    step();
    reset();
  }
  int64_t col_int(int i) const { return sqlite3_column_int64(st_, i); }
  std::string_view col_text(int i) const;
  std::string_view col_blob(int i) const;
  bool col_null(int i) const { return sqlite3_column_type(st_, i) == SQLITE_NULL; }

 private:
  sqlite3_stmt* st_ = nullptr;
  sqlite3* db_ = nullptr;
};

// Runs `sql` inside BEGIN IMMEDIATE / COMMIT; rolls back on exception.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  void commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace stoker::sql
