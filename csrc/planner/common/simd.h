// x86 SIMD intrinsics for the few kernels written by hand (each with a portable path).
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsic headers trip -W(maybe-)uninitialized (their
// _mm512_undefined_* placeholders); the warnings are about the headers, not our code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
