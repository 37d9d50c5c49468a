// The persistent worker pool of thread_pool.h.
//
// A job is published by writing its fields and then bumping `gen_`. A worker joins a job by raising
// `active_` before it looks at the job, and leaves by lowering it; the caller, once the task counter
// is exhausted, marks the job finished and waits for `active_` to reach zero. A worker that arrives
// after the finish mark backs off without touching the job (whose context lives on the caller's
// stack). All the atomics below are sequentially consistent: the finish mark against `active_`, and
// `sleepers_` against `gen_`, are both store-then-load pairs on two threads.
#include "thread_pool.h"

#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sched.h>
#include <thread>
#include <vector>

namespace g4 {
namespace {

// How long an idle worker spins before it sleeps: longer than the gaps between the kernels of a
// decode step, short enough that a worker left idle stops taking a core from other work.
constexpr auto kSpin = std::chrono::microseconds(300);
// After this many pause instructions a spinning thread yields its core on each turn instead: when
// the OS has put the caller and a worker on one core (a busy machine), the one that waits must let
// the other run.
constexpr int kPauses = 1024;

inline void pause_or_yield(int spins) {
  if (spins < kPauses) _mm_pause();
  else sched_yield();
}

// A task takes microseconds, so a caller that waits longer than kStall for the workers' last tasks
// is waiting for a worker the OS took off its core (a busy machine); the next kSolo of calls then
// run on the caller alone rather than wait like that again, and the workers are tried after it.
constexpr auto kStall = std::chrono::microseconds(500);
constexpr auto kSolo = std::chrono::milliseconds(50);

class Pool {
 public:
  int threads() const { return threads_.load(); }

  void set_threads(int n) {
    std::lock_guard<std::mutex> lk(resize_);
    threads_.store(n < 1 ? 1 : n);
  }

  void run(int64_t tasks, bool parallel, void (*task)(void*, int64_t), void* ctx) {
    if (tasks <= 0) return;
    bool expected = false;
    if (!parallel || tasks == 1 || threads_.load() < 2 || solo() || !busy_.compare_exchange_strong(expected, true)) {
      for (int64_t i = 0; i < tasks; i++) task(ctx, i);
      return;
    }
    ensure_workers(threads_.load() - 1);
    task_ = task;
    ctx_ = ctx;
    tasks_ = tasks;
    next_.store(0);
    const uint64_t g = gen_.fetch_add(1) + 1;
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lk(sleep_);
      wake_.notify_all();
    }
    for (int64_t i; (i = next_.fetch_add(1)) < tasks;) task(ctx, i);
    finished_.store(g);
    if (active_.load() != 0) {
      const auto since = std::chrono::steady_clock::now();
      for (int spins = 1; active_.load() != 0; spins++) {
        pause_or_yield(spins);
        if (spins >= kPauses || (spins & 255) == 0) {
          const auto now = std::chrono::steady_clock::now();
          if (now - since > kStall) soloUntil_ = now + kSolo;
        }
      }
    }
    busy_.store(false);
  }

 private:
  // within kSolo of a stall (a relaxed read: a caller that misses a fresh stall just tries the workers once more)
  bool solo() const {
    return soloUntil_.load(std::memory_order_relaxed) > std::chrono::steady_clock::now();
  }

  void ensure_workers(int n) {
    // workers only grow in number; those beyond the current thread count take no tasks
    std::lock_guard<std::mutex> lk(resize_);
    while ((int)workers_.size() < n) {
      int id = (int)workers_.size();
      workers_.emplace_back([this, id] { loop(id); });
      workers_.back().detach();  // lives as long as the process; never joined at exit
    }
  }

  void loop(int id) {
    uint64_t seen = gen_.load();
    for (;;) {
      uint64_t g = wait_for_job(seen);
      seen = g;
      if (id + 1 >= threads_.load()) continue;
      active_.fetch_add(1);
      const uint64_t now = gen_.load();
      if (finished_.load() != now) {
        for (int64_t i; (i = next_.fetch_add(1)) < tasks_;) task_(ctx_, i);
      }
      active_.fetch_sub(1);
      seen = now > seen ? now : seen;
    }
  }

  uint64_t wait_for_job(uint64_t seen) {
    auto until = std::chrono::steady_clock::now() + kSpin;
    for (int spins = 0;; spins++) {
      uint64_t g = gen_.load();
      if (g != seen) return g;
      pause_or_yield(spins);
      if ((spins >= kPauses || (spins & 255) == 255) && std::chrono::steady_clock::now() > until) break;
    }
    std::unique_lock<std::mutex> lk(sleep_);
    sleepers_.fetch_add(1);
    wake_.wait(lk, [&] { return gen_.load() != seen; });
    sleepers_.fetch_sub(1);
    return gen_.load();
  }

  std::atomic<int> threads_{1};
  std::atomic<bool> busy_{false};
  std::atomic<uint64_t> gen_{0}, finished_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0}, sleepers_{0};
  std::atomic<std::chrono::steady_clock::time_point> soloUntil_{};
  // the current job, written by the caller before gen_ is bumped
  void (*task_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  int64_t tasks_ = 0;
  std::mutex resize_, sleep_;
  std::condition_variable wake_;
  std::vector<std::thread> workers_;
};

// Never destroyed: its detached workers may still be spinning when the process exits.
Pool& pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int pool_threads() { return pool().threads(); }
void pool_set_threads(int n) { pool().set_threads(n); }
void pool_run(int64_t tasks, bool parallel, void (*task)(void*, int64_t), void* ctx) {
  pool().run(tasks, parallel, task, ctx);
}

}  // namespace g4
