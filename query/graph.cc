#include "query/graph.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "proto/profile.pb.h"
#include "query/flamegraph_svg.h"

namespace stoker::query {

using perftools::profiles::Profile;

namespace {

int64_t abs64(int64_t v) { return v < 0 ? -v : v; }

struct Info {
  std::string label, function, file;
  int64_t line = 0;
};

struct Tag {
  int64_t flat = 0, cum = 0;
};

// A node's edges: (other node, edge index), few per node.
struct EdgeList : std::vector<std::pair<uint32_t, uint32_t>> {
  const std::pair<uint32_t, uint32_t>* find(uint32_t other) const {
    for (const auto& x : *this) {
      if (x.first == other) return &x;
    }
    return nullptr;
  }
  void erase_other(uint32_t other) {
    for (auto it = begin(); it != end(); ++it) {
      if (it->first == other) {
        erase(it);
        return;
      }
    }
  }
};

struct INode {
  int64_t flat = 0, cum = 0;
  std::unordered_map<uint32_t, Tag> label_tags;  // by the sample's joined labels
  // By joined labels, then the "bytes" numeric label's value.
  std::unordered_map<uint32_t, std::unordered_map<int64_t, Tag>> numeric_tags;
  EdgeList in, out;
};

struct IEdge {
  uint32_t src = 0, dst = 0;
  int64_t weight = 0;
  bool residual = false, inline_call = true;
};

// The profile read once: node infos per location and per sample its joined
// labels and "bytes" values; graphs are then built from it again and again
// with a shrinking set of kept nodes, as pprof rebuilds them.
class Builder {
 public:
  Builder(const Profile& p, Granularity g) : p_(p) {
    std::unordered_map<uint64_t, int> functions;
    for (int i = 0; i < p.function_size(); ++i) functions[p.function(i).id()] = i;
    std::unordered_map<std::string, uint32_t> by_label;
    auto info_of = [&](Info info) {
      auto [it, added] = by_label.emplace(info.label, static_cast<uint32_t>(infos_.size()));
      if (added) infos_.push_back(std::move(info));
      return it->second;
    };
    for (const auto& l : p.location()) {
      auto& ids = locations_[l.id()];  // innermost first, as pprof's locationMap
      if (l.line_size() == 0) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(l.address()));
        ids.push_back(info_of({buf, buf, "", 0}));
        continue;
      }
      for (const auto& ln : l.line()) {
        auto f = functions.find(ln.function_id());
        std::string name = f == functions.end() ? "" : str(p.function(f->second).name());
        std::string file = f == functions.end() || g == Granularity::kFunctions
                               ? ""
                               : str(p.function(f->second).filename());
        int64_t line = g == Granularity::kLines ? ln.line() : 0;
        std::string label = frame_label(name, file, line, g);
        ids.push_back(info_of({label, name.empty() ? "unknown" : name, file, line}));
      }
    }
    std::unordered_map<std::string, uint32_t> label_ids;
    int64_t bytes_key = -1;
    for (int i = 0; i < p.string_table_size(); ++i) {
      if (p.string_table(i) == "bytes") bytes_key = i;
    }
    // Samples with the same stack, labels and size are one (a merge of many
    // profiles repeats most stacks): weights add up.
    std::unordered_map<std::string, uint32_t> distinct;
    std::vector<std::string> parts;
    std::string key;
    for (const auto& s : p.sample()) {
      int64_t w = s.value_size() > 0 ? s.value(0) : 0;
      if (w == 0) continue;
      SampleInfo si;
      parts.clear();
      for (const auto& l : s.label()) {
        if (l.str() != 0) parts.push_back(str(l.key()) + ":" + str(l.str()));
        else if (l.num() != 0 && l.key() == bytes_key) si.bytes.push_back(l.num());
      }
      std::sort(parts.begin(), parts.end());
      std::string joined;
      for (size_t k = 0; k < parts.size(); ++k) joined += (k ? "\\n" : "") + parts[k];
      si.labels = joined.empty() ? kNoLabels
                                 : label_ids.emplace(joined, static_cast<uint32_t>(label_ids.size()))
                                       .first->second;
      key.assign(reinterpret_cast<const char*>(&si.labels), sizeof si.labels);
      for (int64_t b : si.bytes) key.append(reinterpret_cast<const char*>(&b), sizeof b);
      key += '\0';
      for (uint64_t l : s.location_id()) key.append(reinterpret_cast<const char*>(&l), sizeof l);
      auto [it, added] = distinct.emplace(key, static_cast<uint32_t>(samples_.size()));
      if (!added) {
        samples_[it->second].weight += w;
        continue;
      }
      si.weight = w;
      // Root first; each frame's node, with kInline set for a frame that is
      // not the outermost line of its location (pprof's inline edges).
      for (int i = s.location_id_size() - 1; i >= 0; --i) {
        auto loc = locations_.find(s.location_id(i));
        if (loc == locations_.end()) continue;
        const auto& nodes = loc->second;
        for (size_t ni = nodes.size(); ni-- > 0;) {
          si.frames.push_back(nodes[ni] | (ni != nodes.size() - 1 ? kInline : 0));
        }
      }
      samples_.push_back(std::move(si));
    }
  }

  const std::vector<Info>& infos() const { return infos_; }

  // The graph with only `kept` nodes (null: all); others become residual.
  struct G {
    std::vector<INode> nodes;  // by info id
    std::vector<bool> present;
    std::vector<IEdge> edges;
    std::vector<bool> edge_alive;
    std::vector<uint32_t> order;  // present nodes
  };
  // `full`: with edges and tags; else only flat and cum (what the first
  // cut by nodefraction and the source listing need).
  G build(const std::vector<bool>* kept, bool full = true) const {
    G g;
    g.nodes.resize(infos_.size());
    // Stamps: the sample that last counted a node or an edge (each counts
    // once per sample, however often it recurs in the stack).
    std::vector<uint32_t> node_stamp(infos_.size(), UINT32_MAX);
    std::vector<uint32_t> edge_stamp;
    auto is_kept = [&](uint32_t n) { return kept == nullptr || (*kept)[n]; };
    for (uint32_t si = 0; si < samples_.size(); ++si) {
      const SampleInfo& info = samples_[si];
      const int64_t w = info.weight;
      int64_t parent = -1;
      bool residual = false;
      for (uint32_t f : info.frames) {
        const uint32_t n = f & ~kInline;
        if (!is_kept(n)) {
          residual = true;
          continue;
        }
        if (node_stamp[n] != si) {
          node_stamp[n] = si;
          if (full) add_sample(g.nodes[n], w, info, false);
          else g.nodes[n].cum += w;
        }
        if (full && parent >= 0 && n != static_cast<uint32_t>(parent)) {
          uint32_t e = add_edge(g, static_cast<uint32_t>(parent), n, si, edge_stamp);
          if (e != UINT32_MAX) {
            IEdge& x = g.edges[e];
            x.weight += w;
            if (residual) x.residual = true;
            if ((f & kInline) == 0) x.inline_call = false;
          }
        }
        parent = n;
        residual = false;
      }
      if (parent >= 0 && !residual) {
        if (full) add_sample(g.nodes[static_cast<size_t>(parent)], w, info, true);
        else g.nodes[static_cast<size_t>(parent)].flat += w;
      }
    }
    g.present.assign(infos_.size(), false);
    for (uint32_t n = 0; n < g.nodes.size(); ++n) {
      if (g.nodes[n].cum != 0 || g.nodes[n].flat != 0) {
        g.present[n] = true;
        g.order.push_back(n);
      }
    }
    g.edge_alive.assign(g.edges.size(), true);
    return g;
  }

 private:
  static constexpr uint32_t kNoLabels = UINT32_MAX;
  static constexpr uint32_t kInline = 1u << 31;
  struct SampleInfo {
    uint32_t labels = kNoLabels;
    std::vector<int64_t> bytes;
    int64_t weight = 0;
    std::vector<uint32_t> frames;  // node ids root first, | kInline
  };

  std::string str(int64_t i) const {
    return i > 0 && i < p_.string_table_size() ? p_.string_table(static_cast<int>(i)) : "";
  }

  static void add_sample(INode& n, int64_t w, const SampleInfo& si, bool flat) {
    (flat ? n.flat : n.cum) += w;
    if (si.labels != kNoLabels) {
      auto& t = n.label_tags[si.labels];
      (flat ? t.flat : t.cum) += w;
    }
    if (!si.bytes.empty()) {
      auto& m = n.numeric_tags[si.labels];
      for (int64_t b : si.bytes) {
        auto& t = m[b];
        (flat ? t.flat : t.cum) += w;
      }
    }
  }

  // The edge from → to, added when new; UINT32_MAX when this sample already
  // counted it.
  static uint32_t add_edge(G& g, uint32_t from, uint32_t to, uint32_t sample,
                           std::vector<uint32_t>& stamp) {
    uint32_t e;
    if (const auto* found = g.nodes[from].out.find(to)) {
      e = found->second;
    } else {
      e = static_cast<uint32_t>(g.edges.size());
      g.edges.push_back({from, to, 0, false, true});
      stamp.push_back(UINT32_MAX);
      g.nodes[from].out.emplace_back(to, e);
      g.nodes[to].in.emplace_back(from, e);
    }
    if (stamp[e] == sample) return UINT32_MAX;
    stamp[e] = sample;
    return e;
  }

  const Profile& p_;
  std::vector<Info> infos_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> locations_;
  std::vector<SampleInfo> samples_;
};

using G = Builder::G;

double edge_entropy(const G& g, const EdgeList& edges, int64_t self) {
  double score = 0;
  int64_t total = self;
  for (const auto& [other, e] : edges) {
    if (g.edges[e].weight > 0) total += abs64(g.edges[e].weight);
  }
  if (total != 0) {
    for (const auto& [other, e] : edges) {
      double frac = static_cast<double>(abs64(g.edges[e].weight)) / static_cast<double>(total);
      if (frac > 0) score += -frac * std::log2(frac);
    }
    if (self > 0) {
      double frac = static_cast<double>(abs64(self)) / static_cast<double>(total);
      score += -frac * std::log2(frac);
    }
  }
  return score;
}

int64_t entropy_score(const G& g, uint32_t id) {
  const INode& n = g.nodes[id];
  double score = 0;
  score += n.in.empty() ? 1 : edge_entropy(g, n.in, 0);
  score += n.out.empty() ? 1 : edge_entropy(g, n.out, n.flat);
  return static_cast<int64_t>(score * static_cast<double>(n.cum)) + n.flat;
}

// pprof's EntropyOrder, ties broken by the node's identity.
void sort_nodes(G& g, const std::vector<Info>& infos) {
  std::vector<std::pair<int64_t, uint32_t>> scored;
  for (uint32_t n : g.order) scored.emplace_back(entropy_score(g, n), n);
  std::sort(scored.begin(), scored.end(), [&](const auto& l, const auto& r) {
    if (l.first != r.first) return l.first > r.first;
    const Info& a = infos[l.second];
    const Info& b = infos[r.second];
    // pprof compares the printed node info: name, file, then the line as text.
    if (a.function != b.function) return a.function < b.function;
    if (a.file != b.file) return a.file < b.file;
    return std::to_string(a.line) < std::to_string(b.line);
  });
  for (size_t i = 0; i < scored.size(); ++i) g.order[i] = scored[i].second;
}

void trim_tags(G& g, int64_t min) {
  auto trim = [&](auto& tags) {
    for (auto it = tags.begin(); it != tags.end();) {
      if (abs64(it->second.flat) >= min || abs64(it->second.cum) >= min) ++it;
      else it = tags.erase(it);
    }
  };
  for (uint32_t n : g.order) {
    trim(g.nodes[n].label_tags);
    for (auto& [labels, tags] : g.nodes[n].numeric_tags) trim(tags);
  }
}

void remove_edge(G& g, uint32_t e) {
  g.edge_alive[e] = false;
  g.nodes[g.edges[e].src].out.erase_other(g.edges[e].dst);
  g.nodes[g.edges[e].dst].in.erase_other(g.edges[e].src);
}

size_t trim_edges(G& g, int64_t cutoff) {
  size_t dropped = 0;
  for (uint32_t e = 0; e < g.edges.size(); ++e) {
    if (g.edge_alive[e] && abs64(g.edges[e].weight) < cutoff) {
      remove_edge(g, e);
      ++dropped;
    }
  }
  return dropped;
}

size_t count_tags(const INode& n) {
  size_t c = 0;
  for (const auto& [k, t] : n.label_tags) c += t.flat != 0;
  for (const auto& [k, m] : n.numeric_tags) {
    for (const auto& [v, t] : m) c += t.flat != 0;
  }
  return c;
}

// Edges into `id`, heaviest first (pprof's edgeList order).
std::vector<uint32_t> sorted_in(const G& g, uint32_t id, const std::vector<Info>& infos) {
  std::vector<uint32_t> in;
  for (const auto& [src, e] : g.nodes[id].in) in.push_back(e);
  std::sort(in.begin(), in.end(), [&](uint32_t a, uint32_t b) {
    const IEdge& x = g.edges[a];
    const IEdge& y = g.edges[b];
    if (x.weight != y.weight) return abs64(x.weight) > abs64(y.weight);
    if (infos[x.src].label != infos[y.src].label) return infos[x.src].label < infos[y.src].label;
    return infos[x.dst].label < infos[y.dst].label;
  });
  return in;
}

bool redundant(const G& g, uint32_t edge) {
  const uint32_t src = g.edges[edge].src;
  std::unordered_set<uint32_t> seen{g.edges[edge].dst};
  std::vector<uint32_t> queue{g.edges[edge].dst};
  for (size_t q = 0; q < queue.size(); ++q) {
    for (const auto& [from, e] : g.nodes[queue[q]].in) {
      if (e == edge || seen.count(from) != 0) continue;
      if (from == src) return true;
      seen.insert(from);
      queue.push_back(from);
    }
  }
  return false;
}

void remove_redundant_edges(G& g, const std::vector<Info>& infos) {
  for (size_t i = g.order.size(); i > 0; --i) {
    auto in = sorted_in(g, g.order[i - 1], infos);
    for (size_t j = in.size(); j > 0; --j) {
      uint32_t e = in[j - 1];
      if (!g.edges[e].residual) break;
      if (redundant(g, e)) remove_edge(g, e);
    }
  }
}

}  // namespace

Graph build_graph(const Profile& p, const GraphOptions& o) {
  Builder b(p, o.granularity);
  const auto& infos = b.infos();
  // First the nodes' values alone: the total and the cut by nodefraction.
  G g = b.build(nullptr, /*full=*/false);
  Graph out;
  for (uint32_t n : g.order) out.total += g.nodes[n].flat;
  const auto cutoff = [&](double fraction) {
    return abs64(static_cast<int64_t>(static_cast<double>(out.total) * fraction));
  };
  out.node_cutoff = cutoff(o.nodefraction);
  out.edge_cutoff = cutoff(o.edgefraction);
  auto keep_set = [&](const std::vector<uint32_t>& ids) {
    std::vector<bool> kept(infos.size(), false);
    for (uint32_t n : ids) kept[n] = true;
    return kept;
  };
  if (out.node_cutoff > 0) {
    std::vector<uint32_t> kept;
    for (uint32_t n : g.order) {
      if (abs64(g.nodes[n].cum) >= out.node_cutoff) kept.push_back(n);
    }
    out.dropped_nodes = g.order.size() - kept.size();
    auto set = keep_set(kept);
    g = b.build(&set);
  } else {
    g = b.build(nullptr);
  }
  sort_nodes(g, infos);
  if (o.nodecount > 0) {
    trim_tags(g, out.node_cutoff);
    trim_edges(g, out.edge_cutoff);
    size_t max = static_cast<size_t>(o.nodecount);
    size_t count = 0;
    for (size_t i = 0; i < g.order.size(); ++i) {
      count += std::min<size_t>(count_tags(g.nodes[g.order[i]]), 4) + 1;
      if (count >= max) {
        max = i + 1;
        break;
      }
    }
    if (max < g.order.size()) {
      out.shown_limit_dropped = g.order.size() - max;
      auto set = keep_set({g.order.begin(), g.order.begin() + static_cast<ptrdiff_t>(max)});
      g = b.build(&set);
      sort_nodes(g, infos);
    }
  }
  trim_tags(g, out.node_cutoff);
  out.dropped_edges = trim_edges(g, out.edge_cutoff);
  remove_redundant_edges(g, infos);

  std::vector<uint32_t> index(infos.size(), UINT32_MAX);
  for (uint32_t n : g.order) {
    index[n] = static_cast<uint32_t>(out.nodes.size());
    const Info& i = infos[n];
    out.nodes.push_back({i.label, i.function, i.file, i.line, g.nodes[n].flat, g.nodes[n].cum});
  }
  for (uint32_t e = 0; e < g.edges.size(); ++e) {
    if (!g.edge_alive[e]) continue;
    const IEdge& x = g.edges[e];
    out.edges.push_back({index[x.src], index[x.dst], x.weight, x.residual, x.inline_call});
  }
  std::stable_sort(out.edges.begin(), out.edges.end(), [](const auto& a, const auto& b) {
    return abs64(a.weight) > abs64(b.weight);
  });
  return out;
}

std::vector<Graph::Node> node_totals(const Profile& p, Granularity g) {
  Builder b(p, g);
  G graph = b.build(nullptr, /*full=*/false);
  std::vector<Graph::Node> out;
  for (uint32_t n : graph.order) {
    const Info& i = b.infos()[n];
    out.push_back({i.label, i.function, i.file, i.line, graph.nodes[n].flat, graph.nodes[n].cum});
  }
  return out;
}

namespace {

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string percent(int64_t v, int64_t total) {
  if (total == 0) return "0%";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%",
                100.0 * static_cast<double>(v) / static_cast<double>(total));
  return buf;
}

// "crypto/sha256.(*digest).Write" → "sha256\n(*digest)\nWrite", as pprof breaks
// names into lines (package path dropped, one line per dotted part).
std::string node_text(const Graph::Node& n) {
  std::string name = n.function;
  if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
  std::string out;
  int depth = 0;
  for (char c : name) {
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (c == '.' && depth == 0) {
      out += "\\n";
      continue;
    }
    out += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  }
  if (n.line != 0 || !n.file.empty()) {
    std::string file = n.file;
    if (auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
    out += "\\n" + dot_escape(file) + (n.line != 0 ? ":" + std::to_string(n.line) : "");
  }
  return out;
}

}  // namespace

std::string graph_dot(const Graph& g, const std::string& title, const std::string& unit) {
  int64_t shown = 0;
  int64_t max_flat = 1;
  for (const auto& n : g.nodes) {
    shown += n.flat;
    max_flat = std::max(max_flat, abs64(n.flat));
  }
  std::string out = "digraph \"" + dot_escape(title) + "\" {\n";
  out += "node [style=filled fillcolor=\"#f8f8f8\"]\n";
  std::string legend = dot_escape(title) + "\\lShowing nodes accounting for " +
                       format_value(shown, unit) + ", " + percent(shown, g.total) + " of " +
                       format_value(g.total, unit) + " total\\l";
  if (g.dropped_nodes > 0) {
    legend += "Dropped " + std::to_string(g.dropped_nodes) + " nodes (cum <= " +
              format_value(g.node_cutoff, unit) + ")\\l";
  }
  if (g.dropped_edges > 0) {
    legend += "Dropped " + std::to_string(g.dropped_edges) + " edges (freq <= " +
              format_value(g.edge_cutoff, unit) + ")\\l";
  }
  if (g.shown_limit_dropped > 0) {
    legend += "Showing top " + std::to_string(g.nodes.size()) + " nodes out of " +
              std::to_string(g.nodes.size() + g.shown_limit_dropped) + "\\l";
  }
  out += "subgraph cluster_L { \"legend\" [shape=box fontsize=16 label=\"" + legend +
         "\" tooltip=\"" + dot_escape(title) + "\"] }\n";
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& n = g.nodes[i];
    std::string label = node_text(n) + "\\n" + format_value(n.flat, unit) + " (" +
                        percent(n.flat, g.total) + ")";
    if (n.cum != n.flat) {
      label += "\\nof " + format_value(n.cum, unit) + " (" + percent(n.cum, g.total) + ")";
    }
    int fontsize = 8 + static_cast<int>(std::lround(
                           16.0 * std::sqrt(static_cast<double>(abs64(n.flat)) /
                                            static_cast<double>(max_flat))));
    out += "N" + std::to_string(i + 1) + " [label=\"" + label + "\" id=\"node" +
           std::to_string(i + 1) + "\" fontsize=" + std::to_string(fontsize) +
           " shape=box tooltip=\"" + dot_escape(n.label) + " (" + format_value(n.cum, unit) +
           ")\"]\n";
  }
  for (const auto& e : g.edges) {
    const char* sep = e.residual ? " ... " : " -> ";
    out += "N" + std::to_string(e.from + 1) + " -> N" + std::to_string(e.to + 1) + " [label=\" " +
           format_value(e.weight, unit) + (e.inline_call ? "\\n (inline)" : "") + "\" weight=" +
           std::to_string(std::max<int64_t>(1, g.total ? 100 * abs64(e.weight) / g.total : 1)) +
           " tooltip=\"" + dot_escape(g.nodes[e.from].label) + sep +
           dot_escape(g.nodes[e.to].label) + " (" + format_value(e.weight, unit) + ")\"" +
           (e.residual ? " style=\"dotted\"" : "") + "]\n";
  }
  out += "}\n";
  return out;
}

}  // namespace stoker::query
