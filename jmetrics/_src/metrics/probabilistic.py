"""Probabilistic metrics: cross-entropies, KL divergence and Poisson.

Each metric is the sample-weighted mean of a per-sample loss, computed with
the formulas of Keras 3's loss functions (``keras.losses.binary_crossentropy``
and friends): probabilities are clipped to ``[EPSILON, 1 - EPSILON]``,
categorical probabilities are renormalised to sum to 1 first, logits go
through ``log_sigmoid`` / ``log_softmax``. The module-level functions
(`binary_crossentropy`, ...) return those per-sample values.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jmetrics._src import base
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import weighting

# keras.backend.epsilon(): the clipping bound of every probability.
EPSILON = 1e-7


_LABEL_SMOOTHING = base.unit()
_AXIS = base.integer(message="axis must be an int, got {value!r}")


def _class_axis(metric, y_pred) -> int:
  """``metric.axis`` as a non-negative axis of ``y_pred``."""
  ndim = np.ndim(y_pred)
  if not -ndim <= metric.axis < ndim:
    raise metric.error(f"axis {metric.axis} is out of range for y_pred of "
                       f"shape {checks.shape_of(y_pred)}")
  return metric.axis % ndim


def _log_probabilities(y_pred, from_logits, axis):
  """Log-probabilities along ``axis``, as Keras' categorical losses use them."""
  if from_logits:
    return jax.nn.log_softmax(y_pred, axis=axis)
  # Keras renormalises predictions that do not sum to 1, then clips so that
  # a zero probability costs -log(EPSILON) instead of infinity.
  y_pred = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
  return jnp.log(jnp.clip(y_pred, EPSILON, 1.0 - EPSILON))


def _crossentropy(target, y_pred, from_logits, axis):
  return -jnp.sum(target * _log_probabilities(y_pred, from_logits, axis),
                  axis=axis)


@base.metric_dataclass
class BinaryCrossentropy(reduction.SampleMeanMetric):
  """Mean binary cross-entropy, as ``keras.metrics.BinaryCrossentropy``.

  Each sample's value is the elementwise binary cross-entropy averaged over
  the last axis (so 1-D inputs make the whole batch one sample, as in Keras).
  Probabilities are clipped to ``[1e-7, 1 - 1e-7]``; with
  ``label_smoothing=s`` labels become ``y * (1 - s) + s / 2``.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    from_logits: whether ``y_pred`` holds logits rather than probabilities.
    label_smoothing: a number in ``[0, 1]``.

  Raises:
    ValueError: at construction for ``label_smoothing`` outside ``[0, 1]``;
      at trace time when ``y_true`` and ``y_pred`` differ in shape.

  Examples:
    >>> from jmetrics import BinaryCrossentropy
    >>> m = BinaryCrossentropy()
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(m.compute(state)), 5)
    0.81492
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]],
    ...                  sample_weight=[1, 0])
    >>> round(float(m.compute(state)), 5)
    0.91629
  """

  name: str = "binary_crossentropy"
  dtype: Any = None
  from_logits: bool = False
  label_smoothing: float = 0.0

  _last_axis_reduction = "mean"

  config_checks = {"label_smoothing": _LABEL_SMOOTHING}

  def label_domain(self, y_true, y_pred):
    """Labels in ``[0, 1]``."""
    return base.LabelDomain(1.0)

  def elementwise(self, y_true, y_pred) -> jax.Array:
    """The cross-entropy of each element, before the mean over an axis."""
    y_true, y_pred = checks.same_shape_floats(self, y_true, y_pred)
    if self.label_smoothing:
      smoothing = self.label_smoothing
      y_true = y_true * (1.0 - smoothing) + 0.5 * smoothing
    if self.from_logits:
      # optax's formula is Keras' term for term (log_sigmoid of x and -x).
      return optax.losses.sigmoid_binary_cross_entropy(y_pred, y_true)
    y_pred = jnp.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return -(y_true * jnp.log(y_pred) + (1.0 - y_true) * jnp.log(1.0 - y_pred))

  def values(self, y_true, y_pred) -> jax.Array:
    return jnp.mean(self.elementwise(y_true, y_pred), axis=-1)


@base.metric_dataclass
class CategoricalCrossentropy(reduction.SampleMeanMetric):
  """Mean categorical cross-entropy, as Keras' ``CategoricalCrossentropy``.

  ``y_true`` is one-hot (or any distribution) of ``y_pred``'s shape; each
  sample's value is ``-sum(y_true * log(p), axis)`` where ``p`` is
  ``softmax(y_pred)`` for logits, otherwise ``y_pred`` renormalised along
  ``axis`` and clipped to ``[1e-7, 1 - 1e-7]``. With ``label_smoothing=s``,
  labels become ``y * (1 - s) + s / n``, ``n`` being the size of the *last*
  axis of ``y_true`` whatever ``axis`` is (Keras' rule, kept for equal
  results).

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    from_logits: whether ``y_pred`` holds logits rather than probabilities.
    label_smoothing: a number in ``[0, 1]``.
    axis: the class axis.

  Raises:
    ValueError: at construction for ``label_smoothing`` outside ``[0, 1]`` or
      a non-integer ``axis``; at trace time when ``y_true`` and ``y_pred``
      differ in shape or ``axis`` is out of range.

  Examples:
    >>> from jmetrics import CategoricalCrossentropy
    >>> m = CategoricalCrossentropy()
    >>> y_true = [[0, 1, 0], [0, 0, 1]]
    >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    >>> round(float(m(y_true, y_pred)), 5)
    1.17694
    >>> round(float(m(y_true, y_pred, sample_weight=[0.3, 0.7])), 5)
    1.6272
  """

  name: str = "categorical_crossentropy"
  dtype: Any = None
  from_logits: bool = False
  label_smoothing: float = 0.0
  axis: int = -1

  config_checks = {"label_smoothing": _LABEL_SMOOTHING, "axis": _AXIS}

  def values(self, y_true, y_pred) -> jax.Array:
    y_true, y_pred = checks.same_shape_floats(self, y_true, y_pred)
    axis = _class_axis(self, y_pred)
    if self.label_smoothing:
      num_classes = y_true.shape[-1]
      y_true = (y_true * (1.0 - self.label_smoothing)
                + self.label_smoothing / num_classes)
    return _crossentropy(y_true, y_pred, self.from_logits, axis)


@base.metric_dataclass
class SparseCategoricalCrossentropy(reduction.SampleMeanMetric):
  """Mean cross-entropy of integer labels, as Keras' metric of the same name.

  ``y_true`` holds class indices: ``y_pred``'s shape without the class axis
  (a trailing or class-axis dimension of size 1 is squeezed). Labels are
  truncated to integers; a label outside ``[0, num_classes)`` contributes 0.
  Probabilities are renormalised along ``axis`` and clipped to
  ``[1e-7, 1 - 1e-7]``.

  ``ignore_class`` follows Keras 3's metric exactly, which treats weighted and
  unweighted updates differently:

  * without ``sample_weight``, an element labelled ``ignore_class`` counts
    as a loss of 0 in the mean (its sample is still counted);
  * with ``sample_weight``, its weight becomes 0, so the result is the
    weighted mean over the other elements only. A weight with fewer axes than
    the labels applies to all elements of its sample.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    from_logits: whether ``y_pred`` holds logits rather than probabilities.
    ignore_class: an int label to leave out (e.g. a "void" class), or ``None``.
    axis: the class axis of ``y_pred``.

  Raises:
    ValueError: at construction for a non-integer ``axis`` or
      ``ignore_class``; at trace time when the shapes of ``y_true`` and
      ``y_pred`` do not fit or ``axis`` is out of range.

  Examples:
    >>> from jmetrics import SparseCategoricalCrossentropy
    >>> m = SparseCategoricalCrossentropy()
    >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    >>> round(float(m([1, 2], y_pred)), 5)
    1.17694
    >>> m = SparseCategoricalCrossentropy(ignore_class=0)
    >>> y_pred = [[0.8, 0.1, 0.1], [0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    >>> round(float(m([0, 1, 2], y_pred)), 5)
    0.78463
    >>> round(float(m([0, 1, 2], y_pred, sample_weight=[0.5, 1.5, 2.0])), 5)
    1.33775
  """

  name: str = "sparse_categorical_crossentropy"
  dtype: Any = None
  from_logits: bool = False
  ignore_class: Any = None
  axis: int = -1

  config_checks = {
      "ignore_class": base.integer(
          optional=True, message="ignore_class must be an int or None, got "
          "{value!r}"),
      "axis": _AXIS,
  }

  def label_domain(self, y_true, y_pred):
    """Class ids in ``[0, C)``, or ``ignore_class``."""
    return base.LabelDomain(checks.shape_of(y_pred)[self.axis], class_ids=True,
                            ignore=self.ignore_class)

  def _labels(self, y_true, y_pred):
    """``(labels, valid, axis)``: float labels shaped like the loss."""
    checks.check_min_rank(self, "y_pred", y_pred, 1)
    axis = _class_axis(self, y_pred)
    pred_shape = checks.shape_of(y_pred)
    expected = pred_shape[:axis] + pred_shape[axis + 1:]
    labels = checks.as_float(y_true)
    for squeeze_axis in (axis, -1):
      if labels.ndim == len(pred_shape) and labels.shape[squeeze_axis] == 1:
        labels = jnp.squeeze(labels, squeeze_axis)
    if labels.shape != expected:
      raise self.error(
          f"expected y_true of shape {expected} (y_pred's shape without the "
          f"class axis {self.axis}, optionally with a trailing 1), got y_true "
          f"{checks.shape_of(y_true)} and y_pred {pred_shape}")
    valid = None
    if self.ignore_class is not None:
      valid = labels != self.ignore_class
    return labels, valid, axis

  def values(self, y_true, y_pred) -> jax.Array:
    rows = self.row_values(y_true, y_pred)
    if rows is not None:
      return rows
    labels, valid, axis = self._labels(y_true, y_pred)
    y_pred = checks.as_float(y_pred)
    # Keras truncates labels to int32 and one-hot encodes them, so labels
    # outside [0, num_classes) (NaN included) select no class and cost 0. The one-hot
    # product is written as a select that XLA fuses into the class sum (no
    # N x C target or product array); ``0 * log_p`` keeps Keras' NaN where an
    # unselected log-probability is infinite.
    classes = jax.lax.broadcasted_iota(jnp.int32, y_pred.shape, axis)
    selected = classes == jnp.expand_dims(arithmetic.class_ids(labels), axis)
    log_p = _log_probabilities(y_pred, self.from_logits, axis)
    loss = -jnp.sum(jnp.where(selected, log_p, 0.0 * log_p), axis=axis)
    if valid is not None:
      loss = jnp.where(valid, loss, 0.0)
    return loss

  def row_request(self, y_true, y_pred):
    """Logits of float32 rows on the last axis: the cross-entropy of each row
    from one read of it (see `reduction.RowRequest`)."""
    scores = jnp.asarray(y_pred)
    if (not self.from_logits or scores.dtype != jnp.float32 or scores.ndim < 2
        or self.axis % scores.ndim != scores.ndim - 1):
      return None
    labels, valid, _ = self._labels(y_true, scores)
    # Integer labels are the int32 ids every sparse metric reads (exactly,
    # not through float32); float ones are cast as this metric casts them
    # (NaN is no class).
    y_true = jnp.asarray(y_true)
    if jnp.issubdtype(y_true.dtype, jnp.integer):
      ids = arithmetic.class_ids(y_true.reshape(labels.shape))
      made_by = ("sparse labels", "integer")
    else:
      ids, made_by = arithmetic.class_ids(labels), ("sparse labels", "class ids")

    def values(stats):
      loss = stats["crossentropy"]
      return loss if valid is None else jnp.where(valid, loss, 0.0)

    return reduction.RowRequest(scores, ids, ("crossentropy",), made_by, values)

  def sample_weights(self, y_true, y_pred, sample_weight):
    """Keras masks ignored elements out through the weights, and only when
    weights are given (see the class docstring): unweighted, an ignored
    element counts as a loss of 0, in `masked_update` too (its padding
    mask is not a sample weight)."""
    if self.ignore_class is None or sample_weight is None:
      return sample_weight
    _, valid, _ = self._labels(y_true, y_pred)
    mask, weight = weighting.squeeze_or_expand_to_same_rank(
        valid.astype(jnp.float32), checks.as_float(sample_weight))
    # A per-sample weight covers every element of its sample.
    missing = mask.ndim - weight.ndim
    weight = jnp.reshape(weight, weight.shape + (1,) * missing)
    checks.check_broadcast(self, "sample_weight", weight, mask.shape)
    return weight * mask


@base.metric_dataclass
class KLDivergence(reduction.SampleMeanMetric):
  """Mean Kullback-Leibler divergence, as ``keras.metrics.KLDivergence``.

  Each sample's value is ``sum(y_true * log(y_true / y_pred), axis=-1)`` with
  both inputs clipped to ``[1e-7, 1]``.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: at trace time when ``y_true`` and ``y_pred`` differ in shape.

  Examples:
    >>> from jmetrics import KLDivergence
    >>> m = KLDivergence()
    >>> y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    >>> round(float(m(y_true, y_pred)), 5)
    0.45814
    >>> round(float(m(y_true, y_pred, sample_weight=[1, 0])), 5)
    0.91629
  """

  name: str = "kl_divergence"
  dtype: Any = None

  _last_axis_reduction = "sum"

  def values(self, y_true, y_pred) -> jax.Array:
    y_true, y_pred = checks.same_shape_floats(self, y_true, y_pred)
    y_true = jnp.clip(y_true, EPSILON, 1.0)
    y_pred = jnp.clip(y_pred, EPSILON, 1.0)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


@base.metric_dataclass
class Poisson(reduction.SampleMeanMetric):
  """Mean Poisson loss, as ``keras.metrics.Poisson``.

  Each sample's value is ``mean(y_pred - y_true * log(y_pred + 1e-7),
  axis=-1)``.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: at trace time when ``y_true`` and ``y_pred`` differ in shape.

  Examples:
    >>> from jmetrics import Poisson
    >>> m = Poisson()
    >>> y_true, y_pred = [[0, 1], [0, 0]], [[1, 1], [0, 0]]
    >>> round(float(m(y_true, y_pred)), 5)
    0.5
    >>> round(float(m(y_true, y_pred, sample_weight=[1, 0])), 5)
    1.0
  """

  name: str = "poisson"
  dtype: Any = None

  _last_axis_reduction = "mean"

  def values(self, y_true, y_pred) -> jax.Array:
    y_true, y_pred = checks.same_shape_floats(self, y_true, y_pred)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + EPSILON), axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0,
                        axis=-1) -> jax.Array:
  """Binary cross-entropy averaged over ``axis``, as Keras' loss function.

  Args:
    y_true: labels in ``[0, 1]``, of ``y_pred``'s shape.
    y_pred: probabilities, or logits if ``from_logits``.
    from_logits: whether ``y_pred`` holds logits.
    label_smoothing: a number in ``[0, 1]``; labels become
      ``y * (1 - s) + s / 2``.
    axis: the axis averaged over.

  Returns:
    float32 array of ``y_pred``'s shape without ``axis``.

  Examples:
    >>> from jmetrics import binary_crossentropy
    >>> loss = binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> [round(x, 3) for x in loss.tolist()]
    [0.916, 0.714]
  """
  metric = BinaryCrossentropy(from_logits=from_logits,
                              label_smoothing=label_smoothing)
  return jnp.mean(metric.elementwise(y_true, y_pred), axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False,
                             label_smoothing=0.0, axis=-1) -> jax.Array:
  """Categorical cross-entropy of each sample, as Keras' loss function.

  Args:
    y_true: one-hot labels (or distributions), of ``y_pred``'s shape.
    y_pred: probabilities, or logits if ``from_logits``.
    from_logits: whether ``y_pred`` holds logits.
    label_smoothing: a number in ``[0, 1]``.
    axis: the class axis.

  Returns:
    float32 array of ``y_pred``'s shape without ``axis``.

  Examples:
    >>> from jmetrics import categorical_crossentropy
    >>> y_true = [[0, 1, 0], [0, 0, 1]]
    >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    >>> [round(x, 3) for x in categorical_crossentropy(y_true, y_pred).tolist()]
    [0.051, 2.303]
  """
  return CategoricalCrossentropy(
      from_logits=from_logits, label_smoothing=label_smoothing,
      axis=axis).values(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False,
                                    ignore_class=None, axis=-1) -> jax.Array:
  """Cross-entropy of integer labels, as Keras' loss function.

  Args:
    y_true: class indices, of ``y_pred``'s shape without ``axis``.
    y_pred: probabilities, or logits if ``from_logits``.
    from_logits: whether ``y_pred`` holds logits.
    ignore_class: a label whose elements get a loss of 0, or ``None``.
    axis: the class axis.

  Returns:
    float32 array of ``y_pred``'s shape without ``axis``.

  Examples:
    >>> from jmetrics import sparse_categorical_crossentropy
    >>> y_pred = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
    >>> loss = sparse_categorical_crossentropy([1, 2], y_pred)
    >>> [round(x, 3) for x in loss.tolist()]
    [0.051, 2.303]
    >>> loss = sparse_categorical_crossentropy([1, 2], y_pred, ignore_class=2)
    >>> [round(x, 3) for x in loss.tolist()]
    [0.051, 0.0]
  """
  return SparseCategoricalCrossentropy(
      from_logits=from_logits, ignore_class=ignore_class,
      axis=axis).values(y_true, y_pred)


def kl_divergence(y_true, y_pred) -> jax.Array:
  """Kullback-Leibler divergence of each sample, as Keras' loss function.

  Args:
    y_true: target distributions (clipped to ``[1e-7, 1]``).
    y_pred: predicted distributions of the same shape (clipped likewise).

  Returns:
    float32 array of ``y_pred``'s shape without the last axis.

  Examples:
    >>> from jmetrics import kl_divergence
    >>> loss = kl_divergence([[0, 1], [0.5, 0.5]], [[0.6, 0.4], [0.5, 0.5]])
    >>> [round(x, 3) for x in loss.tolist()]
    [0.916, 0.0]
  """
  return KLDivergence().values(y_true, y_pred)


def poisson(y_true, y_pred) -> jax.Array:
  """Poisson loss of each sample, as Keras' loss function.

  Args:
    y_true: observed counts.
    y_pred: predicted rates of the same shape.

  Returns:
    float32 array of ``y_pred``'s shape without the last axis.

  Examples:
    >>> from jmetrics import poisson
    >>> loss = poisson([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> [round(x, 3) for x in loss.tolist()]
    [1.0, 0.0]
  """
  return Poisson().values(y_true, y_pred)
