// Flamebearer: the JSON flame graph document Pyroscope's /pyroscope/render
// answers (and its UI and Grafana's flame graph panel read): names, levels as
// [offset, total, self, name] quadruples, numTicks, maxSelf, and metadata with
// the units and sample rate that let a viewer print values. One builder for
// the API and `stoker flamegraph -o FILE.json`, so that both write the same
// document. Pure functions, thread-safe.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <vector>

#include "model/profile_type.h"
#include "query/call_tree.h"

namespace stoker::query {

boost::json::array levels_json(const std::vector<std::vector<int64_t>>& levels);
// {"names", "levels", "numTicks", "maxSelf"}.
boost::json::object flamebearer_json(const FlameGraph& fg);
// {"format", "spyName", "sampleRate", "units", "name"} as Pyroscope sets them
// for the profile type (cpu: samples at 1e9 per second; object counts:
// objects; otherwise the sample unit at 100).
boost::json::object flamebearer_metadata(const ProfileTypeId& t, const char* format);
// The whole single-graph document without a timeline: version, flamebearer,
// metadata, the number of merged profiles and null timeline/groups/heatmap.
boost::json::object flamebearer_document(const FlameGraph& fg, const ProfileTypeId& t,
                                         int64_t profiles);

}  // namespace stoker::query
