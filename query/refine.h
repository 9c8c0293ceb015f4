// Refine: pprof's focus, ignore, hide, show, show_from, tagfocus and tagignore
// options, applied to a merged profile exactly as `go tool pprof` applies them,
// and the granularity (functions, filefunctions, lines) its views aggregate at.
//
// Semantics follow pprof (github.com/google/pprof, profile/filter.go and
// internal/driver/driver_focus.go): regexes are RE2, unanchored (a match
// anywhere in the text counts). focus/ignore keep or drop whole samples by any
// frame whose function name, file name or mapping file matches; hide drops the
// matching frames, show keeps only matching frames; show_from drops the frames
// above (rootward of) the outermost frame whose function name matches;
// tagfocus/tagignore keep or drop samples by their string labels, "key=regex"
// or a plain regex against "key:value" (several regexes comma-separated).
// The order is pprof's: focus/ignore/hide/show, then show_from, then tags.
// Pure functions; a compiled Refiner is immutable and thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace perftools::profiles {
class Profile;
}

namespace re2 {
class RE2;
}

namespace stoker::query {

class StackSet;

enum class Granularity { kFunctions, kFileFunctions, kLines };
std::optional<Granularity> parse_granularity(std::string_view name);

struct RefineOptions {
  std::string focus, ignore, hide, show, show_from, tagfocus, tagignore;
  Granularity granularity = Granularity::kFunctions;

  // Whether any of the regex options is set.
  bool filters() const {
    return !focus.empty() || !ignore.empty() || !hide.empty() || !show.empty() ||
           !show_from.empty() || !tagfocus.empty() || !tagignore.empty();
  }
  bool active() const { return filters() || granularity != Granularity::kFunctions; }
  // Sets option `name` (pprof's spelling: focus, ignore, hide, show, show_from,
  // tagfocus, tagignore, granularity); fails for an unknown granularity.
  // Another name is ignored (check with is_option()).
  Status set(std::string_view name, std::string value);
  // The option names set() takes.
  static const std::vector<std::string>& names();
  static bool is_option(std::string_view name);
};

class Refiner {
 public:
  // Compiles the options; a bad regex fails naming the option and RE2's reason.
  static Result<std::shared_ptr<const Refiner>> compile(const RefineOptions& o);
  ~Refiner();

  const RefineOptions& options() const { return opts_; }
  // Applies the filters to `p` in pprof's order; `unmatched` (when given) gets
  // the names of the options that matched nothing, as pprof warns of them.
  void apply(perftools::profiles::Profile& p, std::vector<std::string>* unmatched) const;

  struct TagFilter;

 private:
  Refiner() = default;
  RefineOptions opts_;
  std::unique_ptr<re2::RE2> focus_, ignore_, hide_, show_, show_from_;
  std::unique_ptr<TagFilter> tagfocus_, tagignore_;
};

// The name of frame (function `fn_name` in `file` at `line`) at a granularity,
// as pprof prints it: "name", "name file", "name file:line".
std::string frame_label(std::string_view fn_name, std::string_view file, int64_t line,
                        Granularity g);

// The stacks of `p` (its first sample type) named at granularity `g`, only
// those under `call_site` (root-first frame names at that granularity), into
// `out`.
void stacks_of(const perftools::profiles::Profile& p, Granularity g,
               const std::vector<std::string>& call_site, StackSet* out);

}  // namespace stoker::query
