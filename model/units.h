// Parsing and formatting of Prometheus-style durations and byte sizes.
//
// Durations follow Prometheus' model.ParseDuration: units y w d h m s ms, each at
// most once and from largest to smallest ("1m30s", "15s", "0"). Sizes accept a
// plain byte count or a number with B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB,
// all powers of 1024 as in Prometheus' body_size_limit. Pure functions, thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/status.h"

namespace stoker {

using Duration = std::chrono::milliseconds;

// A failure names the text and the problem.
Result<Duration> parse_duration(std::string_view text);
// Formats like Prometheus' model.Duration.String(): "1m30s", "15s", "500ms", "0s".
std::string format_duration(Duration d);

Result<uint64_t> parse_size(std::string_view text);
// Human form with the largest exact binary unit: "50MiB", "1536B".
std::string format_size(uint64_t bytes);

}  // namespace stoker
