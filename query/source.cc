#include "query/source.h"

#include <re2/re2.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "proto/profile.pb.h"
#include "query/graph.h"

namespace stoker::query {

namespace {

constexpr int64_t kMargin = 5;               // lines shown around the costly ones, as pprof
constexpr std::streamsize kMaxFile = 16 << 20;

std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) return {};
  return buf;
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string strip_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

SourceLocator::SourceLocator(std::vector<Rewrite> rewrites, std::vector<std::string> roots)
    : rewrites_(std::move(rewrites)), restricted_(!roots.empty()) {
  for (const auto& r : roots) {
    std::string c = canonical(r);
    if (!c.empty()) roots_.push_back(c);
  }
}

void SourceLocator::add_go_defaults() {
  goroot_ = env("GOROOT");
  for (const char* d : {"/usr/lib/go", "/usr/local/go"}) {
    if (goroot_.empty() && is_dir(std::string(d) + "/src/runtime")) goroot_ = d;
  }
  modcache_ = env("GOMODCACHE");
  if (modcache_.empty() && !env("GOPATH").empty()) {
    modcache_ = env("GOPATH").substr(0, env("GOPATH").find(':')) + "/pkg/mod";
  }
  if (modcache_.empty() && !env("HOME").empty()) modcache_ = env("HOME") + "/go/pkg/mod";
  goroot_ = strip_slash(goroot_);
  modcache_ = strip_slash(modcache_);
  if (restricted_) {
    // The web server may read the standard library and the module cache too.
    for (const auto& d : {goroot_, modcache_}) {
      std::string c = d.empty() ? "" : canonical(d);
      if (!c.empty()) roots_.push_back(c);
    }
  }
}

std::vector<std::string> SourceLocator::candidates(const std::string& recorded) const {
  std::vector<std::string> out;
  auto add = [&](std::string p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
  };
  for (const auto& r : rewrites_) {
    if (!r.from.empty() && recorded.rfind(r.from, 0) == 0) {
      add(r.to + recorded.substr(r.from.size()));
    }
  }
  for (const auto& r : rewrites_) {
    // pprof's -source_path: a relative (or trimmed) path under a search root.
    if (r.from.empty() && recorded.front() != '/') add(strip_slash(r.to) + "/" + recorded);
  }
  add(recorded);
  if (!goroot_.empty()) {
    // The standard library as some other GOROOT recorded it: …/src/<pkg>/<file>.
    for (size_t at = recorded.find("/src/"); at != std::string::npos;
         at = recorded.find("/src/", at + 1)) {
      add(goroot_ + recorded.substr(at));
    }
    if (recorded.front() != '/' && recorded.find('@') == std::string::npos) {
      add(goroot_ + "/src/" + recorded);
    }
  }
  if (!modcache_.empty()) {
    if (auto at = recorded.find("/pkg/mod/"); at != std::string::npos) {
      add(modcache_ + recorded.substr(at + 8));
    } else if (recorded.front() != '/' && recorded.find('@') != std::string::npos) {
      add(modcache_ + "/" + recorded);  // a -trimpath build: module@version/file.go
    }
  }
  return out;
}

bool SourceLocator::allowed(const std::string& path, std::string* real) const {
  *real = canonical(path);
  if (real->empty()) return false;
  struct stat st {};
  if (stat(real->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (!restricted_) return true;
  for (const auto& root : roots_) {
    if (real->size() > root.size() && real->compare(0, root.size(), root) == 0 &&
        ((*real)[root.size()] == '/' || root == "/")) {
      return true;
    }
  }
  return false;
}

bool SourceLocator::read(const std::string& recorded, std::string* text,
                         std::vector<std::string>* tried) const {
  if (recorded.empty()) return false;
  for (const auto& c : candidates(recorded)) {
    tried->push_back(c);
    std::string real;
    if (!allowed(c, &real)) continue;
    std::ifstream in(real, std::ios::binary);
    if (!in) continue;
    text->assign(static_cast<size_t>(kMaxFile), '\0');
    in.read(text->data(), kMaxFile);
    text->resize(static_cast<size_t>(in.gcount()));
    return true;
  }
  return false;
}

Status list_source(const perftools::profiles::Profile& p, const std::string& regex,
                   const SourceLocator& locator, bool with_text, std::vector<SourceListing>* out,
                   int64_t* total) {
  re2::RE2::Options ro;
  ro.set_log_errors(false);
  re2::RE2 re(regex, ro);
  if (!re.ok()) return Status::invalid("invalid regex \"" + regex + "\": " + re.error());
  auto nodes = node_totals(p, Granularity::kLines);
  *total = 0;
  for (const auto& n : nodes) *total += n.flat;
  // function → file → line → (flat, cum)
  std::map<std::string, std::map<std::string, std::map<int64_t, std::pair<int64_t, int64_t>>>>
      costs;
  for (const auto& n : nodes) {
    if (n.file.empty() || !re2::RE2::PartialMatch(n.function, re)) continue;
    auto& c = costs[n.function][n.file][n.line];
    c.first += n.flat;
    c.second += n.cum;
  }
  out->clear();
  for (const auto& [fn, files] : costs) {
    for (const auto& [file, lines] : files) {
      SourceListing l;
      l.function = fn;
      l.file = file;
      for (const auto& [line, c] : lines) {
        l.flat += c.first;
        l.cum += c.second;
      }
      std::string text;
      bool found = with_text && locator.read(file, &text, &l.tried);
      if (found) l.path = l.tried.back();
      if (!found) {
        for (const auto& [line, c] : lines) l.lines.push_back({line, c.first, c.second, ""});
        out->push_back(std::move(l));
        continue;
      }
      std::vector<std::string_view> src;
      for (size_t start = 0; start <= text.size();) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        src.emplace_back(text.data() + start, nl - start);
        start = nl + 1;
      }
      int64_t first = std::max<int64_t>(1, lines.begin()->first - kMargin);
      int64_t last = std::min<int64_t>(static_cast<int64_t>(src.size()),
                                       lines.rbegin()->first + kMargin);
      for (int64_t ln = first; ln <= last; ++ln) {
        auto it = lines.find(ln);
        SourceLine sl{ln, it == lines.end() ? 0 : it->second.first,
                      it == lines.end() ? 0 : it->second.second,
                      std::string(src[static_cast<size_t>(ln - 1)])};
        l.lines.push_back(std::move(sl));
      }
      // Costs on lines beyond the file's end (a different version of it).
      for (auto it = lines.upper_bound(last); it != lines.end(); ++it) {
        l.lines.push_back({it->first, it->second.first, it->second.second, ""});
      }
      out->push_back(std::move(l));
    }
  }
  return {};
}

}  // namespace stoker::query
