#include "app/cli_query.h"

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "model/timeparse.h"
#include "model/units.h"
#include "query/call_tree.h"
#include "query/engine.h"
#include "query/flamebearer.h"
#include "query/flamegraph_svg.h"
#include "query/graph.h"
#include "query/source.h"
#include "proto/profile.pb.h"

namespace stoker::cli {

namespace {

namespace json = boost::json;

struct Resolved {
  std::unique_ptr<query::Engine> engine;
  query::Selection sel;
  ProfileTypeId type;
  std::string range_text;  // "2026-…Z … 2026-…Z", for messages
};

std::string types_list(query::Engine& e, int64_t start_ms, int64_t end_ms) {
  std::vector<ProfileTypeId> types;
  if (Status s = e.profile_types(start_ms, end_ms, &types); !s.ok())
    return "unknown (" + s.message() + ")";
  std::string out;
  for (const auto& t : types) out += (out.empty() ? "" : ", ") + t.id();
  return out.empty() ? "none" : out;
}

}  // namespace

int refine_flags(const Args& a, std::shared_ptr<const query::Refiner>* out) {
  query::RefineOptions o;
  for (const auto& name : query::RefineOptions::names()) {
    auto v = flag(a, "--" + name);
    if (!v) continue;
    if (Status s = o.set(name, *v); !s.ok()) return fail("--" + s.message(), 2);
  }
  // pprof's boolean spellings of the granularity.
  for (const char* g : {"functions", "filefunctions", "lines"}) {
    if (flag(a, std::string("--") + g)) (void)o.set("granularity", g);
  }
  if (!o.active()) return 0;
  auto r = query::Refiner::compile(o);
  if (!r) return fail("--" + r.status().message(), 2);
  *out = *r;
  return 0;
}

void warn_unmatched(const std::vector<std::string>& unmatched) {
  for (const auto& name : unmatched) {
    std::fprintf(stderr, "warning: --%s matched nothing\n", name.c_str());
  }
}

namespace {

// Opens the database and turns --query/--from/--until into a Selection.
// Returns 0 when ready, else the exit code (the error is printed).
int resolve(const Args& a, const char* usage, Resolved* r) {
  auto text = flag(a, "--query");
  if (!text) return fail(usage, 2);
  int64_t now = now_unix_nanos();
  TimeRange range;
  range.from_ns = now - 3600LL * 1'000'000'000;
  range.until_ns = now;
  if (Status s = parse_range(a, &range); !s.ok()) return fail(s.message(), 2);
  r->sel.start_ms = range.from_ns / 1'000'000;
  r->sel.end_ms = range.until_ns / 1'000'000;
  if (auto spans = flag(a, "--span-id")) {
    if (Status s = parse_span_ids({*spans}, &r->sel.span_ids); !s.ok()) {
      return fail("--span-id: " + s.message(), 2);
    }
  }
  r->range_text = format_time(range.from_ns) + " … " + format_time(range.until_ns);
  if (int rc = refine_flags(a, &r->sel.refine)) return rc;

  auto path = storage_path(a);
  if (!path) return fail(path.error());
  query::Limits limits;
  auto engine = query::Engine::open(*path, limits);
  if (!engine) return fail(engine.error());
  r->engine = std::move(*engine);

  size_t brace = text->find('{');
  std::string type = text->substr(0, brace);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.pop_back();
  r->sel.label_selector = brace == std::string::npos ? "{}" : text->substr(brace);
  if (type.empty()) {
    return fail("--query needs a profile type before the selector, e.g. process_cpu" +
                    r->sel.label_selector + "; types stored in " + r->range_text + ": " +
                    types_list(*r->engine, r->sel.start_ms, r->sel.end_ms),
                2);
  }
  if (type.find(':') == std::string::npos) {
    auto s = r->engine->default_profile_type(type, r->sel.label_selector, r->sel.start_ms,
                                             r->sel.end_ms, &r->sel.profile_type);
    if (s.code() == Status::Code::kNotFound) {
      return fail("no " + type + " profiles match " + r->sel.label_selector + " in " +
                  r->range_text +
                  "; types stored then: " + types_list(*r->engine, r->sel.start_ms, r->sel.end_ms));
    }
    if (!s.ok()) return fail(s.message(), s.code() == Status::Code::kInvalidArgument ? 2 : 1);
  } else {
    r->sel.profile_type = type;
  }
  auto parsed = ProfileTypeId::parse(r->sel.profile_type);
  if (!parsed) return fail(parsed.error(), 2);
  r->type = *parsed;
  return 0;
}

// Merges the selection; 0 when there is data, else the exit code.
int merge(Resolved& r, query::StackSet* stacks, query::MergeInfo* info) {
  auto s = r.engine->merge_stacks(r.sel, stacks, info);
  if (!s.ok()) return fail(s.message(), s.code() == Status::Code::kInvalidArgument ? 2 : 1);
  warn_unmatched(info->unmatched);
  if (info->profiles == 0) {
    return fail("no " + r.type.id() + " profiles match " + r.sel.label_selector + " in " +
                r.range_text);
  }
  if (!r.sel.span_ids.empty() && stacks->total() == 0) {
    return fail("no samples of the given span ids in the " + std::to_string(info->profiles) + " " +
                r.type.id() + " profiles matching " + r.sel.label_selector + " in " + r.range_text);
  }
  return 0;
}

int64_t int_flag(const Args& a, const std::string& name, int64_t fallback, bool* ok) {
  auto v = flag(a, name);
  if (!v) return fallback;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || n < 0) {
    *ok = false;
    return fallback;
  }
  return n;
}

// Writes a command's -o file; 0, or the exit code after saying why.
int write_output(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return fail("cannot write " + path + ": " + std::strerror(errno));
  return 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int cmd_flamegraph(const Args& a) {
  const char* usage =
      "usage: stoker flamegraph --query SELECTOR [--from T] [--until T] [--max-nodes N] "
      "[--icicle] [--bottom-up] -o FILE.svg|.html|.folded|.json";
  auto out_path = flag(a, "-o");
  if (!out_path) return fail(usage, 2);
  bool ok = true;
  int64_t max_nodes = int_flag(a, "--max-nodes", 8192, &ok);
  if (!ok) return fail("--max-nodes must be a non-negative integer", 2);
  enum { kSvg, kHtml, kFolded, kJson } format;
  if (ends_with(*out_path, ".svg")) {
    format = kSvg;
  } else if (ends_with(*out_path, ".html") || ends_with(*out_path, ".htm")) {
    format = kHtml;
  } else if (ends_with(*out_path, ".folded") || ends_with(*out_path, ".txt")) {
    format = kFolded;
  } else if (ends_with(*out_path, ".json")) {
    format = kJson;
  } else {
    return fail("cannot tell the format from \"" + *out_path +
                    "\": use a .svg, .html, .folded or .json file name",
                2);
  }
  Resolved r;
  if (int rc = resolve(a, usage, &r)) return rc;
  query::StackSet stacks;
  query::MergeInfo info;
  if (int rc = merge(r, &stacks, &info)) return rc;
  auto tree = query::CallTree::build(stacks, flag(a, "--bottom-up").has_value());
  std::string data;
  switch (format) {
    case kSvg:
    case kHtml: {
      query::SvgOptions o;
      o.title =
          r.type.name + " " + r.type.sample_type + (flag(a, "--bottom-up") ? " (bottom-up)" : "");
      o.subtitle = r.sel.label_selector + "  " + r.range_text + "  " +
                   std::to_string(info.profiles) + " profiles, total " +
                   query::format_value(tree.total(), r.type.sample_unit);
      o.sample_unit = r.type.sample_unit;
      o.icicle = flag(a, "--icicle").has_value();
      o.max_nodes = max_nodes;
      data = format == kSvg ? query::render_svg(tree, o) : query::render_html(tree, o);
      break;
    }
    case kFolded:
      data = tree.folded();
      break;
    case kJson:
      // The document /pyroscope/render answers (format=json, timeline=false).
      data = json::serialize(query::flamebearer_document(tree.flame_graph(max_nodes), r.type,
                                                         static_cast<int64_t>(info.profiles))) +
             "\n";
      break;
  }
  if (int rc = write_output(*out_path, data)) return rc;
  std::printf("wrote %s: %s, %zu profiles merged, total %s, %zu nodes\n", out_path->c_str(),
              r.type.id().c_str(), info.profiles,
              query::format_value(tree.total(), r.type.sample_unit).c_str(), tree.size());
  return 0;
}

int cmd_top(const Args& a) {
  const char* usage =
      "usage: stoker top --query SELECTOR [--from T] [--until T] [--nodecount N] [--cum] "
      "[--output table|json]";
  bool ok = true;
  int64_t count = int_flag(a, "--nodecount", 20, &ok);
  if (!ok) return fail("--nodecount must be a non-negative integer", 2);
  std::string output = flag(a, "--output").value_or("table");
  if (output != "table" && output != "json") return fail("--output must be table or json", 2);
  Resolved r;
  if (int rc = resolve(a, usage, &r)) return rc;
  query::StackSet stacks;
  query::MergeInfo info;
  if (int rc = merge(r, &stacks, &info)) return rc;
  auto tree = query::CallTree::build(stacks);
  bool cum = flag(a, "--cum").has_value();
  auto top = tree.top(cum);
  size_t shown = count == 0 ? top.size() : std::min<size_t>(top.size(), static_cast<size_t>(count));
  const int64_t total = tree.total();
  const std::string& unit = r.type.sample_unit;
  if (output == "json") {
    json::array arr;
    for (size_t i = 0; i < shown; ++i) {
      json::object o;
      o["name"] = top[i].name;
      o["self"] = top[i].self;
      o["total"] = top[i].total;
      arr.push_back(std::move(o));
    }
    json::object doc;
    doc["profileType"] = r.type.id();
    doc["profiles"] = info.profiles;
    doc["total"] = total;
    doc["functions"] = std::move(arr);
    std::cout << json::serialize(doc) << "\n";
    return 0;
  }
  auto pct = [&](int64_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "%.2f%%",
                  total ? 100.0 * static_cast<double>(v) / static_cast<double>(total) : 0.0);
    return std::string(b);
  };
  std::printf(
      "Type: %s\nProfiles: %zu in %s\nShowing top %zu of %zu functions, total %s, sorted by %s\n",
      r.type.id().c_str(), info.profiles, r.range_text.c_str(), shown, top.size(),
      query::format_value(total, unit).c_str(), cum ? "cum" : "flat");
  std::printf("%12s %8s %8s %12s %8s  %s\n", "flat", "flat%", "sum%", "cum", "cum%", "function");
  int64_t sum = 0;
  for (size_t i = 0; i < shown; ++i) {
    sum += top[i].self;
    std::printf("%12s %8s %8s %12s %8s  %s\n", query::format_value(top[i].self, unit).c_str(),
                pct(top[i].self).c_str(), pct(sum).c_str(),
                query::format_value(top[i].total, unit).c_str(), pct(top[i].total).c_str(),
                top[i].name.c_str());
  }
  return 0;
}

int cmd_query_series(const Args& a) {
  const char* usage =
      "usage: stoker query series --query SELECTOR [--from T] [--until T] [--step DURATION] "
      "[--group-by LABEL[,LABEL…]] [--output table|json]";
  std::string output = flag(a, "--output").value_or("table");
  if (output != "table" && output != "json") return fail("--output must be table or json", 2);
  Resolved r;
  if (int rc = resolve(a, usage, &r)) return rc;
  query::SeriesQuery q;
  q.sel = r.sel;
  if (auto step = flag(a, "--step")) {
    auto d = parse_duration(*step);
    if (!d) return fail("--step: " + d.error(), 2);
    if (d->count() <= 0) return fail("--step: must be positive", 2);
    q.step_s = static_cast<double>(d->count()) / 1000.0;
  } else {
    // About 100 points over the range, at least 15 s (Pyroscope's UI).
    q.step_s = std::max(
        15.0, std::ceil(static_cast<double>(q.sel.end_ms - q.sel.start_ms) / 1000.0 / 100.0));
  }
  if (auto g = flag(a, "--group-by")) {
    size_t start = 0;
    while (start <= g->size()) {
      size_t comma = g->find(',', start);
      std::string name =
          g->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) q.group_by.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  std::vector<query::SeriesResult> series;
  auto s = r.engine->select_series(q, &series);
  if (!s.ok()) return fail(s.message(), s.code() == Status::Code::kInvalidArgument ? 2 : 1);
  if (output == "json") {
    json::array arr;
    for (const auto& ser : series) {
      json::object o, labels;
      for (const auto& l : ser.labels) labels[l.name] = l.value;
      json::array points;
      for (const auto& p : ser.points) {
        json::object pt;
        pt["time"] = format_time(p.ts_ms * 1'000'000);
        pt["timestampMs"] = p.ts_ms;
        pt["value"] = p.value;
        points.push_back(std::move(pt));
      }
      o["labels"] = std::move(labels);
      o["points"] = std::move(points);
      arr.push_back(std::move(o));
    }
    json::object doc;
    doc["profileType"] = r.type.id();
    doc["stepSeconds"] = q.step_s;
    doc["series"] = std::move(arr);
    std::cout << json::serialize(doc) << "\n";
    return 0;
  }
  if (series.empty()) {
    std::printf("no %s profiles match %s in %s\n", r.type.id().c_str(),
                r.sel.label_selector.c_str(), r.range_text.c_str());
    return 0;
  }
  std::printf("Type: %s, step %gs, values are sums of %s per step\n", r.type.id().c_str(), q.step_s,
              r.type.sample_unit.c_str());
  for (const auto& ser : series) {
    Labels l;
    for (const auto& x : ser.labels) l.set(x.name, x.value);
    std::printf("\n%s\n", ser.labels.empty() ? "{} (all matching series)" : l.to_string().c_str());
    for (const auto& p : ser.points) {
      std::printf("  %s  %s\n", format_time(p.ts_ms * 1'000'000).c_str(),
                  query::format_value(static_cast<int64_t>(p.value), r.type.sample_unit).c_str());
    }
  }
  return 0;
}

namespace {

// The merged pprof of the selection (refine filters applied); 0 when there is
// data, else the exit code.
int merge_profile(Resolved& r, perftools::profiles::Profile* p) {
  query::MergeInfo info;
  auto s = r.engine->merge_pprof(r.sel, p, &info);
  if (!s.ok()) return fail(s.message(), s.code() == Status::Code::kInvalidArgument ? 2 : 1);
  warn_unmatched(info.unmatched);
  if (info.profiles == 0) {
    return fail("no " + r.type.id() + " profiles match " + r.sel.label_selector + " in " +
                r.range_text);
  }
  return 0;
}

double fraction_flag(const Args& a, const std::string& name, double fallback, bool* ok) {
  auto v = flag(a, name);
  if (!v) return fallback;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !(d >= 0 && d <= 1)) {
    *ok = false;
    return fallback;
  }
  return d;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> source_path_pairs(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos
                                                                       : comma - start);
    if (!part.empty()) {
      auto eq = part.find('=');
      // FROM=TO rewrites a prefix; a bare DIR is searched for relative paths.
      if (eq == std::string::npos) out.push_back({"", part});
      else out.push_back({part.substr(0, eq), part.substr(eq + 1)});
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int cmd_list(const Args& a) {
  const char* usage =
      "usage: stoker list REGEX --query SELECTOR [--from T] [--until T] [--source-path "
      "FROM=TO,DIR,…] [--output text|json] [refine flags]";
  if (a.positional.size() != 2) return fail(usage, 2);
  const std::string& regex = a.positional[1];
  Resolved r;
  if (int rc = resolve(a, usage, &r)) return rc;
  perftools::profiles::Profile p;
  if (int rc = merge_profile(r, &p)) return rc;
  std::vector<query::SourceLocator::Rewrite> rewrites;
  for (auto& [from, to] : source_path_pairs(flag(a, "--source-path").value_or(""))) {
    rewrites.push_back({from, to});
  }
  query::SourceLocator locator(std::move(rewrites), {});
  locator.add_go_defaults();
  std::vector<query::SourceListing> listings;
  int64_t total = 0;
  if (Status s = query::list_source(p, regex, locator, true, &listings, &total); !s.ok()) {
    return fail(s.message(), 2);
  }
  if (listings.empty()) return fail("no function matches \"" + regex + "\" in " + r.type.id(), 1);
  const std::string& unit = r.type.sample_unit;
  if (flag(a, "--output").value_or("text") == "json") {
    json::array arr;
    for (const auto& l : listings) {
      json::object o;
      o["function"] = l.function;
      o["file"] = l.file;
      o["path"] = l.path;
      o["flat"] = l.flat;
      o["cum"] = l.cum;
      json::array lines;
      for (const auto& x : l.lines) {
        lines.push_back(json::object{{"line", x.line}, {"flat", x.flat}, {"cum", x.cum}});
      }
      o["lines"] = std::move(lines);
      arr.push_back(std::move(o));
    }
    std::cout << json::serialize(json::object{{"total", total}, {"listings", std::move(arr)}})
              << "\n";
    return 0;
  }
  auto v = [&](int64_t x) { return x == 0 ? std::string(".") : query::format_value(x, unit); };
  std::printf("Total: %s\n", query::format_value(total, unit).c_str());
  for (const auto& l : listings) {
    std::printf("ROUTINE ======================== %s in %s\n", l.function.c_str(), l.file.c_str());
    std::printf("%12s %12s (flat, cum) %.2f%% of Total\n", query::format_value(l.flat, unit).c_str(),
                query::format_value(l.cum, unit).c_str(),
                total ? 100.0 * static_cast<double>(l.cum) / static_cast<double>(total) : 0.0);
    if (l.path.empty()) {
      std::printf("  (source not found; tried:");
      for (const auto& t : l.tried) std::printf(" %s", t.c_str());
      std::printf(")\n");
    }
    for (const auto& line : l.lines) {
      std::printf("%12s %12s %6lld:%s\n", v(line.flat).c_str(), v(line.cum).c_str(),
                  static_cast<long long>(line.line),
                  l.path.empty() ? " ???" : line.text.c_str());
    }
  }
  return 0;
}

int cmd_graph(const Args& a) {
  const char* usage =
      "usage: stoker graph --query SELECTOR [--from T] [--until T] [--nodecount N] "
      "[--nodefraction F] [--edgefraction F] [refine flags] -o FILE.dot";
  auto out_path = flag(a, "-o");
  if (!out_path) return fail(usage, 2);
  bool ok = true;
  query::GraphOptions go;
  go.nodecount = int_flag(a, "--nodecount", go.nodecount, &ok);
  if (!ok) return fail("--nodecount must be a non-negative integer", 2);
  go.nodefraction = fraction_flag(a, "--nodefraction", go.nodefraction, &ok);
  go.edgefraction = fraction_flag(a, "--edgefraction", go.edgefraction, &ok);
  if (!ok) return fail("--nodefraction and --edgefraction must be numbers from 0 to 1", 2);
  Resolved r;
  if (int rc = resolve(a, usage, &r)) return rc;
  if (r.sel.refine) go.granularity = r.sel.refine->options().granularity;
  perftools::profiles::Profile p;
  if (int rc = merge_profile(r, &p)) return rc;
  auto g = query::build_graph(p, go);
  std::string data = query::graph_dot(g, r.type.id() + " " + r.sel.label_selector, r.type.sample_unit);
  if (int rc = write_output(*out_path, data)) return rc;
  std::printf("wrote %s: %zu nodes, %zu edges, total %s\n", out_path->c_str(), g.nodes.size(),
              g.edges.size(), query::format_value(g.total, r.type.sample_unit).c_str());
  return 0;
}

}  // namespace stoker::cli
