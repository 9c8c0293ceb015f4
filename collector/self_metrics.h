// SelfMetrics: the metric families stoker exposes about itself on /metrics.
// One instance per collector process; scrape loops and pushers keep pointers to
// their children.
#pragma once

#include <string>

#include "model/metrics.h"

namespace stoker {

struct SelfMetrics {
  metrics::Registry registry;
  // Scraping, per job and profile type.
  metrics::CounterFamily& scrapes = registry.counter(
      "stoker_scrapes_total", "Scrapes attempted, per job and profile type.", {"job", "profile"});
  metrics::CounterFamily& scrape_failures =
      registry.counter("stoker_scrape_failures_total",
                       "Scrapes that failed (network, HTTP status, invalid pprof, limits).",
                       {"job", "profile"});
  metrics::HistogramFamily& scrape_duration = registry.histogram(
      "stoker_scrape_duration_seconds",
      "Time from the start of a scrape to the profile being queued for storage.",
      {"job", "profile"}, {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  metrics::CounterFamily& scraped_bytes =
      registry.counter("stoker_scraped_bytes_total",
                       "Response body bytes received from targets.", {"job", "profile"});
  metrics::CounterFamily& profiles_stored = registry.counter(
      "stoker_profiles_stored_total", "Profiles handed to local storage.", {"job", "profile"});
  metrics::CounterFamily& delta_primed = registry.counter(
      "stoker_delta_primed_total",
      "Cumulative profiles not stored because they primed (or re-primed after a counter reset) "
      "the delta state.",
      {"job", "profile"});
  // Forwarding, per remote_write endpoint.
  metrics::CounterFamily& push_requests = registry.counter(
      "stoker_push_requests_total", "Push requests sent, per endpoint.", {"endpoint"});
  metrics::CounterFamily& push_failures =
      registry.counter("stoker_push_failures_total",
                       "Push requests that failed (any reason), per endpoint.", {"endpoint"});
  metrics::CounterFamily& push_retries =
      registry.counter("stoker_push_retries_total",
                       "Push requests retried after a retryable failure.", {"endpoint"});
  metrics::CounterFamily& pushed_profiles =
      registry.counter("stoker_pushed_profiles_total",
                       "Profiles delivered (accepted by the endpoint).", {"endpoint"});
  metrics::CounterFamily& pushed_bytes = registry.counter(
      "stoker_pushed_bytes_total", "Request body bytes delivered.", {"endpoint"});
  metrics::CounterFamily& set_aside = registry.counter(
      "stoker_outbox_set_aside_profiles_total",
      "Profiles set aside undelivered: rejected by the endpoint or retries exhausted.",
      {"endpoint"});
  // Receiving pushed profiles (/ingest, push.v1 Push), per service_name and
  // format (pprof, folded, lines, push).
  metrics::CounterFamily& received_profiles = registry.counter(
      "stoker_received_profiles_total", "Pushed profiles stored, per service_name and format.",
      {"service_name", "format"});
  metrics::CounterFamily& received_bytes = registry.counter(
      "stoker_received_bytes_total",
      "Request body bytes of pushed profiles that were stored, per service_name and format.",
      {"service_name", "format"});
  metrics::CounterFamily& receive_dropped = registry.counter(
      "stoker_received_dropped_profiles_total",
      "Pushed profiles accepted but not stored because receive.relabel_configs dropped them.",
      {"format"});
  metrics::CounterFamily& receive_rejected = registry.counter(
      "stoker_receive_rejected_requests_total",
      "Push requests refused, per format and reason (invalid, too_large, unsupported_format, "
      "queue_full, not_committed, disabled).",
      {"format", "reason"});
  // Reloads.
  metrics::CounterFamily& reload_success = registry.gauge(
      "stoker_config_last_reload_successful", "Whether the last config reload succeeded.");
  metrics::CounterFamily& reload_time =
      registry.gauge("stoker_config_last_reload_success_timestamp_seconds",
                     "Time of the last successful config load (Unix seconds).");
};

}  // namespace stoker
