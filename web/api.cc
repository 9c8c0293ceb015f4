#include "web/api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>

#include "model/text.h"
#include "model/timeparse.h"
#include "pprof/pprof_decode.h"
#include "query/engine.h"
#include "web/querier_api.h"
#include "web/receive_api.h"
#include "web/render_api.h"
#include "web/ui_assets.h"

namespace stoker {

namespace json = boost::json;

namespace {

json::object labels_json(const Labels& labels) {
  json::object o;
  for (const auto& l : labels) o[l.name] = l.value;
  return o;
}

}  // namespace

std::string targets_json(const std::vector<TargetStatus>& targets, bool with_health) {
  json::array active, dropped;
  for (const auto& t : targets) {
    if (t.dropped || (!t.error.empty() && t.endpoints.empty())) {
      json::object d;
      d["discoveredLabels"] = labels_json(t.discovered);
      d["scrapePool"] = t.job;
      if (!t.error.empty()) d["error"] = t.error;
      dropped.push_back(std::move(d));
      continue;
    }
    json::object a;
    a["discoveredLabels"] = labels_json(t.discovered);
    a["labels"] = labels_json(t.labels);
    a["scrapePool"] = t.job;
    if (!t.owner.empty()) a["owner"] = t.owner;
    json::object urls, profiles;
    std::string overall = t.endpoints.empty() ? "unknown" : "up";
    for (const auto& ep : t.endpoints) {
      urls[ep.type] = ep.url;
      if (!with_health) continue;
      json::object h;
      h["scrapeUrl"] = ep.url;
      h["health"] = ScrapeHealth::name(ep.health.state);
      h["lastError"] = ep.health.last_error;
      h["lastScrape"] = ep.health.last_scrape_ns ? format_time(ep.health.last_scrape_ns) : "";
      h["lastScrapeDuration"] = ep.health.last_duration_s;
      h["scrapes"] = ep.health.scrapes;
      h["failures"] = ep.health.failures;
      profiles[ep.type] = std::move(h);
      if (ep.health.state == ScrapeHealth::State::kDown) {
        overall = "down";
      } else if (ep.health.state == ScrapeHealth::State::kUnknown && overall == "up") {
        overall = "unknown";
      }
    }
    a["scrapeUrls"] = std::move(urls);
    if (with_health) {
      a["health"] = overall;
      a["profiles"] = std::move(profiles);
    }
    active.push_back(std::move(a));
  }
  json::object doc;
  doc["activeTargets"] = std::move(active);
  doc["droppedTargets"] = std::move(dropped);
  return json::serialize(doc);
}

bool is_query_request(const WebRequest& req) {
  return is_connect_path(req.path) || is_render_path(req.path);
}

namespace {

// Large JSON and protobuf answers are gzipped for clients that accept it.
void maybe_gzip(const WebRequest& req, WebResponse& res) {
  if (res.body.size() < 8192 || res.content_type == "application/octet-stream") return;
  for (const auto& [k, v] : res.headers) {
    if (k == "Content-Encoding") return;
  }
  if (req.header("accept-encoding").find("gzip") == std::string::npos) return;
  res.body = pprof::gzip(res.body, 1);
  res.headers.emplace_back("Content-Encoding", "gzip");
  res.headers.emplace_back("Vary", "Accept-Encoding");
}

WebResponse route(const WebRequest& req, const ApiContext& ctx);

}  // namespace

WebResponse handle_request(const WebRequest& req, const ApiContext& ctx) {
  WebResponse res = route(req, ctx);
  maybe_gzip(req, res);
  return res;
}

namespace {

// The web page's own routes.
bool is_page(std::string_view path) {
  return path == "/" || path == "/diff" || path == "/targets" || path == "/status";
}

WebResponse route(const WebRequest& req, const ApiContext& ctx) {
  WebResponse res;
  if (ctx.queries && is_connect_path(req.path)) return handle_connect(req, *ctx.queries);
  if (ctx.queries && is_render_path(req.path)) return handle_render(req, *ctx.queries, ctx.source);
  if (ctx.receiver && ctx.receiver->handles(req.path)) return ctx.receiver->handle(req);
  if (req.path == "/-/reload" && ctx.reload) {
    if (req.method != "POST" && req.method != "PUT") {
      res.status = 405;
      res.body = "Only POST or PUT requests allowed\n";
      return res;
    }
    std::string err;
    if (!ctx.reload(&err)) {
      res.status = 500;
      res.body = "failed to reload config: " + err + "\n";
    }
    return res;
  }
  if (req.method != "GET" && req.method != "HEAD") {
    res.status = 405;
    res.body = "method not allowed\n";
    return res;
  }
  if (req.path == "/metrics" && ctx.metrics) {
    res.content_type = "text/plain; version=0.0.4; charset=utf-8";
    res.body = ctx.metrics();
  } else if (req.path == "/api/v1/status/config" && ctx.config_yaml) {
    boost::json::object data;
    data["yaml"] = ctx.config_yaml();
    boost::json::object doc;
    doc["status"] = "success";
    doc["data"] = std::move(data);
    res.content_type = "application/json";
    res.body = boost::json::serialize(doc);
  } else if (req.path == "/api/v1/status/cluster" && ctx.cluster_json) {
    res.content_type = "application/json";
    res.body = ctx.cluster_json();
  } else if (req.path == "/api/v1/remote_write" && ctx.remote_write_json) {
    res.content_type = "application/json";
    res.body = ctx.remote_write_json();
  } else if (req.path == "/-/healthy") {
    res.body = "stoker is Healthy.\n";
  } else if (req.path == "/-/ready") {
    bool ready = ctx.ready && ctx.ready->load();
    res.status = ready ? 200 : 503;
    res.body = ready ? "stoker is Ready.\n" : "stoker is not ready.\n";
  } else if (req.path == "/api/v1/targets") {
    res.content_type = "application/json";
    res.body = "{\"status\":\"success\",\"data\":" +
               targets_json(ctx.targets ? ctx.targets() : std::vector<TargetStatus>{}, true) + "}";
  } else if (const ui::Asset* asset = ui::find(is_page(req.path) ? "/index.html" : req.path)) {
    // The web page: its routes all load index.html, which picks the view.
    res.content_type = asset->content_type;
    res.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
    res.headers.emplace_back("Cache-Control", "no-cache");
  } else {
    res.status = 404;
    res.body = "404 page not found\n";
  }
  return res;
}

}  // namespace

}  // namespace stoker
