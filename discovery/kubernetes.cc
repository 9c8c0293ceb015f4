#include "discovery/kubernetes.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <list>
#include <map>
#include <random>

#include "discovery/kube_objects.h"
#include "model/log.h"
#include "model/text.h"
#include "net/asio_pch.h"
#include "net/http_client.h"

namespace stoker {

namespace asio = boost::asio;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct KindInfo {
  const char* prefix;    // API group path
  const char* resource;  // plural
  bool namespaced;
  const char* role;  // selector role that filters it ("" = none)
};

const KindInfo* kind_info(const std::string& kind) {
  static const std::map<std::string, KindInfo> kKinds = {
      {"Pod", {"/api/v1", "pods", true, "pod"}},
      {"Node", {"/api/v1", "nodes", false, "node"}},
      {"Namespace", {"/api/v1", "namespaces", false, ""}},
      {"Service", {"/api/v1", "services", true, "service"}},
      {"Endpoints", {"/api/v1", "endpoints", true, "endpoints"}},
      {"EndpointSlice", {"/apis/discovery.k8s.io/v1", "endpointslices", true, "endpointslice"}},
      {"Ingress", {"/apis/networking.k8s.io/v1", "ingresses", true, "ingress"}},
      {"ReplicaSet", {"/apis/apps/v1", "replicasets", true, ""}},
      {"Job", {"/apis/batch/v1", "jobs", true, ""}}};
  auto it = kKinds.find(kind);
  return it == kKinds.end() ? nullptr : &it->second;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Skips a JSON string starting at s[i] == '"'; returns the index after it.
size_t skip_string(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// Finds the top-level "items" array of a list response: [*begin, *end] are
// its brackets.
bool find_items_array(std::string_view s, size_t* begin, size_t* end) {
  int depth = 0;
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c == '"') {
      size_t after = skip_string(s, i);
      if (after == std::string_view::npos) return false;
      bool key_items = depth == 1 && s.substr(i, after - i) == "\"items\"";
      i = after;
      if (!key_items) continue;
      while (i < s.size() && (std::isspace(static_cast<unsigned char>(s[i])) || s[i] == ':')) ++i;
      if (i >= s.size() || s[i] != '[') return false;
      *begin = i;
      int d = 0;
      for (size_t j = i; j < s.size();) {
        if (s[j] == '"') {
          j = skip_string(s, j);
          if (j == std::string_view::npos) return false;
          continue;
        }
        if (s[j] == '[' || s[j] == '{') ++d;
        if (s[j] == ']' || s[j] == '}') {
          if (--d == 0) {
            *end = j;
            return true;
          }
        }
        ++j;
      }
      return false;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') --depth;
    ++i;
  }
  return false;
}

// Calls fn(text) for each element of the JSON array s[begin..end].
template <typename F>
bool each_array_element(std::string_view s, size_t begin, size_t end, F&& fn) {
  int depth = 0;
  size_t start = std::string_view::npos;
  for (size_t i = begin + 1; i < end;) {
    char c = s[i];
    if (c == '"') {
      if (depth == 0 && start == std::string_view::npos) start = i;
      i = skip_string(s, i);
      if (i == std::string_view::npos || i > end) return false;
      continue;
    }
    if (c == '{' || c == '[') {
      if (depth == 0) start = i;
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) return false;
      if (depth == 0) {
        if (!fn(s.substr(start, i + 1 - start))) return false;
        start = std::string_view::npos;
      }
    }
    ++i;
  }
  return depth == 0;
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// kubeconfig: the current context's cluster and user.
bool from_kubeconfig(const std::string& path, KubernetesConnection* out, std::string* error) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    *error = path + ": invalid kubeconfig: " + e.what();
    return false;
  }
  std::string dir = fs::path(path).parent_path().string();
  auto rel = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : dir + "/" + p; };
  auto named = [&](const char* list, const std::string& name) -> YAML::Node {
    if (root[list] && root[list].IsSequence()) {
      for (const auto& e : root[list]) {
        if (e["name"] && e["name"].as<std::string>() == name) return e;
      }
    }
    return YAML::Node();
  };
  try {
    std::string current = root["current-context"] ? root["current-context"].as<std::string>() : "";
    if (current.empty()) {
      *error = path + ": kubeconfig has no current-context";
      return false;
    }
    YAML::Node ctx = named("contexts", current);
    if (!ctx || !ctx["context"]) {
      *error = path + ": context \"" + current + "\" not found";
      return false;
    }
    std::string cluster_name = ctx["context"]["cluster"].as<std::string>("");
    std::string user_name = ctx["context"]["user"].as<std::string>("");
    YAML::Node cluster = named("clusters", cluster_name)["cluster"];
    if (!cluster || !cluster["server"]) {
      *error = path + ": cluster \"" + cluster_name + "\" not found or has no server";
      return false;
    }
    out->base_url = cluster["server"].as<std::string>();
    while (!out->base_url.empty() && out->base_url.back() == '/') out->base_url.pop_back();
    // *-data fields are written to a private directory as files.
    auto data_file = [&](const YAML::Node& n, const char* name, std::string* file) -> bool {
      if (!n) return true;
      auto raw = base64_decode(n.as<std::string>());
      if (!raw) {
        *error = path + ": " + name + " is not valid base64";
        return false;
      }
      if (out->temp_dir.empty()) {
        char tmpl[] = "/tmp/stoker-kube-XXXXXX";
        if (!mkdtemp(tmpl)) {
          *error = std::string("cannot create a temporary directory: ") + std::strerror(errno);
          return false;
        }
        out->temp_dir = tmpl;
      }
      *file = out->temp_dir + "/" + name;
      std::ofstream f(*file, std::ios::binary);
      f << *raw;
      return static_cast<bool>(f);
    };
    auto& tls = out->http.tls;
    tls.ca_file = rel(cluster["certificate-authority"].as<std::string>(""));
    if (!data_file(cluster["certificate-authority-data"], "ca.crt", &tls.ca_file)) return false;
    tls.insecure_skip_verify = cluster["insecure-skip-tls-verify"].as<bool>(false);
    tls.server_name = cluster["tls-server-name"].as<std::string>("");
    YAML::Node user = named("users", user_name)["user"];
    if (user) {
      tls.cert_file = rel(user["client-certificate"].as<std::string>(""));
      tls.key_file = rel(user["client-key"].as<std::string>(""));
      if (!data_file(user["client-certificate-data"], "client.crt", &tls.cert_file)) return false;
      if (!data_file(user["client-key-data"], "client.key", &tls.key_file)) return false;
      if (user["token"] || user["tokenFile"]) {
        Authorization a;
        a.credentials.value = user["token"].as<std::string>("");
        a.credentials_file = rel(user["tokenFile"].as<std::string>(""));
        out->http.authorization = a;
      } else if (user["username"]) {
        BasicAuth b;
        b.username = user["username"].as<std::string>();
        b.password.value = user["password"].as<std::string>("");
        out->http.basic_auth = b;
      }
    }
  } catch (const YAML::Exception& e) {
    *error = path + ": invalid kubeconfig: " + e.what();
    return false;
  }
  return true;
}

}  // namespace

Result<KubernetesConnection> resolve_kubernetes_connection(const KubernetesSdConfig& cfg,
                                                           const KubernetesOptions& opts) {
  KubernetesConnection conn;
  KubernetesConnection* out = &conn;
  if (!cfg.api_server.empty()) {
    out->base_url = cfg.api_server;
    out->http = cfg.http;
    return conn;
  }
  if (!cfg.kubeconfig_file.empty()) {
    std::string error;
    if (!from_kubeconfig(cfg.kubeconfig_file, out, &error)) return Status::invalid(error);
    return conn;
  }
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port) {
    return Status::precondition(
        "not running in a Kubernetes cluster (KUBERNETES_SERVICE_HOST and "
        "KUBERNETES_SERVICE_PORT are not set): set api_server or kubeconfig_file");
  }
  std::string h = host;
  out->base_url = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
  std::string token = opts.service_account_dir + "/token";
  if (access(token.c_str(), R_OK) != 0) {
    return Status::precondition("in-cluster: cannot read the service account token " + token);
  }
  Authorization a;
  a.credentials_file = token;  // re-read on every request: token rotation works
  out->http.authorization = a;
  std::string ca = opts.service_account_dir + "/ca.crt";
  if (access(ca.c_str(), R_OK) == 0) out->http.tls.ca_file = ca;
  if (cfg.own_namespace) {
    std::string ns;
    read_file(opts.service_account_dir + "/namespace", &ns);
    out->own_namespace = trim(ns);
    if (out->own_namespace.empty()) {
      return Status::precondition("could not read own namespace name (empty file)");
    }
  }
  return conn;
}

struct KubernetesDiscoverer::Impl : std::enable_shared_from_this<KubernetesDiscoverer::Impl> {
  std::string job;
  KubernetesSdConfig cfg;
  Sink sink;
  std::function<void(const std::string&)> health;  // on_health()
  KubernetesOptions opts;
  KubernetesConnection conn;
  asio::io_context* io = nullptr;
  DiscoveryMetrics* metrics = &DiscoveryMetrics::unregistered();
  std::shared_ptr<HttpClient> client;
  std::unique_ptr<kube::GroupBuilder> builder;
  bool stopping = false;
  // One per coroutine (a signal has one slot); a list keeps their addresses.
  std::list<asio::cancellation_signal> cancels;
  std::mt19937 rng{std::random_device{}()};
  // The first result waits for the first list of every (kind, namespace).
  size_t initial_lists_left = 0;
  bool reported = false;

  ~Impl() {
    if (!conn.temp_dir.empty()) {
      std::error_code ec;
      fs::remove_all(conn.temp_dir, ec);
    }
  }

  std::vector<std::string> namespaces() const {
    std::vector<std::string> out = cfg.namespaces;
    if (cfg.own_namespace && !conn.own_namespace.empty()) out.push_back(conn.own_namespace);
    if (out.empty()) out.emplace_back();  // all namespaces
    return out;
  }

  std::string url(const std::string& kind, const std::string& ns, const std::string& extra) const {
    const KindInfo* k = kind_info(kind);
    std::string u = conn.base_url + k->prefix;
    if (k->namespaced && !ns.empty()) u += "/namespaces/" + url_encode(ns);
    u += std::string("/") + k->resource;
    std::string q;
    for (const auto& sel : cfg.selectors) {
      if (sel.role != k->role) continue;
      if (!sel.label.empty()) q += "&labelSelector=" + url_encode(sel.label);
      if (!sel.field.empty()) q += "&fieldSelector=" + url_encode(sel.field);
    }
    q += extra;
    if (!q.empty()) u += "?" + q.substr(1);
    return u;
  }

  // LIST: the items and the list's resourceVersion.
  asio::awaitable<Status> list(const std::string& kind, const std::string& ns,
                               std::vector<json::object>* items, std::string* rv) {
    HttpRequest req;
    req.url = url(kind, ns, "");
    req.headers = {{"Accept", "application/json"}};
    std::string body;
    bool too_big = false;
    auto res =
        co_await client->stream(req, std::chrono::steady_clock::now() + std::chrono::seconds(60),
                                [&](std::string_view chunk) {
                                  if (body.size() + chunk.size() > opts.max_list_bytes) {
                                    too_big = true;
                                    return false;
                                  }
                                  body.append(chunk);
                                  return true;
                                });
    if (too_big) {
      co_return Status::exhausted("list of " + kind + " exceeds " +
                                  std::to_string(opts.max_list_bytes) + " bytes");
    }
    if (!res.error.ok()) co_return res.error.context("list " + req.url);
    if (res.status != 200) {
      co_return Status::unavailable("list " + req.url + ": HTTP " + std::to_string(res.status) +
                                    " " + res.body.substr(0, 300));
    }
    // Items are parsed one at a time and slimmed at once, so a large list never
    // exists as a whole document: the peak is the response text plus the store.
    items->clear();
    size_t begin = 0, end = 0;
    if (!find_items_array(body, &begin, &end)) {
      co_return Status::invalid("list " + req.url + ": response has no items array");
    }
    std::string bad;
    if (!each_array_element(body, begin, end, [&](std::string_view text) {
          boost::system::error_code ec;
          json::value v = json::parse(text, ec);
          if (ec || !v.is_object()) {
            bad = "an item is not a JSON object";
            return false;
          }
          items->push_back(kube::slim(kind, v.as_object()));
          return true;
        })) {
      co_return Status::invalid("list " + req.url + ": " +
                                (bad.empty() ? "malformed items array" : bad));
    }
    // The rest of the document (without the items) carries the resourceVersion.
    std::string rest = body.substr(0, begin) + "[]" + body.substr(end + 1);
    std::string().swap(body);
    boost::system::error_code ec;
    json::value doc = json::parse(rest, ec);
    if (ec || !doc.is_object()) {
      co_return Status::invalid("list " + req.url + ": response is not a JSON object");
    }
    *rv = "";
    if (auto* meta = doc.as_object().if_contains("metadata"); meta && meta->is_object()) {
      if (auto* v = meta->as_object().if_contains("resourceVersion"); v && v->is_string())
        *rv = std::string(v->as_string());
    }
    co_return Status();
  }

  void deliver(std::vector<TargetGroup> groups) {
    if (stopping || !reported || groups.empty()) return;
    sink(std::move(groups));
  }

  // The first result: every group, once every kind was listed (or the wait
  // for a failing list ran out).
  void report_first() {
    if (stopping || reported) return;
    reported = true;
    sink(builder->current());
  }

  static std::string resource_version(const json::object& o) {
    auto* meta = o.if_contains("metadata");
    if (!meta || !meta->is_object()) return "";
    auto* v = meta->as_object().if_contains("resourceVersion");
    return v && v->is_string() ? std::string(v->as_string()) : "";
  }

  asio::awaitable<bool> sleep(std::chrono::milliseconds d) {
    asio::steady_timer t(*io, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return !stopping;
  }

  // Reports whatever is there if the first lists take longer than this.
  asio::awaitable<void> first_result_deadline() {
    co_await sleep(std::chrono::seconds(30));
    if (!stopping && !reported) {
      log::warn("kubernetes", "not every kind could be listed yet; using what was",
                {{"job", job}, {"lists_missing", std::to_string(initial_lists_left)}});
      report_first();
    }
  }

  // list → watch → (watch again | relist), with backoff, until stopped.
  asio::awaitable<void> run(std::string kind, std::string ns) {
    auto backoff = opts.min_backoff;
    std::string last_error;
    std::string where = kind + (ns.empty() ? "" : " in " + ns);
    bool listed_once = false;
    auto failed = [&](const std::string& err) -> asio::awaitable<bool> {
      metrics->refresh_failures(SdKind::kKubernetes).inc();
      if (health) health(err);
      if (err != last_error) {
        log::warn("kubernetes", "discovery request failed; retrying",
                  {{"job", job}, {"what", where}, {"err", err}});
        last_error = err;
      }
      std::uniform_real_distribution<double> jitter(1.0, 2.0);
      auto wait = std::chrono::milliseconds(
          static_cast<int64_t>(static_cast<double>(backoff.count()) * jitter(rng)));
      backoff = std::min(backoff * 2, opts.max_backoff);
      co_return co_await sleep(std::min(wait, opts.max_backoff));
    };
    while (!stopping) {
      std::vector<json::object> items;
      std::string rv;
      metrics->kube_lists.inc();
      Status listed = co_await list(kind, ns, &items, &rv);
      if (stopping) co_return;
      if (!listed.ok()) {
        if (!co_await failed(listed.message())) co_return;
        continue;
      }
      if (!last_error.empty()) {
        log::info("kubernetes", "discovery recovered", {{"job", job}, {"what", where}});
        last_error.clear();
        if (health) health("");
      }
      backoff = opts.min_backoff;
      deliver(builder->replace(kind, ns, std::move(items)));
      std::vector<json::object>().swap(items);
      if (!listed_once) {
        listed_once = true;
        if (--initial_lists_left == 0) report_first();
      }
      // Watch until the version expires (then relist) or an error (then back off).
      bool relist = false;
      while (!stopping && !relist) {
        std::uniform_int_distribution<int64_t> timeout(opts.min_watch_timeout.count(),
                                                       2 * opts.min_watch_timeout.count() - 1);
        int64_t secs = timeout(rng);
        HttpRequest req;
        req.url = url(kind, ns,
                      "&watch=1&allowWatchBookmarks=true&resourceVersion=" + url_encode(rv) +
                          "&timeoutSeconds=" + std::to_string(secs));
        req.headers = {{"Accept", "application/json"}};
        std::string line_buf, stream_error;
        bool expired = false;
        auto on_data = [&](std::string_view chunk) {
          line_buf.append(chunk);
          size_t start = 0, nl;
          while ((nl = line_buf.find('\n', start)) != std::string::npos) {
            std::string_view line(line_buf.data() + start, nl - start);
            start = nl + 1;
            if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
            boost::system::error_code ec;
            json::value ev = json::parse(line, ec);
            if (ec || !ev.is_object()) {
              stream_error = "watch stream: an event is not JSON";
              return false;
            }
            auto& eo = ev.as_object();
            std::string type = eo.contains("type") && eo.at("type").is_string()
                                   ? std::string(eo.at("type").as_string())
                                   : "";
            auto* objv = eo.if_contains("object");
            if (!objv || !objv->is_object()) continue;
            auto& obj = objv->as_object();
            if (type == "ERROR") {
              int64_t code =
                  obj.contains("code") && obj.at("code").is_int64() ? obj.at("code").as_int64() : 0;
              if (code == 410) {
                expired = true;
              } else {
                stream_error = "watch ERROR event: " + json::serialize(obj).substr(0, 300);
              }
              return false;
            }
            std::string v = resource_version(obj);
            if (!v.empty()) rv = v;
            metrics->kube_events.inc();
            if (type == "BOOKMARK") continue;
            if (type == "ADDED" || type == "MODIFIED") {
              deliver(builder->apply(kind, obj, false));
            } else if (type == "DELETED") {
              deliver(builder->apply(kind, obj, true));
            }
          }
          line_buf.erase(0, start);
          if (line_buf.size() > opts.max_list_bytes) {
            stream_error = "watch event exceeds " + std::to_string(opts.max_list_bytes) + " bytes";
            return false;
          }
          return !stopping;
        };
        metrics->kube_watches.inc();
        auto res = co_await client->stream(
            req, std::chrono::steady_clock::now() + std::chrono::seconds(secs + 60), on_data);
        if (stopping) co_return;
        if (expired || res.status == 410) {
          metrics->kube_expired.inc();
          relist = true;  // the version is too old: start over with a list
          log::debug("kubernetes", "watch expired; relisting", {{"job", job}, {"what", where}});
          break;
        }
        std::string err2 =
            !stream_error.empty()                ? stream_error
            : !res.error.ok() && res.status == 0 ? "watch " + req.url + ": " + res.error.message()
            : res.status != 200 ? "watch " + req.url + ": HTTP " + std::to_string(res.status) +
                                      " " + res.body.substr(0, 300)
                                : "";
        if (!err2.empty()) {
          if (!co_await failed(err2)) co_return;
          relist = true;  // after an error, the state may have drifted: relist
        }
        // A watch that simply timed out is resumed from `rv`.
      }
    }
  }

  // Starts the coroutine `make` returns, with a cancellation signal of its own.
  // `make` holds a reference to this state, which keeps it alive until the
  // coroutine ends.
  template <typename F>
  void spawn(F make) {
    auto& signal = cancels.emplace_back();
    asio::co_spawn(
        *io, std::move(make), asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const boost::system::system_error& ex) {
            if (ex.code() == asio::error::operation_aborted) return;
            log::error("kubernetes", "discovery stopped unexpectedly", {{"err", ex.what()}});
          } catch (const std::exception& ex) {
            log::error("kubernetes", "discovery stopped unexpectedly", {{"err", ex.what()}});
          }
        }));
  }
};

Result<std::unique_ptr<KubernetesDiscoverer>> KubernetesDiscoverer::make(
    std::string job, KubernetesSdConfig cfg, const DiscoveryContext& ctx) {
  auto conn = resolve_kubernetes_connection(cfg, ctx.kubernetes);
  if (!conn) return conn.status();
  std::unique_ptr<KubernetesDiscoverer> d(new KubernetesDiscoverer());
  auto& impl = *d->impl_;
  impl.job = std::move(job);
  impl.cfg = std::move(cfg);
  impl.opts = ctx.kubernetes;
  impl.conn = std::move(*conn);
  impl.io = ctx.io;
  impl.metrics = ctx.metrics;
  impl.client = std::make_shared<HttpClient>(impl.io->get_executor(), impl.conn.http, 0,
                                             "stoker/" STOKER_VERSION_STRING);
  impl.builder = std::make_unique<kube::GroupBuilder>(impl.cfg);
  return d;
}

KubernetesDiscoverer::KubernetesDiscoverer() : impl_(std::make_shared<Impl>()) {}

KubernetesDiscoverer::~KubernetesDiscoverer() {
  stop();
}

void KubernetesDiscoverer::start(Sink sink) {
  auto& d = *impl_;
  d.sink = std::move(sink);
  std::vector<std::pair<std::string, std::string>> streams;
  for (const auto& kind : d.builder->kinds()) {
    const KindInfo* k = kind_info(kind);
    std::vector<std::string> nss = k->namespaced ? d.namespaces() : std::vector<std::string>{""};
    for (const auto& ns : nss) streams.emplace_back(kind, ns);
  }
  d.initial_lists_left = streams.size();
  for (auto& [kind, ns] : streams) {
    d.spawn([self = impl_, kind, ns] { return self->run(kind, ns); });
  }
  d.spawn([self = impl_] { return self->first_result_deadline(); });
}

void KubernetesDiscoverer::on_health(std::function<void(const std::string&)> fn) {
  impl_->health = std::move(fn);
}

void KubernetesDiscoverer::stop() {
  auto& d = *impl_;
  if (d.stopping) return;
  d.stopping = true;
  for (auto& c : d.cancels) c.emit(asio::cancellation_type::terminal);
  if (d.client) d.client->close_idle();
}

Status KubernetesDiscoverer::list_once(const KubernetesSdConfig& cfg, std::vector<TargetGroup>* out,
                                       const KubernetesOptions& opts) {
  auto conn = resolve_kubernetes_connection(cfg, opts);
  if (!conn) return conn.status();
  asio::io_context io;
  auto d = std::make_shared<Impl>();
  d->cfg = cfg;
  d->opts = opts;
  d->conn = std::move(*conn);
  d->io = &io;
  d->client = std::make_shared<HttpClient>(io.get_executor(), d->conn.http, 0,
                                           "stoker/" STOKER_VERSION_STRING);
  d->builder = std::make_unique<kube::GroupBuilder>(cfg);
  auto kinds = d->builder->kinds();
  Status result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Related kinds first, so the role's groups see their metadata.
        for (auto k = kinds.rbegin(); k != kinds.rend(); ++k) {
          const KindInfo* info = kind_info(*k);
          std::vector<std::string> nss =
              info->namespaced ? d->namespaces() : std::vector<std::string>{""};
          for (const auto& ns : nss) {
            std::vector<json::object> items;
            std::string rv;
            result = co_await d->list(*k, ns, &items, &rv);
            if (!result.ok()) co_return;
            d->builder->replace(*k, ns, std::move(items));
          }
        }
      },
      asio::detached);
  io.run();
  d->client->close_idle();  // its sockets belong to `io`
  if (!result.ok()) return result;
  auto groups = d->builder->current();
  out->insert(out->end(), groups.begin(), groups.end());
  return Status();
}

}  // namespace stoker
