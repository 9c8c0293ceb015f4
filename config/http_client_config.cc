// HTTP client options shared by scrape configs, Kubernetes SD and remote_write.
#include <set>
#include <string_view>

#include "config/sections.h"

namespace stoker::cfg {

namespace {

// Go's http.CanonicalHeaderKey: "x-my-header" → "X-My-Header".
std::string canonical_header(const std::string& name) {
  std::string out = name;
  bool upper = true;
  for (char& c : out) {
    c = static_cast<char>(upper ? std::toupper(static_cast<unsigned char>(c))
                                : std::tolower(static_cast<unsigned char>(c)));
    upper = c == '-';
  }
  return out;
}

bool is_header_token(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

bool has_line_break(const std::string& v) {
  return v.find_first_of(std::string("\r\n\0", 3)) != std::string::npos;
}

void parse_http_headers(Walker& w, const YAML::Node& v, const std::string& sub,
                        std::vector<HttpHeaderConfig>& out) {
  w.each(
      v, sub, {},
      [&](const std::string& name, const YAML::Node& hv, const std::string& hs) {
        HttpHeaderConfig h;
        h.name = name;
        std::string lower;
        for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!is_header_token(name)) {
          w.error(hv, hs, "\"" + name + "\" is not a valid HTTP header name");
          return;
        }
        if (kReservedHttpHeaders.count(lower)) {
          w.error(hv, hs, "setting header \"" + canonical_header(name) + "\" is not allowed");
          return;
        }
        w.each(hv, hs, {"values", "secrets", "files"},
               [&](const std::string& k, const YAML::Node& x, const std::string& s) {
                 auto list = w.str_list(x, s);
                 for (size_t i = 0; i < list.size(); ++i) {
                   std::string at = s + "[" + std::to_string(i) + "]";
                   if (k == "files") {
                     h.files.push_back(w.readable_file(x[i], at));
                   } else if (has_line_break(list[i])) {
                     w.error(x[i], at, "a header value cannot contain a line break");
                   } else if (k == "values") {
                     h.values.push_back(list[i]);
                   } else {
                     h.secrets.push_back(Secret{list[i]});
                   }
                 }
               });
        out.push_back(std::move(h));
      },
      true);
}

void parse_tls_config(Walker& w, const YAML::Node& v, const std::string& sub, TlsConfig& tls) {
  w.each(v, sub, {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"},
         [&](const std::string& k, const YAML::Node& x, const std::string& s) {
           if (k == "ca_file") tls.ca_file = w.readable_file(x, s);
           if (k == "cert_file") tls.cert_file = w.readable_file(x, s);
           if (k == "key_file") tls.key_file = w.readable_file(x, s);
           if (k == "server_name") {
             if (auto str = w.str(x, s)) tls.server_name = *str;
           }
           if (k == "insecure_skip_verify") {
             if (auto b = w.boolean(x, s)) tls.insecure_skip_verify = *b;
           }
         });
  if (!tls.cert_file.empty() && tls.key_file.empty()) {
    w.error(v, sub,
            "exactly one of key or key_file must be configured when a client certificate is "
            "configured");
  }
  if (tls.cert_file.empty() && !tls.key_file.empty()) {
    w.error(v, sub,
            "exactly one of cert or cert_file must be configured when a client key is configured");
  }
}

bool parse_proxy_key(Walker& w, const std::string& key, const YAML::Node& v, const std::string& sub,
                     ProxyConfig& proxy) {
  if (key == "proxy_url") {
    auto s = w.str(v, sub);
    if (!s || s->empty()) return true;
    auto scheme_end = s->find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : s->substr(0, scheme_end);
    std::string rest = scheme_end == std::string::npos ? "" : s->substr(scheme_end + 3);
    std::string authority = rest.substr(0, rest.find_first_of("/?#"));
    std::string host =
        authority.substr(authority.rfind('@') == std::string::npos ? 0 : authority.rfind('@') + 1);
    if (scheme != "http") {
      w.error(v, sub,
              "stoker supports http:// proxies; proxy_url must look like "
              "http://[user:password@]host:port");
    } else if (host.empty() || host.front() == ':') {
      w.error(v, sub, "proxy_url has no host");
    } else {
      proxy.url = *s;
    }
  } else if (key == "no_proxy") {
    if (auto s = w.str(v, sub)) proxy.no_proxy = *s;
  } else if (key == "proxy_from_environment") {
    if (auto b = w.boolean(v, sub)) proxy.from_environment = *b;
  } else if (key == "proxy_connect_header") {
    w.each(
        v, sub, {},
        [&](const std::string& name, const YAML::Node& hv, const std::string& hs) {
          if (!is_header_token(name)) {
            w.error(hv, hs, "\"" + name + "\" is not a valid HTTP header name");
            return;
          }
          for (const auto& value : w.str_list(hv, hs)) {
            if (has_line_break(value)) {
              w.error(hv, hs, "a header value cannot contain a line break");
            } else {
              proxy.connect_headers.emplace_back(name, Secret{value});
            }
          }
        },
        true);
  } else {
    return false;
  }
  return true;
}

void validate_proxy(Walker& w, const YAML::Node& n, const std::string& path,
                    const ProxyConfig& proxy, bool has_url_key) {
  bool has_url = !proxy.url.empty() || has_url_key;
  if (!proxy.connect_headers.empty() && !proxy.from_environment && !has_url) {
    w.error(n, path,
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must "
            "also be configured");
  } else if (proxy.from_environment && has_url) {
    w.error(n, path, "if proxy_from_environment is configured, proxy_url must not be configured");
  } else if (proxy.from_environment && !proxy.no_proxy.empty()) {
    w.error(n, path, "if proxy_from_environment is configured, no_proxy must not be configured");
  } else if (!has_url && !proxy.no_proxy.empty()) {
    w.error(n, path, "if no_proxy is configured, proxy_url must also be configured");
  }
}

void parse_oauth2(Walker& w, const YAML::Node& v, const std::string& sub, HttpClientConfig& http) {
  OAuth2Config o;
  bool has_secret = false, has_proxy_url = false;
  w.each(
      v, sub,
      {"client_id", "client_secret", "client_secret_file", "scopes", "token_url", "endpoint_params",
       "tls_config", "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header"},
      [&](const std::string& k, const YAML::Node& x, const std::string& s) {
        if (k == "client_id") {
          if (auto str = w.str(x, s)) o.client_id = *str;
        } else if (k == "client_secret") {
          if (auto str = w.str(x, s)) o.client_secret.value = *str;
          has_secret = !o.client_secret.empty();
        } else if (k == "client_secret_file") {
          o.client_secret_file = w.readable_file(x, s);
        } else if (k == "scopes") {
          o.scopes = w.str_list(x, s);
        } else if (k == "token_url") {
          if (auto str = w.str(x, s)) {
            o.token_url = *str;
            if (!o.token_url.empty() && o.token_url.rfind("http://", 0) != 0 &&
                o.token_url.rfind("https://", 0) != 0) {
              w.error(x, s, "token_url must be an http:// or https:// URL");
            }
          }
        } else if (k == "endpoint_params") {
          Labels params = w.labels(x, s);
          for (const auto& l : params) o.endpoint_params[l.name] = l.value;
        } else if (k == "tls_config") {
          parse_tls_config(w, x, s, o.tls);
        } else {
          if (k == "proxy_url") has_proxy_url = true;
          parse_proxy_key(w, k, x, s, o.proxy);
        }
      });
  // HTTPClientConfig.Validate's oauth2 checks, with Prometheus' words.
  if (o.client_id.empty()) {
    w.error(v, sub, "oauth2 client_id must be configured");
  } else if (o.token_url.empty()) {
    w.error(v, sub, "oauth2 token_url must be configured");
  } else if (has_secret && !o.client_secret_file.empty()) {
    w.error(v, sub,
            "at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be "
            "configured");
  }
  validate_proxy(w, v, sub, o.proxy, has_proxy_url);
  http.oauth2 = std::move(o);
}

}  // namespace

void parse_http_client(Walker& w, const std::string& key, const YAML::Node& v,
                       const std::string& sub, HttpClientConfig& http,
                       std::optional<Secret>& bearer_token, std::string& bearer_token_file) {
  if (key == "basic_auth") {
    BasicAuth ba;
    bool has_password = false;
    w.each(v, sub, {"username", "password", "password_file"},
           [&](const std::string& k, const YAML::Node& x, const std::string& s) {
             if (k == "username") {
               if (auto str = w.str(x, s)) ba.username = *str;
             } else if (k == "password") {
               if (auto str = w.str(x, s)) ba.password.value = *str;
               has_password = true;
             } else {
               ba.password_file = w.readable_file(x, s);
             }
           });
    if (has_password && !ba.password_file.empty()) {
      w.error(v, sub, "at most one of basic_auth password & password_file must be configured");
    }
    http.basic_auth = std::move(ba);
  } else if (key == "authorization") {
    Authorization a;
    w.each(v, sub, {"type", "credentials", "credentials_file"},
           [&](const std::string& k, const YAML::Node& x, const std::string& s) {
             if (k == "type") {
               if (auto str = w.str(x, s)) {
                 std::string t = *str;
                 while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back())))
                   t.pop_back();
                 while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front())))
                   t.erase(0, 1);
                 a.type = t.empty() ? "Bearer" : t;
                 std::string lower;
                 for (char c : a.type)
                   lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                 if (lower == "basic") {
                   w.error(
                       x, s,
                       "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
                 }
               }
             } else if (k == "credentials") {
               if (auto str = w.str(x, s)) a.credentials.value = *str;
             } else {
               a.credentials_file = w.readable_file(x, s);
             }
           });
    if (!a.credentials.empty() && !a.credentials_file.empty()) {
      w.error(v, sub,
              "at most one of authorization credentials & credentials_file must be configured");
    }
    http.authorization = std::move(a);
  } else if (key == "bearer_token") {
    if (auto s = w.str(v, sub)) bearer_token = Secret{*s};
  } else if (key == "bearer_token_file") {
    bearer_token_file = w.readable_file(v, sub);
  } else if (key == "tls_config") {
    parse_tls_config(w, v, sub, http.tls);
  } else if (key == "follow_redirects") {
    if (auto b = w.boolean(v, sub)) http.follow_redirects = *b;
  } else if (key == "enable_http2") {
    w.boolean(v, sub);  // accepted for compatibility; stoker speaks HTTP/1.1
  } else if (key == "http_headers") {
    parse_http_headers(w, v, sub, http.headers);
  } else if (key == "oauth2") {
    parse_oauth2(w, v, sub, http);
  } else {
    parse_proxy_key(w, key, v, sub, http.proxy);
  }
}

void finish_http_auth(Walker& w, const YAML::Node& n, const std::string& path,
                      HttpClientConfig& http, const std::optional<Secret>& bearer_token,
                      const std::string& bearer_token_file) {
  if (bearer_token && !bearer_token_file.empty()) {
    w.error(n, path, "at most one of bearer_token & bearer_token_file must be configured");
  } else if (http.authorization && (bearer_token || !bearer_token_file.empty())) {
    w.error(n, path, "authorization is not compatible with bearer_token & bearer_token_file");
  } else if (http.basic_auth && (bearer_token || !bearer_token_file.empty())) {
    w.error(
        n, path,
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
  } else if (http.oauth2 && (bearer_token || !bearer_token_file.empty())) {
    w.error(
        n, path,
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
  } else if ((http.basic_auth || http.oauth2) && http.authorization) {
    w.error(n, path, "at most one of basic_auth, oauth2 & authorization must be configured");
  } else if (http.basic_auth && http.oauth2) {
    w.error(n, path, "at most one of basic_auth, oauth2 & authorization must be configured");
  } else if (bearer_token || !bearer_token_file.empty()) {
    Authorization a;
    if (bearer_token) a.credentials = *bearer_token;
    a.credentials_file = bearer_token_file;
    http.authorization = std::move(a);
  }
  validate_proxy(w, n, path, http.proxy, false);
}

}  // namespace stoker::cfg
