// A SQLite VFS over the default one that writes a transaction's WAL frames in
// a few large writes instead of two per frame. SQLite writes each WAL frame
// as its 24-byte header and then its page, one pwrite() each: at 100 stored
// profiles a second that was ~5 of the ~29 syscalls per profile. This layer
// gathers writes that extend the WAL contiguously (up to 128 KiB) and
// passes them on in one write:
//   - right after the page of a commit frame (a frame header whose "database
//     size after commit" field is not zero), so a commit is in the file before
//     SQLite publishes it in the wal-index for readers;
//   - before anything else touches the file: a write elsewhere (SQLite
//     rewrites frames in place), a read (a spilled page read back), sync,
//     truncate, size, close;
//   - when the buffer is full.
// A crash loses only frames of a transaction that had not committed, which
// SQLite ignores anyway. Files other than WALs are the default VFS's own.
#pragma once

#include <cstddef>
#include <cstdint>

namespace stoker::sql {

// Registers the VFS (once; thread-safe) and returns its name for
// sqlite3_open_v2().
const char* wal_coalescing_vfs();

struct WalVfsStats {
  uint64_t writes_in = 0;   // writes SQLite made to WAL files
  uint64_t writes_out = 0;  // writes passed on to the file system
};
// Process-wide counters (for tests and benchmarks).
WalVfsStats wal_vfs_stats();

}  // namespace stoker::sql
