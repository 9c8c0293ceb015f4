// Receiver: accepting pushed profiles into the store, next to scraped ones.
//
// Answers Pyroscope's SDK upload `POST /ingest` (also `/pyroscope/ingest`;
// pprof raw, gzipped or multipart, folded and lines text; JFR and the binary
// trie/tree formats are refused with 415) and `POST
// /push.v1.PusherService/Push` (Connect, proto or JSON: Alloy's
// pyroscope.write, another stoker's remote_write), under receive.path_prefix.
// A pushed profile goes through what a scraped one does — decoding and
// validation, label limits, receive.relabel_configs, external_labels,
// storage, the forward cache and outbox — and the request is answered only
// once its profiles are committed: 200 means stored. A full write queue (or a
// commit that takes longer than the commit timeout) answers 503 with
// Retry-After so that the client retries. Thread-safe: handle() runs on pool threads, configure()
// on the I/O thread at reload.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "net/http_server.h"
#include "storage/storage.h"

namespace stoker {

struct SelfMetrics;

class Receiver {
 public:
  // `metrics` may be null. A request waits up to `commit_timeout` for its
  // profiles to be committed.
  Receiver(Storage* storage, SelfMetrics* metrics,
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
  struct Refusal {
    int status;
    std::string reason;  // the metrics label
    std::string message;
  };

 private:
  std::shared_ptr<const Settings> settings() const;
  WebResponse ingest(const WebRequest& req, const Settings& s);
  WebResponse push(const WebRequest& req, const Settings& s);
  // Queues `records` all or none, waits for the commit, counts them; the
  // refusal to send when that fails.
  std::optional<Refusal> commit(std::vector<ProfileRecord> records, const std::string& format);

  Storage* storage_;
  SelfMetrics* metrics_;
  std::chrono::milliseconds commit_timeout_;
  mutable std::mutex mu_;
  std::shared_ptr<const Settings> settings_;
};

}  // namespace stoker
