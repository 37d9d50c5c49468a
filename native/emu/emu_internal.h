// emu_internal.h — the runtime's own types (not seen by kernels): the barrier, a launch's state
// and the per-thread state of an emulated CUDA thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cuda_emu.h"

namespace g4emu {

class Launch;

// The barrier behind __syncthreads and the warp operations. One 64-bit word holds the whole
// state, so arrival, departure (a thread that returned from the kernel) and release are single
// compare-and-swaps and a waiter can never confuse two phases:
//   bits  0..31  phase (the futex word: waiters sleep until it changes)
//   bits 32..47  threads arrived in this phase
//   bits 48..63  threads expected (the live threads; a departure lowers it)
// Waiting spins briefly when the block's threads all fit on the cores (the phase then often
// completes within microseconds; with more threads than cores spinning only delays the threads
// still on their way), then sleeps on a futex with a timeout so that an aborted launch and a deadlocked block
// are noticed.
class Barrier {
 public:
  // Starts over with `expected` threads; only while no thread uses the barrier.
  void reset(unsigned expected);
  // Arrives and waits for the phase to complete; throws Abort if the launch is aborted meanwhile.
  void arrive_and_wait(Launch& launch);
  // Leaves for good: lowers the expected count, completing the phase if the others all wait.
  void depart(Launch& launch);
  // Wakes sleepers without completing the phase (so that they notice an abort).
  void wake_all();

 private:
  static constexpr uint64_t kArrived = 1ull << 32, kExpected = 1ull << 48;
  static unsigned phase(uint64_t s) { return (unsigned)s; }
  static unsigned arrived(uint64_t s) { return (unsigned)(s >> 32) & 0xffffu; }
  static unsigned expected(uint64_t s) { return (unsigned)(s >> 48); }
  // the state of the next phase: phase + 1, nobody arrived, `expect` expected
  static uint64_t next_phase(uint64_t s, unsigned expect) {
    return ((uint64_t)expect << 48) | (uint32_t)(phase(s) + 1);
  }
  void released(Launch& launch, unsigned waiters);
  void wait_phase(Launch& launch, unsigned phase);

  std::atomic<uint64_t> state_{0};
  std::atomic<int> sleepers_{0};
};

// Thrown from a barrier wait (and by g4emu::fail) to unwind a thread out of an aborted kernel.
struct Abort {};

// Futex on a 32-bit word (Linux); timeout_ms < 0 waits without a timeout.
void futex_wait(const void* word, unsigned expected, int timeout_ms);
void futex_wake_all(const void* word);

struct Warp {
  Barrier barrier;
  std::atomic<unsigned> live{0};  // lanes that exist and have not returned
  // Double-buffered exchange area: operation k of a lane uses buffer k & 1. seq tells which
  // operation a deposit belongs to, so a reader knows which lanes took part.
  uint64_t seq[2][32];
  alignas(64) uint32_t word[2][32][kExchangeWords];
};

// What a waiter remembers between its timed-out sleeps, to tell a deadlock from slow progress.
struct DeadlockWatch {
  uint64_t activity = 0;
  long long since_ms = -1;
};

// The one launch in flight (launches are serialised).
class Launch {
 public:
  const char* kernel = "";
  g4emu_dims dims{};
  void (*body)(const void*) = nullptr;
  const void* ctx = nullptr;
  unsigned threads = 0, warps = 0;
  uint64_t blocks = 0;
  unsigned char* smem = nullptr;  // dynamic shared memory, dims.shared_bytes
  unsigned spin = 0;              // spin iterations of a waiter before it sleeps

  Barrier block_barrier;
  Warp warp[kMaxThreads / 32];

  // Blocks end with every thread meeting here; the last one prepares the next block.
  std::atomic<unsigned> finished{0};
  std::atomic<unsigned> block_phase{0};  // futex word
  uint64_t block_serial = 0;             // counts blocks over all launches (tags warp deposits)

  // Deadlock accounting of the running block. `activity` = blocked threads + kBias in the low
  // 32 bits (the bias keeps transient undercounts from borrowing) and a progress count above;
  // every release and every thread exit changes it.
  static constexpr uint64_t kBias = 1u << 30, kProgress = 1ull << 32;
  std::atomic<uint64_t> activity{kBias};
  std::atomic<int> live{0};

  std::atomic<bool> aborting{false};
  std::string error;  // the first error of the launch, set with `aborting`

  void start_block(uint64_t linear);
  // Records the first error, wakes every waiter so that it unwinds.
  void abort(const std::string& message);
  void watch_deadlock(DeadlockWatch& w);
  void thread_exit(unsigned tid);
};

// The emulated CUDA thread running on this OS thread.
struct ThreadState {
  Launch* launch = nullptr;
  Warp* warp = nullptr;
  int lane = 0;
  uint32_t ops = 0;     // warp operations so far in this block
  uint64_t epoch = 0;   // block serial << 32: with `ops`, a unique tag of a warp operation
};
extern thread_local ThreadState tls;

}  // namespace g4emu
