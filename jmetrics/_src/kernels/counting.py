"""Histograms over a batch: confusion matrices, bincounts, product sums.

Segmentation and multi-class metrics (ConfusionMatrix, the IoU family, Dice,
per-class precision) all reduce a batch to a ``C x C`` table of (weighted)
counts. Building it from one-hot products costs ``N x C x C``; here each
element contributes one index into a ``C * C`` histogram, so the update is
one read of the labels plus a scatter into a table that stays in cache.

Labels outside ``[0, C)`` and masked elements are dropped explicitly: their
index is sent past the end of the table and the scatter drops it. (A plain
``jnp.bincount`` would clip negative labels into bin 0, silently counting
them as class 0.)

Unweighted tables are int32 (exact per batch). Weighted tables are exact
`wide.Wide` pairs (`confusion_matrix`, `bincount`, and
`weighted_histogram` for the threshold update), so that a batch of any size
counts past float32's 2**24 per cell:

* On CPU each count is one native multi-threaded read (`ffi`) that sums in
  double and returns each sum as a (hi, lo) float32 pair: exact for integer
  sums below 2**48, and to double rounding for fractional weights.
* Elsewhere the XLA scatter-add runs in float32 on blocks of at most
  ``2**s`` consecutive elements (`_block_bits`: s = 12 for tables of up to
  1,024 bins, up to 20 for larger ones, so that the per-block table stays a
  fraction of the batch), each weight split into ``L`` limbs on grids
  ``G**j`` (``G = 2**(24 - s)``, `_limbs`), so that no block sum of a limb
  rounds for integer weights; the blocks are then summed exactly
  (`_exact_block_sum`). ``L`` is picked at run time from the largest weight:
  one limb (one scatter) while ``|w| <= G``, up to the ``L`` with
  ``G**L >= 2**24``.

The guarantee, on both paths: integer weights with ``|w| <= 2**24`` give
exact per-batch cells while the cell's sum stays below 2**47 (a `Wide`
total's own limit). A cell whose batch sum is fractional is rounded once to
float32 (`snap_fractional`, so both paths give the same two floats): on CPU
from the double sum; elsewhere from a sum within ``(m - 1) * 2**-24 *
sum(|w|)`` (plus 2**-44 relative) of the exact one, ``m <= 2**s`` being the
most of the cell's elements in one block. That is float32's rounding of
each block's sum and of the batch's once, never a float32 running sum over
the batch, which stops growing at 2**24. Infinite and NaN weights make the
cells that count them NaN or infinite, on both paths alike.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src.kernels import dispatch
from jmetrics._src.kernels import ffi
from jmetrics._src.numerics import wide

_F32 = jnp.float32


def _scatter_add(keys, weights, bins):
  """XLA's scatter-add of ``weights`` (or ones) at ``keys``; out of range drops."""
  data = jnp.ones(keys.shape, jnp.int32) if weights is None else weights
  # Negative keys would wrap around in "drop" mode; send them past the end.
  keys = jnp.where(keys < 0, bins, keys)
  return jnp.zeros(bins, data.dtype).at[keys.ravel()].add(data.ravel(),
                                                          mode="drop")


def _block_bits(bins: int) -> int:
  """log2 of the elements per block of `weighted_histogram`.

  2**12 keeps two limbs enough for weights up to 2**24. A larger table
  takes larger blocks (up to 2**20, more limbs for large weights) so that
  the blocks' tables, ``ceil(n / 2**s) * bins`` floats, stay about a quarter
  of the batch: they are zeroed, scattered into and summed, and past the
  caches each costs more than the scatter itself (and a confusion matrix of
  1,000 classes would otherwise take gigabytes).
  """
  return int(np.clip(math.ceil(math.log2(max(4 * bins, 2))), 12, 20))


def _limbs(weights, grid: float, count: int) -> list:
  """``weights`` as ``count`` limbs on the grids ``grid**(count - 1)``, ...,
  ``grid``, 1 (the last limb holds the rest, fractions included).

  Each limb but the last is rounded to its grid (the remainder is exact), so
  for ``|w| <= grid**count`` every limb holds at most ``grid`` units of its
  grid. A weight that is not finite stays whole in the first limb, the
  others 0: the sums then read as the float sum would (inf, or NaN), not as
  NaN from ``inf - inf``.
  """
  limbs, rest = [], weights
  for j in range(count - 1, 0, -1):
    step = grid**j
    limb = jnp.round(rest / step) * step
    limbs.append(limb)
    rest = jnp.where(jnp.isfinite(limb), rest - limb, 0.0)
  return limbs + [rest]


def _exact_block_sum(blocks) -> wide.Wide:
  """The exact sum over axis 0 of float32 ``blocks``, as a `Wide`.

  As `wide.wide_psum` adds devices: each column is split into limbs on grids
  tied to its largest magnitude, with enough headroom that summing one limb
  over the blocks never rounds; what is below the last grid is summed in
  float32 (rounding only at 2**-24 of it). Integer entries of up to 24 bits
  (a block's sum of one limb) therefore sum exactly. A few vectorised passes,
  several times faster on CPU than a ``lax.reduce`` with a TwoSum combiner.
  """
  count = blocks.shape[0]
  if count == 1:
    return wide.Wide(blocks[0], jnp.zeros_like(blocks[0]))
  headroom = max(1, math.ceil(math.log2(count)))
  per_limb = 24 - headroom
  largest = jnp.max(jnp.abs(blocks), axis=0)
  _, exponent = jnp.frexp(largest)
  exponent = jnp.minimum(exponent, 127)
  parts, rest = [], blocks
  for j in range(1, -(-24 // per_limb) + 1):
    # Clamped to normal floats: a column of tiny values keeps a nonzero grid.
    grid = jnp.ldexp(jnp.ones_like(largest),
                     jnp.maximum(exponent - j * per_limb, -126))
    on_grid = jnp.round(rest / grid) * grid
    rest = rest - on_grid
    parts.append(jnp.sum(on_grid, axis=0))
  parts.append(jnp.sum(rest, axis=0))
  total = wide.Wide(parts[0], jnp.zeros_like(parts[0]))
  for part in parts[1:]:
    total = wide.wide_add(total, part)
  # A column with an infinite or NaN entry: its float sum (inf stays inf).
  naive = jnp.sum(blocks, axis=0)
  finite = jnp.isfinite(naive)
  return wide.Wide(jnp.where(finite, total.hi, naive),
                   jnp.where(finite, total.lo, jnp.zeros_like(naive)))


def weighted_histogram(keys, weights, bins: int, per_block=None) -> wide.Wide:
  """Exact sums of float32 ``weights`` at int32 ``keys`` as an XLA scatter.

  Keys outside ``[0, bins)`` are dropped. The guarantee (integer weights of
  ``|w| <= 2**24`` exact; fractional ones to float32 rounding of each block's
  sum) is the module docstring's.

  Args:
    keys: int32 keys, any shape.
    weights: float32 weights of the same shape.
    bins: the number of bins.
    per_block: ``None``, or a function applied to each limb's
      ``(blocks, bins)`` table before the blocks are summed, returning
      ``(blocks, m)``. Sums of bins within a block (e.g. cumulative sums over
      them) are exact there for the same reason the bins are: a block holds
      at most ``2**s`` elements of at most ``G`` units each.

  Returns:
    A `wide.Wide` of ``(bins,)`` pairs (``(m,)`` with ``per_block``).
  """
  keys, weights = keys.ravel(), weights.ravel().astype(_F32)
  n = keys.size
  if n == 0:
    shape = jax.eval_shape(per_block, jnp.zeros((1, bins), _F32)).shape[1:] \
        if per_block else (bins,)
    return wide.wide_zeros(shape)
  bits = _block_bits(bins)
  count = -(-n // (1 << bits))
  size = count * bins
  valid = (keys >= 0) & (keys < bins)
  block = jax.lax.iota(jnp.int32, n) >> bits
  index = jnp.where(valid, block * bins + keys, size)
  grid = 2.0**(24 - bits)
  most = next(m for m in range(1, 8) if grid**m >= 2.0**24)

  def scatter(num_limbs):
    def run(index, weights):
      total = None
      for limb in _limbs(weights, grid, num_limbs):
        table = jnp.zeros(size, _F32).at[index].add(limb, mode="drop")
        table = table.reshape(count, bins)
        part = _exact_block_sum(table if per_block is None else per_block(table))
        total = part if total is None else wide.wide_merge(total, part)
      return tuple(total)
    return run

  # The fewest limbs that keep each block's limb sums exact for this batch:
  # one scatter for the usual weights (|w| <= G), more only for large ones.
  # NaN compares false: it takes one limb, and makes its cells NaN anyway.
  largest = jnp.max(jnp.abs(weights))
  which = sum((largest > grid**m).astype(jnp.int32) for m in range(1, most))
  hi, lo = jax.lax.switch(which, [scatter(m) for m in range(1, most + 1)],
                          index, weights)
  return wide.Wide(hi, lo)


def snap_fractional(sums: wide.Wide) -> wide.Wide:
  """A batch's sums as they are added to totals: integer sums as the exact
  pair, fractional ones rounded once to float32 (``lo = 0``).

  The native kernels round a fractional double sum the same way
  (``WideAddCount`` in native/totals.h). Both paths then give the same two
  floats, not just the same sum: a pair of slightly different sums can
  split into floats an ulp apart. Integer sums, the ones float32 could not
  count past 2**24, stay exact; a fractional one is within half a float32
  ulp of its batch sum (which on XLA's path is itself within the block
  bound of the module docstring).
  """
  hi, lo = sums
  integer = (jnp.round(hi) == hi) & (jnp.round(lo) == lo)
  return wide.Wide(jnp.where(integer, hi, hi + lo),
                   jnp.where(integer, lo, jnp.zeros_like(lo)))


def table_sum(table, axis: int):
  """Sums a table along ``axis``: int32 counts with ``jnp.sum`` (exact below
  2**31), a `wide.Wide` exactly with `wide.wide_sum` and then, like a
  table's cells, fractional sums rounded once (`snap_fractional`)."""
  if isinstance(table, wide.Wide):
    return snap_fractional(wide.wide_sum(table, axis))
  return jnp.sum(table, axis=axis)


def diagonal(table):
  """The diagonal of an int32 or `wide.Wide` square table."""
  if isinstance(table, wide.Wide):
    return wide.Wide(jnp.diagonal(table.hi), jnp.diagonal(table.lo))
  return jnp.diagonal(table)


def _as_wide(pairs) -> wide.Wide:
  return wide.Wide(pairs[0], pairs[1])


def _pair_keys(num_classes: int, y_true, y_pred):
  valid = ((y_true >= 0) & (y_true < num_classes)
           & (y_pred >= 0) & (y_pred < num_classes))
  return jnp.where(valid, y_true * num_classes + y_pred, -1)


def _xla_pair_histogram(num_classes: int, y_true, y_pred, weights):
  keys = _pair_keys(num_classes, y_true, y_pred)
  if weights is None:
    return _scatter_add(keys, None, num_classes * num_classes)
  return weighted_histogram(keys, weights, num_classes * num_classes)


def _native_pair_histogram(num_classes: int, y_true, y_pred, weights):
  out = ffi.pair_histogram(y_true, y_pred, weights, num_classes, pairs=True)
  return out if weights is None else _as_wide(out)


def _sum_over_shards(params, axes, *shards, native):
  # Counts add exactly in a psum; pairs need `wide_psum`'s grid-aligned limbs.
  out = native(params, *shards)
  if isinstance(out, wide.Wide):
    return wide.wide_psum(out, axes)
  return jax.lax.psum(out, axes)


PAIR_HISTOGRAM = dispatch.Kernel(
    "pair_histogram", _xla_pair_histogram, native=_native_pair_histogram,
    on_shards=lambda *args: _sum_over_shards(*args,
                                             native=_native_pair_histogram))


def confusion_matrix(y_true, y_pred, num_classes: int, weights=None,
                          mask=None):
  """A ``(num_classes, num_classes)`` table, rows = true class, cols = predicted.

  Args:
    y_true: integer class ids, any shape.
    y_pred: integer class ids, same shape as ``y_true``.
    num_classes: C.
    weights: ``None`` or float weights broadcastable to ``y_true``.
    mask: ``None`` or booleans broadcastable to ``y_true``; False drops the
      element (e.g. ``y_true == ignore_class``). Elements whose true or
      predicted id is outside ``[0, C)`` are not counted either.

  Returns:
    int32 ``(C, C)`` counts if ``weights`` is None, else a `wide.Wide` of
    ``(C, C)`` pairs, the sums of weights as the module docstring bounds
    them (integer weights exact). Add it to a total with `wide.wide_add_counts`.
  """
  y_true = jnp.asarray(y_true).astype(jnp.int32)
  y_pred = jnp.asarray(y_pred).astype(jnp.int32)
  if mask is not None:
    # -1 is outside [0, C), so both lowerings drop the element.
    y_true = jnp.where(jnp.broadcast_to(mask, y_true.shape), y_true, -1)
  if weights is not None:
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), y_true.shape)
  table = PAIR_HISTOGRAM(num_classes, y_true, y_pred, weights)
  shape = (num_classes, num_classes)
  if isinstance(table, wide.Wide):
    return snap_fractional(
        wide.Wide(table.hi.reshape(shape), table.lo.reshape(shape)))
  return table.reshape(shape)


def _xla_add_counts(params, total: wide.Wide, increment) -> wide.Wide:
  del params
  return wide.wide_add_counts(total, increment)


def _native_add_counts(params, total: wide.Wide, increment) -> wide.Wide:
  del params
  if isinstance(increment, wide.Wide):
    increment = jnp.stack([increment.hi, increment.lo])
  return wide.Wide(*ffi.add_counts(increment, total.hi, total.lo))


# Tables below this many cells add as fast in XLA (one fused loop).
_NATIVE_ADD_CELLS = 1024

# No operand is batched: the totals and the table are replicated, whatever
# the batch's sharding was.
ADD_COUNTS = dispatch.Kernel(
    "add_counts", _xla_add_counts, native=_native_add_counts, num_batched=0,
    accepts=lambda params, total, increment: (
        np.size(total.hi) >= _NATIVE_ADD_CELLS
        and (isinstance(increment, wide.Wide)
             or jnp.result_type(increment) == jnp.int32)))


def add_counts(total: wide.Wide, increment) -> wide.Wide:
  """`wide.wide_add_counts` of a table of a batch's counts: int32 counts, or
  a `wide.Wide` of sums of weights (as `confusion_matrix` returns them).

  The same bits on every lowering; on CPU a table of thousands of cells (a
  confusion-matrix state) is one native pass, where XLA's elementwise pair
  arithmetic costs about as much as the histogram itself at small batches.
  """
  total = wide.Wide(*total)
  if not isinstance(increment, wide.Wide):
    increment = jnp.asarray(increment)
  return ADD_COUNTS(None, total, increment)


def _xla_bincount(bins: int, keys, weights):
  if weights is None:
    return _scatter_add(keys, None, bins)
  return weighted_histogram(keys, weights, bins)


def _native_bincount(bins: int, keys, weights):
  out = ffi.bincount(keys, weights, bins, pairs=True)
  return out if weights is None else _as_wide(out)


BINCOUNT = dispatch.Kernel(
    "bincount", _xla_bincount, native=_native_bincount,
    on_shards=lambda *args: _sum_over_shards(*args, native=_native_bincount))


def bincount(keys, weights, bins: int):
  """Counts (or sums of weights) of integer ``keys`` in ``bins`` bins.

  Args:
    keys: integer keys, any shape; keys outside ``[0, bins)`` are dropped
      (not clipped, unlike ``jnp.bincount``).
    weights: ``None`` or weights broadcastable to ``keys``.
    bins: the number of bins.

  Returns:
    int32 counts if ``weights`` is None, int32 sums of integer weights, else
    a `wide.Wide` of the sums of float weights as the module docstring
    bounds them (integer-valued float weights exact). Add it to a total with
    `wide.wide_add_counts`.
  """
  keys = jnp.asarray(keys).astype(jnp.int32)
  if weights is not None:
    weights = jnp.asarray(weights)
    if jnp.issubdtype(weights.dtype, jnp.integer):
      # Integer sums stay exact in XLA's int32 scatter; the native kernel sums
      # floats.
      return _scatter_add(keys, jnp.broadcast_to(weights.astype(jnp.int32),
                                                 keys.shape), bins)
    weights = jnp.broadcast_to(weights.astype(jnp.float32), keys.shape)
  counts = BINCOUNT(bins, keys, weights)
  return snap_fractional(counts) if isinstance(counts, wide.Wide) else counts


def _xla_product_sums(params, t, p, weights):
  del params
  if weights is not None:
    t = t * weights
  return jnp.stack([jnp.sum(t * p), jnp.sum(t),
                    jnp.sum(p if weights is None else p * weights)])


PRODUCT_SUMS = dispatch.Kernel(
    "product_sums", _xla_product_sums,
    native=lambda params, t, p, weights: ffi.product_sums(t, p, weights))


def product_sums(t, p, weights=None) -> jax.Array:
  """float32 ``[sum(w t p), sum(w t), sum(w p)]`` in one read of the inputs.

  Args:
    t, p: float32 arrays of one shape.
    weights: ``None`` (``w = 1``) or float32 weights of that shape.

  Returns:
    float32 ``(3,)``; on CPU accumulated in double, elsewhere XLA's sums.
  """
  return PRODUCT_SUMS(None, t, p, weights)
