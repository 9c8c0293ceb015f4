#include "pprof/transform.h"

#include <algorithm>
#include <unordered_map>

#include "model/labels.h"

namespace stoker::pprof {

using perftools::profiles::Profile;

bool keep_sample_type(Profile& p, const std::string& type, const std::string& unit) {
  int keep = -1;
  for (int i = 0; i < p.sample_type_size(); ++i) {
    const auto& vt = p.sample_type(i);
    if (p.string_table(static_cast<int>(vt.type())) == type &&
        p.string_table(static_cast<int>(vt.unit())) == unit) {
      keep = i;
      break;
    }
  }
  if (keep < 0) return false;
  auto vt = p.sample_type(keep);
  p.clear_sample_type();
  *p.add_sample_type() = vt;
  p.set_default_sample_type(vt.type());
  keep_samples(p, [&](perftools::profiles::Sample& s) {
    int64_t v = keep < s.value_size() ? s.value(keep) : 0;
    if (v == 0) return false;
    s.clear_value();
    s.add_value(v);
    return true;
  });
  return true;
}

void keep_call_site(Profile& p, const std::vector<std::string>& root_first) {
  if (root_first.empty()) return;
  std::unordered_map<uint64_t, const perftools::profiles::Function*> functions;
  for (const auto& f : p.function()) functions[f.id()] = &f;
  std::unordered_map<uint64_t, const perftools::profiles::Location*> locations;
  for (const auto& l : p.location()) locations[l.id()] = &l;
  std::vector<std::string> leaf_first;
  keep_samples(p, [&](const perftools::profiles::Sample& s) {
    leaf_first.clear();
    for (uint64_t loc : s.location_id()) {
      auto l = locations.find(loc);
      if (l == locations.end()) continue;
      for (const auto& line : l->second->line()) {
        auto f = functions.find(line.function_id());
        leaf_first.push_back(f == functions.end()
                                 ? std::string()
                                 : p.string_table(static_cast<int>(f->second->name())));
      }
    }
    bool keep = leaf_first.size() >= root_first.size();
    for (size_t k = 0; keep && k < root_first.size(); ++k) {
      keep = leaf_first[leaf_first.size() - 1 - k] == root_first[k];
    }
    return keep;
  });
}

void keep_span_ids(Profile& p, const std::vector<uint64_t>& sorted_ids) {
  int64_t key = -1;
  for (int i = 0; i < p.string_table_size(); ++i) {
    if (p.string_table(i) == "span_id") {
      key = i;
      break;
    }
  }
  auto wanted = [&](const perftools::profiles::Sample& s) {
    if (key < 0) return false;
    for (const auto& l : s.label()) {
      if (l.key() != key) continue;
      uint64_t id = parse_span_id(p.string_table(static_cast<int>(l.str())));
      return id != 0 && std::binary_search(sorted_ids.begin(), sorted_ids.end(), id);
    }
    return false;
  };
  keep_samples(p, wanted);
}

}  // namespace stoker::pprof
