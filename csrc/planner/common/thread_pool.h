// A small persistent thread pool for fork-join loops inside plan().
//
// The calling thread takes part, so `threads` counts it: threads == 1 runs inline with
// no synchronization at all. Workers spin briefly after a job (control loops call
// again within microseconds) and then sleep on a futex-backed atomic wait.
// Work items are claimed dynamically, but every item writes only its own outputs, so
// results never depend on which thread ran what.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace planner {

class ThreadPool {
 public:
  // Body of a parallel loop: fn(item, thread_index) with thread_index in [0, threads).
  using Body = void (*)(void* ctx, int item, int thread);

  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs body(ctx, i, thread) for i in [0, items). Blocks until all are done.
  // Not reentrant: one loop at a time per pool.
  void run(int items, Body body, void* ctx);

  // Convenience wrapper for lambdas: parallel_for(items, [&](int i, int thread) {...}).
  template <class F>
  void parallel_for(int items, F& f) {
    run(items, [](void* c, int i, int t) { (*static_cast<F*>(c))(i, t); }, &f);
  }

  // Number of hardware threads, at least 1.
  static int hardware_threads();

 private:
  void worker_main(int index);
  void work(int thread);

  std::vector<std::thread> workers_;
  alignas(64) std::atomic<std::uint64_t> generation_{0};
  alignas(64) std::atomic<int> next_item_{0};
  alignas(64) std::atomic<int> pending_workers_{0};
  Body body_ = nullptr;
  void* ctx_ = nullptr;
  int items_ = 0;
  std::atomic<bool> stop_{false};
};

}  // namespace planner
