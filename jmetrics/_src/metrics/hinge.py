"""Hinge metrics for maximum-margin classification.

`Hinge`, `SquaredHinge` and `CategoricalHinge` are each the sample-weighted
mean of the per-sample loss that Keras 3's loss function of the same name
computes; the module-level functions (`hinge`, ...) return those per-sample
values.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jmetrics._src import base
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import checks


def _margins(metric, y_true, y_pred):
  """``max(1 - y_true * y_pred, 0)`` elementwise, labels in {-1, 1}.

  As in Keras, labels are mapped from {0, 1} to {-1, 1} when every label of
  the update is 0 or 1; otherwise they are used as given. The test spans the
  whole update, so a sharded batch decides per shard: the same for labels
  that are all in {0, 1} or all in {-1, 1}.
  """
  y_true, y_pred = checks.same_shape_floats(metric, y_true, y_pred)
  is_binary = jnp.all((y_true == 0.0) | (y_true == 1.0))
  y_true = jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)
  # optax's hinge is Keras' elementwise max(1 - y_true * y_pred, 0).
  return optax.losses.hinge_loss(y_pred, y_true)


@base.metric_dataclass
class Hinge(reduction.SampleMeanMetric):
  """Mean hinge loss, as ``keras.metrics.Hinge``.

  Each sample's value is ``mean(max(1 - y_true * y_pred, 0), axis=-1)``.
  ``y_true`` is expected in {-1, 1}; labels that are all 0 or 1 are mapped to
  -1 and 1 first.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: at trace time when ``y_true`` and ``y_pred`` differ in shape.

  Examples:
    >>> from jmetrics import Hinge
    >>> m = Hinge()
    >>> y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    >>> round(float(m(y_true, y_pred)), 5)
    1.3
    >>> round(float(m(y_true, y_pred, sample_weight=[1, 0])), 5)
    1.1
  """

  name: str = "hinge"
  dtype: Any = None

  _last_axis_reduction = "mean"

  def values(self, y_true, y_pred) -> jax.Array:
    return jnp.mean(_margins(self, y_true, y_pred), axis=-1)


@base.metric_dataclass
class SquaredHinge(reduction.SampleMeanMetric):
  """Mean squared hinge loss, as ``keras.metrics.SquaredHinge``.

  Each sample's value is ``mean(max(1 - y_true * y_pred, 0) ** 2, axis=-1)``,
  with {0, 1} labels mapped to {-1, 1} as in `Hinge`.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: at trace time when ``y_true`` and ``y_pred`` differ in shape.

  Examples:
    >>> from jmetrics import SquaredHinge
    >>> m = SquaredHinge()
    >>> y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    >>> round(float(m(y_true, y_pred)), 5)
    1.86
    >>> round(float(m(y_true, y_pred, sample_weight=[1, 0])), 5)
    1.46
  """

  name: str = "squared_hinge"
  dtype: Any = None

  _last_axis_reduction = "mean"

  def values(self, y_true, y_pred) -> jax.Array:
    return jnp.mean(jnp.square(_margins(self, y_true, y_pred)), axis=-1)


@base.metric_dataclass
class CategoricalHinge(reduction.SampleMeanMetric):
  """Mean categorical hinge loss, as ``keras.metrics.CategoricalHinge``.

  With ``pos = sum(y_true * y_pred, -1)`` and
  ``neg = max((1 - y_true) * y_pred, -1)``, each sample's value is
  ``max(neg - pos + 1, 0)``. ``y_true`` is one-hot; labels are not converted.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Raises:
    ValueError: at trace time when ``y_true`` and ``y_pred`` differ in shape.

  Examples:
    >>> from jmetrics import CategoricalHinge
    >>> m = CategoricalHinge()
    >>> y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    >>> round(float(m(y_true, y_pred)), 5)
    1.4
    >>> round(float(m(y_true, y_pred, sample_weight=[1, 0])), 5)
    1.2
  """

  name: str = "categorical_hinge"
  dtype: Any = None

  def values(self, y_true, y_pred) -> jax.Array:
    y_true, y_pred = checks.same_shape_floats(self, y_true, y_pred)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, 0.0)


def hinge(y_true, y_pred) -> jax.Array:
  """Hinge loss of each sample, as Keras' loss function.

  Args:
    y_true: labels in {-1, 1} (or all in {0, 1}).
    y_pred: predicted scores of the same shape.

  Returns:
    float32 array of ``y_pred``'s shape without the last axis.

  Examples:
    >>> from jmetrics import hinge
    >>> loss = hinge([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> [round(x, 3) for x in loss.tolist()]
    [1.1, 1.5]
  """
  return Hinge().values(y_true, y_pred)


def squared_hinge(y_true, y_pred) -> jax.Array:
  """Squared hinge loss of each sample, as Keras' loss function.

  Args:
    y_true: labels in {-1, 1} (or all in {0, 1}).
    y_pred: predicted scores of the same shape.

  Returns:
    float32 array of ``y_pred``'s shape without the last axis.

  Examples:
    >>> from jmetrics import squared_hinge
    >>> loss = squared_hinge([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> [round(x, 3) for x in loss.tolist()]
    [1.46, 2.26]
  """
  return SquaredHinge().values(y_true, y_pred)


def categorical_hinge(y_true, y_pred) -> jax.Array:
  """Categorical hinge loss of each sample, as Keras' loss function.

  Args:
    y_true: one-hot labels.
    y_pred: predicted scores of the same shape.

  Returns:
    float32 array of ``y_pred``'s shape without the last axis.

  Examples:
    >>> from jmetrics import categorical_hinge
    >>> loss = categorical_hinge([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> [round(x, 3) for x in loss.tolist()]
    [1.2, 1.6]
  """
  return CategoricalHinge().values(y_true, y_pred)
