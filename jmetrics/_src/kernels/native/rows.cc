// Per-row kernels for XLA:CPU, called through jax.ffi: the argmax of each row
// of scores, as Keras' JAX backend takes it on CPU, and a row's statistics
// (argmax, the scores above the label's, the cross-entropy from logits) from
// one read of it.
//
// XLA:CPU lowers an argmax to a variadic (value, index) reduction that runs
// at about 2.5 ns an element, twenty times a read of the scores. These
// kernels read each row from memory once, rows shared by the caller and the
// intra-op pool.

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

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

// The key a negative zero competes with: below +0.0 with Keras' fix
// (`signed_zeros`), else equal to it.
inline int32_t NegativeZeroKey(bool signed_zeros) {
  return signed_zeros ? Key(-std::numeric_limits<float>::min(), 0) : 0;
}

// fn(r) for every row r of rows of c scores, rows split in chunks of about
// kChunkElements scores between the caller and the intra-op pool.
template <typename Fn>
void ParallelRows(ffi::ThreadPool& pool, int64_t rows, int64_t c, const Fn& fn) {
  const int64_t rows_per_chunk = std::max<int64_t>(1, kChunkElements / c);
  const int64_t chunks = std::max<int64_t>(1, (rows + rows_per_chunk - 1) / rows_per_chunk);
  ParallelChunks(
      pool, chunks, [] { return 0; },
      [&](int64_t chunk, int&) {
        const int64_t end = std::min(rows, (chunk + 1) * rows_per_chunk);
        for (int64_t r = chunk * rows_per_chunk; r < end; ++r) fn(r);
      },
      [](int) {});
}

ffi::Error Argmax(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                  ffi::Result<ffi::Buffer<ffi::S32>> out, int64_t row_length,
                  bool signed_zeros) {
  const int64_t n = scores.element_count();
  const int64_t c = row_length;
  if (c < 1 || n % c != 0 || static_cast<int64_t>(out->element_count()) != n / c)
    return ffi::Error::InvalidArgument("argmax: shapes disagree");
  const int32_t negative_zero_key = NegativeZeroKey(signed_zeros);
  const float* x = scores.typed_data();
  int32_t* index = out->typed_data();
  ParallelRows(pool, n / c, c, [&](int64_t r) {
    index[r] = RowArgmax(x + r * c, c, negative_zero_key);
  });
  return ffi::Error::Success();
}

// ---------------------------------------------------------------------------
// Row statistics: per row, any of the argmax (RowArgmax above), the number of
// scores above the label's (`outranked`, in_top_k's count) and the sparse
// cross-entropy from logits, from one read of the row (a second pass finds
// it in L1). Each statistic has a function of its own, never inlined, so
// that its bits are the same whichever others a call asks for.

// The cross-entropy reads a row kLanes entries at a time (one AVX2 register
// of floats, two SSE ones) as GCC vectors: lane k of each block adds into
// accumulator k, a short last block is padded, and the lanes are summed in
// a fixed order, so the bits are the same at every x86-64 level (no
// compiler-chosen reduction order) and there is no scalar remainder loop.
constexpr int64_t kLanes = 8;
// Blocks whose exps each lane sums in float before its double sum.
constexpr int64_t kFloatBlocks = 8;
typedef float Floats __attribute__((vector_size(4 * kLanes)));
typedef int32_t Ints __attribute__((vector_size(4 * kLanes)));
typedef uint32_t Bits __attribute__((vector_size(4 * kLanes)));
typedef double Doubles __attribute__((vector_size(8 * kLanes)));

inline Floats Splat(float x) { return Floats{} + x; }

inline Floats Load(const float* x) {
  Floats v;
  std::memcpy(&v, x, sizeof v);
  return v;
}

// exp(x) for x <= 0, within 0.99 ulp (checked on every float in
// [log(FLT_MIN), 0]): Cody-Waite reduction x = n ln2 + r (ln2 in two parts,
// n * kLn2Hi exact) and a degree-6 polynomial for exp(r) on [-ln2/2, ln2/2]
// (1 + r + r^2 q(r), q fitted for least relative error, 3e-9), then a scale
// by 2^n made from the bits. x is clamped to -88, where n = -127 makes the
// scale's bits zero: so exp(-inf) and every x <= -88 give exactly 0, and
// results below FLT_MIN are subnormal (flushed on XLA's threads). No libm
// call, branch or fused multiply-add (the same bits at every level): glibc's
// expf does not vectorise without -ffast-math.
inline Floats ExpNonPositive(Floats x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;     // 355 / 512
  constexpr float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
  constexpr float kRound = 12582912.0f;      // 1.5 * 2^23
  const Floats xc = x > -88.0f ? x : Splat(-88.0f);
  const Floats t = xc * kLog2e + kRound;  // round(x / ln 2) in the low bits
  const Floats n = t - kRound;
  const Floats r = (xc - n * kLn2Hi) - n * kLn2Lo;
  const Floats z = r * r;
  Floats q = Splat(1.3814613e-3f);
  q = q * r + 8.36871e-3f;
  q = q * r + 4.166839e-2f;
  q = q * r + 1.6666521e-1f;
  q = q * r + 4.9999994e-1f;
  const Floats p = q * z + r + 1.0f;
  // 2^n: n (in [-127, 0]) from the low bits of t, shifted into the exponent.
  const Bits scale = (__builtin_bit_cast(Bits, t) << 23) + 0x3f800000u;
  return p * __builtin_bit_cast(Floats, scale);
}

// in_top_k's count: the scores of row[0, c) strictly greater than the score
// at `label` (InTopKRow in ranking.cc, without its early exit). A negative
// label indexes from the end; one outside [-C, C), or a NaN score there,
// reads -inf. Denormals compare as zero (XLA:CPU's comparisons), whether or
// not this thread flushes them.
__attribute__((noinline)) int32_t RowOutranked(const float* __restrict row,
                                               int64_t c, int64_t label) {
  if (label < 0) label += c;
  float s = (label >= 0 && label < c) ? row[label]
                                      : -std::numeric_limits<float>::infinity();
  if (std::isnan(s)) s = -std::numeric_limits<float>::infinity();
  if (std::fabs(s) < FLT_MIN) s = std::nextafter(FLT_MIN, 0.0f);
  int32_t count = 0;
#pragma omp simd reduction(+ : count)
  for (int64_t j = 0; j < c; ++j) count += int32_t(row[j] > s);
  return count;
}

// -sum(where(classes == label, log_p, 0 * log_p)) with log_p the
// log_softmax of row[0, c) (x - max, minus the log of the sum of its exps),
// as SparseCategoricalCrossentropy(from_logits=True) writes it:
//   * NaN if the row holds a NaN or has an infinite max (some log_p is then
//     NaN), or an entry other than the label's whose x - max is -inf (a -inf
//     logit, or an overflow): 0 * -inf is NaN;
//   * +inf if only the label's x - max is -inf;
//   * -0 if the label is outside [0, C) (no class is selected; no wrap);
//   * else -log_p[label], with the log of the sum of the exps as log1p of
//     (entries at the max - 1) + (the others' exps): a confident row's small
//     loss keeps its digits, which a float32 sum next to 1 (XLA's) loses.
//     Within about 2 ulps of the exact value.
// Only a row that needs them reads the exps.
__attribute__((noinline)) float RowCrossentropy(const float* __restrict row,
                                                int64_t c, int64_t label) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  const int64_t full = c / kLanes * kLanes;
  float pad[kLanes];
  // Pass 1: the max and min, and whether any entry is NaN. The last block
  // is padded with the row's first entry, which changes none of them.
  if (full < c) {
    for (int64_t k = 0; k < kLanes; ++k) pad[k] = full + k < c ? row[full + k] : row[0];
  }
  Floats top = Splat(-kInf), bottom = Splat(kInf);
  Ints nan = {};
  for (int64_t j = 0; j < c; j += kLanes) {
    const Floats x = j < full ? Load(row + j) : Load(pad);
    top = x > top ? x : top;
    bottom = x < bottom ? x : bottom;
    nan |= x != x;
  }
  float max = top[0], min = bottom[0];
  int32_t any_nan = nan[0];
  for (int64_t k = 1; k < kLanes; ++k) {
    max = top[k] > max ? top[k] : max;
    min = bottom[k] < min ? bottom[k] : min;
    any_nan |= nan[k];
  }
  if (any_nan != 0 || !(std::fabs(max) <= FLT_MAX)) return kNaN;
  const bool selected = label >= 0 && label < c;
  const float at_label = selected ? row[label] - max : 0.0f;
  if (min - max == -kInf) {
    // Some x - max is -inf (x - max is monotonic in x): NaN unless it is
    // the label's alone.
    int64_t minus_inf = 0;
    for (int64_t j = 0; j < c; ++j) minus_inf += int64_t(row[j] - max == -kInf);
    const int64_t at_label_minus_inf = int64_t(selected && at_label == -kInf);
    if (minus_inf > at_label_minus_inf) return kNaN;
    if (at_label_minus_inf != 0) return kInf;
  }
  if (!selected) return -0.0f;  // -(a sum of zeros), as XLA's
  // Pass 2: the exps of x - max below the max, summed per lane in float
  // over kFloatBlocks blocks, then in double; the entries at the max
  // counted. The last block is padded with -inf, whose exp is 0.
  if (full < c) {
    for (int64_t k = 0; k < kLanes; ++k) pad[k] = full + k < c ? row[full + k] : -kInf;
  }
  const Floats shift = Splat(max);
  Doubles others = {};
  Ints ties = {};
  Floats part = {};
  int64_t blocks = 0;
  for (int64_t j = 0; j < c; j += kLanes) {
    const Floats shifted = (j < full ? Load(row + j) : Load(pad)) - shift;
    const Ints at_max = shifted == 0.0f;
    ties -= at_max;
    part += at_max ? Splat(0.0f) : ExpNonPositive(shifted);
    if (++blocks == kFloatBlocks) {
      others += __builtin_convertvector(part, Doubles);
      part = Floats{};
      blocks = 0;
    }
  }
  others += __builtin_convertvector(part, Doubles);
  double sum = 0.0;
  int64_t count = 0;
  for (int64_t k = 0; k < kLanes; ++k) sum += others[k], count += ties[k];
  // log(count + sum): log1p where that is near 1, else log (faster).
  const double excess = double(count - 1) + sum;
  const double log_sum = excess < 0.25 ? std::log1p(excess) : std::log(1.0 + excess);
  // -(x - max - log_sum), negated last as the formula does (a loss of
  // zero comes out -0.0, as XLA's).
  return static_cast<float>(-(double(at_label) - log_sum));
}

// Bits of the `outputs` attribute, in the order of the results.
constexpr int64_t kArgmaxOutput = 1;
constexpr int64_t kCrossentropyOutput = 2;
constexpr int64_t kOutrankedOutput = 4;

ffi::Error RowStatistics(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> scores,
                         ffi::Buffer<ffi::S32> labels, ffi::RemainingRets outs,
                         int64_t row_length, bool signed_zeros, int64_t outputs) {
  const int64_t n = scores.element_count();
  const int64_t c = row_length;
  if (c < 1 || n % c != 0)
    return ffi::Error::InvalidArgument(
        "row statistics: the scores are not rows of row_length");
  if (outputs <= 0 || outputs > 7)
    return ffi::Error::InvalidArgument("row statistics: bad outputs mask");
  const int64_t rows = n / c;
  const bool want_labels = (outputs & ~kArgmaxOutput) != 0;
  if (want_labels && static_cast<int64_t>(labels.element_count()) != rows)
    return ffi::Error::InvalidArgument(
        "row statistics: expected one label per row of the scores");
  const int64_t wanted = __builtin_popcountll(outputs);
  if (static_cast<int64_t>(outs.size()) != wanted)
    return ffi::Error::InvalidArgument(
        "row statistics: expected one result per requested output");
  int32_t* argmax = nullptr;
  float* crossentropy = nullptr;
  int32_t* outranked = nullptr;
  size_t next = 0;
  // The next result, if `bit` is requested: one value per row.
  auto result = [&](int64_t bit, auto** data, auto dtype) -> ffi::Error {
    if (!(outputs & bit)) return ffi::Error::Success();
    auto out = outs.get<ffi::Buffer<decltype(dtype)::value>>(next++);
    if (out.has_error()) return out.error();
    if (static_cast<int64_t>((*out)->element_count()) != rows)
      return ffi::Error::InvalidArgument("row statistics: a result is not per row");
    *data = (*out)->typed_data();
    return ffi::Error::Success();
  };
  using S32 = std::integral_constant<ffi::DataType, ffi::DataType::S32>;
  using F32 = std::integral_constant<ffi::DataType, ffi::DataType::F32>;
  for (ffi::Error error : {result(kArgmaxOutput, &argmax, S32{}),
                           result(kCrossentropyOutput, &crossentropy, F32{}),
                           result(kOutrankedOutput, &outranked, S32{})})
    if (error.failure()) return error;
  const int32_t negative_zero_key = NegativeZeroKey(signed_zeros);
  const float* x = scores.typed_data();
  const int32_t* y = labels.typed_data();
  ParallelRows(pool, rows, c, [&](int64_t r) {
    const float* row = x + r * c;
    if (argmax != nullptr) argmax[r] = RowArgmax(row, c, negative_zero_key);
    if (crossentropy != nullptr) crossentropy[r] = RowCrossentropy(row, c, y[r]);
    if (outranked != nullptr) outranked[r] = RowOutranked(row, c, y[r]);
  });
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

XLA_FFI_DEFINE_HANDLER_SYMBOL(
    JmetricsRowStatistics, RowStatistics,
    ffi::Ffi::Bind()
        .Ctx<ffi::ThreadPool>()
        .Arg<ffi::Buffer<ffi::F32>>()  // scores, rows of row_length
        .Arg<ffi::Buffer<ffi::S32>>()  // labels, one per row (or none: argmax only)
        .RemainingRets()               // the requested outputs, in bit order
        .Attr<int64_t>("row_length")
        .Attr<bool>("signed_zeros")
        .Attr<int64_t>("outputs"));  // bits: 1 argmax, 2 crossentropy, 4 outranked
