// must(): the value of a Result (or nothing for a Status) in a test, failing
// the test with the failure's message when there is none.
#pragma once

#include <catch2/catch.hpp>
#include <utility>

#include "model/status.h"

namespace stoker::test {

template <typename T>
T must(Result<T> r) {
  if (!r.ok()) FAIL(r.error());
  return std::move(r).value();
}

inline void must(const Status& s) {
  if (!s.ok()) FAIL(s.message());
}

}  // namespace stoker::test
