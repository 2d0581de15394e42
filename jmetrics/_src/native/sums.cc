// Fused sums for XLA:CPU, called through jax.ffi: the three totals of soft
// Dice in one parallel read of its inputs.
//
// XLA:CPU does not fuse sibling reductions, so sum(t * p), sum(t) and sum(p)
// read the inputs three times. This kernel reads them once and accumulates in
// double (lanes of independent accumulators that the compiler vectorises
// without reassociating), so the float32 results are at least as accurate as
// XLA's pairwise float32 sums.

#include <algorithm>
#include <array>
#include <cstdint>

#include "parallel.h"

namespace {

using namespace jmetrics_native;  // NOLINT

constexpr int64_t kLanes = 16;
using Totals = std::array<double, 3>;

// Adds sum(w t p), sum(w t), sum(w p) over [begin, end) to `totals` (w = 1
// when `w` is null).
void AddProductSums(const float* t, const float* p, const float* w,
                    int64_t begin, int64_t end, Totals& totals) {
  double tp[kLanes] = {}, ts[kLanes] = {}, ps[kLanes] = {};
  int64_t i = begin;
  if (w == nullptr) {
    for (; i + kLanes <= end; i += kLanes) {
      for (int64_t l = 0; l < kLanes; ++l) {
        const double a = t[i + l], b = p[i + l];
        tp[l] += a * b;
        ts[l] += a;
        ps[l] += b;
      }
    }
  } else {
    for (; i + kLanes <= end; i += kLanes) {
      for (int64_t l = 0; l < kLanes; ++l) {
        const double c = w[i + l];
        const double a = t[i + l] * c, b = p[i + l] * c;
        tp[l] += a * double(p[i + l]);
        ts[l] += a;
        ps[l] += b;
      }
    }
  }
  for (; i < end; ++i) {
    const double c = w == nullptr ? 1.0 : double(w[i]);
    tp[0] += double(t[i]) * c * double(p[i]);
    ts[0] += double(t[i]) * c;
    ps[0] += double(p[i]) * c;
  }
  for (int64_t l = 0; l < kLanes; ++l) {
    totals[0] += tp[l];
    totals[1] += ts[l];
    totals[2] += ps[l];
  }
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
