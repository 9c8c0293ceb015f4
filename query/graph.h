// Graph: pprof's call graph of a merged profile — nodes for frames at a
// granularity (self = flat, total = cum), edges for calls weighted by the value
// along them — pruned as `go tool pprof -dot`/-web prunes it: nodes below
// nodefraction of the total dropped, then the best `nodecount` nodes kept by
// pprof's entropy order (a node's shown tags count against the budget, as
// pprof's visual mode counts them), edges below edgefraction dropped, and
// residual edges (over dropped nodes, pprof's "…") removed where another path
// connects the same nodes. Defaults are pprof's: 80, 0.005, 0.001.
//
// Semantics follow github.com/google/pprof internal/graph and
// internal/report (newTrimmedGraph). Pure function of the profile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "query/refine.h"

namespace perftools::profiles {
class Profile;
}

namespace stoker::query {

struct GraphOptions {
  int64_t nodecount = 80;  // 0: no limit
  double nodefraction = 0.005;
  double edgefraction = 0.001;
  Granularity granularity = Granularity::kFunctions;
};

struct Graph {
  struct Node {
    std::string label;     // the frame as pprof names it at the granularity
    std::string function;  // the function name alone
    std::string file;      // empty at functions granularity
    int64_t line = 0;      // set at lines granularity
    int64_t flat = 0, cum = 0;
  };
  struct Edge {
    uint32_t from = 0, to = 0;  // indices into nodes (caller, callee)
    int64_t weight = 0;
    bool residual = false;  // goes over nodes that were dropped
    bool inline_call = false;
  };
  std::vector<Node> nodes;  // in pprof's order (most important first)
  std::vector<Edge> edges;  // heaviest first
  int64_t total = 0;        // the profile's total (sum of flat before pruning)
  size_t dropped_nodes = 0;  // below nodefraction
  size_t dropped_edges = 0;  // below edgefraction
  size_t shown_limit_dropped = 0;  // beyond nodecount
  int64_t node_cutoff = 0, edge_cutoff = 0;
};

// The graph of `p`'s first sample type.
Graph build_graph(const perftools::profiles::Profile& p, const GraphOptions& o);

// Every node's flat and cum at a granularity, unpruned and without edges
// (what the source listing needs).
std::vector<Graph::Node> node_totals(const perftools::profiles::Profile& p, Granularity g);

// Graphviz text of a graph (pprof's look: boxes sized by flat, labels with
// flat and cum and their shares, dotted edges for residual calls). `title`
// heads the legend; values are formatted in `unit` (nanoseconds, bytes, …).
std::string graph_dot(const Graph& g, const std::string& title, const std::string& unit);

}  // namespace stoker::query
