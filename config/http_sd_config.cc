// http_sd_configs: Prometheus' HTTP service discovery.
#include "config/sections.h"

namespace stoker::cfg {

void parse_http_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                           std::vector<HttpSdConfig>* out) {
  if (n.IsNull()) return;
  if (!n.IsSequence()) {
    w.error(n, path, "expected a list, got " + Walker::kind(n));
    return;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    std::string ip = path + "[" + std::to_string(i) + "]";
    HttpSdConfig hc;
    std::optional<Secret> bearer_token;
    std::string bearer_token_file;
    YAML::Node url_node;
    bool has_url = false;
    w.each(n[i], ip,
           {"url", "refresh_interval", "basic_auth", "authorization", "bearer_token",
            "bearer_token_file", "tls_config", "follow_redirects", "enable_http2"},
           [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
             if (k == "url") {
               url_node = v;
               has_url = true;
               if (auto s = w.str(v, sub)) hc.url = *s;
             } else if (k == "refresh_interval") {
               if (auto d = w.duration(v, sub)) hc.refresh_interval = *d;
             } else if (k == "enable_http2") {
               w.boolean(v, sub);
             } else {
               parse_http_client(w, k, v, sub, hc.http, bearer_token, bearer_token_file);
             }
           });
    finish_http_auth(w, n[i], ip, hc.http, bearer_token, bearer_token_file);
    // SDConfig.UnmarshalYAML in Prometheus' discovery/http, with its words.
    const YAML::Node at = has_url ? url_node : n[i];
    auto scheme_end = hc.url.find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : hc.url.substr(0, scheme_end);
    std::string rest = scheme_end == std::string::npos ? "" : hc.url.substr(scheme_end + 3);
    std::string host = rest.substr(0, rest.find_first_of("/?#"));
    if (hc.url.empty()) {
      w.error(at, ip + ".url", "URL is missing");
    } else if (scheme != "http" && scheme != "https") {
      w.error(at, ip + ".url", "URL scheme must be 'http' or 'https'");
    } else if (host.empty() || host.substr(host.find('@') + 1).empty()) {
      w.error(at, ip + ".url", "host is missing in URL");
    } else if (host.find('@') != std::string::npos) {
      // Kept out of logs and errors: credentials go in basic_auth.
      w.error(at, ip + ".url",
              "url must not contain credentials; use basic_auth, authorization or "
              "bearer_token_file");
    }
    if (hc.refresh_interval.count() <= 0) {
      w.error(n[i], ip + ".refresh_interval", "refresh_interval must be greater than 0");
    }
    out->push_back(std::move(hc));
  }
}

}  // namespace stoker::cfg
