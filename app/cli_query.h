// The command line's read commands over a stoker database: `flamegraph`
// (SVG, HTML, folded stacks or flamebearer JSON), `top` (like go tool pprof
// -top) and `query series` (per-step values). They take the same selector as
// the API: a short type (`process_cpu{…}`, the type's default sample type as
// pprof picks it) or a full profile type id (`process_cpu:cpu:nanoseconds:
// cpu:nanoseconds{…}`), and --from/--until (default: the last hour).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/cli_args.h"

namespace stoker::query {
class Refiner;
}

namespace stoker::cli {

int cmd_flamegraph(const Args& a);
int cmd_top(const Args& a);
int cmd_query_series(const Args& a);
int cmd_list(const Args& a);
int cmd_graph(const Args& a);
// stoker view (app/cli_view.cc); `self` is argv[0] for the start-up hints.
int cmd_view(const Args& a, const std::string& self);

// pprof's refine flags (--focus, --ignore, --hide, --show, --show_from,
// --tagfocus, --tagignore, --granularity or --functions/--filefunctions/
// --lines) into a compiled Refiner (left null when none is given). 0 when
// fine, else the exit code (the error is printed).
int refine_flags(const Args& a, std::shared_ptr<const query::Refiner>* out);
// --source-path's value: FROM=TO prefix rewrites and bare DIRs to search
// relative paths in, comma-separated.
std::vector<std::pair<std::string, std::string>> source_path_pairs(const std::string& text);
// Prints pprof's warning for each refine option that matched nothing.
void warn_unmatched(const std::vector<std::string>& unmatched);

}  // namespace stoker::cli
