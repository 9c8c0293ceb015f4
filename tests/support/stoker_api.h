// Small clients of a running stoker's HTTP API for the integration tests:
// readiness, one /metrics sample, a POST (reload), the targets document.
// Header-only.
#pragma once

#include <boost/json.hpp>
#include <cstdlib>
#include <string>

#include "tests/support/process.h"

namespace stoker::test {

inline bool ready(int web_port) {
  std::string body;
  return http_get(web_port, "/-/ready", &body) == 200;
}

// The value of one sample on stoker's /metrics, or -1 when absent.
inline double metric(int web_port, const std::string& series) {
  std::string body;
  if (http_get(web_port, "/metrics", &body) != 200) return -1;
  auto pos = body.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::strtod(body.c_str() + pos + series.size() + 2, nullptr);
}

// The whole /metrics page ("" when it cannot be read).
inline std::string metrics_page(int web_port) {
  std::string body;
  return http_get(web_port, "/metrics", &body) == 200 ? body : "";
}

inline std::string post(int port, const std::string& path, int* status) {
  std::string out = run_command(
      "curl -s -w '\\n%{http_code}' -X POST http://127.0.0.1:" + std::to_string(port) + path);
  auto nl = out.rfind('\n');
  *status = std::atoi(out.c_str() + nl + 1);
  return out.substr(0, nl);
}

// GET /api/v1/targets' activeTargets.
inline boost::json::array active_targets(int web_port) {
  std::string body;
  if (http_get(web_port, "/api/v1/targets", &body) != 200) return {};
  return boost::json::parse(body).at("data").at("activeTargets").as_array();
}

}  // namespace stoker::test
