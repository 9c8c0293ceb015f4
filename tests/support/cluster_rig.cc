#include "tests/support/cluster_rig.h"

#include <algorithm>
#include <cstdlib>

#include "pprof/pprof_decode.h"
#include "tests/support/profiles.h"

namespace stoker::test {

int64_t ProfileFarm::now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ProfileFarm::ProfileFarm(int targets, int stacks)
    : targets_(targets), stacks_(stacks), served_(static_cast<size_t>(targets), 0) {
  server_ = std::make_unique<TestServer>([this](const RecordedRequest& r) { return serve(r); });
}

RawResponse ProfileFarm::serve(const RecordedRequest& r) {
  auto q = r.target.find("target=");
  int k = q == std::string::npos ? -1 : std::atoi(r.target.c_str() + q + 7);
  if (k < 0 || k >= targets_) return {TestServer::response(404, "text/plain", "no such target\n")};
  int64_t n;
  {
    std::lock_guard lock(mu_);
    n = ++served_[static_cast<size_t>(k)];
    log_.push_back({now_ms(), k, r.header("x-replica")});
  }
  std::vector<SampleSpec> samples;
  for (int s = 0; s < stacks_; ++s) {
    std::string leaf = "main.alloc" + std::to_string(s);
    // Counters as if the target had been scraped 1,000 times already.
    int64_t objects = (s == 0 ? 10 : s + 1) * (n + 1000);
    samples.push_back({{leaf, "main.handle", "main.main"}, {objects, objects * 64, 1, 64}});
  }
  auto p = make_profile({{"alloc_objects", "count"},
                         {"alloc_space", "bytes"},
                         {"inuse_objects", "count"},
                         {"inuse_space", "bytes"}},
                        samples);
  return {TestServer::response(200, "application/octet-stream", pprof::encode_gzip(p))};
}

std::vector<ProfileFarm::Scrape> ProfileFarm::scrapes(int64_t since_ms) const {
  std::lock_guard lock(mu_);
  std::vector<Scrape> out;
  for (const auto& s : log_) {
    if (s.at_ms >= since_ms) out.push_back(s);
  }
  return out;
}

std::map<int, std::map<std::string, int>> ProfileFarm::who(int64_t from_ms, int64_t to_ms) const {
  std::map<int, std::map<std::string, int>> out;
  for (const auto& s : scrapes(from_ms)) {
    if (s.at_ms < to_ms) ++out[s.target][s.replica];
  }
  return out;
}

std::vector<int64_t> ProfileFarm::longest_gaps(int64_t from_ms, int64_t to_ms) const {
  std::vector<int64_t> last(static_cast<size_t>(targets_), from_ms);
  std::vector<int64_t> gap(static_cast<size_t>(targets_), 0);
  for (const auto& s : scrapes(from_ms)) {
    if (s.at_ms > to_ms) continue;
    auto k = static_cast<size_t>(s.target);
    gap[k] = std::max(gap[k], s.at_ms - last[k]);
    last[k] = s.at_ms;
  }
  for (size_t k = 0; k < gap.size(); ++k) gap[k] = std::max(gap[k], to_ms - last[k]);
  return gap;
}

boost::json::object replica_pod(const std::string& name, const std::string& ns, bool ready) {
  return boost::json::parse(R"({"metadata":{"name":")" + name + R"(","namespace":")" + ns +
                            R"(","uid":"uid-)" + name +
                            R"(","labels":{"app":"stoker"}},"spec":{"nodeName":"node-1",)"
                            R"("containers":[{"name":"stoker","ports":[{"name":"http",)"
                            R"("containerPort":4040,"protocol":"TCP"}]}]},"status":{"phase":)"
                            R"("Running","podIP":"127.0.0.1","conditions":[{"type":"Ready",)"
                            R"("status":")" +
                            (ready ? "True" : "False") + R"("}]}})")
      .as_object();
}

std::string replica_config(const std::string& name, const std::string& kube_url,
                           const ProfileFarm& farm, int web_port, const std::string& db,
                           int interval_s) {
  std::string y = "storage: {path: '" + db + "'}\nweb: {listen_address: '127.0.0.1:" +
                  std::to_string(web_port) + "'}\ncluster:\n  name: " + name +
                  "\n  kubernetes:\n    api_server: " + kube_url +
                  "\n    namespace: obs\n    label_selector: app=stoker\n"
                  "scrape_configs:\n  - job_name: apps\n    scrape_interval: " +
                  std::to_string(interval_s) +
                  "s\n    clustering: {enabled: true}\n"
                  "    http_headers: {X-Replica: {values: [" +
                  name +
                  "]}}\n    profiling_config:\n      process_cpu: {enabled: false}\n"
                  "      goroutine: {enabled: false}\n      block: {enabled: false}\n"
                  "      mutex: {enabled: false}\n    static_configs:\n";
  for (int k = 0; k < farm.targets(); ++k) {
    y += "      - targets: ['127.0.0.1:" + std::to_string(farm.port()) +
         "']\n        labels: {service_name: svc-" + std::to_string(k) + ", __param_target: '" +
         std::to_string(k) + "'}\n";
  }
  return y;
}

boost::json::value cluster_status(int web_port) {
  std::string body;
  if (http_get(web_port, "/api/v1/status/cluster", &body) != 200) return nullptr;
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object() || !v.as_object().contains("data")) return nullptr;
  return v.as_object().at("data");
}

}  // namespace stoker::test
