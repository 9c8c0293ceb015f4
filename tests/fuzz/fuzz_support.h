// Shared by the fuzz targets: a small real store, opened once per process,
// and the rule every answer must follow (a status below 500, or 501 for what
// stoker does not implement): bad input is the client's error, never a crash,
// a hang or an internal error.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "net/http_server.h"
#include "query/engine.h"

namespace stoker::fuzz {

// An EnginePool over a store with a few profiles (built on first use in a
// temporary directory, removed at exit).
query::EnginePool& pool();

inline void check_answer(const WebResponse& r, const std::string& what) {
  if (r.status >= 500 && r.status != 501) {
    std::fprintf(stderr, "%s answered %d: %s\n", what.c_str(), r.status, r.body.c_str());
    std::abort();
  }
}

}  // namespace stoker::fuzz
