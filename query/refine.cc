#include "query/refine.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>

#include "pprof/transform.h"
#include "proto/profile.pb.h"
#include "query/stack_set.h"

namespace stoker::query {

using perftools::profiles::Location;
using perftools::profiles::Profile;
using perftools::profiles::Sample;

std::optional<Granularity> parse_granularity(std::string_view name) {
  if (name.empty() || name == "functions") return Granularity::kFunctions;
  if (name == "filefunctions") return Granularity::kFileFunctions;
  if (name == "lines") return Granularity::kLines;
  return std::nullopt;
}

const std::vector<std::string>& RefineOptions::names() {
  static const std::vector<std::string> n{"focus",    "ignore",   "hide",     "show",
                                          "show_from", "tagfocus", "tagignore", "granularity"};
  return n;
}

bool RefineOptions::is_option(std::string_view name) {
  const auto& n = names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

Status RefineOptions::set(std::string_view name, std::string value) {
  if (name == "focus") focus = std::move(value);
  else if (name == "ignore") ignore = std::move(value);
  else if (name == "hide") hide = std::move(value);
  else if (name == "show") show = std::move(value);
  else if (name == "show_from") show_from = std::move(value);
  else if (name == "tagfocus") tagfocus = std::move(value);
  else if (name == "tagignore") tagignore = std::move(value);
  else if (name == "granularity") {
    auto g = parse_granularity(value);
    if (!g) {
      return Status::invalid("granularity: \"" + value +
                             "\" is none of functions, filefunctions, lines");
    }
    granularity = *g;
  }
  return {};
}

// A tag filter: with a key, any value of that key matching any regex; without
// one, every regex matching some "key:value" of the sample (pprof's rules).
struct Refiner::TagFilter {
  std::string key;
  std::vector<std::unique_ptr<re2::RE2>> res;

  bool matches(const Profile& p, const Sample& s) const {
    auto str = [&](int64_t i) -> const std::string& {
      static const std::string empty;
      return i > 0 && i < p.string_table_size() ? p.string_table(static_cast<int>(i)) : empty;
    };
    if (!key.empty()) {
      for (const auto& l : s.label()) {
        if (l.str() == 0 || str(l.key()) != key) continue;
        for (const auto& re : res) {
          if (re2::RE2::PartialMatch(str(l.str()), *re)) return true;
        }
      }
      return false;
    }
    for (const auto& re : res) {
      bool any = false;
      for (const auto& l : s.label()) {
        if (l.str() == 0) continue;
        if (re2::RE2::PartialMatch(str(l.key()) + ":" + str(l.str()), *re)) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    }
    return true;
  }
};

Refiner::~Refiner() = default;

namespace {

Status compile_regex(const char* name, const std::string& text, std::unique_ptr<re2::RE2>* out) {
  if (text.empty()) return {};
  re2::RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(text, o);
  if (!re->ok()) {
    return Status::invalid(std::string(name) + ": invalid regex \"" + text + "\": " + re->error());
  }
  *out = std::move(re);
  return {};
}

// pprof reads a tag filter value of the form N, N:, :N or N:M (numbers with
// an optional unit) as a numeric range over numeric labels.
bool numeric_range(const std::string& v) {
  static const re2::RE2 rx(R"(^(:?[+-]?\d+[[:alpha:]]*|[+-]?\d+[[:alpha:]]*:([+-]?\d+[[:alpha:]]*)?)$)");
  return re2::RE2::FullMatch(v, rx);
}

Status compile_tags(const char* name, const std::string& text,
                    std::unique_ptr<Refiner::TagFilter>* out) {
  if (text.empty()) return {};
  auto f = std::make_unique<Refiner::TagFilter>();
  std::string value = text;
  if (auto eq = text.find('='); eq != std::string::npos) {
    f->key = text.substr(0, eq);
    value = text.substr(eq + 1);
  }
  if (numeric_range(value)) {
    return Status::invalid(std::string(name) + ": \"" + text +
                           "\" is a numeric range, which stoker does not support yet (pprof "
                           "filters numeric labels with it); give a regex over string labels");
  }
  size_t start = 0;
  while (true) {
    size_t comma = value.find(',', start);
    std::unique_ptr<re2::RE2> re;
    std::string part = value.substr(start, comma == std::string::npos ? std::string::npos
                                                                        : comma - start);
    if (Status s = compile_regex(name, part.empty() ? std::string("(?:)") : part, &re); !s.ok()) {
      return s;
    }
    f->res.push_back(std::move(re));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  *out = std::move(f);
  return {};
}

}  // namespace

Result<std::shared_ptr<const Refiner>> Refiner::compile(const RefineOptions& o) {
  std::shared_ptr<Refiner> r(new Refiner());
  r->opts_ = o;
  Status s = compile_regex("focus", o.focus, &r->focus_);
  if (s.ok()) s = compile_regex("ignore", o.ignore, &r->ignore_);
  if (s.ok()) s = compile_regex("hide", o.hide, &r->hide_);
  if (s.ok()) s = compile_regex("show", o.show, &r->show_);
  if (s.ok()) s = compile_regex("show_from", o.show_from, &r->show_from_);
  if (s.ok()) s = compile_tags("tagfocus", o.tagfocus, &r->tagfocus_);
  if (s.ok()) s = compile_tags("tagignore", o.tagignore, &r->tagignore_);
  if (!s.ok()) return s;
  return std::shared_ptr<const Refiner>(std::move(r));
}

namespace {

// Name and file lookups for the location filters.
struct Names {
  const Profile& p;
  std::unordered_map<uint64_t, int> functions, mappings;
  explicit Names(const Profile& prof) : p(prof) {
    for (int i = 0; i < p.function_size(); ++i) functions[p.function(i).id()] = i;
    for (int i = 0; i < p.mapping_size(); ++i) mappings[p.mapping(i).id()] = i;
  }
  const std::string& str(int64_t i) const {
    static const std::string empty;
    return i > 0 && i < p.string_table_size() ? p.string_table(static_cast<int>(i)) : empty;
  }
  // The function of a line, or null.
  const perftools::profiles::Function* function(uint64_t id) const {
    auto it = functions.find(id);
    return it == functions.end() ? nullptr : &p.function(it->second);
  }
  bool mapping_matches(const Location& l, const re2::RE2& re) const {
    auto it = mappings.find(l.mapping_id());
    return it != mappings.end() &&
           re2::RE2::PartialMatch(str(p.mapping(it->second).filename()), re);
  }
  bool line_matches(const perftools::profiles::Line& ln, const re2::RE2& re) const {
    const auto* f = function(ln.function_id());
    return f != nullptr && (re2::RE2::PartialMatch(str(f->name()), re) ||
                            re2::RE2::PartialMatch(str(f->filename()), re));
  }
  bool location_matches(const Location& l, const re2::RE2& re) const {
    for (const auto& ln : l.line()) {
      if (line_matches(ln, re)) return true;
    }
    return mapping_matches(l, re);
  }
};

// Keeps the lines of `l` that `keep` accepts.
template <typename Keep>
void filter_lines(Location* l, Keep&& keep) {
  auto* lines = l->mutable_line();
  int out = 0;
  for (int i = 0; i < lines->size(); ++i) {
    if (!keep(lines->Get(i))) continue;
    if (out != i) lines->SwapElements(out, i);
    ++out;
  }
  while (lines->size() > out) lines->RemoveLast();
}

}  // namespace

void Refiner::apply(Profile& p, std::vector<std::string>* unmatched) const {
  auto miss = [&](bool set, bool matched, const char* name) {
    if (set && !matched && unmatched != nullptr) unmatched->push_back(name);
  };
  Names names(p);
  if (focus_ || ignore_ || hide_ || show_) {
    // Per location: true = focused, false = ignored (absent: neither).
    std::unordered_map<uint64_t, bool> focus_or_ignore;
    std::unordered_set<uint64_t> hidden;
    bool fm = false, im = false, hm = false, snm = false;
    for (auto& l : *p.mutable_location()) {
      if (ignore_ && names.location_matches(l, *ignore_)) {
        im = true;
        focus_or_ignore[l.id()] = false;
      } else if (!focus_ || names.location_matches(l, *focus_)) {
        fm = true;
        focus_or_ignore[l.id()] = true;
      }
      if (hide_ && names.location_matches(l, *hide_)) {
        hm = true;
        if (names.mapping_matches(l, *hide_)) {
          l.clear_line();
        } else {
          filter_lines(&l, [&](const auto& ln) { return !names.line_matches(ln, *hide_); });
        }
        if (l.line_size() == 0) hidden.insert(l.id());
      }
      if (show_) {
        if (!names.mapping_matches(l, *show_)) {
          filter_lines(&l, [&](const auto& ln) {
            return names.function(ln.function_id()) == nullptr || names.line_matches(ln, *show_);
          });
        }
        if (l.line_size() == 0) {
          hidden.insert(l.id());
        } else {
          snm = true;
        }
      }
    }
    pprof::keep_samples(p, [&](Sample& s) {
      bool focused = false;
      for (uint64_t loc : s.location_id()) {
        auto it = focus_or_ignore.find(loc);
        if (it == focus_or_ignore.end()) continue;
        if (!it->second) return false;
        focused = true;
      }
      if (!focused) return false;
      if (hidden.empty()) return true;
      auto* locs = s.mutable_location_id();
      int out = 0;
      for (int i = 0; i < locs->size(); ++i) {
        if (hidden.count(locs->Get(i)) != 0) continue;
        locs->Set(out++, locs->Get(i));
      }
      locs->Truncate(out);
      return out > 0;
    });
    miss(focus_ != nullptr, fm, "focus");
    miss(ignore_ != nullptr, im, "ignore");
    miss(hide_ != nullptr, hm, "hide");
    miss(show_ != nullptr, snm, "show");
  }
  if (show_from_) {
    std::unordered_set<uint64_t> from;
    for (auto& l : *p.mutable_location()) {
      bool match = names.mapping_matches(l, *show_from_);
      if (!match) {
        for (int i = l.line_size() - 1; i >= 0; --i) {
          const auto* f = names.function(l.line(i).function_id());
          if (f != nullptr && re2::RE2::PartialMatch(names.str(f->name()), *show_from_)) {
            while (l.line_size() > i + 1) l.mutable_line()->RemoveLast();
            match = true;
            break;
          }
        }
      }
      if (match) from.insert(l.id());
    }
    pprof::keep_samples(p, [&](Sample& s) {
      for (int i = s.location_id_size() - 1; i >= 0; --i) {
        if (from.count(s.location_id(i)) != 0) {
          s.mutable_location_id()->Truncate(i + 1);
          return true;
        }
      }
      return false;
    });
    miss(true, !from.empty(), "show_from");
  }
  if (tagfocus_ || tagignore_) {
    bool tfm = false, tim = false;
    pprof::keep_samples(p, [&](Sample& s) {
      bool keep = true;
      if (tagfocus_) {
        if (tagfocus_->matches(p, s)) tfm = true;
        else keep = false;
      }
      if (tagignore_ && tagignore_->matches(p, s)) {
        tim = true;
        keep = false;
      }
      return keep;
    });
    miss(tagfocus_ != nullptr, tfm, "tagfocus");
    miss(tagignore_ != nullptr, tim, "tagignore");
  }
}

std::string frame_label(std::string_view fn_name, std::string_view file, int64_t line,
                        Granularity g) {
  std::string out(fn_name.empty() ? std::string_view("unknown") : fn_name);
  if (g == Granularity::kFunctions) return out;
  if (g == Granularity::kLines && line != 0) {
    out += ' ';
    out += file;
    out += ':';
    out += std::to_string(line);
  } else if (!file.empty()) {
    out += ' ';
    out += file;
  }
  return out;
}

void stacks_of(const Profile& p, Granularity g, const std::vector<std::string>& call_site,
               StackSet* out) {
  Names names(p);
  std::vector<uint32_t> want;
  for (const auto& c : call_site) want.push_back(out->intern(c));
  // Per location: its frames' interned names, outermost first.
  std::unordered_map<uint64_t, std::vector<uint32_t>> frames;
  frames.reserve(static_cast<size_t>(p.location_size()));
  for (const auto& l : p.location()) {
    auto& f = frames[l.id()];
    if (l.line_size() == 0) {
      char buf[24];
      std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(l.address()));
      f.push_back(out->intern(buf));
      continue;
    }
    for (int i = l.line_size() - 1; i >= 0; --i) {
      const auto& ln = l.line(i);
      const auto* fn = names.function(ln.function_id());
      f.push_back(out->intern(frame_label(fn ? names.str(fn->name()) : std::string(),
                                          fn ? names.str(fn->filename()) : std::string(),
                                          ln.line(), g)));
    }
  }
  std::vector<uint32_t> stack;
  for (const auto& s : p.sample()) {
    if (s.value_size() == 0 || s.value(0) == 0) continue;
    stack.clear();
    for (int i = s.location_id_size() - 1; i >= 0; --i) {
      auto it = frames.find(s.location_id(i));
      if (it != frames.end()) stack.insert(stack.end(), it->second.begin(), it->second.end());
    }
    if (stack.size() < want.size() || !std::equal(want.begin(), want.end(), stack.begin())) {
      continue;
    }
    out->add(stack, s.value(0));
  }
}

}  // namespace stoker::query
