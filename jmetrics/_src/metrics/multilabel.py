"""Multi-label metrics: `MultiLabelConfusionMatrix`, `HammingLoss`, `ExactMatch`.

Inputs are ``(..., L)`` arrays of labels and scores, one row of ``L`` labels
per sample. A label is positive where ``y_true`` is nonzero (Keras' cast to
bool) and predicted positive where ``y_pred > threshold``.

`MultiLabelConfusionMatrix` keeps one exact `Wide` ``2 x 2`` table per label,
counted in one pass (`kernels.bincount` of ``4 * label + 2 * true + pred``);
`HammingLoss` and `ExactMatch` average one value per sample as Keras' wrapper
metrics do (`SampleMeanMetric`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import wide

_F32 = jnp.float32
_I32 = jnp.int32
_MODES = ("multiclass", "multilabel")
# TensorFlow Addons' "is this score nonzero" test of its top-score rule.
_NONZERO = 1e-12


def _same_shapes(metric, y_true, y_pred):
  y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
  if y_true.shape != y_pred.shape or y_true.ndim == 0:
    raise metric.error(
        f"expected y_true and y_pred of one shape (..., labels), got y_true "
        f"{checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}")
  return y_true, y_pred


class MultiLabelConfusionMatrixState(NamedTuple):
  """The running per-label tables of `MultiLabelConfusionMatrix`."""

  # float32[L, 2, 2] pair: per label [[tn, fp], [fn, tp]] (weighted) counts.
  confusion: wide.Wide


@base.metric_dataclass
class MultiLabelConfusionMatrix(base.Metric):
  """A ``2 x 2`` confusion table per label of multi-label inputs.

  Table ``i`` is ``[[tn, fp], [fn, tp]]`` of label ``i``, as
  scikit-learn's ``multilabel_confusion_matrix(y_true, y_pred,
  sample_weight=...)`` (TensorFlow Addons' ``MultiLabelConfusionMatrix``
  takes thresholded predictions; here ``threshold`` makes them). Counts are
  exact `Wide` totals, so they stay exact past 2**31.

  Args:
    num_labels: L, the size of the last axis.
    threshold: scores above it predict the label (0/1 predictions pass
      through the default 0.5 unchanged).
    name: key of the metric (default ``"multi_label_confusion_matrix"``).
    dtype: the result's dtype (float32 if ``None``).

  Returns (from `compute`):
    A float32 ``(L, 2, 2)`` array (of ``dtype`` if given); zeros on an empty
    state.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MultiLabelConfusionMatrix(num_labels=2)
    >>> state = m.update(m.init(), [[1, 0], [0, 1], [1, 1]],
    ...                  [[0.9, 0.2], [0.6, 0.8], [0.3, 0.7]])
    >>> m.compute(state).tolist()
    [[[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]]
  """

  num_labels: int
  threshold: float = 0.5
  name: str = None
  dtype: Any = None

  config_checks = {
      "num_labels": base.integer(minimum=1),
      "threshold": base.real(finite=True, message="threshold must be a "
                             "finite number, got {value!r}"),
  }

  def init(self) -> MultiLabelConfusionMatrixState:
    return MultiLabelConfusionMatrixState(
        wide.wide_zeros((self.num_labels, 2, 2)))

  def update(self, state: MultiLabelConfusionMatrixState, y_true, y_pred,
             sample_weight=None) -> MultiLabelConfusionMatrixState:
    """Adds a batch.

    Args:
      state: the running state.
      y_true: labels ``(..., L)``; nonzero is positive.
      y_pred: scores of ``y_true``'s shape.
      sample_weight: ``None``, a scalar, one weight per sample (broadcast to
        ``y_true.shape[:-1]``) or one per label (``y_true``'s shape).

    Returns:
      The updated state.

    Raises:
      ValueError: at trace time, if the shapes differ, the last axis is not
        ``num_labels`` long, or ``sample_weight`` does not fit.
    """
    y_true, y_pred = _same_shapes(self, y_true, y_pred)
    if y_true.shape[-1] != self.num_labels:
      raise self.error(f"expected a last axis of num_labels={self.num_labels} "
                       f"labels, got y_true {checks.shape_of(y_true)}")
    keys = (np.arange(self.num_labels, dtype=np.int32) * 4
            + 2 * (y_true != 0).astype(_I32)
            + (jnp.asarray(y_pred, _F32) > self.threshold).astype(_I32))
    weights = None
    if sample_weight is not None:
      weights = self._weights(sample_weight, y_true.shape)
    counts = kernels.bincount(keys.reshape(-1), weights, 4 * self.num_labels)
    if isinstance(counts, wide.Wide):
      counts = wide.Wide(counts.hi.reshape(-1, 2, 2),
                         counts.lo.reshape(-1, 2, 2))
    else:
      counts = counts.reshape(-1, 2, 2)
    return MultiLabelConfusionMatrixState(
        wide.wide_add_counts(state.confusion, counts))

  def _weights(self, sample_weight, shape):
    weights = jnp.asarray(sample_weight, _F32)
    given = tuple(weights.shape)
    if weights.ndim == len(shape) - 1:
      weights = weights[..., None]  # one per sample
    try:
      fits = np.broadcast_shapes(weights.shape, shape) == shape
    except ValueError:
      fits = False
    if not fits:
      raise self.error(f"sample_weight of shape {given} fits "
                       f"neither the samples nor the labels of y_true "
                       f"{tuple(shape)}")
    return jnp.broadcast_to(weights, shape).reshape(-1)

  def compute(self, state: MultiLabelConfusionMatrixState) -> jax.Array:
    return self.result_dtype(wide.wide_value(state.confusion))


@base.metric_dataclass
class HammingLoss(reduction.SampleMeanMetric):
  """The fraction of labels predicted wrongly, as TensorFlow Addons'
  ``HammingLoss``.

  Predictions are binarised per sample: with ``threshold``, scores above it
  are 1; without (``None``), the top scores of the row are 1 (every score
  equal to the row's maximum, if nonzero: TensorFlow Addons' rule, which
  makes one-hot predictions of class scores). Labels are truncated to
  integers. A sample's value is its number of mismatched labels over ``L``,
  averaged over samples with their weights: scikit-learn's ``hamming_loss``
  of the binarised indicator rows. ``mode`` (``"multiclass"`` or
  ``"multilabel"``) is checked, as in TensorFlow Addons, and names the use:
  one-hot class labels against class scores (leave ``threshold`` None), or
  multi-hot labels against per-label scores (give ``threshold``).

  Args:
    mode: ``"multiclass"`` or ``"multilabel"``.
    threshold: ``None`` (the top-score rule) or the score above which a
      label is predicted.
    name: key of the metric (default ``"hamming_loss"``).
    dtype: the result's dtype (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.HammingLoss(mode="multilabel", threshold=0.8)
    >>> state = m.update(m.init(), [[1, 0, 1, 0], [0, 1, 0, 1]],
    ...                  [[0.9, 0.2, 0.7, 0.1], [0.1, 0.9, 0.1, 0.95]])
    >>> float(m.compute(state))  # (1/4 + 0) / 2
    0.125
  """

  mode: str
  threshold: Any = None
  name: str = None
  dtype: Any = None

  config_checks = {
      "mode": base.choice(_MODES, message=f"mode must be one of {_MODES}, got "
                          "{value!r}"),
      "threshold": base.real(optional=True, finite=True, message="threshold "
                             "must be None or a finite number, got {value!r}"),
  }

  def values(self, y_true, y_pred) -> jax.Array:
    """Per-sample fraction of the last axis' labels predicted wrongly."""
    y_true, y_pred = _same_shapes(self, y_true, y_pred)
    y_pred = jnp.asarray(y_pred, _F32)
    if self.threshold is None:
      top = jnp.max(y_pred, axis=-1, keepdims=True)
      predicted = (y_pred >= top) & (jnp.abs(y_pred) > _NONZERO)
    else:
      predicted = y_pred > self.threshold
    wrong = y_true.astype(_I32) != predicted.astype(_I32)
    return jnp.mean(wrong.astype(_F32), axis=-1)


@base.metric_dataclass
class ExactMatch(reduction.SampleMeanMetric):
  """The fraction of samples whose every label is predicted right.

  Subset accuracy: with ``threshold``, a sample matches when its nonzero
  labels are exactly the scores above ``threshold`` (scikit-learn's
  ``accuracy_score`` of multi-label indicators, TorchMetrics'
  ``MultilabelExactMatch``); with ``threshold=None``, when ``y_pred`` equals
  ``y_true`` element for element along the last axis (class ids of a
  sequence: TorchMetrics' ``MulticlassExactMatch``).

  Args:
    threshold: the score above which a label is predicted, or ``None`` to
      compare ``y_pred`` with ``y_true`` as they are.
    name: key of the metric (default ``"exact_match"``).
    dtype: the result's dtype (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.ExactMatch()
    >>> state = m.update(m.init(), [[1, 0, 1], [0, 1, 0]],
    ...                  [[0.9, 0.2, 0.7], [0.6, 0.9, 0.1]])
    >>> float(m.compute(state))
    0.5
  """

  threshold: Any = 0.5
  name: str = None
  dtype: Any = None

  config_checks = {
      "threshold": base.real(optional=True, finite=True, message="threshold "
                             "must be None or a finite number, got {value!r}"),
  }

  def values(self, y_true, y_pred) -> jax.Array:
    """Per-sample 1.0 where every label along the last axis matches."""
    y_true, y_pred = _same_shapes(self, y_true, y_pred)
    if self.threshold is None:
      same = y_true == y_pred
    else:
      same = (y_true != 0) == (jnp.asarray(y_pred, _F32) > self.threshold)
    return jnp.all(same, axis=-1).astype(_F32)
