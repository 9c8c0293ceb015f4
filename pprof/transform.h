// In-place transformations of a parsed pprof profile used by the read side:
// keep one sample type, keep only the stacks under a call site. Pure functions
// on the profile, thread-safe on distinct profiles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/profile.pb.h"

namespace stoker::pprof {

// Keeps the samples `keep` accepts (it may edit them), in order.
template <typename Keep>
void keep_samples(perftools::profiles::Profile& p, Keep&& keep) {
  auto* samples = p.mutable_sample();
  int out = 0;
  for (int i = 0; i < samples->size(); ++i) {
    if (!keep(*samples->Mutable(i))) continue;
    if (out != i) samples->SwapElements(out, i);
    ++out;
  }
  while (samples->size() > out) samples->RemoveLast();
}

// Keeps only the sample type `type`/`unit` (values, sample_type and
// default_sample_type) and drops samples left all zero. False when the profile
// has no such sample type (it is left unchanged).
bool keep_sample_type(perftools::profiles::Profile& p, const std::string& type,
                      const std::string& unit);

// Keeps only samples whose stack, read root first as function names (inlined
// frames included), starts with `root_first`.
void keep_call_site(perftools::profiles::Profile& p, const std::vector<std::string>& root_first);

// Keeps only samples whose span_id label is one of `sorted_ids` (ascending),
// read as a span id (parse_span_id).
void keep_span_ids(perftools::profiles::Profile& p, const std::vector<uint64_t>& sorted_ids);

}  // namespace stoker::pprof
