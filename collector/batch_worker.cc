#include "collector/batch_worker.h"

#include <exception>
#include <utility>

namespace stoker {

namespace asio = boost::asio;

BatchWorker::BatchWorker(asio::any_io_executor io)
    : io_(std::move(io)), thread_([this] { loop(); }) {}

BatchWorker::~BatchWorker() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

asio::awaitable<Status> BatchWorker::run(std::function<Status()> job) {
  auto initiate = [this, job = std::move(job)](auto handler) mutable {
    // The coroutine's handler is move-only; the job's completion is a
    // std::function. The tracked executor keeps io_context::run() going
    // until the completion has run.
    auto h = std::make_shared<decltype(handler)>(std::move(handler));
    auto work = asio::prefer(io_, asio::execution::outstanding_work.tracked);
    submit({std::move(job), [h, work](Status s) { std::move(*h)(std::move(s)); }});
  };
  co_return co_await asio::async_initiate<const decltype(asio::use_awaitable)&, void(Status)>(
      std::move(initiate), asio::use_awaitable);
}

void BatchWorker::submit(Job job) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(job));
    // A worker at work takes this job with its next batch; only a sleeping
    // one needs waking, once.
    wake = sleeping_ && queue_.size() == 1;
  }
  if (wake) wake_.notify_one();
}

void BatchWorker::loop() {
  std::deque<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (queue_.empty()) {
        if (stopping_) return;
        sleeping_ = true;
        wake_.wait(lock, [&] { return !queue_.empty() || stopping_; });
        sleeping_ = false;
        if (queue_.empty()) return;  // stopping, nothing left
      }
      batch.swap(queue_);
      ++batches_;
      jobs_ += batch.size();
    }
    std::vector<std::pair<Done, Status>> done;
    done.reserve(batch.size());
    for (auto& job : batch) {
      Status s;
      try {
        s = job.work();
      } catch (const std::exception& e) {
        s = Status::internal(std::string("failed: ") + e.what());
      }
      done.emplace_back(std::move(job.done), std::move(s));
    }
    batch.clear();
    // One post for the whole batch: the I/O thread is woken once.
    asio::post(io_, [done = std::move(done)]() mutable {
      for (auto& [d, s] : done) d(std::move(s));
    });
  }
}

uint64_t BatchWorker::batches() const {
  std::lock_guard lock(mu_);
  return batches_;
}

uint64_t BatchWorker::jobs() const {
  std::lock_guard lock(mu_);
  return jobs_;
}

}  // namespace stoker
