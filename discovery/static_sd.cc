#include "discovery/static_sd.h"

#include "net/asio_pch.h"

namespace stoker {

std::vector<TargetGroup> static_groups(const std::vector<StaticConfig>& configs) {
  std::vector<TargetGroup> out;
  for (size_t i = 0; i < configs.size(); ++i) {
    TargetGroup g;
    g.source = std::to_string(i);
    g.labels = configs[i].labels;
    for (const auto& addr : configs[i].targets) g.targets.push_back(Labels{{"__address__", addr}});
    out.push_back(std::move(g));
  }
  return out;
}

struct StaticDiscoverer::Impl {
  boost::asio::io_context* io = nullptr;
  std::vector<TargetGroup> groups;
  bool stopped = false;
};

StaticDiscoverer::StaticDiscoverer(std::vector<StaticConfig> configs, const DiscoveryContext& ctx)
    : impl_(std::make_shared<Impl>()) {
  impl_->io = ctx.io;
  impl_->groups = static_groups(configs);
}

StaticDiscoverer::~StaticDiscoverer() {
  stop();
}

void StaticDiscoverer::start(Sink sink) {
  // Posted, like every other discoverer's first result: the caller finishes
  // setting up before any result arrives.
  boost::asio::post(*impl_->io, [impl = impl_, sink = std::move(sink)] {
    if (!impl->stopped) sink(impl->groups);
  });
}

void StaticDiscoverer::stop() {
  impl_->stopped = true;
}

}  // namespace stoker
