// Decoding and validation of pprof profiles as fetched from targets.
//
// A body is accepted when it is a (possibly gzipped) perftools.profiles.Profile
// whose references are consistent: string_table[0] is "", every string index,
// location, function and mapping reference resolves, and each sample has one
// value per sample type. Anything else is rejected with a message that says what
// was received. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "model/status.h"
#include "pprof/compress.h"
#include "proto/profile.pb.h"

namespace stoker::pprof {

using Profile = perftools::profiles::Profile;

struct Limits {
  size_t max_decompressed = 512u << 20;  // bytes after gunzip
  size_t max_samples = 4'000'000;
  size_t max_locations = 4'000'000;
};

// Decodes gzipped or raw pprof into a profile allocated on its own arena. A
// failure does not mention any target (callers add context); it is
// resource_exhausted when a limit was hit, else invalid_argument.
Result<std::shared_ptr<Profile>> decode(std::string_view body, const Limits& limits = {});

// Checks the internal references of a parsed profile and the sample and
// location limits.
Status validate(const Profile& p, const Limits& limits = {});

// A short human description of a body that is not pprof, for error messages:
// "text/html", "JSON", "plain text \"404 page not found\"", "an empty body".
std::string describe_body(std::string_view content_type, std::string_view body);
// Why `body` (which failed to decode with `error`) is not a usable profile:
// "expected pprof, got an empty body", "expected pprof, got text/html", or, for
// what looks like pprof (gzip, binary, application/octet-stream), "invalid
// pprof (N bytes): <error>" (with `error`'s code). `where` ("HTTP 200"), when
// set, goes in the brackets.
Status explain_not_pprof(std::string_view content_type, std::string_view body, const Status& error,
                         const std::string& where = "");

// Serializes and gzips a profile, as pprof files are stored on disk.
std::string encode_gzip(const Profile& p);

}  // namespace stoker::pprof
