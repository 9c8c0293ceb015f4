#include "query/symbols.h"

#include <cstdio>
#include <memory>

#include "model/encoding.h"
#include "storage/sqlite_util.h"

namespace stoker::query {

namespace {
// Caps on cached rows; a cache that reaches its cap starts over.
constexpr size_t kMaxStacks = 2'000'000;
constexpr size_t kMaxRows = 1'000'000;
}  // namespace

Symbols::Symbols(sql::Db& db)
    : stack_st_(std::make_unique<sql::Stmt>(db, "SELECT key FROM stacks WHERE id = ?")),
      loc_st_(std::make_unique<sql::Stmt>(db, "SELECT key FROM locations WHERE id = ?")),
      fn_st_(std::make_unique<sql::Stmt>(db, "SELECT key FROM functions WHERE id = ?")),
      str_st_(std::make_unique<sql::Stmt>(db, "SELECT value FROM strings WHERE id = ?")) {}

Symbols::~Symbols() = default;

const std::vector<int64_t>* Symbols::stack(int64_t stack_id) {
  auto it = stacks_.find(stack_id);
  if (it != stacks_.end()) return &it->second;
  if (stacks_.size() >= kMaxStacks) stacks_.clear();
  std::vector<int64_t> locs;
  stack_st_->reset().bind(1, stack_id);
  if (!stack_st_->step()) {
    stack_st_->reset();
    return nullptr;
  }
  enc::Reader r(stack_st_->col_blob(0));
  while (!r.done() && r.ok()) locs.push_back(static_cast<int64_t>(r.varint()));
  bool ok = r.ok();
  stack_st_->reset();
  if (!ok) return nullptr;
  return &stacks_.emplace(stack_id, std::move(locs)).first->second;
}

void Symbols::location_frames(int64_t location_id, std::vector<int64_t>* out) {
  const Location& l = location(location_id);
  if (l.names.empty()) {
    out->push_back(-static_cast<int64_t>(l.address) - 1);
  } else {
    out->insert(out->end(), l.names.begin(), l.names.end());
  }
}

bool Symbols::frames(int64_t stack_id, std::vector<int64_t>* out) {
  const auto* locs = stack(stack_id);
  if (!locs) return false;
  for (int64_t loc : *locs) location_frames(loc, out);
  return true;
}

const Symbols::Location& Symbols::location(int64_t id) {
  auto it = locations_.find(id);
  if (it != locations_.end()) return it->second;
  if (locations_.size() >= kMaxRows) locations_.clear();
  Location l;
  loc_st_->reset().bind(1, id);
  if (loc_st_->step()) {
    std::string key(loc_st_->col_blob(0));
    loc_st_->reset();
    enc::Reader r(key);
    r.varint();  // mapping
    l.address = r.varint();
    r.varint();  // is_folded
    uint64_t lines = r.varint();
    for (uint64_t i = 0; i < lines && r.ok(); ++i) {
      auto fn = static_cast<int64_t>(r.varint());
      r.svarint();  // line
      r.svarint();  // column
      if (r.ok()) l.names.push_back(function_name(fn));
    }
  } else {
    loc_st_->reset();
  }
  return locations_.emplace(id, std::move(l)).first->second;
}

int64_t Symbols::function_name(int64_t id) {
  auto it = functions_.find(id);
  if (it != functions_.end()) return it->second;
  if (functions_.size() >= kMaxRows) functions_.clear();
  int64_t name = 0;
  fn_st_->reset().bind(1, id);
  if (fn_st_->step()) {
    enc::Reader r(fn_st_->col_blob(0));
    name = static_cast<int64_t>(r.varint());
    auto system_name = static_cast<int64_t>(r.varint());
    if (name == 0) name = system_name;  // a function known only by its system name
  }
  fn_st_->reset();
  functions_.emplace(id, name);
  return name;
}

const std::string& Symbols::text(int64_t id) {
  static const std::string kEmpty;
  if (id <= 0) return kEmpty;
  auto it = strings_.find(id);
  if (it != strings_.end()) return it->second;
  if (strings_.size() >= kMaxRows) strings_.clear();
  str_st_->reset().bind(1, id);
  std::string v = str_st_->step() ? std::string(str_st_->col_text(0)) : std::string();
  str_st_->reset();
  return strings_.emplace(id, std::move(v)).first->second;
}

std::string Symbols::frame_name(int64_t frame) {
  if (frame < 0) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(-(frame + 1)));
    return buf;
  }
  const std::string& t = text(frame);
  return t.empty() ? std::string("unknown") : t;
}

}  // namespace stoker::query
