#include "discovery/manager.h"

#include <algorithm>
#include <set>

#include "model/log.h"
#include "net/asio_pch.h"

namespace stoker {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct DiscoveryManager::Impl {
  struct Provider {
    uint64_t id = 0;  // prefixes its sources in the jobs' sets
    SdKind kind = SdKind::kStatic;
    std::unique_ptr<Discoverer> discoverer;
    std::set<std::string> subs;                 // jobs using it
    std::map<std::string, TargetGroup> groups;  // by source
    bool reported = false;                      // has sent its first result
  };
  struct Job {
    std::vector<std::string> providers;  // keys, in config order
    // Providers the job gained that have not reported yet. Until they have
    // (or `retire_by` passes) a new job is not sent, and a changed one keeps
    // the groups of the providers it lost (`retiring`).
    std::set<std::string> awaiting;
    std::map<std::string, TargetGroup> retiring;
    Clock::time_point retire_by;
    bool sent = false;
    Clock::time_point next_send{};  // coalescing: not before this
  };

  asio::io_context& io;
  Sink sink;
  Options options;
  metrics::Registry own_registry;  // when none is given
  DiscoveryMetrics metrics;
  asio::thread_pool blocking{2};
  DiscoveryContext ctx;
  std::map<std::string, Provider> providers;  // by SD config key
  std::map<std::string, Job> jobs;
  std::set<std::string> dirty;
  asio::steady_timer send_timer, retire_timer;
  bool stopped = false;
  uint64_t next_id = 1;

  Impl(asio::io_context& io_, Sink sink_, metrics::Registry* registry, Options options_)
      : io(io_),
        sink(std::move(sink_)),
        options(std::move(options_)),
        metrics(registry ? *registry : own_registry),
        send_timer(io_),
        retire_timer(io_) {
    ctx.io = &io;
    ctx.blocking = &blocking;
    ctx.metrics = &metrics;
    ctx.kubernetes = options.kubernetes;
  }

  static std::string source_key(uint64_t provider, const std::string& source) {
    return std::to_string(provider) + "/" + source;
  }

  void apply_config(const Config& cfg) {
    if (stopped) return;
    // Which jobs want which providers after this config.
    std::map<std::string, std::vector<SdConfig>> wanted;
    std::map<std::string, std::set<std::string>> next_subs;  // provider key → jobs
    for (const auto& sc : cfg.scrape_configs) {
      auto& list = wanted[sc.job_name];
      for (auto& c : sd_configs(sc)) {
        if (std::any_of(list.begin(), list.end(),
                        [&](const SdConfig& o) { return o.key == c.key; }))
          continue;  // the same SD config twice in one job is one provider
        next_subs[c.key].insert(sc.job_name);
        list.push_back(std::move(c));
      }
    }
    // Jobs that are gone.
    for (auto it = jobs.begin(); it != jobs.end();) {
      if (wanted.count(it->first)) {
        ++it;
        continue;
      }
      metrics.discovered_targets.remove({it->first});
      dirty.erase(it->first);
      it = jobs.erase(it);
    }
    // Providers nobody wants any more stop now; their groups live on as the
    // retiring groups of the jobs that had them.
    std::vector<std::pair<std::string, Provider>> leaving;
    for (auto it = providers.begin(); it != providers.end();) {
      if (next_subs.count(it->first)) {
        ++it;
        continue;
      }
      it->second.discoverer->stop();
      leaving.emplace_back(it->first, std::move(it->second));
      it = providers.erase(it);
    }
    std::vector<std::string> to_start;
    for (const auto& [job, list] : wanted) {
      bool fresh = !jobs.count(job);
      Job& j = jobs[job];
      std::vector<std::string> keys;
      for (const auto& c : list) keys.push_back(c.key);
      if (!fresh && keys == j.providers) continue;  // unchanged: nothing to do
      std::set<std::string> before(j.providers.begin(), j.providers.end());
      std::set<std::string> after(keys.begin(), keys.end());
      // The groups of providers this job loses.
      bool lost = false;
      for (const auto& k : before) {
        if (after.count(k)) continue;
        lost = true;
        const Provider* p = nullptr;
        if (auto it = providers.find(k); it != providers.end()) p = &it->second;
        for (const auto& [key, prov] : leaving) {
          if (key == k) p = &prov;
        }
        if (!p) continue;
        for (const auto& [src, g] : p->groups) j.retiring[source_key(p->id, src)] = g;
      }
      // The providers it gains; those that have reported already (shared with
      // another job) count at once.
      for (const auto& c : list) {
        if (before.count(c.key)) continue;
        auto it = providers.find(c.key);
        if (it == providers.end()) {
          Provider p;
          p.id = next_id++;
          p.kind = c.kind;
          it = providers.emplace(c.key, std::move(p)).first;
          to_start.push_back(c.key);
        }
        if (!it->second.reported) j.awaiting.insert(c.key);
      }
      for (const auto& k : before) {
        if (!after.count(k)) j.awaiting.erase(k);
      }
      if (!j.awaiting.empty()) {
        j.retire_by = Clock::now() + options.retire_timeout;
      } else {
        j.retiring.clear();
      }
      if (!lost) j.retiring.clear();
      j.providers = std::move(keys);
      mark_dirty(job);
    }
    for (auto& [key, p] : providers) {
      p.subs = next_subs[key];
      // One that could not start before is tried again.
      if (!p.discoverer && std::find(to_start.begin(), to_start.end(), key) == to_start.end()) {
        to_start.push_back(key);
      }
    }
    leaving.clear();  // stopped above; destroyed here, on the io_context's thread
    // Start the new providers last: their first results find the jobs ready.
    size_t failed = 0;
    for (const auto& key : to_start) {
      Provider& p = providers[key];
      const std::string& job = *p.subs.begin();
      const SdConfig* cfg_of = nullptr;
      for (const auto& c : wanted[job]) {
        if (c.key == key) cfg_of = &c;
      }
      auto d = make_discoverer(*cfg_of, job, ctx);
      if (!d) {
        ++failed;
        log::error("discovery", "a service discovery config cannot start; no targets from it",
                   {{"job", job}, {"mechanism", sd_kind_name(p.kind)}, {"err", d.error()}});
        // It will never report: as far as its jobs are concerned it has, empty.
        on_update(key, p.id, {});
        continue;
      }
      p.discoverer = std::move(*d);
      uint64_t id = p.id;
      p.discoverer->start([this, key, id](std::vector<TargetGroup> groups) {
        on_update(key, id, std::move(groups));
      });
    }
    metrics.failed_configs.set(static_cast<double>(failed));
    arm_retire_timer();
    send();
  }

  void on_update(const std::string& key, uint64_t id, std::vector<TargetGroup> groups) {
    auto it = providers.find(key);
    if (stopped || it == providers.end() || it->second.id != id) return;
    Provider& p = it->second;
    metrics.received_updates.inc();
    for (auto& g : groups) {
      if (g.targets.empty()) {
        p.groups.erase(g.source);
      } else {
        std::string src = g.source;
        p.groups[src] = std::move(g);
      }
    }
    bool first = !p.reported;
    p.reported = true;
    for (const auto& job : p.subs) {
      auto j = jobs.find(job);
      if (j == jobs.end()) continue;
      if (first && j->second.awaiting.erase(key) && j->second.awaiting.empty()) {
        j->second.retiring.clear();  // every new provider has spoken: the old ones' groups go
        arm_retire_timer();
      }
      mark_dirty(job);
    }
    send();
  }

  void mark_dirty(const std::string& job) { dirty.insert(job); }

  std::vector<TargetGroup> full_set(const Job& j) const {
    std::vector<TargetGroup> out;
    for (const auto& key : j.providers) {
      auto it = providers.find(key);
      if (it == providers.end()) continue;
      for (const auto& [src, g] : it->second.groups) {
        out.push_back(g);
        out.back().source = source_key(it->second.id, src);
      }
    }
    for (const auto& [src, g] : j.retiring) {
      out.push_back(g);
      out.back().source = src;
    }
    return out;
  }

  // Sends each dirty job that is ready — a job never sent waits for the first
  // results of its providers — unless it was sent less than `coalesce` ago;
  // those go once their period is over.
  void send() {
    if (stopped) return;
    auto now = Clock::now();
    Clock::time_point later = Clock::time_point::max();
    for (auto it = dirty.begin(); it != dirty.end();) {
      auto j = jobs.find(*it);
      if (j == jobs.end()) {
        it = dirty.erase(it);
        continue;
      }
      Job& job = j->second;
      if (!job.sent && !job.awaiting.empty()) {  // the retire timer ends the wait
        ++it;
        continue;
      }
      if (job.next_send > now) {
        later = std::min(later, job.next_send);
        ++it;
        continue;
      }
      std::string name = *it;
      it = dirty.erase(it);
      auto groups = full_set(job);
      size_t targets = 0;
      for (const auto& g : groups) targets += g.targets.size();
      metrics.discovered_targets.with({name}).set(static_cast<double>(targets));
      metrics.updates.inc();
      job.sent = true;
      job.next_send = now + options.coalesce;
      sink(name, std::move(groups));
      if (stopped) return;
    }
    if (later == Clock::time_point::max()) return;
    send_timer.expires_at(later);
    send_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) send();
    });
  }

  void arm_retire_timer() {
    Clock::time_point first = Clock::time_point::max();
    for (const auto& [name, j] : jobs) {
      if (!j.awaiting.empty()) first = std::min(first, j.retire_by);
    }
    if (first == Clock::time_point::max()) {
      retire_timer.cancel();
      return;
    }
    retire_timer.expires_at(first);
    retire_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped) return;
      auto now = Clock::now();
      for (auto& [name, j] : jobs) {
        if (j.awaiting.empty() || j.retire_by > now) continue;
        log::warn("discovery",
                  j.retiring.empty()
                      ? "some service discovery of the job has not reported yet; using what the "
                        "others found"
                      : "the job's new service discovery has not reported; its previous targets "
                        "are dropped",
                  {{"job", name}, {"waited", format_duration(options.retire_timeout)}});
        j.retiring.clear();
        j.awaiting.clear();
        mark_dirty(name);
      }
      send();
      arm_retire_timer();
    });
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    for (auto& [key, p] : providers) {
      if (p.discoverer) p.discoverer->stop();
    }
    send_timer.cancel();
    retire_timer.cancel();
    providers.clear();
    // DNS lookups in flight see the discoverers' stop flags within ~100 ms.
    blocking.join();
  }
};

DiscoveryManager::DiscoveryManager(asio::io_context& io, Sink sink, metrics::Registry* registry,
                                   Options options)
    : impl_(std::make_unique<Impl>(io, std::move(sink), registry, std::move(options))) {}

DiscoveryManager::DiscoveryManager(asio::io_context& io, Sink sink, metrics::Registry* registry)
    : DiscoveryManager(io, std::move(sink), registry, Options{}) {}

DiscoveryManager::~DiscoveryManager() {
  impl_->stop();
}

void DiscoveryManager::apply_config(const Config& cfg) {
  impl_->apply_config(cfg);
}

void DiscoveryManager::stop() {
  impl_->stop();
}

size_t DiscoveryManager::providers() const {
  size_t n = 0;
  for (const auto& [key, p] : impl_->providers) n += p.discoverer != nullptr;
  return n;
}

std::map<std::string, std::vector<TargetGroup>> DiscoveryManager::discover_once(
    const Config& cfg, std::vector<Status>* problems, const KubernetesOptions& kubernetes) {
  std::map<std::string, std::vector<TargetGroup>> out;
  for (const auto& sc : cfg.scrape_configs) {
    auto& groups = out[sc.job_name];
    for (const auto& c : sd_configs(sc)) {
      Status s = stoker::discover_once(c, &groups, kubernetes);
      if (!s.ok()) problems->push_back(s.context("job " + sc.job_name));
    }
  }
  return out;
}

}  // namespace stoker
