"""The threshold update: TP/FP/TN/FN at many thresholds in one pass.

Every threshold metric (TruePositives ... AUC, the X-at-Y metrics) counts, at
each threshold ``t``, the (weighted) predictions with ``y_pred > t`` split by
label. Comparing N predictions with T thresholds costs an N x T array. The
update instead gives each prediction one *bucket*, the number of thresholds
it exceeds, and histograms ``(bucket, label)`` pairs with a single
scatter-add; a reversed cumulative sum over the T + 1 buckets then yields the
counts at every threshold: O(N + T) time and O(T) memory.

* Evenly spaced thresholds (AUC's default grid) get their bucket by
  arithmetic, exactly as Keras computes it (``ceil(p * (T - 1))``, with
  predictions clipped to [0, 1]), so counts match Keras' bit for bit.
* Arbitrary threshold lists use a binary search over the sorted thresholds
  (``searchsorted``): O(N log T), still without an N x T array, and the
  comparison is Keras' strict ``y_pred > t`` in float32.
* Multi-label inputs histogram ``(label, bucket, class)`` in the same single
  scatter.
* With `TopK` (Precision and Recall's ``top_k``), each row keeps its k
  largest scores first (`filter_top_k`, Keras' filter).

On CPU one native call histograms the batch (the top-k filter fused in,
without a sort or a filtered copy) and turns the histogram into the new exact
totals (cumulative sums and error-free adds), where XLA runs the histogram and
a tail of about twenty tiny computations costing a third of it. Unweighted
counts are int32 histograms (exact). Weighted counts are `wide.Wide` pairs
for any batch size, never a float32 histogram that stops at 2**24 per bin:
the native kernels sum in double and add each cell to its total as two
floats (hi, lo); XLA's path scatters blockwise limbs
(`counting.weighted_histogram`) into exact pairs, the cumulative sums over
buckets taken in each block. Integer weights of
``|w| <= 2**24`` thus count exactly (while a cell's sum stays below 2**47).
A cell whose batch sum is fractional is added rounded once to float32 on
both paths (`counting.snap_fractional`), from the double sum on CPU and
elsewhere from a sum within float32's rounding of each block's sum (the
bound is in `counting`'s docstring). A NaN weight makes the cells that count
it NaN, an infinite one +-inf (NaN where both signs meet), on both paths.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src.kernels import counting
from jmetrics._src.kernels import dispatch
from jmetrics._src.kernels import ffi
from jmetrics._src.kernels.ffi import Bucketing, Cells
from jmetrics._src.numerics import wide

NEG_INF = -1e10  # Keras' stand-in threshold when only top_k decides.


@dataclasses.dataclass(frozen=True)
class Thresholds:
  """A static threshold grid, built once at metric construction.

  Attributes:
    values: the thresholds in the user's order.
    evenly: whether ``values`` are Keras' evenly spaced grid on [0, 1] (the
      arithmetic bucket applies).
    with_epsilon: whether the outer thresholds are ``-eps`` and ``1 + eps``
      (AUC's grid), so predictions of exactly 0 still count at the first.
  """

  values: tuple
  evenly: bool = False
  with_epsilon: bool = False

  @property
  def size(self) -> int:
    return len(self.values)

  @property
  def order(self) -> tuple:
    """A stable sort of the thresholds; counts come out in the user's order."""
    return tuple(int(i) for i in np.argsort(np.asarray(self.values, np.float32),
                                            kind="stable"))

  @property
  def bucketing(self) -> Bucketing:
    if not self.evenly:
      return Bucketing.SORTED
    return (Bucketing.EVENLY_WITH_EPSILON if self.with_epsilon
            else Bucketing.EVENLY)

  @property
  def sorted_values(self) -> np.ndarray:
    return np.sort(np.asarray(self.values, np.float32))

  @property
  def positions(self) -> np.ndarray | None:
    """The sorted position of each threshold, or None if they are sorted."""
    if self.evenly or self.order == tuple(range(self.size)):
      return None
    return np.argsort(self.order).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TopK:
  """Keras' top-k filter: each row of scores keeps its ``k`` largest, and
  with ``class_id`` only that column is counted."""

  k: int
  class_id: int | None = None


class Counts(NamedTuple):
  """Confusion counts at each threshold, shape ``(T,)`` or ``(T, labels)``."""

  tp: jax.Array
  fp: jax.Array
  tn: jax.Array
  fn: jax.Array


def bucket(y_pred, grid: Thresholds) -> jax.Array:
  """Per prediction, how many thresholds it exceeds (int32 in [0, T]).

  A prediction in bucket ``k`` is positive at the ``k`` lowest thresholds.
  A NaN prediction goes where Keras puts it: never above a listed threshold
  (``NaN > t`` is false), and in the first bucket of an evenly spaced grid
  (Keras' float bucket index ``NaN`` converts to 0).
  """
  nan = jnp.isnan(y_pred)
  if grid.evenly:
    # Keras' arithmetic bucket; its clip is part of its semantics.
    k = jnp.ceil(jnp.clip(y_pred, 0.0, 1.0) * (grid.size - 1)).astype(jnp.int32)
    k = jnp.where(nan, 1, k)
    return jnp.maximum(k, 1) if grid.with_epsilon else k
  # searchsorted orders NaN above every threshold; Keras' comparison is false.
  k = jnp.searchsorted(jnp.asarray(grid.sorted_values), y_pred,
                       side="left").astype(jnp.int32)
  return jnp.where(nan, 0, k)


def filter_top_k(y_pred, k: int):
  """Keeps the k largest scores of the last axis, others become ``NEG_INF``.

  Ties are broken by position (``lax.top_k`` keeps the first), as Keras does;
  on CPU ``lax.top_k`` orders the float bits totally (``-NaN < -inf < ... <
  -0.0 < +0.0 < ... < +inf < +NaN``). The mask is applied with Keras'
  arithmetic (``x * keep + NEG_INF * (1 - keep)``), so a dropped NaN or
  infinite score becomes NaN, as in Keras.
  """
  _, index = jax.lax.top_k(y_pred, k)
  keep = jnp.zeros(y_pred.shape, y_pred.dtype)
  keep = jnp.put_along_axis(keep, index, 1.0, axis=-1, inplace=False)
  return y_pred * keep + NEG_INF * (1.0 - keep)


@dataclasses.dataclass(frozen=True)
class _Update:
  grid: Thresholds
  slots: tuple  # the cell (0 TP, 1 FP, 2 TN, 3 FN) of each slot of the totals
  multi_label: bool
  top_k: TopK | None

  def num_labels(self, y_pred) -> int:
    return y_pred.shape[-1] if self.multi_label else 1


def threshold_update(totals: Sequence[wide.Wide], y_true, y_pred, weights,
                     grid: Thresholds, *, cells=Cells.ALL,
                     multi_label: bool = False,
                     top_k: TopK | None = None) -> tuple[wide.Wide, ...]:
  """Running totals with one batch's TP/FP/TN/FN at every threshold added.

  The batch's counts are exact integers if ``weights`` is None, else sums of
  weights kept as `wide.Wide` pairs (exact for integer weights of
  ``|w| <= 2**24``; see the module docstring), added to the totals exactly.

  Args:
    totals: `wide.Wide` totals of the ``cells`` in their order, each of
      shape ``(T,)`` (or ``(T, labels)`` with ``multi_label``) in the order
      of ``grid.values``, or several consecutive cells stacked on a leading
      axis.
    y_true: labels (nonzero is positive) of the counted scores' shape.
    y_pred: scores; with ``top_k`` the unfiltered ``(..., C)`` scores.
    weights: ``None`` or float weights broadcastable to the counted scores.
    grid: the thresholds.
    cells: which counts ``totals`` hold: a `Cells` (each set cell once, in
      the order TP, FP, TN, FN), or the cell index (0 TP, 1 FP, 2 TN, 3 FN)
      of each total (each stacked one) in order, repeats allowed: the totals
      of several metrics counting the same batch take one histogram, and
      each total gets what a call of its own would give it.
    multi_label: keep the last axis of the inputs as separate labels;
      otherwise all elements are pooled.
    top_k: count the scores `filter_top_k` keeps (and with its ``class_id``
      only that column, of which ``y_true`` is the ``(..., 1)`` labels).

  Returns:
    The new totals, one per entry of ``totals``.
  """
  y_true = jnp.asarray(y_true)
  y_pred = jnp.asarray(y_pred, jnp.float32)
  if top_k is not None:
    if multi_label:
      raise ValueError("top_k scores are counted on one pooled label")
    if y_pred.ndim == 1:
      # The whole batch is one row: as a (1, N) batch, no shard splits it.
      if weights is not None:
        weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32),
                                   y_pred.shape)[None]
      y_true, y_pred = y_true[None], y_pred[None]
    weights = _row_weights(weights, y_pred.shape, top_k)
  elif weights is not None:
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), y_pred.shape)
  totals = tuple(wide.Wide(*total) for total in totals)
  slots = cells.indices if isinstance(cells, Cells) else tuple(map(int, cells))
  params = _Update(grid, slots, multi_label, top_k)
  return THRESHOLD_UPDATE(params, y_true, y_pred, weights, totals)


def _row_weights(weights, shape, top_k: TopK):
  """Top-k weights as the kernel takes them: one per row where they do not
  vary along the last axis, else one per score."""
  if weights is None:
    return None
  weights = jnp.asarray(weights, jnp.float32)
  if top_k.class_id is not None or weights.ndim == 0 or weights.shape[-1] == 1:
    return jnp.broadcast_to(weights, shape[:-1] + (1,))
  return jnp.broadcast_to(weights, shape)


def _counted(params: _Update, y_pred, weights):
  """The scores that are counted (top-k filtered and sliced) and their
  weights, broadcast to them."""
  if params.top_k is not None:
    y_pred = filter_top_k(y_pred, params.top_k.k)
    if params.top_k.class_id is not None:
      y_pred = y_pred[..., params.top_k.class_id, None]
  if weights is not None:
    weights = jnp.broadcast_to(weights, y_pred.shape)
  return y_pred, weights


def _keys(y_true, y_pred, grid: Thresholds, num_labels):
  buckets = grid.size + 1
  key = bucket(y_pred, grid) * 2 + (y_true != 0).astype(jnp.int32)
  if num_labels > 1:
    key = key + jnp.arange(num_labels, dtype=jnp.int32) * (2 * buckets)
  return key


def _xla_histogram(y_true, y_pred, weights, grid: Thresholds, num_labels):
  """The flat ``(label, bucket, positive)`` histogram as an XLA scatter-add
  (weighted: float32, which rounds past 2**24 per bin; the update uses
  `_xla_weighted_counts`)."""
  buckets = grid.size + 1
  key = _keys(y_true, y_pred, grid, num_labels)
  data = jnp.ones(key.shape, jnp.int32) if weights is None else weights
  return jnp.zeros(num_labels * 2 * buckets, data.dtype).at[key.ravel()].add(
      data.ravel(), mode="promise_in_bounds")


def _from_histogram(hist, grid: Thresholds, num_labels: int, multi_label: bool,
                    elements: int) -> Counts:
  """`Counts` at every threshold from the flat histogram of ``elements``
  scores per label.

  Integer counts of a batch of at most 2**24 elements per label are returned
  as float32, which holds them exactly: a `Wide` total then adds them in one
  error-free sum instead of two (half the small XLA computations of an
  update, which cost as much as the histogram on CPU).
  """
  buckets = grid.size + 1
  hist = hist.reshape(num_labels, buckets, 2).transpose(1, 2, 0)  # (T+1, 2, L)
  # above[j] = everything in buckets > j, i.e. predicted positive at threshold j.
  above = jnp.cumsum(hist[::-1], axis=0)[::-1][1:]
  totals = jnp.sum(hist, axis=0)
  tp, fp = above[:, 1], above[:, 0]
  fn, tn = totals[1] - tp, totals[0] - fp
  positions = grid.positions
  if positions is not None:
    tp, fp, tn, fn = (x[positions] for x in (tp, fp, tn, fn))
  if not multi_label:
    tp, fp, tn, fn = (x[:, 0] for x in (tp, fp, tn, fn))
  if jnp.issubdtype(hist.dtype, jnp.integer) and elements <= 2**24:
    tp, fp, tn, fn = (x.astype(jnp.float32) for x in (tp, fp, tn, fn))
  return Counts(tp, fp, tn, fn)


def _xla_weighted_counts(y_true, y_pred, weights, grid: Thresholds,
                         num_labels: int, multi_label: bool) -> Counts:
  """`Counts` of `wide.Wide` pairs: the exact weighted counts of a batch.

  The counts at each threshold are cumulative sums over the buckets, taken
  in each block of `counting.weighted_histogram` (where they are exact as
  its bins are) before the blocks are summed exactly. TN and FN are sums of
  the buckets below, not a total minus TP or FP, so that an infinite weight
  reaches only the cells that count it, as in the native kernel.
  """
  buckets = grid.size + 1
  key = _keys(y_true, y_pred, grid, num_labels)

  def cells_of(table):
    # (blocks, label, bucket, positive): per block, what lies above and
    # below each threshold, as (blocks, cell, label, threshold).
    table = table.reshape(-1, num_labels, buckets, 2)
    above = jax.lax.cumsum(table, axis=2, reverse=True)[:, :, 1:]
    below = jax.lax.cumsum(table, axis=2)[:, :, :-1]
    cells = jnp.stack([above[..., 1], above[..., 0], below[..., 0],
                       below[..., 1]], axis=1)
    return cells.reshape(cells.shape[0], -1)

  counts = counting.weighted_histogram(key, weights, num_labels * 2 * buckets,
                                       per_block=cells_of)
  # (cell, label, threshold) -> per cell (threshold, label)
  cells = [wide.Wide(*(x.reshape(4, num_labels, grid.size)[i].T
                       for x in counts)) for i in range(4)]
  positions = grid.positions
  if positions is not None:
    cells = [wide.Wide(*(x[positions] for x in cell)) for cell in cells]
  if not multi_label:
    cells = [wide.Wide(*(x[:, 0] for x in cell)) for cell in cells]
  return Counts(*(counting.snap_fractional(cell) for cell in cells))


def _stack(cells):
  if isinstance(cells[0], wide.Wide):
    return wide.Wide(jnp.stack([c.hi for c in cells]),
                     jnp.stack([c.lo for c in cells]))
  return jnp.stack(cells)


def _xla_update(params: _Update, y_true, y_pred, weights, totals):
  y_pred, weights = _counted(params, y_pred, weights)
  num_labels = params.num_labels(y_pred)
  if weights is None:
    hist = _xla_histogram(y_true, y_pred, weights, params.grid, num_labels)
    batch = _from_histogram(hist, params.grid, num_labels, params.multi_label,
                            y_pred.size // max(num_labels, 1))
  else:
    batch = _xla_weighted_counts(y_true, y_pred, weights, params.grid,
                                 num_labels, params.multi_label)
  cells = [batch[i] for i in params.slots]
  cell_ndim = 2 if params.multi_label else 1
  new = []
  for total in totals:
    if total.hi.ndim > cell_ndim:  # consecutive cells stacked
      stacked, cells = cells[:total.hi.shape[0]], cells[total.hi.shape[0]:]
      new.append(wide.wide_add_counts(total, _stack(stacked)))
    else:
      new.append(wide.wide_add_counts(total, cells.pop(0)))
  return tuple(new)


def _sorted_thresholds(grid: Thresholds):
  # Made inside each lowering, not passed in: a constant made outside would
  # belong to the caller's trace, and shards are traced apart.
  return None if grid.evenly else jnp.asarray(grid.sorted_values)


def _native_histogram(params: _Update, y_true, y_pred, weights):
  """int32 counts, or weighted sums as float32 ``(2, bins)`` (hi, lo) pairs,
  which `ffi.threshold_totals` adds exactly."""
  grid = params.grid
  if params.top_k is None:
    return ffi.threshold_histogram(
        y_pred, y_true, weights, bucketing=grid.bucketing,
        num_thresholds=grid.size, num_labels=params.num_labels(y_pred),
        sorted_thresholds=_sorted_thresholds(grid), pairs=True)
  return ffi.top_k_threshold_histogram(
      y_pred, y_true, weights, k=params.top_k.k,
      class_id=params.top_k.class_id, bucketing=grid.bucketing,
      num_thresholds=grid.size, sorted_thresholds=_sorted_thresholds(grid),
      pairs=True)


def _native_totals(params: _Update, hist, y_pred, totals):
  new = ffi.threshold_totals(
      hist, totals, cells=params.slots, num_thresholds=params.grid.size,
      num_labels=params.num_labels(y_pred), positions=params.grid.positions)
  return tuple(wide.Wide(*pair) for pair in new)


def _native_update(params: _Update, y_true, y_pred, weights, totals):
  if params.top_k is not None:
    hist = _native_histogram(params, y_true, y_pred, weights)
    return _native_totals(params, hist, y_pred, totals)
  grid = params.grid
  new = ffi.threshold_update(
      y_pred, y_true, weights, totals, bucketing=grid.bucketing,
      num_thresholds=grid.size, num_labels=params.num_labels(y_pred),
      cells=params.slots, sorted_thresholds=_sorted_thresholds(grid),
      positions=grid.positions)
  return tuple(wide.Wide(*pair) for pair in new)


def _native_on_shards(params: _Update, axes, y_true, y_pred, weights, totals):
  # Each device histograms its rows; the totals take the all-reduced sum:
  # counts in one psum, (hi, lo) pairs with `wide_psum`, which adds them
  # without rounding.
  hist = _native_histogram(params, y_true, y_pred, weights)
  if weights is None:
    hist = jax.lax.psum(hist, axes)
  else:
    hist = jnp.stack(wide.wide_psum(wide.Wide(hist[0], hist[1]), axes))
  return _native_totals(params, hist, y_pred, totals)


def _native_accepts(params: _Update, y_true, y_pred, weights, totals):
  del y_true, weights, totals
  return params.top_k is None or y_pred.size > 0


THRESHOLD_UPDATE = dispatch.Kernel(
    "threshold_update", _xla_update, dispatch.Result.SUM,
    native=_native_update, accepts=_native_accepts, num_batched=3,
    on_shards=_native_on_shards)
