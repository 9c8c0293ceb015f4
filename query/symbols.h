// Symbols: resolves stored call stacks to function names, from the
// deduplicated `stacks`, `locations`, `functions` and `strings` tables.
//
// Rows of those tables never change once written, so what has been read is
// cached across queries (bounded: a cache that outgrows its cap is dropped and
// refilled). Frames follow pprof: a stack lists locations leaf first, a
// location's lines innermost first (inlined calls before their caller); a
// location without lines is named by its address. Not thread-safe: one per
// read connection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace stoker::sql {
class Db;
class Stmt;
}  // namespace stoker::sql

namespace stoker::query {

class Symbols {
 public:
  explicit Symbols(sql::Db& db);
  ~Symbols();

  // Appends the function-name string ids of stack `id`, leaf first. An
  // address-only frame is appended as -(address + 1). False when the stack
  // row is missing or corrupt.
  bool frames(int64_t stack_id, std::vector<int64_t>* leaf_first);
  // The location ids of stack `id`, leaf first; null when the row is missing
  // or corrupt. Valid until the next call.
  const std::vector<int64_t>* stack(int64_t stack_id);
  // The frames of location `id` as frames() gives them, innermost first.
  void location_frames(int64_t location_id, std::vector<int64_t>* out);
  // The text of string `id` ("" for 0 or a missing row).
  const std::string& text(int64_t id);
  // The name to show for a frame id from frames().
  std::string frame_name(int64_t frame);

 private:
  struct Location {
    std::vector<int64_t> names;  // innermost first; empty: use the address
    uint64_t address = 0;
  };
  const Location& location(int64_t id);
  int64_t function_name(int64_t id);

  std::unique_ptr<sql::Stmt> stack_st_, loc_st_, fn_st_, str_st_;
  std::unordered_map<int64_t, std::vector<int64_t>> stacks_;  // stack → location ids
  std::unordered_map<int64_t, Location> locations_;
  std::unordered_map<int64_t, int64_t> functions_;  // function → name string id
  std::unordered_map<int64_t, std::string> strings_;
};

}  // namespace stoker::query
