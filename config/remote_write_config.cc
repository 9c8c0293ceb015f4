// remote_write: Pyroscope push endpoints.
#include "config/sections.h"

namespace stoker::cfg {
namespace {

// Headers a remote_write endpoint may not set besides Prometheus' reserved
// ones: the push protocol (Connect) and the HTTP client own them.
const std::set<std::string> kPushHeaders = {"connect-protocol-version", "connect-timeout-ms",
                                            "transfer-encoding"};

}  // namespace

void parse_remote_write(Walker& w, const YAML::Node& n, const std::string& path,
                        RemoteWriteConfig& rw) {
  if (!n.IsMap()) {
    w.error(n, path, "expected a mapping, got " + Walker::kind(n));
    return;
  }
  std::optional<Secret> bearer_token;
  std::string bearer_token_file;
  bool has_url = false;
  w.each(n, path,
         with_http_client_keys({"url", "name", "remote_timeout", "headers", "min_backoff",
                                "max_backoff", "max_retries", "retry_on_http_429"}),
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "url") {
             if (auto s = w.str(v, sub)) {
               has_url = true;
               rw.url = *s;
               while (!rw.url.empty() && rw.url.back() == '/') rw.url.pop_back();
               auto scheme_end = rw.url.find("://");
               std::string scheme =
                   scheme_end == std::string::npos ? "" : rw.url.substr(0, scheme_end);
               auto authority_end =
                   rw.url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
               if (scheme_end != std::string::npos &&
                   rw.url.substr(0, authority_end).find('@') != std::string::npos) {
                 w.error(v, sub,
                         "url must not contain credentials; use basic_auth, authorization or "
                         "bearer_token_file");
               } else if ((scheme != "http" && scheme != "https") ||
                          rw.url.size() <= scheme_end + 3 ||
                          rw.url.find('?') != std::string::npos ||
                          rw.url.find('#') != std::string::npos) {
                 w.error(v, sub,
                         "url must be an http:// or https:// base URL without query, for "
                         "example http://pyroscope:4040, got \"" +
                             *s + "\"");
               }
             }
           } else if (k == "name") {
             if (auto s = w.str(v, sub)) rw.name = *s;
           } else if (k == "remote_timeout") {
             if (auto d = w.duration(v, sub)) {
               if (d->count() <= 0) {
                 w.error(v, sub, "remote_timeout must be greater than 0");
               } else {
                 rw.remote_timeout = *d;
               }
             }
           } else if (k == "headers") {
             Labels h = w.labels(v, sub);
             for (const auto& l : h) {
               std::string lower;
               for (char c : l.name)
                 lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
               if (lower == "authorization") {
                 w.error(v, sub + "." + l.name,
                         "authorization header must be changed via the basic_auth, "
                         "authorization, oauth2 or bearer_token parameter");
               } else if (kReservedHttpHeaders.count(lower) || kPushHeaders.count(lower)) {
                 w.error(v, sub + "." + l.name,
                         l.name + " is a reserved header. It must not be changed");
               }
               rw.headers.emplace_back(l.name, l.value);
             }
           } else if (k == "min_backoff" || k == "max_backoff") {
             if (auto d = w.duration(v, sub)) {
               if (d->count() <= 0) {
                 w.error(v, sub, k + " must be greater than 0");
               } else {
                 (k == "min_backoff" ? rw.min_backoff : rw.max_backoff) = *d;
               }
             }
           } else if (k == "max_retries") {
             if (auto u = w.uint(v, sub)) rw.max_retries = *u;
           } else if (k == "retry_on_http_429") {
             if (auto b = w.boolean(v, sub)) rw.retry_on_http_429 = *b;
           } else {
             parse_http_client(w, k, v, sub, rw.http, bearer_token, bearer_token_file);
           }
         });
  if (!has_url) w.error(n, path + ".url", "url is required");
  if (rw.min_backoff > rw.max_backoff) {
    w.error(n, path,
            "min_backoff (" + format_duration(rw.min_backoff) +
                ") must not be greater than max_backoff (" + format_duration(rw.max_backoff) + ")");
  }
  finish_http_auth(w, n, path, rw.http, bearer_token, bearer_token_file);
}

}  // namespace stoker::cfg
