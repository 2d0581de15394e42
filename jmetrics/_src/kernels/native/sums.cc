// Fused sums for XLA:CPU, called through jax.ffi: the three totals of soft
// Dice in one parallel read of its inputs.
//
// XLA:CPU does not fuse sibling reductions, so sum(t * p), sum(t) and sum(p)
// read the inputs three times. This kernel reads them once and accumulates in
// double, so the float32 results are at least as accurate as XLA's pairwise
// float32 sums.

#include <algorithm>
#include <array>
#include <cstdint>

#include "parallel.h"

namespace {

using namespace jmetrics_native;  // NOLINT

using Totals = std::array<double, 3>;

// Adds sum(w t p), sum(w t), sum(w p) over [begin, end) to `totals` (w = 1
// when `w` is null), as OpenMP SIMD reductions: vector lanes of double
// accumulators (GCC does not vectorise a float reduction unasked).
void AddProductSums(const float* __restrict t, const float* __restrict p,
                    const float* __restrict w, int64_t begin, int64_t end,
                    Totals& totals) {
  double tp = 0.0, ts = 0.0, ps = 0.0;
  if (w == nullptr) {
#pragma omp simd reduction(+ : tp, ts, ps)
    for (int64_t i = begin; i < end; ++i) {
      const double a = t[i], b = p[i];
      tp += a * b;
      ts += a;
      ps += b;
    }
  } else {
#pragma omp simd reduction(+ : tp, ts, ps)
    for (int64_t i = begin; i < end; ++i) {
      const double c = w[i], a = t[i] * c, b = p[i];
      tp += a * b;
      ts += a;
      ps += b * c;
    }
  }
  totals[0] += tp;
  totals[1] += ts;
  totals[2] += ps;
}

ffi::Error ProductSums(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> t,
                       ffi::Buffer<ffi::F32> p, ffi::Buffer<ffi::F32> weights,
                       ffi::Result<ffi::Buffer<ffi::F32>> out) {
  const int64_t n = t.element_count();
  const int64_t weighted = weights.element_count();
  if (static_cast<int64_t>(p.element_count()) != n ||
      (weighted != 0 && weighted != n) || out->element_count() != 3)
    return ffi::Error::InvalidArgument("product sums: shapes disagree");
  const float* tv = t.typed_data();
  const float* pv = p.typed_data();
  const float* wv = weighted ? weights.typed_data() : nullptr;
  const int64_t chunks = std::max<int64_t>(1, (n + kChunkElements - 1) / kChunkElements);
  Totals total = {0.0, 0.0, 0.0};
  ParallelChunks(
      pool, chunks, [] { return Totals{0.0, 0.0, 0.0}; },
      [&](int64_t c, Totals& sums) {
        AddProductSums(tv, pv, wv, c * kChunkElements,
                       std::min(n, (c + 1) * kChunkElements), sums);
      },
      [&](const Totals& sums) {
        for (int k = 0; k < 3; ++k) total[k] += sums[k];
      });
  float* o = out->typed_data();
  for (int k = 0; k < 3; ++k) o[k] = static_cast<float>(total[k]);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsProductSums, ProductSums,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // t
        .Arg<ffi::Buffer<ffi::F32>>()  // p
        .Arg<ffi::Buffer<ffi::F32>>()  // weights (empty: unweighted)
        .Ret<ffi::Buffer<ffi::F32>>());
