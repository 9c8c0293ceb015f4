#include "discovery/http_sd.h"

#include <algorithm>
#include <atomic>
#include <cctype>

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

asio::awaitable<Status> fetch(HttpClient& client, const HttpSdConfig& cfg,
                              std::vector<TargetGroup>* groups) {
  HttpResult r = co_await client.send(request_for(cfg), deadline_for(cfg));
  if (!r.error.ok()) co_return r.error;
  co_return parse_http_sd_response(cfg.url, r.status, r.reason, r.content_type, r.body, groups);
}

}  // namespace

Status parse_http_sd_response(const std::string& url, int status, const std::string& reason,
                              const std::string& content_type, const std::string& body,
                              std::vector<TargetGroup>* groups) {
  groups->clear();
  if (status != 200) {
    return Status::unavailable("server returned HTTP status " + std::to_string(status) +
                               (reason.empty() ? "" : " " + reason));
  }
  if (!json_content_type(content_type)) {
    return Status::invalid("unsupported content type \"" + content_type + "\"");
  }
  auto parsed = parse_json_groups("the answer", body);
  if (!parsed) return parsed.status();
  *groups = std::move(*parsed);
  for (size_t i = 0; i < groups->size(); ++i) {
    (*groups)[i].source = source_of(url, i);
    (*groups)[i].labels.set("__meta_url", url);
  }
  return Status();
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
  Sink sink;
  DiscoveryMetrics* metrics = nullptr;
  std::unique_ptr<HttpClient> client;
  asio::steady_timer timer;
  asio::cancellation_signal cancel;
  bool stopping = false;
  HttpSdState state;
  std::string last_error;

  Impl(asio::io_context& io) : timer(io) {}

  asio::awaitable<void> run() {
    while (!stopping) {
      std::vector<TargetGroup> groups;
      Status s = co_await fetch(*client, cfg, &groups);
      if (stopping) break;
      if (s.ok()) {
        if (!last_error.empty()) {
          log::info("discovery", "http_sd_configs refresh recovered",
                    {{"job", job}, {"url", cfg.url}});
        }
        last_error.clear();
        sink(state.update(cfg.url, std::move(groups)));
      } else {
        metrics->refresh_failures(SdKind::kHttp).inc();
        log::write(s.message() == last_error ? log::Level::kDebug : log::Level::kWarn, "discovery",
                   "http_sd_configs refresh failed; keeping the previous targets",
                   {{"job", job}, {"url", cfg.url}, {"err", s.message()}});
        last_error = s.message();
      }
      timer.expires_after(cfg.refresh_interval);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
};

HttpDiscoverer::HttpDiscoverer(std::string job, HttpSdConfig cfg, const DiscoveryContext& ctx)
    : impl_(std::make_shared<Impl>(*ctx.io)) {
  impl_->job = std::move(job);
  impl_->cfg = std::move(cfg);
  impl_->metrics = ctx.metrics;
  impl_->client = std::make_unique<HttpClient>(ctx.io->get_executor(), impl_->cfg.http,
                                               kHttpSdBodyLimit, "stoker/" STOKER_VERSION_STRING);
}

HttpDiscoverer::~HttpDiscoverer() {
  stop();
}

void HttpDiscoverer::start(Sink sink) {
  impl_->sink = std::move(sink);
  asio::co_spawn(
      impl_->timer.get_executor(), [impl = impl_] { return impl->run(); },
      asio::bind_cancellation_slot(impl_->cancel.slot(), asio::detached));
}

void HttpDiscoverer::stop() {
  if (impl_->stopping) return;
  impl_->stopping = true;
  impl_->cancel.emit(asio::cancellation_type::terminal);
  impl_->timer.cancel();
  impl_->client->close_idle();
}

Status HttpDiscoverer::fetch_once(const HttpSdConfig& cfg, std::vector<TargetGroup>* out) {
  asio::io_context io;
  HttpClient client(io.get_executor(), cfg.http, kHttpSdBodyLimit, "stoker/" STOKER_VERSION_STRING);
  std::vector<TargetGroup> groups;
  Status result;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { result = co_await fetch(client, cfg, &groups); },
      asio::detached);
  io.run();
  client.close_idle();
  if (!result.ok()) return result;
  out->insert(out->end(), groups.begin(), groups.end());
  return Status();
}

}  // namespace stoker
