// ProfileTypeId: a profile type as Pyroscope names it,
// `name:sample_type:sample_unit:period_type:period_unit`, e.g.
// `process_cpu:cpu:nanoseconds:cpu:nanoseconds`. `name` is the series'
// __name__ (process_cpu, memory, block, ...), the rest comes from one of the
// profile's sample types and its period type. Pure value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stoker {

struct ProfileTypeId {
  std::string name, sample_type, sample_unit, period_type, period_unit;

  // The five parts joined by ':'.
  std::string id() const;
  // Parses `name:st:su:pt:pu` (a sixth part, `:delta`, is accepted and
  // ignored, as Pyroscope does). Any other shape is an error naming the form.
  static std::optional<ProfileTypeId> parse(std::string_view s, std::string* error);
  bool operator==(const ProfileTypeId&) const = default;
};

}  // namespace stoker
