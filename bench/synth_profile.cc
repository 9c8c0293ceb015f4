#include "bench/synth_profile.h"

#include <cmath>
#include <unordered_map>

namespace stoker::bench {

namespace {

const char* kWords[] = {"api",    "store",  "cache", "codec",  "queue",   "auth",   "billing",
                        "ledger", "search", "index", "render", "session", "stream", "router",
                        "proto",  "sql",    "pool",  "retry",  "metrics", "trace"};
const char* kVerbs[] = {"Handle", "Serve", "Get",  "Put",   "Encode", "Decode", "Flush",
                        "Apply",  "Merge", "Scan", "Write", "Read",   "Commit", "Lookup"};

}  // namespace

SynthService::SynthService(uint64_t seed, SynthShape shape) : shape_(shape), rng_(seed) {
  // Functions: runtime and stdlib ones first (shared roots), then the service's.
  static const char* kRuntime[] = {"runtime.goexit",
                                   "runtime.main",
                                   "main.main",
                                   "net/http.(*conn).serve",
                                   "net/http.serverHandler.ServeHTTP",
                                   "runtime.mcall",
                                   "runtime.park_m",
                                   "runtime.schedule",
                                   "runtime.findRunnable",
                                   "runtime.netpoll",
                                   "syscall.Syscall",
                                   "runtime.mallocgc",
                                   "runtime.memmove",
                                   "runtime.gcBgMarkWorker",
                                   "runtime.gcDrain",
                                   "runtime.scanobject"};
  for (const char* r : kRuntime) names_.emplace_back(r);
  std::uniform_int_distribution<int> w(0, 19), v(0, 13);
  while (static_cast<int>(names_.size()) < shape_.functions) {
    int i = static_cast<int>(names_.size());
    names_.push_back("github.com/acme/shop/internal/" + std::string(kWords[w(rng_)]) + "/" +
                     kWords[w(rng_)] + ".(*" + kWords[w(rng_)] + "Service)." + kVerbs[v(rng_)] +
                     std::to_string(i));
  }
  for (const auto& n : names_) {
    files_.push_back("/src/" + n.substr(0, n.find('.')) + ".go");
    addresses_.push_back(0x400000 + 64 * addresses_.size() + (rng_() % 48));
  }
  base_names_ = names_;
  // Stacks: a random walk down a call graph from a few entry points, so that
  // stacks share long root-side prefixes as real programs do.
  std::uniform_int_distribution<int> fn(16, shape_.functions - 1);
  std::uniform_int_distribution<int> depth(shape_.min_depth, shape_.max_depth);
  std::vector<std::vector<int>> prefixes;
  for (int e = 0; e < 24; ++e) {
    std::vector<int> root = {0, 2, 3, 4};  // goexit, main, http serve, ServeHTTP
    for (int k = 0; k < 6; ++k) root.push_back(fn(rng_));
    prefixes.push_back(root);
  }
  std::uniform_int_distribution<size_t> pre(0, prefixes.size() - 1);
  std::vector<double> weights;
  for (int s = 0; s < shape_.stacks; ++s) {
    std::vector<int> root_first = prefixes[pre(rng_)];
    int d = depth(rng_);
    while (static_cast<int>(root_first.size()) < d) root_first.push_back(fn(rng_));
    if (s % 7 == 0) root_first.push_back(11);   // mallocgc leaves
    if (s % 11 == 0) root_first.push_back(12);  // memmove leaves
    stacks_.emplace_back(root_first.rbegin(), root_first.rend());
    weights.push_back(1.0 / std::pow(static_cast<double>(s) + 10.0, 0.9));  // skewed: hot stacks
  }
  pick_ = std::discrete_distribution<int>(weights.begin(), weights.end());
}

void SynthService::deploy(int generation) {
  int64_t shift = 0x10000 * static_cast<int64_t>(generation - generation_);
  for (auto& a : addresses_) a = static_cast<uint64_t>(static_cast<int64_t>(a) + shift);
  generation_ = generation;
  for (size_t f = 16; f < names_.size(); ++f) {
    bool renamed = (f * 2654435761u + static_cast<size_t>(generation) * 40503u) % 20 == 0;
    names_[f] = renamed ? base_names_[f] + ".func" + std::to_string(generation) : base_names_[f];
  }
}

perftools::profiles::Profile SynthService::cpu(int64_t time_ns, int64_t duration_ns) {
  perftools::profiles::Profile p;
  std::unordered_map<std::string, int64_t> strings;
  auto str = [&](const std::string& s) {
    auto it = strings.find(s);
    if (it != strings.end()) return it->second;
    int64_t idx = p.string_table_size();
    p.add_string_table(s);
    strings.emplace(s, idx);
    return idx;
  };
  str("");
  auto* st = p.add_sample_type();
  st->set_type(str("samples"));
  st->set_unit(str("count"));
  st = p.add_sample_type();
  st->set_type(str("cpu"));
  st->set_unit(str("nanoseconds"));
  p.mutable_period_type()->set_type(str("cpu"));
  p.mutable_period_type()->set_unit(str("nanoseconds"));
  p.set_period(10'000'000);
  p.set_time_nanos(time_ns);
  p.set_duration_nanos(duration_ns);
  auto* m = p.add_mapping();
  m->set_id(1);
  m->set_memory_start(0x400000 + 0x10000 * static_cast<uint64_t>(generation_));
  m->set_memory_limit(0x400000 + 0x10000 * static_cast<uint64_t>(generation_) +
                      64 * static_cast<uint64_t>(names_.size()) + 4096);
  m->set_filename(str("/usr/local/bin/shop"));
  m->set_build_id(str("3f8a1c2e9b7d4a60"));
  m->set_has_functions(true);
  m->set_has_filenames(true);
  m->set_has_line_numbers(true);

  // Sum samples per stack first, as Go's profile builder does.
  std::unordered_map<int, int64_t> counts;
  for (int i = 0; i < shape_.samples; ++i) ++counts[pick_(rng_)];
  std::unordered_map<int, uint64_t> location_of;  // function → location id (per profile)
  for (const auto& [stack, n] : counts) {
    auto* s = p.add_sample();
    for (int f : stacks_[static_cast<size_t>(stack)]) {
      auto it = location_of.find(f);
      if (it == location_of.end()) {
        uint64_t id = location_of.size() + 1;
        auto* fnp = p.add_function();
        fnp->set_id(id);
        fnp->set_name(str(names_[static_cast<size_t>(f)]));
        fnp->set_system_name(fnp->name());
        fnp->set_filename(str(files_[static_cast<size_t>(f)]));
        fnp->set_start_line(10 + f % 400);
        auto* l = p.add_location();
        l->set_id(id);
        l->set_mapping_id(1);
        l->set_address(addresses_[static_cast<size_t>(f)]);
        auto* line = l->add_line();
        line->set_function_id(id);
        line->set_line(12 + f % 400);
        it = location_of.emplace(f, id).first;
      }
      s->add_location_id(it->second);
    }
    s->add_value(n);
    s->add_value(n * 10'000'000);
  }
  return p;
}

}  // namespace stoker::bench
