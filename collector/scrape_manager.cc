#include "collector/scrape_manager.h"

#include <algorithm>
#include <thread>

#include "collector/batch_worker.h"
#include "discovery/static_sd.h"
#include "model/hash.h"
#include "model/timeparse.h"
#include "model/log.h"
#include "net/asio_pch.h"
#include "net/http_client.h"

namespace stoker {

namespace {

// How long the starts of targets handed over by another replica are spread:
// a tenth of the interval, at most a second.
Duration handover_spread(Duration interval) {
  return std::min<Duration>(interval / 10, std::chrono::seconds(1));
}

}  // namespace

TargetStatus target_status(const Target& t) {
  TargetStatus s;
  s.job = t.job;
  s.owner = t.owner;
  s.discovered = t.discovered;
  s.labels = t.labels.without_reserved();
  s.error = t.error;
  s.dropped = t.dropped;
  for (const auto& ep : t.endpoints) s.endpoints.push_back({ep.type.name, ep.url, {}});
  return s;
}

ScrapeManager::ScrapeManager(boost::asio::io_context& io, ingest::Pipeline* pipeline,
                             ScrapeMetrics* metrics, unsigned workers)
    : io_(io), pipeline_(pipeline), metrics_(metrics) {
  if (workers == 0) workers = std::max(1u, std::thread::hardware_concurrency() / 2);
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<BatchWorker>(io_.get_executor()));
  }
}

ScrapeManager::~ScrapeManager() {
  stop_all();
}

void ScrapeManager::set_config(const Config& cfg) {
  bool external_changed = !(external_labels_ == cfg.global.external_labels);
  external_labels_ = cfg.global.external_labels;
  bool cluster_changed = cluster_enabled_ != cfg.cluster.enabled;
  {
    std::lock_guard lock(mu_);
    cluster_enabled_ = cfg.cluster.enabled;
    if (!cluster_enabled_) cluster_.reset();
  }
  configs_.clear();
  for (const auto& sc : cfg.scrape_configs) {
    configs_[sc.job_name] = sc;
    if (sc.clustering && !cfg.cluster.enabled) {
      log::warn("scrape",
                "clustering is enabled but the config has no cluster section: this replica "
                "scrapes all the job's targets",
                {{"job", sc.job_name}});
    }
  }
  std::vector<std::string> changed;
  {
    std::lock_guard lock(mu_);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      auto c = configs_.find(it->first);
      if (c == configs_.end()) {
        std::set<std::string> types;
        for (auto& [key, loop] : it->second.loops) {
          types.insert(loop->settings().endpoint.type.name);
          loop->stop();
        }
        std::string job = it->first;
        it = jobs_.erase(it);
        forget_metrics(job, types, nullptr);
        log::info("scrape", "job removed", {{"job", job}});
        continue;
      }
      if (external_changed || c->second.fingerprint != it->second.config.fingerprint ||
          (cluster_changed && c->second.clustering)) {
        it->second.stale = true;
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
  for (const auto& sc : cfg.scrape_configs) apply_targets(sc, static_groups(sc.static_configs));
}

void ScrapeManager::set_cluster(ClusterView view) {
  std::vector<std::string> clustered;
  {
    std::lock_guard lock(mu_);
    if (!cluster_enabled_ || stopped_) return;
    if (cluster_ && cluster_->self == view.self && cluster_->peers == view.peers) return;
    cluster_ = std::move(view);
    ++rebalances_;
    last_rebalance_ns_ = now_unix_nanos();
    gained_ = lost_ = 0;
    for (const auto& [name, job] : jobs_) {
      if (job.config.clustering) clustered.push_back(name);
    }
  }
  for (const auto& name : clustered) {
    auto c = configs_.find(name);
    if (c == configs_.end()) continue;
    std::vector<TargetGroup> groups;
    {
      std::lock_guard lock(mu_);
      groups = jobs_[name].groups;
    }
    apply_targets(c->second, groups);
  }
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
  // Clustered: each target's owner among the peers; until the first peer
  // list, no target is this replica's.
  const bool clustered = sc.clustering && cluster_enabled_;
  if (clustered) {
    for (auto& t : targets) {
      if (cluster_) t.owner = cluster_owner(cluster_->peers, cluster_key(t));
    }
  }
  auto mine = [&](const Target& t) { return !clustered || (cluster_ && t.owner == cluster_->self); };
  Job& job = jobs_[sc.job_name];
  for (auto it = job.draining.begin(); it != job.draining.end();) {
    it = it->second->stopped() ? job.draining.erase(it) : std::next(it);  // handed over
  }
  std::set<std::string> types_before;
  for (const auto& [key, loop] : job.loops)
    types_before.insert(loop->settings().endpoint.type.name);
  if (!job.client || job.stale) {
    // HTTP settings, relabeling, limits or external labels may have changed.
    job.client = std::make_shared<HttpClient>(io_.get_executor(), sc.http, sc.body_size_limit,
                                              "stoker/" STOKER_VERSION_STRING);
    auto policy = std::make_shared<ingest::LabelPolicy>();
    policy->relabel = sc.profile_relabel;
    policy->external = external_labels_;
    policy->limits = sc.limits;
    job.policy = std::move(policy);
  }
  job.config = sc;
  job.groups = groups;
  // A target keeps its series cap (and what it counted) while its labels and
  // the limit stay the same.
  std::map<std::string, std::shared_ptr<ingest::SeriesCap>> caps;
  auto cap_for = [&](const Target& t) -> std::shared_ptr<ingest::SeriesCap> {
    if (sc.sample_label_series_limit == 0) return nullptr;
    std::string key = t.labels.without_reserved().to_string();
    auto& cap = caps[key];
    if (cap) return cap;
    auto old = job.caps.find(key);
    if (old != job.caps.end() && old->second->limit() == sc.sample_label_series_limit) {
      cap = old->second;
    } else {
      cap = std::make_shared<ingest::SeriesCap>(
          sc.sample_label_series_limit,
          "job=" + sc.job_name + " instance=" + std::string(t.labels.get("instance")));
    }
    return cap;
  };
  auto settings_for = [&](const Target& t, const ProfileEndpoint& ep) {
    auto settings = std::make_shared<ScrapeLoop::Settings>();
    settings->target = t;
    settings->endpoint = ep;
    settings->client = job.client;
    settings->policy = job.policy;
    settings->series_cap = cap_for(t);
    return settings;
  };
  std::map<std::string, std::shared_ptr<ScrapeLoop>> next, draining;
  std::set<std::string> elsewhere;
  std::vector<std::pair<const Target*, const ProfileEndpoint*>> fresh;
  size_t started = 0, reconfigured = 0, continued = 0, gained = 0, lost = 0;
  for (const auto& t : targets) {
    if (t.dropped) continue;
    if (!t.error.empty()) {
      if (t.error.rfind("target_limit", 0) == 0) continue;  // logged once above
      log::warn("scrape", "target cannot be scraped",
                {{"job", sc.job_name}, {"target", t.discovered.to_string()}, {"err", t.error}});
      continue;
    }
    const bool own = mine(t);
    for (const auto& ep : t.endpoints) {
      std::string key = t.loop_key(ep);
      if (next.count(key) || draining.count(key) || elsewhere.count(key)) continue;
      auto it = job.loops.find(key);
      if (!own) {
        // Another replica's (or, before the first peer list, nobody's yet): a
        // running loop scrapes once more, then stops.
        if (cluster_) elsewhere.insert(key);
        if (it != job.loops.end()) {
          it->second->drain(handover_spread(t.interval) + std::chrono::milliseconds(500));
          draining[key] = std::move(it->second);
          job.loops.erase(it);
          ++lost;
        } else if (auto d = job.draining.find(key); d != job.draining.end()) {
          draining[key] = std::move(d->second);
          job.draining.erase(d);
        }
        continue;
      }
      if (it == job.loops.end()) {
        auto d = job.draining.find(key);
        if (d != job.draining.end() && !d->second->stopped()) {
          // Ours again before it stopped: it keeps running, state and all.
          d->second->undrain();
          it = job.loops.emplace(key, std::move(d->second)).first;
          job.draining.erase(d);
          ++gained;
        } else {
          next[key] = nullptr;  // started below
          fresh.emplace_back(&t, &ep);
          continue;
        }
      }
      if (job.stale) {
        it->second->reconfigure(settings_for(t, ep));
        ++reconfigured;
      } else {
        caps[t.labels.without_reserved().to_string()] = it->second->settings().series_cap;
      }
      next[key] = std::move(it->second);
      job.loops.erase(it);
    }
  }
  // A loop that goes because only its timing changed (scrape_interval,
  // scrape_timeout: the target's labels and the ?seconds= of its URL) hands
  // its delta state and health to the loop that replaces it.
  std::map<std::string, std::shared_ptr<ScrapeLoop>> leaving;
  for (auto& [key, loop] : job.loops) {
    const auto& st = loop->settings();
    leaving[st.target.state_key(st.endpoint)] = loop;
  }
  for (const auto& [t, ep] : fresh) {
    ScrapeLoop::Deps deps{io_.get_executor(), workers_[next_worker_++ % workers_.size()].get(),
                          pipeline_, metrics_};
    std::shared_ptr<ScrapeLoop> loop;
    auto same = leaving.find(t->state_key(*ep));
    if (same != leaving.end()) {
      loop = std::make_shared<ScrapeLoop>(std::move(deps), settings_for(*t, *ep),
                                          same->second->health(), same->second->delta());
      leaving.erase(same);
      ++continued;
    } else {
      loop = std::make_shared<ScrapeLoop>(std::move(deps), settings_for(*t, *ep));
      ++started;
    }
    std::string key = t->loop_key(*ep);
    if (job.elsewhere.count(key)) {
      // Handed over by another replica, which scrapes it once more: start at
      // once (spread a little, not all at the same instant).
      loop->start(Duration(static_cast<int64_t>(
          fnv1a64(key) % static_cast<uint64_t>(handover_spread(t->interval).count() + 1))));
      ++gained;
    } else {
      loop->start();
    }
    next[key] = std::move(loop);
  }
  size_t stopped = job.loops.size() + job.draining.size();
  for (auto& [key, loop] : job.loops) loop->stop();
  for (auto& [key, loop] : job.draining) loop->stop();  // the target is gone
  job.loops = std::move(next);
  job.draining = std::move(draining);
  job.elsewhere = std::move(elsewhere);
  gained_ += gained;
  lost_ += lost;
  job.caps = std::move(caps);
  job.stale = false;
  job.targets = std::move(targets);
  forget_metrics(sc.job_name, types_before, &job);
  log::info("scrape", "targets updated",
            {{"job", sc.job_name},
             {"targets", std::to_string(job.targets.size())},
             {"loops", std::to_string(job.loops.size())},
             {"started", std::to_string(started)},
             {"stopped", std::to_string(stopped - continued)},
             {"reconfigured", std::to_string(reconfigured)},
             {"continued", std::to_string(continued)}});
  if (gained || lost) {
    log::info("cluster", "targets handed over",
              {{"job", sc.job_name},
               {"gained_loops", std::to_string(gained)},
               {"lost_loops", std::to_string(lost)}});
  }
}

void ScrapeManager::forget_metrics(const std::string& job, const std::set<std::string>& types,
                                   const Job* remaining) {
  if (!metrics_) return;
  std::set<std::string> live;
  if (remaining) {
    for (const auto& [key, loop] : remaining->loops) {
      live.insert(loop->settings().endpoint.type.name);
    }
  }
  for (const auto& t : types) {
    if (!live.count(t)) metrics_->remove(job, t);
  }
}

void ScrapeManager::stop_all() {
  std::lock_guard lock(mu_);
  stopped_ = true;
  for (auto& [name, job] : jobs_) {
    for (auto& [key, loop] : job.loops) loop->stop();
    for (auto& [key, loop] : job.draining) loop->stop();
    job.loops.clear();
    job.draining.clear();
  }
}

ScrapeManager::ClusterStats ScrapeManager::cluster_stats() const {
  std::lock_guard lock(mu_);
  ClusterStats st;
  st.enabled = cluster_enabled_;
  st.known = cluster_.has_value();
  st.rebalances = rebalances_;
  st.last_rebalance_ns = last_rebalance_ns_;
  st.last_gained = gained_;
  st.last_lost = lost_;
  for (const auto& [name, job] : jobs_) {
    if (!job.config.clustering) continue;
    for (const auto& t : job.targets) {
      if (t.dropped || !t.error.empty()) continue;
      ++st.clustered;
      if (cluster_ && t.owner == cluster_->self) ++st.owned;
    }
    for (const auto& [key, loop] : job.draining) st.draining += !loop->stopped();
  }
  return st;
}

uint64_t ScrapeManager::cluster_rebalances() const {
  std::lock_guard lock(mu_);
  return rebalances_;
}

size_t ScrapeManager::loop_count() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [name, job] : jobs_) {
    n += job.loops.size();
    for (const auto& [key, loop] : job.draining) n += !loop->stopped();
  }
  return n;
}

std::vector<TargetStatus> ScrapeManager::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<TargetStatus> out;
  for (const auto& [name, job] : jobs_) {
    const bool clustered = job.config.clustering && cluster_enabled_;
    for (const auto& t : job.targets) {
      // A clustered job lists the targets this replica scrapes.
      if (clustered && (!cluster_ || t.owner != cluster_->self)) continue;
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
      std::lock_guard state_lock(loop->delta()->mu);
      stacks += loop->delta()->state.tracked_stacks();
      bytes += loop->delta()->state.memory_bytes();
    }
  }
  return {stacks, bytes};
}

}  // namespace stoker
