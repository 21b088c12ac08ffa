// Fan-out sends on more than one core. Sending a frame to a TCP socket costs
// microseconds of kernel time (on loopback also the receiving side's), so a
// flush to 10,000 viewers is tens of milliseconds of one thread's time; the
// pool splits such a batch between the calling thread and a few helpers.
//
// The calling thread (the event loop) waits in SendAll until every job is
// done, so nothing else runs meanwhile: the helpers touch only the jobs'
// descriptors and bytes, which the loop does not change while it waits, and
// no state of the hub is ever shared. Helpers start on first use.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace jenky {

class SendPool {
 public:
  struct Job {
    int fd = -1;
    const char* data = nullptr;
    size_t size = 0;
    size_t sent = 0;  // out: bytes taken by the socket (< size: it was full)
    int error = 0;    // out: errno of a failed send other than EAGAIN
  };

  // HELPERS threads beside the caller; 0 sends everything on the caller.
  explicit SendPool(int helpers) : helpers_(helpers) {}
  ~SendPool();
  SendPool(const SendPool&) = delete;
  SendPool& operator=(const SendPool&) = delete;

  // A batch smaller than this is sent on the caller alone (a hand-off costs
  // more than it saves).
  static constexpr size_t kMinParallel = 512;

  // Non-blocking send() of every job; returns when all are done.
  void SendAll(std::vector<Job>& jobs);
  int helpers() const { return helpers_; }

 private:
  static void Run(Job* begin, Job* end);
  void Helper(int index);

  int helpers_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable work_;       // helpers wait for a new batch
  std::condition_variable done_;       // the caller waits for the helpers
  std::vector<Job>* batch_ = nullptr;  // guarded by mu_
  unsigned long generation_ = 0;       // guarded by mu_
  int pending_ = 0;                    // guarded by mu_: helpers still working
  bool stop_ = false;                  // guarded by mu_
};

}  // namespace jenky
