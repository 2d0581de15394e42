"""Regression metrics: errors, similarities, correlations and the R2 score.

Every metric follows its ``keras.metrics`` namesake (Keras 3) batch for batch.
All but `R2Score` average one value per sample, so they are
`reduction.SampleMeanMetric` subclasses that only say how a batch becomes
per-sample values; the module-level functions (`mean_squared_error`, ...) are
those per-sample values, as Keras exports them.

`R2Score` accumulates weighted moments per output. Its total sum of
squares, ``sum(w y^2) - sum(w y)^2 / sum(w)``, cancels catastrophically in
float32 when the targets' mean is large next to their spread (``y ~ 1000 +
N(0, 1)`` loses most digits; at 1e14 ``sum(y)^2`` overflows), and ``w y^2``
overflows for large weights. So the moments are taken about a reference
inside the data, with weights scaled by an exact power of two, in
double-float arithmetic: products are summed from exact partial products of
12-bit halves, each batch is reduced with compensated sums, states merge
(across devices too) by moving one state's moments to the other's reference,
and the final subtraction happens on ``hi + lo`` pairs (see `R2Score`).

The per-sample correlations centre each slice twice (the second mean
recovers what the float32 first one lost far from 0), so inputs offset by
1e15 keep float32 precision of their spread.

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


def _centered(x, mean):
  """``x`` minus its mean, ``mean`` the (plain or masked) keepdims mean.

  ``mean(x)`` in float32 of data far from 0 (``1e15 + N(0, 1e10)``) is off by
  many ulps of the offset, a bias that the products of the centred values
  turn into an error of ``bias^2 / var`` (about 4e-5 there). The
  differences ``x - first`` are exact (Sterbenz) and small, so a second mean
  of them recovers the bias to float32 precision of the spread.
  """
  # One value of the first mean for both uses: XLA may otherwise recompute
  # the reduction in another order for each consumer, and the correction
  # would correct a different mean from the one subtracted.
  first = jax.lax.optimization_barrier(mean(x))
  x = x - first
  return x - mean(x)


def _power_of_two_scale(x, largest):
  """``x * 2**-e`` with ``2**e <= largest < 2**(e + 1)``: exact, and squares
  of the result cannot overflow. ``largest`` is 0 for an all-zero slice."""
  exponent = _floor_log2(jnp.where(largest > 0, largest, 1.0))
  return _ldexp(x, -exponent)


def _pearson(y_true, y_pred, axis):
  mean = lambda x: jnp.mean(x, axis=axis, keepdims=True)  # pylint: disable=unnecessary-lambda-assignment
  y_true = _centered(y_true, mean)
  y_pred = _centered(y_pred, mean)
  # The coefficient does not change under scaling either input, so each is
  # scaled by a power of two (exactly) before it is squared: spreads beyond
  # 1e19 would overflow float32 squares.
  largest = lambda x: jnp.max(jnp.abs(x), axis=axis, keepdims=True)  # pylint: disable=unnecessary-lambda-assignment
  y_true = _power_of_two_scale(y_true, largest(y_true))
  y_pred = _power_of_two_scale(y_pred, largest(y_pred))
  y_true = y_true / jnp.std(y_true, axis=axis, keepdims=True)
  y_pred = y_pred / jnp.std(y_pred, axis=axis, keepdims=True)
  return jnp.mean(y_true * y_pred, axis=axis)


def _concordance_from(y_true, y_pred, mean):
  """Lin's coefficient per slice, ``mean`` the (plain or masked) keepdims mean."""
  # mean(y_true) - mean(y_pred) of two float32 means far from 0 is off by
  # an ulp of the offset; the differences are exact where the two are close.
  mean_gap = mean(y_true - y_pred)
  y_true = _centered(y_true, mean)
  y_pred = _centered(y_pred, mean)
  true_var = mean(jnp.square(y_true))
  pred_var = mean(jnp.square(y_pred))
  # Keras writes the covariance as mean((y_true - pred_mean) * (y_pred -
  # pred_mean)), which equals mean(centred * centred) exactly but, far from
  # 0, multiplies the means' rounding error into it.
  covar = mean(y_true * y_pred)
  norm = true_var + pred_var + jnp.square(mean_gap)
  return 2.0 * covar / (norm + _EPSILON)


def _concordance(y_true, y_pred, axis):
  mean = lambda x: jnp.mean(x, axis=axis, keepdims=True)  # pylint: disable=unnecessary-lambda-assignment
  return jnp.squeeze(_concordance_from(y_true, y_pred, mean), axis)


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
  mean = lambda x: _masked_mean(x, keep, axis)  # pylint: disable=unnecessary-lambda-assignment
  y_true = _centered(y_true, mean)
  y_pred = _centered(y_pred, mean)
  largest = lambda x: jnp.max(jnp.abs(x), axis=axis, keepdims=True,  # pylint: disable=unnecessary-lambda-assignment
                              where=keep, initial=0.0)
  y_true = _power_of_two_scale(y_true, largest(y_true))
  y_pred = _power_of_two_scale(y_pred, largest(y_pred))
  y_true = y_true / jnp.sqrt(mean(jnp.square(y_true)))
  y_pred = y_pred / jnp.sqrt(mean(jnp.square(y_pred)))
  return jnp.squeeze(mean(y_true * y_pred), axis)


def _masked_concordance(y_true, y_pred, axis, keep):
  mean = lambda x: _masked_mean(x, keep, axis)  # pylint: disable=unnecessary-lambda-assignment
  return jnp.squeeze(_concordance_from(y_true, y_pred, mean), axis)


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


def _df_mul(a: wide.Wide, b: wide.Wide) -> wide.Wide:
  """``a * b`` for two double-floats."""
  p, e = _two_prod(a.hi, b.hi)
  return _renormalize(p, e + (a.hi * b.lo + a.lo * b.hi))


def _pow2(e):
  """``2**e`` exactly, for int32 ``e`` in [-126, 127], built from its bits."""
  # Not jnp.ldexp / exp2: those go through pow, which need not be exact.
  return jax.lax.bitcast_convert_type((e + 127) << 23, jnp.float32)


def _ldexp(x, e):
  """``x * 2**e`` for int32 ``e``: exact unless the result leaves float32's range."""
  # Three steps of at most 2**126 each reach every exponent a float32 result
  # can need; beyond that the result is 0 or inf anyway.
  e = jnp.clip(e, -378, 381)
  for _ in range(3):
    step = jnp.clip(e, -126, 127)
    x = x * _pow2(step)
    e = e - step
  return x


def _ldexp_wide(a: wide.Wide, e) -> wide.Wide:
  return wide.Wide(_ldexp(a.hi, e), _ldexp(a.lo, e))


def _floor_log2(x):
  """``floor(log2(x))`` of positive finite float32 ``x`` (subnormals included)."""
  _, exponent = jnp.frexp(x)  # x = m * 2**exponent with m in [0.5, 1)
  return exponent - 1


def _as_exponent(scale):
  """A float32 exponent field (-inf while empty) as int32, 0 where empty."""
  return jnp.where(jnp.isfinite(scale), scale, 0.0).astype(jnp.int32)


# -- R2Score -------------------------------------------------------------------


class R2ScoreState(NamedTuple):
  """Weighted per-output moments of `R2Score`, about a reference and scaled.

  The moments are taken about ``shift`` (close to the targets, so that
  ``SS_tot = sum_dy2 - sum_dy^2 / sum(w)`` does not cancel) and, to keep
  ``w (y - shift)^2`` inside float32's range for weights up to 1e38, every
  weight enters them as ``w * 2**-scale``; both are per output. An output
  that has seen no nonzero weight has ``shift == scale == -inf`` and zero
  moments. `R2Score.merge` first re-expresses both states on the larger
  ``scale`` (an exact power of two) and about the ``shift`` of the state
  that has it, then adds.
  """

  sum_weight: wide.Wide  # float32[num_outputs] pair: sum of w (not scaled).
  sum_dy: wide.Wide  # float32[num_outputs] pair: sum of w' (y_true - shift).
  sum_dy2: wide.Wide  # float32[num_outputs] pair: sum of w' (y_true - shift)^2.
  sum_residual: wide.Wide  # float32[num_outputs] pair: sum of w' (y_true - y_pred)^2.
  num_samples: wide.Wide  # float32[] pair: number of target values seen (Keras' n).
  shift: jax.Array  # float32[num_outputs]: the reference; -inf while empty.
  scale: jax.Array  # float32[num_outputs]: integer s, w' = w * 2**-s; -inf while empty.


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

  Numerics. Keras' float32 ``sum(w y^2) - sum(w y) * mean`` cancels when the
  targets' mean is large next to their spread (``y ~ 1000 + N(0, 1)`` is off
  by about 1e-2; at ``1e14 + N(0, 1e9)`` ``sum(y)^2`` overflows and the score
  is NaN), and ``w y^2`` overflows for large weights. Here:

  * the moments are taken about a reference per output, so they never hold
    the offset itself, and ``y - reference`` is exact. The reference is the
    midrange of the first batch's targets that carry its largest weight
    (all of them when unweighted), kept for later batches unless one brings
    weights a power of two larger: the largest weights decide where the
    weighted mean lies (with one weight of 1e30 it sits on that target, and
    moments about any other point would cancel);
  * weights enter the moments scaled by a power of two (the largest weight
    seen maps into [1, 2)), which is exact, so weights from 1e-30 to 1e30
    and beyond mix without overflow, until ``sum(w)`` itself leaves
    float32's range (a weight over 2**126 times smaller than the largest
    adds 0 to the moments, a share far below float32 resolution);
  * products are exact double-float products, every sum is a double-float
    (`wide.Wide`, about 46 significant bits) reduced with compensated sums,
    states merge (across devices too) by re-expressing one state's moments
    about the other's reference (Chan et al.'s shift, in double-float) and
    adding, and the final subtraction happens on double-floats.

  ``sum(w)`` and ``n`` are exact (integers below 2**47); ``SS_tot``'s
  relative error is about ``1e-14 * (1 + ((mean - reference) / std)^2)``,
  where the reference is within the data's range, so the score is float32
  rounding of scikit-learn's float64 value: measured within ~1e-7 relative
  (a few float32 ulps) for targets at offsets 1e14 and 1e15 with 1e6 values,
  one weight of 1e30, and weights spanning 1e-30..1e30, whether the data
  come in one batch, many, or merged states. The inputs themselves are
  float32: at an offset of 1e15 a target's ulp is 2**27 ~ 1.3e8, and the
  score is that of the float32 values. An update reads its targets twice
  (the midrange, then the moments).

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
    # A buffer per leaf, so that the state can be donated to a jit.
    outputs = (self.num_outputs,)
    empty = lambda: jnp.full(outputs, -jnp.inf, jnp.float32)  # pylint: disable=unnecessary-lambda-assignment
    return R2ScoreState(*(wide.wide_zeros(outputs) for _ in range(4)),
                        wide.wide_zeros(), empty(), empty())

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

  def merge(self, a: R2ScoreState, b: R2ScoreState) -> R2ScoreState:
    """Combines two states: both re-expressed about a common reference, added.

    The common scale is the larger of the two, the common reference that of
    the state with the larger scale (the larger reference on a tie): a
    lexicographic max, associative and commutative, which an empty state's
    -inf never wins. Re-expressing is exact up to double-float rounding, so
    merges are associative and commutative up to that rounding, and
    ``sum(w)`` and ``n`` add exactly.
    """
    base.check_state(self, "merge", a=a, b=b)
    return _r2_merge(a, b)

  def sync(self, state: R2ScoreState, axis_name) -> R2ScoreState:
    """`merge` across devices: two ``pmax`` of ``num_outputs`` values fix the
    common scale and reference, then the re-expressed totals are summed with
    one `wide.wide_psum` (a ``pmax`` and a ``psum``), all of state size."""
    base.check_state(self, "sync", state=state)
    shift, scale = _r2_common(state.shift, state.scale,
                              lambda x: jax.lax.pmax(x, axis_name))
    state = _r2_rebase(state, shift, scale)
    totals = [state.sum_weight, state.sum_dy, state.sum_dy2,
              state.sum_residual, wide.Wide(state.num_samples.hi[None],
                                            state.num_samples.lo[None])]
    flat = wide.wide_psum(
        wide.Wide(jnp.concatenate([t.hi for t in totals]),
                  jnp.concatenate([t.lo for t in totals])), axis_name)
    k = self.num_outputs
    parts = [wide.Wide(flat.hi[i * k:(i + 1) * k], flat.lo[i * k:(i + 1) * k])
             for i in range(4)]
    num_samples = wide.Wide(flat.hi[4 * k], flat.lo[4 * k])
    return R2ScoreState(*parts, num_samples, shift, scale)

  def merge_stacked(self, stacked: R2ScoreState, axis: int = 0) -> R2ScoreState:
    """Merges states stacked along ``axis``, as repeated `merge` would."""
    shift, scale = _r2_common(
        stacked.shift, stacked.scale,
        lambda x: jnp.max(x, axis=axis, keepdims=True))
    rebased = _r2_rebase(stacked, shift, scale)
    totals = [wide.wide_sum(t, axis) for t in rebased[:5]]
    return R2ScoreState(*totals, jnp.squeeze(shift, axis),
                        jnp.squeeze(scale, axis))

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
    batch_weight, sums, shift, scale = _r2_batch(y_true, y_pred, weight,
                                                 state.shift, state.scale)
    if sample_weight is None:
      # Unweighted: sum(w) is the number of rows, added exactly.
      batch_weight = wide.wide_add_int(wide.wide_zeros((self.num_outputs,)),
                                       rows)
    batch = R2ScoreState(
        batch_weight, *sums,
        wide.wide_add_int(wide.wide_zeros(), num_values), shift, scale)
    # The batch's moments are about the state's reference, or its own where
    # it brings larger weights; either way this is the common reference.
    return _r2_combine(state, batch, shift, jnp.maximum(state.scale, scale))

  def compute(self, state: R2ScoreState) -> jax.Array:
    """The (adjusted) R2: a scalar, or ``(num_outputs,)`` if not aggregated."""
    return self.result_dtype(_r2_compute(self, state))


def _r2_rebase(state: R2ScoreState, shift, scale) -> R2ScoreState:
  """``state``'s moments about ``shift`` and on ``scale`` (both broadcast).

  ``scale`` must be at least the state's own wherever it is not empty, so
  the rescaling only divides by a power of two; the shift adds
  ``d sum(w')`` to ``sum_dy`` and ``d (2 sum_dy + d sum(w'))`` to
  ``sum_dy2``, for ``d = state.shift - shift``, in double-float.
  """
  empty = state.shift == -jnp.inf
  step = jnp.where(empty, 0, _as_exponent(state.scale) - _as_exponent(scale))
  sum_dy, sum_dy2, sum_residual = (
      _ldexp_wide(t, step)
      for t in (state.sum_dy, state.sum_dy2, state.sum_residual))
  weight = _ldexp_wide(state.sum_weight, -_as_exponent(scale))
  # An empty state has nothing to move (and -inf - -inf would be NaN).
  d = wide.Wide(*_two_sum(jnp.where(empty, 0.0, state.shift),
                          -jnp.where(empty, 0.0, shift)))
  moved = _df_mul(d, weight)
  sum_dy2 = wide.wide_merge(sum_dy2, _df_mul(d, wide.wide_merge(
      wide.Wide(2.0 * sum_dy.hi, 2.0 * sum_dy.lo), moved)))
  sum_dy = wide.wide_merge(sum_dy, moved)
  shape = jnp.shape(sum_dy.hi)
  return R2ScoreState(state.sum_weight, sum_dy, sum_dy2, sum_residual,
                      state.num_samples, jnp.broadcast_to(shift, shape),
                      jnp.broadcast_to(scale, shape))


# Jitted so that eager calls run one compiled kernel instead of dozens of
# dispatches; under an outer transformation they are inlined.
def _r2_common(shift, scale, reduce_max):
  """The ``(shift, scale)`` a merge re-expresses its states on.

  The largest scale, and the largest shift among the states that have it:
  a lexicographic max, so associative and commutative, and an empty state's
  -inf never wins. The reference follows the largest weights because
  they decide where the weighted mean lies: with one weight of 1e30 the
  targets' weighted spread about it is tiny, and moments about any other
  point would cancel.
  """
  common_scale = reduce_max(scale)
  return reduce_max(jnp.where(scale == common_scale, shift, -jnp.inf)), common_scale


def _r2_combine(a: R2ScoreState, b: R2ScoreState, shift, scale) -> R2ScoreState:
  """``a + b`` about ``shift`` on ``scale`` (at least either state's scale)."""
  a, b = _r2_rebase(a, shift, scale), _r2_rebase(b, shift, scale)
  totals = [wide.wide_merge(x, y) for x, y in zip(a[:5], b[:5])]
  return R2ScoreState(*totals, shift, scale)


@jax.jit
def _r2_merge(a: R2ScoreState, b: R2ScoreState) -> R2ScoreState:
  pair_max = lambda x: jnp.max(x, axis=0)  # pylint: disable=unnecessary-lambda-assignment
  shift, scale = _r2_common(jnp.stack([a.shift, b.shift]),
                            jnp.stack([a.scale, b.scale]), pair_max)
  return _r2_combine(a, b, shift, scale)


@jax.jit
def _r2_batch(y_true, y_pred, weight, state_shift, state_scale):
  """One batch's moments: ``(sum_w or None, (Wide[k],) * 3, shift, scale)``.

  The moments are sum(w' u), sum(w' u^2) and sum(w' (y - y_pred)^2) for
  ``u = y - shift`` and ``w' = w * 2**-scale``, reduced over the batch with
  compensated sums. ``scale`` is ``floor(log2(max |w|))`` (0 unweighted);
  ``shift`` is the state's, unless the state is empty or the batch brings a
  larger scale: then the midrange of the targets that carry the batch's
  largest weight. Both are -inf for an output without a nonzero weight.
  """
  # Keeps a producer's multiply (say ``y_true = a * b`` in the caller's jit)
  # from being fused into the splits below, where an FMA would make
  # ``hi + lo`` differ from the y_true the residual sees.
  y_true, weight = jax.lax.optimization_barrier((y_true, weight))
  num_outputs = y_true.shape[1]
  inf = jnp.float32(jnp.inf)
  if weight is None:
    heaviest = None
    seen = jnp.full((num_outputs,), y_true.shape[0] > 0)
    scale = jnp.where(seen, 0.0, -inf)
  else:
    largest = jnp.max(jnp.abs(weight), axis=0, initial=0.0)
    heaviest = jnp.abs(weight) == largest
    seen = largest > 0
    scale = jnp.where(seen, _floor_log2(largest).astype(jnp.float32), -inf)
  # The reference must sit where the weighted mean is, in units of the
  # weighted spread: inside the data's range for ordinary weights, on the
  # target itself for one dominant weight. The midrange of the targets with
  # the largest weight is both, and needs only reductions (which shard like
  # the sums), where picking one target would need a gather.
  top = jnp.max(y_true, axis=0, where=heaviest, initial=-inf)
  bottom = jnp.min(y_true, axis=0, where=heaviest, initial=inf)
  midrange = jnp.where(seen, 0.5 * top + 0.5 * bottom, -inf)
  shift = jnp.where((scale > state_scale) | (state_shift == -inf), midrange,
                    state_shift)
  u = wide.Wide(*_two_sum(y_true, -jnp.where(shift == -inf, 0.0, shift)))
  residual = jnp.square(y_true - y_pred)
  zeros = jnp.zeros_like(y_true)
  if weight is None:
    weighted_u, weighted_u2 = u, _df_square(u)
    rows = []
  else:
    scaled = _ldexp(weight, -_as_exponent(scale))
    weighted_u = _df_times_float(u, scaled)
    weighted_u2 = _df_mul(weighted_u, u)
    residual = scaled * residual
    rows = [wide.Wide(weight, zeros)]
  rows += [weighted_u, weighted_u2, wide.Wide(residual, zeros)]
  # One variadic reduction over the batch for all the sums.
  sums = wide.wide_sum(wide.Wide(jnp.stack([r.hi for r in rows]),
                                 jnp.stack([r.lo for r in rows])), axis=1)
  sums = [wide.Wide(sums.hi[i], sums.lo[i]) for i in range(len(rows))]
  sum_weight = sums.pop(0) if weight is not None else None
  return sum_weight, tuple(sums), shift, scale


@functools.partial(jax.jit, static_argnums=0)
def _r2_compute(metric: R2Score, state: R2ScoreState) -> jax.Array:
  # SS_tot = sum_dy2 - sum_dy * (sum_dy / sum(w')), cancelling only in
  # double-float, and only as far as the reference is from the mean.
  weight = _ldexp_wide(state.sum_weight, -_as_exponent(state.scale))
  ss_tot = _df_subtract(state.sum_dy2, _df_mul(
      state.sum_dy, _df_divide(state.sum_dy, weight)))
  ss_tot = wide.wide_value(ss_tot)
  # Both sums carry the same 2**-scale, which the ratio cancels.
  raw = 1.0 - wide.wide_value(state.sum_residual) / ss_tot
  raw = jnp.where(jnp.isinf(raw), 0.0, raw)
  if metric.class_aggregation == "uniform_average":
    score = jnp.mean(raw)
  elif metric.class_aggregation == "variance_weighted_average":
    # Each output's SS_tot on the common scale of the largest weights.
    exponent = _as_exponent(state.scale)
    ss_tot = _ldexp(ss_tot, exponent - jnp.max(exponent))
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
