#include "discovery/file_sd.h"

#include <glob.h>
#include <poll.h>
#include <sys/eventfd.h>
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

namespace stoker {

namespace json = boost::json;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool parse_json_groups(const std::string& path, const std::string& content,
                       std::vector<TargetGroup>* out, std::string* error) {
  boost::system::error_code ec;
  json::value doc = json::parse(content, ec);
  if (ec) {
    *error = path + ": invalid JSON: " + ec.message();
    return false;
  }
  if (!doc.is_array()) {
    *error = path + ": expected a JSON list of target groups";
    return false;
  }
  for (const auto& g : doc.as_array()) {
    if (g.is_null()) {
      *error = path + ": nil target group item found";
      return false;
    }
    if (!g.is_object()) {
      *error = path + ": a target group must be an object with \"targets\" and \"labels\"";
      return false;
    }
    TargetGroup tg;
    for (const auto& [k, v] : g.as_object()) {
      if (k == "targets") {
        if (!v.is_array()) {
          *error = path + ": \"targets\" must be a list of strings";
          return false;
        }
        for (const auto& t : v.as_array()) {
          if (!t.is_string()) {
            *error = path + ": \"targets\" must be a list of strings";
            return false;
          }
          tg.targets.push_back(Labels{{"__address__", std::string(t.as_string())}});
        }
      } else if (k == "labels") {
        if (v.is_null()) continue;
        if (!v.is_object()) {
          *error = path + ": \"labels\" must be an object of strings";
          return false;
        }
        for (const auto& [lk, lv] : v.as_object()) {
          if (!lv.is_string()) {
            *error = path + ": label \"" + std::string(lk) + "\" must be a string";
            return false;
          }
          tg.labels.set(std::string(lk), std::string(lv.as_string()));
        }
      } else {
        *error = path + ": unknown field \"" + std::string(k) + "\" in target group";
        return false;
      }
    }
    out->push_back(std::move(tg));
  }
  return true;
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

bool parse_sd_file(const std::string& path, const std::string& content,
                   std::vector<TargetGroup>* groups, std::string* error) {
  groups->clear();
  bool ok = ends_with(path, ".json") ? parse_json_groups(path, content, groups, error)
                                     : parse_yaml_groups(path, content, groups, error);
  if (!ok) return false;
  for (size_t i = 0; i < groups->size(); ++i) {
    (*groups)[i].source = path + ":" + std::to_string(i);
    (*groups)[i].labels.set("__meta_filepath", path);
  }
  return true;
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
    std::vector<TargetGroup> groups;
    std::string err;
    if (!in || !parse_sd_file(path, buf.str(), &groups, &err)) {
      if (err.empty()) err = path + ": cannot read file";
      errors->push_back(err);
      // Keep what the file gave before, as Prometheus does.
      auto it = last_.find(path);
      if (it != last_.end()) now[path] = it->second;
      continue;
    }
    now[path] = std::move(groups);
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

FileDiscoverer::FileDiscoverer(std::vector<std::string> patterns, Duration refresh_interval,
                               Callback on_update)
    : patterns_(std::move(patterns)),
      refresh_(refresh_interval),
      on_update_(std::move(on_update)) {}

FileDiscoverer::~FileDiscoverer() {
  stop();
}

void FileDiscoverer::start() {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

void FileDiscoverer::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(stop_fd_);
  stop_fd_ = -1;
}

void FileDiscoverer::run() {
  int ino = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  std::set<std::string> dirs;
  for (const auto& p : patterns_) dirs.insert(std::filesystem::path(p).parent_path().string());
  for (const auto& d : dirs) {
    // Renames cover editors and tools that write a temporary file and move it into place.
    if (ino >= 0 && ::inotify_add_watch(ino, d.empty() ? "." : d.c_str(),
                                        IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                            IN_MOVED_TO | IN_MOVED_FROM) < 0) {
      log::warn("discovery", "cannot watch directory; relying on refresh_interval",
                {{"dir", d}, {"err", std::strerror(errno)}});
    }
  }
  std::set<std::string> logged_errors;
  auto refresh = [&] {
    std::vector<TargetGroup> updates;
    std::vector<std::string> errors;
    state_.refresh(patterns_, &updates, &errors);
    std::set<std::string> now_errors(errors.begin(), errors.end());
    for (const auto& e : now_errors) {
      if (!logged_errors.count(e))
        log::error("discovery", "file_sd file kept its previous targets", {{"err", e}});
    }
    logged_errors = std::move(now_errors);
    if (!updates.empty()) on_update_(std::move(updates));
  };
  refresh();
  while (true) {
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {ino, POLLIN, 0}};
    int rc = ::poll(fds, ino >= 0 ? 2 : 1,
                    static_cast<int>(std::min<int64_t>(refresh_.count(), INT32_MAX)));
    if (rc > 0 && (fds[0].revents & POLLIN)) break;
    if (rc > 0 && ino >= 0 && (fds[1].revents & POLLIN)) {
      char buf[4096];
      while (::read(ino, buf, sizeof buf) > 0) {
      }
      // Let a burst of writes settle before reading the files.
      ::poll(fds, 1, 100);
    }
    refresh();
  }
  if (ino >= 0) ::close(ino);
}

}  // namespace stoker
