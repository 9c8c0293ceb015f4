#include "storage/profile_header.h"

#include "model/encoding.h"

namespace stoker {

std::string ProfileHeader::encode() const {
  std::string out;
  enc::put_varint(out, sample_types.size());
  for (const auto& [t, u] : sample_types) {
    enc::put_varint(out, static_cast<uint64_t>(t));
    enc::put_varint(out, static_cast<uint64_t>(u));
  }
  for (int64_t v :
       {period_type, period_unit, default_sample_type, drop_frames, keep_frames, doc_url}) {
    enc::put_varint(out, static_cast<uint64_t>(v));
  }
  enc::put_varint(out, comments.size());
  for (int64_t c : comments) enc::put_varint(out, static_cast<uint64_t>(c));
  return out;
}

bool ProfileHeader::decode(std::string_view blob, ProfileHeader* h) {
  enc::Reader r(blob);
  uint64_t n = r.varint();
  if (!r.ok() || n > 1024) return false;
  h->sample_types.clear();
  for (uint64_t i = 0; i < n; ++i) {
    int64_t t = static_cast<int64_t>(r.varint());
    int64_t u = static_cast<int64_t>(r.varint());
    h->sample_types.emplace_back(t, u);
  }
  h->period_type = static_cast<int64_t>(r.varint());
  h->period_unit = static_cast<int64_t>(r.varint());
  h->default_sample_type = static_cast<int64_t>(r.varint());
  h->drop_frames = static_cast<int64_t>(r.varint());
  h->keep_frames = static_cast<int64_t>(r.varint());
  h->doc_url = static_cast<int64_t>(r.varint());
  uint64_t nc = r.varint();
  if (!r.ok() || nc > 4096) return false;
  h->comments.clear();
  for (uint64_t i = 0; i < nc && r.ok(); ++i)
    h->comments.push_back(static_cast<int64_t>(r.varint()));
  return r.ok();
}

std::string encode_totals(const ProfileTotals& totals) {
  std::string out;
  enc::put_varint(out, totals.size());
  for (const auto& [type, total] : totals) {
    enc::put_varint(out, static_cast<uint64_t>(type));
    enc::put_svarint(out, total);
  }
  return out;
}

bool decode_totals(std::string_view blob, ProfileTotals* out) {
  enc::Reader r(blob);
  uint64_t n = r.varint();
  if (!r.ok() || n > 1024) return false;
  out->clear();
  for (uint64_t i = 0; i < n; ++i) {
    int64_t type = static_cast<int64_t>(r.varint());
    int64_t total = r.svarint();
    out->emplace_back(type, total);
  }
  return r.ok() && r.done();
}

}  // namespace stoker
