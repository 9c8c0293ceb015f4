#include "discovery/http_sd.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <thread>

#include "discovery/file_sd.h"
#include "model/log.h"
#include "net/asio_pch.h"
#include "net/http_client.h"

namespace stoker {

namespace asio = boost::asio;

namespace {

std::string source_of(const std::string& url, size_t i) {
  return url + ":" + std::to_string(i);
}

// Prometheus' ^(?i:application\/json(;\s*charset=("utf-8"|utf-8))?)$
bool json_content_type(std::string ct) {
  for (char& c : ct) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!ct.empty() && std::isspace(static_cast<unsigned char>(ct.back()))) ct.pop_back();
  while (!ct.empty() && std::isspace(static_cast<unsigned char>(ct.front()))) ct.erase(0, 1);
  const std::string base = "application/json";
  if (ct.rfind(base, 0) != 0) return false;
  std::string rest = ct.substr(base.size());
  if (rest.empty()) return true;
  if (rest[0] != ';') return false;
  rest.erase(0, 1);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest[0]))) rest.erase(0, 1);
  return rest == "charset=utf-8" || rest == "charset=\"utf-8\"";
}

HttpRequest request_for(const HttpSdConfig& cfg) {
  HttpRequest req;
  req.url = cfg.url;
  req.headers = {
      {"Accept", "application/json"},
      {"X-Prometheus-Refresh-Interval-Seconds",
       std::to_string(
           std::chrono::duration_cast<std::chrono::seconds>(cfg.refresh_interval).count())}};
  return req;
}

// One request's deadline: the refresh interval, between 5 s and 60 s.
HttpClient::Clock::time_point deadline_for(const HttpSdConfig& cfg) {
  auto d =
      std::clamp<Duration>(cfg.refresh_interval, std::chrono::seconds(5), std::chrono::seconds(60));
  return HttpClient::Clock::now() + std::chrono::duration_cast<HttpClient::Clock::duration>(d);
}

asio::awaitable<std::string> fetch(HttpClient& client, const HttpSdConfig& cfg,
                                   std::vector<TargetGroup>* groups) {
  HttpResult r = co_await client.send(request_for(cfg), deadline_for(cfg));
  if (!r.error.empty()) co_return r.error;
  co_return parse_http_sd_response(cfg.url, r.status, r.reason, r.content_type, r.body, groups);
}

}  // namespace

std::string parse_http_sd_response(const std::string& url, int status, const std::string& reason,
                                   const std::string& content_type, const std::string& body,
                                   std::vector<TargetGroup>* groups) {
  groups->clear();
  if (status != 200) {
    return "server returned HTTP status " + std::to_string(status) +
           (reason.empty() ? "" : " " + reason);
  }
  if (!json_content_type(content_type)) return "unsupported content type \"" + content_type + "\"";
  std::string err;
  if (!parse_json_groups("the answer", body, groups, &err)) return err;
  for (size_t i = 0; i < groups->size(); ++i) {
    (*groups)[i].source = source_of(url, i);
    (*groups)[i].labels.set("__meta_url", url);
  }
  return "";
}

std::vector<TargetGroup> HttpSdState::update(const std::string& url,
                                             std::vector<TargetGroup> groups) {
  size_t n = groups.size();
  for (size_t i = n; i < last_size_; ++i) groups.push_back(TargetGroup{source_of(url, i), {}, {}});
  last_size_ = n;
  return groups;
}

struct HttpDiscoverer::Impl {
  std::string job;
  HttpSdConfig cfg;
  Callback on_update;
  // Declared before the io_context so that it outlives it: destroying the
  // io_context destroys a coroutine suspended in a request to it.
  std::unique_ptr<HttpClient> client;
  asio::io_context io;
  asio::steady_timer timer{io};
  std::thread thread;
  std::atomic<bool> stopping{false};
  HttpSdState state;
  std::string last_error;

  asio::awaitable<void> run() {
    while (!stopping) {
      std::vector<TargetGroup> groups;
      std::string err = co_await fetch(*client, cfg, &groups);
      if (stopping) break;
      if (err.empty()) {
        if (!last_error.empty()) {
          log::info("discovery", "http_sd_configs refresh recovered",
                    {{"job", job}, {"url", cfg.url}});
        }
        last_error.clear();
        on_update(state.update(cfg.url, std::move(groups)));
      } else {
        log::write(err == last_error ? log::Level::kDebug : log::Level::kWarn, "discovery",
                   "http_sd_configs refresh failed; keeping the previous targets",
                   {{"job", job}, {"url", cfg.url}, {"err", err}});
        last_error = err;
      }
      timer.expires_after(cfg.refresh_interval);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

HttpDiscoverer::HttpDiscoverer(std::string job, HttpSdConfig cfg, Callback on_update)
    : impl_(std::make_shared<Impl>()) {
  impl_->job = std::move(job);
  impl_->cfg = std::move(cfg);
  impl_->on_update = std::move(on_update);
  impl_->client = std::make_unique<HttpClient>(impl_->io.get_executor(), impl_->cfg.http,
                                               kHttpSdBodyLimit, "stoker/" STOKER_VERSION_STRING);
}

HttpDiscoverer::~HttpDiscoverer() {
  stop();
}

void HttpDiscoverer::start() {
  asio::co_spawn(impl_->io, impl_->run(), asio::detached);
  impl_->thread = std::thread([impl = impl_] {
    pthread_setname_np(pthread_self(), "stoker-http-sd");
    try {
      impl->io.run();
    } catch (const std::exception& e) {
      log::error("discovery", "http_sd_configs stopped unexpectedly",
                 {{"job", impl->job}, {"err", e.what()}});
    }
  });
}

void HttpDiscoverer::stop() {
  if (impl_->stopping.exchange(true)) return;
  asio::post(impl_->io, [impl = impl_] { impl->timer.cancel(); });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // The client outlives the io_context (see Impl), but its sockets must not.
  if (impl_->client) impl_->client->close_idle();
}

std::vector<TargetGroup> HttpDiscoverer::fetch_once(const HttpSdConfig& cfg, std::string* error) {
  asio::io_context io;
  HttpClient client(io.get_executor(), cfg.http, kHttpSdBodyLimit, "stoker/" STOKER_VERSION_STRING);
  std::vector<TargetGroup> groups;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { *error = co_await fetch(client, cfg, &groups); },
      asio::detached);
  io.run();
  if (!error->empty()) groups.clear();
  return groups;
}

}  // namespace stoker
