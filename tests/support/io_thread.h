// IoThread: an io_context running on a thread of its own (named, so that its
// CPU can be read from /proc), for tests and benchmarks of components that run
// on the process's io_context, such as discoverers. sync() runs a function on
// that thread and waits for it: start, stop and destroy such components there.
#pragma once

#include <pthread.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <string>
#include <thread>
#include <utility>

namespace stoker::test {

class IoThread {
 public:
  explicit IoThread(std::string name = "stoker-io")
      : guard_(io_.get_executor()), thread_([this, name] {
          pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
          io_.run();
        }) {}
  ~IoThread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  boost::asio::io_context& io() { return io_; }
  // Runs `fn` on the io_context's thread and returns what it returns.
  template <typename F>
  auto sync(F&& fn) {
    std::packaged_task<decltype(fn())()> task(std::forward<F>(fn));
    auto done = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return done.get();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
};

}  // namespace stoker::test
