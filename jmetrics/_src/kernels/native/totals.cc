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

#include <cstdint>
#include <vector>

#include "parallel.h"
#include "totals.h"

namespace {

using namespace jmetrics_native;  // NOLINT

ffi::Error ThresholdTotals(ffi::AnyBuffer hist, ffi::Buffer<ffi::S32> positions,
                           ffi::RemainingArgs state, ffi::RemainingRets out,
                           int64_t num_thresholds, int64_t num_labels,
                           int64_t cells) {
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
                                num_labels, cells, state, out);
    case ffi::DataType::F32: {
      const float* h = hist.typed_data<float>();
      if (!pair)
        return AddTotals<double>(h, order, t, num_labels, cells, state, out,
                                 /*round_once=*/true);
      // hi + lo of each bin is exact in double.
      std::vector<double> sums(bins);
      for (int64_t b = 0; b < bins; ++b)
        sums[b] = static_cast<double>(h[b]) + static_cast<double>(h[bins + b]);
      return AddTotals<double>(sums.data(), order, t, num_labels, cells, state,
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
        .RemainingArgs()               // state: (hi, lo) per cell
        .RemainingRets()               // the new state
        .Attr<int64_t>("num_thresholds")
        .Attr<int64_t>("num_labels")
        .Attr<int64_t>("cells"));
