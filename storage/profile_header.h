// The `profiles.header` and `profiles.totals` blobs of a stored profile.
//
// header: string ids (into `strings`) of the sample types, the period type,
// default sample type, drop/keep frames, doc url and comments.
// totals: for each sample type, the sum of its values, keyed by the id of the
// Pyroscope profile type (`profile_types`) it belongs to, so that a timeline
// never has to inflate sample blocks. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stoker {

struct ProfileHeader {
  std::vector<std::pair<int64_t, int64_t>> sample_types;  // (type, unit) string ids
  int64_t period_type = 0, period_unit = 0;
  int64_t default_sample_type = 0, drop_frames = 0, keep_frames = 0, doc_url = 0;
  std::vector<int64_t> comments;

  std::string encode() const;
  // False when `blob` is not a valid header.
  static bool decode(std::string_view blob, ProfileHeader* out);
};

// (profile type id, total) per sample type.
using ProfileTotals = std::vector<std::pair<int64_t, int64_t>>;
std::string encode_totals(const ProfileTotals& totals);
bool decode_totals(std::string_view blob, ProfileTotals* out);

}  // namespace stoker
