#include "discovery/file_sd.h"

#include <glob.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "model/log.h"
#include "net/asio_pch.h"

namespace stoker {

namespace json = boost::json;
namespace asio = boost::asio;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<std::vector<TargetGroup>> parse_json_groups(const std::string& path,
                                                   const std::string& content) {
  std::vector<TargetGroup> groups;
  auto* out = &groups;
  boost::system::error_code ec;
  json::value doc = json::parse(content, ec);
  if (ec) {
    return Status::invalid(path + ": invalid JSON: " + ec.message());
  }
  if (!doc.is_array()) {
    return Status::invalid(path + ": expected a JSON list of target groups");
  }
  for (const auto& g : doc.as_array()) {
    if (g.is_null()) {
      return Status::invalid(path + ": nil target group item found");
    }
    if (!g.is_object()) {
      return Status::invalid(path +
                             ": a target group must be an object with \"targets\" and \"labels\"");
    }
    TargetGroup tg;
    for (const auto& [k, v] : g.as_object()) {
      if (k == "targets") {
        if (!v.is_array()) {
          return Status::invalid(path + ": \"targets\" must be a list of strings");
        }
        for (const auto& t : v.as_array()) {
          if (!t.is_string()) {
            return Status::invalid(path + ": \"targets\" must be a list of strings");
          }
          tg.targets.push_back(Labels{{"__address__", std::string(t.as_string())}});
        }
      } else if (k == "labels") {
        if (v.is_null()) continue;
        if (!v.is_object()) {
          return Status::invalid(path + ": \"labels\" must be an object of strings");
        }
        for (const auto& [lk, lv] : v.as_object()) {
          if (!lv.is_string()) {
            return Status::invalid(path + ": label \"" + std::string(lk) + "\" must be a string");
          }
          tg.labels.set(std::string(lk), std::string(lv.as_string()));
        }
      } else {
        return Status::invalid(path + ": unknown field \"" + std::string(k) + "\" in target group");
      }
    }
    out->push_back(std::move(tg));
  }
  return groups;
}

namespace {

bool parse_yaml_groups(const std::string& path, const std::string& content,
                       std::vector<TargetGroup>* out, std::string* error) {
  auto where = [&](const YAML::Mark& m) {
    return m.is_null()
               ? path
               : path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  };
  YAML::Node doc;
  try {
    doc = YAML::Load(content);
  } catch (const YAML::Exception& e) {
    *error = where(e.mark) + ": invalid YAML: " + e.msg;
    return false;
  }
  if (doc.IsNull()) return true;
  if (!doc.IsSequence()) {
    *error = where(doc.Mark()) + ": expected a list of target groups";
    return false;
  }
  for (const auto& g : doc) {
    if (g.IsNull()) {
      *error = where(g.Mark()) + ": nil target group item found";
      return false;
    }
    if (!g.IsMap()) {
      *error = where(g.Mark()) + ": a target group must be a mapping with targets and labels";
      return false;
    }
    TargetGroup tg;
    for (const auto& kv : g) {
      std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (k == "targets") {
        if (v.IsNull()) continue;
        if (!v.IsSequence()) {
          *error = where(v.Mark()) + ": targets must be a list of strings";
          return false;
        }
        for (const auto& t : v) {
          if (!t.IsScalar()) {
            *error = where(t.Mark()) + ": targets must be a list of strings";
            return false;
          }
          tg.targets.push_back(Labels{{"__address__", t.Scalar()}});
        }
      } else if (k == "labels") {
        if (v.IsNull()) continue;
        if (!v.IsMap()) {
          *error = where(v.Mark()) + ": labels must be a mapping of strings";
          return false;
        }
        for (const auto& l : v) {
          if (!l.second.IsScalar()) {
            *error = where(l.second.Mark()) + ": label " + l.first.Scalar() + " must be a string";
            return false;
          }
          tg.labels.set(l.first.Scalar(), l.second.Scalar());
        }
      } else {
        *error = where(kv.first.Mark()) + ": unknown key \"" + k + "\" in target group";
        return false;
      }
    }
    out->push_back(std::move(tg));
  }
  return true;
}

bool same_groups(const std::vector<TargetGroup>& a, const std::vector<TargetGroup>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].source != b[i].source || !(a[i].labels == b[i].labels) || a[i].targets != b[i].targets)
      return false;
  }
  return true;
}

}  // namespace

Result<std::vector<TargetGroup>> parse_sd_file(const std::string& path,
                                               const std::string& content) {
  std::vector<TargetGroup> groups;
  if (ends_with(path, ".json")) {
    auto parsed = parse_json_groups(path, content);
    if (!parsed) return parsed.status();
    groups = std::move(*parsed);
  } else {
    std::string error;
    if (!parse_yaml_groups(path, content, &groups, &error)) return Status::invalid(error);
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].source = path + ":" + std::to_string(i);
    groups[i].labels.set("__meta_filepath", path);
  }
  return groups;
}

std::vector<std::string> expand_sd_patterns(const std::vector<std::string>& patterns) {
  std::set<std::string> files;
  for (const auto& p : patterns) {
    glob_t g{};
    if (::glob(p.c_str(), 0, nullptr, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; ++i) {
        std::error_code ec;
        if (std::filesystem::is_regular_file(g.gl_pathv[i], ec)) files.insert(g.gl_pathv[i]);
      }
    }
    globfree(&g);
  }
  return {files.begin(), files.end()};
}

void FileSdState::refresh(const std::vector<std::string>& patterns,
                          std::vector<TargetGroup>* updates, std::vector<std::string>* errors) {
  std::map<std::string, std::vector<TargetGroup>> now;
  for (const auto& path : expand_sd_patterns(patterns)) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    auto parsed =
        in ? parse_sd_file(path, buf.str())
           : Result<std::vector<TargetGroup>>(Status::invalid(path + ": cannot read file"));
    if (!parsed) {
      errors->push_back(parsed.error());
      // Keep what the file gave before, as Prometheus does.
      auto it = last_.find(path);
      if (it != last_.end()) now[path] = it->second;
      continue;
    }
    now[path] = std::move(*parsed);
  }
  for (const auto& [path, groups] : now) {
    auto it = last_.find(path);
    if (it != last_.end() && same_groups(it->second, groups)) continue;
    updates->insert(updates->end(), groups.begin(), groups.end());
    if (it != last_.end()) {
      for (size_t i = groups.size(); i < it->second.size(); ++i)
        updates->push_back({it->second[i].source, {}, {}});
    }
  }
  for (const auto& [path, groups] : last_) {
    if (now.count(path)) continue;
    for (const auto& g : groups) updates->push_back({g.source, {}, {}});
  }
  last_ = std::move(now);
}

struct FileDiscoverer::Impl {
  std::vector<std::string> patterns;
  Duration refresh_interval;
  Sink sink;
  DiscoveryMetrics* metrics = nullptr;
  FileSdState state;
  asio::posix::stream_descriptor inotify;
  asio::steady_timer timer;   // the periodic refresh
  asio::steady_timer settle;  // lets a burst of writes settle before reading
  bool stopping = false, settling = false;
  std::set<std::string> logged_errors;
  char events[4096];

  explicit Impl(asio::io_context& io) : inotify(io), timer(io), settle(io) {}

  void refresh(bool first) {
    std::vector<TargetGroup> updates;
    std::vector<std::string> errors;
    state.refresh(patterns, &updates, &errors);
    std::set<std::string> now_errors(errors.begin(), errors.end());
    for (const auto& e : now_errors) {
      if (!logged_errors.count(e)) {
        log::error("discovery", "file_sd file kept its previous targets", {{"err", e}});
      }
    }
    if (!errors.empty()) metrics->refresh_failures(SdKind::kFile).inc();
    logged_errors = std::move(now_errors);
    if (first || !updates.empty()) sink(std::move(updates));
  }

  void schedule_refresh(const std::shared_ptr<Impl>& self) {
    timer.expires_after(refresh_interval);
    timer.async_wait([self](const boost::system::error_code& ec) {
      if (ec || self->stopping) return;
      self->refresh(false);
      self->schedule_refresh(self);
    });
  }

  void watch(const std::shared_ptr<Impl>& self) {
    inotify.async_read_some(
        asio::buffer(events), [self](const boost::system::error_code& ec, size_t) {
          if (ec || self->stopping) return;
          if (!self->settling) {
            self->settling = true;
            self->settle.expires_after(std::chrono::milliseconds(100));
            self->settle.async_wait([self](const boost::system::error_code& sec) {
              self->settling = false;
              if (sec || self->stopping) return;
              self->refresh(false);
            });
          }
          self->watch(self);
        });
  }
};

FileDiscoverer::FileDiscoverer(std::vector<std::string> patterns, Duration refresh_interval,
                               const DiscoveryContext& ctx)
    : impl_(std::make_shared<Impl>(*ctx.io)) {
  impl_->patterns = std::move(patterns);
  impl_->refresh_interval = refresh_interval;
  impl_->metrics = ctx.metrics;
}

FileDiscoverer::~FileDiscoverer() {
  stop();
}

void FileDiscoverer::start(Sink sink) {
  auto& d = *impl_;
  d.sink = std::move(sink);
  int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd >= 0) {
    std::set<std::string> dirs;
    for (const auto& p : d.patterns) dirs.insert(std::filesystem::path(p).parent_path().string());
    for (const auto& dir : dirs) {
      // Renames cover editors and tools that write a temporary file and move it into place.
      if (::inotify_add_watch(fd, dir.empty() ? "." : dir.c_str(),
                              IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO |
                                  IN_MOVED_FROM) < 0) {
        log::warn("discovery", "cannot watch directory; relying on refresh_interval",
                  {{"dir", dir}, {"err", std::strerror(errno)}});
      }
    }
    d.inotify.assign(fd);
    d.watch(impl_);
  }
  // The first result is posted, so that the caller finishes setting up first.
  asio::post(d.timer.get_executor(), [self = impl_] {
    if (self->stopping) return;
    self->refresh(true);
    self->schedule_refresh(self);
  });
}

void FileDiscoverer::stop() {
  auto& d = *impl_;
  if (d.stopping) return;
  d.stopping = true;
  boost::system::error_code ec;
  d.timer.cancel();
  d.settle.cancel();
  d.inotify.close(ec);
}

}  // namespace stoker
