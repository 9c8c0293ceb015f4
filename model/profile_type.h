// ProfileTypeId: a profile type as Pyroscope names it,
// `name:sample_type:sample_unit:period_type:period_unit`, e.g.
// `process_cpu:cpu:nanoseconds:cpu:nanoseconds`. `name` is the series'
// __name__ (process_cpu, memory, block, ...), the rest comes from one of the
// profile's sample types and its period type. Pure value type.
#pragma once

#include <string>
#include <string_view>

#include "model/status.h"

namespace stoker {

struct ProfileTypeId {
  std::string name, sample_type, sample_unit, period_type, period_unit;

  // The five parts joined by ':'.
  std::string id() const;
  // Parses `name:st:su:pt:pu` (a sixth part, `:delta`, is accepted and
  // ignored, as Pyroscope does). Any other shape is an error naming the form.
  static Result<ProfileTypeId> parse(std::string_view s);
  bool operator==(const ProfileTypeId&) const = default;
};

}  // namespace stoker
