#include "web/render_api.h"

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <ctime>

#include "model/text.h"
#include "model/timeparse.h"
#include "model/units.h"
#include "pprof/pprof_decode.h"
#include "proto/profile.pb.h"
#include "query/call_tree.h"
#include "query/flamebearer.h"
#include "query/flamegraph_svg.h"
#include "query/graph.h"
#include "query/source.h"
#include "web/connect.h"
#include "web/querier_api.h"

namespace stoker {

namespace json = boost::json;
using connect::Code;

namespace {

using Params = std::map<std::string, std::vector<std::string>>;

std::string param(const Params& p, const std::string& name, const std::string& fallback = "") {
  auto it = p.find(name);
  return it == p.end() || it->second.empty() ? fallback : it->second.front();
}

// A render query `<profile type id>{matchers}` split into its two parts.
Status split_query(const std::string& q, std::string* type, std::string* selector) {
  size_t brace = q.find('{');
  std::string t = q.substr(0, brace);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.erase(0, 1);
  if (q.empty()) {
    return Status::invalid(
        "query is required, e.g. "
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name=\"app\"}");
  }
  if (t.empty()) {
    return Status::invalid(
        "the query has no profile type: write it before the selector, e.g. "
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds{...}");
  }
  if (auto parsed = ProfileTypeId::parse(t); !parsed) return parsed.status();
  *type = t;
  *selector = brace == std::string::npos ? "{}" : q.substr(brace);
  return Status();
}

struct RenderRequest {
  query::Selection sel;
  int64_t max_nodes = 0;
};

// pprof's refine options (focus, ignore, hide, show, show_from, tagfocus,
// tagignore, granularity) from the query string into `sel`.
std::optional<WebResponse> refine_request(const Params& p, query::Selection* sel) {
  query::RefineOptions o;
  for (const auto& name : query::RefineOptions::names()) {
    std::string v = param(p, name);
    if (v.empty()) continue;
    if (Status s = o.set(name, v); !s.ok()) return connect::error(s);
  }
  if (!o.active()) return std::nullopt;
  auto r = query::Refiner::compile(o);
  if (!r) return connect::error(r.status());
  sel->refine = *r;
  return std::nullopt;
}

// The query, range and max nodes of a render request; `prefix` is "" or
// "left"/"right" (render-diff).
std::optional<WebResponse> render_request(const Params& p, const std::string& prefix,
                                          const query::Limits& limits, RenderRequest* out) {
  auto key = [&](const char* name) {
    if (prefix.empty()) return std::string(name);
    std::string k = prefix + name;
    k[prefix.size()] =
        static_cast<char>(std::toupper(static_cast<unsigned char>(k[prefix.size()])));
    return k;
  };
  if (Status s =
          split_query(param(p, key("query")), &out->sel.profile_type, &out->sel.label_selector);
      !s.ok()) {
    return connect::error(s);
  }
  int64_t now = now_unix_nanos() / 1'000'000;
  auto from = parse_attime_ms(param(p, key("from"), "now-1h"), now);
  if (!from) return connect::error(from.status().context(key("from")));
  auto until = parse_attime_ms(param(p, key("until"), "now"), now);
  if (!until) return connect::error(until.status().context(key("until")));
  out->sel.start_ms = *from;
  out->sel.end_ms = *until;
  // stoker: only some stored profiles (a point of the timeline).
  auto ids = p.find("profileId");
  if (ids != p.end()) {
    for (const auto& id : ids->second) {
      char* end = nullptr;
      long long v = std::strtoll(id.c_str(), &end, 10);
      if (id.empty() || *end != '\0' || v <= 0) {
        return connect::error(Code::kInvalidArgument, "invalid profileId \"" + id + "\"");
      }
      out->sel.profile_ids.push_back(v);
    }
  }
  // stoker: only the samples of some spans (a span profile, as Grafana's
  // SelectMergeSpanProfile), ids repeated or separated by commas.
  auto spans = p.find("spanSelector");
  if (spans != p.end()) {
    if (Status bad = parse_span_ids(spans->second, &out->sel.span_ids); !bad.ok()) {
      return connect::error(bad.context("spanSelector"));
    }
  }
  std::string nodes = param(p, "max-nodes", param(p, "maxNodes"));
  out->max_nodes = limits.default_max_nodes;
  if (!nodes.empty()) {
    char* end = nullptr;
    long long v = std::strtoll(nodes.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > limits.max_nodes) {
      return connect::error(Code::kInvalidArgument, "max-nodes must be an integer between 0 and " +
                                                        std::to_string(limits.max_nodes));
    }
    if (v > 0) out->max_nodes = v;
  }
  if (prefix.empty()) return refine_request(p, &out->sel);
  return std::nullopt;
}

json::object timeline(const query::SeriesResult* s, int64_t from_ms, int64_t until_ms,
                      int64_t step) {
  json::object t;
  int64_t start = from_ms / 1000;
  t["startTime"] = start;
  t["durationDelta"] = step;
  t["watermarks"] = nullptr;
  // Points sit at start + k·step ≤ until: k = 0 … (until − start) / step.
  int64_t n = std::max<int64_t>(0, (until_ms / 1000 - start) / step + 1);
  std::vector<int64_t> samples(static_cast<size_t>(n), 0);
  if (s) {
    for (const auto& p : s->points) {
      if (p.ts_ms < from_ms || p.ts_ms >= until_ms) continue;
      int64_t idx = (p.ts_ms / 1000 - start) / step;
      if (idx >= 0 && idx < n) samples[static_cast<size_t>(idx)] = static_cast<int64_t>(p.value);
    }
  }
  json::array arr;
  for (int64_t v : samples) arr.push_back(v);
  t["samples"] = std::move(arr);
  return t;
}

WebResponse json_response(const json::object& doc) {
  WebResponse r;
  r.content_type = "application/json";
  r.body = json::serialize(doc);
  return r;
}

std::string file_part(std::string_view s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return out.empty() ? "profile" : out;
}

bool flag_param(const Params& p, const std::string& name) {
  std::string v = param(p, name);
  return v == "true" || v == "1";
}

std::string attachment(const std::string& name) {
  return "attachment; filename=\"" + name + "\"";
}

// A fraction parameter in [0, 1], or the default.
std::optional<double> fraction(const Params& p, const std::string& name, double fallback) {
  std::string v = param(p, name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (*end != '\0' || !(d >= 0 && d <= 1)) return std::nullopt;
  return d;
}

// The merged profile of a request with its refine filters; an error response
// when it fails or nothing matches.
std::optional<WebResponse> merged(const RenderRequest& rr, query::EnginePool& pool,
                                  perftools::profiles::Profile* out, query::MergeInfo* info) {
  auto s = pool.with([&](query::Engine& e) { return e.merge_pprof(rr.sel, out, info); });
  if (!s.ok()) return connect::error(s);
  if (info->profiles == 0) {
    return connect::error(Code::kNotFound, "no profiles match the query in that time range");
  }
  return std::nullopt;
}

json::array unmatched_json(const query::MergeInfo& info) {
  json::array u;
  for (const auto& n : info.unmatched) u.push_back(json::string(n));
  return u;
}

// pprof's call graph: format=dot (Graphviz text, as `go tool pprof -dot`) or
// format=graph (the same graph as JSON, for the page). nodecount,
// nodefraction and edgefraction as pprof's options.
WebResponse graph(const Params& p, const RenderRequest& rr, query::EnginePool& pool,
                  const std::string& format) {
  query::GraphOptions o;
  if (rr.sel.refine) o.granularity = rr.sel.refine->options().granularity;
  std::string count = param(p, "nodecount");
  if (!count.empty()) {
    char* end = nullptr;
    long long v = std::strtoll(count.c_str(), &end, 10);
    if (*end != '\0' || v < 0 || v > 100000) {
      return connect::error(Code::kInvalidArgument, "nodecount must be an integer from 0 to 100000");
    }
    o.nodecount = v;
  }
  auto nf = fraction(p, "nodefraction", o.nodefraction);
  auto ef = fraction(p, "edgefraction", o.edgefraction);
  if (!nf || !ef) {
    return connect::error(Code::kInvalidArgument,
                          "nodefraction and edgefraction must be numbers from 0 to 1");
  }
  o.nodefraction = *nf;
  o.edgefraction = *ef;
  perftools::profiles::Profile prof;
  query::MergeInfo info;
  if (auto err = merged(rr, pool, &prof, &info)) return *err;
  auto g = query::build_graph(prof, o);
  if (format == "dot") {
    WebResponse r;
    r.content_type = "text/vnd.graphviz; charset=utf-8";
    r.body = query::graph_dot(g, info.type.id() + " " + rr.sel.label_selector, info.type.sample_unit);
    return r;
  }
  json::array nodes, edges;
  for (const auto& n : g.nodes) {
    json::object o2;
    o2["name"] = n.label;
    o2["function"] = n.function;
    o2["file"] = n.file;
    o2["line"] = n.line;
    o2["flat"] = n.flat;
    o2["cum"] = n.cum;
    nodes.push_back(std::move(o2));
  }
  for (const auto& e : g.edges) {
    json::object o2;
    o2["from"] = e.from;
    o2["to"] = e.to;
    o2["weight"] = e.weight;
    o2["residual"] = e.residual;
    o2["inline"] = e.inline_call;
    edges.push_back(std::move(o2));
  }
  json::object doc;
  doc["nodes"] = std::move(nodes);
  doc["edges"] = std::move(edges);
  doc["total"] = g.total;
  doc["droppedNodes"] = g.dropped_nodes + g.shown_limit_dropped;
  doc["droppedEdges"] = g.dropped_edges;
  doc["nodeCutoff"] = g.node_cutoff;
  doc["edgeCutoff"] = g.edge_cutoff;
  doc["profiles"] = info.profiles;
  doc["metadata"] = query::flamebearer_metadata(info.type, "single");
  doc["unmatched"] = unmatched_json(info);
  return json_response(doc);
}

// GET /api/v1/source?query=…&from=…&until=…&function=REGEX: `go tool pprof
// -list` as JSON. Files are read through `locator` only (its roots), and only
// files the merged profile names.
WebResponse source(const Params& p, query::EnginePool& pool, const query::SourceLocator* locator) {
  if (locator == nullptr) {
    WebResponse r = connect::error(
        Code::kFailedPrecondition,
        "the source view is off: stoker listens beyond loopback; enable it with source.enabled: "
        "true in the config");
    r.status = 403;
    return r;
  }
  RenderRequest rr;
  if (auto err = render_request(p, "", pool.limits(), &rr)) return *err;
  std::string fn = param(p, "function");
  if (fn.empty()) return connect::error(Code::kInvalidArgument, "function (a regex) is required");
  perftools::profiles::Profile prof;
  query::MergeInfo info;
  if (auto err = merged(rr, pool, &prof, &info)) return *err;
  std::vector<query::SourceListing> listings;
  int64_t total = 0;
  if (Status s = query::list_source(prof, fn, *locator, true, &listings, &total); !s.ok()) {
    return connect::error(s.context("function"));
  }
  json::array files;
  for (const auto& l : listings) {
    json::object o;
    o["function"] = l.function;
    o["file"] = l.file;
    o["found"] = !l.path.empty();
    json::array tried;
    for (const auto& t : l.tried) tried.push_back(json::string(t));
    o["tried"] = std::move(tried);
    o["flat"] = l.flat;
    o["cum"] = l.cum;
    json::array lines;
    for (const auto& x : l.lines) {
      json::object lo;
      lo["line"] = x.line;
      lo["flat"] = x.flat;
      lo["cum"] = x.cum;
      lo["text"] = x.text;
      lines.push_back(std::move(lo));
    }
    o["lines"] = std::move(lines);
    files.push_back(std::move(o));
  }
  json::object doc;
  doc["total"] = total;
  doc["listings"] = std::move(files);
  doc["metadata"] = query::flamebearer_metadata(info.type, "single");
  doc["unmatched"] = unmatched_json(info);
  return json_response(doc);
}

WebResponse render(const Params& p, query::EnginePool& pool) {
  RenderRequest rr;
  if (auto err = render_request(p, "", pool.limits(), &rr)) return *err;
  std::string format = param(p, "format", "json");
  if (format == "dot" || format == "graph") return graph(p, rr, pool, format);
  query::StackSet stacks;
  query::MergeInfo info;
  auto s = pool.with([&](query::Engine& e) { return e.merge_stacks(rr.sel, &stacks, &info); });
  if (!s.ok()) return connect::error(s);
  // stoker's extensions: the sandwich of one function, bottom-up and
  // collapsed-recursion trees, folded stacks and SVG.
  std::string sandwich = param(p, "sandwich");
  if (!sandwich.empty()) {
    json::object doc;
    doc["version"] = 1;
    doc["function"] = sandwich;
    doc["callers"] = query::flamebearer_json(
        query::CallTree::build(stacks.callers(sandwich)).flame_graph(rr.max_nodes));
    doc["callees"] = query::flamebearer_json(
        query::CallTree::build(stacks.callees(sandwich)).flame_graph(rr.max_nodes));
    doc["metadata"] = query::flamebearer_metadata(info.type, "single");
    return json_response(doc);
  }
  auto tree =
      query::CallTree::build(stacks, flag_param(p, "bottomUp"), flag_param(p, "collapseRecursion"));
  if (format == "folded") {
    WebResponse r;
    r.body = tree.folded();
    r.headers.emplace_back("Content-Disposition",
                           attachment(file_part(info.type.name) + ".folded"));
    return r;
  }
  if (format == "svg") {
    query::SvgOptions o;
    o.title = info.type.name + " " + info.type.sample_type;
    o.subtitle = rr.sel.label_selector + "  " + format_time(rr.sel.start_ms * 1'000'000) + " … " +
                 format_time(rr.sel.end_ms * 1'000'000) + "  " + std::to_string(info.profiles) +
                 " profiles";
    o.sample_unit = info.type.sample_unit;
    o.icicle = param(p, "orientation") != "bottom";
    o.max_nodes = rr.max_nodes;
    WebResponse r;
    r.content_type = "image/svg+xml";
    r.body = query::render_svg(tree, o);
    r.headers.emplace_back("Content-Disposition", attachment(file_part(info.type.name) + ".svg"));
    return r;
  }
  if (format != "json") {
    return connect::error(Code::kInvalidArgument,
                          "unknown format \"" + format + "\" (json, folded, svg, dot, graph)");
  }
  auto fg = tree.flame_graph(rr.max_nodes);
  if (param(p, "timeline") == "false") {
    auto doc = query::flamebearer_document(fg, info.type, static_cast<int64_t>(info.profiles));
    if (!info.unmatched.empty()) doc["unmatched"] = unmatched_json(info);
    return json_response(doc);
  }

  int64_t step = timeline_step_seconds(rr.sel.start_ms, rr.sel.end_ms);
  query::SeriesQuery q;
  q.sel = rr.sel;
  q.step_s = static_cast<double>(step);
  q.average = param(p, "aggregation") == "avg";
  std::vector<query::SeriesResult> series;
  s = pool.with([&](query::Engine& e) { return e.select_series(q, &series); });
  if (!s.ok()) return connect::error(s);

  json::object doc;
  doc["version"] = 1;
  doc["flamebearer"] = query::flamebearer_json(fg);
  doc["metadata"] = query::flamebearer_metadata(info.type, "single");
  doc["profiles"] = info.profiles;
  doc["timeline"] =
      timeline(series.size() == 1 ? &series[0] : nullptr, rr.sel.start_ms, rr.sel.end_ms, step);
  auto group_by = p.find("groupBy");
  if (group_by != p.end() && !group_by->second.empty()) {
    q.group_by = {group_by->second.front()};
    std::vector<query::SeriesResult> grouped;
    s = pool.with([&](query::Engine& e) { return e.select_series(q, &grouped); });
    if (!s.ok()) return connect::error(s);
    json::object groups;
    for (const auto& g : grouped) {
      std::string key = g.labels.empty() ? "*" : g.labels.front().value;
      groups[key] = timeline(&g, rr.sel.start_ms, rr.sel.end_ms, step);
    }
    doc["groups"] = std::move(groups);
  } else {
    doc["groups"] = nullptr;
  }
  doc["heatmap"] = nullptr;
  if (!info.unmatched.empty()) doc["unmatched"] = unmatched_json(info);
  return json_response(doc);
}

WebResponse render_diff(const Params& p, query::EnginePool& pool) {
  RenderRequest left, right;
  if (auto err = render_request(p, "left", pool.limits(), &left)) return *err;
  if (auto err = render_request(p, "right", pool.limits(), &right)) return *err;
  if (left.sel.profile_type != right.sel.profile_type) {
    return connect::error(Code::kInvalidArgument,
                          "left and right queries must have the same profile type");
  }
  query::StackSet ls, rs;
  query::MergeInfo info;
  auto s = pool.with([&](query::Engine& e) {
    auto st = e.merge_stacks(left.sel, &ls, &info);
    return st.ok() ? e.merge_stacks(right.sel, &rs, &info) : st;
  });
  if (!s.ok()) return connect::error(s);
  auto d = query::flame_graph_diff(query::CallTree::build(ls), query::CallTree::build(rs),
                                   left.max_nodes);
  json::object doc;
  doc["version"] = 1;
  json::object fb;
  json::array names;
  for (const auto& n : d.names) names.push_back(json::string(n));
  fb["names"] = std::move(names);
  fb["levels"] = query::levels_json(d.levels);
  fb["numTicks"] = d.total;
  fb["maxSelf"] = d.max_self;
  doc["flamebearer"] = std::move(fb);
  doc["metadata"] = query::flamebearer_metadata(info.type, "double");
  doc["leftTicks"] = d.left_ticks;
  doc["rightTicks"] = d.right_ticks;
  doc["timeline"] = nullptr;
  doc["groups"] = nullptr;
  doc["heatmap"] = nullptr;
  return json_response(doc);
}

// stoker: one function's self and total over time (GET /api/v1/function_series).
WebResponse function_series(const Params& p, query::EnginePool& pool) {
  RenderRequest rr;
  if (auto err = render_request(p, "", pool.limits(), &rr)) return *err;
  query::SeriesQuery q;
  q.sel = rr.sel;
  std::string step = param(p, "step");
  q.step_s = step.empty()
                 ? static_cast<double>(timeline_step_seconds(rr.sel.start_ms, rr.sel.end_ms))
                 : std::strtod(step.c_str(), nullptr);
  std::vector<query::Point> self, total;
  auto s = pool.with(
      [&](query::Engine& e) { return e.function_series(q, param(p, "function"), &self, &total); });
  if (!s.ok()) return connect::error(s);
  auto points = [](const std::vector<query::Point>& v) {
    json::array a;
    for (const auto& pt : v) a.push_back(json::array{pt.ts_ms, pt.value});
    return a;
  };
  json::object doc;
  doc["function"] = param(p, "function");
  doc["step"] = q.step_s;
  doc["self"] = points(self);
  doc["total"] = points(total);
  return json_response(doc);
}

WebResponse label_values(const Params& p, query::EnginePool& pool) {
  std::string label = param(p, "label");
  if (label.empty()) return connect::error(Code::kInvalidArgument, "label is required");
  // from/until as on /pyroscope/render (default: the last hour).
  const int64_t now = now_unix_nanos() / 1'000'000;
  auto from = parse_attime_ms(param(p, "from", "now-1h"), now);
  if (!from) return connect::error(from.status().context("from"));
  auto until = parse_attime_ms(param(p, "until", "now"), now);
  if (!until) return connect::error(until.status().context("until"));
  const int64_t start = *from, end = *until;
  std::vector<std::string> values;
  Status s;
  if (label == "__name__") {
    std::vector<ProfileTypeId> types;
    s = pool.with([&](query::Engine& e) { return e.profile_types(start, end, &types); });
    for (const auto& t : types) values.push_back(t.id());
  } else {
    s = pool.with([&](query::Engine& e) { return e.label_values(label, {}, start, end, &values); });
  }
  if (!s.ok()) return connect::error(s);
  json::array arr;
  for (const auto& v : values) arr.push_back(json::string(v));
  WebResponse r;
  r.content_type = "application/json";
  r.body = json::serialize(arr);
  return r;
}

WebResponse pprof_download(const perftools::profiles::Profile& p, const std::string& name) {
  WebResponse r;
  r.content_type = "application/octet-stream";
  r.body = pprof::encode_gzip(p);
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + ".pb.gz\"");
  return r;
}

WebResponse profile_download(std::string_view id_text, query::EnginePool& pool) {
  char* end = nullptr;
  std::string text(id_text);
  long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || id <= 0) {
    return connect::error(Code::kInvalidArgument,
                          "invalid profile id \"" + text + "\" (ids are positive integers)");
  }
  perftools::profiles::Profile p;
  Labels labels;
  auto s = pool.with([&](query::Engine& e) { return e.profile(id, &p, &labels); });
  if (!s.ok()) return connect::error(s);
  return pprof_download(p, file_part(std::string(labels.get("service_name"))) + "_" +
                               file_part(std::string(labels.get("__name__"))) + "_" + text);
}

WebResponse merged_download(const Params& p, query::EnginePool& pool) {
  RenderRequest rr;
  if (auto err = render_request(p, "", pool.limits(), &rr)) return *err;
  perftools::profiles::Profile out;
  query::MergeInfo info;
  if (auto err = merged(rr, pool, &out, &info)) return *err;
  return pprof_download(out, file_part(info.type.name + "-" + info.type.sample_type) + "_" +
                                 std::to_string(rr.sel.start_ms / 1000) + "-" +
                                 std::to_string(rr.sel.end_ms / 1000));
}

}  // namespace

int64_t timeline_step_seconds(int64_t from_ms, int64_t until_ms) {
  // Pyroscope's CalcPointInterval: range/1500 rounded to a "nice" interval, ≥ 15 s.
  int64_t ms = std::max<int64_t>(0, until_ms - from_ms) / 1500;
  if (ms < 15'000) return 15;
  static const std::pair<int64_t, int64_t> kRound[] = {
      {17'500, 15},           {25'000, 20},        {45'000, 30},        {90'000, 60},
      {210'000, 120},         {450'000, 300},      {750'000, 600},      {1'050'000, 900},
      {1'500'000, 1200},      {2'700'000, 1800},   {5'400'000, 3600},   {9'000'000, 7200},
      {16'200'000, 10800},    {32'400'000, 21600}, {86'400'000, 43200}, {604'800'000, 86400},
      {1'814'400'000, 604800}};
  for (const auto& [limit, step] : kRound) {
    if (ms <= limit) return step;
  }
  return ms < 3'628'800'000 ? 2'592'000 : 31'536'000;
}

bool is_render_path(std::string_view path) {
  return path == "/pyroscope/render" || path == "/pyroscope/render-diff" ||
         path == "/pyroscope/label-values" || path == "/api/v1/function_series" ||
         path == "/api/v1/source" ||
         path.substr(0, 17) == "/api/v1/profiles/";
}

WebResponse handle_render(const WebRequest& req, query::EnginePool& pool,
                          const query::SourceLocator* source_locator) {
  if (req.method != "GET" && req.method != "HEAD") {
    WebResponse r = connect::error(Code::kUnimplemented, req.method + " is not allowed; use GET");
    r.status = 405;
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  auto params = parse_query_string(req.query);
  if (req.path == "/pyroscope/render") return render(params, pool);
  if (req.path == "/pyroscope/render-diff") return render_diff(params, pool);
  if (req.path == "/pyroscope/label-values") return label_values(params, pool);
  if (req.path == "/api/v1/function_series") return function_series(params, pool);
  if (req.path == "/api/v1/source") return source(params, pool, source_locator);
  std::string_view rest = std::string_view(req.path).substr(17);
  if (rest == "merged") return merged_download(params, pool);
  return profile_download(rest, pool);
}

}  // namespace stoker
