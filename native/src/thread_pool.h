// The library's own persistent worker threads for the short, bandwidth-bound kernels of decoding
// (GEMV, attention against the KV cache). An OpenMP or OpenBLAS parallel region costs a wake-up per
// call and leaves its workers spinning afterwards on a core the next kernel wants; these workers
// spin briefly between calls (a decode step calls every few microseconds) and then sleep.
//
// Work is a list of tasks taken from a shared counter: the calling thread takes tasks too, so a
// worker that is descheduled on a busy machine delays nothing, it just finds the list empty.
#pragma once
#include <cstdint>

namespace g4 {

// Threads (the caller included) that pool_run spreads tasks over; set with g4_set_num_threads.
int pool_threads();
void pool_set_threads(int n);

// Runs task(ctx, i) for every i in [0, tasks) and returns when all are done. Runs them all on the
// calling thread when `parallel` is false, the pool has one thread, or the pool is already busy
// (another caller, or a task of its own calling back).
void pool_run(int64_t tasks, bool parallel, void (*task)(void* ctx, int64_t i), void* ctx);

template <class F>
void pool_for(int64_t tasks, bool parallel, F& f) {
  pool_run(tasks, parallel, [](void* c, int64_t i) { (*static_cast<F*>(c))(i); }, &f);
}

}  // namespace g4
