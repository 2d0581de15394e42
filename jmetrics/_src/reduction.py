"""Reduction metrics: `Mean`, `Sum`, `MeanTensor` and `MeanMetricWrapper`.

`SampleMeanMetric` is the shared base of every metric that Keras builds as a
``MeanMetricWrapper`` (accuracies, cross-entropies, regression errors,
hinges): a subclass only says how to turn ``(y_true, y_pred)`` into one value
per sample.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jmetrics._src import base
from jmetrics._src import checks
from jmetrics._src import weighting
from jmetrics._src import wide


class MeanState(NamedTuple):
  """Running weighted total and weight of a mean."""

  total: wide.Wide  # float32[] pair: sum of weighted values.
  count: wide.Wide  # float32[] pair: sum of weights (sample count if unweighted).


class SumState(NamedTuple):
  total: wide.Wide  # float32[] pair: sum of weighted values.


class MeanTensorState(NamedTuple):
  total: wide.Wide  # float32[*shape] pair: elementwise sum of weighted values.
  count: wide.Wide  # float32[*shape] pair: elementwise sum of weights.


def divide_no_nan(numerator, denominator):
  """``numerator / denominator``, 0 where the denominator is 0 (Keras' rule)."""
  safe = jnp.where(denominator == 0, 1.0, denominator)
  return jnp.where(denominator == 0, 0.0, numerator / safe)


def _mean_init():
  return MeanState(wide.wide_zeros(), wide.wide_zeros())


def _mean_update(metric, state: MeanState, values, sample_weight) -> MeanState:
  values, sample_weight = weighting.samplewise(
      metric, values, sample_weight, reduce_fn=jnp.mean)
  total = wide.wide_add(state.total, jnp.sum(values))
  if sample_weight is not None:
    count = wide.wide_add(state.count, jnp.sum(sample_weight))
  else:
    count = wide.wide_add_int(state.count, values.shape[0] if values.ndim else 1)
  return MeanState(total, count)


def _mean_compute(metric, state: MeanState):
  return metric.result_dtype(
      divide_no_nan(wide.wide_value(state.total), wide.wide_value(state.count)))


@base.metric_dataclass
class Mean(base.Metric):
  """The (weighted) mean of the given values.

  Values are reduced to one per sample (mean over trailing axes) and weighted
  as in ``keras.metrics.Mean``; an empty state computes to 0.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.Mean()
    >>> state = m.update(m.init(), [1, 3, 5, 7])
    >>> float(m.compute(state))
    4.0
    >>> state = m.update(m.init(), [1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.compute(state))
    2.0
  """

  name: str = "mean"
  dtype: Any = None

  def init(self) -> MeanState:
    return _mean_init()

  def update(self, state: MeanState, values, sample_weight=None) -> MeanState:
    """Adds ``values`` (any shape, batch first) with optional weights."""
    return _mean_update(self, state, values, sample_weight)

  def compute(self, state: MeanState) -> jax.Array:
    return _mean_compute(self, state)


@base.metric_dataclass
class Sum(base.Metric):
  """The (weighted) sum of the given values, as ``keras.metrics.Sum``.

  The total is kept as an exact `Wide` pair, so it keeps growing past 2**24
  where a float32 total would stall.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.Sum()
    >>> state = m.update(m.init(), [1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.compute(state))
    4.0
  """

  name: str = "sum"
  dtype: Any = None

  def init(self) -> SumState:
    return SumState(wide.wide_zeros())

  def update(self, state: SumState, values, sample_weight=None) -> SumState:
    values, _ = weighting.samplewise(self, values, sample_weight, reduce_fn=jnp.sum)
    return SumState(wide.wide_add(state.total, jnp.sum(values)))

  def compute(self, state: SumState) -> jax.Array:
    return self.result_dtype(wide.wide_value(state.total))


@base.metric_dataclass
class MeanTensor(base.Metric):
  """Elementwise (weighted) mean of tensors of a fixed ``shape``.

  The ``tf.keras.metrics.MeanTensor`` semantics: each update adds ``values``
  (of exactly ``shape``) times ``sample_weight`` (broadcast to ``shape``) to a
  running total and the weights to a running count; the result is their
  elementwise ratio (0 where nothing was counted). Unlike tf.keras, which
  builds its state from the first batch, ``shape`` is required so that
  ``init`` needs no data.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).
    shape: shape of every ``values`` passed to ``update``.

  Examples:
    >>> import jmetrics as jm
    >>> m = jm.MeanTensor(shape=(4,))
    >>> state = m.update(m.init(), [0, 1, 2, 3])
    >>> state = m.update(state, [4, 5, 6, 7])
    >>> m.compute(state).tolist()
    [2.0, 3.0, 4.0, 5.0]
  """

  name: str = "mean_tensor"
  dtype: Any = None
  shape: Any = None

  def validate(self):
    if self.shape is None:
      raise self.error("shape is required: the state has a fixed size, so it "
                       "cannot be built from the first batch")
    if isinstance(self.shape, int):
      object.__setattr__(self, "shape", (self.shape,))

  def init(self) -> MeanTensorState:
    return MeanTensorState(wide.wide_zeros(self.shape), wide.wide_zeros(self.shape))

  def update(self, state, values, sample_weight=None) -> MeanTensorState:
    values = checks.as_float(values)
    if values.shape != tuple(self.shape):
      raise self.error(f"expected values of shape {tuple(self.shape)}, got "
                       f"{values.shape}")
    weight = jnp.ones((), jnp.float32) if sample_weight is None else sample_weight
    checks.check_broadcast(self, "sample_weight", weight, values.shape)
    weight = jnp.broadcast_to(checks.as_float(weight), values.shape)
    return MeanTensorState(wide.wide_add(state.total, values * weight),
                           wide.wide_add(state.count, weight))

  def compute(self, state: MeanTensorState) -> jax.Array:
    return self.result_dtype(divide_no_nan(wide.wide_value(state.total),
                                           wide.wide_value(state.count)))


class SampleMeanMetric(base.Metric):
  """Base of metrics that average a per-sample value (Keras' wrapper metrics).

  Subclasses implement ``values(y_true, y_pred)``, returning one value per
  sample (or per element, reduced by the mean over trailing axes); updates
  then follow ``keras.metrics.MeanMetricWrapper`` exactly.
  """

  def values(self, y_true, y_pred) -> jax.Array:
    raise NotImplementedError

  def init(self) -> MeanState:
    return _mean_init()

  def update(self, state: MeanState, y_true, y_pred, sample_weight=None):
    return _mean_update(self, state, self.values(y_true, y_pred), sample_weight)

  def compute(self, state: MeanState) -> jax.Array:
    return _mean_compute(self, state)


@base.metric_dataclass
class MeanMetricWrapper(SampleMeanMetric):
  """Turns ``fn(y_true, y_pred, **kwargs)`` into a sample-weighted mean metric.

  ``fn`` returns one value per sample (trailing axes are averaged); the metric
  is the weighted mean of those values over all batches, as in
  ``keras.metrics.MeanMetricWrapper``. ``fn`` must be a traceable JAX
  function.

  Args:
    fn: the per-sample function.
    name: key of the metric (default ``"mean_metric_wrapper"``).
    dtype: dtype of the result.
    **kwargs: keyword arguments passed on to ``fn``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import jmetrics as jm
    >>> def squared_error(y_true, y_pred):
    ...   return jnp.mean((y_true - y_pred) ** 2, axis=-1)
    >>> m = jm.MeanMetricWrapper(squared_error, name="my_mse")
    >>> state = m.update(m.init(), jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]]))
    >>> float(m.compute(state))
    0.5
  """

  fn: Callable[..., Any] = None
  name: str = None
  dtype: Any = None
  fn_kwargs: tuple = ()

  def __init__(self, fn, name=None, dtype=None, **kwargs):
    object.__setattr__(self, "fn", fn)
    object.__setattr__(self, "name", name)
    object.__setattr__(self, "dtype", dtype)
    object.__setattr__(self, "fn_kwargs", kwargs)
    self.__post_init__()

  def validate(self):
    if not callable(self.fn):
      raise self.error(f"fn must be callable, got {self.fn!r}")

  def values(self, y_true, y_pred):
    return self.fn(y_true, y_pred, **dict(self.fn_kwargs))
