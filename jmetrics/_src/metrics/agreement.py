"""Multi-class metrics of the confusion table beyond Keras' catalogue.

`CohenKappa`, `MatthewsCorrelationCoefficient`, `BalancedAccuracy`,
`Specificity` and `NegativePredictiveValue` keep the ``(C, C)`` table of the
IoU family (rows = true class, columns = predicted class) as an exact `Wide`
total, counted by the same kernel, so in a `Collection` they share one table
with each other and with `ConfusionMatrix` (and IoU metrics of a float
``dtype``) over the same inputs. Their results follow scikit-learn's
definitions on that table.

Inputs, as in the IoU family:

* ``y_true`` holds class ids (``sparse_y_true=True``, the default) or one-hot
  rows (argmax along ``axis``); ``y_pred`` holds class scores (argmax along
  ``axis``, the default) or class ids (``sparse_y_pred=True``). With
  ``threshold`` (binary tables, ``num_classes=2``) ``y_pred`` holds the
  scores of class 1, predicted where ``y_pred > threshold``.
* Inputs of any shape are flattened; elements whose true or predicted id is
  outside ``[0, num_classes)``, or whose true id is ``ignore_class``, are not
  counted. Float labels are range-checked, then truncated.
* ``sample_weight`` is a scalar, broadcastable to the class ids, or has one
  weight per class id; fractional weights are kept.

An empty state computes to 0. Where a ratio's denominator is 0 the ratio is
0, as scikit-learn's ``zero_division`` default gives (scikit-learn's
`matthews_corrcoef` returns 0 there too; `cohen_kappa_score` returns NaN
where every element is one class in truth and predictions, and this module
returns 1, TensorFlow Addons' value).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src.metrics import iou
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import wide

_F32 = jnp.float32
_I32 = jnp.int32
_WEIGHTAGES = (None, "linear", "quadratic")
_AVERAGES = (None, "binary", "micro", "macro", "weighted")


class ClassTableState(NamedTuple):
  """The running confusion table of a metric of this module."""

  # float32[C, C] pair: (weighted) counts, rows = true, columns = predicted.
  confusion: wide.Wide


class _Margins(NamedTuple):
  """A table's sums, each rounded once from exact `Wide` sums."""

  counts: jax.Array  # (C, C)
  true: jax.Array  # (C,) row sums: the true (weighted) count of each class
  pred: jax.Array  # (C,) column sums: the predicted count of each class
  correct: jax.Array  # (C,) the diagonal
  total: jax.Array  # () everything counted


def _margins(table: wide.Wide) -> _Margins:
  rows = wide.wide_sum(table, axis=1)
  return _Margins(
      counts=wide.wide_value(table),
      true=wide.wide_value(rows),
      pred=wide.wide_value(wide.wide_sum(table, axis=0)),
      correct=jnp.diagonal(wide.wide_value(table)),
      total=wide.wide_value(wide.wide_sum(rows, axis=0)))


def _threshold_check():
  return base.real(optional=True, finite=True,
                   message="threshold must be None or a finite number, got "
                   "{value!r}")


class _TableMetric(iou.ClassTableMetric):
  """Base of this module's metrics: the IoU family's inputs and table, with
  fractional weights kept, an optional binary ``threshold`` and a result
  of ``dtype``."""

  config_checks = {
      "threshold": _threshold_check(),
      "dtype": base.floating_dtype(),
  }

  _state = ClassTableState

  def validate(self):
    if self.threshold is not None:
      if self.num_classes != 2:
        raise self.error(f"threshold={self.threshold!r} makes binary tables: "
                         f"it needs num_classes=2, got {self.num_classes}")
      if self.sparse_y_pred:
        raise self.error("threshold compares scores of class 1; it cannot be "
                         "used with sparse_y_pred=True (class ids)")

  def _predicted_class_ids(self, y_pred):
    if self.threshold is None:
      return super()._predicted_class_ids(y_pred)
    return (jnp.asarray(y_pred, _F32) > self.threshold).astype(_I32)

  def _class_ids_made_by(self) -> Any:
    if self.sparse_y_true and self.sparse_y_pred:
      return "class ids"  # as `ConfusionMatrix` counts them
    return (_TableMetric._predicted_class_ids, self.sparse_y_true,
            self.sparse_y_pred, self.axis, self.threshold)

  def compute(self, state: ClassTableState) -> jax.Array:
    return self.result_dtype(self._from_table(_margins(state.confusion)))

  def _from_table(self, m: _Margins) -> jax.Array:
    raise NotImplementedError


def _kappa_weights(num_classes: int, weightage) -> np.ndarray:
  i, j = np.indices((num_classes, num_classes))
  if weightage is None:
    return (i != j).astype(np.float32)
  if weightage == "linear":
    return np.abs(i - j).astype(np.float32)
  return np.square(i - j).astype(np.float32)


@base.metric_dataclass
class CohenKappa(_TableMetric):
  """Cohen's kappa: agreement of predictions with labels beyond chance.

  ``kappa = 1 - sum(W * O) / sum(W * E)`` over the accumulated confusion
  table ``O`` and the table ``E`` that independent truth and predictions of
  the same class frequencies would give, with disagreement weights ``W``:
  ``1`` off the diagonal (``weightage=None``), ``|i - j|`` (``"linear"``) or
  ``(i - j)**2`` (``"quadratic"``, for ordinal classes). As scikit-learn's
  ``cohen_kappa_score(y_true, y_pred, labels=range(C), weights=weightage,
  sample_weight=...)`` and TensorFlow Addons' ``CohenKappa``.

  Args:
    num_classes: C, the number of classes.
    weightage: ``None``, ``"linear"`` or ``"quadratic"``.
    threshold: ``None``, or (with ``num_classes=2``) the score above which
      ``y_pred`` predicts class 1.
    sparse_y_true: whether ``y_true`` holds class ids (else one-hot rows;
      TensorFlow Addons' ``sparse_labels``).
    sparse_y_pred: whether ``y_pred`` holds class ids (else scores, argmax).
    ignore_class: ``None`` or a true class id to leave out.
    axis: the class axis of dense inputs.
    name: key of the metric (default ``"cohen_kappa"``).
    dtype: the result's floating dtype (float32 if ``None``).

  Returns (from `compute`):
    A scalar in [-1, 1]; 0 on an empty state, 1 where truth and predictions
    are all one class.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.CohenKappa(num_classes=3, sparse_y_pred=True)
    >>> state = m.update(m.init(), [0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    >>> round(float(m.compute(state)), 4)
    0.6875
    >>> m = jm.CohenKappa(num_classes=3, weightage="quadratic",
    ...                   sparse_y_pred=True)
    >>> state = m.update(m.init(), [0, 1, 2, 2, 1], [0, 2, 2, 2, 1])
    >>> round(float(m.compute(state)), 4)
    0.8387
  """

  num_classes: int
  weightage: Any = None
  threshold: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = False
  ignore_class: Any = None
  axis: int = -1
  name: str = None
  dtype: Any = None

  config_checks = {
      "weightage": base.choice(
          _WEIGHTAGES, message=f"weightage must be one of {_WEIGHTAGES}, got "
          "{value!r}"),
  }

  def _from_table(self, m: _Margins) -> jax.Array:
    weights = _kappa_weights(self.num_classes, self.weightage)
    total = jnp.maximum(m.total, 1.0)  # fractions; an empty table stays 0
    observed = jnp.sum(weights * (m.counts / total))
    expected = jnp.sum(weights * jnp.outer(m.true / total, m.pred / total))
    kappa = 1.0 - arithmetic.divide_no_nan(observed, expected)
    return jnp.where(m.total > 0, kappa, 0.0)


@base.metric_dataclass
class MatthewsCorrelationCoefficient(_TableMetric):
  """The Matthews correlation coefficient of predictions and labels.

  Binary tables give ``(tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))``;
  more classes, its multi-class generalisation (Gorodkin's R_K):
  ``(c*s - t.p) / sqrt((s**2 - p.p)(s**2 - t.t))`` with ``c`` the correct
  count, ``s`` the total, and ``t``, ``p`` the true and predicted counts of
  each class. As scikit-learn's ``matthews_corrcoef`` and TensorFlow
  Addons' ``MatthewsCorrelationCoefficient``.

  Args:
    num_classes: C, the number of classes (2 for the binary coefficient).
    threshold: ``None``, or (with ``num_classes=2``) the score above which
      ``y_pred`` predicts class 1.
    sparse_y_true: whether ``y_true`` holds class ids (else one-hot rows).
    sparse_y_pred: whether ``y_pred`` holds class ids (else scores, argmax).
    ignore_class: ``None`` or a true class id to leave out.
    axis: the class axis of dense inputs.
    name: key of the metric (default ``"matthews_correlation_coefficient"``).
    dtype: the result's floating dtype (float32 if ``None``).

  Returns (from `compute`):
    A scalar in [-1, 1]; 0 on an empty state or where a denominator
    factor is 0.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MatthewsCorrelationCoefficient(num_classes=2, threshold=0.5)
    >>> state = m.update(m.init(), [1, 1, 1, 0], [0.9, 0.2, 0.8, 0.6])
    >>> round(float(m.compute(state)), 4)
    -0.3333
  """

  num_classes: int
  threshold: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = False
  ignore_class: Any = None
  axis: int = -1
  name: str = None
  dtype: Any = None

  def _from_table(self, m: _Margins) -> jax.Array:
    total = jnp.maximum(m.total, 1.0)
    true, pred = m.true / total, m.pred / total
    covariance = jnp.sum(m.correct) / total - jnp.dot(true, pred)
    spread = (jnp.sqrt(jnp.maximum(1.0 - jnp.dot(pred, pred), 0.0))
              * jnp.sqrt(jnp.maximum(1.0 - jnp.dot(true, true), 0.0)))
    return arithmetic.divide_no_nan(covariance, spread)


@base.metric_dataclass
class BalancedAccuracy(_TableMetric):
  """The mean recall of the classes present in the labels.

  ``mean_i(tp_i / (tp_i + fn_i))`` over the classes of nonzero true
  (weighted) count; with ``adjusted=True`` rescaled so that chance scores 0
  and perfect 1: ``(score - 1/k) / (1 - 1/k)`` for k such classes. As
  scikit-learn's ``balanced_accuracy_score(y_true, y_pred, sample_weight=...,
  adjusted=...)``.

  Args:
    num_classes: C, the number of classes.
    adjusted: whether to rescale for chance.
    threshold: ``None``, or (with ``num_classes=2``) the score above which
      ``y_pred`` predicts class 1.
    sparse_y_true: whether ``y_true`` holds class ids (else one-hot rows).
    sparse_y_pred: whether ``y_pred`` holds class ids (else scores, argmax).
    ignore_class: ``None`` or a true class id to leave out.
    axis: the class axis of dense inputs.
    name: key of the metric (default ``"balanced_accuracy"``).
    dtype: the result's floating dtype (float32 if ``None``).

  Returns (from `compute`):
    A scalar; 0 on an empty state (and, adjusted, where one class is
    present).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.BalancedAccuracy(num_classes=3, sparse_y_pred=True)
    >>> state = m.update(m.init(), [0, 0, 0, 1, 2], [0, 0, 1, 1, 1])
    >>> round(float(m.compute(state)), 4)  # (2/3 + 1 + 0) / 3
    0.5556
  """

  num_classes: int
  adjusted: bool = False
  threshold: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = False
  ignore_class: Any = None
  axis: int = -1
  name: str = None
  dtype: Any = None

  config_checks = {"adjusted": base.boolean()}

  def _from_table(self, m: _Margins) -> jax.Array:
    present = m.true > 0
    recall = arithmetic.divide_no_nan(m.correct, m.true)
    classes = jnp.sum(present.astype(_F32))
    score = arithmetic.divide_no_nan(jnp.sum(jnp.where(present, recall, 0.0)),
                                     classes)
    if self.adjusted:
      chance = arithmetic.divide_no_nan(1.0, classes)
      score = arithmetic.divide_no_nan(score - chance, 1.0 - chance)
    return score


def _average(metric, numerator, denominator, support):
  """Per-class ``numerator / denominator`` averaged as ``metric.average``
  says (classes of zero denominator are 0, and left out of the macro mean)."""
  ratio = arithmetic.divide_no_nan(numerator, denominator)
  if metric.average is None:
    return ratio
  if metric.average == "binary":
    return ratio[1]
  if metric.average == "micro":
    return arithmetic.divide_no_nan(jnp.sum(numerator), jnp.sum(denominator))
  if metric.average == "weighted":
    return arithmetic.divide_no_nan(jnp.sum(ratio * support), jnp.sum(support))
  defined = denominator > 0
  return arithmetic.divide_no_nan(jnp.sum(jnp.where(defined, ratio, 0.0)),
                                  jnp.sum(defined.astype(_F32)))


@base.metric_dataclass
class _OneVsRest(_TableMetric):
  """A per-class one-vs-rest ratio of the table, averaged (the fields of
  `Specificity` and `NegativePredictiveValue`)."""

  num_classes: int
  average: Any = "macro"
  threshold: Any = None
  sparse_y_true: bool = True
  sparse_y_pred: bool = False
  ignore_class: Any = None
  axis: int = -1
  name: str = None
  dtype: Any = None

  config_checks = {
      "average": base.choice(
          _AVERAGES, message=f"average must be one of {_AVERAGES}, got "
          "{value!r}"),
  }

  def validate(self):
    super().validate()
    if self.average == "binary" and self.num_classes != 2:
      raise self.error(f"average='binary' scores class 1 of a binary table; "
                       f"it needs num_classes=2, got {self.num_classes}")

  @staticmethod
  def _negatives(m: _Margins) -> jax.Array:
    """True negatives of each class: neither true nor predicted."""
    return m.total - m.true - m.pred + m.correct


_ONE_VS_REST_ARGS = """
  Args:
    num_classes: C, the number of classes.
    average: ``None`` (the per-class vector), ``"binary"`` (class 1 of a
      binary table), ``"micro"`` (the ratio of the summed counts),
      ``"macro"`` (the mean over classes of nonzero denominator) or
      ``"weighted"`` (the mean weighted by each class's true count).
    threshold: ``None``, or (with ``num_classes=2``) the score above which
      ``y_pred`` predicts class 1.
    sparse_y_true: whether ``y_true`` holds class ids (else one-hot rows).
    sparse_y_pred: whether ``y_pred`` holds class ids (else scores, argmax).
    ignore_class: ``None`` or a true class id to leave out.
    axis: the class axis of dense inputs.
    name: key of the metric.
    dtype: the result's floating dtype (float32 if ``None``).
"""


@base.metric_dataclass
class Specificity(_OneVsRest):
  """Specificity (true negative rate) of each class, one-vs-rest, averaged.

  ``tn / (tn + fp)`` per class, where the negatives of class ``i`` are the
  elements whose true class is not ``i``: with TorchMetrics' ``Specificity``
  averages, from scikit-learn's ``multilabel_confusion_matrix`` counts.
  {args}
  Returns (from `compute`):
    A scalar (a ``(C,)`` vector for ``average=None``); 0 on an empty state.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.Specificity(num_classes=2, average="binary", threshold=0.5)
    >>> state = m.update(m.init(), [0, 0, 0, 1], [0.2, 0.7, 0.1, 0.9])
    >>> round(float(m.compute(state)), 4)  # 2 of 3 negatives rejected
    0.6667
  """


  def _from_table(self, m: _Margins) -> jax.Array:
    negatives = self._negatives(m)
    return _average(self, negatives, m.total - m.true, m.true)


@base.metric_dataclass
class NegativePredictiveValue(_OneVsRest):
  """Negative predictive value of each class, one-vs-rest, averaged.

  ``tn / (tn + fn)`` per class: of the elements not predicted as class
  ``i``, the share whose true class is not ``i`` either; averaged as
  `Specificity`, from scikit-learn's ``multilabel_confusion_matrix`` counts.
  {args}
  Returns (from `compute`):
    A scalar (a ``(C,)`` vector for ``average=None``); 0 on an empty state.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.NegativePredictiveValue(num_classes=2, average="binary",
    ...                                threshold=0.5)
    >>> state = m.update(m.init(), [0, 1, 0, 1], [0.2, 0.3, 0.1, 0.9])
    >>> round(float(m.compute(state)), 4)  # 2 of 3 rejections right
    0.6667
  """


  def _from_table(self, m: _Margins) -> jax.Array:
    negatives = self._negatives(m)
    return _average(self, negatives, m.total - m.pred, m.true)


Specificity.__doc__ = Specificity.__doc__.replace("{args}", _ONE_VS_REST_ARGS)
NegativePredictiveValue.__doc__ = NegativePredictiveValue.__doc__.replace(
    "{args}", _ONE_VS_REST_ARGS)
