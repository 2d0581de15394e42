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

Unweighted counts are int32 histograms (exact), weighted ones float32.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import checks
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


def counts(y_true, y_pred, weights, grid: Thresholds, multi_label=False) -> Counts:
  """TP/FP/TN/FN at every threshold of ``grid`` for one batch.

  Args:
    y_true: labels, cast to bool (nonzero is positive); same shape as y_pred.
    y_pred: scores.
    weights: ``None`` or float weights of y_pred's shape.
    grid: the thresholds.
    multi_label: keep the last axis of the inputs as separate labels
      (counts of shape ``(T, labels)``); otherwise all elements are pooled.

  Returns:
    `Counts` in the order of ``grid.values``: int32 if ``weights`` is None
    (exact), float32 otherwise.
  """
  positive = jnp.asarray(y_true) != 0
  y_pred = jnp.asarray(y_pred, jnp.float32)
  num_labels = y_pred.shape[-1] if multi_label else 1
  buckets = grid.size + 1
  key = bucket(y_pred, grid) * 2 + positive.astype(jnp.int32)
  if multi_label:
    key = key + jnp.arange(num_labels, dtype=jnp.int32) * (2 * buckets)
  if weights is None:
    data = jnp.ones(key.shape, jnp.int32)
  else:
    data = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), key.shape)
  hist = jnp.zeros(num_labels * 2 * buckets, data.dtype).at[key.ravel()].add(
      data.ravel(), mode="promise_in_bounds")
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
  return Counts(tp, fp, tn, fn)


def filter_top_k(y_pred, k: int):
  """Keeps the k largest scores of the last axis, others become ``NEG_INF``.

  Ties are broken by position (``lax.top_k`` keeps the first), as Keras does.
  The mask is applied with Keras' arithmetic (``x * keep + NEG_INF * (1 -
  keep)``), so a dropped NaN or infinite score becomes NaN, as in Keras.
  """
  _, index = jax.lax.top_k(y_pred, k)
  keep = jnp.zeros(y_pred.shape, y_pred.dtype)
  keep = jnp.put_along_axis(keep, index, 1.0, axis=-1, inplace=False)
  return y_pred * keep + NEG_INF * (1.0 - keep)


def prepare(metric, y_true, y_pred, sample_weight, *, top_k=None, class_id=None):
  """Keras' input alignment for threshold metrics.

  Aligns ranks of y_true/y_pred and the weights, applies ``top_k`` and
  ``class_id``, and checks shapes (errors name ``metric``).

  Returns:
    ``(y_true, y_pred, weights)`` of equal shapes (weights ``None`` if
    ``sample_weight`` is).
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
    y_pred = filter_top_k(jnp.asarray(y_pred, jnp.float32), top_k)
  if class_id is not None:
    if y_pred.ndim < 2:
      raise checks.fail(metric, "class_id needs y_pred of shape (num_samples, "
                        f"num_classes), got shape {tuple(y_pred.shape)}")
    if not 0 <= class_id < y_pred.shape[-1]:
      raise checks.fail(metric, f"class_id={class_id} is out of range for "
                        f"y_pred of shape {tuple(y_pred.shape)}")
    y_true = y_true[..., class_id, None]
    y_pred = y_pred[..., class_id, None]
  if weights is not None:
    checks.check_broadcast(metric, "sample_weight", weights, y_pred.shape)
    weights = jnp.broadcast_to(weights, y_pred.shape)
  return y_true, y_pred, weights


def validate_range(metric, thresholds):
  """Thresholds must lie in [0, 1] (Keras' rule), checked at construction."""
  bad = [t for t in thresholds if t is None or not 0.0 <= t <= 1.0]
  if bad:
    raise checks.fail(metric, f"thresholds must be in [0, 1], got {bad}")


class ConfusionState(NamedTuple):
  """Running TP/FP/TN/FN at each threshold (and label, for multi-label)."""

  tp: wide.Wide  # float32[T] or float32[T, labels] pair: true positives.
  fp: wide.Wide  # same shape: false positives.
  tn: wide.Wide  # same shape: true negatives.
  fn: wide.Wide  # same shape: false negatives.


def zeros(shape) -> ConfusionState:
  return ConfusionState(*(wide.wide_zeros(shape) for _ in range(4)))


def accumulate(state: ConfusionState, batch: Counts) -> ConfusionState:
  """Adds one batch's `Counts` (exactly, for unweighted int32 counts)."""
  return ConfusionState(*(wide.wide_add_counts(total, inc) for total, inc in zip(state, batch)))


def totals(state: ConfusionState) -> Counts:
  """The running counts as float32 arrays."""
  return Counts(*(wide.wide_value(total) for total in state))
