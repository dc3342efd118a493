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
    for (int t = 1; t < n_; ++t) workers_.emplace_back([this, t] { worker(t); });
  }
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_.store(true, std::memory_order_release);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  int size() const noexcept { return n_; }

  // Runs f(i) for every i in [0, n); items are handed out dynamically in
  // chunks so threads that finish early take more. Blocks until all are done.
  void parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& f, std::int64_t chunk = 1) {
    if (n <= 0) return;
    if (n_ == 1 || n <= chunk) {
      for (std::int64_t i = 0; i < n; ++i) f(i);
      return;
    }
    job_ = &f;
    job_n_ = n;
    job_chunk_ = chunk < 1 ? 1 : chunk;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(n_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    run_items();
    while (pending_.load(std::memory_order_acquire) != 0) SYSOUT_CPU_RELAX();
    job_ = nullptr;
  }

 private:
  void run_items() {
    const auto& f = *job_;
    for (;;) {
      const std::int64_t b = next_.fetch_add(job_chunk_, std::memory_order_relaxed);
      if (b >= job_n_) break;
      const std::int64_t e = b + job_chunk_ < job_n_ ? b + job_chunk_ : job_n_;
      for (std::int64_t i = b; i < e; ++i) f(i);
    }
  }
  void worker(int) {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin a while (the next parallel_for usually comes within microseconds), then sleep.
      int spins = 0;
      while (gen_.load(std::memory_order_acquire) == seen && spins < 200000) {
        SYSOUT_CPU_RELAX();
        ++spins;
      }
      if (gen_.load(std::memory_order_acquire) == seen) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
      }
      seen = gen_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) return;
      run_items();
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> gen_{0};
  std::atomic<std::int64_t> next_{0};
  std::atomic<int> pending_{0};
  const std::function<void(std::int64_t)>* job_ = nullptr;
  std::int64_t job_n_ = 0, job_chunk_ = 1;
  std::atomic<bool> stop_{false};
};

}  // namespace sysout::model
