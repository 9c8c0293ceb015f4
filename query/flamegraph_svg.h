// Renders a call tree as a self-contained interactive flame graph: an SVG file
// with inline script (hover shows function, self, total and % of the view;
// click zooms, a click on the background or Esc resets; "Search" or `/`
// highlights a substring or regex and shows its share), or an HTML page holding
// the same. Nothing is fetched from the network. Classic orientation puts the
// root at the bottom; `icicle` puts it at the top (flamegraph.pl's --inverted).
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "query/call_tree.h"

namespace stoker::query {

struct SvgOptions {
  std::string title = "Flame Graph";
  std::string subtitle;     // e.g. the query and time range
  std::string sample_unit;  // nanoseconds, bytes, count, … (formats values)
  bool icicle = false;
  int64_t max_nodes = 8192;  // as the API: smaller nodes fold into `other`
  int width = 1200;
};

std::string render_svg(const CallTree& tree, const SvgOptions& opts);
std::string render_html(const CallTree& tree, const SvgOptions& opts);

// A value in its unit for people: "1.25 s", "3.2 MiB", "1,234".
std::string format_value(int64_t v, const std::string& unit);

}  // namespace stoker::query
