// Helpers to build pprof profiles in tests and compare them by content.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pprof/view.h"
#include "proto/profile.pb.h"

namespace stoker::test {

struct SampleSpec {
  std::vector<std::string> stack;  // function names, leaf first
  std::vector<int64_t> values;
  std::vector<std::pair<std::string, std::string>> labels;  // string labels
  int64_t num_label = 0;                                    // "bytes" numeric label if non-zero
};

// A Go-like profile: one Function and Location per distinct name, ids in order
// of first use (so they differ between profiles with different sample orders).
perftools::profiles::Profile make_profile(
    const std::vector<std::pair<std::string, std::string>>& types,
    const std::vector<SampleSpec>& samples, int64_t time_nanos = 1'700'000'000'000'000'000,
    int64_t duration_nanos = 0);

// Content view: "leaf;caller;...|k=v,..." → summed values. Ignores ids and order.
std::map<std::string, std::vector<int64_t>> canonical(const perftools::profiles::Profile& p);

// Sum of each value column.
std::vector<int64_t> totals(const perftools::profiles::Profile& p);
// The same for a pprof::View (as scrapes decode profiles).
inline std::vector<int64_t> totals(const pprof::View& v) {
  return totals(v.to_proto());
}
inline std::map<std::string, std::vector<int64_t>> canonical(const pprof::View& v) {
  return canonical(v.to_proto());
}

}  // namespace stoker::test
