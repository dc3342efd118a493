// A tiny fork-join pool for the forward pass: parallel_for(n, f) runs
// f(i) for i in [0, n) split across the calling thread and n_threads-1 workers.
// Workers spin briefly on an atomic generation counter before sleeping, like
// ggml's threadpool: a token of a 30-layer model makes ~200 parallel_for calls,
// so a condition-variable wake-up per call (tens of microseconds) would cost
// more than the matmuls of a small model.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define SYSOUT_CPU_RELAX() _mm_pause()
#else
#define SYSOUT_CPU_RELAX() ((void)0)
#endif

namespace sysout::model {

class thread_pool {
 public:
  explicit thread_pool(int n_threads = 1) : n_(n_threads < 1 ? 1 : n_threads) {
    for (int t = 1; t < n_; ++t) workers_.emplace_back([this] { worker(); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  int size() const noexcept { return n_; }

  // Runs f(i) for every i in [0, n); items are handed out dynamically in
  // chunks so threads that finish early take more. Blocks until all are done.
  // The caller works too and never waits for a worker that has not started:
  // on a loaded machine a descheduled worker must not stall the forward pass.
  void parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& f, std::int64_t chunk = 1) {
    if (n <= 0) return;
    if (n_ == 1 || n <= chunk) {
      for (std::int64_t i = 0; i < n; ++i) f(i);
      return;
    }
    auto j = std::make_shared<job>();
    j->f = &f;
    j->n = n;
    j->chunk = chunk < 1 ? 1 : chunk;
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = j;
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    j->run();
    // Every item is claimed; wait for those a worker claimed to finish.
    while (j->active.load(std::memory_order_acquire) != 0) SYSOUT_CPU_RELAX();
  }

 private:
  struct job {
    const std::function<void(std::int64_t)>* f = nullptr;
    std::int64_t n = 0, chunk = 1;
    std::atomic<std::int64_t> next{0};
    std::atomic<int> active{0};  // workers inside run()
    void run() {
      for (;;) {
        const std::int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
        if (b >= n) break;
        const std::int64_t e = b + chunk < n ? b + chunk : n;
        for (std::int64_t i = b; i < e; ++i) (*f)(i);
      }
    }
  };

  void worker() {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin briefly (the next parallel_for usually comes within microseconds), then sleep.
      int spins = 0;
      while (gen_.load(std::memory_order_acquire) == seen && spins < 20000) {
        SYSOUT_CPU_RELAX();
        ++spins;
      }
      std::shared_ptr<job> j;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
        seen = gen_.load(std::memory_order_acquire);
        if (stop_) return;
        j = job_;
      }
      if (!j) continue;
      // Register before claiming items: the caller waits only for registered workers,
      // and a worker registering late finds every item claimed and touches nothing.
      j->active.fetch_add(1, std::memory_order_acq_rel);
      j->run();
      j->active.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> gen_{0};
  std::shared_ptr<job> job_;
  bool stop_ = false;  // guarded by mu_
};

}  // namespace sysout::model
