#include "discovery/manager.h"

namespace stoker {

DiscoveryManager::DiscoveryManager(Sink sink, Duration coalesce)
    : sink_(std::move(sink)), coalesce_(coalesce) {}

DiscoveryManager::~DiscoveryManager() {
  stop();
}

void DiscoveryManager::start(const Config& cfg) {
  {
    std::lock_guard lock(mu_);  // restartable: a reload stops and starts again
    stopping_ = false;
    state_.clear();
    dirty_.clear();
  }
  for (const auto& sc : cfg.scrape_configs) {
    {
      std::lock_guard lock(mu_);
      state_[sc.job_name];  // a job with no targets still gets an (empty) update
      dirty_.insert(sc.job_name);
    }
    update(sc.job_name, "static", static_groups(sc));
    for (size_t i = 0; i < sc.file_sd_configs.size(); ++i) {
      const auto& fc = sc.file_sd_configs[i];
      std::string job = sc.job_name, provider = "file/" + std::to_string(i);
      discoverers_.push_back(std::make_unique<FileDiscoverer>(
          fc.files, fc.refresh_interval, [this, job, provider](std::vector<TargetGroup> groups) {
            update(job, provider, std::move(groups));
          }));
    }
  }
  sender_ = std::thread([this] { send_loop(); });
  for (auto& d : discoverers_) d->start();
}

void DiscoveryManager::stop() {
  for (auto& d : discoverers_) d->stop();
  discoverers_.clear();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
}

void DiscoveryManager::update(const std::string& job, const std::string& provider,
                              std::vector<TargetGroup> groups) {
  {
    std::lock_guard lock(mu_);
    auto& js = state_[job];
    for (auto& g : groups) {
      std::string key = provider + "/" + g.source;
      if (g.targets.empty()) {
        js.erase(key);
      } else {
        js[key] = std::move(g);
      }
    }
    dirty_.insert(job);
  }
  cv_.notify_all();
}

void DiscoveryManager::send_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !dirty_.empty(); });
    if (stopping_) return;
    std::vector<std::pair<std::string, std::vector<TargetGroup>>> batch;
    for (const auto& job : dirty_) {
      std::vector<TargetGroup> groups;
      for (const auto& [key, g] : state_[job]) groups.push_back(g);
      batch.emplace_back(job, std::move(groups));
    }
    dirty_.clear();
    lock.unlock();
    for (auto& [job, groups] : batch) sink_(job, std::move(groups));
    lock.lock();
    // Coalesce: whatever changes meanwhile goes out together after the pause.
    cv_.wait_for(lock, coalesce_, [&] { return stopping_; });
  }
}

std::map<std::string, std::vector<TargetGroup>> DiscoveryManager::discover_once(
    const Config& cfg, std::vector<std::string>* errors) {
  std::map<std::string, std::vector<TargetGroup>> out;
  for (const auto& sc : cfg.scrape_configs) {
    auto& groups = out[sc.job_name];
    groups = static_groups(sc);
    for (const auto& fc : sc.file_sd_configs) {
      FileSdState state;
      std::vector<TargetGroup> found;
      state.refresh(fc.files, &found, errors);
      groups.insert(groups.end(), found.begin(), found.end());
    }
  }
  return out;
}

}  // namespace stoker
