// A tiny fork-join pool for the forward pass: parallel_for(n, f) runs
// f(i) for i in [0, n) split across the calling thread and n_threads-1 workers.
// Workers spin briefly on the job word before sleeping, like ggml's threadpool:
// a generated token of a 30-layer model makes ~150 parallel_for calls of a few
// microseconds each, so a heap-allocated job, a mutex round trip or a
// condition-variable wake-up per call would cost more than the work.
//
// Hand-off without locks: one 64-bit atomic word holds (job tag, next item).
// Items are claimed by compare-exchange on that word, so a worker that wakes
// late, holding the tag of a finished job, can never claim an item of the next
// one; the caller waits only for items actually claimed (a descheduled worker
// that claimed nothing does not stall the forward pass on a loaded machine).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
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
    stop_.store(true);
    {
      std::lock_guard<std::mutex> lk(mu_);
      word_.store(pack(++tag_, 0));
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
  }

  int size() const noexcept { return n_; }

  // Runs f(i) for every i in [0, n); items are handed out dynamically in
  // chunks so threads that finish early take more. Blocks until all are done.
  template <class F>
  void parallel_for(std::int64_t n, const F& f, std::int64_t chunk = 1) {
    parallel_ranges(
        n, [&f](std::int64_t b, std::int64_t e) {
          for (std::int64_t i = b; i < e; ++i) f(i);
        },
        chunk);
  }

  // The same with f(begin, end) called once per claimed chunk.
  template <class F>
  void parallel_ranges(std::int64_t n, const F& f, std::int64_t chunk = 1) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    if (n_ == 1 || n <= chunk || n >= std::int64_t(closed)) return f(std::int64_t(0), n);
    const std::uint32_t tag = ++tag_;
    // Close the previous job's word first: a late worker still holding its tag
    // fails every claim from here on, so n_/f_ may be rewritten.
    word_.store(pack(tag, closed));
    job_n_.store(n, std::memory_order_relaxed);
    job_chunk_.store(chunk, std::memory_order_relaxed);
    job_ctx_.store(const_cast<void*>(static_cast<const void*>(&f)), std::memory_order_relaxed);
    job_call_.store(&call<F>, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    word_.store(pack(tag, 0));
    if (sleepers_.load() > 0) {
      { std::lock_guard<std::mutex> lk(mu_); }
      cv_.notify_all();
    }
    std::int64_t mine = 0;
    for (;;) {
      std::int64_t b, e;
      if (!claim(tag, b, e)) break;
      f(b, e);
      mine += e - b;
    }
    // Every item is claimed; wait for those a worker claimed to finish.
    const std::int64_t others = n - mine;
    while (done_.load(std::memory_order_acquire) != others) SYSOUT_CPU_RELAX();
  }

 private:
  static constexpr std::uint32_t closed = 0xFFFFFFFFu;
  static std::uint64_t pack(std::uint32_t tag, std::uint32_t next) noexcept {
    return (std::uint64_t(tag) << 32) | next;
  }
  static std::uint32_t tag_of(std::uint64_t w) noexcept { return std::uint32_t(w >> 32); }
  static std::uint32_t next_of(std::uint64_t w) noexcept { return std::uint32_t(w); }

  template <class F>
  static void call(void* ctx, std::int64_t b, std::int64_t e) {
    (*static_cast<const F*>(ctx))(b, e);
  }

  // Claims [b, e) of job `tag`; false once the job is exhausted or replaced.
  // The job's n is read before the exchange: if the caller has meanwhile closed
  // the word to set up another job, the exchange fails (seq_cst orders it).
  bool claim(std::uint32_t tag, std::int64_t& b, std::int64_t& e) {
    std::uint64_t w = word_.load();
    for (;;) {
      if (tag_of(w) != tag || next_of(w) == closed) return false;
      const std::int64_t n = job_n_.load(), chunk = job_chunk_.load();
      const std::int64_t nx = next_of(w);
      if (nx >= n) return false;
      const std::int64_t end = nx + chunk < n ? nx + chunk : n;
      if (word_.compare_exchange_weak(w, pack(tag, std::uint32_t(end)))) {
        b = nx;
        e = end;
        return true;
      }
    }
  }

  // A job is open when the word carries a tag this worker has not served and is not closed.
  bool open_job(std::uint32_t seen, std::uint32_t& tag) const noexcept {
    const std::uint64_t w = word_.load();
    if (tag_of(w) == seen || next_of(w) == closed) return false;
    tag = tag_of(w);
    return true;
  }

  void worker() {
    std::uint32_t seen = 0;
    for (;;) {
      std::uint32_t tag = 0;
      // Spin briefly (the next parallel_for usually comes within microseconds), then sleep.
      for (int spins = 0; !open_job(seen, tag) && spins < 20000; ++spins) SYSOUT_CPU_RELAX();
      if (!open_job(seen, tag)) {
        std::unique_lock<std::mutex> lk(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lk, [&] { return open_job(seen, tag) || stop_.load(); });
        sleepers_.fetch_sub(1);
      }
      if (stop_.load()) return;
      seen = tag;
      std::int64_t b, e;
      while (claim(tag, b, e)) {
        // A successful claim pins the job: the caller cannot finish (and replace
        // f) before this chunk is counted in done_.
        job_call_.load(std::memory_order_relaxed)(job_ctx_.load(std::memory_order_relaxed), b, e);
        done_.fetch_add(e - b, std::memory_order_release);
      }
    }
  }

  int n_;
  std::vector<std::thread> workers_;
  std::atomic<std::uint64_t> word_{0};  // (tag, next item) of the current job
  std::atomic<std::int64_t> job_n_{0}, job_chunk_{1};
  std::atomic<void*> job_ctx_{nullptr};
  std::atomic<void (*)(void*, std::int64_t, std::int64_t)> job_call_{nullptr};
  std::atomic<std::int64_t> done_{0};  // items finished by workers in the current job
  std::uint32_t tag_ = 0;              // caller side only
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace sysout::model
