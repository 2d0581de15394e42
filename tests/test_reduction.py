"""Mean, Sum, MeanTensor, MeanMetricWrapper against Keras 3 and NumPy."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jmetrics as jm
from tests import harness


def _values(shape):
  """One input of ``shape``; its first axis (the batch) has ``n`` rows
  unless the metric has no batch axis (`MeanTensor`)."""
  def make(rng, n, batch_axis=True):
    rows = (n, *shape[1:]) if batch_axis else shape
    return (rng.normal(size=rows).astype(np.float32),)
  return make


def _tensor(shape):
  return lambda rng, n: _values(shape)(rng, n, batch_axis=False)


def _pairs(shape):
  def make(rng, n):
    rows = (n, *shape[1:])
    return (rng.normal(size=rows).astype(np.float32),
            rng.normal(size=rows).astype(np.float32))
  return make


def _squared_error(y_true, y_pred):
  return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def _scaled_abs_error(y_true, y_pred, scale=1.0):
  return scale * jnp.abs(y_true - y_pred)


def _mean_tensor_reference(batches):
  weights = [np.broadcast_to(1.0 if w is None else w, np.shape(v)) for (v,), w in batches]
  total = sum(np.asarray(v, np.float64) * w for ((v,), _), w in zip(batches, weights))
  count = sum(weights)
  return np.where(count == 0, 0.0, total / np.where(count == 0, 1, count))


CASES = [
    harness.Case("mean_1d", jm.Mean(), _values((16,)), keras=keras.metrics.Mean),
    harness.Case("mean_3d", jm.Mean(), _values((16, 3, 2)), keras=keras.metrics.Mean),
    harness.Case("mean_3d_weight_2d", jm.Mean(), _values((16, 3, 2)),
                 keras=keras.metrics.Mean,
                 make_weights=lambda rng, a: rng.uniform(0, 2, (16, 3)).astype(np.float32)),
    harness.Case("sum_1d", jm.Sum(), _values((16,)), keras=keras.metrics.Sum),
    harness.Case("sum_2d", jm.Sum(), _values((16, 5)), keras=keras.metrics.Sum),
    harness.Case("sum_2d_weight_2d", jm.Sum(), _values((16, 5)),
                 keras=keras.metrics.Sum,
                 make_weights=lambda rng, a: rng.uniform(0, 2, (16, 5)).astype(np.float32)),
    harness.Case("wrapper_mse", jm.MeanMetricWrapper(_squared_error),
                 _pairs((16, 4)),
                 keras=lambda: keras.metrics.MeanMetricWrapper(_squared_error)),
    harness.Case("wrapper_kwargs", jm.MeanMetricWrapper(_scaled_abs_error, scale=3.0),
                 _pairs((16, 4)),
                 keras=lambda: keras.metrics.MeanMetricWrapper(_scaled_abs_error,
                                                               scale=3.0)),
    # MeanTensor's state is elementwise, so its batch axis is the tensor's.
    harness.Case("mean_tensor", jm.MeanTensor(shape=(16, 3)), _tensor((16, 3)),
                 reference=_mean_tensor_reference, batch_axis=False,
                 make_weights=lambda rng, a: rng.uniform(0, 2, (16, 1)).astype(np.float32)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", CASES, ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)
