// Parsing of user-supplied instants for --from/--until: RFC 3339
// ("2026-11-25T10:00:00Z", fractional seconds and offsets allowed), unix seconds
// ("1764064800"), "now", or relative to now ("now-1h", "now-30m", Prometheus
// duration units). Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/status.h"

namespace stoker {

// Returns nanoseconds since the Unix epoch. `now_ns` anchors relative forms.
Result<int64_t> parse_time(std::string_view text, int64_t now_ns);
// Formats as RFC 3339 UTC with millisecond precision.
std::string format_time(int64_t unix_nanos);
int64_t now_unix_nanos();

// A time as Pyroscope's attime.Parse reads it (the query API's and /ingest's
// from/until), in ms since the epoch: "now", "now-1h", digits by length (8:
// YYYYMMDD, 13: ms, 16: µs, 19: ns, else seconds), or RFC 3339. An empty
// string is now. A failure when it is none of these or is 0.
Result<int64_t> parse_attime_ms(std::string_view s, int64_t now_ms);

}  // namespace stoker
