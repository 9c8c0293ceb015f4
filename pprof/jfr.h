// Java Flight Recorder recordings (the JDK's -XX:StartFlightRecording, the
// Pyroscope Java agent's uploads, async-profiler's output) read into pprof
// profiles, one per profile type, with Pyroscope's event → profile mapping
// (shared/reference/java-jfr.md):
//
//   jdk.ExecutionSample              process_cpu  cpu/nanoseconds (wall/… when the
//                                                 recording's `event` setting is wall)
//   profiler.WallClockSample         wall         wall/nanoseconds
//   jdk.ObjectAllocationInNewTLAB    memory       alloc_in_new_tlab_objects/count, _bytes/bytes
//   jdk.ObjectAllocationOutsideTLAB  memory       alloc_outside_tlab_objects/count, _bytes/bytes
//   jdk.ObjectAllocationSample       memory       alloc_sample_objects/count, _bytes/bytes
//   jdk.JavaMonitorEnter             mutex        contentions/count, delay/nanoseconds
//   jdk.ThreadPark                   block        contentions/count, delay/nanoseconds
//   profiler.LiveObject              memory       live/count
//   profiler.Malloc                  memory       malloc_objects/count, malloc_bytes/bytes
//
// The reader is the project's own: chunks (any number), compressed or fixed
// integers, the metadata event (every type's fields are learned from the
// file, so other JDK versions and async-profiler's extra fields read alike),
// constant pools (found by their offsets and parsed when an event refers to
// them), strings in every encoding. It reads untrusted bytes: every length,
// offset and id is checked, nesting is bounded, memory is a small multiple of
// the input, and a bad file is an error naming the chunk and byte offset.
// Frames are named `<class internal name>.<method>` (java/util/HashMap.put)
// with their line numbers. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/status.h"
#include "proto/profile.pb.h"

namespace stoker::pprof {

struct JfrOptions {
  // CPU and wall sampling rate in Hz (the agent's sampleRate); 0: the
  // recording's own jdk.ExecutionSample period setting, else 100 Hz.
  int64_t sample_rate_hz = 0;
  // Context id → labels (the agent's LabelsSnapshot), for events with a
  // contextId field.
  std::map<int64_t, std::vector<std::pair<std::string, std::string>>> contexts;
  // At most this many events of the mapped types are read (a bound on work).
  size_t max_events = 50'000'000;
};

struct JfrProfile {
  std::string name;   // the profile name: process_cpu, wall, memory, mutex, block
  std::string event;  // the JFR event type it comes from, e.g. jdk.ExecutionSample
  size_t events = 0;  // how many events it holds
  perftools::profiles::Profile profile;
};

// The profiles a recording holds, in a fixed order (the table above); event
// types it has none of are left out. An empty list when it has none at all.
Result<std::vector<JfrProfile>> jfr_to_pprof(std::string_view recording, const JfrOptions& options);

// Whether `data` starts like a JFR recording ("FLR\0").
bool is_jfr(std::string_view data);

}  // namespace stoker::pprof
