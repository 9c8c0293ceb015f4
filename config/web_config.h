// WebFileConfig: the web configuration file of Prometheus' exporter toolkit
// (`--web.config.file`): TLS for the HTTP server (`tls_server_config`),
// response headers (`http_server_config`) and `basic_auth_users` with bcrypt
// hashes. Loading is strict like the main config: unknown keys, bad values and
// inconsistent TLS settings are errors naming file:line:col, with the toolkit's
// words. Relative paths are resolved against the file's directory. Immutable
// value, thread-safe to share.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace stoker {

struct WebTlsConfig {
  std::string cert, cert_file;  // PEM inline, or a file
  Secret key;
  std::string key_file;
  std::string client_ca, client_ca_file;
  std::string client_auth_type = "NoClientCert";  // as the toolkit names Go's modes
  std::string min_version = "TLS12", max_version = "TLS13";
  std::vector<std::string> cipher_suites;  // Go names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  std::vector<std::string> curve_preferences;  // CurveP256, CurveP384, CurveP521, X25519
  bool prefer_server_cipher_suites = true;
  std::vector<std::string> client_allowed_sans;
};

struct WebFileConfig {
  std::optional<WebTlsConfig> tls;                           // unset: plain HTTP
  std::vector<std::pair<std::string, std::string>> headers;  // http_server_config.headers
  std::map<std::string, Secret> basic_auth_users;            // user → bcrypt hash
};

struct WebFileConfigResult {
  std::optional<WebFileConfig> config;
  std::vector<std::string> errors;
};

WebFileConfigResult load_web_config_file(const std::string& path);
WebFileConfigResult load_web_config_string(const std::string& yaml, const std::string& name,
                                           const std::string& dir);

}  // namespace stoker
