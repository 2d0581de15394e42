// Threshold histograms into running `Wide` totals, in one call.
//
// Turning a threshold histogram into the TP/FP/TN/FN totals of a state takes
// reverse cumulative sums and error-free float32 adds (jmetrics/_src/wide.py)
// over T x labels cells. In XLA that is a tail of about twenty tiny
// computations, which on CPU cost about a third of the histogram itself; here
// it is one pass over the histogram.
//
// The totals are the same as XLA's: integer counts are added exactly, so
// both give the one normalised pair (hi = the total rounded to float32,
// lo = the rest). A weighted histogram of (2, bins) (hi, lo) pairs is summed
// in double and each cell added exactly as two floats (integer weights stay
// exact past 2**24 per cell); a (bins,) float32 one is rounded once per cell.

#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.h"
#include "totals.h"

namespace {

using namespace jmetrics_native;  // NOLINT

ffi::Error ThresholdTotals(ffi::AnyBuffer hist, ffi::Buffer<ffi::S32> positions,
                           ffi::RemainingArgs state, ffi::RemainingRets out,
                           int64_t num_thresholds, int64_t num_labels,
                           ffi::Span<const int64_t> slots) {
  const int64_t t = num_thresholds;
  const int64_t bins = num_labels * (t + 1) * 2;
  const bool pair = IsPairOutput(hist);
  const int32_t* order;
  if (t < 1 || num_labels < 1 ||
      static_cast<int64_t>(hist.element_count()) != (pair ? 2 * bins : bins) ||
      !ThresholdPositions(positions, t, &order))
    return ffi::Error::InvalidArgument("threshold totals: shapes disagree");
  switch (hist.element_type()) {
    case ffi::DataType::S32:
      return AddTotals<int64_t>(hist.typed_data<int32_t>(), order, t,
                                num_labels, slots, state, out);
    case ffi::DataType::F32: {
      const float* h = hist.typed_data<float>();
      if (!pair)
        return AddTotals<double>(h, order, t, num_labels, slots, state, out,
                                 /*round_once=*/true);
      // hi + lo of each bin is exact in double.
      std::vector<double> sums(bins);
      for (int64_t b = 0; b < bins; ++b)
        sums[b] = static_cast<double>(h[b]) + static_cast<double>(h[bins + b]);
      return AddTotals<double>(sums.data(), order, t, num_labels, slots, state,
                               out);
    }
    default:
      return ffi::Error::InvalidArgument("histograms are int32 or float32");
  }
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsThresholdTotals, ThresholdTotals,
    ffi::Ffi::Bind()
        .Arg<ffi::AnyBuffer>()         // histogram
        .Arg<ffi::Buffer<ffi::S32>>()  // positions
        .RemainingArgs()               // state: (hi, lo) per slot
        .RemainingRets()               // the new state
        .Attr<int64_t>("num_thresholds")
        .Attr<int64_t>("num_labels")
        .Attr<ffi::Span<const int64_t>>("slots"));

namespace {

// (h, l) where h is finite, else (the float sum s if it is not finite, else
// h; 0), as wide._pair makes a total. Branch-free, so the loops vectorise.
inline void Pair(float h, float l, float s, float& hi, float& lo) {
  const bool finite = std::isfinite(h);
  const float special = std::isfinite(s) ? h : s;
  hi = finite ? h : special;
  lo = finite ? l : 0.0f;
}

// Adds x to the total (hi, lo) as wide.wide_add does: TwoSum, FastTwoSum and
// wide._pair.
inline void WideAddSpecial(float& hi, float& lo, float x) {
  const float s = hi + x;
  float h = hi, l = lo;
  WideAdd(h, l, x);
  Pair(h, l, s, hi, lo);
}

// Running (hi, lo) totals plus a table of counts, cell by cell:
//   int32 counts exactly, as wide.wide_add_int adds them (the count split at
//   2**12 into two parts of at most 19 significant bits, each added);
//   float32 (2, n) (hi, lo) pairs of weighted sums as wide.wide_merge adds
//   them (TwoSum of the hi parts, the lo parts and the error renormalised).
// XLA:CPU runs the same elementwise sums about ten times slower on a table
// of thousands of cells (an IoU or confusion-matrix state).
ffi::Error AddCounts(ffi::AnyBuffer counts, ffi::Buffer<ffi::F32> hi,
                     ffi::Buffer<ffi::F32> lo, ffi::ResultBuffer<ffi::F32> new_hi,
                     ffi::ResultBuffer<ffi::F32> new_lo) {
  const int64_t n = hi.element_count();
  if (static_cast<int64_t>(lo.element_count()) != n ||
      static_cast<int64_t>(new_hi->element_count()) != n ||
      static_cast<int64_t>(new_lo->element_count()) != n)
    return ffi::Error::InvalidArgument("add counts: totals disagree in size");
  const float* __restrict h_in = hi.typed_data();
  const float* __restrict l_in = lo.typed_data();
  float* __restrict h_out = new_hi->typed_data();
  float* __restrict l_out = new_lo->typed_data();
  if (counts.element_type() == ffi::DataType::S32) {
    if (static_cast<int64_t>(counts.element_count()) != n)
      return ffi::Error::InvalidArgument("add counts: counts disagree in size");
    const int32_t* __restrict c = counts.typed_data<int32_t>();
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const int32_t low = c[i] & ((1 << 12) - 1);
      float h = h_in[i], l = l_in[i];
      WideAddSpecial(h, l, static_cast<float>(c[i] - low));
      WideAddSpecial(h, l, static_cast<float>(low));
      h_out[i] = h;
      l_out[i] = l;
    }
    return ffi::Error::Success();
  }
  if (counts.element_type() != ffi::DataType::F32 ||
      static_cast<int64_t>(counts.element_count()) != 2 * n)
    return ffi::Error::InvalidArgument("add counts: int32 counts or (2, n) pairs");
  const float* __restrict add_hi = counts.typed_data<float>();
  const float* __restrict add_lo = add_hi + n;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    // wide_merge: TwoSum of the hi parts, then FastTwoSum with the rest.
    const float a = h_in[i], b = add_hi[i];
    const float s = a + b;
    const float b_virtual = s - a;
    const float a_virtual = s - b_virtual;
    const float err = (a - a_virtual) + (b - b_virtual);
    const float rest = (l_in[i] + add_lo[i]) + err;
    const float h = s + rest;
    Pair(h, rest - (h - s), s, h_out[i], l_out[i]);
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsAddCounts, AddCounts,
    ffi::Ffi::Bind()
        .Arg<ffi::AnyBuffer>()         // counts, or (2, n) (hi, lo) sums
        .Arg<ffi::Buffer<ffi::F32>>()  // total hi
        .Arg<ffi::Buffer<ffi::F32>>()  // total lo
        .Ret<ffi::Buffer<ffi::F32>>()  // new hi
        .Ret<ffi::Buffer<ffi::F32>>());  // new lo
