// Pyroscope's query API over Connect: querier.v1.QuerierService (ProfileTypes,
// LabelNames, LabelValues, Series, SelectMergeStacktraces, SelectSeries,
// SelectMergeProfile, Diff, GetProfileStats) and settings.v1.SettingsService/Get,
// answered from the local store through the query engine; the other methods
// answer `unimplemented`. Grafana's Pyroscope data source, Grafana's Profiles
// Drilldown app, Pyroscope's UI and profilecli use these paths unchanged.
// Thread-safe (engines come from the pool).
#pragma once

#include <string_view>

#include "net/http_server.h"
#include "query/engine.h"

namespace stoker {

// True for the paths handle_connect() answers.
bool is_connect_path(std::string_view path);
WebResponse handle_connect(const WebRequest& req, query::EnginePool& pool);

}  // namespace stoker
