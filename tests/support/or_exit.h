// or_exit(): the value of a Result in a benchmark or fuzz driver (no test
// framework there), exiting with the failure's message when there is none.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "model/status.h"

namespace stoker::test {

template <typename T>
T or_exit(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

}  // namespace stoker::test
