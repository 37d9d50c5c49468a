// sync.cpp — barriers, futexes, __syncthreads and the warp exchange of the CUDA emulation.
#include <immintrin.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

#include "emu_internal.h"

namespace g4emu {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the futex word is the low half of the state");

constexpr int kSleepMs = 100;  // a sleeper wakes this often to look for aborts and deadlocks

void futex_wait(const void* word, unsigned expected, int timeout_ms) {
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout_ms < 0 ? nullptr : &ts, nullptr, 0);
}

void futex_wake_all(const void* word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

void Barrier::reset(unsigned expect) {
  state_.store(next_phase(state_.load(), expect));
}

void Barrier::wake_all() { futex_wake_all(&state_); }

void Barrier::released(Launch& launch, unsigned waiters) {
  // the released waiters are no longer blocked, and the block made progress
  launch.activity.fetch_add(Launch::kProgress - waiters);
  if (sleepers_.load() > 0) futex_wake_all(&state_);
}

void Barrier::arrive_and_wait(Launch& launch) {
  uint64_t s = state_.load();
  for (;;) {
    if (arrived(s) + 1 >= expected(s)) {  // the last one in: release the others
      if (state_.compare_exchange_weak(s, next_phase(s, expected(s)))) {
        released(launch, arrived(s));
        return;
      }
    } else if (state_.compare_exchange_weak(s, s + kArrived)) {
      launch.activity.fetch_add(1);  // after arriving, so the count may lag but never lead
      wait_phase(launch, phase(s));
      return;
    }
  }
}

void Barrier::depart(Launch& launch) {
  uint64_t s = state_.load();
  for (;;) {
    unsigned e = expected(s) - 1, a = arrived(s);
    if (a > 0 && a >= e) {  // everyone left is waiting: this departure completes the phase
      if (state_.compare_exchange_weak(s, next_phase(s, e))) {
        released(launch, a);
        return;
      }
    } else if (state_.compare_exchange_weak(s, s - kExpected)) {
      return;
    }
  }
}

void Barrier::wait_phase(Launch& launch, unsigned p) {
  for (unsigned i = 0; i < launch.spin; ++i) {
    if (phase(state_.load(std::memory_order_acquire)) != p) return;
    _mm_pause();
  }
  DeadlockWatch watch;
  for (;;) {
    if (phase(state_.load(std::memory_order_acquire)) != p) return;
    if (launch.aborting.load()) throw Abort{};
    sleepers_.fetch_add(1);  // seq_cst on both sides: either we see the new phase or they see us
    futex_wait(&state_, p, kSleepMs);
    sleepers_.fetch_sub(1);
    if (phase(state_.load(std::memory_order_acquire)) != p) return;
    if (launch.aborting.load()) throw Abort{};
    launch.watch_deadlock(watch);
  }
}

thread_local ThreadState tls;

WarpView warp_exchange(const uint32_t* mine, int words) {
  ThreadState& t = tls;
  Warp& w = *t.warp;
  const unsigned buf = ++t.ops & 1u;
  const uint64_t tag = t.epoch | t.ops;
  std::memcpy(w.word[buf][t.lane], mine, (size_t)words * 4);
  w.seq[buf][t.lane] = tag;
  w.barrier.arrive_and_wait(*t.launch);
  unsigned present = 0;
  for (int j = 0; j < 32; ++j)
    if (w.seq[buf][j] == tag) present |= 1u << j;
  return {w.word[buf], present, t.lane};
}

void warp_barrier() { tls.warp->barrier.arrive_and_wait(*tls.launch); }

unsigned live_lanes() { return tls.warp->live.load(); }

}  // namespace g4emu

void __syncthreads() { g4emu::tls.launch->block_barrier.arrive_and_wait(*g4emu::tls.launch); }
