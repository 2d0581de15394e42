// Top-k kernels for XLA:CPU, called through jax.ffi: "is the label in the
// top k" for the top-k accuracies, and the threshold histogram of Keras'
// top-k filtered scores for Precision / Recall with `top_k`.
//
// XLA answers the first with an int32 (rows, C) comparison array and the
// second with a sort (lax.top_k), a scatter of the mask and the filtered
// (rows, C) scores, each read again by the histogram. These kernels read each
// row once, in parallel over rows, and write nothing of the input's size.
//
// Both run on XLA's threads, which compute with denormals as zero (DAZ/FTZ),
// as the XLA paths they replace do.

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <type_traits>
#include <vector>

#include "parallel.h"

namespace {

using namespace jmetrics_native;  // NOLINT

// Rows per chunk: about kChunkElements scores.
int64_t RowGrain(int64_t row_length) {
  return std::max<int64_t>(1, kChunkElements / std::max<int64_t>(row_length, 1));
}

// Runs `body(begin, end, state)` over rows [0, rows) in chunks of about
// kChunkElements scores, on the caller and XLA's pool threads (parallel.h's
// ParallelChunks: one `state` per worker, merged under a lock).
template <typename MakeState, typename Body, typename Merge>
void ParallelRows(ffi::ThreadPool& pool, int64_t rows, int64_t row_length,
                  const MakeState& make_state, const Body& body,
                  const Merge& merge) {
  const int64_t grain = RowGrain(row_length);
  const int64_t chunks = std::max<int64_t>(1, (rows + grain - 1) / grain);
  ParallelChunks(
      pool, chunks, make_state,
      [&](int64_t chunk, auto& state) {
        body(chunk * grain, std::min(rows, (chunk + 1) * grain), state);
      },
      merge);
}

// ---------------------------------------------------------------------------
// In top k: per row, whether fewer than k scores are strictly greater than
// the score at the label (Keras' `ops.in_top_k` on JAX). A negative label
// indexes from the end; a label outside [-C, C) or a NaN score there counts
// as -inf. Scans stop once k greater scores are seen.

constexpr int64_t kScanBlock = 32;  // scores counted between exit checks

int32_t InTopKRow(const float* x, int64_t c, int64_t label, int64_t k) {
  if (label < 0) label += c;
  float s = (label >= 0 && label < c) ? x[label]
                                      : -std::numeric_limits<float>::infinity();
  if (std::isnan(s)) s = -std::numeric_limits<float>::infinity();
  // XLA compares with denormals as zero: against a (flushed) zero only
  // normal positive scores are greater, i.e. those above the largest
  // denormal, whether or not this thread flushes denormals itself.
  if (std::fabs(s) < FLT_MIN) s = std::nextafter(FLT_MIN, 0.0f);
  int64_t count = 0;
  int64_t j = 0;
  for (; j + kScanBlock <= c; j += kScanBlock) {
    int32_t block = 0;
    for (int64_t i = 0; i < kScanBlock; ++i) block += int32_t(x[j + i] > s);
    count += block;
    if (count >= k) return 0;
  }
  for (; j < c; ++j) count += int64_t(x[j] > s);
  return int32_t(count < k);
}

ffi::Error InTopK(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                  ffi::Buffer<ffi::S32> labels,
                  ffi::Result<ffi::Buffer<ffi::S32>> out, int64_t k,
                  int64_t row_length) {
  const int64_t rows = labels.element_count();
  const int64_t c = row_length;
  if (c < 0 || k < 0 ||
      static_cast<int64_t>(scores.element_count()) != rows * c ||
      static_cast<int64_t>(out->element_count()) != rows)
    return ffi::Error::InvalidArgument("in top k: shapes disagree");
  const float* x = scores.typed_data();
  const int32_t* y = labels.typed_data();
  int32_t* o = out->typed_data();
  ParallelRows(
      pool, rows, c, [] { return 0; },
      [&](int64_t begin, int64_t end, int) {
        for (int64_t r = begin; r < end; ++r) o[r] = InTopKRow(x + r * c, c, y[r], k);
      },
      [](int) {});
  return ffi::Error::Success();
}

// ---------------------------------------------------------------------------
// Threshold counts of top-k filtered scores (Keras' `_filter_top_k`, then the
// threshold histogram of histograms.cc on one pooled label).
//
// The k kept scores of a row are its k largest in lax.top_k's order on CPU:
// a total order of the float bits (-NaN < -inf < ... < -0.0 < +0.0 < ... <
// +inf < +NaN), ties to the lower index. A kept score stays x (XLA's product
// with the mask flushes a denormal to zero, which buckets computed with
// denormals as zero do not tell apart); a dropped one becomes
// x * 0 + (-1e10), i.e. -1e10, or NaN where x is infinite or NaN.
//
// So a row's dropped scores fall in two buckets only, bucket(-1e10) and
// bucket(NaN): the kernel counts every element as dropped by finiteness and
// label (vectorised), then moves each row's k kept scores to their own
// buckets. With `class_id`, only that column is counted: its rank in the
// row (scores before it in that order), with an early exit at k.

// lax.top_k's comparison key: larger key first (XLA's own bit trick).
inline int32_t OrderKey(int32_t bits) { return bits ^ ((bits >> 31) & 0x7FFFFFFF); }
inline int32_t OrderKey(float x) {
  int32_t b;
  std::memcpy(&b, &x, sizeof b);
  return OrderKey(b);
}

inline bool NotFinite(float x) { return !(std::fabs(x) <= FLT_MAX); }

// The bucket of histograms.cc's ThresholdHistogram (same float32 arithmetic).
struct Bucket {
  int64_t mode;
  int64_t t;
  const float* th;
  float scale;
  int32_t lowest;

  int32_t operator()(float s) const {
    if (mode == 2) {
      if (t <= 8) {  // a count; NaN exceeds no threshold
        int32_t k = 0;
        for (int64_t i = 0; i < t; ++i) k += int32_t(th[i] < s);
        return k;
      }
      return std::isnan(s) ? 0 : int32_t(std::lower_bound(th, th + t, s) - th);
    }
    const float up = std::ceil(std::min(std::max(s, 0.0f), 1.0f) * scale);
    const int32_t k = std::max(static_cast<int32_t>(up), lowest);
    return s != s ? 1 : k;
  }
};

// The selection works on vectors of kLanes int64 (GCC/Clang vector
// extensions): one AVX-512 register of 8, an AVX2 register of 4, or else a
// 128-bit register of 2 (SSE, NEON); the shuffles below keep to the 128-bit
// lanes where they can, so that each is one instruction.
#if defined(__AVX512F__)
constexpr int64_t kLanes = 8;
typedef int64_t I64v __attribute__((vector_size(64)));  // kLanes int64
typedef int32_t I32h __attribute__((vector_size(32)));  // kLanes int32
typedef int32_t I32w __attribute__((vector_size(64)));  // 2 kLanes int32
#elif defined(__AVX2__)
constexpr int64_t kLanes = 4;
typedef int64_t I64v __attribute__((vector_size(32)));
typedef int32_t I32h __attribute__((vector_size(16)));
typedef int32_t I32w __attribute__((vector_size(32)));
#else
constexpr int64_t kLanes = 2;
typedef int64_t I64v __attribute__((vector_size(16)));
typedef int32_t I32h __attribute__((vector_size(8)));
typedef int32_t I32w __attribute__((vector_size(16)));
#endif

#if defined(__clang__)
#define JMETRICS_SHUFFLE(v, ...) __builtin_shufflevector(v, v, __VA_ARGS__)
#define JMETRICS_SHUFFLE2(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define JMETRICS_SHUFFLE(v, ...) __builtin_shuffle(v, I64v{__VA_ARGS__})
#define JMETRICS_SHUFFLE2(a, b, ...) __builtin_shuffle(a, b, I32w{__VA_ARGS__})
#endif

inline I64v Load(const int64_t* p) {
  I64v v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline I64v Broadcast(int64_t x) { return I64v{} + x; }
inline I64v Max(I64v a, I64v b) { return a > b ? a : b; }
inline I64v Min(I64v a, I64v b) { return a < b ? a : b; }

// Lane l of the result holds lane l ^ Step of v.
template <int Step>
inline I64v SwapLanes(I64v v) {
#if defined(__AVX512F__)
  if (Step == 1) return JMETRICS_SHUFFLE(v, 1, 0, 3, 2, 5, 4, 7, 6);
  if (Step == 2) return JMETRICS_SHUFFLE(v, 2, 3, 0, 1, 6, 7, 4, 5);
  return JMETRICS_SHUFFLE(v, 4, 5, 6, 7, 0, 1, 2, 3);
#elif defined(__AVX2__)
  if (Step == 1) return JMETRICS_SHUFFLE(v, 1, 0, 3, 2);
  return JMETRICS_SHUFFLE(v, 2, 3, 0, 1);
#else
  return JMETRICS_SHUFFLE(v, 1, 0);
#endif
}

inline int64_t HorizontalMax(I64v v) {
  for (int64_t step = kLanes / 2; step >= 1; step /= 2) {
    if (step == 4) v = Max(v, SwapLanes<4>(v));
    if (step == 2) v = Max(v, SwapLanes<2>(v));
    if (step == 1) v = Max(v, SwapLanes<1>(v));
  }
  return v[0];
}

// The indices of the k (< c) largest entries of a row in lax.top_k's order,
// written to `kept` (in no particular order).
//
// Each entry is packed as (key, ~index) in an int64, so that a larger packed
// value is a larger key or, for equal keys, a lower index, and all are
// distinct; INT64_MIN is no entry's value (its index would be 2**32 - 1) and
// pads rows to whole vectors of kLanes.
constexpr int64_t kNone = std::numeric_limits<int64_t>::min();

inline I64v FirstLow() {
  I64v low;
  for (int64_t l = 0; l < kLanes; ++l) low[l] = int64_t(~uint32_t(l));
  return low;
}

// Packs the row's entries [j, j + kLanes) (all inside the row); `low` holds
// their ~index, and steps to the next block's.
inline I64v PackedBlock(const float* x, int64_t j, I64v& low) {
  I32h bits;
  std::memcpy(&bits, x + j, sizeof bits);
  const I32h key = bits ^ ((bits >> 31) & 0x7FFFFFFF);
  const I64v e = (__builtin_convertvector(key, I64v) << 32) | low;
  low -= kLanes;
  return e;
}

// The last, partial block of a row of c (entries j to c), padded: read as
// the row's last whole block with the entries before j masked.
inline I64v PackedTail(const float* x, int64_t j, int64_t c) {
  const I64v none = Broadcast(kNone);
  if (c < kLanes) {
    I64v e = none;
    for (int64_t l = 0; j + l < c; ++l)
      e[l] = int64_t(uint64_t(int64_t(OrderKey(x[j + l]))) << 32) |
             int64_t(~uint32_t(j + l));
    return e;
  }
  const int64_t start = c - kLanes;
  I64v low = FirstLow() - start;
  const I64v index = Broadcast(start) + (FirstLow() ^ 0xFFFFFFFF);
  const I64v block = PackedBlock(x, start, low);
  return index >= Broadcast(j) ? block : none;
}

// Each key with its ~index as an int64's high and low halves, in two
// vectors. The interleaves stay within 128-bit lanes, so the entries land in
// some lane order, which the networks do not mind.
inline void Interleave(const I32w& low, const I32w& key, I64v& e0, I64v& e1) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JMETRICS_PAIR(a, b) a, b
#else
#define JMETRICS_PAIR(a, b) b, a
#endif
#if defined(__AVX512F__)
  const I32w lo = JMETRICS_SHUFFLE2(
      low, key, JMETRICS_PAIR(0, 16), JMETRICS_PAIR(1, 17), JMETRICS_PAIR(4, 20),
      JMETRICS_PAIR(5, 21), JMETRICS_PAIR(8, 24), JMETRICS_PAIR(9, 25),
      JMETRICS_PAIR(12, 28), JMETRICS_PAIR(13, 29));
  const I32w hi = JMETRICS_SHUFFLE2(
      low, key, JMETRICS_PAIR(2, 18), JMETRICS_PAIR(3, 19), JMETRICS_PAIR(6, 22),
      JMETRICS_PAIR(7, 23), JMETRICS_PAIR(10, 26), JMETRICS_PAIR(11, 27),
      JMETRICS_PAIR(14, 30), JMETRICS_PAIR(15, 31));
#elif defined(__AVX2__)
  const I32w lo = JMETRICS_SHUFFLE2(
      low, key, JMETRICS_PAIR(0, 8), JMETRICS_PAIR(1, 9), JMETRICS_PAIR(4, 12),
      JMETRICS_PAIR(5, 13));
  const I32w hi = JMETRICS_SHUFFLE2(
      low, key, JMETRICS_PAIR(2, 10), JMETRICS_PAIR(3, 11), JMETRICS_PAIR(6, 14),
      JMETRICS_PAIR(7, 15));
#else
  const I32w lo = JMETRICS_SHUFFLE2(low, key, JMETRICS_PAIR(0, 4), JMETRICS_PAIR(1, 5));
  const I32w hi = JMETRICS_SHUFFLE2(low, key, JMETRICS_PAIR(2, 6), JMETRICS_PAIR(3, 7));
#endif
#undef JMETRICS_PAIR
  std::memcpy(&e0, &lo, sizeof e0);
  std::memcpy(&e1, &hi, sizeof e1);
}

// Packs the row's entries [j, j + 2 kLanes) into two vectors (see
// Interleave). `low` holds the ~indices and steps on.
inline void PackedPair(const float* x, int64_t j, I32w& low, I64v& e0,
                       I64v& e1) {
  I32w bits;
  std::memcpy(&bits, x + j, sizeof bits);
  Interleave(low, bits ^ ((bits >> 31) & 0x7FFFFFFF), e0, e1);
  low -= int32_t(2 * kLanes);
}

// Lane l's list merged with lane (l ^ Step)'s: the K best of both, sorted,
// in both lanes. With A and B sorted best first and all entries distinct,
// the (i + 1)-th best of their union is the best of A_i, B_i and
// min(A_(a-1), B_(i-a)) for a in 1..i.
template <int K, int Step>
inline void MergeLanes(I64v* best) {
  I64v other[K], merged[K];
  for (int i = 0; i < K; ++i) other[i] = SwapLanes<Step>(best[i]);
  for (int i = 0; i < K; ++i) {
    I64v m = Max(best[i], other[i]);
    for (int a = 1; a <= i; ++a) m = Max(m, Min(best[a - 1], other[i - a]));
    merged[i] = m;
  }
  for (int i = 0; i < K; ++i) best[i] = merged[i];
}

// Inserts `e` into each lane's K best entries, kept sorted in `best` (one
// pass of min/max exchanges; the smallest falls off the end).
template <int K>
inline void InsertSorted(I64v* best, I64v e) {
  for (int i = 0; i < K; ++i) {
    const I64v hi = Max(best[i], e);
    e = Min(best[i], e);
    best[i] = hi;
  }
}

// Small k: each lane keeps its K best entries, sorted, in K registers (one
// pass of min/max exchanges); sorted merges of lane pairs (l with l ^ 1 for
// 4 lanes or more, then l ^ 2 for 8) and a last merge of halves give the
// row's K best.
template <int K>
void TopKNetwork(const float* x, int64_t c, int32_t* kept) {
  I64v best[K];
  for (int i = 0; i < K; ++i) best[i] = Broadcast(kNone);
  auto insert = [&best](I64v e) { InsertSorted<K>(best, e); };
  I32w low2;
  for (int l = 0; l < 2 * kLanes; ++l) low2[l] = int32_t(~uint32_t(l));
  int64_t j = 0;
  for (; j + 2 * kLanes <= c; j += 2 * kLanes) {
    I64v e0, e1;
    PackedPair(x, j, low2, e0, e1);
    insert(e0);
    insert(e1);
  }
  I64v low = FirstLow() - j;
  for (; j + kLanes <= c; j += kLanes) insert(PackedBlock(x, j, low));
  if (j < c) insert(PackedTail(x, j, c));
  if (kLanes >= 4) MergeLanes<K, 1>(best);
  if (kLanes == 8) MergeLanes<K, 2>(best);
  // The last merge needs the set only: with A and B sorted, the K best of
  // their union are max(A_i, B_(K-1-i)).
  for (int i = 0; i < K; ++i) {
    const I64v top = Max(best[i], SwapLanes<int(kLanes / 2)>(best[K - 1 - i]));
    kept[i] = int32_t(~uint32_t(top[0]));
  }
}

// (GCC 12 or Clang: __builtin_shufflevector joins the two rows' halves.)
#if defined(__AVX512F__) && (defined(__clang__) || __GNUC__ >= 12)
#define JMETRICS_TWO_ROWS 1
// Two rows at once, for small k on 8 lanes: row 0 in lanes 0-3, row 1 in
// lanes 4-7, so that the merges (within each half) serve both rows.
template <int K>
void TopKNetworkTwoRows(const float* x0, const float* x1, int64_t c,
                        int32_t* kept0, int32_t* kept1) {
  I64v best[K];
  for (int i = 0; i < K; ++i) best[i] = Broadcast(kNone);
  auto insert = [&best](I64v e) { InsertSorted<K>(best, e); };
  // Eight entries of each row: row 0's in the low 256 bits, row 1's in the
  // high, interleaved with their ~indices within 128-bit lanes (as in
  // PackedPair), so that lanes 0-3 hold row 0 and lanes 4-7 row 1.
  I32w low2;
  for (int l = 0; l < 16; ++l) low2[l] = int32_t(~uint32_t(l % 8));
  int64_t j = 0;
  for (; j + 8 <= c; j += 8) {
    I32h bits0, bits1;
    std::memcpy(&bits0, x0 + j, sizeof bits0);
    std::memcpy(&bits1, x1 + j, sizeof bits1);
    const I32w bits = __builtin_shufflevector(bits0, bits1, 0, 1, 2, 3, 4, 5, 6,
                                              7, 8, 9, 10, 11, 12, 13, 14, 15);
    I64v e0, e1;
    Interleave(low2, bits ^ ((bits >> 31) & 0x7FFFFFFF), e0, e1);
    insert(e0);
    insert(e1);
    low2 -= 8;
  }
  // The rest (fewer than 8 entries of each row), four at a time, the last
  // ones padded.
  for (; j < c; j += 4) {
    I64v e = Broadcast(kNone);
    for (int64_t l = 0; l < 4 && j + l < c; ++l) {
      const int64_t low = int64_t(~uint32_t(j + l));
      e[l] = int64_t(uint64_t(int64_t(OrderKey(x0[j + l]))) << 32) | low;
      e[4 + l] = int64_t(uint64_t(int64_t(OrderKey(x1[j + l]))) << 32) | low;
    }
    insert(e);
  }
  MergeLanes<K, 1>(best);
  for (int i = 0; i < K; ++i) {
    const I64v top = Max(best[i], SwapLanes<2>(best[K - 1 - i]));
    kept0[i] = int32_t(~uint32_t(top[0]));
    kept1[i] = int32_t(~uint32_t(top[4]));
  }
}
#endif

// Larger k: k vectorised max-reductions over the packed row, round i taking
// the largest entry below round i - 1's; k above kRoundsK, a selection in
// O(c). `packed` is scratch.
constexpr int64_t kRoundsK = 32;

void TopKIndices(const float* x, int64_t c, int64_t k, int32_t* kept,
                 std::vector<int64_t>& packed) {
  switch (k) {
    case 1: return TopKNetwork<1>(x, c, kept);
    case 2: return TopKNetwork<2>(x, c, kept);
    case 3: return TopKNetwork<3>(x, c, kept);
    case 4: return TopKNetwork<4>(x, c, kept);
    case 5: return TopKNetwork<5>(x, c, kept);
    case 6: return TopKNetwork<6>(x, c, kept);
    case 7: return TopKNetwork<7>(x, c, kept);
    case 8: return TopKNetwork<8>(x, c, kept);
    default: break;
  }
  const int64_t blocks = (c + kLanes - 1) / kLanes;
  const int64_t padded = blocks * kLanes;
  if (int64_t(packed.size()) < padded) packed.resize(padded);
  int64_t* v = packed.data();
  I64v best0 = Broadcast(kNone), best1 = best0;
  I64v low = FirstLow();
  int64_t j = 0;
  for (; j < padded; j += kLanes) {
    const I64v e = j + kLanes <= c ? PackedBlock(x, j, low) : PackedTail(x, j, c);
    std::memcpy(v + j, &e, sizeof e);
    best0 = Max(best0, e);
  }
  if (k > kRoundsK) {
    // The padding (INT64_MIN, in some places) is never among the k < c best.
    std::nth_element(v, v + (k - 1), v + padded, std::greater<int64_t>());
    for (int64_t i = 0; i < k; ++i) kept[i] = int32_t(~uint32_t(v[i]));
    return;
  }
  for (int64_t i = 0;; ++i) {
    const int64_t best = HorizontalMax(Max(best0, best1));
    kept[i] = int32_t(~uint32_t(best));
    if (i + 1 == k) return;
    const I64v below = Broadcast(best);
    best0 = Broadcast(kNone);
    best1 = best0;
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
      const I64v e0 = Load(v + b * kLanes), e1 = Load(v + (b + 1) * kLanes);
      best0 = e0 < below ? Max(best0, e0) : best0;
      best1 = e1 < below ? Max(best1, e1) : best1;
    }
    if (b < blocks) {
      const I64v e0 = Load(v + b * kLanes);
      best0 = e0 < below ? Max(best0, e0) : best0;
    }
  }
}

// The top k of two rows (each of c) into kept0 and kept1.
void TopKIndicesOfTwo(const float* x0, const float* x1, int64_t c, int64_t k,
                      int32_t* kept0, int32_t* kept1,
                      std::vector<int64_t>& packed) {
#if defined(JMETRICS_TWO_ROWS)
  switch (k) {
    case 1: return TopKNetworkTwoRows<1>(x0, x1, c, kept0, kept1);
    case 2: return TopKNetworkTwoRows<2>(x0, x1, c, kept0, kept1);
    case 3: return TopKNetworkTwoRows<3>(x0, x1, c, kept0, kept1);
    case 4: return TopKNetworkTwoRows<4>(x0, x1, c, kept0, kept1);
    case 5: return TopKNetworkTwoRows<5>(x0, x1, c, kept0, kept1);
    case 6: return TopKNetworkTwoRows<6>(x0, x1, c, kept0, kept1);
    case 7: return TopKNetworkTwoRows<7>(x0, x1, c, kept0, kept1);
    case 8: return TopKNetworkTwoRows<8>(x0, x1, c, kept0, kept1);
    default: break;
  }
#endif
  TopKIndices(x0, c, k, kept0, packed);
  TopKIndices(x1, c, k, kept1, packed);
}

// Whether entry `at` of a row is among its k largest in lax.top_k's order:
// fewer than k entries before it (a larger key, or an equal key earlier).
bool RanksInTopK(const float* x, int64_t c, int64_t at, int64_t k) {
  if (k >= c) return true;
  const int32_t v = OrderKey(x[at]);
  int64_t count = 0;
  int64_t j = 0;
  for (; j + kScanBlock <= at; j += kScanBlock) {
    int32_t block = 0;
    for (int64_t i = 0; i < kScanBlock; ++i) block += int32_t(OrderKey(x[j + i]) >= v);
    count += block;
    if (count >= k) return false;
  }
  for (; j < at; ++j) count += int64_t(OrderKey(x[j]) >= v);
  if (count >= k) return false;
  j = at + 1;
  for (; j + kScanBlock <= c; j += kScanBlock) {
    int32_t block = 0;
    for (int64_t i = 0; i < kScanBlock; ++i) block += int32_t(OrderKey(x[j + i]) > v);
    count += block;
    if (count >= k) return false;
  }
  for (; j < c; ++j) count += int64_t(OrderKey(x[j]) > v);
  return count < k;
}

// Per-thread state: the private table, in kTableCopies interleaved copies
// (so that runs of one bin do not serialise on one counter), and scratch.
constexpr int64_t kTableCopies = 4;

template <typename Acc>
struct TopKState {
  std::vector<Acc> table;  // kTableCopies x bins
  int64_t bins = 0;
  std::vector<int32_t> kept;
  std::vector<int64_t> packed;
};

// Rows [begin, end) into `st`. weight_of(element) and row_weight(row) are 1
// for counts, else the weight (per row or per element, as `per_row` says).
template <typename Acc, typename Label, typename WeightOf, typename RowWeight>
void TopKRows(const float* x, const Label* y, int64_t c, int64_t k,
              int64_t class_id, bool per_row, const Bucket& bucket,
              int64_t begin, int64_t end, TopKState<Acc>& st,
              const WeightOf& weight_of, const RowWeight& row_weight) {
  Acc* table = st.table.data();
  const int64_t bins = st.bins;
  const int32_t drop = bucket(-1e10f) << 1;  // a dropped finite score
  const int32_t drop_nan = bucket(std::numeric_limits<float>::quiet_NaN()) << 1;
  if (class_id >= 0) {
    // y holds the class column: one label per row.
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * c;
      const float s = row[class_id];
      int32_t key;
      if (RanksInTopK(row, c, class_id, k)) key = bucket(s) << 1;
      else key = NotFinite(s) ? drop_nan : drop;
      table[(r % kTableCopies) * bins + (key | int32_t(y[r] != 0))] += row_weight(r);
    }
    return;
  }
  if (k >= c) {  // every score is kept
    for (int64_t r = begin; r < end; ++r)
      for (int64_t i = r * c; i < (r + 1) * c; ++i)
        table[(i % kTableCopies) * bins + ((bucket(x[i]) << 1) | int32_t(y[i] != 0))] +=
            per_row ? row_weight(r) : weight_of(i);
    return;
  }
  // Every score counts first as dropped, by (not finite, positive): these
  // four totals stay in registers; each row's k kept scores then leave them
  // for their own buckets.
  Acc dropped[4] = {Acc(0), Acc(0), Acc(0), Acc(0)};
  // Row r's kept indices, selected two rows at a time; the next pair's are
  // selected before this pair is counted, so that the two overlap.
  st.kept.resize(4 * k);
  auto select_pair = [&](int64_t first) {
    int32_t* out = st.kept.data() + (((first - begin) / 2) % 2) * 2 * k;
    if (first + 1 < end)
      TopKIndicesOfTwo(x + first * c, x + (first + 1) * c, c, k, out, out + k,
                       st.packed);
    else
      TopKIndices(x + first * c, c, k, out, st.packed);
  };
  auto SelectRow = [&](int64_t r) -> const int32_t* {
    const int64_t offset = r - begin;
    if (offset % 2 == 0) {
      if (offset == 0) select_pair(r);
      if (r + 2 < end) select_pair(r + 2);
    }
    return st.kept.data() + ((offset / 2) % 2) * 2 * k + (offset % 2) * k;
  };
  // Where a dropped NaN lands with the dropped finite scores (a list of
  // thresholds: neither exceeds any), only the labels are counted.
  const bool split = drop != drop_nan;
  if (std::is_integral<Acc>::value) {
    // Counts: the chunk's scores by (not finite, positive) in one pass, less
    // each row's kept ones.
    int64_t pos = 0, nf = 0, nf_pos = 0;
    for (int64_t j = begin * c; j < end * c;) {
      const int64_t stop = std::min(end * c, j + (int64_t(1) << 30));
      int32_t block_pos = 0, block_nf = 0, block_nf_pos = 0;
      if (split) {
        for (; j < stop; ++j) {
          const int32_t p = int32_t(y[j] != 0);
          const int32_t f = int32_t(NotFinite(x[j]));
          block_pos += p;
          block_nf += f;
          block_nf_pos += p & f;
        }
      } else {
        for (; j < stop; ++j) block_pos += int32_t(y[j] != 0);
      }
      pos += block_pos;
      nf += block_nf;
      nf_pos += block_nf_pos;
    }
    for (int64_t r = begin; r < end; ++r) {
      const float* row = x + r * c;
      const Label* labels = y + r * c;
      const int32_t* kept = SelectRow(r);
      for (int64_t i = 0; i < k; ++i) {
        const int64_t j = kept[i];
        const float s = row[j];
        const int32_t p = int32_t(labels[j] != 0);
        const int32_t f = split ? int32_t(NotFinite(s)) : 0;
        pos -= p;
        nf -= f;
        nf_pos -= p & f;
        table[(i % kTableCopies) * bins + ((bucket(s) << 1) | p)] += Acc(1);
      }
    }
    const int64_t total = (end - begin) * (c - k);
    table[drop] += Acc(total - nf - (pos - nf_pos));
    table[drop | 1] += Acc(pos - nf_pos);
    table[drop_nan] += Acc(nf - nf_pos);
    table[drop_nan | 1] += Acc(nf_pos);
    return;
  }
  for (int64_t r = begin; r < end; ++r) {
    const float* row = x + r * c;
    const Label* labels = y + r * c;
    const int32_t* kept = SelectRow(r);
    if (per_row) {
      // Integer counts of the row's dropped scores, scaled by its weight.
      int32_t pos = 0, nf = 0, nf_pos = 0;
      if (split) {
        for (int64_t j = 0; j < c; ++j) {
          const int32_t p = int32_t(labels[j] != 0);
          const int32_t f = int32_t(NotFinite(row[j]));
          pos += p;
          nf += f;
          nf_pos += p & f;
        }
      } else {
        for (int64_t j = 0; j < c; ++j) pos += int32_t(labels[j] != 0);
      }
      const Acc w = row_weight(r);
      for (int64_t i = 0; i < k; ++i) {
        const int64_t j = kept[i];
        const float s = row[j];
        const int32_t p = int32_t(labels[j] != 0);
        const int32_t f = split ? int32_t(NotFinite(s)) : 0;
        pos -= p;
        nf -= f;
        nf_pos -= p & f;
        table[(i % kTableCopies) * bins + ((bucket(s) << 1) | p)] += w;
      }
      dropped[0] += w * Acc(c - k - nf - (pos - nf_pos));
      dropped[1] += w * Acc(pos - nf_pos);
      dropped[2] += w * Acc(nf - nf_pos);
      dropped[3] += w * Acc(nf_pos);
    } else {
      // Sums of per-element weights by (not finite, positive), in lanes.
      constexpr int64_t kSumLanes = 8;
      Acc lanes[kSumLanes][4] = {};
      const int64_t base = r * c;
      int64_t j = 0;
      for (; j + kSumLanes <= c; j += kSumLanes)
        for (int64_t l = 0; l < kSumLanes; ++l)
          lanes[l][(int32_t(NotFinite(row[j + l])) << 1) |
                   int32_t(labels[j + l] != 0)] += weight_of(base + j + l);
      for (; j < c; ++j)
        lanes[0][(int32_t(NotFinite(row[j])) << 1) | int32_t(labels[j] != 0)] +=
            weight_of(base + j);
      for (int64_t i = 0; i < k; ++i) {
        const int64_t jk = kept[i];
        const float s = row[jk];
        const int32_t p = int32_t(labels[jk] != 0);
        const Acc w = weight_of(base + jk);
        lanes[i % kSumLanes][(int32_t(NotFinite(s)) << 1) | p] -= w;
        table[(i % kTableCopies) * bins + ((bucket(s) << 1) | p)] += w;
      }
      for (int64_t l = 0; l < kSumLanes; ++l)
        for (int d = 0; d < 4; ++d) dropped[d] += lanes[l][d];
    }
  }
  table[drop] += dropped[0];
  table[drop | 1] += dropped[1];
  table[drop_nan] += dropped[2];
  table[drop_nan | 1] += dropped[3];
}

ffi::Error TopKThresholdHistogram(
    ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores, ffi::AnyBuffer labels,
    ffi::Buffer<ffi::F32> weights, ffi::Buffer<ffi::F32> sorted_thresholds,
    ffi::Result<ffi::AnyBuffer> out, int64_t mode, int64_t num_thresholds,
    int64_t k, int64_t row_length, int64_t class_id) {
  const int64_t n = scores.element_count();
  const int64_t t = num_thresholds;
  const int64_t c = row_length;
  const int64_t rows = c > 0 ? n / c : 0;
  const int64_t label_count = class_id >= 0 ? rows : n;
  const bool weighted = out->element_type() == ffi::DataType::F32;
  const int64_t w_count = weights.element_count();
  // Indices are packed in 32 bits.
  if (c < 1 || c > std::numeric_limits<int32_t>::max() || n % c != 0 || k < 1 ||
      class_id >= c || mode < 0 || mode > 2 ||
      t < 1 || static_cast<int64_t>(labels.element_count()) != label_count ||
      (mode == 2 && static_cast<int64_t>(sorted_thresholds.element_count()) != t) ||
      HistogramBins(*out) != (t + 1) * 2)
    return ffi::Error::InvalidArgument("top-k threshold histogram: shapes disagree");
  if (!weighted && out->element_type() != ffi::DataType::S32)
    return ffi::Error::InvalidArgument("histograms are int32 or float32");
  // Weights: one per row, or (without class_id) one per score.
  if (weighted && w_count != rows && (class_id >= 0 || w_count != n))
    return ffi::Error::InvalidArgument("weights do not match the inputs");
  const bool per_row = !weighted || w_count == rows;
  const Bucket bucket{mode, t, sorted_thresholds.typed_data(),
                      static_cast<float>(t - 1), int32_t(mode == 1 ? 1 : 0)};
  const float* x = scores.typed_data();
  const float* w = weights.typed_data();
  const int64_t bins = (t + 1) * 2;

  auto run = [&](auto acc_zero, auto* o, const auto* y) {
    using Acc = decltype(acc_zero);
    std::vector<Acc> total(bins, Acc(0));
    auto make_state = [bins] {
      TopKState<Acc> st;
      st.table.assign(kTableCopies * bins, Acc(0));
      st.bins = bins;
      return st;
    };
    auto merge = [&](const TopKState<Acc>& st) {
      for (int64_t copy = 0; copy < kTableCopies; ++copy)
        for (int64_t b = 0; b < bins; ++b) total[b] += st.table[copy * bins + b];
    };
    auto body = [&](int64_t begin, int64_t end, TopKState<Acc>& st) {
      if (!weighted) {
        auto one = [](int64_t) { return Acc(1); };
        TopKRows<Acc>(x, y, c, k, class_id, true, bucket, begin, end, st, one, one);
      } else {
        auto at = [w](int64_t i) { return Acc(w[i]); };
        TopKRows<Acc>(x, y, c, k, class_id, per_row, bucket, begin, end, st, at, at);
      }
    };
    ParallelRows(pool, rows, c, make_state, body, merge);
    if constexpr (std::is_same_v<Acc, double>) {
      StoreSums(total.data(), bins, IsPairOutput(*out), o);
    } else {
      for (int64_t b = 0; b < bins; ++b) o[b] = static_cast<int32_t>(total[b]);
    }
    return ffi::Error::Success();
  };
  return WithLabels(labels, [&](const auto* y) {
    if (weighted) return run(double(0), out->typed_data<float>(), y);
    return run(int64_t(0), out->typed_data<int32_t>(), y);
  });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsInTopK, InTopK,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // scores, rows x C
        .Arg<ffi::Buffer<ffi::S32>>()  // labels, one per row
        .Ret<ffi::Buffer<ffi::S32>>()  // 1 where the label is in the top k
        .Attr<int64_t>("k")
        .Attr<int64_t>("row_length"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsTopKThresholdHistogram, TopKThresholdHistogram,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // scores, rows x C
        .Arg<ffi::AnyBuffer>()         // labels: like scores, or the class column
        .Arg<ffi::Buffer<ffi::F32>>()  // weights: none, per row or per score
        .Arg<ffi::Buffer<ffi::F32>>()  // sorted thresholds (mode 2)
        .Ret<ffi::AnyBuffer>()
        .Attr<int64_t>("mode")
        .Attr<int64_t>("num_thresholds")
        .Attr<int64_t>("k")
        .Attr<int64_t>("row_length")
        .Attr<int64_t>("class_id"));
