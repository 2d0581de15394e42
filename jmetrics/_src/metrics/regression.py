"""Regression metrics: errors, similarities, correlations and the R2 score.

Every metric follows its ``keras.metrics`` namesake (Keras 3) batch for batch.
All but `R2Score` average one value per sample, so they are
`reduction.SampleMeanMetric` subclasses that only say how a batch becomes
per-sample values; the module-level functions (`mean_squared_error`, ...) are
those per-sample values, as Keras exports them.

`R2Score` accumulates weighted sums per output. Its total sum of squares,
``sum(w y^2) - sum(w y)^2 / sum(w)``, cancels catastrophically in float32 when
the targets' mean is large next to their spread (``y ~ 1000 + N(0, 1)`` loses
most digits), so the sums are accumulated and combined in double-float
arithmetic: products are summed from exact partial products of 12-bit halves,
each batch is reduced with compensated sums, states merge (across devices
too) as double-floats, and the final subtraction happens on ``hi + lo``
pairs.

Inputs are cast to float32. ``y_true`` and ``y_pred`` must have the same shape
after Keras' rank alignment (a trailing unit axis is squeezed or added when
the ranks differ by one); Keras would broadcast other mismatches, which hides
bugs, so they raise a ``ValueError`` here.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src.metrics import reduction
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import weighting
from jmetrics._src.numerics import wide

# keras.backend.epsilon(), the fuzz factor of Keras' regression functions.
_EPSILON = 1e-7
_CLASS_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


# -- shared input handling -----------------------------------------------------


def _aligned(who: str, y_true, y_pred):
  """float32 inputs after Keras' rank alignment, required to share a shape."""
  true_shape, pred_shape = checks.shape_of(y_true), checks.shape_of(y_pred)
  y_true, y_pred = checks.as_float(y_true), checks.as_float(y_pred)
  y_true, y_pred = weighting.squeeze_or_expand_to_same_rank(y_true, y_pred)
  if y_true.shape != y_pred.shape:
    raise ValueError(
        f"{who}: expected y_true and y_pred of the same shape (up to a trailing "
        f"axis of size 1), got y_true {true_shape} and y_pred {pred_shape}")
  if y_true.ndim == 0:
    raise ValueError(f"{who}: expected y_true and y_pred with at least 1 "
                     f"dimension, got y_true {true_shape} and y_pred {pred_shape}")
  return y_true, y_pred


def _is_axis(axis) -> bool:
  """An int or a non-empty tuple of ints."""
  axes = axis if isinstance(axis, tuple) else (axis,)
  return bool(axes) and all(map(checks.is_int, axes))


def _normalized_axis(who: str, axis, shape):
  """``axis`` made non-negative for inputs of ``shape``; raises if out of range."""
  ndim = len(shape)
  axes = axis if isinstance(axis, (tuple, list)) else (axis,)
  if any(operator.index(a) >= ndim or operator.index(a) < -ndim for a in axes):
    raise ValueError(f"{who}: axis {axis!r} is out of range for y_true and "
                     f"y_pred of shape {tuple(shape)}")
  normalized = tuple(a % ndim for a in axes)
  if len(set(normalized)) != len(normalized):
    raise ValueError(f"{who}: axis {axis!r} repeats an axis of y_true and "
                     f"y_pred of shape {tuple(shape)}")
  return normalized if isinstance(axis, (tuple, list)) else normalized[0]


# -- per-sample functions (Keras' functional forms) ----------------------------


def _mse(y_true, y_pred):
  return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def _mae(y_true, y_pred):
  return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def _mape(y_true, y_pred):
  diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), _EPSILON))
  return 100.0 * jnp.mean(diff, axis=-1)


def _msle(y_true, y_pred):
  first_log = jnp.log(jnp.maximum(y_pred, _EPSILON) + 1.0)
  second_log = jnp.log(jnp.maximum(y_true, _EPSILON) + 1.0)
  return jnp.mean(jnp.square(first_log - second_log), axis=-1)


def _log_cosh(y_true, y_pred):
  # log(cosh(x)) = x + softplus(-2x) - log(2) never overflows, unlike cosh.
  x = y_pred - y_true
  return jnp.mean(x + jax.nn.softplus(-2.0 * x) - np.log(2.0).astype(np.float32),
                  axis=-1)


def _huber(y_true, y_pred, delta):
  error = y_pred - y_true
  abs_error = jnp.abs(error)
  return jnp.mean(jnp.where(abs_error <= delta, 0.5 * jnp.square(error),
                            delta * abs_error - 0.5 * delta**2), axis=-1)


def _l2_normalize(x, axis):
  # Keras' rule: x * min(rsqrt(sum(x^2)), 1/epsilon), so a zero vector stays 0.
  inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
  return x * jnp.minimum(inv_norm, 1.0 / _EPSILON)


def _cosine(y_true, y_pred, axis):
  return jnp.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis),
                 axis=axis)


def _pearson(y_true, y_pred, axis):
  y_true = y_true - jnp.mean(y_true, axis=axis, keepdims=True)
  y_pred = y_pred - jnp.mean(y_pred, axis=axis, keepdims=True)
  y_true = y_true / jnp.std(y_true, axis=axis, keepdims=True)
  y_pred = y_pred / jnp.std(y_pred, axis=axis, keepdims=True)
  return jnp.mean(y_true * y_pred, axis=axis)


def _concordance(y_true, y_pred, axis):
  true_mean = jnp.mean(y_true, axis=axis, keepdims=True)
  pred_mean = jnp.mean(y_pred, axis=axis, keepdims=True)
  true_var = jnp.var(y_true - true_mean, axis=axis, keepdims=True)
  pred_var = jnp.var(y_pred - pred_mean, axis=axis, keepdims=True)
  # Keras centres y_true on y_pred's mean here; since y_pred - pred_mean sums
  # to zero this equals the textbook covariance, and copying it keeps the
  # rounding identical to Keras.
  covar = (y_true - pred_mean) * (y_pred - pred_mean)
  norm = true_var + pred_var + jnp.square(true_mean - pred_mean)
  return jnp.mean(2.0 * covar / (norm + _EPSILON), axis=axis)


# Masked forms, for `masked_update` when ``axis`` covers the batch axis: the
# same formulas with every mean taken over the elements where ``keep`` holds
# (masked elements have been zeroed, and are excluded with ``where``).


def _masked_mean(x, keep, axis):
  count = jnp.sum(keep.astype(jnp.float32), axis=axis, keepdims=True)
  return jnp.sum(jnp.where(keep, x, 0.0), axis=axis, keepdims=True) / count


def _masked_cosine(y_true, y_pred, axis, keep):
  # Zeroed elements add nothing to the norms or the dot product.
  return _cosine(jnp.where(keep, y_true, 0.0), jnp.where(keep, y_pred, 0.0),
                 axis)


def _masked_pearson(y_true, y_pred, axis, keep):
  y_true = y_true - _masked_mean(y_true, keep, axis)
  y_pred = y_pred - _masked_mean(y_pred, keep, axis)
  y_true = y_true / jnp.sqrt(_masked_mean(jnp.square(y_true), keep, axis))
  y_pred = y_pred / jnp.sqrt(_masked_mean(jnp.square(y_pred), keep, axis))
  return jnp.squeeze(_masked_mean(y_true * y_pred, keep, axis), axis)


def _masked_concordance(y_true, y_pred, axis, keep):
  mean = lambda x: _masked_mean(x, keep, axis)
  variance = lambda x: mean(jnp.square(x - mean(x)))
  true_mean, pred_mean = mean(y_true), mean(y_pred)
  true_var = variance(y_true - true_mean)
  pred_var = variance(y_pred - pred_mean)
  covar = (y_true - pred_mean) * (y_pred - pred_mean)
  norm = true_var + pred_var + jnp.square(true_mean - pred_mean)
  return jnp.squeeze(mean(2.0 * covar / (norm + _EPSILON)), axis)


def mean_squared_error(y_true, y_pred) -> jax.Array:
  """Per-sample mean squared error, ``mean(square(y_true - y_pred), axis=-1)``.

  Args:
    y_true: ground truth values, shape ``(batch, d0, ..., dN)``.
    y_pred: predicted values of the same shape (a trailing axis of size 1 on
      either side is aligned as in Keras).

  Returns:
    float32 values of shape ``(batch, d0, ..., dN-1)``.

  Examples:
    >>> from jmetrics import mean_squared_error
    >>> mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).tolist()
    [0.5, 0.0]
  """
  return _mse(*_aligned("mean_squared_error", y_true, y_pred))


def mean_absolute_error(y_true, y_pred) -> jax.Array:
  """Per-sample mean absolute error, ``mean(abs(y_true - y_pred), axis=-1)``.

  Args:
    y_true: ground truth values, shape ``(batch, d0, ..., dN)``.
    y_pred: predicted values of the same shape.

  Returns:
    float32 values of shape ``(batch, d0, ..., dN-1)``.

  Examples:
    >>> from jmetrics import mean_absolute_error
    >>> mean_absolute_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]).tolist()
    [0.5, 0.0]
  """
  return _mae(*_aligned("mean_absolute_error", y_true, y_pred))


def mean_absolute_percentage_error(y_true, y_pred) -> jax.Array:
  """Per-sample ``100 * mean(abs((y_true - y_pred) / y_true), axis=-1)``.

  As in Keras, ``abs(y_true)`` is clipped below at ``1e-7`` so a zero target
  gives a large finite error instead of ``inf``.

  Args:
    y_true: ground truth values, shape ``(batch, d0, ..., dN)``.
    y_pred: predicted values of the same shape.

  Returns:
    float32 values of shape ``(batch, d0, ..., dN-1)``.

  Examples:
    >>> from jmetrics import mean_absolute_percentage_error
    >>> mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 5.0]]).tolist()
    [37.5]
  """
  return _mape(*_aligned("mean_absolute_percentage_error", y_true, y_pred))


def mean_squared_logarithmic_error(y_true, y_pred) -> jax.Array:
  """Per-sample ``mean(square(log(y_pred + 1) - log(y_true + 1)), axis=-1)``.

  As in Keras, values below ``1e-7`` (negatives included) are clipped to
  ``1e-7`` before the logarithm.

  Args:
    y_true: ground truth values, shape ``(batch, d0, ..., dN)``.
    y_pred: predicted values of the same shape.

  Returns:
    float32 values of shape ``(batch, d0, ..., dN-1)``.

  Examples:
    >>> import numpy as np
    >>> from jmetrics import mean_squared_logarithmic_error
    >>> value = mean_squared_logarithmic_error([[np.e - 1.0]], [[0.0]])
    >>> round(float(value[0]), 5)
    1.0
  """
  return _msle(*_aligned("mean_squared_logarithmic_error", y_true, y_pred))


def log_cosh(y_true, y_pred) -> jax.Array:
  """Per-sample ``mean(log(cosh(y_pred - y_true)), axis=-1)``, overflow-free.

  Args:
    y_true: ground truth values, shape ``(batch, d0, ..., dN)``.
    y_pred: predicted values of the same shape.

  Returns:
    float32 values of shape ``(batch, d0, ..., dN-1)``.

  Examples:
    >>> from jmetrics import log_cosh
    >>> [round(v, 5) for v in log_cosh([[0.0, 1.0], [0.0, 0.0]],
    ...                                [[1.0, 1.0], [0.0, 0.0]]).tolist()]
    [0.21689, 0.0]
  """
  return _log_cosh(*_aligned("log_cosh", y_true, y_pred))


def huber(y_true, y_pred, delta=1.0) -> jax.Array:
  """Per-sample Huber loss: quadratic below ``delta``, linear above.

  Args:
    y_true: ground truth values, shape ``(batch, d0, ..., dN)``.
    y_pred: predicted values of the same shape.
    delta: where the loss turns from quadratic to linear.

  Returns:
    float32 values of shape ``(batch, d0, ..., dN-1)``.

  Examples:
    >>> from jmetrics import huber
    >>> [round(v, 5) for v in huber([[0.0, 1.0], [0.0, 0.0]],
    ...                             [[0.6, 0.4], [0.4, 0.6]]).tolist()]
    [0.18, 0.13]
  """
  return _huber(*_aligned("huber", y_true, y_pred), delta)


def cosine_similarity(y_true, y_pred, axis=-1) -> jax.Array:
  """Cosine similarity of ``y_true`` and ``y_pred`` along ``axis``.

  The similarity itself (what `CosineSimilarity` averages), not the negated
  ``keras.losses.cosine_similarity``. A zero vector has similarity 0.

  Args:
    y_true: ground truth values.
    y_pred: predicted values of the same shape.
    axis: int or tuple of ints, the axes the vectors lie along.

  Returns:
    float32 values with ``axis`` reduced away.

  Examples:
    >>> from jmetrics import cosine_similarity
    >>> [round(v, 5) for v in cosine_similarity(
    ...     [[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
    ...     [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]]).tolist()]
    [0.0, 1.0, -1.0]
  """
  y_true, y_pred = _aligned("cosine_similarity", y_true, y_pred)
  return _cosine(y_true, y_pred,
                 _normalized_axis("cosine_similarity", axis, y_true.shape))


def pearson_correlation(y_true, y_pred, axis=-1) -> jax.Array:
  """Pearson correlation of ``y_true`` and ``y_pred`` along ``axis``.

  Population (``ddof=0``) standard deviations, as in Keras; a constant slice
  gives NaN.

  Args:
    y_true: ground truth values.
    y_pred: predicted values of the same shape.
    axis: int or tuple of ints, the axes each correlation is taken over.

  Returns:
    float32 values with ``axis`` reduced away.

  Examples:
    >>> from jmetrics import pearson_correlation
    >>> [round(v, 5) for v in pearson_correlation(
    ...     [[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]).tolist()]
    [1.0, 0.9934]
  """
  y_true, y_pred = _aligned("pearson_correlation", y_true, y_pred)
  return _pearson(y_true, y_pred,
                  _normalized_axis("pearson_correlation", axis, y_true.shape))


def concordance_correlation(y_true, y_pred, axis=-1) -> jax.Array:
  """Lin's concordance correlation of ``y_true`` and ``y_pred`` along ``axis``.

  ``2 cov / (var_true + var_pred + (mean_true - mean_pred)^2 + 1e-7)`` with
  population moments, as in Keras.

  Args:
    y_true: ground truth values.
    y_pred: predicted values of the same shape.
    axis: int or tuple of ints, the axes each coefficient is taken over.

  Returns:
    float32 values with ``axis`` reduced away.

  Examples:
    >>> from jmetrics import concordance_correlation
    >>> [round(v, 4) for v in concordance_correlation(
    ...     [[0, 1, 0.5], [1, 1, 0.2]], [[0.1, 0.9, 0.5], [1, 0.9, 0.2]]).tolist()]
    [0.9756, 0.9877]
  """
  y_true, y_pred = _aligned("concordance_correlation", y_true, y_pred)
  return _concordance(y_true, y_pred, _normalized_axis(
      "concordance_correlation", axis, y_true.shape))


# -- mean-of-samples metrics ---------------------------------------------------


class _ErrorMetric(reduction.SampleMeanMetric):
  """A sample mean of ``_fn(y_true, y_pred)`` over aligned inputs."""

  _fn = None
  _last_axis_reduction = "mean"  # every _fn is a mean over the last axis

  def values(self, y_true, y_pred):
    return type(self)._fn(*_aligned(type(self).__name__, y_true, y_pred))


class _AxisMetric(reduction.SampleMeanMetric):
  """A sample mean of ``_fn(y_true, y_pred, axis)`` over aligned inputs.

  ``_masked_fn(y_true, y_pred, axis, keep)`` is ``_fn`` over the elements
  where ``keep`` holds: `masked_update` needs it when ``axis`` covers the
  batch axis (1-D inputs, or ``axis=0``), so that padded rows are left out of
  the coefficients themselves.
  """

  _fn = None
  _masked_fn = None

  config_checks = {"axis": base.Check(
      _is_axis, "axis must be an int or a tuple of ints, got {value!r}")}

  def _aligned_axis(self, y_true, y_pred):
    who = type(self).__name__
    y_true, y_pred = _aligned(who, y_true, y_pred)
    return y_true, y_pred, _normalized_axis(who, self.axis, y_true.shape)

  def values(self, y_true, y_pred):
    return type(self)._fn(*self._aligned_axis(y_true, y_pred))

  def _reduces_batch_axis(self, y_true, y_pred, values) -> bool:
    _, _, axis = self._aligned_axis(y_true, y_pred)
    return 0 in (axis if isinstance(axis, tuple) else (axis,))

  def _masked_sample(self, y_true, y_pred, mask) -> jax.Array:
    y_true, y_pred, axis = self._aligned_axis(y_true, y_pred)
    keep = jnp.broadcast_to(base.row_mask(mask, y_true.ndim), y_true.shape)
    return type(self)._masked_fn(y_true, y_pred, axis, keep)


@base.metric_dataclass
class MeanSquaredError(_ErrorMetric):
  """Mean of `mean_squared_error` over samples, as ``keras.metrics.MeanSquaredError``.

  Per-sample values are ``mean(square(y_true - y_pred), axis=-1)`` (so 1-D
  inputs make the whole batch one sample, as in Keras), then averaged with
  optional sample weights. An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import MeanSquaredError
    >>> m = MeanSquaredError()
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.compute(state))
    0.25
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[1, 1], [0, 0]],
    ...                  sample_weight=[1, 0])
    >>> float(m.compute(state))
    0.5
  """

  name: str = "mean_squared_error"
  dtype: Any = None

  _fn = staticmethod(_mse)


@base.metric_dataclass
class RootMeanSquaredError(reduction.SampleMeanMetric):
  """Square root of the weighted mean squared error, as Keras' RootMeanSquaredError.

  Unlike `MeanSquaredError`, squared errors are averaged elementwise (a 1-D
  batch has one sample per element). An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import RootMeanSquaredError
    >>> m = RootMeanSquaredError()
    >>> state = m.update(m.init(), [2, 4, 6], [1, 3, 2])
    >>> round(float(m.compute(state)) ** 2, 5)
    6.0
    >>> state = m.update(m.init(), [2, 4, 6, 8], [1, 3, 2, 3],
    ...                  sample_weight=[0, 1, 0, 1])
    >>> round(float(m.compute(state)) ** 2, 5)
    13.0
  """

  name: str = "root_mean_squared_error"
  dtype: Any = None

  def values(self, y_true, y_pred):
    y_true, y_pred = _aligned(type(self).__name__, y_true, y_pred)
    return jnp.square(y_pred - y_true)

  def compute(self, state: reduction.MeanState) -> jax.Array:
    mean = arithmetic.divide_no_nan(wide.wide_value(state.total),
                                   wide.wide_value(state.count))
    return self.result_dtype(jnp.sqrt(mean))


@base.metric_dataclass
class MeanAbsoluteError(_ErrorMetric):
  """Mean of `mean_absolute_error` over samples, as ``keras.metrics.MeanAbsoluteError``.

  An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import MeanAbsoluteError
    >>> m = MeanAbsoluteError()
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.compute(state))
    0.25
  """

  name: str = "mean_absolute_error"
  dtype: Any = None

  _fn = staticmethod(_mae)


@base.metric_dataclass
class MeanAbsolutePercentageError(_ErrorMetric):
  """Mean `mean_absolute_percentage_error`, as Keras' MeanAbsolutePercentageError.

  A zero target counts as ``1e-7`` (Keras' rule), hence huge but finite
  errors. An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import MeanAbsolutePercentageError
    >>> m = MeanAbsolutePercentageError()
    >>> state = m.update(m.init(), [[2.0, 4.0], [1.0, 1.0]], [[1.0, 5.0], [1.0, 1.0]])
    >>> float(m.compute(state))
    18.75
  """

  name: str = "mean_absolute_percentage_error"
  dtype: Any = None

  _fn = staticmethod(_mape)


@base.metric_dataclass
class MeanSquaredLogarithmicError(_ErrorMetric):
  """Mean `mean_squared_logarithmic_error`, as Keras' MeanSquaredLogarithmicError.

  An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import MeanSquaredLogarithmicError
    >>> m = MeanSquaredLogarithmicError()
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.compute(state)), 5)
    0.12011
  """

  name: str = "mean_squared_logarithmic_error"
  dtype: Any = None

  _fn = staticmethod(_msle)


@base.metric_dataclass
class LogCoshError(_ErrorMetric):
  """Mean of `log_cosh` over samples, as ``keras.metrics.LogCoshError``.

  An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import LogCoshError
    >>> m = LogCoshError()
    >>> state = m.update(m.init(), [[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.compute(state)), 5)
    0.10845
  """

  name: str = "logcosh"
  dtype: Any = None

  _fn = staticmethod(_log_cosh)


@base.metric_dataclass
class CosineSimilarity(_AxisMetric):
  """Mean `cosine_similarity` along ``axis``, as ``keras.metrics.CosineSimilarity``.

  An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    axis: int or tuple of ints, the axes the vectors lie along.

  Raises:
    ValueError: at construction if ``axis`` is not an int or tuple of ints;
      at update if it is out of range for the inputs.

  Examples:
    >>> from jmetrics import CosineSimilarity
    >>> m = CosineSimilarity(axis=1)
    >>> state = m.update(m.init(), [[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
    >>> round(float(m.compute(state)), 5)
    0.5
    >>> state = m.update(m.init(), [[0.0, 1.0], [1.0, 1.0]],
    ...                  [[1.0, 0.0], [1.0, 1.0]], sample_weight=[0.3, 0.7])
    >>> round(float(m.compute(state)), 5)
    0.7
  """

  name: str = "cosine_similarity"
  dtype: Any = None
  axis: Any = -1

  _fn = staticmethod(_cosine)
  _masked_fn = staticmethod(_masked_cosine)


@base.metric_dataclass
class PearsonCorrelation(_AxisMetric):
  """Mean `pearson_correlation` along ``axis``, as ``keras.metrics.PearsonCorrelation``.

  As in Keras, the coefficient is computed within each sample (along
  ``axis``) and those per-sample coefficients are averaged over samples and
  batches; it is not one correlation of everything seen. A constant slice
  gives NaN. An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    axis: int or tuple of ints, the axes each correlation is taken over.

  Raises:
    ValueError: at construction if ``axis`` is not an int or tuple of ints;
      at update if it is out of range for the inputs.

  Examples:
    >>> from jmetrics import PearsonCorrelation
    >>> m = PearsonCorrelation(axis=-1)
    >>> state = m.update(m.init(), [[0, 1, 0.5], [1, 1, 0.2]],
    ...                  [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
    >>> round(float(m.compute(state)), 5)
    0.9967
  """

  name: str = "pearson_correlation"
  dtype: Any = None
  axis: Any = -1

  _fn = staticmethod(_pearson)
  _masked_fn = staticmethod(_masked_pearson)


@base.metric_dataclass
class ConcordanceCorrelation(_AxisMetric):
  """Mean `concordance_correlation` along ``axis``, as Keras' ConcordanceCorrelation.

  Per-sample coefficients (along ``axis``) averaged over samples and batches,
  like Keras. An empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    axis: int or tuple of ints, the axes each coefficient is taken over.

  Raises:
    ValueError: at construction if ``axis`` is not an int or tuple of ints;
      at update if it is out of range for the inputs.

  Examples:
    >>> from jmetrics import ConcordanceCorrelation
    >>> m = ConcordanceCorrelation(axis=-1)
    >>> state = m.update(m.init(), [[0, 1, 0.5], [1, 1, 0.2]],
    ...                  [[0.1, 0.9, 0.5], [1, 0.9, 0.2]])
    >>> round(float(m.compute(state)), 4)
    0.9816
  """

  name: str = "concordance_correlation"
  dtype: Any = None
  axis: Any = -1

  _fn = staticmethod(_concordance)
  _masked_fn = staticmethod(_masked_concordance)


# -- double-float arithmetic for R2Score ---------------------------------------
#
# A value is an unevaluated sum ``hi + lo`` of float32s (`wide.Wide`). wide.py
# has exact sums; R2's total sum of squares also needs products and a
# quotient. XLA contracts ``x * y + z`` into a fused multiply-add, which breaks
# the textbook error-free product (``p = fl(a * b)`` would be rounded in one
# place and fused away in another), so every multiply below whose result is
# reused is a product of 12-bit halves: exact, hence the same fused or not.

_SPLIT_MASK = np.uint32(0xFFFFF000)  # keeps the leading 12 significant bits


def _two_sum(a, b):
  """Knuth's error-free sum: ``s + e == a + b`` exactly."""
  s = a + b
  b_virtual = s - a
  return s, (a - (s - b_virtual)) + (b - b_virtual)


def _renormalize(hi, lo) -> wide.Wide:
  """``hi + lo`` as a non-overlapping pair, given ``|hi| >= |lo|``."""
  s = hi + lo
  return wide.Wide(s, lo - (s - hi))


def _split(a):
  """``a == hi + lo`` exactly, each with at most 12 significant bits."""
  # Masking mantissa bits (not Veltkamp's (2**12 + 1) * a) cannot overflow and
  # involves no multiply to contract.
  bits = jax.lax.bitcast_convert_type(a, jnp.uint32)
  hi = jax.lax.bitcast_convert_type(bits & _SPLIT_MASK, jnp.float32)
  return hi, a - hi


def _two_prod(a, b):
  """``a * b`` as a pair ``hi + lo``, to about 2**-46 relative error."""
  a_hi, a_lo = _split(a)
  b_hi, b_lo = _split(b)
  # Four exact partial products; only their sum rounds.
  cross, cross_err = _two_sum(a_hi * b_lo, a_lo * b_hi)
  p, e = _two_sum(a_hi * b_hi, cross)
  return _renormalize(p, e + (cross_err + a_lo * b_lo))


def _df_times_float(a: wide.Wide, b) -> wide.Wide:
  """``a * b`` for a double-float ``a`` and a float32 ``b``."""
  p, e = _two_prod(a.hi, b)
  return _renormalize(p, e + a.lo * b)


def _df_square(a: wide.Wide) -> wide.Wide:
  p, e = _two_prod(a.hi, a.hi)
  return _renormalize(p, e + 2.0 * a.hi * a.lo)


def _df_divide(a: wide.Wide, b: wide.Wide) -> wide.Wide:
  """``a / b``: a float32 quotient corrected by one step on the exact remainder."""
  q = a.hi / b.hi
  p, e = _two_prod(q, b.hi)
  remainder = (((a.hi - p) - e) + a.lo) - q * b.lo
  return _renormalize(q, remainder / b.hi)


def _df_subtract(a: wide.Wide, b: wide.Wide) -> wide.Wide:
  return wide.wide_merge(a, wide.Wide(-b.hi, -b.lo))


# -- R2Score -------------------------------------------------------------------


class R2ScoreState(NamedTuple):
  """Weighted per-output sums of `R2Score`, as double-float totals."""

  sum_weight: wide.Wide  # float32[num_outputs] pair: sum of w.
  sum_y: wide.Wide  # float32[num_outputs] pair: sum of w * y_true.
  sum_y2: wide.Wide  # float32[num_outputs] pair: sum of w * y_true^2.
  sum_residual: wide.Wide  # float32[num_outputs] pair: sum of w * (y_true - y_pred)^2.
  num_samples: wide.Wide  # float32[] pair: number of target values seen (Keras' n).


@base.metric_dataclass
class R2Score(base.Metric):
  """Coefficient of determination, as ``keras.metrics.R2Score``.

  Per output ``j`` (the last axis), ``R2_j = 1 - SS_res_j / SS_tot_j`` with
  weighted sums ``SS_res = sum(w (y_true - y_pred)^2)`` and
  ``SS_tot = sum(w (y_true - mean_w(y_true))^2)`` over everything seen. As in
  Keras, an output whose ``SS_tot`` is 0 scores 0 if it has residuals and NaN
  if it has none, and an empty state computes to NaN (Keras divides 0 by 0).

  Keras builds its variables from the first batch's last dimension; a
  fixed-shape state cannot wait for data, so the number of outputs is the
  extra keyword ``num_outputs`` (default 1, the usual single-target case), and
  an update whose last dimension differs raises a ``ValueError``.

  With ``num_regressors = p > 0`` the adjusted score
  ``1 - (1 - R2) (n - 1) / (n - p - 1)`` is returned, ``n`` being Keras'
  sample count: the number of target *values* seen (``batch * num_outputs``
  per update, zero-weighted ones included). Where Keras warns and falls back
  to the plain score (``p >= n - 1``) this returns the plain score too,
  silently: `compute` is pure and jit-able, so it cannot warn.

  The sums are kept and combined in double-float arithmetic (about 46
  significant bits), so the result stays accurate where Keras' float32
  ``sum(y^2) - sum(y) * mean`` cancels: ``SS_tot``'s relative error is about
  ``1e-14 * (mean / std)^2`` instead of ``1e-7 * (mean / std)^2``. For
  ``y ~ 1000 + N(0, 1)`` Keras is off by about 1e-2, this by about 1e-8.

  Args:
    class_aggregation: ``"uniform_average"`` (mean of the per-output scores),
      ``"variance_weighted_average"`` (mean weighted by each output's
      ``SS_tot``) or ``None`` (the per-output scores); scikit-learn's
      ``multioutput``.
    num_regressors: number of independent regressors for the adjusted R2; 0
      is the plain R2.
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    num_outputs: size of the last axis of ``y_true`` and ``y_pred`` (not a
      Keras argument: see above).

  Raises:
    ValueError: at construction for an unknown ``class_aggregation``, a
      negative ``num_regressors`` or a ``num_outputs`` below 1; at update for
      inputs that are not ``(batch, num_outputs)`` after Keras' rank
      alignment, or a ``sample_weight`` that does not broadcast to them.

  Examples:
    >>> import numpy as np
    >>> from jmetrics import R2Score
    >>> m = R2Score()
    >>> state = m.update(m.init(), np.array([[1.0], [4.0], [3.0]]),
    ...                  np.array([[2.0], [4.0], [4.0]]))
    >>> round(float(m.compute(state)), 5)
    0.57143
    >>> m = R2Score(class_aggregation=None, num_outputs=3)
    >>> y_true = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    >>> y_pred = [[0.4, 0.5, 0.6], [0.1, 0.2, 0.3], [0.5, 0.8, 0.2]]
    >>> [round(v, 3) for v in m(y_true, y_pred).tolist()]
    [0.37, -1.295, 0.565]
  """

  class_aggregation: Optional[str] = "uniform_average"
  num_regressors: int = 0
  name: str = "r2_score"
  dtype: Any = None
  _: dataclasses.KW_ONLY
  num_outputs: int = 1

  config_checks = {
      "class_aggregation": base.choice(
          _CLASS_AGGREGATIONS, message="class_aggregation must be one of "
          f"{_CLASS_AGGREGATIONS}, got {{value!r}}"),
      "num_regressors": base.integer(
          minimum=0, message="{name} must be an int >= 0, got {value!r}"),
      "num_outputs": base.integer(
          minimum=1, message="{name} must be an int >= 1, got {value!r}"),
  }

  def init(self) -> R2ScoreState:
    zeros = wide.wide_zeros((self.num_outputs,))
    return R2ScoreState(zeros, zeros, zeros, zeros, wide.wide_zeros())

  def update(self, state: R2ScoreState, y_true, y_pred,
             sample_weight=None) -> R2ScoreState:
    """Adds a batch of shape ``(batch, num_outputs)``.

    Args:
      state: the running state.
      y_true: targets, ``(batch, num_outputs)``; ``(batch,)`` is accepted
        when the other input is ``(batch, 1)``.
      y_pred: predictions of the same shape.
      sample_weight: ``None``, a scalar, per-sample ``(batch,)`` or
        ``(batch, 1)``, or per-value ``(batch, num_outputs)`` weights.

    Returns:
      The updated state.
    """
    return self._accumulate(state, y_true, y_pred, sample_weight, None)

  def masked_update(self, state: R2ScoreState, y_true, y_pred, *, mask,
                    sample_weight=None) -> R2ScoreState:
    """`update` of the rows where ``mask`` holds (see `Metric.masked_update`).

    A zero weight would not do: Keras' ``n`` (``num_samples``, used by the
    adjusted score) counts every target value, weighted 0 or not, and the
    unweighted ``sum(w)`` is a row count. Here masked rows add nothing to any
    sum and are left out of ``n``; counts stay exact integers.
    """
    mask = base.as_mask(self, mask, (y_true,))
    if mask.ndim == 0:
      return super().masked_update(state, y_true, y_pred, mask=mask,
                                   sample_weight=sample_weight)
    return self._accumulate(state, base.zero_masked_rows(y_true, mask),
                            base.zero_masked_rows(y_pred, mask), sample_weight,
                            mask)

  def _accumulate(self, state, y_true, y_pred, sample_weight, mask):
    """Adds a batch; ``mask`` (``(batch,)`` or None) drops rows."""
    true_shape, pred_shape = checks.shape_of(y_true), checks.shape_of(y_pred)
    y_true, y_pred = checks.as_float(y_true), checks.as_float(y_pred)
    y_true, y_pred = weighting.squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.ndim != 2 or y_true.shape != y_pred.shape:
      raise self.error(
          "expected y_true and y_pred of the same shape (batch_size, "
          f"num_outputs), got y_true {true_shape} and y_pred {pred_shape}")
    if y_true.shape[-1] != self.num_outputs:
      raise self.error(
          f"y_true and y_pred have {y_true.shape[-1]} outputs on their last "
          f"axis (shapes {true_shape} and {pred_shape}) but the metric has "
          f"num_outputs={self.num_outputs}; construct it with "
          f"R2Score(num_outputs={y_true.shape[-1]})")
    weight = None
    if sample_weight is not None:
      weight = checks.as_float(sample_weight)
      if weight.ndim == 1:
        weight = weight[:, None]  # per-sample weights, as Keras expands them
      checks.check_broadcast(self, "sample_weight", weight, y_true.shape)
      weight = jnp.broadcast_to(weight, y_true.shape)
    rows, num_values = y_true.shape[0], y_true.size
    if mask is not None:
      keep = jnp.broadcast_to(mask[:, None], y_true.shape)
      weight = jnp.where(keep, 1.0 if weight is None else weight, 0.0)
      rows = jnp.sum(mask.astype(jnp.int32))
      num_values = rows * self.num_outputs
    batch_weight, batch = _r2_batch_sums(y_true, y_pred, weight)
    if sample_weight is None:
      # Unweighted: sum(w) is the number of rows, added exactly.
      sum_weight = wide.wide_add_int(state.sum_weight, rows)
    else:
      sum_weight = wide.wide_merge(state.sum_weight, batch_weight)
    sums = [wide.wide_merge(total, wide.Wide(batch.hi[i], batch.lo[i]))
            for i, total in enumerate(state[1:4])]
    num_samples = wide.wide_add_int(state.num_samples, num_values)
    return R2ScoreState(sum_weight, *sums, num_samples)

  def compute(self, state: R2ScoreState) -> jax.Array:
    """The (adjusted) R2: a scalar, or ``(num_outputs,)`` if not aggregated."""
    return self.result_dtype(_r2_compute(self, state))


# Jitted so that eager calls run one compiled kernel instead of dozens of
# dispatches; under an outer transformation they are inlined.
@jax.jit
def _r2_batch_sums(y_true, y_pred, weight):
  """Per-output sums of one batch: ``(sum_w or None, Wide[3, k])``.

  The Wide rows are sum(w y), sum(w y^2) and sum(w (y - y_pred)^2), each
  reduced over the batch with compensated sums.
  """
  # Keeps a producer's multiply (say ``y_true = a * b`` in the caller's jit)
  # from being fused into the splits below, where an FMA would make
  # ``hi + lo`` differ from the y_true the residual sees.
  y_true, weight = jax.lax.optimization_barrier((y_true, weight))
  residual = jnp.square(y_true - y_pred)
  zeros = jnp.zeros_like(y_true)
  if weight is None:
    # w = 1: sum(w) is the row count, added exactly by the caller.
    weighted_y, weighted_y2 = wide.Wide(y_true, zeros), _two_prod(y_true, y_true)
    rows, sum_weight = [], None
  else:
    weighted_y = _two_prod(weight, y_true)
    weighted_y2 = _df_times_float(weighted_y, y_true)
    residual = weight * residual
    rows = [wide.Wide(weight, zeros)]
  rows += [weighted_y, weighted_y2, wide.Wide(residual, zeros)]
  # One variadic reduction over the batch for all the sums.
  sums = wide.wide_sum(wide.Wide(jnp.stack([r.hi for r in rows]),
                                 jnp.stack([r.lo for r in rows])), axis=1)
  if weight is not None:
    sum_weight = wide.Wide(sums.hi[0], sums.lo[0])
    sums = wide.Wide(sums.hi[1:], sums.lo[1:])
  return sum_weight, sums


@functools.partial(jax.jit, static_argnums=0)
def _r2_compute(metric: R2Score, state: R2ScoreState) -> jax.Array:
  # SS_tot = sum(w y^2) - sum(w y)^2 / sum(w), cancelling only in double-float.
  ss_tot = _df_subtract(state.sum_y2,
                        _df_divide(_df_square(state.sum_y), state.sum_weight))
  ss_tot = wide.wide_value(ss_tot)
  raw = 1.0 - wide.wide_value(state.sum_residual) / ss_tot
  raw = jnp.where(jnp.isinf(raw), 0.0, raw)
  if metric.class_aggregation == "uniform_average":
    score = jnp.mean(raw)
  elif metric.class_aggregation == "variance_weighted_average":
    score = jnp.sum(ss_tot * raw) / jnp.sum(ss_tot)
  else:
    score = raw
  if metric.num_regressors:
    n = wide.wide_value(state.num_samples)
    p = float(metric.num_regressors)
    adjusted = 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)
    # Keras warns and falls back to the plain score when p >= n - 1.
    score = jnp.where(p < n - 1.0, adjusted, score)
  return score
