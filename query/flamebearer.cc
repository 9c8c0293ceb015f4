#include "query/flamebearer.h"

#include <boost/json.hpp>

namespace stoker::query {

namespace json = boost::json;

json::array levels_json(const std::vector<std::vector<int64_t>>& levels) {
  json::array out;
  for (const auto& l : levels) {
    json::array row;
    for (int64_t v : l) row.push_back(v);
    out.push_back(std::move(row));
  }
  return out;
}

json::object flamebearer_json(const FlameGraph& fg) {
  json::object fb;
  json::array names;
  for (const auto& n : fg.names) names.push_back(json::string(n));
  fb["names"] = std::move(names);
  fb["levels"] = levels_json(fg.levels);
  fb["numTicks"] = fg.total;
  fb["maxSelf"] = fg.max_self;
  return fb;
}

json::object flamebearer_metadata(const ProfileTypeId& t, const char* format) {
  json::object m;
  m["format"] = format;
  m["spyName"] = "";
  std::string units = t.sample_unit;
  int64_t rate = 100;
  if (t.sample_type == "inuse_objects" || t.sample_type == "alloc_objects" ||
      t.sample_type == "goroutine" || t.sample_type == "samples") {
    units = "objects";
  } else if (t.sample_type == "cpu") {
    units = "samples";
    rate = 1'000'000'000;
  }
  m["sampleRate"] = rate;
  m["units"] = units;
  m["name"] = t.sample_type;
  return m;
}

json::object flamebearer_document(const FlameGraph& fg, const ProfileTypeId& t, int64_t profiles) {
  json::object doc;
  doc["version"] = 1;
  doc["flamebearer"] = flamebearer_json(fg);
  doc["metadata"] = flamebearer_metadata(t, "single");
  doc["profiles"] = profiles;
  doc["timeline"] = nullptr;
  doc["groups"] = nullptr;
  doc["heatmap"] = nullptr;
  return doc;
}

}  // namespace stoker::query
