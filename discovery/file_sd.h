// File-based service discovery (Prometheus' file_sd_configs).
//
// FileSdState is the pure part: given the configured patterns (a `*` glob is
// allowed in the last path element), it reads every matching JSON or YAML file
// and returns the target groups that changed since the previous refresh. Each
// group gets the source "<path>:<index>" and the label __meta_filepath. A file
// that cannot be read or parsed produces no update, so its previous groups stay;
// a file that disappears, or has fewer groups than before, yields empty groups
// for the vanished sources. Not thread-safe; FileDiscoverer drives it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "discovery/target.h"
#include "model/units.h"

namespace stoker {

// Parses Prometheus' target-group JSON (a list of {"targets": [...],
// "labels": {...}}), as SD files and HTTP SD hold it; errors start with `what`.
bool parse_json_groups(const std::string& what, const std::string& content,
                       std::vector<TargetGroup>* groups, std::string* error);

// Parses the content of one SD file (JSON if `path` ends in .json, YAML otherwise).
// Returns false with a message naming the path (and line for YAML) on error.
bool parse_sd_file(const std::string& path, const std::string& content,
                   std::vector<TargetGroup>* groups, std::string* error);

// Expands each pattern (`*` allowed in the file name) to the existing files, sorted.
std::vector<std::string> expand_sd_patterns(const std::vector<std::string>& patterns);

class FileSdState {
 public:
  // Re-reads every file; appends changed or vanished groups to `updates` and one
  // message per failing file to `errors`.
  void refresh(const std::vector<std::string>& patterns, std::vector<TargetGroup>* updates,
               std::vector<std::string>* errors);

 private:
  std::map<std::string, std::vector<TargetGroup>> last_;  // by file
};

// Watches the files of one file_sd_config: inotify on their directories for prompt
// pick-up, and a full refresh every refresh_interval. Calls `on_update` from its
// own thread with changed groups. stop() (or the destructor) joins the thread.
class FileDiscoverer {
 public:
  using Callback = std::function<void(std::vector<TargetGroup>)>;
  FileDiscoverer(std::vector<std::string> patterns, Duration refresh_interval, Callback on_update);
  ~FileDiscoverer();
  void start();
  void stop();

 private:
  void run();

  std::vector<std::string> patterns_;
  Duration refresh_;
  Callback on_update_;
  FileSdState state_;
  int stop_fd_ = -1;  // eventfd that wakes the thread to stop
  std::thread thread_;
};

}  // namespace stoker
