#include "storage/wal_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <new>

namespace stoker::sql {
namespace {

// The largest write the unix VFS passes on whole (os_unix.c's seekAndWrite
// keeps only the low 17 bits of a length): 7 frames of 16 KiB pages.
constexpr size_t kBufferBytes = 0x1ffff;
constexpr int kFrameHeaderBytes = 24;  // WAL frame header (sqlite.org/fileformat2.html#walformat)

std::atomic<uint64_t> g_writes_in{0}, g_writes_out{0};
sqlite3_vfs* g_base = nullptr;  // the default VFS this one wraps

// A WAL file: our fields first, the default VFS's file right after them.
struct WalFile {
  sqlite3_file base;
  sqlite3_file* real;
  char* buf;              // kBufferBytes, allocated at the first write
  size_t len;             // bytes gathered in buf
  sqlite3_int64 off;      // the file offset of buf[0]
  bool commit_page_next;  // the last write was a commit frame's header
};
constexpr size_t kRealOffset = (sizeof(WalFile) + 15) & ~size_t{15};

WalFile* wal(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return wal(f)->real; }

int flush(WalFile* w) {
  if (w->len == 0) return SQLITE_OK;
  g_writes_out.fetch_add(1, std::memory_order_relaxed);
  const int n = static_cast<int>(w->len);
  w->len = 0;
  return w->real->pMethods->xWrite(w->real, w->buf, n, w->off);
}

int wal_close(sqlite3_file* f) {
  WalFile* w = wal(f);
  int rc = flush(w);
  int rc2 = w->real->pMethods->xClose(w->real);
  delete[] w->buf;
  w->buf = nullptr;
  return rc != SQLITE_OK ? rc : rc2;
}

int wal_read(sqlite3_file* f, void* p, int amt, sqlite3_int64 ofst) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xRead(real(f), p, amt, ofst);
}

int wal_write(sqlite3_file* f, const void* p, int amt, sqlite3_int64 ofst) {
  WalFile* w = wal(f);
  g_writes_in.fetch_add(1, std::memory_order_relaxed);
  const auto n = static_cast<size_t>(amt);
  const bool appends = w->len > 0 && ofst == w->off + static_cast<sqlite3_int64>(w->len) &&
                       w->len + n <= kBufferBytes;
  if (!appends) {
    if (int rc = flush(w); rc != SQLITE_OK) return rc;
    if (n > kBufferBytes) {
      g_writes_out.fetch_add(1, std::memory_order_relaxed);
      return w->real->pMethods->xWrite(w->real, p, amt, ofst);
    }
    if (!w->buf) {
      w->buf = new (std::nothrow) char[kBufferBytes];  // no exception through SQLite's C
      if (!w->buf) return SQLITE_NOMEM;
    }
    w->off = ofst;
  }
  std::memcpy(w->buf + w->len, p, n);
  w->len += n;
  if (amt == kFrameHeaderBytes) {
    // Bytes 4-7: the database size after a commit, zero in other frames.
    const auto* h = static_cast<const unsigned char*>(p);
    w->commit_page_next = (h[4] | h[5] | h[6] | h[7]) != 0;
    return SQLITE_OK;
  }
  if (w->commit_page_next) {
    w->commit_page_next = false;
    return flush(w);
  }
  return SQLITE_OK;
}

int wal_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xTruncate(real(f), size);
}
int wal_sync(sqlite3_file* f, int flags) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xSync(real(f), flags);
}
int wal_file_size(sqlite3_file* f, sqlite3_int64* size) {
  if (int rc = flush(wal(f)); rc != SQLITE_OK) return rc;
  return real(f)->pMethods->xFileSize(real(f), size);
}
int wal_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int wal_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int wal_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int wal_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int wal_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int wal_device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }

// Version 1: SQLite maps shared memory and fetches pages of the database
// file, never of its WAL, so a WAL needs none of the later methods.
const sqlite3_io_methods kMethods = {
    1,          wal_close,      wal_read,   wal_write,          wal_truncate,
    wal_sync,   wal_file_size,  wal_lock,   wal_unlock,         wal_check_reserved,
    wal_file_control, wal_sector_size, wal_device,
    nullptr,    nullptr,        nullptr,    nullptr,  // shared memory
    nullptr,    nullptr,                              // fetch
};

int wal_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  if (!(flags & SQLITE_OPEN_WAL)) return g_base->xOpen(g_base, name, f, flags, out_flags);
  WalFile* w = wal(f);
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  std::memset(w->real, 0, static_cast<size_t>(g_base->szOsFile));
  w->base.pMethods = nullptr;
  int rc = g_base->xOpen(g_base, name, w->real, flags, out_flags);
  if (rc != SQLITE_OK || w->real->pMethods == nullptr) {
    if (w->real->pMethods) w->real->pMethods->xClose(w->real);
    return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
  }
  w->buf = nullptr;
  w->len = 0;
  w->off = 0;
  w->commit_page_next = false;
  w->base.pMethods = &kMethods;
  return SQLITE_OK;
}

sqlite3_vfs g_vfs;

}  // namespace

const char* wal_coalescing_vfs() {
  static const char* name = [] {
    g_base = sqlite3_vfs_find(nullptr);
    // Everything but opening a file is the default VFS's: its methods are
    // called with this VFS, which carries the same pAppData.
    g_vfs = *g_base;
    g_vfs.pNext = nullptr;
    g_vfs.zName = "stoker-wal";
    g_vfs.szOsFile = static_cast<int>(kRealOffset) + g_base->szOsFile;
    g_vfs.xOpen = wal_open;
    sqlite3_vfs_register(&g_vfs, 0);
    return g_vfs.zName;
  }();
  return name;
}

WalVfsStats wal_vfs_stats() {
  return {g_writes_in.load(std::memory_order_relaxed),
          g_writes_out.load(std::memory_order_relaxed)};
}

}  // namespace stoker::sql
