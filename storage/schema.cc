#include "storage/schema.h"

#include <filesystem>
#include <vector>

#include "model/profile_type.h"
#include "storage/profile_header.h"
#include "storage/storage.h"

namespace stoker::schema {
namespace {

constexpr int64_t kApplicationId = 0x53544b52;  // "STKR"

void backfill_series_types(sql::Db& db);

struct Migration {
  const char* sql;
  void (*after)(sql::Db&);  // data a statement cannot derive; may be null
};

// Each entry migrates from version i to i+1, in one transaction.
const Migration kMigrations[] = {
    {
        R"sql(
-- Deduplicated symbols: looked up by a 64-bit FNV-1a hash of the key (an 8-byte
-- index entry instead of a copy of the key), the key compared on every hit.
CREATE TABLE strings(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, value TEXT NOT NULL);
CREATE TABLE mappings(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, key BLOB NOT NULL);
CREATE TABLE functions(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, key BLOB NOT NULL);
CREATE TABLE locations(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, key BLOB NOT NULL);
CREATE TABLE stacks(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, key BLOB NOT NULL);
CREATE TABLE label_sets(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL, key BLOB NOT NULL);
CREATE INDEX strings_hash ON strings(hash);
CREATE INDEX mappings_hash ON mappings(hash);
CREATE INDEX functions_hash ON functions(hash);
CREATE INDEX locations_hash ON locations(hash);
CREATE INDEX stacks_hash ON stacks(hash);
CREATE INDEX label_sets_hash ON label_sets(hash);
CREATE TABLE series(
  id INTEGER PRIMARY KEY,
  labels TEXT NOT NULL UNIQUE,   -- canonical {a="b", ...}
  name TEXT NOT NULL             -- __name__, the profile type
);
CREATE TABLE profiles(
  id INTEGER PRIMARY KEY,
  series_id INTEGER NOT NULL REFERENCES series(id),
  ts INTEGER NOT NULL,           -- scrape time, ns since epoch
  time_nanos INTEGER NOT NULL,
  duration_nanos INTEGER NOT NULL,
  period INTEGER NOT NULL,
  header BLOB NOT NULL,          -- string ids: sample types, period type, defaults
  samples BLOB NOT NULL,         -- compressed columnar (stack, label set, values)
  sample_count INTEGER NOT NULL,
  wire_size INTEGER NOT NULL     -- bytes received from the target
);
CREATE INDEX profiles_series_ts ON profiles(series_id, ts);
CREATE INDEX profiles_ts ON profiles(ts);
)sql",
        nullptr},
    {R"sql(
-- v2: the outbox. Profile ids become AUTOINCREMENT so they are never reused,
-- even after retention deletes every profile: delivery cursors rely on it.
CREATE TABLE profiles_v2(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  series_id INTEGER NOT NULL REFERENCES series(id),
  ts INTEGER NOT NULL,
  time_nanos INTEGER NOT NULL,
  duration_nanos INTEGER NOT NULL,
  period INTEGER NOT NULL,
  header BLOB NOT NULL,
  samples BLOB NOT NULL,
  sample_count INTEGER NOT NULL,
  wire_size INTEGER NOT NULL
);
INSERT INTO profiles_v2 SELECT * FROM profiles;
DROP TABLE profiles;
ALTER TABLE profiles_v2 RENAME TO profiles;
CREATE INDEX profiles_series_ts ON profiles(series_id, ts);
CREATE INDEX profiles_ts ON profiles(ts);
-- One row per remote_write endpoint. Profiles are delivered in id (commit)
-- order; every profile with id <= delivered_id has been delivered or set aside.
CREATE TABLE outbox_endpoints(
  name TEXT PRIMARY KEY,
  delivered_id INTEGER NOT NULL,
  dropped INTEGER NOT NULL DEFAULT 0,   -- undelivered profiles deleted by retention/max_size
  created_ns INTEGER NOT NULL
);
-- Profiles an endpoint rejected permanently (or whose retries ran out).
CREATE TABLE outbox_set_aside(
  id INTEGER PRIMARY KEY,
  endpoint TEXT NOT NULL,
  profile_id INTEGER NOT NULL,
  ts INTEGER NOT NULL,        -- the profile's scrape time
  series TEXT NOT NULL,       -- its labels, kept after the profile itself is deleted
  at_ns INTEGER NOT NULL,
  status INTEGER NOT NULL,    -- HTTP status; 0 for network errors
  error TEXT NOT NULL
);
CREATE INDEX outbox_set_aside_endpoint ON outbox_set_aside(endpoint, id);
)sql",
     nullptr},
    {R"sql(
-- v3: the read side. Pyroscope's profile types
-- (name:sample_type:sample_unit:period_type:period_unit), which series hold
-- which, and per-profile totals keyed by type so that timelines read an index
-- instead of inflating sample blocks. Profiles stored before v3 keep NULL totals
-- (the query engine computes them from the samples).
CREATE TABLE profile_types(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE series_types(
  id INTEGER PRIMARY KEY,
  series_id INTEGER NOT NULL,
  type_id INTEGER NOT NULL,
  UNIQUE(series_id, type_id)
);
ALTER TABLE profiles ADD COLUMN totals BLOB;
DROP INDEX profiles_series_ts;
CREATE INDEX profiles_series_ts ON profiles(series_id, ts, totals);
)sql",
     backfill_series_types},
    {R"sql(
-- v4: symbol epochs. Symbols are shared between the profiles of one epoch
-- only; profiles with ids from first_profile (up to the next epoch's) use the
-- symbol rows with ids from the first_* of their epoch. An epoch whose
-- profiles are all gone is deleted with its symbols. Everything stored before
-- v4 is epoch 1.
CREATE TABLE symbol_epochs(
  epoch INTEGER PRIMARY KEY,
  started_ns INTEGER NOT NULL,
  first_profile INTEGER NOT NULL,
  first_strings INTEGER NOT NULL,
  first_mappings INTEGER NOT NULL,
  first_functions INTEGER NOT NULL,
  first_locations INTEGER NOT NULL,
  first_stacks INTEGER NOT NULL,
  first_label_sets INTEGER NOT NULL
);
INSERT INTO symbol_epochs VALUES(1, CAST(unixepoch('now') AS INTEGER) * 1000000000, 1, 1, 1, 1, 1, 1, 1);
)sql",
     nullptr},
};

// The profile types of every (series, distinct header) already stored.
void backfill_series_types(sql::Db& db) {
  sql::Stmt st(db,
               "SELECT p.series_id, s.name, p.header FROM profiles p JOIN series s ON s.id = "
               "p.series_id GROUP BY p.series_id, p.header");
  sql::Stmt str(db, "SELECT value FROM strings WHERE id = ?");
  auto text = [&](int64_t id) {
    if (id == 0) return std::string();
    str.reset().bind(1, id);
    std::string v = str.step() ? std::string(str.col_text(0)) : std::string();
    str.reset();
    return v;
  };
  std::vector<std::pair<int64_t, std::string>> links;
  while (st.step()) {
    ProfileHeader h;
    if (!ProfileHeader::decode(st.col_blob(2), &h)) continue;
    std::string name(st.col_text(1));
    for (const auto& [t, u] : h.sample_types) {
      ProfileTypeId id{name, text(t), text(u), text(h.period_type), text(h.period_unit)};
      links.emplace_back(st.col_int(0), id.id());
    }
  }
  for (const auto& [series, id] : links) link_series_type(db, series, profile_type_row(db, id));
}

void check_app_id(sql::Db& db, const std::string& path) {
  int64_t app = db.scalar_int("PRAGMA application_id");
  int64_t tables = db.scalar_int("SELECT count(*) FROM sqlite_master");
  if (app != kApplicationId && !(app == 0 && tables == 0)) {
    throw sql::Error(path + " is an SQLite database but not a stoker store (application_id " +
                         std::to_string(app) + ")",
                     SQLITE_MISMATCH);
  }
  int64_t version = db.scalar_int("PRAGMA user_version");
  if (version > kSchemaVersion) {
    throw sql::Error(path + " was written by a newer stoker (schema v" + std::to_string(version) +
                         ", this build knows v" + std::to_string(kSchemaVersion) + ")",
                     SQLITE_MISMATCH);
  }
}

std::string describe(const std::string& path, const sql::Error& e) {
  int primary = e.code() & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    return path + " is not a valid stoker database (corrupt or another kind of file): " + e.what();
  }
  if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_PERM ||
      primary == SQLITE_IOERR) {
    return "cannot open " + path + " for writing: " + e.what() +
           " (check that the directory exists and is writable)";
  }
  if (primary == SQLITE_MISMATCH) return e.what();
  return path + ": " + e.what();
}

}  // namespace

sql::Db open_for_write(const std::string& path) {
  try {
    std::filesystem::path p(path);
    if (p.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(p.parent_path(), ec);
      if (ec) {
        throw sql::Error(
            "cannot create directory " + p.parent_path().string() + ": " + ec.message(),
            SQLITE_CANTOPEN);
      }
    }
    sql::Db db;
    db.open(path, false);
    check_app_id(db, path);
    // A new database gets 16 KiB pages (SQLite's default is 4 KiB): a stored
    // profile is some KiB of sample blocks and index entries, and each WAL
    // frame is written (and checkpointed) with its own syscalls, so larger
    // pages take a quarter of the writes per profile (BENCHMARKS.md, the
    // kernel's share). No effect on an existing database.
    db.exec("PRAGMA page_size=16384");
    {
      sql::Stmt mode(db, "PRAGMA journal_mode=WAL");
      if (!mode.step() || mode.col_text(0) != "wal") {
        throw sql::Error("cannot switch to WAL mode", SQLITE_IOERR);
      }
    }
    db.exec("PRAGMA synchronous=NORMAL");
    // Checkpoint when the WAL holds 4096 pages (64 MiB of 16 KiB pages)
    // rather than SQLite's 1000: the index and symbol pages every commit
    // rewrites are then copied into the database once per 64 MiB instead of
    // once per 16 MiB (BENCHMARKS.md, the kernel's share, third step). Every
    // writing connection sets it: any of them may run the checkpoint.
    db.exec("PRAGMA wal_autocheckpoint=4096");
    db.exec("PRAGMA foreign_keys=OFF");
    int64_t version = db.scalar_int("PRAGMA user_version");
    for (int64_t v = version; v < kSchemaVersion; ++v) {
      sql::Transaction tx(db);
      db.exec(kMigrations[v].sql);
      if (kMigrations[v].after) kMigrations[v].after(db);
      db.exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
      db.exec(("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str());
      tx.commit();
    }
    return db;
  } catch (const sql::Error& e) {
    throw sql::Error(describe(path, e), e.code());
  }
}

sql::Db open_for_read(const std::string& path) {
  if (!std::filesystem::exists(path)) {
    throw sql::Error("no database at " + path + " (run stoker first, or pass --storage.path)",
                     SQLITE_CANTOPEN);
  }
  try {
    sql::Db db;
    db.open(path, true);
    check_app_id(db, path);
    if (db.scalar_int("PRAGMA user_version") < 1) {
      throw sql::Error(path + " is empty: no stoker schema", SQLITE_MISMATCH);
    }
    return db;
  } catch (const sql::Error& e) {
    int primary = e.code() & 0xff;
    if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
      throw sql::Error(describe(path, e), e.code());
    throw;
  }
}

int64_t profile_type_row(sql::Db& db, const std::string& id) {
  sql::Stmt ins(db, "INSERT OR IGNORE INTO profile_types(name) VALUES(?)");
  ins.bind(1, std::string_view(id));
  ins.run();
  sql::Stmt sel(db, "SELECT id FROM profile_types WHERE name = ?");
  sel.bind(1, std::string_view(id));
  if (!sel.step()) throw sql::Error("profile type " + id + " vanished", SQLITE_INTERNAL);
  return sel.col_int(0);
}

void link_series_type(sql::Db& db, int64_t series_id, int64_t type_row) {
  sql::Stmt ins(db, "INSERT OR IGNORE INTO series_types(series_id, type_id) VALUES(?, ?)");
  ins.bind(1, series_id).bind(2, type_row);
  ins.run();
}

}  // namespace stoker::schema
