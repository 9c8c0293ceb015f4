// The I/O thread's loop: io_context::run(), except that when readiness comes
// faster than `pause`, the thread lets it gather for `pause` before handling
// it (issue #22, eighth step).
//
// At 100 profiles/s a Go target's answer (head, a large chunk, the last
// chunk: three writes) reached stoker in pieces, each waking the I/O thread
// to read what had arrived so far: ~6 epoll_wait and ~5 recvmsg per profile.
// With the pause, a busy loop wakes at most once per `pause`, finds whole
// answers in the sockets and reads each in one or two large reads. An event
// the thread waited at least `pause` for is handled at once, as run() would;
// one that follows its predecessor within `pause` (on an idle collector: a
// prompt answer to the request just sent) waits at most `pause` more.
// Timers fire at most `pause` late.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include <boost/asio/io_context.hpp>

namespace stoker {

struct IoLoopStats {
  std::atomic<uint64_t> wakeups{0};   // blocking waits that returned work
  std::atomic<uint64_t> handlers{0};  // handlers run
  std::atomic<uint64_t> pauses{0};    // pauses taken to let readiness gather
};

struct IoLoopOptions {
  // 0 turns the pause off (plain run()).
  std::chrono::microseconds pause{std::chrono::milliseconds(5)};
};

// Runs `io` until it is stopped or out of work, as io.run() does.
void run_io_loop(boost::asio::io_context& io, const IoLoopOptions& opts, IoLoopStats* stats);

}  // namespace stoker
