// The `stoker` command line: run, check config, profiles, export.
// run_cli() parses argv and returns the process exit status.
#pragma once

namespace stoker {

int run_cli(int argc, char** argv);

}  // namespace stoker
