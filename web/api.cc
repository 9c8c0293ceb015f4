#include "web/api.h"

#include <boost/json.hpp>

#include "model/timeparse.h"

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

WebResponse handle_request(const WebRequest& req, const ApiContext& ctx) {
  WebResponse res;
  if (req.method != "GET" && req.method != "HEAD") {
    res.status = 405;
    res.body = "method not allowed\n";
    return res;
  }
  if (req.path == "/-/healthy") {
    res.body = "stoker is Healthy.\n";
  } else if (req.path == "/-/ready") {
    bool ready = ctx.ready && ctx.ready->load();
    res.status = ready ? 200 : 503;
    res.body = ready ? "stoker is Ready.\n" : "stoker is not ready.\n";
  } else if (req.path == "/api/v1/targets") {
    res.content_type = "application/json";
    res.body =
        "{\"status\":\"success\",\"data\":" + targets_json(ctx.scrape->snapshot(), true) + "}";
  } else if (req.path == "/") {
    res.body = "stoker\n\n/-/healthy\n/-/ready\n/api/v1/targets\n";
  } else {
    res.status = 404;
    res.body = "404 page not found\n";
  }
  return res;
}

}  // namespace stoker
