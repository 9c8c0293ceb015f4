#include "model/profile_type.h"

#include <vector>

namespace stoker {

std::string ProfileTypeId::id() const {
  return name + ":" + sample_type + ":" + sample_unit + ":" + period_type + ":" + period_unit;
}

Result<ProfileTypeId> ProfileTypeId::parse(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() != 5 && parts.size() != 6) {
    return Status::invalid(
        "profile-type selection must be of the form "
        "<name>:<sample-type>:<sample-unit>:<period-type>:<period-unit>(:delta), got(" +
        std::to_string(parts.size()) + "): \"" + std::string(s) + "\"");
  }
  ProfileTypeId t{std::string(parts[0]), std::string(parts[1]), std::string(parts[2]),
                  std::string(parts[3]), std::string(parts[4])};
  return t;
}

}  // namespace stoker
