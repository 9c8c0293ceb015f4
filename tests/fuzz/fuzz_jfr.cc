// Fuzzes the JFR reader (pprof/jfr.h) with recordings: seeded with the JDK's
// own (scripts/fuzz.sh records them: profile settings, TLAB events on, three
// chunks, 32 threads) and small written ones (tests/fuzz/corpus/jfr). Every
// input must give profiles or an error, never a crash, a hang or memory out
// of proportion; what it gives must encode as pprof.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "pprof/jfr.h"
#include "pprof/pprof_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  stoker::pprof::JfrOptions opts;
  opts.contexts[1] = {{"k", "v"}};
  opts.max_events = 200'000;
  auto profiles = stoker::pprof::jfr_to_pprof(in, opts);
  if (!profiles) {
    if (profiles.status().message().empty()) std::abort();  // an error always says what
    return 0;
  }
  for (const auto& p : *profiles) {
    std::string bytes = p.profile.SerializeAsString();
    // What the reader makes is a valid profile.
    if (!stoker::pprof::decode(bytes, {}).ok()) {
      std::fprintf(stderr, "invalid profile for %s\n", p.event.c_str());
      std::abort();
    }
  }
  return 0;
}
