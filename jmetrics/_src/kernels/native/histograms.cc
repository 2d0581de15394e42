// Histogram kernels for XLA:CPU, called through jax.ffi: threshold counts,
// confusion matrices and bincounts.
//
// XLA:CPU lowers a scatter-add to a single thread that also recomputes each
// element's key on the way, which makes every histogram metric cost several
// times a read of its inputs. These kernels read the inputs once, in parallel
// (see parallel.h). They reproduce the pure-XLA path in jmetrics/_src exactly
// on unweighted counts.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.h"
#include "totals.h"

namespace {

using namespace jmetrics_native;  // NOLINT

// Up to this many sorted thresholds, a score's bucket is counted, not searched.
constexpr int64_t kLinearThresholds = 8;

// Threshold counts. Each score's bucket is how many thresholds it exceeds;
// key = (label_index * (T + 1) + bucket) * 2 + positive, with label_index the
// position on the last axis (of size num_labels) for multi-label counts.
//   mode 0: evenly spaced grid, bucket = ceil(clip(p, 0, 1) * (T - 1)) in
//           float32 as Keras computes it, NaN -> 1;
//   mode 1: the same with AUC's outer thresholds -eps and 1 + eps: bucket at
//           least 1, NaN -> 1;
//   mode 2: `sorted_thresholds`, bucket = number of thresholds strictly
//           below p (Keras' p > t), NaN -> 0.
// Calls fn(make_keys) with the maker of the threshold keys of `scores`.
template <typename Fn>
ffi::Error WithThresholdKeys(const ffi::Buffer<ffi::F32>& scores,
                             const ffi::AnyBuffer& labels,
                             const ffi::Buffer<ffi::F32>& sorted_thresholds,
                             int64_t mode, int64_t num_thresholds,
                             int64_t num_labels, Fn&& fn) {
  const int64_t n = scores.element_count();
  const int64_t t = num_thresholds;
  if (static_cast<int64_t>(labels.element_count()) != n || num_labels < 1 ||
      t < 1 || n % num_labels != 0 || mode < 0 || mode > 2 ||
      (mode == 2 && static_cast<int64_t>(sorted_thresholds.element_count()) != t))
    return ffi::Error::InvalidArgument("threshold histogram: shapes disagree");
  const float* p = scores.typed_data();
  const float* th = sorted_thresholds.typed_data();
  const float scale = static_cast<float>(t - 1);
  const int32_t lowest = mode == 1 ? 1 : 0;
  // Blocks start at a row (see ParallelHistogram), so element j of every
  // block has label index j % L: its key offset is the same in every block.
  const int64_t block =
      std::max<int64_t>(num_labels, kBlockElements / num_labels * num_labels);
  std::vector<int32_t> offsets(block);
  for (int64_t j = 0; j < block; ++j)
    offsets[j] = static_cast<int32_t>((j % num_labels) * (t + 1));
  const int32_t* label_offsets = offsets.data();
  return WithLabels(labels, [&](const auto* y) {
    auto make_keys = [=](int64_t begin, int64_t end, int32_t* keys) {
      // Locals, not the captures: a store to `keys` could alias a captured
      // int and would stop the loops from vectorising.
      const int64_t count = end - begin, labels_per_row = num_labels;
      const float grid_scale = scale;
      const int32_t first_bucket = lowest;
      const float* __restrict s_in = p + begin;
      const auto* __restrict y_in = y + begin;
      int32_t* __restrict out = keys;
      if (mode == 2 && t <= kLinearThresholds) {
        // A few thresholds: count those below each score, one vectorised
        // pass per threshold over the block (in cache), where a binary
        // search branches per score. NaN compares false, so counts 0.
        const int64_t thresholds = t;
        for (int64_t i = 0; i < count; ++i) out[i] = 0;
        for (int64_t j = 0; j < thresholds; ++j) {
          const float below = th[j];
          for (int64_t i = 0; i < count; ++i) out[i] += int32_t(s_in[i] > below);
        }
      } else if (mode == 2) {
        for (int64_t i = 0; i < count; ++i) {
          const float s = s_in[i];
          out[i] = std::isnan(s) ? 0 : std::lower_bound(th, th + t, s) - th;
        }
      } else {
        for (int64_t i = 0; i < count; ++i) {
          const float s = s_in[i];
          const float up =
              std::ceil(std::min(std::max(s, 0.0f), 1.0f) * grid_scale);
          const int32_t k = std::max(static_cast<int32_t>(up), first_bucket);
          out[i] = s != s ? 1 : k;
        }
      }
      if (labels_per_row == 1) {
        for (int64_t j = 0; j < count; ++j)
          out[j] = (out[j] << 1) | int32_t(y_in[j] != 0);
      } else {
        const int32_t* __restrict offset = label_offsets;
        for (int64_t j = 0; j < count; ++j)
          out[j] = ((offset[j] + out[j]) << 1) | int32_t(y_in[j] != 0);
      }
    };
    return fn(make_keys);
  });
}

// Threshold counts. Each score's bucket is how many thresholds it exceeds;
// key = (label_index * (T + 1) + bucket) * 2 + positive, with label_index the
// position on the last axis (of size num_labels) for multi-label counts.
//   mode 0: evenly spaced grid, bucket = ceil(clip(p, 0, 1) * (T - 1)) in
//           float32 as Keras computes it, NaN -> 1;
//   mode 1: the same with AUC's outer thresholds -eps and 1 + eps: bucket at
//           least 1, NaN -> 1;
//   mode 2: `sorted_thresholds`, bucket = number of thresholds strictly
//           below p (Keras' p > t), NaN -> 0.
ffi::Error ThresholdHistogram(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                              ffi::AnyBuffer labels, ffi::Buffer<ffi::F32> weights,
                              ffi::Buffer<ffi::F32> sorted_thresholds,
                              ffi::Result<ffi::AnyBuffer> out, int64_t mode,
                              int64_t num_thresholds, int64_t num_labels) {
  if (HistogramBins(*out) != num_labels * (num_thresholds + 1) * 2)
    return ffi::Error::InvalidArgument("threshold histogram: shapes disagree");
  return WithThresholdKeys(
      scores, labels, sorted_thresholds, mode, num_thresholds, num_labels,
      [&](const auto& make_keys) {
        return Histogram(pool, scores.element_count(), num_labels, weights, out,
                         make_keys);
      });
}

// A threshold update in one call: the histogram of ThresholdHistogram added
// to running totals as ThresholdTotals adds it (totals.h), with the same
// results as the two calls and one call's overhead, which on CPU is a good
// part of a small update.
ffi::Error ThresholdUpdate(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                           ffi::AnyBuffer labels, ffi::Buffer<ffi::F32> weights,
                           ffi::Buffer<ffi::F32> sorted_thresholds,
                           ffi::Buffer<ffi::S32> positions,
                           ffi::RemainingArgs state, ffi::RemainingRets out,
                           int64_t mode, int64_t num_thresholds,
                           int64_t num_labels, ffi::Span<const int64_t> slots) {
  const int64_t n = scores.element_count();
  const int64_t bins = num_labels * (num_thresholds + 1) * 2;
  const bool weighted = weights.element_count() != 0;
  const int32_t* order;
  if ((weighted && static_cast<int64_t>(weights.element_count()) != n) ||
      !ThresholdPositions(positions, num_thresholds, &order))
    return ffi::Error::InvalidArgument("threshold update: shapes disagree");
  return WithThresholdKeys(
      scores, labels, sorted_thresholds, mode, num_thresholds, num_labels,
      [&](const auto& make_keys) {
        if (!weighted) {
          std::vector<int32_t> hist(bins);
          ParallelHistogram<int32_t>(pool, n, num_labels, bins, hist.data(),
                                     make_keys,
                                     [](int64_t) { return int32_t{1}; });
          return AddTotals<int64_t>(hist.data(), order, num_thresholds,
                                    num_labels, slots, state, out);
        }
        // Double sums end to end: a float histogram would round each bin
        // once the batch passes 2**24 in it.
        const float* w = weights.typed_data();
        std::vector<double> hist(bins);
        ParallelHistogram<double>(pool, n, num_labels, bins, hist.data(),
                                  make_keys,
                                  [w](int64_t i) { return double(w[i]); });
        return AddTotals<double>(hist.data(), order, num_thresholds, num_labels,
                                 slots, state, out);
      });
}

// Confusion matrix: key = true * C + pred; pairs with an id outside [0, C)
// are dropped.
ffi::Error PairHistogram(ffi::ThreadPool pool, ffi::Buffer<ffi::S32> y_true,
                         ffi::Buffer<ffi::S32> y_pred, ffi::Buffer<ffi::F32> weights,
                         ffi::Result<ffi::AnyBuffer> out, int64_t num_classes) {
  const int64_t n = y_true.element_count();
  const int32_t c = static_cast<int32_t>(num_classes);
  if (static_cast<int64_t>(y_pred.element_count()) != n || num_classes < 1 ||
      HistogramBins(*out) != num_classes * num_classes)
    return ffi::Error::InvalidArgument("pair histogram: shapes disagree");
  const int32_t* a = y_true.typed_data();
  const int32_t* b = y_pred.typed_data();
  const int32_t spare = c * c;
  auto make_keys = [=](int64_t begin, int64_t end, int32_t* keys) {
    // Locals, not the captures: a store to `keys` could alias a captured int
    // and would stop the loop from vectorising.
    const int32_t classes = c, dropped = spare;
    const int32_t* __restrict t_in = a + begin;
    const int32_t* __restrict q_in = b + begin;
    int32_t* __restrict out = keys;
    for (int64_t i = 0; i < end - begin; ++i) {
      const uint32_t t = static_cast<uint32_t>(t_in[i]);
      const uint32_t q = static_cast<uint32_t>(q_in[i]);
      const bool valid = (t < uint32_t(classes)) & (q < uint32_t(classes));
      out[i] = valid ? int32_t(t) * classes + int32_t(q) : dropped;
    }
  };
  return Histogram(pool, n, 1, weights, out, make_keys);
}

// A weighted bincount: keys outside [0, bins) are dropped.
ffi::Error Bincount(ffi::ThreadPool pool, ffi::Buffer<ffi::S32> keys_in,
                    ffi::Buffer<ffi::F32> weights, ffi::Result<ffi::AnyBuffer> out) {
  const int64_t n = keys_in.element_count();
  const int32_t* k = keys_in.typed_data();
  const uint32_t bins = static_cast<uint32_t>(HistogramBins(*out));
  auto make_keys = [=](int64_t begin, int64_t end, int32_t* keys) {
    const uint32_t size = bins;  // a local: see PairHistogram
    const int32_t* __restrict in = k + begin;
    int32_t* __restrict out = keys;
    for (int64_t i = 0; i < end - begin; ++i) {
      out[i] = static_cast<uint32_t>(in[i]) < size ? in[i] : int32_t(size);
    }
  };
  return Histogram(pool, n, 1, weights, out, make_keys);
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsThresholdHistogram, ThresholdHistogram,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // scores
        .Arg<ffi::AnyBuffer>()         // labels
        .Arg<ffi::Buffer<ffi::F32>>()  // weights
        .Arg<ffi::Buffer<ffi::F32>>()  // sorted thresholds (mode 2)
        .Ret<ffi::AnyBuffer>()
        .Attr<int64_t>("mode")
        .Attr<int64_t>("num_thresholds")
        .Attr<int64_t>("num_labels"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsThresholdUpdate, ThresholdUpdate,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // scores
        .Arg<ffi::AnyBuffer>()         // labels
        .Arg<ffi::Buffer<ffi::F32>>()  // weights (empty: counts)
        .Arg<ffi::Buffer<ffi::F32>>()  // sorted thresholds (mode 2)
        .Arg<ffi::Buffer<ffi::S32>>()  // positions
        .RemainingArgs()               // state: (hi, lo) per slot
        .RemainingRets()               // the new state
        .Attr<int64_t>("mode")
        .Attr<int64_t>("num_thresholds")
        .Attr<int64_t>("num_labels")
        .Attr<ffi::Span<const int64_t>>("slots"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsPairHistogram, PairHistogram,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::S32>>()  // y_true
        .Arg<ffi::Buffer<ffi::S32>>()  // y_pred
        .Arg<ffi::Buffer<ffi::F32>>()  // weights
        .Ret<ffi::AnyBuffer>()
        .Attr<int64_t>("num_classes"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsBincount, Bincount,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::S32>>()  // keys
        .Arg<ffi::Buffer<ffi::F32>>()  // weights
        .Ret<ffi::AnyBuffer>());
