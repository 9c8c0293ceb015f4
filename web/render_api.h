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
// pprof's refine options on /pyroscope/render and the merged download (focus,
// ignore, hide, show, show_from, tagfocus, tagignore, granularity);
// format=dot (Graphviz, as go tool pprof -dot) and format=graph (its JSON)
// with nodecount/nodefraction/edgefraction; GET /api/v1/source?function=RE
// (go tool pprof -list as JSON; files only under the locator's roots).
// Errors use the Connect error JSON, as Pyroscope's handlers do. Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/http_server.h"
#include "query/engine.h"

namespace stoker::query {
class SourceLocator;
}

namespace stoker {

// True for the paths handle_render() answers.
bool is_render_path(std::string_view path);
// `source_locator` null: GET /api/v1/source answers that the view is off.
WebResponse handle_render(const WebRequest& req, query::EnginePool& pool,
                          const query::SourceLocator* source_locator);

// Pyroscope's timeline step for a range (about range/1500, rounded, at least 15 s), in seconds.
int64_t timeline_step_seconds(int64_t from_ms, int64_t until_ms);

}  // namespace stoker
