#include "config/web_config.h"

#include <fstream>
#include <sstream>

#include "config/yaml_walker.h"

namespace stoker {

namespace {

using cfg::Walker;

const std::set<std::string> kClientAuth = {
    "NoClientCert",      "RequestClientCert",       "RequireAnyClientCert",
    "RequireClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"};
const std::set<std::string> kVersions = {"TLS10", "TLS11", "TLS12", "TLS13"};
const std::set<std::string> kCurves = {"CurveP256", "CurveP384", "CurveP521", "X25519"};
// Headers the toolkit refuses in http_server_config.headers (the server owns them).
const std::set<std::string> kReservedHeaders = {
    "authorization", "www-authenticate", "content-encoding", "content-length", "content-type",
    "host",          "connection"};

void parse_tls(Walker& w, const YAML::Node& n, const std::string& path, WebTlsConfig& t) {
  w.each(
      n, path,
      {"cert", "key", "client_ca", "cert_file", "key_file", "client_auth_type", "client_ca_file",
       "cipher_suites", "curve_preferences", "min_version", "max_version",
       "prefer_server_cipher_suites", "client_allowed_sans"},
      [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
        if (k == "cert_file" || k == "key_file" || k == "client_ca_file") {
          std::string f = w.readable_file(v, sub);
          (k == "cert_file" ? t.cert_file : k == "key_file" ? t.key_file : t.client_ca_file) = f;
        } else if (k == "cipher_suites" || k == "curve_preferences" || k == "client_allowed_sans") {
          auto list = w.str_list(v, sub);
          if (k == "curve_preferences") {
            for (const auto& c : list) {
              if (!kCurves.count(c)) w.error(v, sub, "unknown curve: " + c);
            }
            t.curve_preferences = list;
          } else if (k == "cipher_suites") {
            t.cipher_suites = list;
          } else {
            t.client_allowed_sans = list;
          }
        } else if (k == "prefer_server_cipher_suites") {
          if (auto b = w.boolean(v, sub)) t.prefer_server_cipher_suites = *b;
        } else if (auto s = w.str(v, sub)) {
          if (k == "cert") t.cert = *s;
          if (k == "key") t.key.value = *s;
          if (k == "client_ca") t.client_ca = *s;
          if (k == "client_auth_type") {
            t.client_auth_type = s->empty() ? "NoClientCert" : *s;
            if (!kClientAuth.count(t.client_auth_type))
              w.error(v, sub, "invalid ClientAuth: " + *s);
          }
          if (k == "min_version" || k == "max_version") {
            if (!kVersions.count(*s)) {
              w.error(v, sub, "unknown TLS version: " + *s);
            } else {
              (k == "min_version" ? t.min_version : t.max_version) = *s;
            }
          }
        }
      });
  if (t.cert.empty() && t.cert_file.empty()) w.error(n, path, "missing one of cert or cert_file");
  if (t.key.empty() && t.key_file.empty()) w.error(n, path, "missing one of key or key_file");
  bool has_ca = !t.client_ca.empty() || !t.client_ca_file.empty();
  if (has_ca && t.client_auth_type == "NoClientCert") {
    w.error(n, path, "client CA's have been configured without a Client Auth Policy");
  }
  if (!t.client_allowed_sans.empty() && t.client_auth_type != "RequireAnyClientCert" &&
      t.client_auth_type != "RequireClientCert" &&
      t.client_auth_type != "RequireAndVerifyClientCert") {
    w.error(n, path,
            "client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or "
            "RequireAndVerifyClientCert");
  }
  if (t.min_version > t.max_version) {
    w.error(n, path, "min_version " + t.min_version + " is above max_version " + t.max_version);
  }
}

}  // namespace

WebFileConfigResult load_web_config_string(const std::string& yaml, const std::string& name,
                                           const std::string& dir) {
  WebFileConfigResult result;
  Walker w(name, dir, &result.errors);
  YAML::Node root;
  if (!w.load(yaml, &root)) return result;
  WebFileConfig cfg;
  w.each(root, "", {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "tls_server_config") {
             if (v.IsNull() || (v.IsMap() && v.size() == 0)) return;  // TLS off, as the toolkit
             WebTlsConfig t;
             parse_tls(w, v, sub, t);
             cfg.tls = std::move(t);
           } else if (k == "http_server_config") {
             w.each(v, sub, {"http2", "headers"},
                    [&](const std::string& hk, const YAML::Node& hv, const std::string& hs) {
                      if (hk == "http2") {
                        w.boolean(hv, hs);  // accepted; stoker serves HTTP/1.1
                        return;
                      }
                      for (const auto& l : w.labels(hv, hs)) {
                        std::string lower;
                        for (char c : l.name)
                          lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                        if (kReservedHeaders.count(lower)) {
                          w.error(hv, hs + "." + l.name,
                                  "HTTP header " + l.name + " can not be configured");
                        }
                        cfg.headers.emplace_back(l.name, l.value);
                      }
                    });
           } else if (k == "basic_auth_users") {
             for (const auto& l : w.labels(v, sub)) {
               if (l.value.rfind("$2", 0) != 0 || l.value.size() < 59) {
                 w.error(v, sub + "." + l.name,
                         "the password of user " + l.name +
                             " is not a bcrypt hash (make one with htpasswd -nBC 10 \"\" | tr "
                             "-d ':\\n')");
               }
               cfg.basic_auth_users[l.name] = Secret{l.value};
             }
           } else {
             w.error(v, sub, "\"rate_limit\" is not supported by stoker");
           }
         });
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

WebFileConfigResult load_web_config_file(const std::string& path) {
  WebFileConfigResult result;
  auto text = cfg::read_config_file(path, "web config file", &result.errors);
  if (!text) return result;
  return load_web_config_string(*text, path,
                                std::filesystem::absolute(path).parent_path().string());
}

}  // namespace stoker
