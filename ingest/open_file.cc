#include "ingest/open_file.h"

#include <algorithm>

#include "ingest/upload.h"
#include "pprof/compress.h"
#include "pprof/jfr.h"

namespace stoker::ingest {

namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string_view base_name(std::string_view name) {
  if (auto slash = name.find_last_of("/\\"); slash != std::string_view::npos) {
    name.remove_prefix(slash + 1);
  }
  return name;
}

// The name without .gz and its last extension (cpu.pb.gz → cpu.pb → cpu).
std::string stem(std::string_view name) {
  std::string s(base_name(name));
  for (std::string_view ext : {".gz", ".pb", ".pprof", ".prof", ".jfr", ".folded", ".collapsed",
                               ".txt", ".out"}) {
    if (s.size() > ext.size() && s.ends_with(ext)) s.resize(s.size() - ext.size());
  }
  return s.empty() ? std::string("upload") : s;
}

// Text that reads as folded stacks: no NUL, and the first line is
// "frames value" (or frames alone, each line counting one).
bool looks_folded(std::string_view text) {
  if (text.empty() || text.find('\0') != std::string_view::npos) return false;
  std::string_view first = text.substr(0, text.find('\n'));
  while (!first.empty() && (first.back() == '\r' || first.back() == ' ')) first.remove_suffix(1);
  if (first.empty()) return false;
  auto sp = first.rfind(' ');
  if (sp == std::string_view::npos) return first.find(';') != std::string_view::npos;
  std::string_view count = first.substr(sp + 1);
  return !count.empty() && std::all_of(count.begin(), count.end(),
                                       [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

Result<OpenedFile> open_profile_file(std::string_view name, std::string_view bytes,
                                     const pprof::Limits& limits, size_t max_inflated) {
  const std::string file = quote(base_name(name));
  if (bytes.empty()) return Status::invalid(file + " is empty");
  std::string inflated;
  std::string_view data = bytes;
  if (pprof::is_gzip(bytes)) {
    if (Status s = pprof::gunzip(bytes, max_inflated, &inflated); !s.ok()) {
      return s.context(file);
    }
    data = inflated;
  }
  OpenedFile out;
  if (pprof::is_jfr(data)) {
    out.format = "jfr";
    pprof::JfrOptions o;
    auto profiles = pprof::jfr_to_pprof(data, o);
    if (!profiles) return profiles.status().context(file + " (Java Flight Recorder)");
    if (profiles->empty()) {
      return Status::invalid(file + " is a Java Flight Recorder file without profiling events");
    }
    for (auto& p : *profiles) out.profiles.push_back({pprof::view_of(p.profile), p.name});
    return out;
  }
  auto view = pprof::decode_view(data, limits);
  if (view) {
    out.format = "pprof";
    if ((*view)->samples.empty()) return Status::invalid(file + " is a pprof profile without samples");
    std::string series = pprof_series_name(**view, default_sample_type_config());
    out.profiles.push_back({std::move(*view), std::move(series)});
    return out;
  }
  if (looks_folded(data)) {
    out.format = "folded";
    Params params;
    params.app = stem(name);
    auto converted = convert_collapsed(data, false, params, limits);
    if (!converted) {
      // No type suffix in the name: CPU samples.
      params.app = std::string(base_name(name)).substr(0, base_name(name).find('.')) + ".cpu";
      converted = convert_collapsed(data, false, params, limits);
    }
    if (!converted) return converted.status().context(file + " (folded stacks)");
    out.profiles.push_back({std::move(converted->profile), converted->series_name});
    return out;
  }
  return Status(view.status().code(),
                file + " is not a profile stoker can read (pprof, JFR or folded stacks): as pprof, " +
                    view.status().message());
}

std::string file_service_name(std::string_view name) {
  std::string s = stem(name);
  return s.substr(0, s.find('.'));
}

Labels file_labels(std::string_view name, const std::string& series_name, const Labels& extra) {
  Labels l;
  l.set("__name__", series_name);
  l.set("service_name", file_service_name(name));
  l.set("source", "upload");
  l.set("file", std::string(base_name(name)));
  for (const auto& x : extra) l.set(x.name, x.value);
  return l;
}

Result<std::vector<Prepared>> prepare_file(Pipeline& pipeline, const FileInput& in,
                                           std::string* format) {
  auto opened = open_profile_file(in.name, in.bytes, in.limits, in.max_inflated);
  if (!opened) return opened.status();
  *format = opened->format;
  std::vector<Prepared> out;
  for (auto& p : opened->profiles) {
    Input input;
    input.origin = Origin::kPush;
    input.view = p.view;
    input.limits = in.limits;
    input.policy = in.policy;
    input.labels = file_labels(in.name, p.series_name, in.extra);
    input.time_ns = in.now_ns;
    input.delta_flag = "false";
    input.wire_bytes = out.empty() ? in.bytes.size() : 0;
    input.where = "file " + quote(base_name(in.name));
    auto prepared = pipeline.prepare(std::move(input));
    if (!prepared) return prepared.status().context(quote(base_name(in.name)));
    if (prepared->disposition == Prepared::Disposition::kStore) out.push_back(std::move(*prepared));
  }
  return out;
}

}  // namespace stoker::ingest
