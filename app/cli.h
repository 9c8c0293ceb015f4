// The `stoker` command line: run (the default: the collector process,
// app/process.h), check config, check web-config, targets, profiles, export,
// flamegraph, top and query series (app/cli_query.h). run_cli() parses argv
// and returns the process exit status.
#pragma once

namespace stoker {

int run_cli(int argc, char** argv);

}  // namespace stoker
