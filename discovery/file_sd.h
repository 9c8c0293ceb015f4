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

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "discovery/discoverer.h"
#include "discovery/target_group.h"
#include "model/units.h"

namespace stoker {

// Parses Prometheus' target-group JSON (a list of {"targets": [...],
// "labels": {...}}), as SD files and HTTP SD hold it; errors start with `what`.
Result<std::vector<TargetGroup>> parse_json_groups(const std::string& what,
                                                   const std::string& content);

// Parses the content of one SD file (JSON if `path` ends in .json, YAML
// otherwise); a failure names the path (and line for YAML).
Result<std::vector<TargetGroup>> parse_sd_file(const std::string& path, const std::string& content);

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

// Watches the files of one file_sd_config on the process's io_context: inotify
// on their directories for prompt pick-up (a burst of writes settles for 100
// ms), and a full refresh every refresh_interval. Files are small and read on
// the io_context's thread.
class FileDiscoverer : public Discoverer {
 public:
  FileDiscoverer(std::vector<std::string> patterns, Duration refresh_interval,
                 const DiscoveryContext& ctx);
  ~FileDiscoverer() override;
  void start(Sink sink) override;
  void stop() override;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
