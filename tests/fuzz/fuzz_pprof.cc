// Differential fuzzing of the collector's pprof decoder (pprof::decode_view,
// which reads the wire format itself) against protobuf's generated parser plus
// validate(): for every input, both must accept or both reject, and what they
// accept must be the same profile. Also exercises prune() and encode() on
// what is accepted.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pprof/pprof_decode.h"
#include "pprof/view.h"
#include "proto/profile.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  stoker::pprof::Limits limits{16u << 20, 100000, 100000};
  auto view = stoker::pprof::decode_view(body, limits);
  auto proto = stoker::pprof::decode(body, limits);
  // The limits are checked at different points (the view while parsing), so
  // only inputs within them are compared.
  bool over = proto.profile && (static_cast<size_t>(proto.profile->sample_size()) >= 100000 ||
                                static_cast<size_t>(proto.profile->location_size()) >= 100000);
  if (!over && static_cast<bool>(view.view) != static_cast<bool>(proto.profile)) {
    std::fprintf(stderr, "decoders disagree: view=%s proto=%s\n",
                 view.view ? "ok" : view.error.c_str(), proto.profile ? "ok" : proto.error.c_str());
    std::abort();
  }
  if (!view.view || !proto.profile) return 0;
  proto.profile->DiscardUnknownFields();
  // An empty period_type submessage on the wire is present for protobuf and
  // absent for the view: the same profile (all its fields are 0 either way).
  if (proto.profile->has_period_type() && proto.profile->period_type().type() == 0 &&
      proto.profile->period_type().unit() == 0) {
    proto.profile->clear_period_type();
  }
  std::string want = proto.profile->SerializeAsString();
  if (view.view->to_proto().SerializeAsString() != want) {
    std::fprintf(stderr, "decoders read different profiles\n");
    std::abort();
  }
  // Pruning keeps a valid profile with the same samples.
  view.view->prune();
  if (!stoker::pprof::validate(*view.view, limits).empty()) {
    std::fprintf(stderr, "prune broke the profile: %s\n",
                 stoker::pprof::validate(*view.view, limits).c_str());
    std::abort();
  }
  return 0;
}
