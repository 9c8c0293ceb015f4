// The I/O thread's loop (net/io_loop.h) on real sockets and timers: it runs
// what run() runs and stops as run() stops; readiness that comes faster than
// the pause is gathered (few wake-ups for many arrivals, nothing lost);
// sparse events are handled without a pause.
#include <catch2/catch.hpp>
#include <thread>

#include "net/asio_pch.h"
#include "net/io_loop.h"

using namespace stoker;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using asio::ip::tcp;

TEST_CASE("the io loop runs posted work and timers and returns when out of work or stopped",
          "[io_loop]") {
  asio::io_context io;
  int posted = 0, fired = 0;
  for (int i = 0; i < 10; ++i) asio::post(io, [&] { ++posted; });
  asio::steady_timer t(io, 20ms);
  t.async_wait([&](const boost::system::error_code& ec) { fired += !ec; });
  IoLoopStats stats;
  run_io_loop(io, IoLoopOptions{}, &stats);  // returns: out of work
  CHECK(posted == 10);
  CHECK(fired == 1);
  CHECK(stats.handlers.load() == 11);
  CHECK(io.stopped());

  // Stopped from a handler while work remains (a timer an hour away).
  asio::io_context io2;
  asio::steady_timer far(io2, 1h);
  far.async_wait([](const boost::system::error_code&) {});
  asio::post(io2, [&] { io2.stop(); });
  run_io_loop(io2, IoLoopOptions{}, nullptr);
  CHECK(io2.stopped());
}

TEST_CASE("the io loop gathers readiness that comes faster than its pause", "[io_loop]") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket reader(io);
  tcp::socket writer(io);
  writer.connect(acceptor.local_endpoint());
  acceptor.accept(reader);

  // 200 small writes 1 ms apart from another thread; the loop reads with
  // one outstanding read at a time, as a scrape does.
  constexpr int kWrites = 200;
  std::thread sender([&] {
    for (int i = 0; i < kWrites; ++i) {
      asio::write(writer, asio::buffer("0123456789", 10));
      std::this_thread::sleep_for(1ms);
    }
    writer.shutdown(tcp::socket::shutdown_send);
  });
  std::vector<char> buf(64 * 1024);
  size_t received = 0, reads = 0;
  std::function<void()> read = [&] {
    reader.async_read_some(asio::buffer(buf), [&](const boost::system::error_code& ec, size_t n) {
      if (ec) return;  // eof: the sender is done
      received += n;
      ++reads;
      read();
    });
  };
  read();
  IoLoopStats stats;
  run_io_loop(io, IoLoopOptions{20ms}, &stats);
  sender.join();
  CHECK(received == kWrites * 10);  // nothing lost
  // Each dense wake-up is followed by a 20 ms pause, so ~200 ms of writes
  // come in about ten wake-ups; one per write without the pause.
  CHECK(stats.pauses.load() >= 1);
  CHECK(stats.wakeups.load() < kWrites / 4);
  CHECK(reads < kWrites / 4);
}

TEST_CASE("the io loop handles sparse events without pausing", "[io_loop]") {
  asio::io_context io;
  asio::steady_timer t(io);
  int rounds = 0;
  // Each timer is set from its predecessor's handler 100 ms ahead: the loop
  // always waits longer than its 10 ms pause for the next one (unless the
  // thread stalls for 90 ms between setting a timer and waiting for it).
  std::function<void()> arm = [&] {
    t.expires_after(100ms);
    t.async_wait([&](const boost::system::error_code& ec) {
      if (!ec && ++rounds < 5) arm();
    });
  };
  arm();
  IoLoopStats stats;
  run_io_loop(io, IoLoopOptions{10ms}, &stats);
  CHECK(rounds == 5);
  CHECK(stats.pauses.load() == 0);
  CHECK(stats.wakeups.load() == 5);
}
