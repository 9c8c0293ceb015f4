// The command line's read commands over a stoker database: `flamegraph`
// (SVG, HTML, folded stacks or flamebearer JSON), `top` (like go tool pprof
// -top) and `query series` (per-step values). They take the same selector as
// the API: a short type (`process_cpu{…}`, the type's default sample type as
// pprof picks it) or a full profile type id (`process_cpu:cpu:nanoseconds:
// cpu:nanoseconds{…}`), and --from/--until (default: the last hour).
#pragma once

#include "app/cli_args.h"

namespace stoker::cli {

int cmd_flamegraph(const Args& a);
int cmd_top(const Args& a);
int cmd_query_series(const Args& a);

}  // namespace stoker::cli
