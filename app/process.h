// Process: the running stoker — storage, the ingest pipeline, discovery,
// the scrape manager, remote_write delivery, receiving pushes, the web API,
// the metrics registry — and its config lifecycle.
//
// run() blocks until SIGINT/SIGTERM, then stops scraping and delivery,
// commits everything queued and returns. A reload (SIGHUP, POST /-/reload)
// loads the config file again: an invalid file is rejected with its errors
// logged and exposed while the old config keeps running; a valid one changes
// only what changed. Discoverers whose SD config is unchanged keep running
// and keep their targets; scrape loops whose target and endpoint are unchanged
// keep running with their delta state, health and timing (taking new settings
// if their job's changed); remote_write endpoints with unchanged settings keep
// delivering; receive settings are swapped without touching connections.
// storage and web settings need a restart; a reload that changes them says so.
// Everything but the signal handling runs on one io_context thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace stoker {

struct ProcessOptions {
  std::optional<std::string> config_file;      // none: the embedded default config
  bool expand_env = false;                     // --config.expand-env
  std::optional<std::string> storage_path;     // --storage.path
  std::optional<std::string> listen_address;   // --web.listen-address
  std::optional<std::string> web_config_file;  // --web.config.file (TLS, basic auth)
  std::string self;                            // argv[0], for the start-up hints
};

class Process {
 public:
  explicit Process(ProcessOptions opts);
  ~Process();
  // Loads the config, opens storage, starts everything and serves until a
  // shutdown signal. Returns the process exit code (0 after a clean shutdown).
  int run();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
