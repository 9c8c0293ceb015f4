// The command line's shared pieces: flags, errors, the database to read and
// time ranges. Used by cli.cc and cli_query.cc. Not thread-safe (process-wide
// use from main only).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/status.h"
#include "storage/reader.h"

namespace stoker::cli {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
};

// Parses argv from `start`; flags take a value as --flag=value or --flag value.
Result<Args> parse_args(int argc, char** argv, size_t start);
std::optional<std::string> flag(const Args& a, const std::string& name);
// Prints "stoker: msg" to stderr and returns `code`.
int fail(const std::string& msg, int code = 1);
// --storage.path, else the config's storage.path, else the default.
Result<std::string> storage_path(const Args& a);
// --from/--until into `range` (left unbounded when absent).
Status parse_range(const Args& a, TimeRange* range);

}  // namespace stoker::cli
