#include "tests/support/fake_kube.h"

#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <stdexcept>

#include "tests/support/process.h"

namespace stoker::test {

namespace json = boost::json;

namespace {

struct ResourceInfo {
  const char* kind;
  bool namespaced;
};

const std::map<std::string, ResourceInfo>& resources() {
  static const std::map<std::string, ResourceInfo> r = {{"pods", {"Pod", true}},
                                                        {"nodes", {"Node", false}},
                                                        {"namespaces", {"Namespace", false}},
                                                        {"services", {"Service", true}},
                                                        {"endpoints", {"Endpoints", true}},
                                                        {"endpointslices", {"EndpointSlice", true}},
                                                        {"ingresses", {"Ingress", true}},
                                                        {"replicasets", {"ReplicaSet", true}},
                                                        {"jobs", {"Job", true}}};
  return r;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string meta_str(const json::object& o, const char* key) {
  auto* m = o.if_contains("metadata");
  if (!m || !m->is_object()) return "";
  auto* v = m->as_object().if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

// Equality-based label selector terms, as the API server applies them.
bool labels_match(const json::object& o, const std::string& selector) {
  if (selector.empty()) return true;
  const json::object* labels = nullptr;
  if (auto* m = o.if_contains("metadata"); m && m->is_object()) {
    if (auto* l = m->as_object().if_contains("labels"); l && l->is_object())
      labels = &l->as_object();
  }
  auto get = [&](const std::string& k, std::string* v) {
    if (!labels || !labels->contains(k) || !labels->at(k).is_string()) return false;
    *v = std::string(labels->at(k).as_string());
    return true;
  };
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string term =
        selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::string v;
    if (auto ne = term.find("!="); ne != std::string::npos) {
      if (get(term.substr(0, ne), &v) && v == term.substr(ne + 2)) return false;
    } else if (auto eq = term.find('='); eq != std::string::npos) {
      std::string want = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
      if (!get(term.substr(0, eq), &v) || v != want) return false;
    } else if (!term.empty() && term[0] == '!') {
      if (get(term.substr(1), &v)) return false;
    } else if (!term.empty() && !get(term, &v)) {
      return false;
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

bool fields_match(const json::object& o, const std::string& selector) {
  if (selector.empty()) return true;
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string term =
        selector.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto eq = term.find('=');
    bool negate = eq > 0 && term[eq - 1] == '!';
    std::string field = term.substr(0, negate ? eq - 1 : eq);
    std::string want = term.substr(term[eq + 1] == '=' ? eq + 2 : eq + 1);
    std::string have;
    if (field == "spec.nodeName") {
      if (auto* s = o.if_contains("spec"); s && s->is_object()) {
        if (auto* n = s->as_object().if_contains("nodeName"); n && n->is_string())
          have = std::string(n->as_string());
      }
    } else if (field == "metadata.name") {
      have = meta_str(o, "name");
    } else if (field == "metadata.namespace") {
      have = meta_str(o, "namespace");
    }
    if ((have == want) == negate) return false;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return true;
}

// One connection's byte stream, plain or TLS.
struct Conn {
  int fd;
  SSL* ssl = nullptr;
  ssize_t read(char* buf, size_t n) {
    return ssl ? SSL_read(ssl, buf, static_cast<int>(n)) : ::recv(fd, buf, n, 0);
  }
  bool write(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ssl ? SSL_write(ssl, data.data() + sent, static_cast<int>(data.size() - sent))
                      : ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
};

std::string response(int status, const std::string& reason, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

std::string chunk(const std::string& data) {
  char len[32];
  std::snprintf(len, sizeof len, "%zx\r\n", data.size());
  return len + data + "\r\n";
}

}  // namespace

FakeKube::FakeKube(Options opts) : opts_(std::move(opts)) {
  // SSL_write to a client that went away must not kill the test process.
  ::signal(SIGPIPE, SIG_IGN);
  if (!opts_.cert_file.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, opts_.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, opts_.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("fake kube: cannot load the TLS certificate");
    }
    ssl_ctx_ = ctx;
  }
  listen_fd_ = listen_loopback(0, 128, &port_, "fake kube");
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeKube::~FakeKube() {
  stopping_ = true;
  cv_.notify_all();
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : workers_) t.join();
  if (ssl_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::string FakeKube::url() const {
  return std::string(ssl_ctx_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

void FakeKube::record(const std::string& type, const std::string& kind, json::object obj) {
  {
    std::lock_guard lock(mu_);
    int64_t rv = ++rv_;
    obj["metadata"].as_object()["resourceVersion"] = std::to_string(rv);
    std::string key = meta_str(obj, "namespace") + "/" + meta_str(obj, "name");
    if (type == "DELETED") {
      objects_[kind].erase(key);
    } else {
      objects_[kind][key] = obj;
    }
    events_.push_back({rv, type, kind, std::move(obj)});
  }
  cv_.notify_all();
}

void FakeKube::create(const std::string& kind, json::object obj) {
  record("ADDED", kind, std::move(obj));
}
void FakeKube::update(const std::string& kind, json::object obj) {
  record("MODIFIED", kind, std::move(obj));
}
void FakeKube::remove(const std::string& kind, const std::string& ns, const std::string& name) {
  json::object obj;
  {
    std::lock_guard lock(mu_);
    auto it = objects_[kind].find(ns + "/" + name);
    if (it == objects_[kind].end()) return;
    obj = it->second;
  }
  record("DELETED", kind, std::move(obj));
}

void FakeKube::compact() {
  std::lock_guard lock(mu_);
  compacted_ = ++rv_;  // every version handed out so far is now too old
}

void FakeKube::bookmark() {
  {
    std::lock_guard lock(mu_);
    json::object obj{{"metadata", json::object{{"resourceVersion", std::to_string(rv_)}}}};
    events_.push_back({rv_, "BOOKMARK", "*", std::move(obj)});
  }
  cv_.notify_all();
}

void FakeKube::drop_watches() {
  {
    std::lock_guard lock(mu_);
    ++drop_epoch_;
  }
  cv_.notify_all();
}

int FakeKube::lists(const std::string& kind) const {
  std::lock_guard lock(mu_);
  auto it = lists_.find(kind);
  return it == lists_.end() ? 0 : it->second;
}

int FakeKube::watches(const std::string& kind) const {
  std::lock_guard lock(mu_);
  auto it = watches_.find(kind);
  return it == watches_.end() ? 0 : it->second;
}

int64_t FakeKube::version() const {
  std::lock_guard lock(mu_);
  return rv_;
}

void FakeKube::accept_loop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { serve(fd); });
  }
}

void FakeKube::serve(int fd) {
  Conn c{fd};
  if (ssl_ctx_) {
    c.ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(c.ssl, fd);
    if (SSL_accept(c.ssl) != 1) {
      SSL_free(c.ssl);
      ::close(fd);
      return;
    }
  }
  auto finish = [&] {
    if (c.ssl) {
      SSL_shutdown(c.ssl);
      SSL_free(c.ssl);
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  };
  // One request per connection (the client asks for Connection: close on watches).
  std::string buf;
  char tmp[4096];
  while (buf.find("\r\n\r\n") == std::string::npos) {
    if (!c.ssl) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        if (stopping_) return finish();
        continue;
      }
    }
    ssize_t n = c.read(tmp, sizeof tmp);
    if (n <= 0) return finish();
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string head = buf.substr(0, buf.find("\r\n\r\n"));
  std::string first = head.substr(0, head.find("\r\n"));
  auto sp1 = first.find(' '), sp2 = first.rfind(' ');
  std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string auth;
  for (size_t pos = head.find("\r\n"); pos != std::string::npos;) {
    size_t e = head.find("\r\n", pos + 2);
    std::string line =
        head.substr(pos + 2, e == std::string::npos ? std::string::npos : e - pos - 2);
    if (line.size() > 14 && strncasecmp(line.c_str(), "authorization:", 14) == 0) {
      auth = line.substr(14);
      while (!auth.empty() && auth.front() == ' ') auth.erase(0, 1);
    }
    pos = e;
  }
  if (!opts_.token.empty() && auth != "Bearer " + opts_.token) {
    ++unauthorized_;
    c.write(response(
        401, "Unauthorized",
        R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})"));
    return finish();
  }
  // Path: /api/v1[/namespaces/<ns>]/<resource> or /apis/<g>/<v>[/namespaces/<ns>]/<resource>.
  std::string path = target.substr(0, target.find('?'));
  std::map<std::string, std::string> q;
  if (auto qm = target.find('?'); qm != std::string::npos) {
    std::string qs = target.substr(qm + 1);
    size_t start = 0;
    while (start < qs.size()) {
      size_t amp = qs.find('&', start);
      std::string kv = qs.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      auto eq = kv.find('=');
      q[kv.substr(0, eq)] = eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  std::vector<std::string> parts;
  for (size_t s = 1; s <= path.size();) {
    size_t e = path.find('/', s);
    parts.push_back(path.substr(s, e == std::string::npos ? std::string::npos : e - s));
    if (e == std::string::npos) break;
    s = e + 1;
  }
  size_t base = parts.size() >= 2 && parts[0] == "api" ? 2 : 3;  // api/v1 | apis/g/v
  std::string ns, resource;
  if (parts.size() == base + 3 && parts[base] == "namespaces") {
    ns = parts[base + 1];
    resource = parts[base + 2];
  } else if (parts.size() == base + 1) {
    resource = parts[base];
  }
  auto res_it = resources().find(resource);
  if (res_it == resources().end()) {
    c.write(response(404, "Not Found", R"({"kind":"Status","code":404})"));
    return finish();
  }
  std::string kind = res_it->second.kind;
  auto visible = [&](const std::string& ev_kind, const json::object& o) {
    if (ev_kind != kind) return false;
    if (!ns.empty() && meta_str(o, "namespace") != ns) return false;
    return labels_match(o, q["labelSelector"]) && fields_match(o, q["fieldSelector"]);
  };

  if (q.count("watch") == 0) {
    json::array items;
    int64_t rv;
    {
      std::lock_guard lock(mu_);
      ++lists_[kind];
      rv = rv_;
      for (const auto& [key, o] : objects_[kind]) {
        if (visible(kind, o)) items.push_back(o);
      }
    }
    json::object list{{"kind", kind + "List"},
                      {"apiVersion", "v1"},
                      {"metadata", json::object{{"resourceVersion", std::to_string(rv)}}},
                      {"items", std::move(items)}};
    c.write(response(200, "OK", json::serialize(list)));
    return finish();
  }

  // WATCH: events after resourceVersion, then new ones until the timeout.
  int64_t from = std::stoll(q["resourceVersion"].empty() ? "0" : q["resourceVersion"]);
  int64_t timeout = q.count("timeoutSeconds") ? std::stoll(q["timeoutSeconds"]) : 300;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
  c.write(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n");
  ++open_watches_;
  std::unique_lock lock(mu_);
  ++watches_[kind];
  uint64_t epoch = drop_epoch_;
  if (from < compacted_) {
    ++gone_;
    lock.unlock();
    c.write(chunk(
        R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version","reason":"Expired","code":410}})"
        "\n"));
    c.write("0\r\n\r\n");
    --open_watches_;
    return finish();
  }
  size_t next = 0;
  while (!stopping_ && epoch == drop_epoch_) {
    std::string out;
    for (; next < events_.size(); ++next) {
      const Event& e = events_[next];
      if (e.rv <= from && e.type != "BOOKMARK") continue;
      if (e.type == "BOOKMARK") {
        if (q["allowWatchBookmarks"] != "true") continue;
        json::object bm = e.obj;
        bm["kind"] = kind;
        out += chunk(json::serialize(json::object{{"type", "BOOKMARK"}, {"object", bm}}) + "\n");
        continue;
      }
      if (!visible(e.kind, e.obj)) continue;
      out += chunk(json::serialize(json::object{{"type", e.type}, {"object", e.obj}}) + "\n");
    }
    if (!out.empty()) {
      lock.unlock();
      bool ok = c.write(out);
      lock.lock();
      if (!ok) break;
    }
    if (cv_.wait_until(lock, deadline, [&] {
          return stopping_ || epoch != drop_epoch_ || next < events_.size();
        }) == false) {
      break;  // timeoutSeconds elapsed
    }
  }
  lock.unlock();
  if (epoch == drop_epoch_) c.write("0\r\n\r\n");
  --open_watches_;
  finish();
}

void make_test_certs(const std::string& d) {
  std::string cmd =
      "cd " + d +
      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
      "-subj /CN=stoker-test-ca 2>/dev/null && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "
      "/CN=stoker.test 2>/dev/null && "
      "printf 'subjectAltName=DNS:stoker.test,IP:127.0.0.1\\n' > ext.cnf && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
      "-days 2 -extfile ext.cnf 2>/dev/null";
  int status = 0;
  run_command(cmd, &status);
  if (status != 0) throw std::runtime_error("openssl could not make the test certificates");
}

std::string bcrypt_hash(const std::string& password) {
  struct crypt_data data {};
  char salt[64];
  if (!crypt_gensalt_rn("$2b$", 10, nullptr, 0, salt, sizeof salt)) {
    throw std::runtime_error("crypt_gensalt_rn failed");
  }
  return crypt_r(password.c_str(), salt, &data);
}

}  // namespace stoker::test
