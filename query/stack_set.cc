#include "query/stack_set.h"

#include <algorithm>
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

StackSet StackSet::callees(std::string_view name) const {
  StackSet out;
  uint32_t id = find(name);
  if (id == UINT32_MAX) return out;
  std::vector<uint32_t> path;
  for (const auto& s : stacks_) {
    auto f = frames(s);
    auto it = std::find(f.begin(), f.end(), id);
    if (it == f.end()) continue;
    path.clear();
    for (; it != f.end(); ++it) path.push_back(out.intern(names_[*it]));
    out.add(path, s.value);
  }
  return out;
}

StackSet StackSet::callers(std::string_view name) const {
  StackSet out;
  uint32_t id = find(name);
  if (id == UINT32_MAX) return out;
  std::vector<uint32_t> path;
  for (const auto& s : stacks_) {
    auto f = frames(s);
    auto it = std::find(f.rbegin(), f.rend(), id);
    if (it == f.rend()) continue;
    path.clear();
    for (; it != f.rend(); ++it) path.push_back(out.intern(names_[*it]));
    out.add(path, s.value);
  }
  return out;
}

}  // namespace stoker::query
