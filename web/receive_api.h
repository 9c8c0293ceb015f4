// Receiver: accepting pushed profiles into the store, next to scraped ones.
//
// Answers Pyroscope's SDK upload `POST /ingest` (also `/pyroscope/ingest`;
// pprof raw, gzipped or multipart, folded and lines text; JFR and the binary
// trie/tree formats are refused with 415) and `POST
// /push.v1.PusherService/Push` (Connect, proto or JSON: Alloy's
// pyroscope.write, another stoker's remote_write), under receive.path_prefix.
// The receiver only reads the request (its parameters, parts and format) and
// hands each profile to the ingest pipeline (ingest/pipeline.h), the same one
// scraped profiles take — decoding and validation, deltas against a
// prev_profile, receive.labels and receive.relabel_configs, label limits,
// external_labels, storage, forwarding — and answers only once its profiles
// are committed: 200 means stored. A request is all or nothing. A full write
// queue (or a commit that takes longer than the commit timeout) answers 503
// with Retry-After so that the client retries. Thread-safe: handle() runs on
// pool threads, configure() on the I/O thread at reload.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "ingest/pipeline.h"
#include "model/metrics.h"
#include "model/status.h"
#include "net/http_server.h"

namespace stoker {

class Receiver {
 public:
  // `registry` (may be null) receives the stoker_receive* metrics. A request
  // waits up to `commit_timeout` for its profiles to be committed.
  Receiver(ingest::Pipeline* pipeline, metrics::Registry* registry,
           std::chrono::milliseconds commit_timeout = std::chrono::seconds(10));
  ~Receiver();
  // Takes the receive section, external_labels and the listen address (which
  // decides the default of receive.enabled).
  void configure(const Config& cfg);
  // True for the paths handle() answers (enabled or not).
  bool handles(std::string_view path) const;
  // The request body limit for `path`; 0 when it is not a receive path.
  size_t body_limit(std::string_view path) const;
  WebResponse handle(const WebRequest& req);
  // Counts a request the HTTP server refused for its size before handle().
  void count_too_large(std::string_view path);
  // Whether pushes are accepted with the current config.
  bool enabled() const;

  struct Settings;
  struct Metrics;

 private:
  std::shared_ptr<const Settings> settings() const;
  WebResponse ingest(const WebRequest& req, const Settings& s);
  WebResponse ingest_jfr(const WebRequest& req, const Settings& s, const ingest::Params& params,
                         std::string_view body,
                         const std::function<WebResponse(const Status&)>& refuse);
  WebResponse push(const WebRequest& req, const Settings& s);
  WebResponse upload(const WebRequest& req, const Settings& s);
  // A refusal as plain text, counted and logged under `format`.
  WebResponse refuse_plain(const std::string& format, const Status& why);
  // Stores `batch` all or none and waits for the commit; counts what was stored.
  Status commit(std::vector<ingest::Prepared> batch, const std::vector<size_t>& wire_bytes,
                const std::string& format);

  ingest::Pipeline* pipeline_;
  std::unique_ptr<Metrics> metrics_;
  std::chrono::milliseconds commit_timeout_;
  mutable std::mutex mu_;
  std::shared_ptr<const Settings> settings_;
  // Per push source (the labels a client sends, but __name__), kept across
  // reloads.
  ingest::SeriesCaps caps_;
};

}  // namespace stoker
