#include "net/web_security.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <boost/asio/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <map>

#include "model/log.h"
#include "model/text.h"

namespace stoker {

namespace {

namespace ssl = boost::asio::ssl;

// Go's cipher suite names (what the toolkit takes) → OpenSSL's, for TLS ≤ 1.2.
// TLS 1.3 suites are accepted and, as in Go, not configurable.
const std::map<std::string, std::string> kCiphers = {
    {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"},
    {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"},
    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"},
    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"},
    {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"},
    {"TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"},
    {"TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"},
    {"TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"},
    {"TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"},
    {"TLS_AES_128_GCM_SHA256", ""},
    {"TLS_AES_256_GCM_SHA384", ""},
    {"TLS_CHACHA20_POLY1305_SHA256", ""},
};

int tls_version(const std::string& v) {
  if (v == "TLS10") return TLS1_VERSION;
  if (v == "TLS11") return TLS1_1_VERSION;
  if (v == "TLS12") return TLS1_2_VERSION;
  return TLS1_3_VERSION;
}

std::string curve_name(const std::string& c) {
  if (c == "CurveP256") return "P-256";
  if (c == "CurveP384") return "P-384";
  if (c == "CurveP521") return "P-521";
  return "X25519";
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string mtime(const std::string& path) {
  std::error_code ec;
  auto t = std::filesystem::last_write_time(path, ec);
  if (ec) return "-";
  return std::to_string(t.time_since_epoch().count());
}

std::string sha256(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), n);
}

}  // namespace

std::shared_ptr<WebSecurity> WebSecurity::open(const std::string& path,
                                               std::vector<std::string>* errors) {
  std::shared_ptr<WebSecurity> s(new WebSecurity(path));
  auto state = s->build(errors);
  if (!state) return nullptr;
  s->state_ = std::move(state);
  s->loaded_fingerprint_ = s->fingerprint();
  s->last_check_ms_ = now_ms();
  return s;
}

std::string WebSecurity::fingerprint() const {
  std::string f = mtime(path_);
  if (state_ && state_->config.tls) {
    const auto& t = *state_->config.tls;
    for (const auto* p : {&t.cert_file, &t.key_file, &t.client_ca_file}) {
      if (!p->empty()) f += "/" + mtime(*p);
    }
  }
  return f;
}

std::shared_ptr<const WebSecurity::State> WebSecurity::build(
    std::vector<std::string>* errors) const {
  auto loaded = load_web_config_file(path_);
  if (!loaded.config) {
    *errors = std::move(loaded.errors);
    return nullptr;
  }
  auto state = std::make_shared<State>();
  state->config = std::move(*loaded.config);
  if (!state->config.tls) return state;
  const WebTlsConfig& t = *state->config.tls;
  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, tls_version(t.min_version));
    SSL_CTX_set_max_proto_version(native, tls_version(t.max_version));
    ctx->set_options(ssl::context::no_compression);
    if (t.prefer_server_cipher_suites) SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (!t.cert_file.empty()) {
      ctx->use_certificate_chain_file(t.cert_file);
    } else {
      ctx->use_certificate_chain(boost::asio::buffer(t.cert));
    }
    if (!t.key_file.empty()) {
      ctx->use_private_key_file(t.key_file, ssl::context::pem);
    } else {
      ctx->use_private_key(boost::asio::buffer(t.key.value), ssl::context::pem);
    }
    std::string ciphers;
    for (const auto& c : t.cipher_suites) {
      auto it = kCiphers.find(c);
      if (it == kCiphers.end()) {
        errors->push_back(path_ + ": tls_server_config.cipher_suites: unknown cipher: " + c);
        return nullptr;
      }
      if (!it->second.empty()) ciphers += (ciphers.empty() ? "" : ":") + it->second;
    }
    if (!ciphers.empty() && SSL_CTX_set_cipher_list(native, ciphers.c_str()) != 1) {
      errors->push_back(path_ + ": tls_server_config.cipher_suites: none is available");
      return nullptr;
    }
    if (!t.curve_preferences.empty()) {
      std::string groups;
      for (const auto& c : t.curve_preferences)
        groups += (groups.empty() ? "" : ":") + curve_name(c);
      SSL_CTX_set1_groups_list(native, groups.c_str());
    }
    if (!t.client_ca_file.empty()) ctx->load_verify_file(t.client_ca_file);
    if (!t.client_ca.empty()) ctx->add_certificate_authority(boost::asio::buffer(t.client_ca));
    const std::string& mode = t.client_auth_type;
    bool verify = mode == "VerifyClientCertIfGiven" || mode == "RequireAndVerifyClientCert";
    bool require = mode == "RequireAnyClientCert" || mode == "RequireClientCert" ||
                   mode == "RequireAndVerifyClientCert";
    if (mode != "NoClientCert") {
      ctx->set_verify_mode(ssl::verify_peer | (require ? ssl::verify_fail_if_no_peer_cert : 0));
      // RequestClientCert and RequireAnyClientCert ask for a certificate but do
      // not verify it against client_ca, as in Go.
      if (!verify) ctx->set_verify_callback([](bool, ssl::verify_context&) { return true; });
    }
    state->ssl = std::move(ctx);
  } catch (const std::exception& e) {
    errors->push_back(path_ + ": tls_server_config: " + e.what());
    return nullptr;
  }
  return state;
}

std::shared_ptr<const WebSecurity::State> WebSecurity::current() {
  std::lock_guard lock(mu_);
  int64_t now = now_ms();
  if (now - last_check_ms_ < 1000) return state_;
  last_check_ms_ = now;
  std::string f = fingerprint();
  if (f == loaded_fingerprint_) return state_;
  loaded_fingerprint_ = f;
  std::vector<std::string> errors;
  auto next = build(&errors);
  if (!next) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
    log::error("web", "web config file changed but cannot be used; keeping the previous one",
               {{"file", path_}, {"err", joined}});
    return state_;
  }
  state_ = std::move(next);
  good_.clear();
  log::info("web", "web config file reloaded", {{"file", path_}});
  return state_;
}

bool WebSecurity::authorized(const State& s, const std::string& authorization) {
  const auto& users = s.config.basic_auth_users;
  if (users.empty()) return true;
  if (authorization.size() < 6 || strncasecmp(authorization.c_str(), "Basic ", 6) != 0)
    return false;
  std::string decoded = base64_decode(authorization.substr(6)).value_or("");
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  std::string user = decoded.substr(0, colon), password = decoded.substr(colon + 1);
  auto it = users.find(user);
  // An unknown user still costs a hash, so timing does not tell which users exist.
  const std::string& hash =
      it != users.end()
          ? it->second.value
          : std::string("$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DSbI.a7CXGb2ZTjFxJQfm");
  std::string key = sha256(user + '\0' + password + '\0' + hash);
  {
    std::lock_guard lock(mu_);
    for (const auto& k : good_) {
      if (k == key) return it != users.end();
    }
  }
  struct crypt_data data {};
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  bool ok = out && hash.size() == std::strlen(out) &&
            CRYPTO_memcmp(out, hash.data(), hash.size()) == 0 && it != users.end();
  if (ok) {
    std::lock_guard lock(mu_);
    good_.push_back(key);
    if (good_.size() > 256) good_.erase(good_.begin());
  }
  return ok;
}

std::string WebSecurity::check_peer(const State& s, SSL* ssl) {
  if (!s.config.tls || s.config.tls->client_allowed_sans.empty()) return "";
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return "client did not present a certificate to match against client_allowed_sans";
  std::vector<std::string> sans;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS || n->type == GEN_EMAIL || n->type == GEN_URI) {
      const ASN1_IA5STRING* v = n->d.ia5;
      sans.emplace_back(reinterpret_cast<const char*>(v->data), static_cast<size_t>(v->length));
    } else if (n->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* v = n->d.ip;
      char buf[64] = {};
      if (v->length == 4) {
        std::snprintf(buf, sizeof buf, "%d.%d.%d.%d", v->data[0], v->data[1], v->data[2],
                      v->data[3]);
        sans.emplace_back(buf);
      }
    }
  }
  GENERAL_NAMES_free(names);
  X509_free(cert);
  for (const auto& san : sans) {
    for (const auto& allowed : s.config.tls->client_allowed_sans) {
      if (san == allowed) return "";
    }
  }
  return "could not find allowed SANs in client cert";
}

}  // namespace stoker
