// What the API and the CLI show about targets: plain values, copied out of
// the scrape manager (collector/scrape_manager.h) so that readers need
// nothing of scraping.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/labels.h"

namespace stoker {

struct ScrapeHealth {
  enum class State { kUnknown, kUp, kDown };
  State state = State::kUnknown;
  std::string last_error;
  int64_t last_scrape_ns = 0;
  double last_duration_s = 0;
  uint64_t scrapes = 0, failures = 0;
  static const char* name(State s) {
    return s == State::kUp ? "up" : s == State::kDown ? "down" : "unknown";
  }
};

struct EndpointStatus {
  std::string type;  // profile type as configured
  std::string url;
  ScrapeHealth health;
};

struct TargetStatus {
  std::string job;
  Labels discovered;
  Labels labels;         // public labels (no "__" names)
  std::string error;     // why the target cannot be scraped, if so
  bool dropped = false;  // dropped by relabel_configs
  std::string owner;     // clustered jobs: the replica that scrapes it ("" otherwise)
  std::vector<EndpointStatus> endpoints;
};

}  // namespace stoker
