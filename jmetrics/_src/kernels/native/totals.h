// Threshold histograms into running `Wide` totals (see totals.cc), shared by
// the totals kernel and the fused threshold update of histograms.cc.

#ifndef JMETRICS_NATIVE_TOTALS_H_
#define JMETRICS_NATIVE_TOTALS_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace jmetrics_native {

namespace ffi = xla::ffi;


// Knuth's TwoSum and Dekker's FastTwoSum, as wide.wide_add computes them
// (the build turns off contraction into fused multiply-adds).
inline void WideAdd(float& hi, float& lo, float x) {
  const float s = hi + x;
  const float x_virtual = s - hi;
  const float hi_virtual = s - x_virtual;
  const float err = (hi - hi_virtual) + (x - x_virtual);
  const float rest = lo + err;
  const float h = s + rest;
  lo = rest - (h - s);
  hi = h;
}

// Adds an integer count exactly: parts of at most 24 significant bits, as
// wide.wide_add_int splits an int32 (exact below 2**36).
inline void WideAddCount(float& hi, float& lo, int64_t count) {
  if (count < (int64_t{1} << 24)) {
    WideAdd(hi, lo, static_cast<float>(count));
    return;
  }
  const int64_t low = count & ((int64_t{1} << 12) - 1);
  WideAdd(hi, lo, static_cast<float>(count - low));
  WideAdd(hi, lo, static_cast<float>(low));
}

// Adds a batch's double sum of weights. An integer sum (integer weights) is
// added exactly as its two floats, hi = the sum rounded and lo = the rest
// (exact below 2**48, so integer weights stay exact past 2**24 per cell). A
// fractional one is added rounded once to float32, as XLA's path adds it
// (counting._snap): the two paths then agree on both floats of the total,
// not just on their sum. A sum that is not finite (or too large for a float)
// makes the total the float sum hi + sum with lo = 0 (inf stays inf, as
// XLA's path keeps it: counting.merge_sums), not TwoSum's NaN of inf - inf.
inline void WideAddCount(float& hi, float& lo, double sum) {
  const float high = static_cast<float>(sum);
  const float naive = hi + high;
  if (!std::isfinite(naive)) {
    hi = naive;
    lo = 0.0f;
    return;
  }
  if (!(sum == std::rint(sum))) {
    WideAdd(hi, lo, high);
    return;
  }
  WideAdd(hi, lo, high);
  WideAdd(hi, lo, static_cast<float>(sum - static_cast<double>(high)));
}

// Adds a sum rounded once to float32: the legacy contract of a (bins,) float32
// histogram passed to ThresholdTotals, whose bins were already rounded.
inline void WideAddRounded(float& hi, float& lo, double sum) {
  WideAdd(hi, lo, static_cast<float>(sum));
}
inline void WideAddRounded(float& hi, float& lo, int64_t count) {
  WideAddCount(hi, lo, count);
}

enum Cell { kTruePositives, kFalsePositives, kTrueNegatives, kFalseNegatives };

// hist: the flat (label, bucket, positive) histogram of ThresholdHistogram,
// num_labels * (T + 1) * 2 bins; bucket b holds the scores above exactly b
// thresholds of the sorted grid.
// positions: for each threshold in the user's order, its sorted position
// (empty: the grid is sorted).
// slots: the cell (0 TP, 1 FP, 2 TN, 3 FN) of each slot of `state`, in
// order; a cell may appear in several slots (the totals of several metrics
// that share one histogram), each added the same way.
// state: (hi, lo) float32 pairs of the slots in order; a pair holds one slot
// of shape (T, num_labels), or several consecutive slots stacked on a
// leading axis.
// out: the same pairs with the batch added.
// round_once: add each weighted cell rounded to float32 (a float histogram's
// legacy contract) instead of exactly.
template <typename Count, typename Bin>
ffi::Error AddTotals(const Bin* hist, const int32_t* positions, int64_t t,
                     int64_t labels, ffi::Span<const int64_t> slots,
                     ffi::RemainingArgs& state, ffi::RemainingRets& out,
                     bool round_once = false) {
  std::vector<Cell> present;
  for (int64_t c : slots) {
    if (c < kTruePositives || c > kFalseNegatives)
      return ffi::Error::InvalidArgument("threshold totals: a slot's cell is 0-3");
    present.push_back(static_cast<Cell>(c));
  }
  const int64_t size = t * labels;
  if (state.size() % 2 != 0 || out.size() != state.size())
    return ffi::Error::InvalidArgument("threshold totals: (hi, lo) pairs");
  // Per present cell, where its totals are read and written.
  std::vector<const float*> hi_in, lo_in;
  std::vector<float*> hi_out, lo_out;
  for (size_t i = 0; i < state.size() / 2; ++i) {
    auto hi = state.get<ffi::Buffer<ffi::F32>>(2 * i);
    auto lo = state.get<ffi::Buffer<ffi::F32>>(2 * i + 1);
    auto new_hi = out.get<ffi::Buffer<ffi::F32>>(2 * i);
    auto new_lo = out.get<ffi::Buffer<ffi::F32>>(2 * i + 1);
    if (!hi.has_value() || !lo.has_value() || !new_hi.has_value() ||
        !new_lo.has_value())
      return ffi::Error::InvalidArgument("threshold totals: float32 pairs");
    const int64_t n = hi->element_count();
    if (n == 0 || n % size != 0 ||
        static_cast<int64_t>(lo->element_count()) != n ||
        static_cast<int64_t>((*new_hi)->element_count()) != n ||
        static_cast<int64_t>((*new_lo)->element_count()) != n)
      return ffi::Error::InvalidArgument("threshold totals: shapes disagree");
    for (int64_t k = 0; k < n / size; ++k) {
      hi_in.push_back(hi->typed_data() + k * size);
      lo_in.push_back(lo->typed_data() + k * size);
      hi_out.push_back((*new_hi)->typed_data() + k * size);
      lo_out.push_back((*new_lo)->typed_data() + k * size);
    }
  }
  const size_t num_cells = present.size();
  if (hi_in.size() != num_cells)
    return ffi::Error::InvalidArgument("threshold totals: one total per slot");
  // above[j] = (negatives, positives) in buckets > j: predicted positive at
  // the sorted threshold j; below[j] those in buckets <= j. Both are sums of
  // the bins themselves, not a total minus the other: an infinite weight then
  // makes only the cells that count it infinite (never inf - inf = NaN in
  // the others), as XLA's path computes them.
  std::vector<Count> above(2 * t), below(2 * t);
  for (int64_t l = 0; l < labels; ++l) {
    const Bin* h = hist + l * (t + 1) * 2;
    Count negatives = 0, positives = 0;
    for (int64_t j = t - 1; j >= 0; --j) {
      negatives += static_cast<Count>(h[2 * (j + 1)]);
      positives += static_cast<Count>(h[2 * (j + 1) + 1]);
      above[2 * j] = negatives;
      above[2 * j + 1] = positives;
    }
    negatives = 0, positives = 0;
    for (int64_t j = 0; j < t; ++j) {
      negatives += static_cast<Count>(h[2 * j]);
      positives += static_cast<Count>(h[2 * j + 1]);
      below[2 * j] = negatives;
      below[2 * j + 1] = positives;
    }
    for (int64_t i = 0; i < t; ++i) {
      const int64_t j = positions ? positions[i] : i;
      const Count fp = above[2 * j], tp = above[2 * j + 1];
      const Count tn = below[2 * j], fn = below[2 * j + 1];
      const int64_t cell = i * labels + l;
      for (size_t c = 0; c < num_cells; ++c) {
        const Count count = present[c] == kTruePositives    ? tp
                            : present[c] == kFalsePositives ? fp
                            : present[c] == kTrueNegatives  ? tn
                                                            : fn;
        float hi = hi_in[c][cell], lo = lo_in[c][cell];
        if (round_once) {
          WideAddRounded(hi, lo, count);
        } else {
          WideAddCount(hi, lo, count);
        }
        hi_out[c][cell] = hi;
        lo_out[c][cell] = lo;
      }
    }
  }
  return ffi::Error::Success();
}

// The sorted position of each threshold in the user's order, or nullptr when
// `positions` is empty (the grid is sorted); false if they are out of range.
inline bool ThresholdPositions(const ffi::Buffer<ffi::S32>& positions, int64_t t,
                               const int32_t** order) {
  *order = nullptr;
  if (positions.element_count() == 0) return true;
  if (static_cast<int64_t>(positions.element_count()) != t) return false;
  for (int64_t i = 0; i < t; ++i)
    if (positions.typed_data()[i] < 0 || positions.typed_data()[i] >= t)
      return false;
  *order = positions.typed_data();
  return true;
}

}  // namespace jmetrics_native

#endif  // JMETRICS_NATIVE_TOTALS_H_
