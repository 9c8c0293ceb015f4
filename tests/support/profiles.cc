#include "tests/support/profiles.h"

#include <functional>

namespace stoker::test {

using perftools::profiles::Profile;

perftools::profiles::Profile make_profile(
    const std::vector<std::pair<std::string, std::string>>& types,
    const std::vector<SampleSpec>& samples, int64_t time_nanos, int64_t duration_nanos) {
  Profile p;
  std::map<std::string, int64_t> strings;
  auto str = [&](const std::string& s) -> int64_t {
    auto it = strings.find(s);
    if (it != strings.end()) return it->second;
    int64_t idx = p.string_table_size();
    p.add_string_table(s);
    strings[s] = idx;
    return idx;
  };
  str("");
  for (const auto& [t, u] : types) {
    auto* vt = p.add_sample_type();
    vt->set_type(str(t));
    vt->set_unit(str(u));
  }
  p.mutable_period_type()->set_type(str(types.front().first));
  p.mutable_period_type()->set_unit(str(types.front().second));
  p.set_period(1);
  p.set_time_nanos(time_nanos);
  p.set_duration_nanos(duration_nanos);
  auto* m = p.add_mapping();
  m->set_id(1);
  m->set_memory_start(0x400000);
  m->set_memory_limit(0x800000);
  m->set_filename(str("/usr/bin/app"));
  m->set_has_functions(true);
  std::map<std::string, uint64_t> locs;
  for (const auto& s : samples) {
    auto* sample = p.add_sample();
    for (const auto& fn : s.stack) {
      auto it = locs.find(fn);
      if (it == locs.end()) {
        uint64_t id = locs.size() + 1;
        auto* f = p.add_function();
        f->set_id(id);
        f->set_name(str(fn));
        f->set_system_name(str(fn));
        f->set_filename(str("/src/" + fn + ".go"));
        auto* l = p.add_location();
        l->set_id(id);
        l->set_mapping_id(1);
        // Like real code, a frame's address and line belong to the function,
        // not to the id the writer happened to assign.
        const size_t h = std::hash<std::string>{}(fn);
        l->set_address(0x400000 + 16 * (h % 0x3ffff));
        auto* line = l->add_line();
        line->set_function_id(id);
        line->set_line(static_cast<int64_t>(10 + h % 1000));
        it = locs.emplace(fn, id).first;
      }
      sample->add_location_id(it->second);
    }
    for (int64_t v : s.values) sample->add_value(v);
    for (const auto& [k, v] : s.labels) {
      auto* lab = sample->add_label();
      lab->set_key(str(k));
      lab->set_str(str(v));
    }
    if (s.num_label) {
      auto* lab = sample->add_label();
      lab->set_key(str("bytes"));
      lab->set_num(s.num_label);
    }
  }
  return p;
}

std::map<std::string, std::vector<int64_t>> canonical(const Profile& p) {
  std::map<uint64_t, const perftools::profiles::Location*> locs;
  std::map<uint64_t, const perftools::profiles::Function*> fns;
  for (const auto& l : p.location()) locs[l.id()] = &l;
  for (const auto& f : p.function()) fns[f.id()] = &f;
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& s : p.sample()) {
    std::string key;
    for (uint64_t id : s.location_id()) {
      for (const auto& line : locs.at(id)->line()) {
        key += p.string_table(static_cast<int>(fns.at(line.function_id())->name()));
        key += ":" + std::to_string(line.line()) + ";";
      }
    }
    key += "|";
    for (const auto& lab : s.label()) {
      key += p.string_table(static_cast<int>(lab.key())) + "=" +
             p.string_table(static_cast<int>(lab.str())) + "#" + std::to_string(lab.num()) + ",";
    }
    auto& v = out[key];
    if (v.empty()) v.assign(static_cast<size_t>(s.value_size()), 0);
    for (int i = 0; i < s.value_size(); ++i) v[static_cast<size_t>(i)] += s.value(i);
  }
  return out;
}

std::vector<int64_t> totals(const Profile& p) {
  std::vector<int64_t> t(static_cast<size_t>(p.sample_type_size()), 0);
  for (const auto& s : p.sample()) {
    for (int i = 0; i < s.value_size(); ++i) t[static_cast<size_t>(i)] += s.value(i);
  }
  return t;
}

}  // namespace stoker::test
