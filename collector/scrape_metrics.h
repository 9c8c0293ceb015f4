// ScrapeMetrics: the metric families of scraping, per job and profile type,
// registered once per process. Loops keep pointers to their children; the
// scrape manager removes the children of (job, profile type) pairs that have
// no loop any more, as Prometheus deletes the series of targets that are gone.
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "model/metrics.h"

namespace stoker {

struct ScrapeMetrics {
  explicit ScrapeMetrics(metrics::Registry& r)
      : scrapes(r.counter("stoker_scrapes_total", "Scrapes attempted, per job and profile type.",
                          {"job", "profile"})),
        failures(r.counter("stoker_scrape_failures_total",
                           "Scrapes that failed (network, HTTP status, invalid pprof, limits).",
                           {"job", "profile"})),
        duration(r.histogram(
            "stoker_scrape_duration_seconds",
            "Time from the start of a scrape to the profile being queued for storage.",
            {"job", "profile"}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
        bytes(r.counter("stoker_scraped_bytes_total", "Response body bytes received from targets.",
                        {"job", "profile"})),
        stored(r.counter("stoker_profiles_stored_total", "Profiles handed to local storage.",
                         {"job", "profile"})),
        primed(r.counter("stoker_delta_primed_total",
                         "Cumulative profiles not stored because they primed (or re-primed after "
                         "a counter reset) the delta state.",
                         {"job", "profile"})) {}

  // Forgets the series of one (job, profile type).
  void remove(const std::string& job, const std::string& profile) {
    std::vector<std::string> lv{job, profile};
    scrapes.remove(lv);
    failures.remove(lv);
    duration.remove(lv);
    bytes.remove(lv);
    stored.remove(lv);
    primed.remove(lv);
  }

  metrics::CounterFamily &scrapes, &failures;
  metrics::HistogramFamily& duration;
  metrics::CounterFamily &bytes, &stored, &primed;
};

}  // namespace stoker
