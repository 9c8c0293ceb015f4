// Pyroscope's /ingest upload, as the SDKs send it, turned into profiles with
// series labels: the query parameters (name with labels, from/until, format,
// spyName, sampleRate, units, aggregationType), multipart/form-data bodies
// (`profile`, `prev_profile`, `sample_type_config`), collapsed-stack text
// (folded, lines) and the naming rules Pyroscope applies
// (shared/reference/alloy-pyroscope.md §2.4). No HTTP here: the receiver
// (web/receive_api.h) maps failures to statuses; what it parses goes through
// the ingest pipeline (ingest/pipeline.h). Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/labels.h"
#include "model/status.h"
#include "pprof/jfr.h"
#include "pprof/view.h"

namespace stoker::ingest {

// The query parameters of POST /ingest, parsed and checked.
struct Params {
  std::string app;  // the application name: `name` before its `{labels}`
  Labels labels;    // the labels inside `name`'s braces
  int64_t from_ns = 0, until_ns = 0;
  std::string format;  // pprof, folded, lines, jfr, … (lower case)
  std::string spy_name = "unknown";
  int64_t sample_rate = 100;
  bool sample_rate_given = false;  // sampleRate was in the query
  std::string units = "samples";
  std::string aggregation = "sum";
};

// Parses the query string of an /ingest request (`content_type` picks the
// format when `format` is absent: multipart/form-data means pprof). A failure
// names the parameter.
Status parse_params(std::string_view query, std::string_view content_type, int64_t now_ns,
                    Params* out);

// `app.name{key=value,…}` as Pyroscope's key parser reads it: the name may
// hold letters, digits, '-', '_', '.', '/'; label names letters, digits, '_',
// '.', '-', '/'; values are everything up to ',' or '}' (trimmed).
Status parse_name(std::string_view name, std::string* app, Labels* labels);

// An instant as Pyroscope's attime accepts it: unix seconds, milliseconds (13
// digits), microseconds (16) or nanoseconds (19), YYYYMMDD, or stoker's own
// forms (RFC 3339, now-1h).
Result<int64_t> parse_instant(std::string_view text, int64_t now_ns);

// One part of a multipart/form-data body; `data` points into the body.
struct Part {
  std::string name, filename, content_type;
  std::string_view data;
};
// Splits a multipart/form-data body (RFC 7578) at the boundary from
// `content_type`.
Status parse_multipart(std::string_view body, std::string_view content_type,
                       std::vector<Part>* parts);

// One entry of the `sample_type_config` part, keyed by sample type.
struct SampleTypeConfig {
  std::string display_name, units, aggregation;
  bool cumulative = false, sampled = false;
};
using SampleTypeConfigs = std::map<std::string, SampleTypeConfig, std::less<>>;
// Parses the JSON object the Go and Python SDKs send.
Status parse_sample_type_config(std::string_view json, SampleTypeConfigs* out);
// What Pyroscope uses without a sample_type_config part.
const SampleTypeConfigs& default_sample_type_config();

// The `__name__` Pyroscope gives an uploaded pprof: "wall" when a sample type
// is wall, else the first of process_cpu, memory, mutex, block, goroutines
// whose pattern a sample type (or its display name) matches, else the last
// sample type.
std::string pprof_series_name(const pprof::View& p, const SampleTypeConfigs& config);

// Indices of the sample types to difference against `prev_profile`: those the
// config marks cumulative.
std::vector<size_t> cumulative_columns(const pprof::View& p, const SampleTypeConfigs& config);

// A collapsed-stack upload (`folded`: "a;b;c 12" per line, root first;
// `lines`: "a;b;c" per line, each counting 1) as a pprof profile. The profile
// type comes from the name's last ".suffix" (Pyroscope's table: cpu, wall,
// alloc_objects, inuse_space, …; no suffix means cpu), CPU and wall values are
// scaled from samples to nanoseconds by sampleRate.
struct Converted {
  std::shared_ptr<pprof::View> profile;
  std::string series_name;  // __name__
  std::string app;          // the name without its type suffix
};
Result<Converted> convert_collapsed(std::string_view body, bool lines, const Params& params,
                                    const pprof::Limits& limits);

// A format=jfr upload, as the Pyroscope Java agent sends it: multipart with
// part `jfr` (the recording) and optionally `labels` (a LabelsSnapshot: the
// context ids its events carry → label key/value strings), each gzipped or
// not; or the recording as the whole body. One profile per event type
// (pprof/jfr.h); the CPU period from `sampleRate` when it was given, else
// from the recording. Inflated parts are limited to `max_inflated` bytes.
Result<std::vector<pprof::JfrProfile>> convert_jfr(std::string_view body,
                                                   std::string_view content_type,
                                                   const Params& params, size_t max_inflated);

// The series labels Pyroscope gives an upload: the name's labels (minus
// reserved `__` ones), __name__, pyroscope_spy, and service_name = `app`
// unless the labels have one (then app_name = `app`).
Labels series_labels(const Params& params, const std::string& series_name, const std::string& app);

}  // namespace stoker::ingest
