// The small test harness of the C++ test programs: a heap-allocation counter (so tests
// can check that hot paths allocate nothing) and check / check_throws counting passes
// and failures. Include it once per test program (it replaces operator new/delete).
#pragma once

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <new>
#include <string>

static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

int g_passed = 0, g_failed = 0;

void check(bool ok, const std::string& what) {
  if (ok) {
    ++g_passed;
  } else {
    ++g_failed;
    std::printf("FAILED: %s\n", what.c_str());
  }
}

template <class E>
void check_throws(const std::function<void()>& f, const std::string& what) {
  try {
    f();
    check(false, what + " (no exception)");
  } catch (const E&) {
    check(true, what);
  } catch (const std::exception& e) {
    check(false, what + " (wrong exception: " + e.what() + ")");
  }
}

}  // namespace
