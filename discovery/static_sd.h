// Static service discovery: a job's static_configs as a discoverer, so that
// the manager treats every kind of target source alike.
#pragma once

#include <vector>

#include "config/config.h"
#include "discovery/discoverer.h"
#include "discovery/target_group.h"

namespace stoker {

// The static_configs as target groups, sources "0", "1", … by position.
std::vector<TargetGroup> static_groups(const std::vector<StaticConfig>& configs);

// Reports its groups once, right after start() (on the io_context's thread).
class StaticDiscoverer : public Discoverer {
 public:
  StaticDiscoverer(std::vector<StaticConfig> configs, const DiscoveryContext& ctx);
  ~StaticDiscoverer() override;
  void start(Sink sink) override;
  void stop() override;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace stoker
