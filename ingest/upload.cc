#include "ingest/upload.h"

#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <unordered_map>

#include "model/text.h"
#include "model/timeparse.h"
#include "pprof/compress.h"
#include "proto/jfr_labels.pb.h"
#include "proto/profile.pb.h"

namespace stoker::ingest {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Letters (any non-ASCII byte of valid UTF-8 counts as one), digits and `extra`.
bool allowed_chars(std::string_view s, std::string_view extra) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u) || extra.find(c) != std::string_view::npos) continue;
    return false;
  }
  return valid_utf8(s);
}

const std::string& first(const std::map<std::string, std::vector<std::string>>& q,
                         const std::string& key) {
  static const std::string kEmpty;
  auto it = q.find(key);
  return it == q.end() || it->second.empty() ? kEmpty : it->second.front();
}

}  // namespace

Status parse_name(std::string_view name, std::string* app, Labels* labels) {
  *labels = Labels();
  size_t brace = name.find('{');
  std::string_view a = trim(name.substr(0, brace));
  if (a.empty()) return Status::invalid("the application name (before any {labels}) is empty");
  if (!allowed_chars(a, "-_./")) {
    return Status::invalid("invalid application name " + quote(a) +
                           ": use letters, digits and - _ . / (labels go in {key=value,…})");
  }
  *app = std::string(a);
  if (brace == std::string_view::npos) return Status();
  size_t close = name.find('}', brace);
  if (close == std::string_view::npos)
    return Status::invalid("the labels in " + quote(name) + " have no closing }");
  if (!trim(name.substr(close + 1)).empty()) {
    return Status::invalid("unexpected text after the labels' closing } in " + quote(name));
  }
  std::string_view body = name.substr(brace + 1, close - brace - 1);
  while (!trim(body).empty()) {
    size_t comma = body.find(',');
    std::string_view pair = body.substr(0, comma);
    body = comma == std::string_view::npos ? std::string_view() : body.substr(comma + 1);
    if (trim(pair).empty()) continue;
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return Status::invalid("label " + quote(trim(pair)) + " in " + quote(name) +
                             " has no =value");
    }
    std::string_view key = trim(pair.substr(0, eq));
    std::string_view value = trim(pair.substr(eq + 1));
    if (key.empty() || !allowed_chars(key, "_.-/")) {
      return Status::invalid("invalid label name " + quote(key) + " in " + quote(name) +
                             ": use letters, digits and _ . - /");
    }
    if (!valid_utf8(value))
      return Status::invalid("label " + std::string(key) + " has a value that is not UTF-8");
    labels->set(key, value);
  }
  return Status();
}

Result<int64_t> parse_instant(std::string_view text, int64_t now_ns) {
  auto ms = parse_attime_ms(text, now_ns / 1'000'000);
  if (!ms) return ms.status();
  // Digits of ns or µs precision keep it.
  bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits && (text.size() == 19 || text.size() == 16)) {
    int64_t v = 0;
    std::from_chars(text.data(), text.data() + text.size(), v);
    return text.size() == 19 ? v : v * 1000;
  }
  if (text.empty() || text == "now") return now_ns;
  int64_t ns = 0;
  if (*ms < 0 || __builtin_mul_overflow(*ms, int64_t{1'000'000}, &ns)) {
    return Status::invalid(quote(text) + " is out of range (before 1970 or after 2262)");
  }
  return ns;
}

Status parse_params(std::string_view query, std::string_view content_type, int64_t now_ns,
                    Params* out) {
  *out = Params();
  auto q = parse_query_string(query);
  const std::string& name = first(q, "name");
  if (name.empty()) {
    return Status::invalid(
        "the name parameter is missing: the application name, with optional labels, like "
        "name=my.app{env=dev}");
  }
  if (Status s = parse_name(name, &out->app, &out->labels); !s.ok()) return s.context("name");
  auto from = parse_instant(first(q, "from"), now_ns);
  if (!from) return from.status().context("from");
  auto until = parse_instant(first(q, "until"), now_ns);
  if (!until) return until.status().context("until");
  out->from_ns = *from;
  out->until_ns = *until;
  out->format = lower(first(q, "format"));
  if (out->format.empty()) {
    std::string ct = lower(content_type);
    if (ct.rfind("multipart/form-data", 0) == 0) {
      out->format = "pprof";
    } else if (ct.rfind("binary/octet-stream+trie", 0) == 0) {
      out->format = "trie";
    } else if (ct.rfind("binary/octet-stream+tree", 0) == 0) {
      out->format = "tree";
    } else {
      out->format = "folded";  // Pyroscope's default ("groups")
    }
  }
  if (const std::string& spy = first(q, "spyName"); !spy.empty()) out->spy_name = spy;
  if (!valid_utf8(out->spy_name)) return Status::invalid("spyName is not UTF-8");
  if (const std::string& rate = first(q, "sampleRate"); !rate.empty()) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(rate.data(), rate.data() + rate.size(), v);
    if (ec != std::errc() || p != rate.data() + rate.size() || v <= 0 || v > 1'000'000'000) {
      return Status::invalid("sampleRate must be a positive integer (samples per second), got " +
                             quote(rate));
    }
    out->sample_rate = v;
    out->sample_rate_given = true;
  }
  if (const std::string& u = first(q, "units"); !u.empty()) out->units = u;
  if (const std::string& a = first(q, "aggregationType"); !a.empty()) {
    if (a != "sum" && a != "average" && a != "avg") {
      return Status::invalid("aggregationType must be sum or average, got " + quote(a));
    }
    out->aggregation = a;
  }
  return Status();
}

Status parse_multipart(std::string_view body, std::string_view content_type,
                       std::vector<Part>* parts) {
  parts->clear();
  std::string ct = lower(content_type);
  if (ct.rfind("multipart/form-data", 0) != 0)
    return Status::invalid("the Content-Type is not multipart/form-data");
  size_t b = ct.find("boundary=");
  if (b == std::string::npos) return Status::invalid("the multipart Content-Type has no boundary");
  // The boundary keeps its case: take it from the original header.
  std::string_view boundary = content_type.substr(b + 9);
  boundary = boundary.substr(0, boundary.find(';'));
  boundary = trim(boundary);
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
    boundary = boundary.substr(1, boundary.size() - 2);
  }
  if (boundary.empty() || boundary.size() > 200)
    return Status::invalid("the multipart boundary is empty or too long");
  const std::string delim = "--" + std::string(boundary);
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos)
    return Status::invalid("the multipart body has no boundary line");
  pos += delim.size();
  for (;;) {
    if (body.substr(pos, 2) == "--") return Status();  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n")
      return Status::invalid("a multipart boundary line is not followed by CRLF");
    pos += 2;
    size_t headers_end = body.find("\r\n\r\n", pos);
    if (headers_end == std::string_view::npos)
      return Status::invalid("a multipart part's headers do not end");
    Part part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      size_t nl = headers.find("\r\n");
      std::string_view line = headers.substr(0, nl);
      headers = nl == std::string_view::npos ? std::string_view() : headers.substr(nl + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos)
        return Status::invalid("a multipart part has a malformed header line");
      std::string key = lower(trim(line.substr(0, colon)));
      std::string_view value = trim(line.substr(colon + 1));
      if (key == "content-type") {
        part.content_type = std::string(value);
      } else if (key == "content-disposition") {
        // form-data; name="profile"; filename="profile.pprof"
        auto param = [&](std::string_view want) -> std::optional<std::string> {
          std::string_view rest = value;
          while (!rest.empty()) {
            size_t semi = rest.find(';');
            std::string_view item = trim(rest.substr(0, semi));
            rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
            size_t eq = item.find('=');
            if (eq == std::string_view::npos || lower(trim(item.substr(0, eq))) != want) continue;
            std::string_view v = trim(item.substr(eq + 1));
            if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
            return std::string(v);
          }
          return std::nullopt;
        };
        part.name = param("name").value_or("");
        part.filename = param("filename").value_or("");
      }
    }
    pos = headers_end + 4;
    size_t end = body.find("\r\n" + delim, pos);
    if (end == std::string_view::npos)
      return Status::invalid("the multipart body is truncated (no closing boundary)");
    part.data = body.substr(pos, end - pos);
    parts->push_back(std::move(part));
    if (parts->size() > 16) return Status::invalid("the multipart body has more than 16 parts");
    pos = end + 2 + delim.size();
  }
}

Status parse_sample_type_config(std::string_view text, SampleTypeConfigs* out) {
  out->clear();
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return Status::invalid("sample_type_config is not JSON: " + ec.message());
  if (!v.is_object())
    return Status::invalid("sample_type_config must be a JSON object of sample types");
  for (const auto& [key, entry] : v.as_object()) {
    if (!entry.is_object()) {
      return Status::invalid("sample_type_config." + std::string(key) + " must be an object");
    }
    SampleTypeConfig c;
    for (const auto& [k, f] : entry.as_object()) {
      auto str = [&](std::string* dst) {
        if (f.is_string()) *dst = std::string(f.as_string());
        return f.is_string();
      };
      bool ok = true;
      if (k == "units") {
        ok = str(&c.units);
      } else if (k == "aggregation") {
        ok = str(&c.aggregation);
      } else if (k == "display-name") {
        ok = str(&c.display_name);
      } else if (k == "cumulative" || k == "sampled") {
        ok = f.is_bool();
        if (ok) (k == "cumulative" ? c.cumulative : c.sampled) = f.as_bool();
      }
      if (!ok) {
        return Status::invalid("sample_type_config." + std::string(key) + "." + std::string(k) +
                               " has the wrong type");
      }
    }
    (*out)[std::string(key)] = std::move(c);
  }
  return Status();
}

const SampleTypeConfigs& default_sample_type_config() {
  static const SampleTypeConfigs kDefault = [] {
    SampleTypeConfigs m;
    m["samples"] = {"cpu", "samples", "", false, true};
    m["inuse_objects"] = {"", "objects", "avg", false, false};
    m["alloc_objects"] = {"", "objects", "", true, false};
    m["inuse_space"] = {"", "bytes", "avg", false, false};
    m["alloc_space"] = {"", "bytes", "", true, false};
    return m;
  }();
  return kDefault;
}

std::string pprof_series_name(const pprof::View& p, const SampleTypeConfigs& config) {
  std::string st;
  for (const auto& t : p.sample_types) {
    if (p.str(t.type) == "wall") return "wall";
  }
  for (const auto& t : p.sample_types) {
    st = std::string(p.str(t.type));
    if (auto it = config.find(st); it != config.end() && !it->second.display_name.empty()) {
      st = it->second.display_name;
    }
    auto has = [&](std::string_view s) { return st.find(s) != std::string::npos; };
    if (has("cpu")) return "process_cpu";
    if (has("alloc_") || has("inuse_") || st == "space" || st == "objects") return "memory";
    if (has("mutex_")) return "mutex";
    if (has("block_")) return "block";
    if (has("goroutines")) return "goroutines";
  }
  return st;
}

std::vector<size_t> cumulative_columns(const pprof::View& p, const SampleTypeConfigs& config) {
  std::vector<size_t> out;
  for (size_t i = 0; i < p.sample_types.size(); ++i) {
    auto it = config.find(p.str(p.sample_types[i].type));
    if (it != config.end() && it->second.cumulative) out.push_back(i);
  }
  return out;
}

namespace {

struct TypeInfo {
  std::string series, sample_type, unit;
};

// Pyroscope's table from a collapsed upload's name suffix to its profile type.
std::optional<TypeInfo> collapsed_type(const std::string& suffix) {
  static const std::unordered_map<std::string, TypeInfo> kTable = {
      {"cpu", {"process_cpu", "samples", "count"}},
      {"itimer", {"process_cpu", "samples", "count"}},
      {"wall", {"wall", "samples", "count"}},
      {"seconds", {"wall", "samples", "count"}},
      {"nanoseconds", {"wall", "samples", "count"}},
      {"microseconds", {"wall", "samples", "count"}},
      {"milliseconds", {"wall", "samples", "count"}},
      {"inuse_objects", {"memory", "inuse_objects", "count"}},
      {"inuse_space", {"memory", "inuse_space", "bytes"}},
      {"alloc_objects", {"memory", "alloc_objects", "count"}},
      {"alloc_space", {"memory", "alloc_space", "bytes"}},
      {"alloc_in_new_tlab_objects", {"memory", "alloc_in_new_tlab_objects", "count"}},
      {"alloc_in_new_tlab_bytes", {"memory", "alloc_in_new_tlab_bytes", "bytes"}},
      {"alloc_outside_tlab_objects", {"memory", "alloc_outside_tlab_objects", "count"}},
      {"alloc_outside_tlab_bytes", {"memory", "alloc_outside_tlab_bytes", "bytes"}},
      {"live", {"memory", "live", "count"}},
      {"bytes", {"memory", "samples", "bytes"}},
      {"goroutines", {"goroutine", "goroutines", "count"}},
      {"mutex_count", {"mutex", "contentions", "count"}},
      {"mutex_duration", {"mutex", "delay", "nanoseconds"}},
      {"block_count", {"block", "contentions", "count"}},
      {"block_duration", {"block", "delay", "nanoseconds"}},
      {"lock_count", {"block", "contentions", "count"}},
      {"lock_duration", {"block", "delay", "nanoseconds"}},
      {"exceptions", {"exceptions", "samples", "count"}},
  };
  auto it = kTable.find(suffix);
  if (it == kTable.end()) return std::nullopt;
  return it->second;
}

}  // namespace

Result<Converted> convert_collapsed(std::string_view body, bool lines, const Params& params,
                                    const pprof::Limits& limits) {
  Converted out;
  std::string suffix = "cpu";
  out.app = params.app;
  if (size_t dot = params.app.rfind('.'); dot != std::string::npos) {
    suffix = params.app.substr(dot + 1);
    out.app = params.app.substr(0, dot);
  }
  auto type = collapsed_type(suffix);
  if (!type || out.app.empty()) {
    return Status::invalid("unknown profile type \"" + suffix + "\" in the name " +
                           quote(params.app) +
                           ": collapsed uploads name their type in the last .suffix (app.cpu, "
                           "app.wall, app.alloc_space, app.inuse_objects, …)");
  }
  out.series_name = type->series;
  perftools::profiles::Profile p;
  std::unordered_map<std::string_view, uint64_t> functions;
  p.add_string_table("");
  auto intern = [&](std::string_view s) {
    p.add_string_table(std::string(s));
    return static_cast<int64_t>(p.string_table_size() - 1);
  };
  auto function_id = [&](std::string_view name) {
    auto [it, fresh] = functions.emplace(name, functions.size() + 1);
    if (fresh) {
      auto* f = p.add_function();
      f->set_id(it->second);
      f->set_name(intern(name));
      auto* loc = p.add_location();
      loc->set_id(it->second);
      loc->add_line()->set_function_id(it->second);
    }
    return it->second;
  };
  int64_t scale = 1;
  std::string sample_type = type->sample_type, unit = type->unit;
  if (params.sample_rate > 0 && (type->series == "process_cpu" || type->series == "wall")) {
    scale = 1'000'000'000 / params.sample_rate;
    sample_type = type->series == "wall" ? "wall" : "cpu";
    unit = "nanoseconds";
    auto* pt = p.mutable_period_type();
    pt->set_type(intern("cpu"));
    pt->set_unit(intern("nanoseconds"));
    p.set_period(scale);
  }
  auto* st = p.add_sample_type();
  st->set_type(intern(sample_type));
  st->set_unit(intern(unit));
  size_t line_no = 0;
  std::string_view rest = body;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    std::string_view stack = line;
    int64_t value = 1;
    if (!lines) {
      size_t space = line.rfind(' ');
      std::string_view num = space == std::string_view::npos ? "" : line.substr(space + 1);
      auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), value);
      if (num.empty() || ec != std::errc() || ptr != num.data() + num.size() || value < 0) {
        return Status::invalid(
            "line " + std::to_string(line_no) +
            " is not \"frame;frame;… count\" (format=folded): " + quote(line.substr(0, 120)));
      }
      stack = line.substr(0, space);
    }
    if (!valid_utf8(stack)) {
      return Status::invalid("line " + std::to_string(line_no) + " is not UTF-8");
    }
    if (static_cast<size_t>(p.sample_size()) >= limits.max_samples) {
      return Status::invalid("more than " + std::to_string(limits.max_samples) + " stacks");
    }
    if (__builtin_mul_overflow(value, scale, &value)) {
      return Status::invalid("line " + std::to_string(line_no) + ": the value overflows");
    }
    auto* s = p.add_sample();
    // Root first in the text, leaf first in pprof.
    std::vector<uint64_t> frames;
    while (!stack.empty()) {
      size_t semi = stack.find(';');
      frames.push_back(function_id(stack.substr(0, semi)));
      stack = semi == std::string_view::npos ? std::string_view() : stack.substr(semi + 1);
    }
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) s->add_location_id(*it);
    s->add_value(value);
  }
  p.set_time_nanos(params.from_ns);
  p.set_duration_nanos(std::max<int64_t>(0, params.until_ns - params.from_ns));
  out.profile = pprof::view_of(p);
  return out;
}

Labels series_labels(const Params& params, const std::string& series_name, const std::string& app) {
  Labels out;
  for (const auto& l : params.labels) {
    if (l.name.rfind("__", 0) != 0) out.set(l.name, l.value);
  }
  out.set("__name__", series_name);
  out.set("pyroscope_spy", params.spy_name);
  if (!out.has("service_name")) {
    out.set("service_name", app);
  } else if (!out.has("app_name")) {
    out.set("app_name", app);
  }
  return out;
}

Result<std::vector<pprof::JfrProfile>> convert_jfr(std::string_view body,
                                                   std::string_view content_type,
                                                   const Params& params, size_t max_inflated) {
  std::string_view recording = body, labels;
  bool has_labels = false;
  std::vector<Part> parts;
  if (content_type.find("multipart/form-data") != std::string_view::npos) {
    if (Status bad = parse_multipart(body, content_type, &parts); !bad.ok()) {
      return bad.context("invalid multipart/form-data body");
    }
    bool has_jfr = false;
    for (const auto& p : parts) {
      if (p.name == "jfr") {
        recording = p.data;
        has_jfr = true;
      } else if (p.name == "labels") {
        labels = p.data;
        has_labels = true;
      }
    }
    if (!has_jfr) return Status::invalid("the multipart/form-data body has no \"jfr\" part");
  }
  std::string inflated_jfr, inflated_labels;
  if (pprof::is_gzip(recording)) {
    if (Status bad = pprof::gunzip(recording, max_inflated, &inflated_jfr); !bad.ok()) {
      return bad.context("the jfr part");
    }
    recording = inflated_jfr;
  }
  pprof::JfrOptions opts;
  if (params.sample_rate_given) opts.sample_rate_hz = params.sample_rate;
  if (has_labels) {
    if (pprof::is_gzip(labels)) {
      if (Status bad = pprof::gunzip(labels, max_inflated, &inflated_labels); !bad.ok()) {
        return bad.context("the labels part");
      }
      labels = inflated_labels;
    }
    jfr::v1::LabelsSnapshot snapshot;
    if (!snapshot.ParseFromArray(labels.data(), static_cast<int>(labels.size()))) {
      return Status::invalid("the labels part is not a LabelsSnapshot protobuf");
    }
    for (const auto& [id, context] : snapshot.contexts()) {
      auto& out = opts.contexts[id];
      for (const auto& [k, v] : context.labels()) {
        auto key = snapshot.strings().find(k);
        auto value = snapshot.strings().find(v);
        if (key == snapshot.strings().end() || value == snapshot.strings().end()) {
          return Status::invalid("the labels part: context " + std::to_string(id) +
                                 " refers to a string id it does not hold");
        }
        out.emplace_back(key->second, value->second);
      }
    }
  }
  auto profiles = pprof::jfr_to_pprof(recording, opts);
  if (!profiles) return profiles.status();
  if (profiles->empty()) {
    return Status::invalid(
        "the recording holds no events stoker turns into profiles (jdk.ExecutionSample, "
        "allocation, jdk.JavaMonitorEnter, jdk.ThreadPark, async-profiler's)");
  }
  return profiles;
}

}  // namespace stoker::ingest
