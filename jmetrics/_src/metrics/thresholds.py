"""Threshold grids, Keras' input alignment, and the confusion state.

Every threshold metric (TruePositives ... AUC, the X-at-Y metrics) keeps
TP/FP/TN/FN totals at a static grid of thresholds. This module builds the
grids (a user's list, AUC's evenly spaced grid), aligns a batch as Keras does
(`prepare`: ranks, ``class_id``, weights), and adds it to the totals with the
kernel layer's `kernels.threshold_update`, one read of the scores.
"""

from __future__ import annotations

from typing import Callable, Hashable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.kernels import Counts
from jmetrics._src.kernels import NEG_INF
from jmetrics._src.kernels import Thresholds
from jmetrics._src.kernels import TopK
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import weighting
from jmetrics._src.numerics import wide

EPSILON = 1e-7  # Keras' backend.epsilon(): AUC's outer thresholds sit this far outside [0, 1].


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


def add_batch(totals, y_true, y_pred, weights, grid: Thresholds,
              multi_label=False, top_k: TopK | None = None):
  """Running totals with one batch's TP/FP/TN/FN at every threshold added.

  Args:
    totals: `Counts` of `wide.Wide` totals, with ``None`` for a count the
      caller does not keep; or one `wide.Wide` with all four stacked on a
      leading axis (TP, FP, TN, FN).
    y_true, y_pred, weights: as `prepare` returns them.
    grid: the thresholds.
    multi_label: keep the last axis as separate labels.
    top_k: Keras' top-k filter (and class column) to apply to ``y_pred``.

  Returns:
    The new totals, structured as ``totals``.
  """
  if isinstance(totals, wide.Wide):
    (new,) = kernels.threshold_update(
        (totals,), y_true, y_pred, weights, grid, multi_label=multi_label,
        top_k=top_k)
    return new
  kept = [i for i, total in enumerate(totals) if total is not None]
  new = iter(kernels.threshold_update(
      [totals[i] for i in kept], y_true, y_pred, weights, grid,
      cells=kernels.Cells(sum(1 << i for i in kept)), multi_label=multi_label,
      top_k=top_k))
  return Counts(*(next(new) if total is not None else None for total in totals))


class _CountsPayload(NamedTuple):
  totals: tuple  # this metric's `wide.Wide` totals, in slot order
  slots: tuple  # the cell (0 TP, 1 FP, 2 TN, 3 FN) of each slot of `totals`
  rebuild: Callable  # new totals -> the metric's new state
  operands: tuple  # (y_true, y_pred, weights) as `prepare` returns them


def shared_batch(totals, rebuild, operands, grid: Thresholds, *, aligned: Hashable,
                 multi_label=False, top_k: TopK | None = None) -> base.SharedStep:
  """`add_batch` as a `base.SharedStep`: metrics counting the same batch at
  the same grid share one histogram, each total added as `add_batch` would.

  Args:
    totals: as for `add_batch`.
    rebuild: ``rebuild(new_totals) -> state``, the totals structured as given.
    operands: ``(y_true, y_pred, weights)`` as `prepare` returns them.
    grid, multi_label, top_k: as for `add_batch`.
    aligned: hashable: everything besides the grid, ``multi_label`` and
      ``top_k`` that made ``operands`` from the metric's inputs (how the
      metric called `prepare`, any transform of the scores or weights).

  Returns:
    The step; ``step.alone()`` is ``rebuild(add_batch(totals, ...))``.
  """
  if isinstance(totals, wide.Wide):
    leaves, slots = (totals,), (0, 1, 2, 3)
    unflatten = lambda new: new[0]
  else:
    kept = tuple(i for i, total in enumerate(totals) if total is not None)
    leaves, slots = tuple(totals[i] for i in kept), kept

    def unflatten(new):
      new = iter(new)
      return Counts(*(next(new) if total is not None else None for total in totals))

  payload = _CountsPayload(leaves, slots, lambda new: rebuild(unflatten(new)),
                           tuple(operands))
  return base.SharedStep(("threshold counts", grid, multi_label, top_k, aligned),
                         _count_together, payload)


def _count_together(steps) -> list:
  """One `kernels.threshold_update` for the totals of every step."""
  _, grid, multi_label, top_k, _ = steps[0].key
  totals = [total for step in steps for total in step.payload.totals]
  slots = tuple(slot for step in steps for slot in step.payload.slots)
  new = iter(kernels.threshold_update(totals, *steps[0].payload.operands, grid,
                                      cells=slots, multi_label=multi_label,
                                      top_k=top_k))
  return [step.payload.rebuild([next(new) for _ in step.payload.totals])
          for step in steps]


def prepare(metric, y_true, y_pred, sample_weight, *, top_k=None, class_id=None):
  """Keras' input alignment for threshold metrics.

  Aligns ranks of y_true/y_pred and the weights, applies ``top_k`` and
  ``class_id``, and checks shapes (errors name ``metric``).

  Returns:
    ``(y_true, y_pred, weights)`` of equal shapes (weights ``None`` if
    ``sample_weight`` is). With ``top_k``, ``y_pred`` stays the unfiltered
    ``(..., C)`` scores and ``weights`` broadcastable to the counted shape:
    `add_batch` with ``TopK(top_k, class_id)`` filters them, fused with the
    histogram on CPU.
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
    checks.check_broadcast(metric, "sample_weight", weights, y_true.shape,
                           given=sample_weight)
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
  counted = y_pred
  if class_id is not None:
    counted = y_pred[..., class_id, None]
    if top_k is None:
      y_pred = counted
  if weights is not None:
    checks.check_broadcast(metric, "sample_weight", weights, counted.shape,
                           given=sample_weight)
    if top_k is None:
      weights = jnp.broadcast_to(weights, counted.shape)
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


def totals(state: ConfusionState) -> Counts:
  """The running counts as float32 arrays."""
  return Counts(*wide.wide_value(state.counts))


class Curve(NamedTuple):
  """Points of the ROC and PR curves at each threshold of a metric's grid.

  Arrays have shape ``(T,)``, or ``(T, num_labels)`` for a multi-label
  `AUC` (``thresholds`` is always ``(T,)``). A point counts the predictions
  strictly greater than its threshold as positive. Rates with a zero
  denominator are 0 (Keras' divide-no-nan), e.g. the precision at a threshold
  that no prediction exceeds (scikit-learn reports 1 there).
  """

  thresholds: jax.Array  # float32[T]: the grid, -eps and 1 + eps included.
  tp: jax.Array  # float32[T] or [T, L]: true positives.
  fp: jax.Array  # false positives.
  tn: jax.Array  # true negatives.
  fn: jax.Array  # false negatives.
  tpr: jax.Array  # tp / (tp + fn): the ROC curve's y.
  fpr: jax.Array  # fp / (fp + tn): the ROC curve's x.
  precision: jax.Array  # tp / (tp + fp): the PR curve's y.
  recall: jax.Array  # tp / (tp + fn) (== tpr): the PR curve's x.


def curve(grid: Thresholds, state: ConfusionState) -> Curve:
  """The ROC and PR curves of a `ConfusionState` on ``grid``; jit-able."""
  tp, fp, tn, fn = totals(state)
  recall = arithmetic.divide_no_nan(tp, tp + fn)
  return Curve(jnp.asarray(grid.values, jnp.float32), tp, fp, tn, fn,
               tpr=recall, fpr=arithmetic.divide_no_nan(fp, fp + tn),
               precision=arithmetic.divide_no_nan(tp, tp + fp), recall=recall)
