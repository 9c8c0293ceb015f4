// HTTP client options shared by scrape configs, Kubernetes SD and remote_write.
#include "config/sections.h"

namespace stoker::cfg {

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
    w.each(v, sub, {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"},
           [&](const std::string& k, const YAML::Node& x, const std::string& s) {
             if (k == "ca_file") http.tls.ca_file = w.readable_file(x, s);
             if (k == "cert_file") http.tls.cert_file = w.readable_file(x, s);
             if (k == "key_file") http.tls.key_file = w.readable_file(x, s);
             if (k == "server_name") {
               if (auto str = w.str(x, s)) http.tls.server_name = *str;
             }
             if (k == "insecure_skip_verify") {
               if (auto b = w.boolean(x, s)) http.tls.insecure_skip_verify = *b;
             }
           });
    if (!http.tls.cert_file.empty() && http.tls.key_file.empty()) {
      w.error(v, sub,
              "exactly one of key or key_file must be configured when a client certificate is "
              "configured");
    }
    if (http.tls.cert_file.empty() && !http.tls.key_file.empty()) {
      w.error(
          v, sub,
          "exactly one of cert or cert_file must be configured when a client key is configured");
    }
  } else if (key == "follow_redirects") {
    if (auto b = w.boolean(v, sub)) http.follow_redirects = *b;
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
  } else if (http.basic_auth && http.authorization) {
    w.error(n, path, "at most one of basic_auth, oauth2 & authorization must be configured");
  } else if (bearer_token || !bearer_token_file.empty()) {
    Authorization a;
    if (bearer_token) a.credentials = *bearer_token;
    a.credentials_file = bearer_token_file;
    http.authorization = std::move(a);
  }
}

}  // namespace stoker::cfg
