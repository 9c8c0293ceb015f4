#include "query/stack_set.h"

#include <cstdint>

namespace stoker::query {

uint32_t StackSet::intern(std::string_view name) {
  auto it = index_.find(std::string(name));
  if (it != index_.end()) return it->second;
  auto idx = static_cast<uint32_t>(names_.size());
  names_.emplace_back(name);
  index_.emplace(names_.back(), idx);
  return idx;
}

uint32_t StackSet::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? UINT32_MAX : it->second;
}

void StackSet::add(std::span<const uint32_t> root_first, int64_t value) {
  if (root_first.empty() || value == 0) return;
  Stack s;
  s.begin = static_cast<uint32_t>(frames_.size());
  s.size = static_cast<uint32_t>(root_first.size());
  s.value = value;
  frames_.insert(frames_.end(), root_first.begin(), root_first.end());
  stacks_.push_back(s);
  total_ += value;
}

}  // namespace stoker::query
