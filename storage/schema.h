// The SQLite schema and its migrations. open_database() is shared by the writer
// and readers so both apply the same checks. Not thread-safe per connection.
#pragma once

#include <string>

#include "storage/sqlite_util.h"

namespace stoker::schema {

// Opens `path` for writing: WAL mode, checks the application id, migrates to the
// current version. Throws sql::Error with a user-facing message.
sql::Db open_for_write(const std::string& path);
// Opens `path` read-only and checks it is a stoker database of a known version.
sql::Db open_for_read(const std::string& path);

}  // namespace stoker::schema
