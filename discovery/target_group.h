// TargetGroup: what a discoverer reports (Prometheus' targetgroup.Group).
//
// A group is identified by its source within one discoverer; a later group
// with the same source replaces it, and one without targets removes it.
// Plain value; safe to copy between threads.
#pragma once

#include <string>
#include <vector>

#include "model/labels.h"

namespace stoker {

struct TargetGroup {
  std::string source;
  std::vector<Labels> targets;  // each holds at least __address__
  Labels labels;                // common labels, overridden by target labels
};

}  // namespace stoker
