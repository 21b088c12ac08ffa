#include "http/send_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace jenky {

SendPool::~SendPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

void SendPool::Run(Job* begin, Job* end) {
  for (Job* j = begin; j != end; ++j) {
    while (j->sent < j->size) {
      ssize_t n = send(j->fd, j->data + j->sent, j->size - j->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        j->sent += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) j->error = errno;
        break;
      }
    }
  }
}

// Slice I of N parts of JOBS.
static void Slice(std::vector<SendPool::Job>& jobs, int i, int n, SendPool::Job** b,
                  SendPool::Job** e) {
  size_t per = (jobs.size() + n - 1) / n;
  size_t lo = std::min(jobs.size(), per * i), hi = std::min(jobs.size(), per * (i + 1));
  *b = jobs.data() + lo;
  *e = jobs.data() + hi;
}

void SendPool::SendAll(std::vector<Job>& jobs) {
  if (helpers_ == 0 || jobs.size() < kMinParallel) {
    Run(jobs.data(), jobs.data() + jobs.size());
    return;
  }
  if (threads_.empty()) {
    for (int i = 0; i < helpers_; ++i) threads_.emplace_back([this, i] { Helper(i + 1); });
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch_ = &jobs;
    pending_ = helpers_;
    ++generation_;
  }
  work_.notify_all();
  Job *b, *e;
  Slice(jobs, 0, helpers_ + 1, &b, &e);
  Run(b, e);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return pending_ == 0; });
  batch_ = nullptr;
}

void SendPool::Helper(int index) {
  unsigned long seen = 0;
  for (;;) {
    std::vector<Job>* batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      batch = batch_;
    }
    Job *b, *e;
    Slice(*batch, index, helpers_ + 1, &b, &e);
    Run(b, e);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

}  // namespace jenky
