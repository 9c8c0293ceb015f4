#include "pprof/pprof_decode.h"

#include <google/protobuf/arena.h>

#include <unordered_set>

namespace stoker::pprof {

namespace {

// What is inconsistent in the profile, or "".
std::string problem(const Profile& p, const Limits& limits) {
  const auto nstr = static_cast<int64_t>(p.string_table_size());
  if (nstr == 0 || !p.string_table(0).empty()) return "string_table[0] must be ''";
  auto bad_str = [&](int64_t i) { return i < 0 || i >= nstr; };
  if (p.sample_type_size() == 0) return "profile has no sample types";
  for (const auto& vt : p.sample_type()) {
    if (bad_str(vt.type()) || bad_str(vt.unit())) return "sample type refers to a missing string";
  }
  if (p.has_period_type() && (bad_str(p.period_type().type()) || bad_str(p.period_type().unit()))) {
    return "period type refers to a missing string";
  }
  for (int64_t i : {p.drop_frames(), p.keep_frames(), p.default_sample_type(), p.doc_url()}) {
    if (bad_str(i)) return "profile header refers to a missing string";
  }
  for (int64_t c : p.comment()) {
    if (bad_str(c)) return "comment refers to a missing string";
  }
  if (static_cast<size_t>(p.sample_size()) > limits.max_samples) {
    return "profile has " + std::to_string(p.sample_size()) + " samples, more than the limit of " +
           std::to_string(limits.max_samples);
  }
  if (static_cast<size_t>(p.location_size()) > limits.max_locations) {
    return "profile has " + std::to_string(p.location_size()) +
           " locations, more than the limit of " + std::to_string(limits.max_locations);
  }
  std::unordered_set<uint64_t> mappings, functions, locations;
  for (const auto& m : p.mapping()) {
    if (m.id() == 0 || !mappings.insert(m.id()).second) return "mapping id is zero or repeated";
    if (bad_str(m.filename()) || bad_str(m.build_id())) return "mapping refers to a missing string";
  }
  for (const auto& f : p.function()) {
    if (f.id() == 0 || !functions.insert(f.id()).second) return "function id is zero or repeated";
    if (bad_str(f.name()) || bad_str(f.system_name()) || bad_str(f.filename())) {
      return "function refers to a missing string";
    }
  }
  for (const auto& l : p.location()) {
    if (l.id() == 0 || !locations.insert(l.id()).second) return "location id is zero or repeated";
    if (l.mapping_id() != 0 && !mappings.count(l.mapping_id())) {
      return "location " + std::to_string(l.id()) + " refers to missing mapping " +
             std::to_string(l.mapping_id());
    }
    for (const auto& line : l.line()) {
      if (!functions.count(line.function_id())) {
        return "location " + std::to_string(l.id()) + " refers to missing function " +
               std::to_string(line.function_id());
      }
    }
  }
  const int nvalues = p.sample_type_size();
  for (const auto& s : p.sample()) {
    if (s.value_size() != nvalues) {
      return "a sample has " + std::to_string(s.value_size()) + " values but the profile has " +
             std::to_string(nvalues) + " sample types";
    }
    for (uint64_t id : s.location_id()) {
      if (!locations.count(id)) return "a sample refers to missing location " + std::to_string(id);
    }
    for (const auto& lab : s.label()) {
      if (bad_str(lab.key()) || bad_str(lab.str()) || bad_str(lab.num_unit())) {
        return "a sample label refers to a missing string";
      }
    }
  }
  return "";
}

}  // namespace

Status validate(const Profile& p, const Limits& limits) {
  std::string why = problem(p, limits);
  if (why.empty()) return Status();
  // A limit is resource_exhausted; anything else means the bytes are not a
  // consistent profile.
  return why.find("more than the limit") != std::string::npos ? Status::exhausted(why)
                                                              : Status::invalid(why);
}

Result<std::shared_ptr<Profile>> decode(std::string_view body, const Limits& limits) {
  if (body.empty()) return Status::invalid("empty body");
  std::string inflated;
  std::string_view raw = body;
  if (is_gzip(body)) {
    if (Status s = gunzip(body, limits.max_decompressed, &inflated); !s.ok()) return s;
    raw = inflated;
  }
  if (raw.size() > limits.max_decompressed) {
    return Status::exhausted("profile exceeds " + std::to_string(limits.max_decompressed) +
                             " bytes");
  }
  // On an arena: a profile's many small messages sit together in a few blocks,
  // which makes reading it (deltas, storage) cache-friendly and freeing it cheap.
  // The returned pointer shares ownership of the arena.
  auto arena = std::make_shared<google::protobuf::Arena>();
  Profile* p = google::protobuf::Arena::CreateMessage<Profile>(arena.get());
  if (raw.size() > static_cast<size_t>(INT32_MAX) ||
      !p->ParseFromArray(raw.data(), static_cast<int>(raw.size()))) {
    return Status::invalid("not a valid pprof protobuf message");
  }
  if (Status s = validate(*p, limits); !s.ok()) return s;
  return std::shared_ptr<Profile>(arena, p);
}

Status explain_not_pprof(std::string_view content_type, std::string_view body, const Status& error,
                         const std::string& where) {
  std::string at = where.empty() ? "" : " (" + where + ")";
  if (body.empty()) return Status::invalid("expected pprof, got an empty body" + at);
  std::string what = describe_body(content_type, body);
  if (is_gzip(body) || what == "binary data" ||
      content_type.rfind("application/octet-stream", 0) == 0) {
    return Status(error.code(), "invalid pprof (" + (where.empty() ? "" : where + ", ") +
                                    std::to_string(body.size()) + " bytes): " + error.message());
  }
  return Status::invalid("expected pprof, got " + what + at);
}

std::string describe_body(std::string_view content_type, std::string_view body) {
  if (body.empty()) return "an empty body";
  auto semi = content_type.find(';');
  std::string_view ct = content_type.substr(0, semi);
  size_t i = 0;
  while (i < body.size() &&
         (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t'))
    ++i;
  std::string_view start = body.substr(i);
  auto starts_ci = [&](std::string_view prefix) {
    if (start.size() < prefix.size()) return false;
    for (size_t k = 0; k < prefix.size(); ++k) {
      if (std::tolower(static_cast<unsigned char>(start[k])) != prefix[k]) return false;
    }
    return true;
  };
  if (ct == "text/html" || starts_ci("<!doctype html") || starts_ci("<html")) return "text/html";
  if (ct == "application/json" || (!start.empty() && (start[0] == '{' || start[0] == '[')))
    return "JSON";
  size_t printable = 0, n = std::min<size_t>(body.size(), 512);
  for (size_t k = 0; k < n; ++k) {
    unsigned char c = static_cast<unsigned char>(body[k]);
    if (c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7f) || c >= 0x80) ++printable;
  }
  if (printable == n) {
    std::string line(start.substr(0, std::min(start.find('\n'), size_t{120})));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    return "plain text \"" + line + "\"";
  }
  return ct.empty() ? "binary data" : std::string(ct);
}

std::string encode_gzip(const Profile& p) {
  std::string raw;
  p.SerializeToString(&raw);
  return gzip(raw, 6);
}

}  // namespace stoker::pprof
