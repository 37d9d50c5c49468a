// fiber.cpp — a block's threads as fibers on one worker: the context switch, the block's
// scheduler, __syncthreads and the warp operations. The execution model is described at the top
// of cuda_emu.h.
#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "emu_internal.h"

// g4emu_fiber_switch(save, to): saves the callee-saved registers on the current stack, stores the
// stack pointer in *save and continues on stack `to`, as saved by an earlier switch (or laid out
// by start_frame). g4emu_fiber_jump(to) does the same without saving: the current stack is dropped.
// The SysV ABI leaves only rbx, rbp, r12-r15 to be kept across a call; the kernels never change
// the x87 or SSE control words, so those are not saved.
extern "C" void g4emu_fiber_switch(void** save, void* to) __attribute__((visibility("hidden")));
extern "C" [[noreturn]] void g4emu_fiber_jump(void* to) __attribute__((visibility("hidden")));
asm(R"(
    .text
    .p2align 4
    .globl g4emu_fiber_switch
    .hidden g4emu_fiber_switch
    .type g4emu_fiber_switch, @function
g4emu_fiber_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size g4emu_fiber_switch, .-g4emu_fiber_switch

    .p2align 4
    .globl g4emu_fiber_jump
    .hidden g4emu_fiber_jump
    .type g4emu_fiber_jump, @function
g4emu_fiber_jump:
    movq %rdi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size g4emu_fiber_jump, .-g4emu_fiber_jump
)");

namespace g4emu {
namespace {

unsigned char* stack_slot(const Worker& w, unsigned i) {
  return reinterpret_cast<unsigned char*>(g_region.base) + (size_t)w.index * kWorkerBytes + kControlBytes +
         (size_t)i * kStackBytes;
}

[[noreturn]] void fiber_main();

// A fresh fiber's stack as g4emu_fiber_switch leaves one: six saved registers, then the address
// `ret` continues at (fiber_main), then a zero return address that ends any unwinding there; after
// the `ret` the stack pointer is at a 16-byte boundary + 8, as after a call.
void* start_frame(unsigned char* top) {
  auto* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;  // fake return address of fiber_main, at top - 8
  *--sp = reinterpret_cast<uint64_t>(&fiber_main);
  for (int i = 0; i < 6; ++i) *--sp = 0;
  return sp;
}

void enter(Worker& w, Fiber* f) {
  w.cur = f;
  w.builtins.thread = f->idx;
  restamp(w);
}

void make_ready(Worker& w, unsigned fiber) { w.ready[w.ready_tail++ & (kMaxThreads - 1)] = (uint16_t)fiber; }

Fiber* next_ready(Worker& w) {
  if (w.ready_head == w.ready_tail) return nullptr;
  return &w.fibers[w.ready[w.ready_head++ & (kMaxThreads - 1)]];
}

// The running fiber `f` waits: the next ready fiber runs, or the scheduler when none is (then
// every live fiber waits, which run_block reports as a deadlock). Returns when f is made ready
// and switched to again.
void wait_here(Worker& w, Fiber* f) {
  Fiber* next = next_ready(w);
  if (next) {
    enter(w, next);
    g4emu_fiber_switch(&f->sp, next->sp);
  } else {
    w.cur = nullptr;
    g4emu_fiber_switch(&f->sp, w.sched_sp);
  }
}

void release_barrier(Worker& w) {
  for (unsigned i = 0; i < w.at_barrier; ++i) make_ready(w, w.barrier_wait[i]);
  w.at_barrier = 0;
  next_interval(w);
}

// Completes the pending operation of warp `wi`: its lanes other than `self` (a lane bit, or 0)
// become ready.
void complete_warp(Worker& w, unsigned wi, unsigned self) {
  Warp& wp = w.warps[wi];
  wp.present[wp.pending_buf] = wp.arrived;
  for (unsigned m = wp.arrived & ~self; m; m &= m - 1) make_ready(w, wi * 32 + (unsigned)__builtin_ctz(m));
  wp.arrived = 0;
}

// The running fiber arrives at its warp's next operation (already deposited, ops counted).
void arrive_warp(Worker& w, Fiber* f) {
  const unsigned wi = f->tid >> 5, bit = 1u << (f->tid & 31);
  Warp& wp = w.warps[wi];
  wp.pending_buf = f->ops & 1u;
  wp.arrived |= bit;
  if (wp.arrived == wp.live) {
    complete_warp(w, wi, bit);
    return;
  }
  wait_here(w, f);
}

// The running fiber returned from the kernel: it leaves its warp and the block barrier, which may
// complete operations the others wait in, then the next ready fiber (or the scheduler) runs.
[[noreturn]] void exit_fiber(Worker& w) {
  Fiber* f = w.cur;
  const unsigned wi = f->tid >> 5;
  Warp& wp = w.warps[wi];
  wp.live &= ~(1u << (f->tid & 31));
  if (wp.arrived && wp.arrived == wp.live) complete_warp(w, wi, 0);
  --w.live;
  if (w.at_barrier && w.at_barrier == w.live) release_barrier(w);
  Fiber* next = next_ready(w);
  if (next) {
    enter(w, next);
    g4emu_fiber_jump(next->sp);
  }
  w.cur = nullptr;
  g4emu_fiber_jump(w.sched_sp);
}

void fiber_main() {
  Worker& w = fiber_worker();
  std::string error;
  try {
    w.launch->body(w.launch->ctx);
  } catch (const std::exception& e) {
    error = std::string("C++ exception: ") + e.what();
  } catch (...) {
    error = "unknown C++ exception";
  }
  // reported only once the handler has finished: leaving a fiber inside one would leave the
  // thread's exception state behind
  if (!error.empty()) report(w, error);
  exit_fiber(w);
}

// Guard pages for the stacks of fibers [w.guarded, n): a fiber that overflows faults there
// instead of writing into its neighbour.
bool guard_stacks(Worker& w, unsigned n) {
  for (; w.guarded < n; ++w.guarded) {
    if (mprotect(stack_slot(w, w.guarded), kGuardBytes, PROT_NONE) != 0) return false;
  }
  return true;
}

}  // namespace

void init_worker_fibers(Worker& w) { w.guarded = 0; }

void run_block(Worker& w, uint64_t linear) {
  Launch& L = *w.launch;
  const g4emu_dims& d = L.dims;
  w.builtins.block = {(unsigned)(linear % d.grid[0]), (unsigned)(linear / d.grid[0] % d.grid[1]),
                    (unsigned)(linear / ((uint64_t)d.grid[0] * d.grid[1]))};
  const unsigned T = L.threads;
  if (!guard_stacks(w, T)) {
    L.abort("cannot protect the guard pages of the fiber stacks: " + std::string(std::strerror(errno)));
    return;
  }
  next_interval(w);
  w.block_start = w.interval;
  if (d.shared_bytes && !sanitizer_enabled()) std::memset(w.smem, 0xff, d.shared_bytes);
  for (unsigned i = 0; i < T; ++i) {
    Fiber& f = w.fibers[i];
    f.idx = {i % d.block[0], i / d.block[0] % d.block[1], i / (d.block[0] * d.block[1])};
    f.tid = i;
    f.ops = 0;
    f.sp = start_frame(stack_slot(w, i) + kStackBytes);
    w.ready[i] = (uint16_t)i;
  }
  w.ready_head = 0;
  w.ready_tail = T;
  for (unsigned wi = 0; wi < L.warps; ++wi) {
    const unsigned lanes = T - wi * 32 < 32 ? T - wi * 32 : 32;
    w.warps[wi].live = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    w.warps[wi].arrived = 0;
  }
  w.live = T;
  w.at_barrier = 0;
  w.block_aborted = false;

  Fiber* first = next_ready(w);
  enter(w, first);
  g4emu_fiber_switch(&w.sched_sp, first->sp);
  // back when no fiber is ready: the block ended, was abandoned after an error, or deadlocked
  w.cur = nullptr;
  if (!w.block_aborted && w.live > 0) {
    char buf[300];
    snprintf(buf, sizeof buf, "block (%u,%u,%u) deadlocked: its %u live threads all wait at barriers "
             "(__syncthreads or warp operations) that not every live thread reaches",
             w.builtins.block.x, w.builtins.block.y, w.builtins.block.z, w.live);
    L.abort(buf);
  }
}

void abandon_fiber(Worker& w) {
  w.block_aborted = true;
  w.cur = nullptr;
  g4emu_fiber_jump(w.sched_sp);
}

void* dynamic_smem() { return fiber_worker().smem; }

WarpView warp_exchange(const uint32_t* mine, int words) {
  Worker& w = fiber_worker();
  Fiber* f = w.cur;
  Warp& wp = w.warps[f->tid >> 5];
  const unsigned lane = f->tid & 31, buf = ++f->ops & 1u;
  for (int i = 0; i < words; ++i) wp.word[buf][lane][i] = mine[i];  // 1 to 6 words: no memcpy call
  arrive_warp(w, f);
  restamp(w);
  return {wp.word[buf], wp.present[buf], (int)lane};
}

namespace {
// The view of the running fiber's just completed operation, and whether its warp-wide result is
// still to be computed (the first lane to ask computes it for all).
struct Completed {
  Warp& wp;
  unsigned buf, lane;
  bool fresh;
};

Completed deposit_one(uint32_t word) {
  Worker& w = fiber_worker();
  Fiber* f = w.cur;
  Warp& wp = w.warps[f->tid >> 5];
  const unsigned lane = f->tid & 31, buf = ++f->ops & 1u;
  wp.word[buf][lane][0] = word;
  arrive_warp(w, f);
  restamp(w);
  const uint64_t tag = (uint64_t)w.block_start << 32 | f->ops;
  const bool fresh = wp.result_tag[buf] != tag;
  wp.result_tag[buf] = tag;
  return {wp, buf, lane, fresh};
}
}  // namespace

float warp_butterfly(float v, Butterfly kind) {
  uint32_t mine;
  std::memcpy(&mine, &v, 4);
  const Completed c = deposit_one(mine);
  if (c.fresh) {
    const unsigned present = c.wp.present[c.buf];
    float cur[32], next[32];
    for (int l = 0; l < 32; ++l) std::memcpy(&cur[l], c.wp.word[c.buf][l], 4);
    for (int o = 16; o >= 1; o >>= 1) {
      for (int l = 0; l < 32; ++l) {
        const float b = (present >> (l ^ o)) & 1u ? cur[l ^ o] : cur[l];
        next[l] = kind == kSum ? cur[l] + b : fmaxf(cur[l], b);
      }
      std::memcpy(cur, next, sizeof cur);
    }
    std::memcpy(c.wp.result[c.buf], cur, sizeof cur);
  }
  float out;
  std::memcpy(&out, &c.wp.result[c.buf][c.lane], 4);
  return out;
}

unsigned warp_ballot(int pred) {
  const Completed c = deposit_one(pred != 0);
  if (c.fresh) {
    unsigned bits = 0;
    for (unsigned m = c.wp.present[c.buf]; m; m &= m - 1) {
      const int j = __builtin_ctz(m);
      if (c.wp.word[c.buf][j][0]) bits |= 1u << j;
    }
    c.wp.result[c.buf][0] = bits;
  }
  return c.wp.result[c.buf][0];
}

void warp_barrier() {
  Worker& w = fiber_worker();
  Fiber* f = w.cur;
  ++f->ops;
  arrive_warp(w, f);
  restamp(w);
}

unsigned live_lanes() {
  const Worker& w = fiber_worker();
  return w.warps[w.cur->tid >> 5].live;
}

}  // namespace g4emu

void __syncthreads() {
  using namespace g4emu;
  Worker& w = fiber_worker();
  Fiber* f = w.cur;
  if (w.at_barrier + 1 == w.live) {  // the last one in: the others go on, and so does this one
    release_barrier(w);
    return;
  }
  w.barrier_wait[w.at_barrier++] = (uint16_t)f->tid;
  wait_here(w, f);
}
