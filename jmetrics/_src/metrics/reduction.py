"""Reduction metrics: `Mean`, `Sum`, `MeanTensor` and `MeanMetricWrapper`.

`SampleMeanMetric` is the shared base of every metric that Keras builds as a
``MeanMetricWrapper`` (accuracies, cross-entropies, regression errors,
hinges): a subclass only says how to turn ``(y_true, y_pred)`` into one value
per sample.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from jmetrics._src import base
from jmetrics._src import kernels
from jmetrics._src.numerics import arithmetic
from jmetrics._src.numerics import checks
from jmetrics._src.numerics import weighting
from jmetrics._src.numerics import wide


class MeanState(NamedTuple):
  """Running weighted total and weight of a mean."""

  total: wide.Wide  # float32[] pair: sum of weighted values.
  count: wide.Wide  # float32[] pair: sum of weights (sample count if unweighted).


class SumState(NamedTuple):
  total: wide.Wide  # float32[] pair: sum of weighted values.


class MeanTensorState(NamedTuple):
  total: wide.Wide  # float32[*shape] pair: elementwise sum of weighted values.
  count: wide.Wide  # float32[*shape] pair: elementwise sum of weights.


def mean_init():
  return MeanState(wide.wide_zeros(), wide.wide_zeros())


def mean_update(metric, state: MeanState, values, sample_weight) -> MeanState:
  values, sample_weight = weighting.samplewise(
      metric, values, sample_weight, reduce_fn=jnp.mean)
  total = wide.wide_add(state.total, jnp.sum(values))
  if sample_weight is not None:
    count = wide.wide_add(state.count, jnp.sum(sample_weight))
  else:
    count = wide.wide_add_int(state.count, values.shape[0] if values.ndim else 1)
  return MeanState(total, count)


def masked_mean_update(metric, state: MeanState, values, sample_weight,
                        mask) -> MeanState:
  """`mean_update` of the rows of ``values`` where the ``(batch,)`` ``mask`` holds.

  Per-sample values and weights are built exactly as `mean_update` builds
  them; masked samples then add 0 to the total and the count (``where``,
  so NaN in a masked row never leaks). A scalar ``sample_weight`` makes the
  whole batch one sample in Keras; then that sample's value is the mean over
  the kept rows, and nothing is added if no row is kept.
  """
  if sample_weight is not None and np.ndim(sample_weight) == 0:
    per_row, _ = weighting.samplewise(metric, values, None, reduce_fn=jnp.mean)
    kept = jnp.sum(mask.astype(jnp.float32))
    sample = jnp.sum(jnp.where(mask, per_row, 0.0)) / jnp.maximum(kept, 1.0)
    return base.select(jnp.any(mask),
                       mean_update(metric, state, sample, sample_weight), state)
  values, sample_weight = weighting.samplewise(
      metric, values, sample_weight, reduce_fn=jnp.mean)
  total = wide.wide_add(state.total, jnp.sum(jnp.where(mask, values, 0.0)))
  if sample_weight is None:
    count = wide.wide_add_int(state.count, jnp.sum(mask.astype(jnp.int32)))
  else:
    count = wide.wide_add(state.count,
                          jnp.sum(jnp.where(mask, sample_weight, 0.0)))
  return MeanState(total, count)


def mean_compute(metric, state: MeanState):
  return metric.result_dtype(
      arithmetic.divide_no_nan(wide.wide_value(state.total), wide.wide_value(state.count)))


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
    return mean_init()

  def update(self, state: MeanState, values, sample_weight=None) -> MeanState:
    """Adds ``values`` (any shape, batch first) with optional weights."""
    return mean_update(self, state, values, sample_weight)

  def masked_update(self, state: MeanState, values, *, mask,
                    sample_weight=None) -> MeanState:
    """`update` of the rows of ``values`` where ``mask`` holds (see `Metric.masked_update`).

    Masked rows add nothing to the total or the count (which stays an
    exact integer when unweighted).
    """
    mask = base.as_mask(self, mask, (values,))
    if mask.ndim == 0:
      return super().masked_update(state, values, mask=mask,
                                   sample_weight=sample_weight)
    values = base.zero_masked_rows(checks.as_float(values), mask)
    return masked_mean_update(self, state, values, sample_weight, mask)

  def compute(self, state: MeanState) -> jax.Array:
    return mean_compute(self, state)


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

  config_checks = {"shape": base.shape(
      message="shape is required: the state has a fixed size, so it cannot be "
      "built from the first batch")}

  def init(self) -> MeanTensorState:
    return MeanTensorState(wide.wide_zeros(self.shape), wide.wide_zeros(self.shape))

  def update(self, state, values, sample_weight=None) -> MeanTensorState:
    values = checks.as_float(values)
    return self._accumulate(state, values, self._weight(values, sample_weight))

  def masked_update(self, state, values, *, mask,
                    sample_weight=None) -> MeanTensorState:
    """`update` of the entries of ``values`` where ``mask`` holds.

    ``values`` has no batch axis, so ``mask`` is a scalar (whether the update
    happens: how a device given a padding tensor stays out of the mean) or
    a prefix of ``shape`` (``(shape[0],)``: which rows of the tensor are
    updated), broadcast over the remaining axes. A masked entry adds nothing
    to its total or count; what it holds is never read.

    Examples:
      >>> import jmetrics as jm
      >>> m = jm.MeanTensor(shape=(2,))
      >>> state = m.update(m.init(), [1.0, 2.0])
      >>> state = m.masked_update(state, [9.0, 9.0], mask=False)
      >>> m.compute(state).tolist()
      [1.0, 2.0]
    """
    values = checks.as_float(values)
    mask = jnp.asarray(mask)
    mask = mask if mask.dtype == jnp.bool_ else mask != 0
    shape = tuple(self.shape)
    if mask.shape != shape[:mask.ndim]:
      raise self.error(f"mask of shape {mask.shape} must be a scalar or a "
                       f"prefix of shape {shape}")
    mask = base.row_mask(mask, len(shape))
    weight = self._weight(values, sample_weight)
    return self._accumulate(state, jnp.where(mask, values, 0.0),
                            jnp.where(mask, weight, 0.0))

  def _weight(self, values, sample_weight):
    """Float32 weights of ``values``' shape (which must be ``shape``)."""
    if values.shape != tuple(self.shape):
      raise self.error(f"expected values of shape {tuple(self.shape)}, got "
                       f"{values.shape}")
    weight = jnp.ones((), jnp.float32) if sample_weight is None else sample_weight
    checks.check_broadcast(self, "sample_weight", weight, values.shape)
    return jnp.broadcast_to(checks.as_float(weight), values.shape)

  def _accumulate(self, state, values, weight) -> MeanTensorState:
    return MeanTensorState(wide.wide_add(state.total,
                                         weighting.times_weight(values, weight)),
                           wide.wide_add(state.count, weight))

  def compute(self, state: MeanTensorState) -> jax.Array:
    return self.result_dtype(arithmetic.divide_no_nan(wide.wide_value(state.total),
                                           wide.wide_value(state.count)))


class RowRequest(NamedTuple):
  """What a per-sample metric takes from the statistics of its score rows.

  Metrics whose per-sample value comes from one pass over each row of class
  scores (argmax, the label's rank, the cross-entropy from logits) say so
  with `SampleMeanMetric.row_request`; in a `Collection`, members of equal
  ``made_by`` share one `kernels.row_statistics` call of the union of their
  ``outputs``.
  """

  scores: jax.Array  # (..., C) float32 scores
  labels: Optional[jax.Array]  # int32 class ids of scores.shape[:-1], or None
  outputs: tuple  # the `kernels.row_statistics` outputs the metric reads
  made_by: Hashable  # how scores and labels came from (y_true, y_pred)
  values: Callable  # {output: per-row array} -> the per-sample values


def _rows_together(steps) -> list:
  """One `kernels.row_statistics` call for every step's outputs."""
  requests = [step.payload[3] for step in steps]
  outputs = tuple(sorted({name for r in requests for name in r.outputs}))
  labels = next((r.labels for r in requests if r.labels is not None), None)
  stats = kernels.row_statistics(requests[0].scores, labels, outputs)
  return [mean_update(metric, state, request.values(stats), weights)
          for metric, state, weights, request in (s.payload for s in steps)]


class SampleMeanMetric(base.Metric):
  """Base of metrics that average a per-sample value (Keras' wrapper metrics).

  Subclasses implement ``values(y_true, y_pred)``, returning one value per
  sample (or per element, reduced by the mean over trailing axes); updates
  then follow ``keras.metrics.MeanMetricWrapper`` exactly. A subclass whose
  values come from per-row statistics of the scores also implements
  `row_request`, and its `values` starts with `row_values`.
  """

  # How `values` reduces the last axis of elementwise terms into a sample's
  # value ("mean" or "sum"), where it does. A 1-D batch is then one sample
  # (Keras' rule) that `masked_update` can still rebuild from the kept rows'
  # terms; None: the per-sample function does not split into per-row terms
  # (e.g. the last axis is a class axis).
  _last_axis_reduction = None

  def values(self, y_true, y_pred) -> jax.Array:
    raise NotImplementedError

  def sample_weights(self, y_true, y_pred, sample_weight):
    """The weights of the per-sample values: ``sample_weight`` as given,
    unless the metric folds a mask of its own into them (Keras'
    ``ignore_class``); `update` and `masked_update` both apply it."""
    del y_true, y_pred
    return sample_weight

  def init(self) -> MeanState:
    return mean_init()

  def row_request(self, y_true, y_pred) -> Optional[RowRequest]:
    """The row statistics these inputs' values come from, or None where
    `values` computes them otherwise (the default)."""
    del y_true, y_pred
    return None

  def row_values(self, y_true, y_pred) -> Optional[jax.Array]:
    """`values` from `row_request`'s statistics, or None where these inputs
    have no row request (the subclass then computes them directly)."""
    request = self.row_request(y_true, y_pred)
    if request is None:
      return None
    return request.values(kernels.row_statistics(request.scores, request.labels,
                                                 request.outputs))

  def update(self, state: MeanState, y_true, y_pred, sample_weight=None):
    step = self.shared_update(state, y_true, y_pred, sample_weight)
    if step is not None:
      return step.alone()
    sample_weight = self.sample_weights(y_true, y_pred, sample_weight)
    return mean_update(self, state, self.values(y_true, y_pred), sample_weight)

  def shared_update(self, state: MeanState, y_true, y_pred, sample_weight=None
                    ) -> Optional[base.SharedStep]:
    """`update` as a step sharing the statistics of the score rows with the
    members of a collection that read the same rows (see `jm.SharedStep`);
    None where `row_request` is."""
    if not base.written_for(type(self), "row_request", "values"):
      return None  # a subclass's own values are what the metric averages
    request = self.row_request(y_true, y_pred)
    if request is None:
      return None
    sample_weight = self.sample_weights(y_true, y_pred, sample_weight)
    return base.SharedStep(("row statistics", request.made_by), _rows_together,
                           (self, state, sample_weight, request))

  def masked_update(self, state: MeanState, y_true, y_pred, *, mask,
                    sample_weight=None) -> MeanState:
    """`update` of the rows where ``mask`` holds (see `Metric.masked_update`).

    A zero weight would not do: the unweighted count is a row count, and
    the unweighted semantics must stay unweighted (``ignore_class`` of
    `SparseCategoricalCrossentropy` counts ignored elements as Keras does
    without weights). So masked rows are zeroed before `values` sees them,
    and their per-sample values and weights (after `sample_weights`) are
    left out of the total and the count (an exact integer when unweighted).

    When `values` reduces the batch axis itself (1-D inputs, which Keras
    treats as one sample, or an ``axis`` that includes axis 0), the one
    sample is computed from the kept rows only, and nothing is added if no
    row is kept. For a per-sample function that is a mean or sum over the
    last axis, the kept rows' terms are recombined; the correlation metrics
    use masked moments. Other metrics (a 1-D batch of a categorical metric
    is one row of class scores, not rows) raise a ``ValueError``.

    Examples:
      >>> import jmetrics as jm
      >>> m = jm.MeanSquaredError()
      >>> state = m.masked_update(m.init(), [1.0, 2.0, 0.0], [1.0, 4.0, 9.0],
      ...                         mask=[True, True, False])
      >>> float(m.compute(state))  # one sample, (0 + 4) / 2, as Keras
      2.0
    """
    mask = base.as_mask(self, mask, (y_true,))
    if mask.ndim == 0:
      return super().masked_update(state, y_true, y_pred, mask=mask,
                                   sample_weight=sample_weight)
    y_true = base.zero_masked_rows(y_true, mask)
    y_pred = base.zero_masked_rows(y_pred, mask)
    sample_weight = self.sample_weights(y_true, y_pred, sample_weight)
    values = self.values(y_true, y_pred)
    if not self._reduces_batch_axis(y_true, y_pred, values):
      return masked_mean_update(self, state, values, sample_weight, mask)
    sample = self._masked_sample(y_true, y_pred, mask)
    return base.select(jnp.any(mask),
                       mean_update(self, state, sample, sample_weight), state)

  def _reduces_batch_axis(self, y_true, y_pred, values) -> bool:
    """Whether `values` of these inputs has no batch axis left (trace time)."""
    del y_true, y_pred
    return np.ndim(values) == 0

  def _masked_sample(self, y_true, y_pred, mask) -> jax.Array:
    """`values` of a batch-reducing update, from the rows ``mask`` keeps."""
    if self._last_axis_reduction is None:
      raise self.error(
          f"masked_update cannot leave rows out of y_true "
          f"{checks.shape_of(y_true)} and y_pred {checks.shape_of(y_pred)}: "
          "the per-sample function reduces the batch axis (a 1-D batch is "
          "one sample) and does not split into per-row terms; give the "
          "inputs a sample axis first")
    column = lambda x: x[:, None] if np.ndim(x) == 1 else x
    # One term per row: the per-sample function of a length-1 last axis.
    terms = self.values(column(y_true), column(y_pred))
    total = jnp.sum(jnp.where(mask, terms, 0.0))
    if self._last_axis_reduction == "sum":
      return total
    return total / jnp.maximum(jnp.sum(mask.astype(jnp.float32)), 1.0)

  def compute(self, state: MeanState) -> jax.Array:
    return mean_compute(self, state)


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

  config_checks = {"fn": base.Check(callable, "fn must be callable, got {value!r}")}

  def __init__(self, fn, name=None, dtype=None, **kwargs):
    self._set_config(fn=fn, name=name, dtype=dtype, fn_kwargs=kwargs)
    self.__post_init__()

  def values(self, y_true, y_pred):
    return self.fn(y_true, y_pred, **dict(self.fn_kwargs))


class ExtremumState(NamedTuple):
  """The largest (or smallest) value seen and how many values were seen."""

  value: jax.Array  # float32[]: the extremum; -inf (Max) / +inf (Min) if none.
  count: wide.Wide  # float32[] pair: number of values with nonzero weight.


class _Extremum(base.Metric):
  """Shared by `Max` and `Min`: the extremum of all values of nonzero weight."""

  _kind = base.MAX

  def _empty(self):
    return jnp.array(-jnp.inf if self._kind == base.MAX else jnp.inf, jnp.float32)

  def init(self) -> ExtremumState:
    return ExtremumState(self._empty(), wide.wide_zeros())

  def update(self, state: ExtremumState, values, sample_weight=None):
    """Takes the extremum of every element of ``values`` whose weight is nonzero.

    Args:
      state: the running state.
      values: values of any shape.
      sample_weight: ``None`` or weights broadcastable to ``values`` (after
        Keras' rank alignment; per-sample weights of shape ``(batch,)`` cover
        each sample's elements); elements of weight 0 are ignored.

    Returns:
      The new state.
    """
    values = checks.as_float(values)
    keep = jnp.ones(values.shape, bool)
    if sample_weight is not None:
      weight = checks.as_float(sample_weight)
      values, weight = weighting.squeeze_or_expand_to_same_rank(values, weight)
      if 0 < weight.ndim < values.ndim:  # Per-sample weights cover their elements.
        weight = weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim))
      checks.check_broadcast(self, "sample_weight", weight, values.shape)
      keep = jnp.broadcast_to(weight != 0, values.shape)
    reduce = jnp.max if self._kind == base.MAX else jnp.min
    combine = jnp.maximum if self._kind == base.MAX else jnp.minimum
    batch = reduce(jnp.where(keep, values, self._empty()), initial=self._empty())
    return ExtremumState(combine(state.value, batch),
                         wide.wide_add_int(state.count, jnp.sum(keep, dtype=jnp.int32)))

  def compute(self, state: ExtremumState) -> jax.Array:
    """The extremum (float32 scalar, or ``dtype``); 0 for an empty state."""
    return self.result_dtype(
        jnp.where(wide.wide_value(state.count) > 0, state.value, 0.0))

  def reductions(self):
    return ExtremumState(self._kind, base.SUM)


@base.metric_dataclass
class Max(_Extremum):
  """The largest value seen (elements of weight 0 ignored); 0 if none.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import Max
    >>> m = Max()
    >>> state = m.update(m.init(), [1.0, 7.0, 3.0], sample_weight=[1, 0, 1])
    >>> float(m.compute(state)), float(m.compute(m.init()))
    (3.0, 0.0)
  """

  name: str = "max"
  dtype: Any = None
  _kind = base.MAX


@base.metric_dataclass
class Min(_Extremum):
  """The smallest value seen (elements of weight 0 ignored); 0 if none.

  Args:
    name: key of the metric in collections and logs.
    dtype: dtype of the result (float32 if ``None``).

  Examples:
    >>> from jmetrics import Min
    >>> m = Min()
    >>> float(m.compute(m.update(m.init(), [4.0, -2.0, 3.0])))
    -2.0
  """

  name: str = "min"
  dtype: Any = None
  _kind = base.MIN
