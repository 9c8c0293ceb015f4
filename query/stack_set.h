// StackSet: a merged profile as the query side works with it — distinct call
// stacks of function names, root first, each with its summed value.
//
// The engine fills it from stored sample blocks (one sample type, many
// profiles); the call tree, flame graphs, folded stacks and top tables are all
// derived from it. Names are interned once. Plain value type, not thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace stoker::query {

class StackSet {
 public:
  struct Stack {
    uint32_t begin = 0, size = 0;  // into frames()
    int64_t value = 0;
  };

  // The index of `name`, added when new.
  uint32_t intern(std::string_view name);
  // The index of `name`, or UINT32_MAX when no stack uses it.
  uint32_t find(std::string_view name) const;
  // Adds a stack given root first. Empty stacks and zero values are ignored.
  void add(std::span<const uint32_t> root_first, int64_t value);

  const std::vector<std::string>& names() const { return names_; }
  const std::vector<Stack>& stacks() const { return stacks_; }
  std::span<const uint32_t> frames(const Stack& s) const {
    return {frames_.data() + s.begin, s.size};
  }
  int64_t total() const { return total_; }
  bool empty() const { return stacks_.empty(); }

  // The sandwich of function `name`: callees() holds, for every stack through
  // it, the frames from its outermost occurrence down (rooted at `name`);
  // callers() the frames from its innermost occurrence up to the root, in
  // that order (rooted at `name`, then its caller, …). Values as in this set.
  StackSet callees(std::string_view name) const;
  StackSet callers(std::string_view name) const;

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<uint32_t> frames_;
  std::vector<Stack> stacks_;
  int64_t total_ = 0;
};

}  // namespace stoker::query
