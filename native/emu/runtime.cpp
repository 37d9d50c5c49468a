// runtime.cpp — launches of the CUDA emulation: the worker pool, the block loop, errors and the
// deadlock watch. The execution model is described at the top of cuda_emu.h.
#include <immintrin.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>

#include "emu_internal.h"

thread_local uint3 threadIdx;
uint3 blockIdx;
dim3 blockDim;
dim3 gridDim;

namespace g4emu {
namespace {

constexpr long long kDeadlockMs = 5000;  // all live threads blocked, no progress, this long
constexpr size_t kWorkerStack = 2u << 20;  // kernels keep small frames; 2 MiB is generous

long long now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

Launch g_launch;
std::mutex g_run_mutex;    // one launch at a time
std::string g_last_error;  // of the most recent launch, empty when it succeeded
unsigned char* g_smem = nullptr;
size_t g_smem_capacity = 0;

// A worker runs emulated thread `index` of every launch with more than `index` threads.
struct Worker {
  pthread_t thread;
  unsigned index;
  std::atomic<unsigned> go{0};  // futex word, bumped to start the next launch
};
Worker* g_workers[kMaxThreads];
std::atomic<int> g_worker_count{0};
std::atomic<unsigned> g_remaining{0};  // workers still in the launch
std::atomic<unsigned> g_done{0};       // futex word, bumped when the last worker leaves

void run_thread(Launch& L, unsigned tid) {
  threadIdx = {tid % L.dims.block[0], tid / L.dims.block[0] % L.dims.block[1],
               tid / (L.dims.block[0] * L.dims.block[1])};
  tls.launch = &L;
  tls.warp = &L.warp[tid / 32];
  tls.lane = (int)(tid % 32);
  for (uint64_t b = 0; b < L.blocks; ++b) {
    tls.ops = 0;
    tls.epoch = L.block_serial << 32;
    if (!L.aborting.load()) {
      try {
        L.body(L.ctx);
      } catch (const Abort&) {
      } catch (const std::exception& e) {
        L.abort(std::string("C++ exception: ") + e.what());
      } catch (...) {
        L.abort("unknown C++ exception");
      }
    }
    L.thread_exit(tid);
    // Block end: nobody starts the next block (and so touches __shared__) before all are done.
    const unsigned phase = L.block_phase.load();
    if (L.finished.fetch_add(1) + 1 == L.threads) {
      L.finished.store(0);
      if (b + 1 < L.blocks && !L.aborting.load()) L.start_block(b + 1);
      L.block_phase.fetch_add(1);
      futex_wake_all(&L.block_phase);
    } else {
      for (int i = 0; L.block_phase.load() == phase; ++i) {
        if ((unsigned)i < L.spin) _mm_pause(); else futex_wait(&L.block_phase, phase, -1);
      }
    }
    if (L.aborting.load()) break;  // stable here: every thread of the block has finished
  }
}

void* worker_main(void* arg) {
  Worker* w = static_cast<Worker*>(arg);
  unsigned seen = 0;
  for (;;) {
    while (w->go.load() == seen) futex_wait(&w->go, seen, -1);
    seen = w->go.load();
    run_thread(g_launch, w->index);
    if (g_remaining.fetch_sub(1) == 1) {
      g_done.fetch_add(1);
      futex_wake_all(&g_done);
    }
  }
  return nullptr;
}

// Starts workers until there are `n`; false (with the error set) if the system refuses.
bool ensure_workers(unsigned n) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  bool ok = true;
  for (int i = g_worker_count.load(); i < (int)n; ++i) {
    Worker* w = new Worker;
    w->index = (unsigned)i;
    int rc = pthread_create(&w->thread, &attr, worker_main, w);
    if (rc != 0) {
      delete w;
      g_last_error = "cannot start worker thread " + std::to_string(i + 1) + " of " + std::to_string(n) +
                     ": " + std::strerror(rc);
      ok = false;
      break;
    }
    g_workers[i] = w;
    g_worker_count.store(i + 1);
  }
  pthread_attr_destroy(&attr);
  return ok;
}

std::string check_dims(const g4emu_dims& d) {
  const unsigned* b = d.block;
  const unsigned* g = d.grid;
  char buf[200];
  if (!b[0] || !b[1] || !b[2] || !g[0] || !g[1] || !g[2]) {
    snprintf(buf, sizeof buf, "launch dimensions must be positive: grid %ux%ux%u, block %ux%ux%u",
             g[0], g[1], g[2], b[0], b[1], b[2]);
  } else if (b[0] > 1024 || b[1] > 1024 || b[2] > 64 || (uint64_t)b[0] * b[1] * b[2] > (uint64_t)kMaxThreads) {
    snprintf(buf, sizeof buf, "block %ux%ux%u exceeds CUDA's limits (x, y <= 1024, z <= 64, at most %d threads)",
             b[0], b[1], b[2], kMaxThreads);
  } else if (g[0] > 0x7fffffffu || g[1] > 65535 || g[2] > 65535) {
    snprintf(buf, sizeof buf, "grid %ux%ux%u exceeds CUDA's limits (x < 2^31, y, z <= 65535)", g[0], g[1], g[2]);
  } else if (d.shared_bytes > kMaxDynamicSmem) {
    snprintf(buf, sizeof buf, "%u bytes of dynamic shared memory exceed the %u a block can have", d.shared_bytes,
             kMaxDynamicSmem);
  } else {
    return "";
  }
  return buf;
}

}  // namespace

void Launch::start_block(uint64_t linear) {
  blockIdx = {(unsigned)(linear % dims.grid[0]), (unsigned)(linear / dims.grid[0] % dims.grid[1]),
              (unsigned)(linear / ((uint64_t)dims.grid[0] * dims.grid[1]))};
  ++block_serial;
  block_barrier.reset(threads);
  for (unsigned w = 0; w < warps; ++w) {
    unsigned lanes = threads - w * 32 < 32 ? threads - w * 32 : 32;
    warp[w].barrier.reset(lanes);
    warp[w].live.store(lanes == 32 ? 0xffffffffu : (1u << lanes) - 1);
  }
  live.store((int)threads);
  activity.store(kBias);
  if (dims.shared_bytes) std::memset(smem, 0xff, dims.shared_bytes);
}

void Launch::abort(const std::string& message) {
  {
    static std::mutex m;
    std::lock_guard<std::mutex> lock(m);
    if (aborting.load()) return;
    error = message;
    aborting.store(true);
  }
  block_barrier.wake_all();
  for (unsigned w = 0; w < warps; ++w) warp[w].barrier.wake_all();
}

void Launch::thread_exit(unsigned tid) {
  live.fetch_sub(1);
  activity.fetch_add(kProgress);
  warp[tid / 32].live.fetch_and(~(1u << (tid % 32)));
  warp[tid / 32].barrier.depart(*this);
  block_barrier.depart(*this);
}

// Called by a sleeping waiter each time its sleep times out. A deadlock is every live thread
// counted as blocked with no release or exit for kDeadlockMs: the count can lag behind a
// release for an instant, so one look is not proof, but a standstill of seconds is.
void Launch::watch_deadlock(DeadlockWatch& w) {
  const uint64_t a = activity.load();
  const int blocked = (int)((uint32_t)a - (uint32_t)kBias), alive = live.load();
  if (blocked < alive || alive <= 0) {
    w.since_ms = -1;
    return;
  }
  const long long now = now_ms();
  if (w.since_ms < 0 || a != w.activity) {
    w.activity = a;
    w.since_ms = now;
  } else if (now - w.since_ms >= kDeadlockMs) {
    char buf[300];
    snprintf(buf, sizeof buf, "block (%u,%u,%u) deadlocked: its %d live threads all wait at barriers "
             "(__syncthreads or warp operations) that not every live thread reaches",
             blockIdx.x, blockIdx.y, blockIdx.z, alive);
    abort(buf);
  }
}

void run(const char* kernel, const g4emu_dims* dims, void (*body)(const void*), const void* ctx) {
  std::lock_guard<std::mutex> lock(g_run_mutex);
  g_last_error.clear();
  std::string bad = check_dims(*dims);
  if (!bad.empty()) {
    g_last_error = std::string("kernel ") + kernel + ": " + bad;
    return;
  }
  Launch& L = g_launch;
  L.kernel = kernel;
  L.dims = *dims;
  L.body = body;
  L.ctx = ctx;
  L.threads = dims->block[0] * dims->block[1] * dims->block[2];
  L.warps = (L.threads + 31) / 32;
  L.blocks = (uint64_t)dims->grid[0] * dims->grid[1] * dims->grid[2];
  L.error.clear();
  L.aborting.store(false);
  L.finished.store(0);
  if (dims->shared_bytes > g_smem_capacity) {
    std::free(g_smem);
    g_smem_capacity = (dims->shared_bytes + 4095) & ~(size_t)4095;
    g_smem = static_cast<unsigned char*>(std::aligned_alloc(64, g_smem_capacity));
    if (!g_smem) {
      g_smem_capacity = 0;
      g_last_error = std::string("kernel ") + kernel + ": out of memory for shared memory";
      return;
    }
  }
  L.smem = g_smem;
  static const unsigned cores = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
  L.spin = L.threads <= cores ? 4000 : 0;
  if (!ensure_workers(L.threads)) {
    g_last_error = std::string("kernel ") + kernel + ": " + g_last_error;
    return;
  }
  gridDim = dim3(dims->grid[0], dims->grid[1], dims->grid[2]);
  blockDim = dim3(dims->block[0], dims->block[1], dims->block[2]);
  L.start_block(0);

  const unsigned done = g_done.load();
  g_remaining.store(L.threads);
  for (unsigned i = 0; i < L.threads; ++i) {
    g_workers[i]->go.fetch_add(1);
    futex_wake_all(&g_workers[i]->go);
  }
  while (g_done.load() == done) futex_wait(&g_done, done, -1);
  if (L.aborting.load()) g_last_error = std::string("kernel ") + kernel + ": " + L.error;
}

void* dynamic_smem() { return tls.launch->smem; }

void fail(const char* fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char where[600];
  snprintf(where, sizeof where, "block (%u,%u,%u), thread (%u,%u,%u): %s", blockIdx.x, blockIdx.y, blockIdx.z,
           threadIdx.x, threadIdx.y, threadIdx.z, msg);
  tls.launch->abort(where);
  throw Abort{};
}

}  // namespace g4emu

extern "C" const char* g4emu_last_error(void) {
  return g4emu::g_last_error.empty() ? nullptr : g4emu::g_last_error.c_str();
}

extern "C" int g4emu_worker_threads(void) { return g4emu::g_worker_count.load(); }
