// runtime.cpp — launches of the CUDA emulation: the worker pool, the hand-out of blocks, errors
// and configuration. The execution model is described at the top of cuda_emu.h.
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "emu_internal.h"

namespace g4emu {

dim3 launch_grid;
dim3 launch_block;
__thread Worker* t_worker;

namespace {

constexpr size_t kWorkerThreadStack = 256u << 10;  // runs the scheduler only; kernels run on fibers

void futex_wait(const void* word, unsigned expected) {
  syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake_all(const void* word) {
  syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

Launch g_launch;
std::mutex g_run_mutex;    // one launch at a time; also guards the pool and the configuration
std::string g_last_error;  // of the most recent launch, empty when it succeeded
int g_configured_workers = 1;

// Worker slots: slot i's Worker lives at the start of area i of the region. Helpers are pool
// threads that only run blocks; a thread that launches takes a slot of its own and runs blocks
// too, so that a launch of one block needs no other thread, and none has to be woken first.
Worker* g_slots[kMaxWorkers];       // constructed so far (kept for reuse: their guard pages stay)
bool g_slot_taken[kMaxWorkers];
Worker* g_helpers[kMaxWorkers];
std::atomic<int> g_helper_count{0};
std::atomic<unsigned> g_remaining{0};  // helpers still in the launch
std::atomic<unsigned> g_done{0};       // futex word, bumped when the last helper leaves

// A free slot's Worker, constructed on first use; null (with `why`) when all are taken.
Worker* take_slot(std::string* why) {
  if (!reserve_region(why)) return nullptr;
  for (unsigned i = 0; i < (unsigned)kMaxWorkers; ++i) {
    if (g_slot_taken[i]) continue;
    if (!g_slots[i]) {
      Worker* w = new (reinterpret_cast<void*>(g_region.base + (size_t)i * kWorkerBytes)) Worker;
      w->index = i;
      w->smem = reinterpret_cast<unsigned char*>(g_region.base + kWorkersBytes + (size_t)i * kSmemSlot);
      init_worker_fibers(*w);
      g_slots[i] = w;
    }
    g_slot_taken[i] = true;
    return g_slots[i];
  }
  *why = "all " + std::to_string(kMaxWorkers) + " worker slots are taken";
  return nullptr;
}

// The blocks of a launch, taken one at a time by whichever worker is free.
void run_blocks(Worker& w) {
  Launch& L = *w.launch;
  for (;;) {
    if (L.aborting.load(std::memory_order_relaxed)) break;
    const uint64_t b = L.next_block.fetch_add(1, std::memory_order_relaxed);
    if (b >= L.blocks) break;
    run_block(w, b);
  }
}

struct Startup {
  Worker* worker;
  std::atomic<unsigned> state{0};  // futex word: 0 starting, 1 ready, 2 failed
  std::string why;
};

void* helper_main(void* arg) {
  auto* s = static_cast<Startup*>(arg);
  Worker& w = *s->worker;
  t_worker = &w;  // also makes the thread's copy of the library's TLS (static shared memory) exist
  std::string why;
  const bool ok = register_worker_shared(w, &why);
  s->why = why;
  s->state.store(ok ? 1 : 2);
  futex_wake_all(&s->state);
  if (!ok) return nullptr;
  unsigned seen = 0;
  for (;;) {
    while (w.go.load() == seen) futex_wait(&w.go, seen);
    seen = w.go.load();
    run_blocks(w);
    if (g_remaining.fetch_sub(1) == 1) {
      g_done.fetch_add(1);
      futex_wake_all(&g_done);
    }
  }
  return nullptr;
}

// Starts helper threads until there are `n`; false (with `why`) if the system refuses.
bool ensure_helpers(int n, std::string* why) {
  if (g_helper_count.load() >= n) return true;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kWorkerThreadStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  bool ok = true;
  for (int i = g_helper_count.load(); i < n && ok; ++i) {
    Worker* w = take_slot(why);
    if (!w) {
      ok = false;
      break;
    }
    Startup s;
    s.worker = w;
    pthread_t thread;
    const int rc = pthread_create(&thread, &attr, helper_main, &s);
    if (rc != 0) {
      *why = "cannot start worker thread " + std::to_string(i + 1) + " of " + std::to_string(n) + ": " +
             std::strerror(rc);
      g_slot_taken[w->index] = false;
      ok = false;
      break;
    }
    for (unsigned st; (st = s.state.load()) == 0;) futex_wait(&s.state, st);
    if (s.state.load() != 1) {
      *why = "worker thread " + std::to_string(i + 1) + ": " + s.why;
      ok = false;
      break;
    }
    g_helpers[i] = w;
    g_helper_count.store(i + 1);
  }
  pthread_attr_destroy(&attr);
  return ok;
}

// The slot of a launching thread, given back when the thread ends.
struct CallerSlot {
  Worker* worker = nullptr;
  bool refused = false;  // no slot or no TLS: this thread's launches run on helpers only
  ~CallerSlot() {
    if (!worker) return;
    std::lock_guard<std::mutex> lock(g_run_mutex);
    unregister_worker_shared(*worker);
    g_slot_taken[worker->index] = false;
    t_worker = nullptr;
  }
};
thread_local CallerSlot t_caller;

// The calling thread's worker (taking a slot on its first launch), or null.
Worker* caller_worker() {
  CallerSlot& c = t_caller;
  if (c.worker || c.refused) return c.worker;
  std::string why;
  Worker* w = take_slot(&why);
  if (w) {
    t_worker = w;
    if (register_worker_shared(*w, &why)) {
      c.worker = w;
      return w;
    }
    t_worker = nullptr;
    g_slot_taken[w->index] = false;
  }
  c.refused = true;
  return nullptr;
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

void Launch::abort(const std::string& message) {
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  if (aborting.load()) return;
  error = message;
  aborting.store(true);
}

namespace {
// G4EMU_PROFILE=1 in the environment: the wall time of each kernel's launches, printed at exit.
struct KernelTime {
  double seconds = 0;
  long launches = 0;
};
std::map<std::string, KernelTime>* g_profile = nullptr;

void print_profile() {
  std::vector<std::pair<std::string, KernelTime>> v(g_profile->begin(), g_profile->end());
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second.seconds > b.second.seconds; });
  double total = 0;
  for (auto& [k, t] : v) total += t.seconds;
  fprintf(stderr, "g4emu profile: %.3f s in %zu kernels\n", total, v.size());
  for (auto& [k, t] : v) fprintf(stderr, "  %9.3f s %7ld launches  %s\n", t.seconds, t.launches, k.c_str());
}
}  // namespace

void run(const char* kernel, const g4emu_dims* dims, void (*body)(const void*), const void* ctx) {
  std::lock_guard<std::mutex> lock(g_run_mutex);
  static const bool profile = [] {
    const char* e = getenv("G4EMU_PROFILE");
    if (!e || !*e || *e == '0') return false;
    g_profile = new std::map<std::string, KernelTime>;
    atexit(print_profile);
    return true;
  }();
  const auto t0 = std::chrono::steady_clock::now();
  struct Account {
    bool on;
    const char* kernel;
    std::chrono::steady_clock::time_point t0;
    ~Account() {
      if (!on) return;
      KernelTime& k = (*g_profile)[kernel];
      k.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++k.launches;
    }
  } account{profile, kernel, t0};
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
  L.next_block.store(0);
  L.error.clear();
  L.aborting.store(false);
  const int n = (int)(L.blocks < (uint64_t)g_configured_workers ? L.blocks : (uint64_t)g_configured_workers);
  Worker* me = caller_worker();
  const int helpers = me ? n - 1 : n;
  std::string why;
  if (!ensure_helpers(helpers, &why)) {
    g_last_error = std::string("kernel ") + kernel + ": " + why;
    return;
  }
  launch_grid = dim3(dims->grid[0], dims->grid[1], dims->grid[2]);
  launch_block = dim3(dims->block[0], dims->block[1], dims->block[2]);

  const unsigned done = g_done.load();
  g_remaining.store((unsigned)helpers);
  for (int i = 0; i < helpers; ++i) {
    g_helpers[i]->launch = &L;
    g_helpers[i]->smem_bytes = dims->shared_bytes;
    g_helpers[i]->go.fetch_add(1);
    futex_wake_all(&g_helpers[i]->go);
  }
  if (me) {
    me->launch = &L;
    me->smem_bytes = dims->shared_bytes;
    run_blocks(*me);
  }
  if (helpers > 0) {
    for (unsigned now; (now = g_done.load()) == done;) futex_wait(&g_done, now);
  }
  if (L.aborting.load()) g_last_error = std::string("kernel ") + kernel + ": " + L.error;
}

std::string where(const Worker& w) {
  char buf[120];
  const uint3 t = w.cur ? w.cur->idx : uint3{0, 0, 0};
  snprintf(buf, sizeof buf, "block (%u,%u,%u), thread (%u,%u,%u)", w.builtins.block.x, w.builtins.block.y,
           w.builtins.block.z, t.x, t.y, t.z);
  return buf;
}

void report(Worker& w, const std::string& message) {
  w.launch->abort(where(w) + ": " + message);
  abandon_fiber(w);
}

void fail(const char* fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  report(*t_worker, msg);
}

}  // namespace g4emu

extern "C" __attribute__((visibility("default"))) const char* g4emu_last_error(void) {
  return g4emu::g_last_error.empty() ? nullptr : g4emu::g_last_error.c_str();
}

// Threads that have run blocks: the helper threads started so far and the launching threads.
extern "C" __attribute__((visibility("default"))) int g4emu_worker_threads(void) {
  std::lock_guard<std::mutex> lock(g4emu::g_run_mutex);
  int n = 0;
  for (bool taken : g4emu::g_slot_taken) n += taken;
  return n;
}

// Workers for the next launches (1..32; a launch uses at most one per block) and whether the
// sanitizer checks them. Takes effect between launches.
extern "C" __attribute__((visibility("default"))) void g4emu_configure(int workers, int sanitize) {
  std::lock_guard<std::mutex> lock(g4emu::g_run_mutex);
  g4emu::g_configured_workers = workers < 1 ? 1 : workers > g4emu::kMaxWorkers ? g4emu::kMaxWorkers : workers;
  g4emu::set_sanitizer(sanitize != 0);
}

// Whether the kernels were compiled with the sanitizer's instrumentation (CMake's G4_EMU_SANITIZER):
// without it there is nothing to check, whatever g4emu_configure says.
extern "C" __attribute__((visibility("default"))) int g4emu_instrumented(void) {
#if defined(G4EMU_INSTRUMENTED)
  return 1;
#else
  return 0;
#endif
}
