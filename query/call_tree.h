// CallTree: the merged call tree of a StackSet (nodes keyed by function name
// under their parent, children ordered bytewise by name, as Pyroscope orders
// them), and everything rendered from it: Pyroscope's flame graph levels with
// `max_nodes` truncation into `other` nodes, its tree bytes, the two-tree diff,
// Brendan Gregg's folded stacks and a pprof-style top table.
//
// The encodings follow Pyroscope's pkg/model (flamegraph.go, tree.go,
// flamegraph_diff.go) exactly, so Grafana and Pyroscope's UI read them as
// Pyroscope's own; see shared/reference/pyroscope-query-api.md §6.4.
// Immutable after build(); safe to read from several threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "query/stack_set.h"

namespace stoker::query {

// A flame graph as querier.v1.FlameGraph carries it: level 0 is the root
// ("total" = names[0]); each node is 4 ints [x, total, self, name index] with
// x delta-encoded against the end of the previous node of the same level.
struct FlameGraph {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> levels;
  int64_t total = 0, max_self = 0;
};

// A diff as querier.v1.FlameGraphDiff: 7 ints per node
// [xLeft, totalLeft, selfLeft, xRight, totalRight, selfRight, name index].
struct FlameGraphDiff {
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> levels;
  int64_t total = 0, max_self = 0, left_ticks = 0, right_ticks = 0;
};

struct TopEntry {
  std::string name;
  int64_t self = 0, total = 0;  // total counts each stack once per function (recursion)
};

class CallTree {
 public:
  static constexpr uint32_t kRoot = 0;
  static constexpr uint32_t kNoName = UINT32_MAX;  // the root's name

  struct Node {
    uint32_t name = kNoName;  // index into names()
    uint32_t parent = 0;
    int64_t self = 0, total = 0;
    uint32_t first_child = 0, child_count = 0;  // into the children array
  };

  // The tree of `stacks`. `bottom_up` reverses every stack first, so the leaf
  // functions become the roots and their callers follow (Parca's "invert call
  // stack"); `collapse_recursion` merges a frame into its parent when both are
  // the same function.
  static CallTree build(const StackSet& stacks, bool bottom_up = false,
                        bool collapse_recursion = false);

  const std::vector<Node>& nodes() const { return nodes_; }
  // The children of `n` (node indices), ordered by name.
  std::span<const uint32_t> children(const Node& n) const {
    return {children_.data() + n.first_child, n.child_count};
  }
  const std::vector<std::string>& names() const { return names_; }
  const std::string& name(const Node& n) const;
  int64_t total() const { return nodes_[kRoot].total; }
  size_t size() const { return nodes_.size() - 1; }  // without the root

  // The smallest node total that is kept when at most `max_nodes` nodes may be
  // shown (0: everything fits or max_nodes < 1). Ties are all kept.
  int64_t min_value(int64_t max_nodes) const;

  FlameGraph flame_graph(int64_t max_nodes) const;
  // Pyroscope's tree format: pre-order, per node uvarint(len) name
  // uvarint(self) uvarint(children); empty for an empty tree.
  std::string tree_bytes(int64_t max_nodes) const;
  // One line per distinct stack with a self value: `root;child;leaf value`.
  std::string folded() const;
  // Per function, ordered by self (or total when `by_total`), then name.
  std::vector<TopEntry> top(bool by_total) const;

 private:
  std::vector<std::string> names_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> children_;  // every node's children, contiguous per parent
};

// The diff of two trees (left = baseline, right = comparison), aligned by name.
FlameGraphDiff flame_graph_diff(const CallTree& left, const CallTree& right, int64_t max_nodes);

}  // namespace stoker::query
