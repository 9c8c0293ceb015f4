#include "query/call_tree.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

namespace stoker::query {

namespace {

constexpr std::string_view kOther = "other";

void put_uvarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// Reverses the 4- (or 7-) int tuples of each level, which were appended in
// visit order (right to left), then delta-encodes x as Pyroscope does.
void finish_levels(std::vector<std::vector<int64_t>>& levels, size_t width,
                   std::initializer_list<size_t> x_fields) {
  for (auto& row : levels) {
    size_t n = row.size() / width;
    for (size_t i = 0; i < n / 2; ++i) {
      std::swap_ranges(row.begin() + static_cast<ptrdiff_t>(i * width),
                       row.begin() + static_cast<ptrdiff_t>((i + 1) * width),
                       row.begin() + static_cast<ptrdiff_t>((n - 1 - i) * width));
    }
    for (size_t field : x_fields) {
      int64_t prev = 0;
      for (size_t i = field; i < row.size(); i += width) {
        row[i] -= prev;
        prev += row[i] + row[i + 1];
      }
    }
  }
}

// Names in the order the DFS first meets them; the root is always "total" at 0.
class NameTable {
 public:
  explicit NameTable(std::vector<std::string>* out) : out_(out) {}
  int64_t index(std::string_view name, bool root) {
    auto it = index_.find(name);
    if (it != index_.end()) return it->second;
    auto i = static_cast<int64_t>(out_->size());
    out_->emplace_back(root ? "total" : std::string(name));
    index_.emplace(root ? std::string_view("total") : name, i);
    return i;
  }

 private:
  std::vector<std::string>* out_;
  std::unordered_map<std::string_view, int64_t> index_;
};

// The k-th largest of `values` (k >= 1), or 0 when there are no more than k.
int64_t kth_largest(std::vector<int64_t>& values, int64_t k) {
  if (k < 1 || static_cast<int64_t>(values.size()) <= k) return 0;
  auto nth = values.begin() + (k - 1);
  std::nth_element(values.begin(), nth, values.end(), std::greater<>());
  return *nth;
}

}  // namespace

CallTree CallTree::build(const StackSet& stacks, bool bottom_up, bool collapse_recursion) {
  CallTree t;
  t.names_ = stacks.names();
  // The paths to insert (oriented, recursion collapsed), in one buffer.
  std::vector<uint32_t> buf;
  struct Path {
    uint32_t begin, size;
    int64_t value;
  };
  std::vector<Path> paths;
  paths.reserve(stacks.stacks().size());
  for (const auto& s : stacks.stacks()) {
    auto f = stacks.frames(s);
    auto begin = static_cast<uint32_t>(buf.size());
    for (size_t i = 0; i < f.size(); ++i) {
      uint32_t name = bottom_up ? f[f.size() - 1 - i] : f[i];
      if (collapse_recursion && buf.size() > begin && buf.back() == name) continue;
      buf.push_back(name);
    }
    paths.push_back({begin, static_cast<uint32_t>(buf.size() - begin), s.value});
  }
  // Sorted root first, paths with a common prefix are adjacent: each path
  // reuses the nodes of the longest prefix it shares with the previous one and
  // creates the rest, with no lookups.
  std::sort(paths.begin(), paths.end(), [&](const Path& a, const Path& b) {
    return std::lexicographical_compare(buf.begin() + a.begin, buf.begin() + a.begin + a.size,
                                        buf.begin() + b.begin, buf.begin() + b.begin + b.size);
  });
  t.nodes_.reserve(buf.size() / 2 + 16);
  t.nodes_.emplace_back();
  std::vector<uint32_t> at;  // node of the previous path at each depth
  const Path* prev = nullptr;
  for (const Path& p : paths) {
    uint32_t lcp = 0;
    if (prev) {
      while (lcp < p.size && lcp < prev->size && buf[p.begin + lcp] == buf[prev->begin + lcp])
        ++lcp;
    }
    at.resize(lcp);
    for (uint32_t d = lcp; d < p.size; ++d) {
      Node n;
      n.name = buf[p.begin + d];
      n.parent = d == 0 ? kRoot : at[d - 1];
      at.push_back(static_cast<uint32_t>(t.nodes_.size()));
      t.nodes_.push_back(n);
    }
    t.nodes_[p.size == 0 ? kRoot : at[p.size - 1]].self += p.value;
    prev = &p;
  }
  // A node's index is larger than its parent's: one backward pass sums totals.
  for (auto& n : t.nodes_) n.total = n.self;
  for (size_t i = t.nodes_.size(); i-- > 1;) {
    Node& n = t.nodes_[i];
    t.nodes_[n.parent].total += n.total;
    ++t.nodes_[n.parent].child_count;
  }
  // Children contiguous per parent (counting sort), then ordered by name.
  uint32_t offset = 0;
  for (auto& n : t.nodes_) {
    n.first_child = offset;
    offset += n.child_count;
    n.child_count = 0;
  }
  t.children_.resize(offset);
  for (size_t i = 1; i < t.nodes_.size(); ++i) {
    Node& p = t.nodes_[t.nodes_[i].parent];
    t.children_[p.first_child + p.child_count++] = static_cast<uint32_t>(i);
  }
  for (const auto& n : t.nodes_) {
    if (n.child_count < 2) continue;
    auto begin = t.children_.begin() + n.first_child;
    std::sort(begin, begin + n.child_count, [&](uint32_t a, uint32_t b) {
      return t.names_[t.nodes_[a].name] < t.names_[t.nodes_[b].name];
    });
  }
  return t;
}

const std::string& CallTree::name(const Node& n) const {
  static const std::string kEmpty;
  return n.name == kNoName ? kEmpty : names_[n.name];
}

int64_t CallTree::min_value(int64_t max_nodes) const {
  if (max_nodes < 1 || static_cast<int64_t>(size()) <= max_nodes) return 0;
  std::vector<int64_t> totals;
  totals.reserve(size());
  for (size_t i = 1; i < nodes_.size(); ++i) totals.push_back(nodes_[i].total);
  return kth_largest(totals, max_nodes);
}

FlameGraph CallTree::flame_graph(int64_t max_nodes) const {
  FlameGraph fg;
  for (uint32_t c : children(nodes_[kRoot])) fg.total += nodes_[c].total;
  const int64_t min_val = min_value(max_nodes);
  NameTable names(&fg.names);
  struct Item {
    uint32_t node;      // kNoName for a synthetic `other`
    int64_t other = 0;  // its value
    int64_t x = 0;
    size_t level = 0;
  };
  std::vector<Item> stack{{kRoot, 0, 0, 0}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    int64_t self, total, name;
    if (it.node == kNoName) {
      self = total = it.other;
      name = names.index(kOther, false);
    } else {
      const Node& n = nodes_[it.node];
      self = n.self;
      total = it.node == kRoot ? fg.total : n.total;
      name = names.index(this->name(n), it.node == kRoot);
    }
    fg.max_self = std::max(fg.max_self, self);
    if (it.level == fg.levels.size()) fg.levels.emplace_back();
    auto& row = fg.levels[it.level];
    row.insert(row.end(), {it.x, total, self, name});
    if (it.node == kNoName) continue;
    int64_t x = it.x + self;
    int64_t other = 0;
    for (uint32_t c : children(nodes_[it.node])) {
      const Node& child = nodes_[c];
      if (child.total >= min_val && this->name(child) != kOther) {
        stack.push_back({c, 0, x, it.level + 1});
        x += child.total;
      } else {
        other += child.total;
      }
    }
    if (other != 0) stack.push_back({kNoName, other, x, it.level + 1});
  }
  finish_levels(fg.levels, 4, {0});
  return fg;
}

std::string CallTree::tree_bytes(int64_t max_nodes) const {
  std::string out;
  if (children(nodes_[kRoot]).empty()) return out;
  const int64_t min_val = min_value(max_nodes);
  struct Item {
    uint32_t node;      // kNoName: synthetic `other`
    int64_t other = 0;  // its value; for a real node, value folded into its self
  };
  std::vector<Item> stack{{kRoot, 0}};
  std::vector<Item> kids;
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    if (it.node == kNoName) {
      put_uvarint(out, kOther.size());
      out += kOther;
      put_uvarint(out, static_cast<uint64_t>(it.other));
      put_uvarint(out, 0);
      continue;
    }
    const Node& n = nodes_[it.node];
    const std::string& nm = name(n);
    put_uvarint(out, nm.size());
    out += nm;
    put_uvarint(out, static_cast<uint64_t>(n.self + it.other));
    kids.clear();
    int64_t other = 0;
    for (uint32_t c : children(n)) {
      if (nodes_[c].total >= min_val || name(nodes_[c]) == kOther) {
        kids.push_back({c, 0});
      } else {
        other += nodes_[c].total;
      }
    }
    if (other > 0) {
      // `other` takes its place in name order, as Pyroscope inserts it.
      auto pos = std::find_if(kids.begin(), kids.end(),
                              [&](const Item& k) { return name(nodes_[k.node]) >= kOther; });
      if (pos != kids.end() && name(nodes_[pos->node]) == kOther) {
        pos->other += other;  // an existing `other` child takes the folded value
      } else {
        kids.insert(pos, {kNoName, other});
      }
    }
    put_uvarint(out, kids.size());
    stack.insert(stack.end(), kids.begin(), kids.end());
  }
  return out;
}

std::string CallTree::folded() const {
  std::string out;
  std::vector<std::pair<uint32_t, size_t>> stack;  // (node, length of `path` before it)
  std::string path;
  auto roots = children(nodes_[kRoot]);
  for (auto it = roots.rbegin(); it != roots.rend(); ++it) stack.emplace_back(*it, 0);
  while (!stack.empty()) {
    auto [idx, len] = stack.back();
    stack.pop_back();
    path.resize(len);
    if (len) path += ';';
    for (char c : names_[nodes_[idx].name]) path += (c == ';' || c == '\n') ? ' ' : c;
    const Node& n = nodes_[idx];
    if (n.self != 0) out += path + " " + std::to_string(n.self) + "\n";
    size_t here = path.size();
    for (auto it = children(n).rbegin(); it != children(n).rend(); ++it)
      stack.emplace_back(*it, here);
  }
  return out;
}

std::vector<TopEntry> CallTree::top(bool by_total) const {
  std::vector<int64_t> self(names_.size(), 0), total(names_.size(), 0);
  std::vector<uint32_t> on_path(names_.size(), 0);  // frames of this name above the node
  // Iterative DFS with an explicit exit marker so that on_path is exact.
  std::vector<std::pair<uint32_t, bool>> stack;
  for (uint32_t c : children(nodes_[kRoot])) stack.emplace_back(c, false);
  while (!stack.empty()) {
    auto [idx, exiting] = stack.back();
    stack.pop_back();
    const Node& n = nodes_[idx];
    if (exiting) {
      --on_path[n.name];
      continue;
    }
    self[n.name] += n.self;
    if (on_path[n.name]++ == 0) total[n.name] += n.total;
    stack.emplace_back(idx, true);
    for (uint32_t c : children(n)) stack.emplace_back(c, false);
  }
  std::vector<TopEntry> out;
  for (size_t i = 0; i < names_.size(); ++i) {
    if (self[i] == 0 && total[i] == 0) continue;
    out.push_back({names_[i], self[i], total[i]});
  }
  std::sort(out.begin(), out.end(), [by_total](const TopEntry& a, const TopEntry& b) {
    int64_t ka = by_total ? a.total : a.self, kb = by_total ? b.total : b.self;
    if (ka != kb) return ka > kb;
    int64_t sa = by_total ? a.self : a.total, sb = by_total ? b.self : b.total;
    if (sa != sb) return sa > sb;
    return a.name < b.name;
  });
  return out;
}

namespace {

// Both trees on one structure: every node has a left and a right side (zero
// where the function is absent on that side).
struct DiffNode {
  std::string_view name;
  int64_t lself = 0, ltotal = 0, rself = 0, rtotal = 0;
  std::vector<uint32_t> children;
};

std::vector<DiffNode> combine(const CallTree& l, const CallTree& r) {
  std::vector<DiffNode> out(1);
  out[0].ltotal = l.total();
  out[0].rtotal = r.total();
  out[0].lself = l.nodes()[CallTree::kRoot].self;
  out[0].rself = r.nodes()[CallTree::kRoot].self;
  struct Work {
    uint32_t out, left, right;  // UINT32_MAX: absent on that side
  };
  std::vector<Work> work{{0, CallTree::kRoot, CallTree::kRoot}};
  while (!work.empty()) {
    Work w = work.back();
    work.pop_back();
    auto lc = w.left == UINT32_MAX ? std::span<const uint32_t>() : l.children(l.nodes()[w.left]);
    auto rc = w.right == UINT32_MAX ? std::span<const uint32_t>() : r.children(r.nodes()[w.right]);
    size_t i = 0, j = 0;
    while (i < lc.size() || j < rc.size()) {
      int cmp;
      if (i == lc.size()) {
        cmp = 1;
      } else if (j == rc.size()) {
        cmp = -1;
      } else {
        cmp = l.name(l.nodes()[lc[i]]).compare(r.name(r.nodes()[rc[j]]));
      }
      DiffNode d;
      uint32_t li = UINT32_MAX, ri = UINT32_MAX;
      if (cmp <= 0) {
        li = lc[i++];
        d.name = l.name(l.nodes()[li]);
        d.lself = l.nodes()[li].self;
        d.ltotal = l.nodes()[li].total;
      }
      if (cmp >= 0) {
        ri = rc[j++];
        d.name = r.name(r.nodes()[ri]);
        d.rself = r.nodes()[ri].self;
        d.rtotal = r.nodes()[ri].total;
      }
      auto idx = static_cast<uint32_t>(out.size());
      out.push_back(std::move(d));
      out[w.out].children.push_back(idx);
      work.push_back({idx, li, ri});
    }
  }
  return out;
}

}  // namespace

FlameGraphDiff flame_graph_diff(const CallTree& left, const CallTree& right, int64_t max_nodes) {
  std::vector<DiffNode> nodes = combine(left, right);
  FlameGraphDiff fg;
  fg.left_ticks = nodes[0].ltotal;
  fg.right_ticks = nodes[0].rtotal;
  fg.total = fg.left_ticks + fg.right_ticks;
  int64_t min_val = 0;
  if (max_nodes > 0 && static_cast<int64_t>(nodes.size()) > max_nodes) {
    std::vector<int64_t> totals;
    totals.reserve(nodes.size());
    for (const auto& n : nodes) totals.push_back(std::max(n.ltotal, n.rtotal));
    min_val = kth_largest(totals, max_nodes);
  }
  NameTable names(&fg.names);
  struct Item {
    uint32_t node;  // UINT32_MAX: synthetic `other`
    int64_t lother = 0, rother = 0, xl = 0, xr = 0;
    size_t level = 0;
  };
  std::vector<Item> stack{{0, 0, 0, 0, 0, 0}};
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    int64_t ls, lt, rs, rt;
    std::string_view name;
    if (it.node == UINT32_MAX) {
      ls = lt = it.lother;
      rs = rt = it.rother;
      name = kOther;
    } else {
      const DiffNode& n = nodes[it.node];
      ls = n.lself;
      lt = n.ltotal;
      rs = n.rself;
      rt = n.rtotal;
      name = n.name;
    }
    int64_t ni = names.index(name, it.node == 0);
    fg.max_self = std::max({fg.max_self, ls, rs});
    if (it.level == fg.levels.size()) fg.levels.emplace_back();
    fg.levels[it.level].insert(fg.levels[it.level].end(), {it.xl, lt, ls, it.xr, rt, rs, ni});
    if (it.node == UINT32_MAX) continue;
    int64_t xl = it.xl + ls, xr = it.xr + rs, lother = 0, rother = 0;
    for (uint32_t c : nodes[it.node].children) {
      const DiffNode& child = nodes[c];
      if (child.ltotal >= min_val || child.rtotal >= min_val) {
        stack.push_back({c, 0, 0, xl, xr, it.level + 1});
        xl += child.ltotal;
        xr += child.rtotal;
      } else {
        lother += child.ltotal;
        rother += child.rtotal;
      }
    }
    if (lother != 0 || rother != 0)
      stack.push_back({UINT32_MAX, lother, rother, xl, xr, it.level + 1});
  }
  finish_levels(fg.levels, 7, {0, 3});
  return fg;
}

}  // namespace stoker::query
