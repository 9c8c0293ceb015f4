// Precompiled header for the translation units that use Asio and Beast.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace stoker {

// A completion token for running CPU work on another executor (a thread
// pool) from a coroutine: the work is not bound to the caller's cancellation.
// With Boost 1.81's co_spawn, a child cancelled after its function returned
// but before it hopped back throws out of its entry point, and std::terminate
// follows; short CPU work has no reason to be cancelled, so it never is.
inline auto uncancelled_awaitable() {
  return boost::asio::bind_cancellation_slot(boost::asio::cancellation_slot(),
                                             boost::asio::use_awaitable);
}

}  // namespace stoker
