#include "web/querier_api.h"

#include <set>

#include "model/timeparse.h"
#include "proto/querier.pb.h"
#include "proto/settings.pb.h"
#include "query/call_tree.h"
#include "query/graph.h"
#include "web/connect.h"

namespace stoker {

namespace {

constexpr std::string_view kQuerier = "/querier.v1.QuerierService/";
constexpr std::string_view kSettings = "/settings.v1.SettingsService/";
constexpr int64_t kHourMs = 3600 * 1000;

using connect::Code;

int64_t now_ms() {
  return now_unix_nanos() / 1'000'000;
}

// Label-listing calls without a range (Grafana ≤ 10.1 sends none) cover the last hour.
void default_range(int64_t* start, int64_t* end) {
  if (*start == 0 && *end == 0) {
    *end = now_ms();
    *start = *end - kHourMs;
  }
}

bool legacy_label_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Builds the engine's Selection from the fields every Select* request shares.
// Returns an error response when a field is unusable.
template <typename Req>
std::optional<WebResponse> selection(const Req& in, query::Selection* sel) {
  sel->profile_type = in.profile_typeid();
  sel->label_selector = in.label_selector();
  sel->start_ms = in.start();
  sel->end_ms = in.end();
  if (sel->label_selector.empty()) {
    return connect::error(Code::kInvalidArgument, "missing label selector (use {} for all series)");
  }
  if constexpr (requires { in.stack_trace_selector(); }) {
    if (in.has_stack_trace_selector()) {
      if (in.stack_trace_selector().has_go_pgo()) {
        return connect::error(Code::kUnimplemented,
                              "stack_trace_selector.go_pgo is not implemented by stoker");
      }
      for (const auto& loc : in.stack_trace_selector().call_site())
        sel->call_site.push_back(loc.name());
    }
  }
  if constexpr (requires { in.profile_id_selector(); }) {
    for (const auto& id : in.profile_id_selector()) {
      char* end = nullptr;
      long long v = std::strtoll(id.c_str(), &end, 10);
      if (id.empty() || *end != '\0' || v <= 0) {
        return connect::error(
            Code::kInvalidArgument,
            "invalid profile id \"" + id + "\" (stoker's profile ids are positive integers)");
      }
      sel->profile_ids.push_back(v);
    }
  }
  return std::nullopt;
}

// max_nodes as Pyroscope validates it: unset or 0 means the default.
std::optional<WebResponse> max_nodes(bool has, int64_t value, const query::Limits& limits,
                                     int64_t* out) {
  *out = has && value != 0 ? value : limits.default_max_nodes;
  if (*out < 0 || *out > limits.max_nodes) {
    return connect::error(Code::kInvalidArgument, "max_nodes must be between 0 and " +
                                                      std::to_string(limits.max_nodes) + ", got " +
                                                      std::to_string(value));
  }
  return std::nullopt;
}

void to_proto(const query::FlameGraph& fg, querier::v1::FlameGraph* out) {
  for (const auto& n : fg.names) out->add_names(n);
  for (const auto& level : fg.levels) {
    auto* l = out->add_levels();
    l->mutable_values()->Add(level.begin(), level.end());
  }
  out->set_total(fg.total);
  out->set_max_self(fg.max_self);
}

WebResponse profile_types(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::ProfileTypesRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  int64_t start = in.start(), end = in.end();
  default_range(&start, &end);
  std::vector<ProfileTypeId> types;
  auto s = pool.with([&](query::Engine& e) { return e.profile_types(start, end, &types); });
  if (!s.ok()) return connect::error(s);
  querier::v1::ProfileTypesResponse out;
  for (const auto& t : types) {
    auto* p = out.add_profile_types();
    p->set_id(t.id());
    p->set_name(t.name);
    p->set_sample_type(t.sample_type);
    p->set_sample_unit(t.sample_unit);
    p->set_period_type(t.period_type);
    p->set_period_unit(t.period_unit);
  }
  return connect::encode(out, codec);
}

WebResponse label_names(const WebRequest& req, query::EnginePool& pool) {
  types::v1::LabelNamesRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  int64_t start = in.start(), end = in.end();
  default_range(&start, &end);
  std::vector<std::string> matchers(in.matchers().begin(), in.matchers().end());
  std::vector<std::string> names;
  auto s = pool.with([&](query::Engine& e) { return e.label_names(matchers, start, end, &names); });
  if (!s.ok()) return connect::error(s);
  bool utf8 = req.header("accept").find("allow-utf8-labelnames=true") != std::string::npos;
  types::v1::LabelNamesResponse out;
  for (const auto& n : names) {
    if (utf8 || legacy_label_name(n)) out.add_names(n);
  }
  return connect::encode(out, codec);
}

WebResponse label_values(const WebRequest& req, query::EnginePool& pool) {
  types::v1::LabelValuesRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  if (in.name().empty()) return connect::error(Code::kInvalidArgument, "name is required");
  int64_t start = in.start(), end = in.end();
  default_range(&start, &end);
  std::vector<std::string> matchers(in.matchers().begin(), in.matchers().end());
  std::vector<std::string> values;
  auto s = pool.with(
      [&](query::Engine& e) { return e.label_values(in.name(), matchers, start, end, &values); });
  if (!s.ok()) return connect::error(s);
  types::v1::LabelValuesResponse out;
  for (const auto& v : values) out.add_names(v);
  return connect::encode(out, codec);
}

WebResponse series(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::SeriesRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  int64_t start = in.start(), end = in.end();
  default_range(&start, &end);
  std::vector<std::string> matchers(in.matchers().begin(), in.matchers().end());
  std::vector<std::string> names(in.label_names().begin(), in.label_names().end());
  std::vector<Labels> sets;
  auto s =
      pool.with([&](query::Engine& e) { return e.series(matchers, names, start, end, &sets); });
  if (!s.ok()) return connect::error(s);
  querier::v1::SeriesResponse out;
  for (const auto& set : sets) {
    auto* l = out.add_labels_set();
    for (const auto& lab : set) {
      auto* p = l->add_labels();
      p->set_name(lab.name);
      p->set_value(lab.value);
    }
  }
  return connect::encode(out, codec);
}

// Merges a SelectMergeStacktracesRequest into a call tree.
std::optional<WebResponse> merge(const querier::v1::SelectMergeStacktracesRequest& in,
                                 query::EnginePool& pool, query::CallTree* tree, int64_t* nodes) {
  query::Selection sel;
  if (auto err = selection(in, &sel)) return err;
  if (auto err = max_nodes(in.has_max_nodes(), in.max_nodes(), pool.limits(), nodes)) return err;
  query::StackSet stacks;
  query::MergeInfo info;
  auto s = pool.with([&](query::Engine& e) { return e.merge_stacks(sel, &stacks, &info); });
  if (!s.ok()) return connect::error(s);
  *tree = query::CallTree::build(stacks);
  return std::nullopt;
}

WebResponse select_merge_stacktraces(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::SelectMergeStacktracesRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  querier::v1::SelectMergeStacktracesResponse out;
  switch (in.format()) {
    case querier::v1::PROFILE_FORMAT_UNSPECIFIED:
    case querier::v1::PROFILE_FORMAT_FLAMEGRAPH:
    case querier::v1::PROFILE_FORMAT_TREE: {
      query::CallTree tree;
      int64_t nodes = 0;
      if (auto err = merge(in, pool, &tree, &nodes)) return *err;
      if (in.format() == querier::v1::PROFILE_FORMAT_TREE) {
        out.set_tree(tree.tree_bytes(nodes));
      } else {
        to_proto(tree.flame_graph(nodes), out.mutable_flamegraph());
      }
      break;
    }
    case querier::v1::PROFILE_FORMAT_PPROF: {
      query::Selection sel;
      if (auto err = selection(in, &sel)) return *err;
      query::MergeInfo info;
      auto* profile = out.mutable_pprof()->mutable_profile();
      auto s = pool.with([&](query::Engine& e) { return e.merge_pprof(sel, profile, &info); });
      if (!s.ok()) return connect::error(s);
      break;
    }
    case querier::v1::PROFILE_FORMAT_DOT: {
      // pprof's call graph as Graphviz text; max_nodes is its nodecount.
      query::Selection sel;
      if (auto err = selection(in, &sel)) return *err;
      query::MergeInfo info;
      perftools::profiles::Profile profile;
      auto s = pool.with([&](query::Engine& e) { return e.merge_pprof(sel, &profile, &info); });
      if (!s.ok()) return connect::error(s);
      query::GraphOptions o;
      if (in.has_max_nodes() && in.max_nodes() > 0) o.nodecount = in.max_nodes();
      out.set_dot(query::graph_dot(query::build_graph(profile, o),
                                   info.type.id() + " " + sel.label_selector,
                                   info.type.sample_unit));
      break;
    }
    default:
      return connect::error(Code::kUnimplemented,
                            "format " + querier::v1::ProfileFormat_Name(in.format()) +
                                " is not implemented by stoker (use FLAMEGRAPH, TREE, DOT or PPROF)");
  }
  return connect::encode(out, codec);
}

// Grafana's "Traces to profiles": the merge of the samples of some spans.
WebResponse select_merge_span_profile(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::SelectMergeSpanProfileRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  querier::v1::SelectMergeSpanProfileResponse out;
  if (in.format() != querier::v1::PROFILE_FORMAT_UNSPECIFIED &&
      in.format() != querier::v1::PROFILE_FORMAT_FLAMEGRAPH &&
      in.format() != querier::v1::PROFILE_FORMAT_TREE) {
    return connect::error(Code::kInvalidArgument,
                          "format " + querier::v1::ProfileFormat_Name(in.format()) +
                              " is not available for span profiles (use FLAMEGRAPH or TREE)");
  }
  query::Selection sel;
  if (auto err = selection(in, &sel)) return *err;
  std::vector<std::string> ids(in.span_selector().begin(), in.span_selector().end());
  if (Status bad = parse_span_ids(ids, &sel.span_ids); !bad.ok()) return connect::error(bad);
  int64_t nodes = 0;
  if (auto err = max_nodes(in.has_max_nodes(), in.max_nodes(), pool.limits(), &nodes)) return *err;
  query::CallTree tree;
  if (!sel.span_ids.empty()) {  // no span ids: no samples
    query::StackSet stacks;
    query::MergeInfo info;
    auto s = pool.with([&](query::Engine& e) { return e.merge_stacks(sel, &stacks, &info); });
    if (!s.ok()) return connect::error(s);
    tree = query::CallTree::build(stacks);
  }
  if (in.format() == querier::v1::PROFILE_FORMAT_TREE) {
    out.set_tree(tree.tree_bytes(nodes));
  } else {
    to_proto(tree.flame_graph(nodes), out.mutable_flamegraph());
  }
  return connect::encode(out, codec);
}

WebResponse select_series(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::SelectSeriesRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  query::SeriesQuery q;
  if (auto err = selection(in, &q.sel)) return *err;
  q.group_by.assign(in.group_by().begin(), in.group_by().end());
  q.step_s = in.step();
  q.average =
      in.has_aggregation() && in.aggregation() == types::v1::TIME_SERIES_AGGREGATION_TYPE_AVERAGE;
  q.limit = in.has_limit() ? in.limit() : 0;
  switch (in.exemplar_type()) {
    case types::v1::EXEMPLAR_TYPE_UNSPECIFIED:
    case types::v1::EXEMPLAR_TYPE_NONE:
      break;
    case types::v1::EXEMPLAR_TYPE_INDIVIDUAL:
      q.exemplars = true;
      break;
    case types::v1::EXEMPLAR_TYPE_SPAN:
      return connect::error(Code::kUnimplemented, "exemplar type span is not implemented");
    default:
      return connect::error(Code::kInvalidArgument,
                            "unknown exemplar type: " + std::to_string(in.exemplar_type()));
  }
  std::vector<query::SeriesResult> series;
  auto s = pool.with([&](query::Engine& e) { return e.select_series(q, &series); });
  if (!s.ok()) return connect::error(s);
  querier::v1::SelectSeriesResponse out;
  for (const auto& r : series) {
    auto* ser = out.add_series();
    for (const auto& l : r.labels) {
      auto* p = ser->add_labels();
      p->set_name(l.name);
      p->set_value(l.value);
    }
    for (const auto& pt : r.points) {
      auto* p = ser->add_points();
      p->set_value(pt.value);
      p->set_timestamp(pt.ts_ms);
      if (pt.exemplar) {
        auto* ex = p->add_exemplars();
        ex->set_timestamp(pt.exemplar->ts_ms);
        ex->set_profile_id(std::to_string(pt.exemplar->profile_id));
        ex->set_value(pt.exemplar->value);
        for (const auto& l : pt.exemplar->labels) {
          auto* lp = ex->add_labels();
          lp->set_name(l.name);
          lp->set_value(l.value);
        }
      }
    }
  }
  return connect::encode(out, codec);
}

WebResponse select_merge_profile(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::SelectMergeProfileRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  query::Selection sel;
  if (auto err = selection(in, &sel)) return *err;
  perftools::profiles::Profile out;
  query::MergeInfo info;
  auto s = pool.with([&](query::Engine& e) { return e.merge_pprof(sel, &out, &info); });
  if (!s.ok()) return connect::error(s);
  return connect::encode(out, codec);
}

WebResponse diff(const WebRequest& req, query::EnginePool& pool) {
  querier::v1::DiffRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  if (in.left().profile_typeid() != in.right().profile_typeid()) {
    return connect::error(Code::kInvalidArgument,
                          "left and right queries must have the same profile type");
  }
  query::CallTree left, right;
  int64_t nodes = 0, unused = 0;
  if (auto err = merge(in.left(), pool, &left, &nodes)) return *err;
  if (auto err = merge(in.right(), pool, &right, &unused)) return *err;
  auto d = query::flame_graph_diff(left, right, nodes);
  querier::v1::DiffResponse out;
  auto* fg = out.mutable_flamegraph();
  for (const auto& n : d.names) fg->add_names(n);
  for (const auto& level : d.levels)
    fg->add_levels()->mutable_values()->Add(level.begin(), level.end());
  fg->set_total(d.total);
  fg->set_max_self(d.max_self);
  fg->set_leftticks(d.left_ticks);
  fg->set_rightticks(d.right_ticks);
  return connect::encode(out, codec);
}

WebResponse profile_stats(const WebRequest& req, query::EnginePool& pool) {
  types::v1::GetProfileStatsRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  query::ProfileStats stats;
  auto s = pool.with([&](query::Engine& e) { return e.profile_stats(&stats); });
  if (!s.ok()) return connect::error(s);
  types::v1::GetProfileStatsResponse out;
  out.set_data_ingested(stats.ingested);
  out.set_oldest_profile_time(stats.oldest_ms);
  out.set_newest_profile_time(stats.newest_ms);
  return connect::encode(out, codec);
}

WebResponse settings_get(const WebRequest& req) {
  settings::v1::GetSettingsRequest in;
  connect::Codec codec;
  if (auto err = connect::decode(req, &in, &codec)) return *err;
  return connect::encode(settings::v1::GetSettingsResponse(), codec);
}

}  // namespace

bool is_connect_path(std::string_view path) {
  return path.substr(0, kQuerier.size()) == kQuerier ||
         path.substr(0, kSettings.size()) == kSettings;
}

WebResponse handle_connect(const WebRequest& req, query::EnginePool& pool) {
  std::string_view path = req.path;
  if (path.substr(0, kSettings.size()) == kSettings) {
    if (path.substr(kSettings.size()) == "Get") return settings_get(req);
    return connect::error(Code::kUnimplemented,
                          std::string(path.substr(1)) + " is not implemented by stoker");
  }
  std::string_view method = path.substr(kQuerier.size());
  if (method == "ProfileTypes") return profile_types(req, pool);
  if (method == "LabelNames") return label_names(req, pool);
  if (method == "LabelValues") return label_values(req, pool);
  if (method == "Series") return series(req, pool);
  if (method == "SelectMergeStacktraces") return select_merge_stacktraces(req, pool);
  if (method == "SelectSeries") return select_series(req, pool);
  if (method == "SelectMergeProfile") return select_merge_profile(req, pool);
  if (method == "Diff") return diff(req, pool);
  if (method == "GetProfileStats") return profile_stats(req, pool);
  if (method == "SelectMergeSpanProfile") return select_merge_span_profile(req, pool);
  static const std::set<std::string_view> kKnown = {"SelectHeatmap", "AnalyzeQuery",
                                                    "GetBlockStats"};
  if (kKnown.count(method)) {
    return connect::error(Code::kUnimplemented, "querier.v1.QuerierService/" + std::string(method) +
                                                    " is not implemented by stoker");
  }
  return connect::error(Code::kNotFound, "no such procedure: " + std::string(path));
}

}  // namespace stoker
