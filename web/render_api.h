// Pyroscope's HTTP read endpoints, as its current server serves them (GET only):
// /pyroscope/render (flamebearer JSON with a timeline, `groups` with groupBy),
// /pyroscope/render-diff (flamebearer "double") and /pyroscope/label-values.
// stoker's extensions of /pyroscope/render, for its web page: `bottomUp`,
// `collapseRecursion`, `profileId` (only those stored profiles), `sandwich=FN`
// (callers and callees flame graphs of one function), `format=folded|svg`
// (downloads) and `timeline=false`; GET /api/v1/function_series (one
// function's self and total over time). Also stoker's downloads: GET
// /api/v1/profiles/{id} (one stored profile) and GET
// /api/v1/profiles/merged?query=…&from=…&until=… (the merge of a query), as
// gzipped pprof with a file name, for `go tool pprof` and speedscope.
// Errors use the Connect error JSON, as Pyroscope's handlers do. Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_server.h"
#include "query/engine.h"

namespace stoker {

// True for the paths handle_render() answers.
bool is_render_path(std::string_view path);
WebResponse handle_render(const WebRequest& req, query::EnginePool& pool);

// URL query parameters: `a=1&b=x%20y&a=2` → {a: [1, 2], b: ["x y"]} ('+' is a
// space). Malformed escapes are kept as they are.
std::map<std::string, std::vector<std::string>> parse_query_string(std::string_view query);

// A time as Pyroscope's attime.Parse reads it, in ms since the epoch: "now",
// "now-1h", digits by length (8: YYYYMMDD, 13: ms, 16: µs, 19: ns, else
// seconds), or RFC 3339. An empty string is now. nullopt and a message when
// it is none of these or is 0.
std::optional<int64_t> parse_render_time(std::string_view s, int64_t now_ms, std::string* error);

// Pyroscope's timeline step for a range (about range/1500, rounded, at least 15 s), in seconds.
int64_t timeline_step_seconds(int64_t from_ms, int64_t until_ms);

}  // namespace stoker
