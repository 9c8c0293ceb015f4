// The SQLite schema and its migrations. open_database() is shared by the writer
// and readers so both apply the same checks. Not thread-safe per connection.
#pragma once

#include <cstdint>
#include <string>

#include "storage/sqlite_util.h"

namespace stoker::schema {

// Opens `path` for writing: WAL mode, checks the application id, migrates to the
// current version. Throws sql::Error with a user-facing message.
sql::Db open_for_write(const std::string& path);
// Opens `path` read-only and checks it is a stoker database of a known version.
sql::Db open_for_read(const std::string& path);

// The row id of the Pyroscope profile type `id` (e.g.
// "process_cpu:cpu:nanoseconds:cpu:nanoseconds") in `profile_types`, created
// when missing. Needs a write transaction.
int64_t profile_type_row(sql::Db& db, const std::string& id);
// Records that series `series_id` holds profiles of type `type_row`.
void link_series_type(sql::Db& db, int64_t series_id, int64_t type_row);

}  // namespace stoker::schema
