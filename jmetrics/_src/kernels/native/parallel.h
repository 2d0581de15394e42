// The shared machinery of the native kernels: a parallel histogram over the
// caller thread and XLA's intra-op thread pool, and label-dtype dispatch.
//
// Each chunk of the input is processed in blocks: a vectorised pass computes
// the block's keys into a small buffer, then a scatter adds them into the
// worker's private table (a few interleaved copies, so that runs of equal keys
// do not serialise on one counter). The private tables are summed into the
// output at the end.
//
//   * An int32 output counts elements (`weights` is then empty); a float32
//     output sums one float32 weight per element, accumulated in double. A
//     float32 output of shape (2, bins) holds each double sum as a pair
//     (hi, lo) of floats (StorePair), so nothing is rounded to one float; a
//     (bins,) one rounds each sum once.
//   * Elements with no valid key are dropped (they go to a spare bin).

#ifndef JMETRICS_NATIVE_PARALLEL_H_
#define JMETRICS_NATIVE_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace jmetrics_native {

namespace ffi = xla::ffi;

// Elements per chunk (the unit of work shared between threads) and per block
// (the unit of the key buffer). A block of 256 lets the out-of-order core
// overlap one block's key pass with the previous block's scatter: about 10%
// faster than 1024 on a Zen 5 core, where the scatter's one store per
// element is the limit.
constexpr int64_t kChunkElements = 1 << 16;
constexpr int64_t kBlockElements = 1 << 8;
// Interleaved private copies of tables up to kMaxCopiedBins, so that runs of
// equal keys do not serialise on one counter. Past kAlwaysCopiedBins the
// copies spill out of L1 and cost a zeroing and a merge per worker, so they
// are made only for inputs of at least kElementsPerCopiedBin per bin: there
// a multi-label AUC's 6,432 bins count 10-17% faster copied.
constexpr int64_t kCopies = 4;
constexpr int64_t kAlwaysCopiedBins = 1 << 12;
constexpr int64_t kMaxCopiedBins = 1 << 14;
constexpr int64_t kElementsPerCopiedBin = 64;

struct Shared {
  std::atomic<int64_t> next_chunk{0};
  std::atomic<int64_t> started{0};  // helpers that have started
  std::mutex mu;
  std::condition_variable finished;
  int64_t done_chunks = 0;
};

// Sums `weight_of(i)` into bin `keys[i - begin]` for i in [begin, end),
// element j into copy j % copies of the table.
template <typename Acc, typename WeightOf>
inline void Scatter(const int32_t* keys, int64_t begin, int64_t end, Acc* table,
                    int64_t stride, int64_t copies, const WeightOf& weight_of) {
  const int64_t count = end - begin;
  int64_t j = 0;
  if (copies == kCopies) {
    for (; j + kCopies <= count; j += kCopies) {
      for (int64_t k = 0; k < kCopies; ++k)
        table[k * stride + keys[j + k]] += weight_of(begin + j + k);
    }
  }
  for (; j < count; ++j) table[keys[j]] += weight_of(begin + j);
}

// Runs `body(chunk, state)` for every chunk in [0, chunks) on the caller and
// pool threads; each worker makes its own `state` with `make_state()` before
// its first chunk and hands it to `merge(state)` (called under a lock) after
// its last. Returns when every chunk is merged.
//
// The caller works only until every helper has started. A caller working
// beside every pool thread oversubscribes the cores: the OS then often parks
// it, or a helper, for a whole time slice, and one thread does all the work.
// Waking a parked pool thread takes tens of microseconds on a virtual
// machine, so the caller does not wait idle either. If the helpers never
// start (the pool is busy, or the caller is one of its threads), the caller
// does every chunk: a saturated pool is slower, never deadlocked.
//
// A pool task that starts after every chunk was claimed returns without
// touching anything but `shared` (which it co-owns), so the caller waits only
// for chunks that were claimed, never for tasks that have not started; the
// references to the callables are used only for claimed chunks.
template <typename MakeState, typename Body, typename Merge>
void ParallelChunks(ffi::ThreadPool& pool, int64_t chunks,
                    const MakeState& make_state, const Body& body,
                    const Merge& merge) {
  const int64_t threads = std::max<int64_t>(pool.num_threads(), 0);
  const int64_t helpers = chunks > 1 ? std::min(chunks, threads) : 0;
  auto shared = std::make_shared<Shared>();
  // `yield` says when a worker should stop claiming chunks.
  auto work = [shared, chunks, &make_state, &body, &merge](auto yield) {
    int64_t claimed = 0;
    decltype(make_state()) state;
    while (!yield()) {
      const int64_t c = shared->next_chunk.fetch_add(1);
      if (c >= chunks) break;
      if (claimed++ == 0) state = make_state();
      body(c, state);
    }
    if (claimed == 0) return;
    std::lock_guard<std::mutex> lock(shared->mu);
    merge(state);
    shared->done_chunks += claimed;
    if (shared->done_chunks == chunks) shared->finished.notify_all();
  };
  for (int64_t h = 0; h < helpers; ++h) {
    pool.Schedule([shared, work] {
      shared->started.fetch_add(1);
      work([] { return false; });
    });
  }
  work([&] { return helpers > 0 && shared->started.load() == helpers; });
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->finished.wait(lock, [&] { return shared->done_chunks == chunks; });
}

// Histograms `bins` keys over [0, n): `make_keys(begin, end, keys)` writes the
// key of each element (or `bins` to drop it); chunk and block boundaries are
// multiples of `align`.
template <typename Acc, typename Out, typename MakeKeys, typename WeightOf>
void ParallelHistogram(ffi::ThreadPool& pool, int64_t n, int64_t align,
                       int64_t bins, Out* out, const MakeKeys& make_keys,
                       const WeightOf& weight_of) {
  const int64_t block = std::max<int64_t>(align, kBlockElements / align * align);
  const int64_t chunk = std::max<int64_t>(block, kChunkElements / block * block);
  const int64_t chunks = std::max<int64_t>(1, (n + chunk - 1) / chunk);
  const int64_t stride = bins + 1;  // the spare bin takes dropped elements
  const bool copied = bins <= kAlwaysCopiedBins ||
                      (bins <= kMaxCopiedBins && n >= kElementsPerCopiedBin * bins);
  const int64_t copies = copied ? kCopies : 1;
  std::vector<Acc> total(bins, Acc(0));
  struct Worker {
    std::vector<Acc> table;
    std::vector<int32_t> keys;
  };
  ParallelChunks(
      pool, chunks,
      [&] { return Worker{std::vector<Acc>(stride * copies, Acc(0)),
                          std::vector<int32_t>(block)}; },
      [&](int64_t c, Worker& w) {
        const int64_t chunk_end = std::min(n, (c + 1) * chunk);
        for (int64_t begin = c * chunk; begin < chunk_end; begin += block) {
          const int64_t end = std::min(chunk_end, begin + block);
          make_keys(begin, end, w.keys.data());
          Scatter(w.keys.data(), begin, end, w.table.data(), stride, copies,
                  weight_of);
        }
      },
      [&](const Worker& w) {
        for (int64_t k = 0; k < copies; ++k) {
          const Acc* part = w.table.data() + k * stride;
          for (int64_t b = 0; b < bins; ++b) total[b] += part[b];
        }
      });
  for (int64_t b = 0; b < bins; ++b) out[b] = static_cast<Out>(total[b]);
}

// A double as the float32 pair (hi, lo) with hi + lo == d: exact for every
// double of at most 48 significant bits (integer sums below 2**48), else
// within 2**-48 of d relative. A sum that is not finite, or too large for a
// float, is hi = +-inf or NaN with lo = 0, so that the pair reads as the sum
// does rather than as NaN from inf - inf.
inline void StorePair(double d, float* hi, float* lo) {
  const float h = static_cast<float>(d);
  *hi = h;
  *lo = std::isfinite(h) ? static_cast<float>(d - static_cast<double>(h)) : 0.0f;
}

// Whether a float32 histogram output is (2, bins) pairs (StorePair) rather
// than (bins,) sums rounded to float.
inline bool IsPairOutput(const ffi::AnyBuffer& out) {
  return out.element_type() == ffi::DataType::F32 &&
         out.dimensions().size() == 2 && out.dimensions()[0] == 2;
}

// The number of bins of a histogram output: its size, or half of it for
// (2, bins) pairs.
inline int64_t HistogramBins(const ffi::AnyBuffer& out) {
  const int64_t size = out.element_count();
  return IsPairOutput(out) ? size / 2 : size;
}

// Writes double sums to a float32 output: (bins,) rounded once, or (2, bins)
// hi then lo.
inline void StoreSums(const double* sums, int64_t bins, bool pair, float* out) {
  if (!pair) {
    for (int64_t b = 0; b < bins; ++b) out[b] = static_cast<float>(sums[b]);
    return;
  }
  for (int64_t b = 0; b < bins; ++b) StorePair(sums[b], out + b, out + bins + b);
}

// Unweighted (int32 counts) or weighted (float32 sums accumulated in double),
// as the output dtype says; a weighted (2, bins) output keeps each sum as a
// (hi, lo) pair.
template <typename MakeKeys>
ffi::Error Histogram(ffi::ThreadPool& pool, int64_t n, int64_t align,
                     const ffi::Buffer<ffi::F32>& weights,
                     ffi::Result<ffi::AnyBuffer>& out, const MakeKeys& make_keys) {
  const int64_t bins = HistogramBins(*out);
  if (out->element_type() == ffi::DataType::S32) {
    ParallelHistogram<int32_t>(pool, n, align, bins, out->typed_data<int32_t>(),
                               make_keys, [](int64_t) { return int32_t{1}; });
    return ffi::Error::Success();
  }
  if (out->element_type() != ffi::DataType::F32)
    return ffi::Error::InvalidArgument("histograms are int32 or float32");
  if (static_cast<int64_t>(weights.element_count()) != n)
    return ffi::Error::InvalidArgument("weights do not match the inputs");
  const float* w = weights.typed_data();
  std::vector<double> sums(bins);
  ParallelHistogram<double>(pool, n, align, bins, sums.data(), make_keys,
                            [w](int64_t i) { return double(w[i]); });
  StoreSums(sums.data(), bins, IsPairOutput(*out), out->typed_data<float>());
  return ffi::Error::Success();
}

// Calls fn(typed pointer) for the label dtypes read directly.
template <typename Fn>
ffi::Error WithLabels(const ffi::AnyBuffer& labels, Fn&& fn) {
  switch (labels.element_type()) {
    case ffi::DataType::PRED: return fn(labels.reinterpret_data<uint8_t>());
    case ffi::DataType::U8: return fn(labels.typed_data<uint8_t>());
    case ffi::DataType::S8: return fn(labels.typed_data<int8_t>());
    case ffi::DataType::S32: return fn(labels.typed_data<int32_t>());
    case ffi::DataType::U32: return fn(labels.typed_data<uint32_t>());
    case ffi::DataType::F32: return fn(labels.typed_data<float>());
    default: return ffi::Error::InvalidArgument("unsupported label dtype");
  }
}

}  // namespace jmetrics_native

#endif  // JMETRICS_NATIVE_PARALLEL_H_
