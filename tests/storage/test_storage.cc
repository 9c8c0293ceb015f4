#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <catch2/catch.hpp>

#include <cstring>
#include <set>

#include "model/encoding.h"
#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "storage/forward_cache.h"
#include "storage/id_table.h"
#include "storage/reader.h"
#include "storage/sample_block.h"
#include "storage/storage.h"
#include "storage/sqlite_util.h"
#include "storage/wal_vfs.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"

using namespace stoker;
using test::TempDir;

namespace {

// Scrape times near now: retention (7 days by default) runs whenever a store opens.
const int64_t kNow = now_unix_nanos();

const std::vector<std::pair<std::string, std::string>> kHeapTypes = {{"alloc_objects", "count"},
                                                                     {"alloc_space", "bytes"},
                                                                     {"inuse_objects", "count"},
                                                                     {"inuse_space", "bytes"}};

perftools::profiles::Profile heap(int64_t scale, int64_t t = 1'700'000'000'000'000'000) {
  return test::make_profile(
      kHeapTypes,
      {{{"malloc", "main.alloc", "main.main"}, {1 * scale, 64 * scale, 1, 64}, {}, 64},
       {{"malloc", "main.other", "main.main"}, {2 * scale, 256 * scale, 0, 0}, {}, 128},
       {{"main.main"}, {3, 300, 3, 300}, {{"handler", "/api"}}, 0}},
      t);
}

std::unique_ptr<Storage> open_store(const std::string& path) {
  StorageConfig cfg;
  cfg.path = path;
  auto s = test::must(Storage::open(cfg));
  REQUIRE(s);
  return s;
}

// `ts` is an offset from kNow.
void append(Storage& s, const Labels& labels, const perftools::profiles::Profile& p, int64_t ts) {
  ProfileRecord r;
  r.labels = labels;
  r.scrape_time_ns = kNow + ts;
  r.profile = std::make_shared<perftools::profiles::Profile>(p);
  r.wire_size = pprof::encode_gzip(p).size();
  REQUIRE(s.append(std::move(r)).ok());
}

int64_t count_rows(const std::string& path, const char* table) {
  sqlite3* db;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st;
  sqlite3_prepare_v2(db, (std::string("SELECT count(*) FROM ") + table).c_str(), -1, &st, nullptr);
  sqlite3_step(st);
  int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

Selector sel(const std::string& s) {
  auto out = Selector::parse(s);
  REQUIRE(out);
  return *out;
}

}  // namespace

namespace {
// A WAL-mode database with 16 KiB pages, as the store's.
void open_wal_db(sql::Db& db, const std::string& path) {
  db.open(path, false);
  db.exec("PRAGMA page_size=16384");
  sql::Stmt(db, "PRAGMA journal_mode=WAL").step();
  db.exec("PRAGMA synchronous=NORMAL");
  db.exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)");
}
void insert_rows(sql::Db& db, int n, int bytes) {
  sql::Stmt ins(db, "INSERT INTO t(v) VALUES(randomblob(?))");
  for (int i = 0; i < n; ++i) ins.reset().bind(1, int64_t{bytes}).run();
}
}  // namespace

TEST_CASE("the WAL is written in few writes and every commit is in the file when it returns",
          "[storage]") {
  TempDir dir;
  const std::string path = dir.file("wal.db");
  sql::Db writer;
  open_wal_db(writer, path);
  sql::Db reader;
  reader.open(path, true);  // another connection, the default VFS
  const auto before = sql::wal_vfs_stats();
  int64_t expected = 0;
  for (int tx = 0; tx < 40; ++tx) {
    writer.exec("BEGIN");
    insert_rows(writer, 12, 3000);
    writer.exec("COMMIT");
    expected += 12;
    // Visible to another connection as soon as the commit returns.
    REQUIRE(reader.scalar_int("SELECT count(*) FROM t") == expected);
  }
  const auto after = sql::wal_vfs_stats();
  const uint64_t in = after.writes_in - before.writes_in;
  const uint64_t out = after.writes_out - before.writes_out;
  INFO("SQLite's WAL writes " << in << ", passed on " << out);
  CHECK(in >= 40 * 2 * 2);  // every commit is at least two frames of two writes each
  CHECK(out * 4 <= in);

  // A transaction larger than the buffer (and than SQLite's page cache, which
  // spills frames and reads them back), one rolled back, one that rewrites
  // pages of its own frames.
  writer.exec("BEGIN");
  insert_rows(writer, 3000, 3000);
  writer.exec("COMMIT");
  expected += 3000;
  writer.exec("BEGIN");
  insert_rows(writer, 2000, 3000);
  writer.exec("ROLLBACK");
  writer.exec("BEGIN");
  insert_rows(writer, 50, 3000);
  writer.exec("UPDATE t SET v = randomblob(100) WHERE id % 7 = 0");
  insert_rows(writer, 50, 3000);
  writer.exec("COMMIT");
  expected += 100;
  CHECK(reader.scalar_int("SELECT count(*) FROM t") == expected);
  writer.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  insert_rows(writer, 5, 3000);  // a new WAL from its header on
  expected += 5;
  CHECK(reader.scalar_int("SELECT count(*) FROM t") == expected);

  // A process that dies right after a commit keeps it; one that dies in a
  // transaction leaves the database as it was. (No connection is open across
  // fork(): SQLite's per-process lock state must not be shared.)
  reader = sql::Db();
  writer = sql::Db();
  for (bool commit : {true, false}) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      sql::Db child;
      child.open(path, false);
      child.exec("BEGIN");
      insert_rows(child, 200, 3000);
      if (commit) child.exec("COMMIT");
      _exit(0);  // no close: nothing the VFS held back is written now
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    if (commit) expected += 200;
    sql::Db after_child;
    after_child.open(path, true);
    CHECK(after_child.scalar_int("SELECT count(*) FROM t") == expected);
  }
  sql::Db reopened;
  reopened.open(path, false);
  CHECK(reopened.scalar_int("SELECT count(*) FROM t") == expected);
  sql::Stmt check(reopened, "PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.col_text(0) == "ok");
}

TEST_CASE("the id table finds what it holds and grows shard by shard", "[storage]") {
  // splitmix64: well-spread hashes, reproducible.
  uint64_t state = 42;
  auto next = [&] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  IdTable table(1000);
  std::vector<Hash128> keys;
  for (int i = 0; i < 200000; ++i) keys.push_back(Hash128{next(), next()});
  for (size_t i = 0; i < keys.size(); ++i) REQUIRE(table.insert(keys[i], 1000 + int64_t(i)));
  CHECK(table.size() == keys.size());
  size_t wrong = 0;
  for (size_t i = 0; i < keys.size(); ++i) wrong += table.find(keys[i]) != 1000 + int64_t(i);
  CHECK(wrong == 0);
  // Absent keys, also ones sharing the first half or the shard of a present key.
  CHECK(table.find(Hash128{next(), next()}) == 0);
  CHECK(table.find(Hash128{keys[7].a, keys[7].b ^ (uint64_t{1} << 40)}) == 0);
  CHECK(table.find(Hash128{keys[7].a ^ 1, keys[7].b}) == 0);
  // Every shard holds between 40 % and 80 % of its slots once grown.
  CHECK(table.memory_bytes() <= keys.size() * 16 * 10 / 4 + 16 * 1024);
  CHECK(table.memory_bytes() >= keys.size() * 16 * 10 / 8);
  // Keys that all land in one shard still resolve.
  IdTable one(1);
  for (uint64_t i = 0; i < 5000; ++i) REQUIRE(one.insert(Hash128{i * 7919, i}, int64_t(i) + 1));
  wrong = 0;
  for (uint64_t i = 0; i < 5000; ++i) wrong += one.find(Hash128{i * 7919, i}) != int64_t(i) + 1;
  CHECK(wrong == 0);
  // Ids too far past the base are refused; clear() frees and rebases.
  CHECK(table.full(999));
  CHECK(table.full(1000 + int64_t{UINT32_MAX}));
  CHECK_FALSE(table.insert(Hash128{1, 2}, 999));
  table.clear(5000000);
  CHECK(table.size() == 0);
  CHECK(table.memory_bytes() == 0);
  CHECK(table.find(keys[0]) == 0);
  REQUIRE(table.insert(keys[0], 5000001));
  CHECK(table.find(keys[0]) == 5000001);
}

TEST_CASE("the id table's large shards are zeroed and huge-page aligned", "[storage]") {
  for (size_t bytes : {size_t{4096}, size_t{1} << 20, size_t{2} << 20, size_t{8} << 20}) {
    INFO(bytes);
    auto* p = static_cast<unsigned char*>(id_table_alloc(bytes));
    REQUIRE(p != nullptr);
    if (bytes >= (size_t{2} << 20)) CHECK(reinterpret_cast<uintptr_t>(p) % (size_t{2} << 20) == 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes; i += 512) nonzero += p[i] != 0 || p[bytes - 1 - i] != 0;
    CHECK(nonzero == 0);
    std::memset(p, 0xab, bytes);  // all of it is writable
    id_table_free(p, bytes);
  }
  // A table whose shards grow past 2 MiB (4 shards × 2^19 slots) still finds
  // every key, and nothing else.
  IdTable big(1);
  const uint64_t n = 1'300'000;
  for (uint64_t i = 0; i < n; ++i) {
    REQUIRE(big.insert(Hash128{(i + 1) * 0x9e3779b97f4a7c15ULL, i}, int64_t(i) + 1));
  }
  CHECK(big.memory_bytes() >= (size_t{16} << 20));
  size_t wrong = 0;
  for (uint64_t i = 0; i < n; ++i) {
    wrong += big.find(Hash128{(i + 1) * 0x9e3779b97f4a7c15ULL, i}) != int64_t(i) + 1;
  }
  CHECK(wrong == 0);
  CHECK(big.find(Hash128{(n + 1) * 0x9e3779b97f4a7c15ULL, n}) == 0);
}

TEST_CASE("sample blocks round-trip and merge duplicates", "[storage]") {
  SampleBlock b;
  b.num_values = 2;
  b.stack_ids = {5, 2, 5, 9};
  b.label_set_ids = {0, 1, 0, 0};
  b.values = {1, 10, 2, 20, 3, 30, -4, 40};
  b.normalize();
  CHECK(b.stack_ids == std::vector<int64_t>{2, 5, 9});
  CHECK(b.values == std::vector<int64_t>{2, 20, 4, 40, -4, 40});
  SampleBlock back;
  REQUIRE(SampleBlock::decode(b.encode(), 2, &back).ok());
  CHECK(back.stack_ids == b.stack_ids);
  CHECK(back.label_set_ids == b.label_set_ids);
  CHECK(back.values == b.values);
  std::string enc = b.encode();
  CHECK_FALSE(SampleBlock::decode(enc.substr(0, enc.size() - 2), 2, &back).ok());
  CHECK_FALSE(SampleBlock::decode("garbage", 2, &back).ok());
  // With a scratch block reused across blocks (the writer's way): the same
  // result each time, also for a block with span ids after one without.
  SampleBlock scratch;
  for (int round = 0; round < 2; ++round) {
    SampleBlock c;
    c.num_values = 2;
    c.stack_ids = {5, 2, 5, 9};
    c.label_set_ids = {0, 1, 0, 0};
    c.values = {1, 10, 2, 20, 3, 30, -4, 40};
    c.normalize(&scratch);
    CHECK(c.stack_ids == b.stack_ids);
    CHECK(c.label_set_ids == b.label_set_ids);
    CHECK(c.values == b.values);
    CHECK(c.span_ids.empty());
    SampleBlock d;
    d.num_values = 1;
    d.stack_ids = {3, 3, 1};
    d.label_set_ids = {0, 0, 0};
    d.values = {1, 2, 4};
    d.span_ids = {7, 7, 0};
    d.normalize(&scratch);
    CHECK(d.stack_ids == std::vector<int64_t>{1, 3});
    CHECK(d.values == std::vector<int64_t>{4, 3});
    CHECK(d.span_ids == std::vector<uint64_t>{0, 7});
    // Rows of one stack, their label sets and spans interleaved: merged
    // whatever their order.
    SampleBlock e;
    e.num_values = 1;
    e.stack_ids = {4, 4, 2, 4, 4, 4};
    e.label_set_ids = {1, 2, 0, 1, 2, 1};
    e.values = {1, 2, 4, 8, 16, 32};
    e.span_ids = {9, 9, 0, 8, 9, 9};
    e.normalize(&scratch);
    CHECK(e.stack_ids == std::vector<int64_t>{2, 4, 4, 4});
    CHECK(e.label_set_ids == std::vector<int64_t>{0, 1, 1, 2});
    CHECK(e.span_ids == std::vector<uint64_t>{0, 8, 9, 9});
    CHECK(e.values == std::vector<int64_t>{4, 8, 33, 18});
  }
}

TEST_CASE("blocks written before the sized format still decode", "[storage]") {
  // Format 1: the zlib stream of the columns, without their size (schema v3's writer).
  std::string raw;
  enc::put_varint(raw, 2);   // rows
  enc::put_svarint(raw, 3);  // stack ids, delta-coded: 3, 7
  enc::put_svarint(raw, 4);
  enc::put_varint(raw, 0);  // label sets
  enc::put_varint(raw, 1);
  for (int64_t v : {10, -20}) enc::put_svarint(raw, v);  // one value column
  uLongf bound = compressBound(static_cast<uLong>(raw.size()));
  std::string z(bound, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(z.data()), &bound,
                    reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()),
                    6) == Z_OK);
  std::string block = std::string(1, '\x01') + z.substr(0, bound);
  SampleBlock back;
  REQUIRE(SampleBlock::decode(block, 1, &back).ok());
  CHECK(back.stack_ids == std::vector<int64_t>{3, 7});
  CHECK(back.label_set_ids == std::vector<int64_t>{0, 1});
  CHECK(back.values == std::vector<int64_t>{10, -20});
  SampleColumnReader reader;
  std::vector<int64_t> stacks, values;
  REQUIRE(reader.read(block, 1, 0, &stacks, &values).ok());
  CHECK(stacks == std::vector<int64_t>{3, 7});
  CHECK(values == std::vector<int64_t>{10, -20});
  // The current format says its size first and round-trips through the reader too.
  SampleBlock now = back;
  std::string sized = now.encode();
  CHECK(sized[0] == '\x02');
  REQUIRE(reader.read(sized, 1, 0, &stacks, &values).ok());
  CHECK(values == std::vector<int64_t>{10, -20});
  CHECK_FALSE(reader.read(sized.substr(0, sized.size() - 1), 1, 0, &stacks, &values).ok());
}

TEST_CASE("the forward cache keeps what an endpoint has not passed, within its budget",
          "[storage]") {
  auto entry = [](int64_t id, size_t bytes) {
    return ForwardEntry{id, id * 10, std::make_shared<const Labels>(Labels{{"a", "b"}}),
                        std::make_shared<const std::string>(bytes, 'x')};
  };
  ForwardCache cache(10'000);
  CHECK_FALSE(cache.active());
  cache.put({entry(1, 100)});  // nobody forwards: nothing is kept
  CHECK(cache.size() == 0);
  CHECK(cache.first_id() == 0);

  cache.register_endpoint("a", 1);
  cache.register_endpoint("b", 1);
  CHECK(cache.active());
  cache.put({entry(2, 1000), entry(3, 1000), entry(4, 1000)});
  CHECK(cache.first_id() == 2);
  auto got = cache.after(2, 10, SIZE_MAX);
  REQUIRE(got.size() == 2);
  CHECK(got[0].id == 3);
  CHECK(*got[1].pprof_gzip == std::string(1000, 'x'));
  CHECK(cache.after(1, 10, 1500).size() == 2);  // stops once the byte bound is reached
  CHECK(cache.after(1, 1, SIZE_MAX).size() == 1);

  // An entry goes once every endpoint has passed it.
  cache.delivered("a", 3);
  CHECK(cache.first_id() == 2);
  cache.delivered("b", 2);
  CHECK(cache.first_id() == 3);
  cache.unregister_endpoint("b");
  CHECK(cache.first_id() == 4);

  // Over budget, the oldest go first (they are then rebuilt from the store).
  cache.put({entry(5, 4000), entry(6, 4000), entry(7, 4000)});
  CHECK(cache.bytes() <= 10'000);
  CHECK(cache.first_id() == 6);
  // A reader that read the store below id 5 (the first id then) gets nothing
  // now that 5 is gone from the cache: it must read the store again, not skip 5.
  CHECK(cache.after(4, 10, SIZE_MAX, 5).empty());
  CHECK(cache.after(5, 10, SIZE_MAX, 6).size() == 2);
  // Profiles deleted from the store are forgotten.
  cache.erase({6});
  CHECK(cache.first_id() == 7);
  CHECK(cache.size() == 1);
  // Everything passed: what comes next is still to be put, so the store is
  // read only up to the newest put (not for profiles a commit has made
  // visible and is about to put here).
  cache.delivered("a", 7);
  CHECK(cache.size() == 0);
  CHECK(cache.first_id() == 8);
  cache.put({entry(9, 10)});  // (8 was rolled back)
  CHECK(cache.first_id() == 9);
  cache.delivered("a", 9);
  CHECK(cache.first_id() == 10);
  cache.unregister_endpoint("a");
  CHECK(cache.size() == 0);
  CHECK_FALSE(cache.active());
  // With no endpoint, commits are not put here: a new one covers nothing
  // until the next put, and older profiles come from the store.
  CHECK(cache.first_id() == 0);
  cache.put({entry(10, 10)});
  cache.register_endpoint("a", 9);
  CHECK(cache.first_id() == 0);
  cache.put({entry(11, 10)});
  CHECK(cache.first_id() == 11);
}

TEST_CASE("a stored profile exports with the same samples", "[storage]") {
  TempDir dir;
  std::string db = dir.file("s.db");
  Labels labels{{"__name__", "memory"}, {"job", "app"}, {"instance", "h:1"}};
  auto p = heap(10);
  {
    auto s = open_store(db);
    append(*s, labels, p, 1000);
    s->flush();
    CHECK(s->stats().profiles_written == 1);
  }
  auto r = test::must(Reader::open(db));
  REQUIRE(r);
  auto series = r->series(sel(""), {});
  REQUIRE(series.size() == 1);
  CHECK(series[0].labels == labels);
  CHECK(series[0].profiles == 1);
  perftools::profiles::Profile out;
  size_t n = 0;
  n = test::must(r->export_merged(sel("memory"), {}, &out));
  CHECK(n == 1);
  CHECK(test::canonical(out) == test::canonical(p));
  CHECK(out.time_nanos() == p.time_nanos());
  CHECK(out.sample_type_size() == 4);
  // The export is itself a valid profile.
  auto again = pprof::decode(pprof::encode_gzip(out));
  CHECK(again.ok());
}

TEST_CASE("symbols and stacks are deduplicated across profiles", "[storage]") {
  TempDir dir;
  std::string db = dir.file("s.db");
  Labels labels{{"__name__", "memory"}, {"job", "app"}};
  {
    auto s = open_store(db);
    append(*s, labels, heap(1), 1000);
    s->flush();
  }
  int64_t stacks = count_rows(db, "stacks"), functions = count_rows(db, "functions");
  CHECK(stacks == 3);
  {
    auto s = open_store(db);
    for (int i = 2; i <= 10; ++i) append(*s, labels, heap(i), 1000 + i);
  }
  CHECK(count_rows(db, "stacks") == stacks);
  CHECK(count_rows(db, "functions") == functions);
  CHECK(count_rows(db, "profiles") == 10);
  CHECK(count_rows(db, "series") == 1);
}

TEST_CASE("merged export sums samples, durations and keeps the earliest time", "[storage]") {
  TempDir dir;
  std::string db = dir.file("s.db");
  {
    auto s = open_store(db);
    append(*s, {{"__name__", "memory"}, {"instance", "a"}}, heap(1, 2000), 10);
    append(*s, {{"__name__", "memory"}, {"instance", "b"}}, heap(2, 1000), 20);
    append(*s, {{"__name__", "memory"}, {"instance", "b"}}, heap(4, 3000), 30);
    append(*s, {{"__name__", "goroutine"}, {"instance", "a"}},
           test::make_profile({{"goroutine", "count"}}, {{{"main.main"}, {1}}}), 15);
  }
  auto r = test::must(Reader::open(db));
  REQUIRE(r);
  perftools::profiles::Profile out;
  size_t n = 0;
  n = test::must(r->export_merged(sel("memory"), {}, &out));
  CHECK(n == 3);
  CHECK(out.time_nanos() == 1000);
  auto t = test::totals(out);
  auto t1 = test::totals(heap(1)), t2 = test::totals(heap(2)), t4 = test::totals(heap(4));
  for (size_t i = 0; i < t.size(); ++i) CHECK(t[i] == t1[i] + t2[i] + t4[i]);
  // Time range and label filters.
  n = test::must(r->export_merged(sel(R"(memory{instance="b"})"), {kNow + 25, kNow + 100}, &out));
  CHECK(n == 1);
  CHECK(test::totals(out) == t4);
  // Several types at once are refused with the list of types.
  CHECK_THAT(r->export_merged(sel(""), {}, &out).error(), Catch::Contains("goroutine, memory"));
  CHECK_THAT(r->export_merged(sel("block"), {}, &out).error(),
             Catch::Contains("no stored profiles match"));
}

TEST_CASE("profiles of one type with different sample types are not merged", "[storage]") {
  TempDir dir;
  std::string db = dir.file("s.db");
  {
    auto s = open_store(db);
    append(*s, {{"__name__", "custom"}}, test::make_profile({{"a", "count"}}, {{{"f"}, {1}}}), 1);
    append(*s, {{"__name__", "custom"}}, test::make_profile({{"b", "bytes"}}, {{{"f"}, {1}}}), 2);
  }
  auto r = test::must(Reader::open(db));
  perftools::profiles::Profile out;
  std::string err = r->export_merged(sel("custom"), {}, &out).error();
  CHECK(err.find("a/count") != std::string::npos);
  CHECK(err.find("b/bytes") != std::string::npos);
}

TEST_CASE("bad storage paths fail at open with a clear message", "[storage]") {
  TempDir dir;
  std::string err;
  StorageConfig cfg;

  cfg.path = dir.file("garbage.db");
  test::write_file(cfg.path, std::string(8192, 'x'));
  err = Storage::open(cfg).error();
  CHECK(err.find("not a valid stoker database") != std::string::npos);
  CHECK(err.find(cfg.path) != std::string::npos);

  cfg.path = "/proc/stoker-cannot-write-here/s.db";
  err = Storage::open(cfg).error();
  CHECK(err.find("/proc/stoker-cannot-write-here") != std::string::npos);

  // Another application's SQLite database is not adopted.
  cfg.path = dir.file("other.db");
  sqlite3* db;
  sqlite3_open(cfg.path.c_str(), &db);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  err = Storage::open(cfg).error();
  CHECK(err.find("not a stoker store") != std::string::npos);

  err = Reader::open(dir.file("missing.db")).error();
  CHECK(err.find("no database at") != std::string::npos);
}

TEST_CASE("a reopened database keeps its data and schema version", "[storage]") {
  TempDir dir;
  std::string db = dir.file("s.db");
  {
    auto s = open_store(db);
    append(*s, {{"__name__", "memory"}}, heap(1), 1);
  }
  {
    auto s = open_store(db);
    append(*s, {{"__name__", "memory"}}, heap(1), 2);
  }
  CHECK(count_rows(db, "profiles") == 2);
  CHECK(count_rows(db, "series") == 1);
  std::string out = test::run_command(
      "sqlite3 " + db + " 'PRAGMA user_version; PRAGMA journal_mode; PRAGMA integrity_check'");
  CHECK(out == std::to_string(kSchemaVersion) + "\nwal\nok\n");
}

TEST_CASE("symbols only gone profiles used are deleted with their epoch", "[storage]") {
  // Every simulated hour a "deploy" renames the program's functions; retention
  // is 3 h and a symbol epoch 1 h. Without collection the symbol tables would
  // hold every deploy's names; with it, the last few hours' only. The clock
  // starts now, or a week before the database was created (a clock that went
  // back must not stop epochs from ending).
  const int64_t start = GENERATE(kNow, kNow - 7 * 24 * 3600 * 1'000'000'000LL);
  TempDir dir;
  StorageConfig cfg;
  cfg.path = dir.file("s.db");
  cfg.retention = std::chrono::hours(3);
  cfg.max_size = 0;
  // The writer thread reads the clock when it writes a batch, so the clock
  // moves only between flushes (while the writer is idle): otherwise where
  // epochs begin would depend on how the writer happened to batch.
  std::atomic<int64_t> clock{start};
  StorageOptions opt;
  opt.clock = [&clock] { return clock.load(); };
  opt.symbol_epoch = std::chrono::hours(1);
  auto s = test::must(Storage::open(cfg, opt));
  REQUIRE(s);
  const int64_t kQuarter = 15 * 60 * 1'000'000'000LL;
  std::vector<int64_t> functions_by_hour;
  for (int hour = 0; hour < 12; ++hour) {
    std::string v = "v" + std::to_string(hour);
    const int64_t hour_start = start + hour * 4 * kQuarter;
    clock = hour_start;
    for (int q = 0; q < 4; ++q) {
      const int64_t now = hour_start + q * kQuarter;
      ProfileRecord r;
      r.labels = {{"__name__", "process_cpu"}, {"service_name", "app"}};
      r.scrape_time_ns = now;
      r.profile = std::make_shared<perftools::profiles::Profile>(test::make_profile(
          {{"samples", "count"}, {"cpu", "nanoseconds"}},
          {{{"main.work_" + v, "main.loop_" + v, "main.main"}, {q + 1, (q + 1) * 10}},
           {{"runtime.mallocgc", "main.alloc_" + v, "main.main"}, {1, 10}}},
          now));
      REQUIRE(s->append(std::move(r)).ok());
    }
    REQUIRE(s->flush());
    clock = hour_start + 4 * kQuarter - 1;
    s->enforce_limits();
    functions_by_hour.push_back(count_rows(cfg.path, "functions"));
  }
  std::string trace;
  for (int64_t n : functions_by_hour) trace += std::to_string(n) + " ";
  INFO("functions after each hour: " << trace);
  // Six functions per deploy; the functions of at most ~5 hours remain.
  CHECK(functions_by_hour.back() <= 6 * 5);
  CHECK(functions_by_hour.back() <= functions_by_hour[5] + 6);
  CHECK(s->stats().symbols_collected > 0);
  CHECK(count_rows(cfg.path, "symbol_epochs") <= 5);
  // What is left still reads back whole, with this hour's names.
  auto reader = test::must(Reader::open(cfg.path));
  REQUIRE(reader);
  auto all = reader->profile_ids(sel(""), {0, INT64_MAX});
  REQUIRE(all.size() >= 8);
  perftools::profiles::Profile p;
  REQUIRE(reader->build({all.back()}, &p).ok());
  std::set<std::string> names(p.string_table().begin(), p.string_table().end());
  CHECK(names.count("main.work_v11"));
  CHECK(!names.count("main.work_v0"));
}

TEST_CASE("retention deletes profiles older than the configured age", "[storage]") {
  TempDir dir;
  StorageConfig cfg;
  cfg.path = dir.file("s.db");
  cfg.retention = std::chrono::hours(1);
  auto s = test::must(Storage::open(cfg));
  REQUIRE(s);
  append(*s, {{"__name__", "memory"}}, heap(1), -2 * 3600LL * 1'000'000'000LL);
  append(*s, {{"__name__", "memory"}}, heap(1), 0);
  s->flush();
  s->enforce_limits();
  CHECK(s->stats().deleted_by_retention == 1);
  s.reset();
  CHECK(count_rows(cfg.path, "profiles") == 1);
}

TEST_CASE("max_size deletes the oldest profiles first", "[storage]") {
  TempDir dir;
  StorageConfig cfg;
  cfg.path = dir.file("s.db");
  cfg.max_size = 1 << 20;
  auto s = test::must(Storage::open(cfg));
  REQUIRE(s);
  // Profiles with pseudo-random values so they do not compress away.
  uint64_t x = 88172645463325252ull;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return static_cast<int64_t>(x >> 20);
  };
  for (int i = 0; i < 100; ++i) {
    std::vector<test::SampleSpec> samples;
    for (int j = 0; j < 2000; ++j)
      samples.push_back(
          {{"f" + std::to_string(j % 50)}, {next(), next()}, {{"k", std::to_string(j)}}});
    append(*s, {{"__name__", "cpu"}},
           test::make_profile({{"samples", "count"}, {"cpu", "ns"}}, samples), i);
  }
  s->flush();
  s->enforce_limits();
  auto st = s->stats();
  CHECK(st.deleted_by_size > 0);
  s.reset();
  auto r = test::must(Reader::open(cfg.path));
  auto series = r->series(sel(""), {});
  REQUIRE(series.size() == 1);
  CHECK(series[0].last_ns == kNow + 99);  // the newest survive
  CHECK(series[0].first_ns > kNow);       // the oldest went first
}
