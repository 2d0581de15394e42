// Per-row kernels for XLA:CPU, called through jax.ffi: the argmax of each row
// of scores, as Keras' JAX backend takes it on CPU.
//
// XLA:CPU lowers an argmax to a variadic (value, index) reduction that runs
// at about 2.5 ns an element, twenty times a read of the scores. This kernel
// reads each row from memory once, rows shared by the caller and the
// intra-op pool.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "parallel.h"

namespace {

using namespace jmetrics_native;  // NOLINT

// The key an entry competes with: an int32 that orders as the floats do.
// XLA on CPU flushes subnormals to zero, so they tie with zeros; with
// `signed_zeros` (Keras' fix) negative zeros and negative subnormals rank
// below positive ones, as -FLT_MIN. NaN outranks everything (the first NaN
// wins, as in jnp.argmax).
inline int32_t Key(float x, int32_t negative_zero_key) {
  const int32_t bits = __builtin_bit_cast(int32_t, x);
  const int32_t magnitude = bits & 0x7fffffff;
  int32_t key = bits >= 0 ? bits : bits ^ 0x7fffffff;
  key = magnitude < 0x00800000 ? (bits < 0 ? negative_zero_key : 0) : key;
  return magnitude > 0x7f800000 ? std::numeric_limits<int32_t>::max() : key;
}

// The first index of the largest key of row[0, c): two integer reductions
// (the largest key, then the least index holding it), vectorised as OpenMP
// SIMD reductions (GCC does not vectorise them unasked); the row stays in L1
// between them.
inline int32_t RowArgmax(const float* __restrict row, int64_t c,
                         int32_t negative_zero_key) {
  int32_t top = std::numeric_limits<int32_t>::min();
#pragma omp simd reduction(max : top)
  for (int64_t j = 0; j < c; ++j) {
    const int32_t key = Key(row[j], negative_zero_key);
    top = key > top ? key : top;
  }
  int32_t index = static_cast<int32_t>(c);
#pragma omp simd reduction(min : index)
  for (int64_t j = 0; j < c; ++j) {
    const int32_t candidate = Key(row[j], negative_zero_key) == top ? int32_t(j) : int32_t(c);
    index = std::min(index, candidate);
  }
  return index;
}

ffi::Error Argmax(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                  ffi::Result<ffi::Buffer<ffi::S32>> out, int64_t row_length,
                  bool signed_zeros) {
  const int64_t n = scores.element_count();
  const int64_t c = row_length;
  if (c < 1 || n % c != 0 || static_cast<int64_t>(out->element_count()) != n / c)
    return ffi::Error::InvalidArgument("argmax: shapes disagree");
  const int64_t rows = n / c;
  const int32_t negative_zero_key =
      signed_zeros ? Key(-std::numeric_limits<float>::min(), 0) : 0;
  const float* x = scores.typed_data();
  int32_t* index = out->typed_data();
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / c);
  const int64_t chunks = std::max<int64_t>(1, (rows + rows_per_chunk - 1) / rows_per_chunk);
  ParallelChunks(
      pool, chunks, [] { return 0; },
      [&](int64_t chunk, int&) {
        const int64_t end = std::min(rows, (chunk + 1) * rows_per_chunk);
        for (int64_t r = chunk * rows_per_chunk; r < end; ++r)
          index[r] = RowArgmax(x + r * c, c, negative_zero_key);
      },
      [](int) {});
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsArgmax, Argmax,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // scores, rows of row_length
        .Ret<ffi::Buffer<ffi::S32>>()  // the argmax of each row
        .Attr<int64_t>("row_length")
        .Attr<bool>("signed_zeros"));
