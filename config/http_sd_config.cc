// http_sd_configs and dns_sd_configs: Prometheus' HTTP and DNS service discovery.
#include "config/sections.h"

namespace stoker::cfg {

void parse_http_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                           std::vector<HttpSdConfig>* out) {
  w.each_item(n, path, [&](const YAML::Node& item, const std::string& ip) {
    HttpSdConfig hc;
    std::optional<Secret> bearer_token;
    std::string bearer_token_file;
    YAML::Node url_node;
    bool has_url = false;
    w.each(item, ip, with_http_client_keys({"url", "refresh_interval"}),
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
    finish_http_auth(w, item, ip, hc.http, bearer_token, bearer_token_file);
    // SDConfig.UnmarshalYAML in Prometheus' discovery/http, with its words.
    const YAML::Node at = has_url ? url_node : item;
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
      w.error(item, ip + ".refresh_interval", "refresh_interval must be greater than 0");
    }
    out->push_back(std::move(hc));
  });
}

// SDConfig.UnmarshalYAML in Prometheus' discovery/dns, with its words.
void parse_dns_sd_configs(Walker& w, const YAML::Node& n, const std::string& path,
                          std::vector<DnsSdConfig>* out) {
  w.each_item(n, path, [&](const YAML::Node& item, const std::string& ip) {
    DnsSdConfig dc;
    YAML::Node type_node;
    w.each(item, ip, {"names", "type", "port", "refresh_interval"},
           [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
             if (k == "names") {
               dc.names = w.str_list(v, sub);
             } else if (k == "type") {
               type_node = v;
               if (auto s = w.str(v, sub)) dc.type = *s;
             } else if (k == "port") {
               auto u = w.uint(v, sub);
               if (u && *u > 65535) {
                 w.error(v, sub, "port must be between 0 and 65535");
               } else if (u) {
                 dc.port = static_cast<int>(*u);
               }
             } else if (auto d = w.duration(v, sub)) {
               if (d->count() <= 0) {
                 w.error(v, sub, "refresh_interval must be greater than 0");
               } else {
                 dc.refresh_interval = *d;
               }
             }
           });
    std::string upper;
    for (char c : dc.type) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (dc.names.empty()) {
      w.error(item, ip, "DNS-SD config must contain at least one SRV record name");
    } else if (upper != "SRV" && upper != "A" && upper != "AAAA" && upper != "MX" &&
               upper != "NS") {
      w.error(type_node ? type_node : item, ip + ".type", "invalid DNS-SD records type " + dc.type);
    } else if (upper != "SRV" && dc.port == 0) {
      w.error(item, ip, "a port is required in DNS-SD configs for all record types except SRV");
    }
    for (size_t j = 0; j < dc.names.size(); ++j) {
      if (dc.names[j].empty()) w.error(item["names"][j], ip + ".names", "a name cannot be empty");
    }
    dc.type = upper;
    out->push_back(std::move(dc));
  });
}

}  // namespace stoker::cfg
