#include "app/process.h"

#include <boost/json.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <map>
#include <thread>

#include "collector/cluster.h"
#include "collector/scrape_manager.h"
#include "collector/scrape_metrics.h"
#include "discovery/manager.h"
#include "forward/remote_write.h"
#include "ingest/pipeline.h"
#include "model/log.h"
#include "model/metrics.h"
#include "model/timeparse.h"
#include "net/asio_pch.h"
#include "net/http_server.h"
#include "net/io_loop.h"
#include "net/web_security.h"
#include "query/engine.h"
#include "query/source.h"
#include "storage/outbox.h"
#include "storage/storage.h"
#include "web/api.h"
#include "web/receive_api.h"

namespace stoker {

namespace asio = boost::asio;

class Process::Impl {
 public:
  explicit Impl(ProcessOptions opts)
      : opts_(std::move(opts)), workers_(std::max(2u, std::thread::hardware_concurrency())) {}

  int run() {
    // A peer closing a connection is an error to handle, not a reason to die.
    std::signal(SIGPIPE, SIG_IGN);
    std::vector<std::string> errors;
    auto cfg = load(&errors);
    if (!cfg) {
      std::fprintf(stderr, "stoker: invalid config %s:\n", opts_.config_file->c_str());
      for (const auto& e : errors) std::fprintf(stderr, "  %s\n", e.c_str());
      return 1;
    }
    cfg_ = std::move(*cfg);
    auto opened = Storage::open(cfg_.storage);
    if (!opened) return fail("cannot open storage: " + opened.error());
    storage_ = std::move(*opened);

    pipeline_ = std::make_unique<ingest::Pipeline>(storage_.get(), &registry_);
    scrape_ = std::make_unique<ScrapeManager>(io_, pipeline_.get(), &scrape_metrics_);
    register_metrics();
    ApiContext api;
    api.targets = [this] { return scrape_->snapshot(); };
    api.ready = &ready_;
    api.metrics = [this] { return registry_.render(); };
    api.config_yaml = [this] {
      std::lock_guard lock(mu_);
      return shown_config_;
    };
    api.reload = [this](std::string* error) { return reload(error); };
    api.remote_write_json = [this] { return remote_write_json(); };
    api.cluster_json = [this] { return cluster_json(); };
    queries_ =
        std::make_unique<query::EnginePool>(cfg_.storage.path, query::Limits::from(cfg_.query));
    api.queries = queries_.get();
    receiver_ = std::make_unique<Receiver>(pipeline_.get(), &registry_);
    receiver_->configure(cfg_);
    api.receiver = receiver_.get();
    if (cfg_.source_view.active(cfg_.web.listen_address)) {
      std::vector<query::SourceLocator::Rewrite> rewrites;
      std::vector<std::string> roots = cfg_.source_view.roots;
      for (const auto& r : cfg_.source_view.paths) {
        rewrites.push_back({r.from, r.to});
        roots.push_back(r.to);
      }
      std::error_code ec;
      roots.push_back(std::filesystem::current_path(ec).string());
      source_locator_ = std::make_unique<query::SourceLocator>(std::move(rewrites), std::move(roots));
      source_locator_->add_go_defaults();
      api.source = source_locator_.get();
    }
    WebServerOptions web_opts;
    if (opts_.web_config_file) {
      std::vector<std::string> web_errors;
      web_opts.security = WebSecurity::open(*opts_.web_config_file, &web_errors);
      if (!web_opts.security) {
        std::string joined;
        for (const auto& e : web_errors) joined += "\n  " + e;
        return fail("invalid web config file " + *opts_.web_config_file + ":" + joined);
      }
    }
    web_opts.auth_pool = &query_threads_;
    // Queries and pushed profiles (decoding, waiting for the commit) run off
    // the I/O thread, each on its own threads so that neither starves the other.
    web_opts.offload = [this](const WebRequest& r) -> asio::thread_pool* {
      if (receiver_->handles(r.path)) return &receive_threads_;
      return is_query_request(r) ? &query_threads_ : nullptr;
    };
    web_opts.body_limit_for = [this](std::string_view path) { return receiver_->body_limit(path); };
    web_opts.on_body_too_large = [this](std::string_view path) {
      receiver_->count_too_large(path);
    };
    web_ = std::make_unique<WebServer>(
        io_, [api](const WebRequest& r) { return handle_request(r, api); }, std::move(web_opts));
    if (Status s = web_->start(cfg_.web.listen_address); !s.ok()) return fail(s.message());

    // Discovery hands each job's full target set to the scrape manager on
    // the io_context's thread.
    discovery_ = std::make_unique<DiscoveryManager>(
        io_,
        [this](const std::string& job, std::vector<TargetGroup> groups) {
          scrape_->apply_groups(job, groups);
        },
        &registry_);
    scrape_->set_config(cfg_);
    if (Status s = apply_cluster(cfg_); !s.ok()) return fail(s.message());
    discovery_->apply_config(cfg_);
    if (Status s = apply_remote_write(cfg_); !s.ok()) return fail(s.message());
    config_loaded(true);
    ready_ = true;
    announce();

    asio::signal_set stop_signals(io_, SIGINT, SIGTERM);
    stop_signals.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      log::info("main", "shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      shutdown();
    });
    asio::signal_set hup(io_, SIGHUP);
    std::function<void()> wait_hup = [&] {
      hup.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec) return;
        log::info("main", "SIGHUP: reloading the config", {});
        std::string e;
        reload(&e);
        wait_hup();
      });
    };
    wait_hup();
    run_io_loop(io_, IoLoopOptions{}, &io_stats_);
    workers_.join();
    query_threads_.join();
    receive_threads_.join();
    if (!storage_->flush(std::chrono::seconds(10))) {
      log::error("main", "storage did not commit every queued profile in 10s; retrying before exit",
                 {{"queued", std::to_string(storage_->stats().queue_depth)}});
    }
    auto st = storage_->stats();
    log::info("main", "stopped", {{"profiles_written", std::to_string(st.profiles_written)}});
    return 0;
  }

 private:
  static int fail(const std::string& msg) {
    std::fprintf(stderr, "stoker: %s\n", msg.c_str());
    return 1;
  }

  std::optional<Config> load(std::vector<std::string>* errors) {
    Config cfg;
    if (opts_.config_file) {
      auto r = load_config_file(*opts_.config_file, opts_.expand_env);
      if (!r.config) {
        *errors = std::move(r.errors);
        return std::nullopt;
      }
      cfg = std::move(*r.config);
    } else {
      cfg = default_config();
    }
    if (opts_.storage_path) cfg.storage.path = *opts_.storage_path;
    if (opts_.listen_address) cfg.web.listen_address = *opts_.listen_address;
    return cfg;
  }

  void config_loaded(bool ok) {
    reload_success_.set(ok ? 1 : 0);
    if (ok) {
      reload_time_.set(static_cast<double>(now_unix_nanos()) / 1e9);
      std::lock_guard lock(mu_);
      shown_config_ = cfg_.redacted_yaml.empty()
                          ? "# embedded default config: scrape localhost:6060\n"
                          : cfg_.redacted_yaml + "\n";
    }
  }

  // Runs on the I/O thread (signal handler or the web handler).
  bool reload(std::string* error) {
    std::vector<std::string> errors;
    auto next = load(&errors);
    if (!next) {
      std::string joined;
      for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
      *error = "config not reloaded, the running config is kept: " + joined;
      log::error("main", "config reload failed; keeping the running config",
                 {{"config", opts_.config_file.value_or("")}, {"err", joined}});
      config_loaded(false);
      std::lock_guard lock(mu_);
      last_reload_error_ = joined;
      return false;
    }
    if (next->storage.path != cfg_.storage.path ||
        next->web.listen_address != cfg_.web.listen_address) {
      log::warn("main", "storage.path and web.listen_address changes take effect after a restart",
                {});
      next->storage.path = cfg_.storage.path;
      next->web.listen_address = cfg_.web.listen_address;
    }
    cfg_ = std::move(*next);
    receiver_->configure(cfg_);
    // The scrape manager first: discovery's updates for new jobs find them.
    scrape_->set_config(cfg_);
    if (Status s = apply_cluster(cfg_); !s.ok()) {
      log::error("main", "the cluster section could not be applied; clustered jobs keep the last peers",
                 {{"err", s.message()}});
    }
    discovery_->apply_config(cfg_);
    if (Status s = apply_remote_write(cfg_); !s.ok()) {
      log::error("main", "remote_write could not be applied", {{"err", s.message()}});
    }
    config_loaded(true);
    {
      std::lock_guard lock(mu_);
      last_reload_error_.clear();
    }
    log::info("main", "config reloaded",
              {{"config", cfg_.source},
               {"jobs", std::to_string(cfg_.scrape_configs.size())},
               {"remote_write", std::to_string(cfg_.remote_write.size())}});
    return true;
  }

  // Starts, keeps or replaces the cluster membership (I/O thread). A changed
  // cluster section starts a new one; the scrape manager keeps the last peers
  // until it reports.
  Status apply_cluster(const Config& cfg) {
    if (membership_ && cfg.cluster.enabled &&
        membership_->config().fingerprint == cfg.cluster.fingerprint &&
        membership_->config().name == cfg.cluster.name) {
      return Status();
    }
    if (!cfg.cluster.enabled) {
      if (membership_) membership_->stop();
      std::lock_guard lock(mu_);
      membership_.reset();
      return Status();
    }
    DiscoveryContext ctx;
    ctx.io = &io_;
    auto made = ClusterMembership::make(cfg.cluster, ctx);
    if (!made) return made.status();
    if (membership_) membership_->stop();
    {
      std::lock_guard lock(mu_);
      membership_ = std::move(*made);
    }
    membership_->start([this](ClusterView view) { scrape_->set_cluster(std::move(view)); });
    return Status();
  }

  // GET /api/v1/status/cluster.
  std::string cluster_json() {
    auto st = scrape_->cluster_stats();
    boost::json::object data;
    data["enabled"] = st.enabled;
    boost::json::array peers;
    {
      std::lock_guard lock(mu_);
      if (membership_) {
        auto m = membership_->status();
        data["name"] = m.self;
        data["source"] = m.source;
        for (const auto& p : m.peers) peers.push_back(boost::json::string(p));
        data["selfListed"] = m.self_listed;
        data["membershipError"] = m.error;
        data["membershipErrorSince"] = m.error_since_ns ? format_time(m.error_since_ns) : "";
        data["peersChanged"] = m.changed_ns ? format_time(m.changed_ns) : "";
      } else {
        data["name"] = "";
      }
    }
    data["peers"] = std::move(peers);
    data["known"] = st.known;
    data["ownedTargets"] = st.owned;
    data["clusteredTargets"] = st.clustered;
    data["drainingLoops"] = st.draining;
    data["rebalances"] = st.rebalances;
    data["lastRebalance"] = st.last_rebalance_ns ? format_time(st.last_rebalance_ns) : "";
    data["lastGainedLoops"] = st.last_gained;
    data["lastLostLoops"] = st.last_lost;
    boost::json::object doc;
    doc["status"] = "success";
    doc["data"] = std::move(data);
    return boost::json::serialize(doc);
  }

  // Starts, keeps or replaces one RemoteWriter per endpoint (I/O thread).
  Status apply_remote_write(const Config& cfg) {
    std::vector<std::string> keys;
    for (const auto& rw : cfg.remote_write) keys.push_back(rw.key());
    {
      auto outbox = Outbox::open(storage_->path());
      if (!outbox) return outbox.status();
      if (Status s = (*outbox)->sync_endpoints(keys); !s.ok()) return s;
    }
    std::map<std::string, std::shared_ptr<RemoteWriter>> next;
    for (const auto& rw : cfg.remote_write) {
      auto it = writers_.find(rw.key());
      if (it != writers_.end() && it->second->config().fingerprint == rw.fingerprint) {
        next[rw.key()] = std::move(it->second);
        writers_.erase(it);
        continue;
      }
      if (it != writers_.end()) {  // changed settings: the old writer stops first
        it->second->stop();
        writers_.erase(it);
      }
      RemoteWriter::Deps deps{io_.get_executor(), &workers_, storage_.get(),
                              cfg.global.external_labels, &forward_metrics_};
      auto w = std::make_shared<RemoteWriter>(std::move(deps), rw);
      if (Status s = w->start(); !s.ok()) return s;
      next[rw.key()] = std::move(w);
    }
    // Endpoints that are gone: their delivery stops and their series go.
    for (auto& [key, w] : writers_) {
      w->stop();
      forward_metrics_.remove(key);
    }
    std::lock_guard lock(mu_);
    writers_ = std::move(next);
    return Status();
  }

  void shutdown() {
    ready_ = false;
    if (membership_) membership_->stop();
    discovery_->stop();
    scrape_->stop_all();
    {
      std::lock_guard lock(mu_);
      for (auto& [key, w] : writers_) w->stop();
    }
    web_->stop();
    // Let cancelled loops unwind, then stop the loop.
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(200));
    timer->async_wait([this, timer](const boost::system::error_code&) { io_.stop(); });
  }

  // GET /api/v1/remote_write. Figures that cannot be read from the outbox are
  // null, with the reason in outboxError, never zeros that look like data.
  std::string remote_write_json() {
    boost::json::array eps;
    std::vector<std::shared_ptr<RemoteWriter>> ws;
    {
      std::lock_guard lock(mu_);
      for (const auto& [k, w] : writers_) ws.push_back(w);
    }
    auto outbox = Outbox::open(storage_->path());
    for (const auto& w : ws) {
      auto s = w->status();
      boost::json::object o;
      o["name"] = s.name;
      o["url"] = s.url;
      o["state"] = s.state;
      o["lastError"] = s.last_error;
      o["lastErrorTime"] = s.last_error_ns ? format_time(s.last_error_ns) : "";
      o["lastSuccessTime"] = s.last_success_ns ? format_time(s.last_success_ns) : "";
      o["consecutiveFailures"] = s.consecutive_failures;
      Result<OutboxStatus> ob = outbox ? (*outbox)->status(s.name) : outbox.status();
      boost::json::array aside;
      std::string outbox_error;
      if (ob) {
        o["pending"] = ob->pending;
        o["oldestPendingTime"] = ob->oldest_pending_ns ? format_time(ob->oldest_pending_ns) : "";
        o["deliveredId"] = ob->delivered_id;
        o["droppedForSpace"] = ob->dropped;
        o["setAside"] = ob->set_aside;
        auto list = (*outbox)->set_aside_list(s.name, 20);
        if (list) {
          for (const auto& e : *list) {
            boost::json::object a;
            a["profileId"] = e.profile_id;
            a["scrapeTime"] = format_time(e.ts);
            a["series"] = e.series;
            a["setAsideTime"] = format_time(e.at_ns);
            a["status"] = e.status;
            a["error"] = e.error;
            aside.push_back(std::move(a));
          }
        } else {
          outbox_error = "cannot read the set-aside list: " + list.error();
        }
      } else {
        for (const char* k :
             {"pending", "oldestPendingTime", "deliveredId", "droppedForSpace", "setAside"}) {
          o[k] = nullptr;
        }
        outbox_error = "cannot read the outbox: " + ob.error();
      }
      o["recentSetAside"] = std::move(aside);
      o["outboxError"] = outbox_error;
      eps.push_back(std::move(o));
    }
    boost::json::object data;
    data["endpoints"] = std::move(eps);
    {
      std::lock_guard lock(mu_);
      data["lastReloadError"] = last_reload_error_;
    }
    boost::json::object doc;
    doc["status"] = "success";
    doc["data"] = std::move(data);
    return boost::json::serialize(doc);
  }

  void register_metrics() {
    using metrics::Kind;
    using metrics::Sample;
    auto& r = registry_;
    r.collect("stoker_build_info", "A constant 1 labelled with stoker's version.", Kind::kGauge,
              [] {
                return std::vector<Sample>{{{{"version", STOKER_VERSION_STRING}}, 1}};
              });
    r.collect("stoker_scrape_loops", "Scrape loops running (targets × profile types).",
              Kind::kGauge, [this] {
                return std::vector<Sample>{{{}, static_cast<double>(scrape_->loop_count())}};
              });
    r.collect("stoker_cluster_peers",
              "Replicas sharing the clustered jobs' targets, as this one sees them (0 without a "
              "cluster section).",
              Kind::kGauge, [this] {
                std::lock_guard lock(mu_);
                double n = membership_ ? static_cast<double>(membership_->status().peers.size()) : 0;
                return std::vector<Sample>{{{}, n}};
              });
    r.collect("stoker_cluster_owned_targets",
              "Targets of clustered jobs this replica scrapes.", Kind::kGauge, [this] {
                return std::vector<Sample>{
                    {{}, static_cast<double>(scrape_->cluster_stats().owned)}};
              });
    r.collect("stoker_cluster_rebalances_total",
              "Peer lists applied to the clustered jobs (the first one counts).", Kind::kCounter,
              [this] {
                return std::vector<Sample>{
                    {{}, static_cast<double>(scrape_->cluster_rebalances())}};
              });
    r.collect(
        "stoker_storage_profiles_written_total", "Profiles committed to the database.",
        Kind::kCounter, [this] {
          return std::vector<Sample>{{{}, static_cast<double>(storage_->stats().profiles_written)}};
        });
    r.collect(
        "stoker_storage_write_errors_total", "Failed commits (retried).", Kind::kCounter, [this] {
          return std::vector<Sample>{{{}, static_cast<double>(storage_->stats().write_errors)}};
        });
    r.collect(
        "stoker_storage_queue_depth", "Profiles waiting for the writer.", Kind::kGauge, [this] {
          return std::vector<Sample>{{{}, static_cast<double>(storage_->stats().queue_depth)}};
        });
    r.collect("stoker_storage_database_bytes", "Size of the database file and its WAL.",
              Kind::kGauge, [this] {
                return std::vector<Sample>{{{}, static_cast<double>(storage_->stats().db_bytes)}};
              });
    r.collect("stoker_storage_symbol_cache_bytes",
              "Memory of the writer's index of stored symbols (strings, functions, "
              "locations, stacks).",
              Kind::kGauge, [this] {
                return std::vector<Sample>{
                    {{}, static_cast<double>(storage_->stats().symbol_cache_bytes)}};
              });
    r.collect(
        "stoker_forward_cache_bytes",
        "Bytes of committed profiles kept in memory for remote_write endpoints.", Kind::kGauge,
        [this] {
          return std::vector<Sample>{{{}, static_cast<double>(storage_->forward_cache().bytes())}};
        });
    r.collect(
        "stoker_delta_state_bytes",
        "Memory of the delta state of cumulative profile types, over all targets.", Kind::kGauge,
        [this] {
          return std::vector<Sample>{{{}, static_cast<double>(scrape_->delta_state().second)}};
        });
    r.collect("stoker_delta_tracked_stacks",
              "Distinct stacks in the delta state, over all targets.", Kind::kGauge, [this] {
                return std::vector<Sample>{{{}, static_cast<double>(scrape_->delta_state().first)}};
              });
    r.collect("stoker_storage_deleted_profiles_total", "Profiles deleted by retention or max_size.",
              Kind::kCounter, [this] {
                auto st = storage_->stats();
                return std::vector<Sample>{
                    {{{"reason", "retention"}}, static_cast<double>(st.deleted_by_retention)},
                    {{{"reason", "max_size"}}, static_cast<double>(st.deleted_by_size)}};
              });
    auto outbox_samples = [this](auto pick) {
      std::vector<Sample> out;
      std::lock_guard lock(mu_);
      for (const auto& [k, w] : writers_) {
        auto s = w->status();
        out.push_back({{{"endpoint", k}}, pick(s)});
      }
      return out;
    };
    r.collect("stoker_outbox_pending_profiles",
              "Profiles committed but not yet delivered, per endpoint.", Kind::kGauge,
              [outbox_samples] {
                return outbox_samples([](const RemoteWriteStatus& s) {
                  return static_cast<double>(s.outbox.pending);
                });
              });
    r.collect("stoker_outbox_oldest_pending_age_seconds",
              "Age of the oldest undelivered profile (0 when none), per endpoint.", Kind::kGauge,
              [outbox_samples] {
                return outbox_samples([](const RemoteWriteStatus& s) {
                  if (!s.outbox.oldest_pending_ns) return 0.0;
                  return static_cast<double>(now_unix_nanos() - s.outbox.oldest_pending_ns) / 1e9;
                });
              });
    r.collect("stoker_outbox_dropped_profiles_total",
              "Undelivered profiles deleted by retention or max_size, per endpoint.",
              Kind::kCounter, [outbox_samples] {
                return outbox_samples([](const RemoteWriteStatus& s) {
                  return static_cast<double>(s.outbox.dropped);
                });
              });
    auto io_counter = [](const std::atomic<uint64_t>* v) {
      return [v] { return std::vector<Sample>{{{}, static_cast<double>(v->load())}}; };
    };
    r.collect("stoker_io_wakeups_total",
              "Times the I/O thread woke to handle sockets, timers and posted work.",
              Kind::kCounter, io_counter(&io_stats_.wakeups));
    r.collect("stoker_io_handlers_total", "Handlers the I/O thread ran (sockets, timers, posts).",
              Kind::kCounter, io_counter(&io_stats_.handlers));
    r.collect("stoker_io_pauses_total",
              "Pauses the I/O thread took to let readiness gather (work came faster than its "
              "pause, " +
                  std::to_string(IoLoopOptions{}.pause.count() / 1000) + " ms).",
              Kind::kCounter, io_counter(&io_stats_.pauses));
    r.collect("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
              Kind::kCounter, [] {
                return std::vector<Sample>{{{}, metrics::read_process_stats().cpu_seconds}};
              });
    r.collect("process_resident_memory_bytes", "Resident memory size in bytes.", Kind::kGauge, [] {
      return std::vector<Sample>{{{}, metrics::read_process_stats().resident_bytes}};
    });
    r.collect("process_virtual_memory_bytes", "Virtual memory size in bytes.", Kind::kGauge, [] {
      return std::vector<Sample>{{{}, metrics::read_process_stats().virtual_bytes}};
    });
    r.collect("process_start_time_seconds", "Start time of the process since the Unix epoch.",
              Kind::kGauge, [] {
                return std::vector<Sample>{{{}, metrics::read_process_stats().start_time_seconds}};
              });
    r.collect("process_open_fds", "Number of open file descriptors.", Kind::kGauge, [] {
      return std::vector<Sample>{{{}, metrics::read_process_stats().open_fds}};
    });
  }

  void announce() {
    std::string abs_db = std::filesystem::absolute(cfg_.storage.path).lexically_normal().string();
    log::info("main", "stoker started",
              {{"version", STOKER_VERSION_STRING},
               {"config", cfg_.source},
               {"storage", abs_db},
               {"web", cfg_.web.listen_address},
               {"remote_write", std::to_string(cfg_.remote_write.size())}});
    const char* self = opts_.self.c_str();
    std::string web = (opts_.web_config_file ? "https://" : "http://") + cfg_.web.listen_address;
    std::string doing = cfg_.scrape_configs.empty()
                            ? std::string("serves its stored profiles (no scrape_configs)")
                            : "is scraping every " +
                                  format_duration(cfg_.scrape_configs[0].scrape_interval);
    std::fprintf(stderr,
                 "\nstoker %s %s.\n"
                 "  open:      %s/   (profiles over time, flame graphs, diffs)\n"
                 "  database:  %s\n"
                 "  targets:   %s/targets\n"
                 "  metrics:   %s/metrics\n"
                 "  CLI:       %s flamegraph --storage.path %s --query process_cpu --from now-5m "
                 "-o cpu.svg\n\n",
                 STOKER_VERSION_STRING, doing.c_str(), web.c_str(), abs_db.c_str(), web.c_str(),
                 web.c_str(), self, abs_db.c_str());
  }

  ProcessOptions opts_;
  Config cfg_;
  // The one registry every module registers its families on (/metrics).
  metrics::Registry registry_;
  ScrapeMetrics scrape_metrics_{registry_};
  ForwardMetrics forward_metrics_{registry_};
  metrics::Counter& reload_success_ = registry_
                                          .gauge("stoker_config_last_reload_successful",
                                                 "Whether the last config reload succeeded.")
                                          .with({});
  metrics::Counter& reload_time_ =
      registry_
          .gauge("stoker_config_last_reload_success_timestamp_seconds",
                 "Time of the last successful config load (Unix seconds).")
          .with({});
  asio::io_context io_;
  IoLoopStats io_stats_;
  asio::thread_pool workers_;
  asio::thread_pool query_threads_{2};  // the read API, off the I/O thread
  // Pushed profiles: decoding, then waiting for the commit (mostly waiting).
  asio::thread_pool receive_threads_{4};
  std::atomic<bool> ready_{false};
  std::unique_ptr<Storage> storage_;
  std::unique_ptr<ingest::Pipeline> pipeline_;
  std::unique_ptr<ScrapeManager> scrape_;
  std::unique_ptr<query::EnginePool> queries_;
  std::unique_ptr<query::SourceLocator> source_locator_;  // null: the source view is off
  std::unique_ptr<Receiver> receiver_;
  std::unique_ptr<WebServer> web_;
  std::unique_ptr<DiscoveryManager> discovery_;
  std::unique_ptr<ClusterMembership> membership_;  // with a cluster section; mu_ for readers
  std::mutex mu_;  // writers_ and the strings below, read by API threads
  std::map<std::string, std::shared_ptr<RemoteWriter>> writers_;
  std::string shown_config_, last_reload_error_;
};

Process::Process(ProcessOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}
Process::~Process() = default;
int Process::run() {
  return impl_->run();
}

}  // namespace stoker
