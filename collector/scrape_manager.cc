#include "collector/scrape_manager.h"

#include "net/asio_pch.h"
#include "net/http_client.h"
#include "model/log.h"

namespace stoker {

TargetStatus target_status(const Target& t) {
  TargetStatus s;
  s.job = t.job;
  s.discovered = t.discovered;
  s.labels = t.labels.without_reserved();
  s.error = t.error;
  s.dropped = t.dropped;
  for (const auto& ep : t.endpoints) s.endpoints.push_back({ep.type.name, ep.url, {}});
  return s;
}

ScrapeManager::ScrapeManager(boost::asio::io_context& io, boost::asio::thread_pool& pool,
                             Storage* storage, SelfMetrics* metrics)
    : io_(io), pool_(pool), storage_(storage), metrics_(metrics) {}

ScrapeManager::~ScrapeManager() {
  stop_all();
}

void ScrapeManager::set_config(const Config& cfg) {
  bool external_changed = !(external_labels_ == cfg.global.external_labels);
  external_labels_ = cfg.global.external_labels;
  configs_.clear();
  for (const auto& sc : cfg.scrape_configs) configs_[sc.job_name] = sc;
  std::vector<std::string> changed;
  {
    std::lock_guard lock(mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      auto c = configs_.find(it->first);
      if (c == configs_.end()) {
        for (auto& [key, loop] : it->second.loops) loop->stop();
        it = jobs_.erase(it);
        continue;
      }
      if (external_changed || c->second.fingerprint != it->second.config.fingerprint) {
        it->second.stale = true;
        it->second.client.reset();  // HTTP settings may have changed
        changed.push_back(it->first);
      }
      ++it;
    }
  }
  for (const auto& name : changed) {
    std::vector<TargetGroup> groups;
    {
      std::lock_guard lock(mu_);
      groups = jobs_[name].groups;
    }
    apply_targets(configs_[name], groups);
  }
}

void ScrapeManager::apply_config(const Config& cfg) {
  set_config(cfg);
  for (const auto& sc : cfg.scrape_configs) apply_targets(sc, static_groups(sc));
}

void ScrapeManager::apply_groups(const std::string& job, const std::vector<TargetGroup>& groups) {
  auto it = configs_.find(job);
  if (it != configs_.end()) apply_targets(it->second, groups);
}

void ScrapeManager::apply_targets(const ScrapeConfig& sc, const std::vector<TargetGroup>& groups) {
  std::vector<Target> targets = build_targets(sc, groups);
  // target_limit: too many targets after relabeling marks them all down, unscraped.
  size_t active = 0;
  for (const auto& t : targets) active += !t.dropped && t.error.empty();
  if (sc.limits.target_limit && active > sc.limits.target_limit) {
    std::string msg = "target_limit exceeded (number of targets: " + std::to_string(active) +
                      ", limit: " + std::to_string(sc.limits.target_limit) + ")";
    log::error("scrape", "no target of the job is scraped", {{"job", sc.job_name}, {"err", msg}});
    for (auto& t : targets) {
      if (!t.dropped && t.error.empty()) t.error = msg;
    }
  }
  std::lock_guard lock(mu_);
  if (stopped_) return;  // updates still queued while shutting down start nothing
  Job& job = jobs_[sc.job_name];
  job.config = sc;
  job.groups = groups;
  if (!job.client) {
    job.client = std::make_shared<HttpClient>(io_.get_executor(), sc.http, sc.body_size_limit,
                                              "stoker/" STOKER_VERSION_STRING);
  }
  std::map<std::string, std::shared_ptr<ScrapeLoop>> next;
  size_t started = 0;
  for (const auto& t : targets) {
    if (t.dropped) continue;
    if (!t.error.empty()) {
      if (t.error.rfind("target_limit", 0) == 0) continue;  // logged once above
      log::warn("scrape", "target cannot be scraped",
                {{"job", sc.job_name}, {"target", t.discovered.to_string()}, {"err", t.error}});
      continue;
    }
    for (const auto& ep : t.endpoints) {
      std::string key = t.loop_key(ep);
      auto it = job.loops.find(key);
      std::shared_ptr<LoopState> carried;
      if (it != job.loops.end()) {
        if (!job.stale) {
          next[key] = std::move(it->second);
          job.loops.erase(it);
          continue;
        }
        // Same target and endpoint under new settings: continue its state.
        carried = it->second->state();
      }
      ScrapeLoop::Deps deps{io_.get_executor(), &pool_,    storage_,  external_labels_,
                            sc.profile_relabel, sc.limits, job.client, metrics_};
      auto loop = std::make_shared<ScrapeLoop>(std::move(deps), t, ep, t.interval, carried);
      loop->start();
      next[key] = std::move(loop);
      if (!carried) ++started;
    }
  }
  size_t stopped = 0;
  for (auto& [key, loop] : job.loops) {
    loop->stop();
    stopped += !next.count(key);
  }
  job.loops = std::move(next);
  job.stale = false;
  job.targets = std::move(targets);
  log::info("scrape", "targets updated",
            {{"job", sc.job_name},
             {"targets", std::to_string(job.targets.size())},
             {"loops", std::to_string(job.loops.size())},
             {"started", std::to_string(started)},
             {"stopped", std::to_string(stopped)}});
}

void ScrapeManager::stop_all() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  for (auto& [name, job] : jobs_) {
    for (auto& [key, loop] : job.loops) loop->stop();
    job.loops.clear();
  }
}

size_t ScrapeManager::loop_count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [name, job] : jobs_) n += job.loops.size();
  return n;
}

std::vector<TargetStatus> ScrapeManager::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<TargetStatus> out;
  for (const auto& [name, job] : jobs_) {
    for (const auto& t : job.targets) {
      TargetStatus s = target_status(t);
      for (size_t e = 0; e < t.endpoints.size(); ++e) {
        const auto& ep = t.endpoints[e];
        EndpointStatus& es = s.endpoints[e];
        auto it = job.loops.find(t.loop_key(ep));
        if (it != job.loops.end()) {
          es.health = it->second->health()->get();
        } else if (!t.error.empty()) {  // e.g. target_limit: listed, down, not scraped
          es.health.state = ScrapeHealth::State::kDown;
          es.health.last_error = t.error;
        }
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::pair<size_t, size_t> ScrapeManager::delta_state() const {
  std::lock_guard lock(mu_);
  size_t stacks = 0, bytes = 0;
  for (const auto& [name, job] : jobs_) {
    for (const auto& [key, loop] : job.loops) {
      std::lock_guard state_lock(loop->state()->mu);
      stacks += loop->state()->delta.tracked_stacks();
      bytes += loop->state()->delta.memory_bytes();
    }
  }
  return {stacks, bytes};
}

}  // namespace stoker
