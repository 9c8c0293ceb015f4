#include "net/io_loop.h"

#include <thread>

namespace stoker {

void run_io_loop(boost::asio::io_context& io, const IoLoopOptions& opts, IoLoopStats* stats) {
  using Clock = std::chrono::steady_clock;
  for (;;) {
    const Clock::time_point before = Clock::now();
    // Blocks until something is ready (or runs what is already queued).
    size_t n = io.run_one();
    if (n == 0) break;  // stopped, or out of work
    const bool dense = Clock::now() - before < opts.pause;
    // Everything else that is ready now, without blocking.
    n += io.poll();
    if (stats) {
      stats->wakeups.fetch_add(1, std::memory_order_relaxed);
      stats->handlers.fetch_add(n, std::memory_order_relaxed);
    }
    if (io.stopped()) break;
    if (dense) {
      std::this_thread::sleep_for(opts.pause);
      if (stats) stats->pauses.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

}  // namespace stoker
