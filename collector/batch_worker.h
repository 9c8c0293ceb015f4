// BatchWorker: a thread of its own for the CPU work of scrapes (decode,
// delta, labels, queueing for the store), handed over in batches.
//
// A scrape loop awaits run(job) on the I/O thread; the job runs on the
// worker's thread and the loop resumes on the I/O thread with its Status.
// The hand-offs are what is batched: the worker is woken only when it sleeps
// (jobs queued while it works are taken with the next batch), and the
// completions of a batch go back to the I/O thread in one post. Scrapes start
// on a grid of ticks (ScrapeLoop::tick), so their bodies arrive together and a
// batch is typically several profiles: one wake-up each way per batch instead
// of one per profile, and no second thread that the first wakes up. Jobs
// run one at a time, in the order they were handed over.
//
// A pending job keeps the I/O executor's work count up: io_context::run()
// does not return while a scrape waits for its job. The destructor runs what
// is still queued, then joins the thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "model/status.h"
#include "net/asio_pch.h"

namespace stoker {

class BatchWorker {
 public:
  // Completions run on `io`.
  explicit BatchWorker(boost::asio::any_io_executor io);
  ~BatchWorker();
  BatchWorker(const BatchWorker&) = delete;
  BatchWorker& operator=(const BatchWorker&) = delete;

  // Runs `job` on the worker's thread; the awaiting coroutine resumes on the
  // I/O executor with the job's Status. Not cancellable: a job that was
  // handed over runs (it may refer to the awaiting coroutine's locals).
  boost::asio::awaitable<Status> run(std::function<Status()> job);

  // Batches run so far and jobs in them (for tests and benchmarks).
  uint64_t batches() const;
  uint64_t jobs() const;

 private:
  using Done = std::function<void(Status)>;
  struct Job {
    std::function<Status()> work;
    Done done;
  };
  void submit(Job job);
  void loop();

  boost::asio::any_io_executor io_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool sleeping_ = false;
  bool stopping_ = false;
  uint64_t batches_ = 0, jobs_ = 0;
  std::thread thread_;
};

}  // namespace stoker
