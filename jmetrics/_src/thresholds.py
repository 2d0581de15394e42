"""The threshold kernel: TP/FP/TN/FN at many thresholds in one pass.

Every threshold metric (TruePositives ... AUC, the X-at-Y metrics) counts, at
each threshold ``t``, the (weighted) predictions with ``y_pred > t`` split by
label. Comparing N predictions with T thresholds costs an N x T array. The
kernel instead gives each prediction one *bucket*, the number of thresholds
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

On CPU the histogram is the native multi-threaded kernel (`native`), which
computes the same buckets in the same float32 arithmetic; elsewhere it is an
XLA scatter-add. Metrics add a batch with `add_batch`: on CPU one native call
histograms the batch and turns the histogram into the new exact totals
(cumulative sums and error-free adds), where XLA would run a tail of about
twenty tiny computations costing a third of the histogram.

With ``top_k`` (Precision, Recall), `prepare` defers Keras' top-k filter to
`add_batch` (a `TopKScores`): on CPU a native kernel selects each row's top k
and histograms the filtered scores in one read, without a sort or a filtered
copy; elsewhere ``lax.top_k`` and the mask build the filtered scores first.

Unweighted counts are int32 histograms (exact), weighted ones float32.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import checks
from jmetrics._src import native
from jmetrics._src import weighting
from jmetrics._src import wide

EPSILON = 1e-7  # Keras' backend.epsilon(): AUC's outer thresholds sit this far outside [0, 1].
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


def is_evenly_spaced(values) -> bool:
  """Keras' test for its evenly distributed grid ``[0, 1/(T-1), ..., 1]``."""
  values = np.asarray(values, np.float64)
  if values.size < 3:
    return False
  even = np.arange(values.size, dtype=np.float32) / (values.size - 1)
  return bool(np.allclose(values, even, atol=EPSILON))


def from_list(values) -> Thresholds:
  """A grid for a user's threshold list (TruePositives, Precision, ...)."""
  values = tuple(float(v) for v in values)
  return Thresholds(values, evenly=is_evenly_spaced(values))


def auc_grid(num_thresholds: int, thresholds=None) -> Thresholds:
  """AUC's grid: ``num_thresholds`` evenly spaced points, or a sorted list,
  flanked by ``-eps`` and ``1 + eps``."""
  if thresholds is not None:
    inner = sorted(float(t) for t in thresholds)
    evenly = is_evenly_spaced([0.0] + inner + [1.0])
  else:
    inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    evenly = True
  return Thresholds(tuple([0.0 - EPSILON] + inner + [1.0 + EPSILON]),
                    evenly=evenly, with_epsilon=True)


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
  sorted_values = jnp.asarray(np.sort(np.asarray(grid.values, np.float32)))
  # searchsorted orders NaN above every threshold; Keras' comparison is false.
  k = jnp.searchsorted(sorted_values, y_pred, side="left").astype(jnp.int32)
  return jnp.where(nan, 0, k)


class Counts(NamedTuple):
  """Confusion counts at each threshold, shape ``(T,)`` or ``(T, labels)``."""

  tp: jax.Array
  fp: jax.Array
  tn: jax.Array
  fn: jax.Array


def add_batch(totals, y_true, y_pred, weights, grid: Thresholds,
              multi_label=False):
  """Running totals with one batch's TP/FP/TN/FN at every threshold added.

  The batch's counts are exact integers if ``weights`` is None, float32 sums
  of weights otherwise, each added to its total with `wide.wide_add_counts`.
  On CPU the histogram, its cumulative sums and the error-free adds are one
  native call, instead of the histogram and a tail of about twenty tiny XLA
  computations (a batch sharded over devices, or top-k scores, take two
  calls: the histogram, all-reduced, then the totals).

  Args:
    totals: `Counts` of `wide.Wide` totals in the order of ``grid.values``,
      shape ``(T,)`` or ``(T, labels)``, with ``None`` for a count the caller
      does not keep; or one `wide.Wide` with all four stacked on a leading
      axis (TP, FP, TN, FN).
    y_true: labels, cast to bool (nonzero is positive); same shape as y_pred.
    y_pred: scores, or the `TopKScores` of `prepare` (pooled counts only).
    weights: ``None`` or float weights of y_pred's shape.
    grid: the thresholds.
    multi_label: keep the last axis of the inputs as separate labels (totals
      of shape ``(T, labels)``); otherwise all elements are pooled.

  Returns:
    The new totals, structured as ``totals``.
  """
  stacked = isinstance(totals, wide.Wide)
  if not stacked:
    totals = Counts(*totals)
  kept = range(4) if stacked else [i for i, t in enumerate(totals) if t is not None]
  positions = None
  if not grid.evenly and grid.order != tuple(range(grid.size)):
    positions = np.argsort(grid.order).astype(np.int32)
  kernel_args = dict(cells=sum(1 << i for i in kept), num_thresholds=grid.size,
                     positions=positions)

  def pairs(totals):
    return [totals] if stacked else [totals[i] for i in kept]

  def rebuild(totals, new):
    if stacked:
      return wide.Wide(*new[0])
    new = iter(new)
    return Counts(*(wide.Wide(*next(new)) if total is not None else None
                    for total in totals))

  def native_tail(hist, totals, num_labels):
    return rebuild(totals, native.threshold_totals(
        hist, pairs(totals), num_labels=num_labels, **kernel_args))

  def xla_tail(hist, totals, num_labels, elements):
    batch = _from_histogram(hist, grid, num_labels, multi_label, elements)
    if stacked:
      return wide.wide_add_counts(totals, jnp.stack(batch))
    return Counts(*(wide.wide_add_counts(total, inc) if total is not None
                    else None for total, inc in zip(totals, batch)))

  if isinstance(y_pred, TopKScores):
    hist, num_labels, elements = _histogram(y_true, y_pred, weights, grid,
                                            multi_label)
    return native.small_on_cpu(
        lambda hist, totals: native_tail(hist, totals, num_labels),
        lambda hist, totals: xla_tail(hist, totals, num_labels, elements),
        hist, totals)

  y_true, y_pred, weights, num_labels, elements = _scores(
      y_true, y_pred, weights, multi_label)
  # The paths make their own threshold arrays: a constant made out here
  # would be a tracer of this trace, and `sharded` is traced later.

  def native_path(y_true, y_pred, weights, totals):
    mode, sorted_values = _kernel_mode(grid)
    return rebuild(totals, native.threshold_update(
        y_pred, y_true, weights, pairs(totals), mode=mode,
        num_labels=num_labels, sorted_thresholds=sorted_values, **kernel_args))

  def sharded(axes, y_true, y_pred, weights, totals):
    mode, sorted_values = _kernel_mode(grid)
    hist = native.threshold_histogram(
        y_pred, y_true, weights, mode=mode, num_thresholds=grid.size,
        num_labels=num_labels, sorted_thresholds=sorted_values)
    return native_tail(jax.lax.psum(hist, axes), totals, num_labels)

  def xla_path(y_true, y_pred, weights, totals):
    hist = _xla_histogram(y_true, y_pred, weights, grid, num_labels, multi_label)
    return xla_tail(hist, totals, num_labels, elements)

  return native.on_cpu(native_path, xla_path, y_true, y_pred, weights, totals,
                       num_batched=3, sharded=sharded)


def _scores(y_true, y_pred, weights, multi_label):
  """The inputs of a histogram as the kernels take them, the number of
  labels, and the number of scores per label."""
  y_true = jnp.asarray(y_true)
  y_pred = jnp.asarray(y_pred, jnp.float32)
  num_labels = y_pred.shape[-1] if multi_label else 1
  if weights is not None:
    weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), y_pred.shape)
  return y_true, y_pred, weights, num_labels, y_pred.size // max(num_labels, 1)


def _histogram(y_true, y_pred, weights, grid: Thresholds, multi_label):
  """The flat ``(label, bucket, positive)`` histogram of a batch, its number
  of labels, and its number of scores per label."""
  if isinstance(y_pred, TopKScores):
    if multi_label:
      raise ValueError("top_k scores are counted on one pooled label")
    y_true = jnp.asarray(y_true)
    return y_pred.histogram(y_true, weights, grid), 1, y_true.size
  y_true, y_pred, weights, num_labels, elements = _scores(
      y_true, y_pred, weights, multi_label)

  def native_path(y_true, y_pred, weights):
    mode, sorted_values = _kernel_mode(grid)
    return native.threshold_histogram(
        y_pred, y_true, weights, mode=mode, num_thresholds=grid.size,
        num_labels=num_labels, sorted_thresholds=sorted_values)

  def xla_path(y_true, y_pred, weights):
    return _xla_histogram(y_true, y_pred, weights, grid, num_labels, multi_label)

  hist = native.on_cpu(native_path, xla_path, y_true, y_pred, weights)
  return hist, num_labels, elements


def _kernel_mode(grid: Thresholds):
  """The native kernel's mode for ``grid``, and its sorted thresholds."""
  if grid.evenly:
    mode = native.EVENLY_WITH_EPSILON if grid.with_epsilon else native.EVENLY
    return mode, None
  return native.SORTED, jnp.asarray(np.sort(np.asarray(grid.values, np.float32)))


def _xla_histogram(y_true, y_pred, weights, grid, num_labels, multi_label):
  """The flat ``(label, bucket, positive)`` histogram as an XLA scatter-add."""
  buckets = grid.size + 1
  key = bucket(y_pred, grid) * 2 + (y_true != 0).astype(jnp.int32)
  if multi_label:
    key = key + jnp.arange(num_labels, dtype=jnp.int32) * (2 * buckets)
  data = jnp.ones(key.shape, jnp.int32) if weights is None else weights
  return jnp.zeros(num_labels * 2 * buckets, data.dtype).at[key.ravel()].add(
      data.ravel(), mode="promise_in_bounds")


def _from_histogram(hist, grid: Thresholds, num_labels, multi_label,
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
  order = np.argsort(grid.order)  # sorted position of each user threshold
  if not grid.evenly and grid.order != tuple(range(grid.size)):
    tp, fp, tn, fn = (x[order] for x in (tp, fp, tn, fn))
  if not multi_label:
    tp, fp, tn, fn = (x[:, 0] for x in (tp, fp, tn, fn))
  if jnp.issubdtype(hist.dtype, jnp.integer) and elements <= 2**24:
    tp, fp, tn, fn = (x.astype(jnp.float32) for x in (tp, fp, tn, fn))
  return Counts(tp, fp, tn, fn)


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


@dataclasses.dataclass(frozen=True, eq=False)
class TopKScores:
  """Scores whose top_k filter (and class column) `add_batch` still applies.

  `prepare` returns this for ``y_pred`` when ``top_k`` is set, so that on
  CPU `add_batch` fuses Keras' filter into the threshold histogram (one read
  of the scores, nothing of their size written); elsewhere `add_batch` filters
  with `filter_top_k` and slices the class column, as `apply` does.

  Attributes:
    scores: the unfiltered float32 scores, shape ``(..., C)``.
    k: the top_k.
    class_id: ``None`` or the counted column of the last axis.
    sample_weight: ``None`` or the weights before their broadcast to
      `shape` (so the kernel can take one per row).
  """

  scores: jax.Array
  k: int
  class_id: int | None = None
  sample_weight: jax.Array | None = None

  @property
  def shape(self) -> tuple:
    """The shape of the filtered scores that are counted."""
    if self.class_id is None:
      return tuple(self.scores.shape)
    return tuple(self.scores.shape[:-1]) + (1,)

  @property
  def ndim(self) -> int:
    return len(self.shape)

  def apply(self) -> jax.Array:
    """The filtered (and sliced) scores, as Keras computes them."""
    y_pred = filter_top_k(self.scores, self.k)
    if self.class_id is not None:
      y_pred = y_pred[..., self.class_id, None]
    return y_pred

  def _kernel_weights(self):
    """The weights, one per row where they do not vary along the last axis."""
    weights = self.sample_weight
    if weights is None:
      return None
    weights = jnp.asarray(weights, jnp.float32)
    if self.class_id is not None or weights.ndim == 0 or weights.shape[-1] == 1:
      return jnp.broadcast_to(weights, self.scores.shape[:-1] + (1,))
    return jnp.broadcast_to(weights, self.scores.shape)

  def histogram(self, y_true, weights, grid: Thresholds) -> jax.Array:
    """The flat ``(bucket, positive)`` histogram of the filtered scores.

    Args:
      y_true: labels of `shape` (the class column with ``class_id``).
      weights: ``None`` or weights broadcast to `shape` (the XLA path's).
      grid: the thresholds.
    """
    if weights is not None:
      weights = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), self.shape)
    if self.scores.ndim == 1:
      # The whole batch is one row: as a (1, N) batch, no shard splits it.
      sample_weight = self.sample_weight
      if sample_weight is not None:
        sample_weight = jnp.broadcast_to(sample_weight, self.shape)[None]
      row = dataclasses.replace(self, scores=self.scores[None],
                                sample_weight=sample_weight)
      return row.histogram(jnp.asarray(y_true)[None],
                           None if weights is None else weights[None], grid)

    def native_path(y_true, scores, weights, kernel_weights):
      del weights
      mode, sorted_values = _kernel_mode(grid)
      return native.top_k_threshold_histogram(
          scores, y_true, kernel_weights, k=self.k, class_id=self.class_id,
          mode=mode, num_thresholds=grid.size, sorted_thresholds=sorted_values)

    def xla_path(y_true, scores, weights, kernel_weights):
      del kernel_weights
      y_pred = dataclasses.replace(self, scores=scores).apply()
      return _xla_histogram(y_true, y_pred, weights, grid, 1, False)

    if self.scores.size == 0:
      return xla_path(y_true, self.scores, weights, None)
    return native.on_cpu(native_path, xla_path, y_true, self.scores, weights,
                         self._kernel_weights())


def prepare(metric, y_true, y_pred, sample_weight, *, top_k=None, class_id=None):
  """Keras' input alignment for threshold metrics.

  Aligns ranks of y_true/y_pred and the weights, applies ``top_k`` and
  ``class_id``, and checks shapes (errors name ``metric``).

  Returns:
    ``(y_true, y_pred, weights)`` of equal shapes (weights ``None`` if
    ``sample_weight`` is). With ``top_k``, ``y_pred`` is a `TopKScores`
    (of that shape) for `add_batch`; its `TopKScores.apply` gives the array.
  """
  y_pred = jnp.asarray(y_pred)
  y_true = jnp.asarray(y_true)
  y_pred, y_true = weighting.squeeze_or_expand_to_same_rank(y_pred, y_true)
  checks.check_same_shape(metric, y_true, y_pred)
  weights = None
  if sample_weight is not None:
    weights = jnp.expand_dims(jnp.asarray(sample_weight, jnp.float32), -1)
    _, weights = weighting.squeeze_or_expand_to_same_rank(
        y_true, weights, expand_rank_1=False)
    checks.check_broadcast(metric, "sample_weight", weights, y_true.shape)
  if top_k is not None:
    if y_pred.ndim == 0 or top_k > y_pred.shape[-1]:
      raise checks.fail(metric, f"top_k={top_k} needs y_pred with at least "
                        f"{top_k} entries on its last axis, got shape "
                        f"{tuple(y_pred.shape)}")
  if class_id is not None:
    if y_pred.ndim < 2:
      raise checks.fail(metric, "class_id needs y_pred of shape (num_samples, "
                        f"num_classes), got shape {tuple(y_pred.shape)}")
    if not 0 <= class_id < y_pred.shape[-1]:
      raise checks.fail(metric, f"class_id={class_id} is out of range for "
                        f"y_pred of shape {tuple(y_pred.shape)}")
    y_true = y_true[..., class_id, None]
  if top_k is not None:
    # The filter is applied by `add_batch`, fused with the histogram on CPU.
    y_pred = TopKScores(jnp.asarray(y_pred, jnp.float32), top_k, class_id)
  elif class_id is not None:
    y_pred = y_pred[..., class_id, None]
  if weights is not None:
    checks.check_broadcast(metric, "sample_weight", weights, y_pred.shape)
    if isinstance(y_pred, TopKScores):
      y_pred = dataclasses.replace(y_pred, sample_weight=weights)
    weights = jnp.broadcast_to(weights, y_pred.shape)
  return y_true, y_pred, weights


def validate_range(metric, thresholds):
  """Thresholds must lie in [0, 1] (Keras' rule), checked at construction."""
  bad = [t for t in thresholds if t is None or not 0.0 <= t <= 1.0]
  if bad:
    raise checks.fail(metric, f"thresholds must be in [0, 1], got {bad}")


class ConfusionState(NamedTuple):
  """Running TP/FP/TN/FN at each threshold (and label, for multi-label).

  The four totals are one `wide.Wide` stacked on a leading axis, so that an
  update returns two arrays instead of eight: on CPU every array a jitted
  call returns costs microseconds, as much as the small update itself.
  ``tp``, ``fp``, ``tn`` and ``fn`` give them one by one.
  """

  counts: wide.Wide  # float32[4, T] or float32[4, T, labels] pair: TP, FP, TN, FN.

  @property
  def tp(self) -> wide.Wide:
    """True positives at each threshold."""
    return self.cell(0)

  @property
  def fp(self) -> wide.Wide:
    """False positives at each threshold."""
    return self.cell(1)

  @property
  def tn(self) -> wide.Wide:
    """True negatives at each threshold."""
    return self.cell(2)

  @property
  def fn(self) -> wide.Wide:
    """False negatives at each threshold."""
    return self.cell(3)

  def cell(self, index: int) -> wide.Wide:
    """The total of `Counts` field ``index`` (0 TP, 1 FP, 2 TN, 3 FN)."""
    return wide.Wide(self.counts.hi[index], self.counts.lo[index])


def zeros(shape) -> ConfusionState:
  return ConfusionState(wide.wide_zeros((4, *shape)))


def accumulate(state: ConfusionState, y_true, y_pred, weights, grid: Thresholds,
               multi_label=False) -> ConfusionState:
  """Adds one batch's counts to every total of ``state`` (see `add_batch`)."""
  return ConfusionState(add_batch(state.counts, y_true, y_pred, weights, grid,
                                  multi_label))


def totals(state: ConfusionState) -> Counts:
  """The running counts as float32 arrays."""
  return Counts(*wide.wide_value(state.counts))
