// Aligned, owning float/int buffers. Allocated when a planner is built or resized,
// never inside plan(); the hot path only reads data().
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace planner {

inline constexpr std::size_t kAlign = 64;  // one cache line, one AVX-512 register

template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) { resize(n); }
  Buffer(const Buffer& o) { *this = o; }
  Buffer& operator=(const Buffer& o) {
    if (this != &o) {
      resize(o.size_);
      if (size_) std::memcpy(data_, o.data_, size_ * sizeof(T));
    }
    return *this;
  }
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    swap(o);
    return *this;
  }
  ~Buffer() { std::free(data_); }

  // Reallocates only when growing; contents are zeroed on (re)allocation.
  void resize(std::size_t n) {
    if (n > capacity_) {
      std::free(data_);
      std::size_t bytes = ((n * sizeof(T) + kAlign - 1) / kAlign) * kAlign;
      data_ = static_cast<T*>(std::aligned_alloc(kAlign, bytes));
      if (!data_) throw std::bad_alloc();
      std::memset(data_, 0, bytes);
      capacity_ = n;
    }
    size_ = n;
  }
  void fill(T v) {
    for (std::size_t i = 0; i < size_; ++i) data_[i] = v;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

 private:
  void swap(Buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace planner
