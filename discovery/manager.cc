#include "discovery/manager.h"

#include "discovery/kubernetes.h"
#include "model/log.h"

namespace stoker {

DiscoveryManager::DiscoveryManager(Sink sink, Duration coalesce, KubernetesOptions kube_options)
    : sink_(std::move(sink)), coalesce_(coalesce), kube_options_(kube_options) {}

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
  for (const auto& sc : cfg.scrape_configs) {
    for (size_t i = 0; i < sc.http_sd_configs.size(); ++i) {
      std::string job = sc.job_name, provider = "http/" + std::to_string(i);
      http_.push_back(std::make_unique<HttpDiscoverer>(
          job, sc.http_sd_configs[i], [this, job, provider](std::vector<TargetGroup> groups) {
            update(job, provider, std::move(groups));
          }));
      http_.back()->start();
    }
  }
  for (const auto& sc : cfg.scrape_configs) {
    for (size_t i = 0; i < sc.dns_sd_configs.size(); ++i) {
      std::string job = sc.job_name, provider = "dns/" + std::to_string(i);
      dns_.push_back(std::make_unique<DnsDiscoverer>(
          job, sc.dns_sd_configs[i], [this, job, provider](std::vector<TargetGroup> groups) {
            update(job, provider, std::move(groups));
          }));
      dns_.back()->start();
    }
  }
  for (const auto& sc : cfg.scrape_configs) {
    for (size_t i = 0; i < sc.kubernetes_sd_configs.size(); ++i) {
      std::string job = sc.job_name, provider = "kubernetes/" + std::to_string(i);
      auto k = std::make_unique<KubernetesDiscoverer>(
          job, sc.kubernetes_sd_configs[i],
          [this, job, provider](std::vector<TargetGroup> groups) {
            update(job, provider, std::move(groups));
          },
          kube_options_);
      std::string err;
      if (!k->start(&err)) {
        log::error("kubernetes", "kubernetes_sd_configs cannot start; no targets from it",
                   {{"job", job}, {"index", std::to_string(i)}, {"err", err}});
        continue;
      }
      kube_.push_back(std::move(k));
    }
  }
}

void DiscoveryManager::stop() {
  for (auto& d : discoverers_) d->stop();
  discoverers_.clear();
  for (auto& k : kube_) k->stop();
  kube_.clear();
  for (auto& h : http_) h->stop();
  http_.clear();
  for (auto& d : dns_) d->stop();
  dns_.clear();
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
    const Config& cfg, std::vector<std::string>* errors, const KubernetesOptions& kube_options) {
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
    for (const auto& hc : sc.http_sd_configs) {
      std::string err;
      auto found = HttpDiscoverer::fetch_once(hc, &err);
      if (!err.empty()) {
        errors->push_back("job " + sc.job_name + ": http_sd_configs " + hc.url + ": " + err);
      }
      groups.insert(groups.end(), found.begin(), found.end());
    }
    for (const auto& dc : sc.dns_sd_configs) {
      std::vector<std::string> errs;
      auto found = DnsDiscoverer::lookup_once(dc, &errs);
      for (const auto& e : errs) errors->push_back("job " + sc.job_name + ": dns_sd_configs: " + e);
      groups.insert(groups.end(), found.begin(), found.end());
    }
    for (const auto& kc : sc.kubernetes_sd_configs) {
      std::string err;
      auto found = KubernetesDiscoverer::list_once(kc, &err, kube_options);
      if (!err.empty()) errors->push_back("job " + sc.job_name + ": kubernetes_sd_configs: " + err);
      groups.insert(groups.end(), found.begin(), found.end());
    }
  }
  return out;
}

}  // namespace stoker
