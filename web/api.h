// HTTP API handlers: health, readiness and target status as JSON. They work on
// plain values (WebRequest/WebResponse) and read shared state through
// thread-safe interfaces; safe to call from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "collector/target_status.h"
#include "net/http_server.h"

namespace stoker::query {
class EnginePool;
class SourceLocator;
}

namespace stoker {

class Receiver;

struct ApiContext {
  std::function<std::vector<TargetStatus>()> targets;  // GET /api/v1/targets
  const std::atomic<bool>* ready = nullptr;
  // Optional parts (a 404 when unset).
  std::function<std::string()> metrics;            // GET /metrics
  std::function<std::string()> config_yaml;        // GET /api/v1/status/config
  std::function<bool(std::string*)> reload;        // POST /-/reload
  std::function<std::string()> remote_write_json;  // GET /api/v1/remote_write
  std::function<std::string()> cluster_json;       // GET /api/v1/status/cluster
  // The read side: querier.v1, settings.v1, /pyroscope/*, /api/v1/profiles/*.
  query::EnginePool* queries = nullptr;
  // Pushed profiles: /ingest and push.v1 Push (see web/receive_api.h).
  Receiver* receiver = nullptr;
  // The source view's file access (null: the view is off).
  const query::SourceLocator* source = nullptr;
};

WebResponse handle_request(const WebRequest& req, const ApiContext& ctx);
// True for requests that read the store (they run off the I/O thread).
bool is_query_request(const WebRequest& req);

// The Prometheus-style targets document: {"activeTargets": [...], "droppedTargets": [...]}.
std::string targets_json(const std::vector<TargetStatus>& targets, bool with_health);

}  // namespace stoker
