#include "planner/common/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define PLANNER_PAUSE() _mm_pause()
#else
#define PLANNER_PAUSE() std::this_thread::yield()
#endif

namespace planner {

namespace {
// How long an idle worker spins before sleeping: long enough to bridge the gap between
// iterations of one plan and between control steps at 1 kHz, short enough not to burn
// a core when the loop is idle.
constexpr auto kSpin = std::chrono::microseconds(200);
}  // namespace

int ThreadPool::hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

ThreadPool::ThreadPool(int threads) {
  if (threads < 1) threads = 1;
  workers_.reserve(static_cast<std::size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
  for (;;) {
    const int i = next_item_.fetch_add(1, std::memory_order_relaxed);
    if (i >= items_) break;
    body_(ctx_, i, thread);
  }
}

void ThreadPool::run(int items, Body body, void* ctx) {
  if (items <= 0) return;
  if (workers_.empty() || items == 1) {
    for (int i = 0; i < items; ++i) body(ctx, i, 0);
    return;
  }
  body_ = body;
  ctx_ = ctx;
  items_ = items;
  next_item_.store(0, std::memory_order_relaxed);
  pending_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes the job
  generation_.notify_all();
  work(0);
  while (pending_workers_.load(std::memory_order_acquire) != 0) PLANNER_PAUSE();
}

void ThreadPool::worker_main(int index) {
  std::uint64_t seen = 0;
  for (;;) {
    // Spin, then sleep, until a new generation is published.
    auto start = std::chrono::steady_clock::now();
    std::uint64_t g;
    int spins = 0;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      PLANNER_PAUSE();
      if (++spins == 64) {
        spins = 0;
        if (std::chrono::steady_clock::now() - start > kSpin) {
          generation_.wait(seen, std::memory_order_acquire);
          start = std::chrono::steady_clock::now();
        }
      }
    }
    seen = g;
    if (stop_.load(std::memory_order_acquire)) return;
    work(index);
    pending_workers_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace planner
