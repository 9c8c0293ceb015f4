#include "collector/target.h"

#include <algorithm>
#include <map>

namespace stoker {

namespace {

std::string url_escape(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Joins URL path pieces with exactly one slash between them.
std::string join_path(std::string_view prefix, std::string_view path) {
  std::string out(prefix);
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (!out.empty() && out.front() != '/') out.insert(out.begin(), '/');
  if (path.empty() || path.front() != '/') out += '/';
  out += path;
  return out;
}

}  // namespace

std::string scrape_url(const ScrapeConfig& sc, const Labels& labels, const ProfileTypeConfig& type,
                       int64_t delta_seconds) {
  std::string scheme(labels.get("__scheme__"));
  if (scheme.empty()) scheme = sc.scheme;
  std::string path(labels.get("__profile_path__"));
  if (path.empty()) path = type.path;
  std::string url = scheme + "://" + std::string(labels.get("__address__")) +
                    join_path(labels.get("__profile_path_prefix__"), path);
  // Query: config params, each __param_<k> label replacing the first value of k,
  // then seconds=N for delta types; keys sorted like Go's url.Values.Encode.
  std::map<std::string, std::vector<std::string>> q(sc.params.begin(), sc.params.end());
  for (const auto& l : labels) {
    if (l.name.rfind("__param_", 0) == 0) {
      auto& vals = q[l.name.substr(8)];
      if (vals.empty()) {
        vals.push_back(l.value);
      } else {
        vals[0] = l.value;
      }
    }
  }
  if (type.delta) q["seconds"] = {std::to_string(delta_seconds)};
  std::string query;
  for (const auto& [k, vals] : q) {
    for (const auto& v : vals) {
      query += query.empty() ? "?" : "&";
      query += url_escape(k) + "=" + url_escape(v);
    }
  }
  return url + query;
}

Labels Target::profile_labels(const ProfileTypeConfig& type) const {
  Labels out = labels.without_reserved();
  if (!out.has("service_name")) out.set("service_name", job);
  out.set("__name__", type.series_name());
  return out;
}

std::string Target::loop_key(const ProfileEndpoint& ep) const {
  return job + "\x1f" + labels.to_string() + "\x1f" + ep.type.name + "\x1f" + ep.url;
}

std::string Target::state_key(const ProfileEndpoint& ep) const {
  Labels l = labels;
  l.erase("__scrape_interval__");
  l.erase("__scrape_timeout__");
  return job + "\x1f" + l.to_string() + "\x1f" + ep.type.name;
}

Populated populate_labels(const Labels& target, const Labels& group, const ScrapeConfig& sc) {
  Populated p;
  Labels lb = target;
  for (const auto& l : group) {
    if (!lb.has(l.name)) lb.set(l.name, l.value);
  }
  auto set_default = [&](std::string_view name, const std::string& value) {
    if (lb.get(name).empty()) lb.set(name, value);
  };
  set_default("job", sc.job_name);
  set_default("__scrape_interval__", format_duration(sc.scrape_interval));
  set_default("__scrape_timeout__", format_duration(sc.scrape_timeout));
  set_default("__scheme__", sc.scheme);
  if (!sc.path_prefix.empty()) set_default("__profile_path_prefix__", sc.path_prefix);
  for (const auto& [k, vals] : sc.params) {
    if (!vals.empty()) set_default("__param_" + k, vals.front());
  }
  p.discovered = lb;
  if (!sc.relabel->apply(lb)) {
    p.dropped = true;
    return p;
  }
  std::string addr(lb.get("__address__"));
  if (addr.empty()) {
    p.error = "no address";
    return p;
  }
  if (addr.find('/') != std::string::npos) {
    p.error = quote(addr) + " is not a valid hostname";
    return p;
  }
  // Prometheus' exact errors for an unparsable or zero interval or timeout label.
  auto duration_label = [&](std::string_view name, const char* what) -> std::optional<Duration> {
    auto d = parse_duration(lb.get(name));
    if (!d) {
      p.error = std::string("error parsing scrape ") + what + ": " + d.error();
      return std::nullopt;
    }
    if (d->count() == 0) {
      p.error = std::string("scrape ") + what + " cannot be 0";
      return std::nullopt;
    }
    return *d;
  };
  auto interval = duration_label("__scrape_interval__", "interval");
  if (!interval) return p;
  auto timeout = duration_label("__scrape_timeout__", "timeout");
  if (!timeout) return p;
  if (*timeout > *interval) {
    p.error = "scrape timeout cannot be greater than scrape interval (" +
              quote(format_duration(*timeout)) + " > " + quote(format_duration(*interval)) + ")";
    return p;
  }
  p.interval = *interval;
  p.timeout = *timeout;
  // service_name: the target's own label, else Alloy's inference from discovery
  // metadata (read before __meta_* goes); the job name is the last resort, applied
  // per series.
  if (!lb.has("service_name")) {
    std::string annotated(lb.get("__meta_kubernetes_pod_annotation_pyroscope_io_service_name"));
    std::string ns(lb.get("__meta_kubernetes_namespace"));
    std::string container(lb.get("__meta_kubernetes_pod_container_name"));
    if (!annotated.empty()) {
      lb.set("service_name", annotated);
    } else if (!ns.empty() && !container.empty()) {
      lb.set("service_name", ns + "/" + container);
    }
  }
  std::vector<std::string> meta;
  for (const auto& l : lb) {
    if (l.name.rfind("__meta_", 0) == 0) meta.push_back(l.name);
  }
  for (const auto& m : meta) lb.erase(m);
  if (lb.get("instance").empty()) lb.set("instance", addr);
  for (const auto& l : lb) {
    if (!valid_utf8(l.value)) {
      p.error = "invalid label value for " + quote(l.name) + ": " + quote(l.value);
      return p;
    }
  }
  p.labels = std::move(lb);
  return p;
}

std::vector<Target> build_targets(const ScrapeConfig& sc, const std::vector<TargetGroup>& groups) {
  std::vector<Target> out;
  for (const auto& g : groups) {
    for (const auto& t : g.targets) {
      Populated p = populate_labels(t, g.labels, sc);
      Target target;
      target.job = sc.job_name;
      target.discovered = std::move(p.discovered);
      target.labels = std::move(p.labels);
      target.dropped = p.dropped;
      target.error = std::move(p.error);
      target.interval = p.interval;
      if (!target.dropped && target.error.empty()) {
        int64_t seconds = sc.delta_seconds(p.interval);
        for (const auto& type : sc.profiles) {
          if (!type.enabled) continue;
          if (type.delta && seconds < 1) {
            target.error = "scrape interval " + format_duration(p.interval) +
                           " is too short for delta profiling (at least 2s)";
            target.endpoints.clear();
            break;
          }
          ProfileEndpoint ep;
          ep.type = type;
          ep.url = scrape_url(sc, target.labels, type, seconds);
          ep.timeout = p.timeout;
          if (type.delta) ep.timeout += std::chrono::seconds(seconds);
          target.endpoints.push_back(std::move(ep));
        }
      }
      out.push_back(std::move(target));
    }
  }
  return out;
}

}  // namespace stoker
