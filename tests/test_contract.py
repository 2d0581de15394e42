"""The metric contract itself: configs, derived merge/sync, exact totals, get."""

import dataclasses
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jmetrics as jm
from jmetrics._src import base
from jmetrics._src.numerics import wide


# -- configs -----------------------------------------------------------------

def test_configs_are_frozen_hashable_and_compare_by_value():
  a, b = jm.Mean(name="loss"), jm.Mean(name="loss")
  assert a == b and hash(a) == hash(b)
  assert a != jm.Mean(name="other")
  with pytest.raises(dataclasses.FrozenInstanceError):
    a.name = "x"
  wrapper = jm.MeanMetricWrapper(jnp.subtract, scale=[1, 2])
  assert dict(wrapper.fn_kwargs) == {"scale": (1, 2)}  # lists frozen to tuples
  hash(wrapper)


def test_metric_is_a_static_pytree_and_equal_configs_share_a_compilation():
  traces = []

  @jax.jit
  def step(metric, state, values):
    traces.append(metric)
    return metric.update(state, values)

  assert jax.tree.leaves(jm.Mean()) == []
  state = step(jm.Mean(), jm.Mean().init(), jnp.ones(4))
  state = step(jm.Mean(), state, jnp.ones(4))  # a new but equal config: no retrace
  assert len(traces) == 1
  assert float(jm.Mean().compute(state)) == 1.0
  step(jm.Mean(name="other"), state, jnp.ones(4))
  assert len(traces) == 2


def test_metric_as_static_argnum_and_closure():
  update = jax.jit(lambda m, s, v: m.update(s, v), static_argnums=0)
  m = jm.Sum()
  state = update(m, m.init(), jnp.arange(4.0))
  closed = jax.jit(lambda s, v: m.update(s, v))
  state = closed(state, jnp.arange(4.0))
  assert float(m.compute(state)) == 12.0


def test_default_name_is_snake_case_of_the_class():
  assert jm.MeanMetricWrapper(jnp.subtract).name == "mean_metric_wrapper"
  assert base.snake_case("MeanIoU") == "mean_io_u"
  assert base.snake_case("KLDivergence") == "kl_divergence"


# -- a user-defined metric writes init/update/compute only -------------------

class _RangeState(NamedTuple):
  low: jax.Array   # float32[]: smallest value seen.
  high: jax.Array  # float32[]: largest value seen.
  count: wide.Wide  # float32[] pair: values seen.


@base.metric_dataclass
class _Range(base.Metric):
  name: str = "range"

  def init(self):
    return _RangeState(jnp.array(jnp.inf), jnp.array(-jnp.inf), wide.wide_zeros())

  def update(self, state, values, sample_weight=None):
    values = jnp.asarray(values, jnp.float32)
    return _RangeState(jnp.minimum(state.low, values.min()),
                       jnp.maximum(state.high, values.max()),
                       wide.wide_add_int(state.count, values.size))

  def compute(self, state):
    return state.high - state.low

  def reductions(self):
    return _RangeState(base.MIN, base.MAX, base.SUM)


def test_user_metric_gets_merge_sync_and_merge_stacked_from_reductions():
  metric = _Range()
  data = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
  expected = data.max() - data.min()
  merged = metric.init()
  for row in data:
    merged = metric.merge(merged, metric.update(metric.init(), row))
  np.testing.assert_allclose(metric.compute(merged), expected)

  per_device = jax.pmap(lambda v: metric.update(metric.init(), v))(data)
  np.testing.assert_allclose(metric.compute(metric.merge_stacked(per_device)),
                             expected)
  synced = jax.pmap(lambda v: metric.sync(metric.update(metric.init(), v), "d"),
                    axis_name="d")(data)
  np.testing.assert_allclose(synced.low, data.min())
  np.testing.assert_allclose(synced.high, data.max())
  assert float(wide.wide_value(jax.tree.map(lambda x: x[3], synced.count))) == 40


def test_unknown_reduction_kind_is_rejected():
  class Bad(_Range):
    def reductions(self):
      return "mean"

  with pytest.raises(ValueError, match="unknown reduction kind 'mean'"):
    Bad().merge(Bad().init(), Bad().init())


# -- exact totals ------------------------------------------------------------

def _exact(total: wide.Wide) -> int:
  return int(np.float64(total.hi)) + int(np.float64(total.lo))


def test_sum_keeps_counting_past_2_pow_24():
  metric = jm.Sum()
  update = jax.jit(metric.update)
  state = update(metric.init(), jnp.float32(2**24))
  for _ in range(10):
    state = update(state, jnp.float32(1.0))
  assert float(jax.jit(metric.compute)(state)) == 16777226.0
  # The float32 total this replaces stalls at 2**24.
  keras_sum = keras.metrics.Sum()
  keras_sum.update_state(np.float32(2**24))
  for _ in range(10):
    keras_sum.update_state(np.float32(1.0))
  assert float(keras_sum.result()) == 16777216.0


def test_count_past_2_pow_31_is_exact():
  metric = jm.Mean()
  update = jax.jit(metric.update)
  state = metric.init()
  for _ in range(2):  # 2**31 increments, a batch of 2**30 samples at a time
    state = update(state, jnp.zeros(1), sample_weight=jnp.float32(2**30))
  for _ in range(5):
    state = update(state, jnp.zeros(1))
  assert _exact(state.count) == 2**31 + 5


def test_integer_counts_add_merge_and_psum_exactly():
  counts = np.array([2**31 - 1, 2**31 - 1, 12345, 2**24 + 1], np.int64)
  total = wide.wide_zeros(4)
  for _ in range(8):
    total = jax.jit(wide.wide_add_int)(total, counts.astype(np.int32))
  assert [int(np.float64(h)) + int(np.float64(l))
          for h, l in zip(total.hi, total.lo)] == list(8 * counts)
  stacked = jax.tree.map(lambda x: jnp.stack([x] * 8), total)
  synced = jax.pmap(lambda t: wide.wide_psum(t, "d"), axis_name="d")(stacked)
  summed = wide.wide_sum(stacked)
  for result in (jax.tree.map(lambda x: x[0], synced), summed):
    assert [int(np.float64(h)) + int(np.float64(l))
            for h, l in zip(result.hi, result.lo)] == list(64 * counts)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_wide_merge_is_exact_in_any_order(increments, random):
  singles = [wide.wide_add_int(wide.wide_zeros(), n) for n in increments]
  random.shuffle(singles)
  total = wide.wide_zeros()
  for s in singles:
    total = wide.wide_merge(total, s)
  assert _exact(total) == sum(increments)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=64))
def test_wide_float_sums_are_far_closer_than_float32(values):
  total = wide.wide_zeros()
  for v in values:
    total = wide.wide_add(total, v)
  exact = float(np.sum(np.asarray(values, np.float64)))
  got = float(np.float64(total.hi) + np.float64(total.lo))
  assert abs(got - exact) <= 1e-9 * max(1.0, np.abs(values).sum())


# -- errors ------------------------------------------------------------------

def test_sample_weight_shape_error_names_metric_and_shapes():
  with pytest.raises(ValueError, match=r"Mean: sample_weight of shape \(3,\) "
                     r"does not broadcast to shape \(4,\)"):
    jax.jit(jm.Mean().update)(jm.Mean().init(), jnp.ones(4), jnp.ones(3))


def test_mean_tensor_requires_a_shape():
  with pytest.raises(ValueError, match="MeanTensor: shape is required"):
    jm.MeanTensor()
  with pytest.raises(ValueError, match=r"expected values of shape \(2,\), got \(3,\)"):
    m = jm.MeanTensor(shape=2)
    m.update(m.init(), jnp.ones(3))


# -- get ---------------------------------------------------------------------

def test_get_by_class_snake_and_short_name():
  assert jm.get("Mean") == jm.Mean()
  assert jm.get("sum") == jm.Sum()
  assert jm.get(None) is None
  metric = jm.Mean(name="m")
  assert jm.get(metric) is metric
  assert jm.get(jm.Sum) == jm.Sum()
  wrapped = jm.get(jnp.subtract)
  assert isinstance(wrapped, jm.MeanMetricWrapper) and wrapped.name == "subtract"


def test_get_unknown_name_lists_close_matches():
  with pytest.raises(ValueError, match=r"unknown metric 'meen'.*'mean'"):
    jm.get("meen")


def test_public_namespace():
  for name in jm.__all__:
    assert getattr(jm, name) is not None
  assert sorted(jm.__all__) == list(jm.__all__), "keep __all__ sorted"


def test_masked_update_takes_python_lists_without_a_jax_deprecation():
  y_true = [[1.0], [2.0], [3.0], [7.0]]
  y_pred = [[1.5], [2.0], [5.0], [0.0]]
  weights = [1.0, 2.0, 3.0, 4.0]
  mask = [True, True, True, False]
  for metric in (jm.MeanSquaredError(), jm.MeanAbsoluteError(), jm.R2Score()):
    with warnings.catch_warnings():
      warnings.simplefilter("error", DeprecationWarning)
      state = metric.masked_update(metric.init(), y_true, y_pred, mask=mask,
                                   sample_weight=weights)
    t, p, w = (np.asarray(a, np.float64)[:3].ravel()
               for a in (y_true, y_pred, weights))
    if isinstance(metric, jm.MeanSquaredError):
      expected = np.sum(w * (t - p) ** 2) / np.sum(w)
    elif isinstance(metric, jm.MeanAbsoluteError):
      expected = np.sum(w * np.abs(t - p)) / np.sum(w)
    else:
      mean = np.sum(w * t) / np.sum(w)
      expected = 1 - np.sum(w * (t - p) ** 2) / np.sum(w * (t - mean) ** 2)
    np.testing.assert_allclose(float(metric.compute(state)), expected,
                               rtol=1e-6)
