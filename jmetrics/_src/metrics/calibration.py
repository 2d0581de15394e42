"""Calibration metrics: `ExpectedCalibrationError`, `MaximumCalibrationError`,
`BrierScore`.

The calibration errors bin each prediction's confidence into ``num_bins``
equal-width bins of [0, 1] and keep, per bin, the (weighted) count, the sum
of confidences and the sum of correct predictions as exact `Wide` totals:
one `kernels.bincount` of ``3 * num_bins`` bins per batch. Binning and
norms follow TorchMetrics' ``CalibrationError``:

* binary (``num_classes=None``): ``y_pred`` is the probability of class 1,
  which is the confidence, and ``y_true`` (0/1) is the accuracy;
* top-label multi-class (``num_classes=C``): ``y_pred`` holds ``(..., C)``
  probabilities, the confidence is their maximum and a prediction is
  correct where its argmax is the integer label;
* a confidence ``c`` falls in bin ``floor(c * num_bins)`` (computed in
  float32), so ``i / num_bins <= c < (i + 1) / num_bins`` up to rounding
  at the edges, 1.0 in the last bin; NaN confidences are not counted;
* ``norm="l1"`` is ``sum_i p_i |acc_i - conf_i|`` (the expected calibration
  error), ``"l2"`` its root-mean-square ``sqrt(sum_i p_i (acc_i -
  conf_i)**2)`` and ``"max"`` ``max_i |acc_i - conf_i|`` over non-empty bins
  (the maximum calibration error), where ``p_i`` is bin ``i``'s share of the
  weight and ``acc_i``, ``conf_i`` its mean accuracy and confidence.

`ExpectedCalibrationError.reliability` gives the reliability-diagram data.
`BrierScore` averages the squared error of probabilities per sample, as
scikit-learn's ``brier_score_loss``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide

_F32 = jnp.float32
_I32 = jnp.int32
_NORMS = ("l1", "l2", "max")


class CalibrationState(NamedTuple):
  """The running per-bin totals of a calibration error."""

  count: wide.Wide  # float32[B] pair: (weighted) predictions per bin.
  confidence: wide.Wide  # float32[B] pair: (weighted) sum of confidences.
  correct: wide.Wide  # float32[B] pair: (weighted) sum of correct ones.


class Reliability(NamedTuple):
  """A reliability diagram's data, one entry per bin."""

  edges: jax.Array  # float32[B + 1]: bin edges, 0 to 1.
  confidence: jax.Array  # float32[B]: mean confidence (0 where empty).
  accuracy: jax.Array  # float32[B]: mean accuracy (0 where empty).
  count: jax.Array  # float32[B]: (weighted) number of predictions.


class _BinnedCalibration(base.Metric):
  """The binned calibration error of the module docstring; subclasses
  declare ``num_bins``, ``norm``, ``num_classes``, ``name`` and ``dtype``."""

  config_checks = {
      "num_bins": base.integer(minimum=1),
      "norm": base.choice(_NORMS, message=f"norm must be one of {_NORMS}, got "
                          "{value!r}"),
      "num_classes": base.integer(minimum=2, optional=True),
      "dtype": base.floating_dtype(),
  }

  def label_domain(self, y_true, y_pred):
    if self.num_classes is None:
      return base.LabelDomain(1.0)
    return base.LabelDomain(self.num_classes, class_ids=True)

  def init(self) -> CalibrationState:
    zeros = lambda: wide.wide_zeros((self.num_bins,))
    return CalibrationState(zeros(), zeros(), zeros())

  def _edges(self) -> np.ndarray:
    return np.linspace(0.0, 1.0, self.num_bins + 1).astype(np.float32)

  def _confidences(self, y_true, y_pred):
    """Flat confidences and 0/1 accuracies (float32)."""
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    if self.num_classes is None:
      if y_true.shape != y_pred.shape:
        raise self.error(
            f"expected y_true and y_pred of one shape (binary: y_pred is the "
            f"probability of class 1), got y_true {checks.shape_of(y_true)} "
            f"and y_pred {checks.shape_of(y_pred)}")
      return (jnp.asarray(y_pred, _F32).reshape(-1),
              jnp.asarray(y_true, _F32).reshape(-1))
    if (y_pred.ndim != y_true.ndim + 1 or y_pred.shape[:-1] != y_true.shape
        or y_pred.shape[-1] != self.num_classes):
      raise self.error(
          f"expected integer labels (...) and probabilities (..., "
          f"num_classes={self.num_classes}), got y_true "
          f"{checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}")
    scores = jnp.asarray(y_pred, _F32)
    confidence = jnp.max(scores, axis=-1)
    correct = kernels.argmax(scores, -1) == y_true.astype(_I32)
    return confidence.reshape(-1), correct.astype(_F32).reshape(-1)

  def _bin_index(self, confidence):
    """The bin of each confidence, ``floor(c * B)`` in float32: 1.0 and above
    in the last bin, negative values in the first."""
    bins = self.num_bins
    index = jnp.floor(confidence * jnp.float32(bins))
    return jnp.clip(index, 0, bins - 1).astype(_I32)

  def update(self, state: CalibrationState, y_true, y_pred,
             sample_weight=None) -> CalibrationState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: binary labels of ``y_pred``'s shape, or (``num_classes``)
        integer labels of ``y_pred.shape[:-1]``.
      y_pred: probabilities of class 1, or ``(..., C)`` probabilities.
      sample_weight: ``None``, a scalar or weights broadcastable to
        ``y_true``.

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if the shapes do not fit.
    """
    confidence, correct = self._confidences(y_true, y_pred)
    bins = self.num_bins
    index = self._bin_index(confidence)
    nan = jnp.isnan(confidence)
    # Three segments of bins: counts, confidences, correct ones.
    keys = jnp.concatenate([jnp.where(nan, -1, index + offset).astype(_I32)
                            for offset in (0, bins, 2 * bins)])
    weight = jnp.ones_like(confidence)
    if sample_weight is not None:
      shape = jnp.shape(y_true)
      weight = checks.as_float(sample_weight)
      checks.check_broadcast(self, "sample_weight", weight, shape,
                             given=sample_weight)
      weight = jnp.broadcast_to(weight, shape).reshape(-1)
    values = jnp.concatenate([weight, confidence * weight, correct * weight])
    sums = kernels.bincount(keys, values, 3 * bins)
    sums = wide.Wide(sums.hi.reshape(3, bins), sums.lo.reshape(3, bins))
    part = lambda i: wide.Wide(sums.hi[i], sums.lo[i])
    return CalibrationState(*(wide.wide_add_counts(total, part(i))
                              for i, total in enumerate(state)))

  def reliability(self, state: CalibrationState) -> Reliability:
    """The per-bin mean confidence, accuracy and count of ``state``."""
    count = wide.wide_value(state.count)
    return Reliability(
        edges=jnp.asarray(self._edges()),
        confidence=arithmetic.divide_no_nan(wide.wide_value(state.confidence),
                                            count),
        accuracy=arithmetic.divide_no_nan(wide.wide_value(state.correct), count),
        count=count)

  def compute(self, state: CalibrationState) -> jax.Array:
    bins = self.reliability(state)
    gap = jnp.abs(bins.accuracy - bins.confidence)
    share = arithmetic.divide_no_nan(bins.count, jnp.sum(bins.count))
    if self.norm == "l1":
      error = jnp.sum(gap * share)
    elif self.norm == "l2":
      error = jnp.sqrt(jnp.sum(jnp.square(gap) * share))
    else:
      error = jnp.max(jnp.where(bins.count > 0, gap, 0.0))
    return self.result_dtype(error)


@base.metric_dataclass
class ExpectedCalibrationError(_BinnedCalibration):
  """How far predicted confidences are from observed accuracies, binned.

  The binned calibration error of the module docstring: with the default
  ``norm="l1"`` the expected calibration error (ECE), as TorchMetrics'
  ``CalibrationError(task="binary" | "multiclass", n_bins=num_bins,
  norm=norm)``; sample weights weigh each prediction in its bin.

  Args:
    num_bins: B, the number of equal-width bins of [0, 1].
    norm: ``"l1"`` (ECE), ``"l2"`` (root-mean-square) or ``"max"`` (MCE).
    num_classes: ``None`` for binary probabilities of class 1, or C for
      top-label calibration of ``(..., C)`` probabilities.
    name: key of the metric (default ``"expected_calibration_error"``).
    dtype: the result's floating dtype (float32 if ``None``).

  Returns (from `compute`):
    A scalar in [0, 1]; 0 on an empty state.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.ExpectedCalibrationError(num_bins=2)
    >>> state = m.update(m.init(), [0, 1, 1, 1], [0.2, 0.9, 0.6, 0.4])
    >>> # bin [0, .5): conf .3, acc .5; bin [.5, 1]: conf .75, acc 1
    >>> round(float(m.compute(state)), 4)  # (2 * .2 + 2 * .25) / 4
    0.225
    >>> [round(float(c), 2) for c in m.reliability(state).confidence]
    [0.3, 0.75]
  """

  num_bins: int = 15
  norm: str = "l1"
  num_classes: Any = None
  name: str = None
  dtype: Any = None


@base.metric_dataclass
class MaximumCalibrationError(_BinnedCalibration):
  """The largest gap between confidence and accuracy over non-empty bins.

  `ExpectedCalibrationError` with ``norm="max"`` (TorchMetrics'
  ``CalibrationError(norm="max")``).

  Args:
    num_bins: B, the number of equal-width bins of [0, 1].
    num_classes: ``None`` for binary probabilities of class 1, or C for
      top-label calibration.
    name: key of the metric (default ``"maximum_calibration_error"``).
    dtype: the result's floating dtype (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MaximumCalibrationError(num_bins=2)
    >>> state = m.update(m.init(), [0, 1, 1, 1], [0.2, 0.9, 0.6, 0.4])
    >>> round(float(m.compute(state)), 4)
    0.25
  """

  num_bins: int = 15
  num_classes: Any = None
  name: str = None
  dtype: Any = None

  norm = property(lambda self: "max")


@base.metric_dataclass
class BrierScore(reduction.SampleMeanMetric):
  """The mean squared error of predicted probabilities, per sample.

  As scikit-learn's ``brier_score_loss``: binary probabilities of class 1
  against 0/1 labels of the same shape give ``(y_pred - y_true)**2`` per
  element (averaged over trailing axes, like Keras' wrapper metrics);
  ``(..., C)`` probabilities against integer labels (one axis fewer) give
  ``sum_c (y_pred_c - [c = label])**2`` per sample, the multi-class score
  (up to 2).

  Args:
    name: key of the metric (default ``"brier_score"``).
    dtype: the result's dtype (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.BrierScore()
    >>> state = m.update(m.init(), [0, 1], [0.2, 0.6])
    >>> round(float(m.compute(state)), 4)  # (0.04 + 0.16) / 2
    0.1
    >>> state = m.update(m.init(), [0, 1], [[0.7, 0.3], [0.4, 0.6]])
    >>> round(float(m.compute(state)), 4)  # (0.18 + 0.32) / 2
    0.25
  """

  name: str = None
  dtype: Any = None

  def values(self, y_true, y_pred) -> jax.Array:
    """Per-element (binary) or per-sample (multi-class) squared errors."""
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred, _F32)
    if y_pred.ndim == y_true.ndim + 1 and y_pred.ndim >= 1:
      if y_pred.shape[:-1] != y_true.shape:
        raise self.error(f"expected y_pred of y_true's shape plus a class "
                         f"axis, got y_true {checks.shape_of(y_true)} and "
                         f"y_pred {checks.shape_of(y_pred)}")
      classes = jnp.arange(y_pred.shape[-1], dtype=_I32)
      one_hot = (y_true.astype(_I32)[..., None] == classes).astype(_F32)
      return jnp.sum(jnp.square(y_pred - one_hot), axis=-1)
    if y_true.shape != y_pred.shape:
      raise self.error(f"expected y_true and y_pred of one shape, or integer "
                       f"labels and (..., C) probabilities, got y_true "
                       f"{checks.shape_of(y_true)} and y_pred "
                       f"{checks.shape_of(y_pred)}")
    return jnp.square(y_pred - jnp.asarray(y_true, _F32))
