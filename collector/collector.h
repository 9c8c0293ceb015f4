// Collector: the running stoker process — storage, scrape manager, discovery,
// remote_write delivery, the web API and /metrics — and its config lifecycle.
//
// run() blocks until SIGINT/SIGTERM (or shutdown()), then stops scraping and
// delivery, commits everything queued and returns. reload() (SIGHUP, POST
// /-/reload) loads the config file again: an invalid file is rejected with its
// errors logged and exposed while the old config keeps running; a valid one is
// applied job by job (unchanged loops keep running with their delta state) and
// endpoint by endpoint. Storage and web settings need a restart; a reload that
// changes them says so.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace stoker {

struct CollectorOptions {
  std::optional<std::string> config_file;      // none: the embedded default config
  bool expand_env = false;                     // --config.expand-env
  std::optional<std::string> storage_path;     // --storage.path
  std::optional<std::string> listen_address;   // --web.listen-address
  std::optional<std::string> web_config_file;  // --web.config.file (TLS, basic auth)
  std::string self;                            // argv[0], for the start-up hints
};

class Collector {
 public:
  explicit Collector(CollectorOptions opts);
  ~Collector();
  // Loads the config, opens storage, starts everything and serves until a
  // shutdown signal. Returns the process exit code (0 after a clean shutdown).
  int run();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
