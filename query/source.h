// Source: `go tool pprof -list` over a merged profile — for every function
// whose name matches a regex, per source file, each line's flat (self) and
// cum (total), with the file's text around the lines that cost something.
//
// Files are looked up on the local disk (SourceLocator): the path the profile
// records, rewritten by `source.paths` prefixes (pprof's -trim_path /
// -source_path), GOROOT for the standard library and the Go module cache for
// dependencies. A locator given roots reads only files under them (after
// resolving symlinks and "..") — the web server's rule; a file not found still
// lists its lines' costs and says which paths were tried.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/status.h"

namespace perftools::profiles {
class Profile;
}

namespace stoker::query {

class SourceLocator {
 public:
  struct Rewrite {
    std::string from, to;
  };
  // `roots` empty: any readable file (the command line, as pprof). Given
  // roots that do not exist are left out; when none exists, nothing is read.
  SourceLocator(std::vector<Rewrite> rewrites, std::vector<std::string> roots);
  // GOROOT and the module cache from the environment (GOROOT, GOMODCACHE,
  // GOPATH, HOME) or the usual places (/usr/lib/go, /usr/local/go).
  void add_go_defaults();

  // The file's text when found (up to 16 MiB); `tried` gets every candidate
  // path in order, the one found last.
  bool read(const std::string& recorded, std::string* text, std::vector<std::string>* tried) const;
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  std::vector<std::string> candidates(const std::string& recorded) const;
  bool allowed(const std::string& path, std::string* real) const;

  std::vector<Rewrite> rewrites_;
  std::vector<std::string> roots_;  // canonical
  bool restricted_ = false;         // roots were given
  std::string goroot_, modcache_;
};

struct SourceLine {
  int64_t line = 0;
  int64_t flat = 0, cum = 0;
  std::string text;  // empty when the file was not found
};

struct SourceListing {
  std::string function;
  std::string file;           // as the profile records it
  std::string path;           // where it was read ("" = not found)
  std::vector<std::string> tried;
  int64_t flat = 0, cum = 0;  // the function's in this file
  std::vector<SourceLine> lines;
};

// The listings of the functions matching `regex` (RE2, unanchored, as pprof),
// sorted by function name then file; `total` gets the profile's total. Fails
// on a bad regex. With `with_text` false no file is read.
Status list_source(const perftools::profiles::Profile& p, const std::string& regex,
                   const SourceLocator& locator, bool with_text, std::vector<SourceListing>* out,
                   int64_t* total);

}  // namespace stoker::query
