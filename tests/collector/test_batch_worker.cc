#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "collector/batch_worker.h"

using namespace stoker;
namespace asio = boost::asio;

TEST_CASE("the batch worker runs jobs in order on its thread and resumes on the I/O thread",
          "[batch_worker]") {
  asio::io_context io;
  BatchWorker worker(io.get_executor());
  const auto io_thread = std::this_thread::get_id();
  std::vector<int> ran;                   // on the worker, in order
  std::vector<std::string> results;       // on the I/O thread
  std::atomic<bool> off_io_thread{true};  // every job ran elsewhere
  bool resumed_on_io = true;
  for (int i = 0; i < 5; ++i) {
    asio::co_spawn(
        io,
        [&, i]() -> asio::awaitable<void> {
          Status s = co_await worker.run([&, i]() -> Status {
            if (std::this_thread::get_id() == io_thread) off_io_thread = false;
            ran.push_back(i);
            if (i == 3) throw std::runtime_error("boom");
            return i % 2 ? Status::invalid("odd " + std::to_string(i)) : Status();
          });
          resumed_on_io = resumed_on_io && std::this_thread::get_id() == io_thread;
          results.push_back(s.ok() ? "ok" : s.message());
        },
        asio::detached);
  }
  // No work guard: run() returns only once every job's completion has run.
  io.run();
  CHECK(ran == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(off_io_thread);
  CHECK(resumed_on_io);
  REQUIRE(results.size() == 5);
  std::sort(results.begin(), results.end());
  CHECK(results == std::vector<std::string>{"failed: boom", "odd 1", "ok", "ok", "ok"});
  CHECK(worker.jobs() == 5);
}

TEST_CASE("jobs handed over while the worker is busy run as one batch", "[batch_worker]") {
  asio::io_context io;
  BatchWorker worker(io.get_executor());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, first_running = false;
  int done = 0;
  auto spawn = [&](std::function<Status()> job) {
    asio::co_spawn(
        io,
        [&, job]() -> asio::awaitable<void> {
          co_await worker.run(job);
          ++done;
        },
        asio::detached);
  };
  // The first job holds the worker until five more are queued behind it.
  spawn([&] {
    std::unique_lock lock(mu);
    first_running = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return Status();
  });
  io.poll();  // hands the first job over
  {
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return first_running; }));
  }
  for (int i = 0; i < 5; ++i) spawn([] { return Status(); });
  io.poll();  // hands the five over while the first still runs
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  io.run();
  CHECK(done == 6);
  CHECK(worker.jobs() == 6);
  CHECK(worker.batches() == 2);
}

TEST_CASE("a batch worker going away runs what is still queued", "[batch_worker]") {
  asio::io_context io;
  std::atomic<int> ran{0};
  {
    BatchWorker worker(io.get_executor());
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(
          io,
          [&]() -> asio::awaitable<void> {
            co_await worker.run([&] {
              std::this_thread::sleep_for(std::chrono::milliseconds(20));
              ++ran;
              return Status();
            });
          },
          asio::detached);
    }
    io.poll();  // all three handed over; the worker goes before they ran
  }
  CHECK(ran == 3);
  io.run();  // their completions still run
}
