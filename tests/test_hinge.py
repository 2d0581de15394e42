"""Hinge, SquaredHinge and CategoricalHinge against Keras 3."""

import dataclasses
import inspect
import warnings

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jmetrics._src.metrics import hinge as H
from tests import harness

N = 16  # samples per batch; divisible by the 8 devices
K = keras.metrics


def _scores(rng, shape):
  return rng.normal(0.0, 1.5, size=shape).astype(np.float32)


def _rows(shape, n):
  """``shape`` (its first axis the batch) with ``n`` rows."""
  return (n, *shape[1:])


def _signed(shape, labels):
  """Labels drawn from ``labels`` ((0, 1) or (-1, 1)) and real scores."""
  def make(rng, n):
    rows = _rows(shape, n)
    return (rng.choice(np.asarray(labels, np.float32), size=rows),
            _scores(rng, rows))
  return make


def _real_labels(shape):
  """Labels in (-1, 1): never all 0 or 1, so never converted."""
  def make(rng, n):
    rows = _rows(shape, n)
    return (rng.uniform(-1.0, 1.0, size=rows).astype(np.float32),
            _scores(rng, rows))
  return make


def _one_hot(shape):
  def make(rng, n):
    rows = _rows(shape, n)
    labels = rng.integers(0, rows[-1], size=rows[:-1])
    return np.eye(rows[-1], dtype=np.float32)[labels], _scores(rng, rows)
  return make


def _weights(shape):
  return lambda rng, args: rng.uniform(0.0, 2.0, size=shape).astype(np.float32)


CASES = [
    harness.Case("hinge_binary_labels", H.Hinge(), _signed((N, 4), (0, 1)),
                 keras=K.Hinge),
    harness.Case("hinge_3d_signed_labels_weight_2d", H.Hinge(),
                 _signed((N, 3, 4), (-1, 1)), keras=K.Hinge,
                 make_weights=_weights((N, 3))),
    harness.Case("squared_hinge_binary_labels", H.SquaredHinge(),
                 _signed((N, 4), (0, 1)), keras=K.SquaredHinge),
    harness.Case("squared_hinge_3d_real_labels", H.SquaredHinge(),
                 _real_labels((N, 3, 4)), keras=K.SquaredHinge),
    harness.Case("categorical_hinge", H.CategoricalHinge(), _one_hot((N, 5)),
                 keras=K.CategoricalHinge),
    harness.Case("categorical_hinge_3d_weight_2d", H.CategoricalHinge(),
                 _one_hot((N, 3, 5)), keras=K.CategoricalHinge,
                 make_weights=_weights((N, 3))),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", CASES[::2], ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- values from Keras' own tests and docstrings -------------------------------

_DOC_TRUE = [[0, 1], [0, 0]]
_DOC_PRED = [[0.6, 0.4], [0.4, 0.6]]
_TEST_PRED = [[-0.3, 0.2, -0.1, 1.6], [-0.25, -1.0, 0.5, 0.6]]
_TEST_BINARY = [[0, 1, 0, 1], [0, 0, 1, 1]]
_TEST_SIGNED = [[-1, 1, -1, 1], [-1, -1, 1, 1]]
_CAT_TRUE = [[0, 1, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]]
_CAT_PRED = [[0, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]]

KERAS_VALUES = [
    # (metric, y_true, y_pred, sample_weight, Keras' value, atol)
    (H.Hinge(), _DOC_TRUE, _DOC_PRED, None, 1.3, 1e-6),
    (H.Hinge(), _DOC_TRUE, _DOC_PRED, [1, 0], 1.1, 1e-6),
    (H.Hinge(), _TEST_BINARY, _TEST_PRED, None, 0.506, 1e-3),
    (H.Hinge(), _TEST_SIGNED, _TEST_PRED, [1.5, 2.0], 0.493, 1e-3),
    (H.SquaredHinge(), _DOC_TRUE, _DOC_PRED, None, 1.86, 1e-6),
    (H.SquaredHinge(), _DOC_TRUE, _DOC_PRED, [1, 0], 1.46, 1e-6),
    (H.SquaredHinge(), _TEST_BINARY, _TEST_PRED, None, 0.364, 1e-3),
    (H.SquaredHinge(), _TEST_SIGNED, _TEST_PRED, [1.5, 2.0], 0.347, 1e-3),
    (H.CategoricalHinge(), _DOC_TRUE, _DOC_PRED, None, 1.4000001, 1e-6),
    (H.CategoricalHinge(), _DOC_TRUE, _DOC_PRED, [1, 0], 1.2, 1e-6),
    (H.CategoricalHinge(), _CAT_TRUE, _CAT_PRED, None, 0.5, 1e-5),
    (H.CategoricalHinge(), _CAT_TRUE, _CAT_PRED, [1.0, 1.5, 2.0, 2.5], 0.5,
     1e-5),
]


@pytest.mark.parametrize("metric, y_true, y_pred, weight, expected, atol",
                         KERAS_VALUES)
def test_values_from_keras(metric, y_true, y_pred, weight, expected, atol):
  state = metric.update(metric.init(), np.asarray(y_true),
                        np.asarray(y_pred, np.float32), sample_weight=weight)
  np.testing.assert_allclose(float(metric.compute(state)), expected, atol=atol)


# -- functional forms against keras.losses -------------------------------------


@pytest.mark.parametrize("name", ["hinge", "squared_hinge", "categorical_hinge"])
@pytest.mark.parametrize("labels", [(0, 1), (-1, 1), (-1, 0, 1)])
def test_functions_match_keras_losses(name, labels):
  rng = np.random.default_rng(1)
  y_true = rng.choice(np.asarray(labels, np.float32), size=(8, 3, 4))
  y_pred = _scores(rng, (8, 3, 4))
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    expected = np.asarray(getattr(keras.losses, name)(y_true, y_pred))
  np.testing.assert_allclose(getattr(H, name)(y_true, y_pred), expected,
                             rtol=1e-6, atol=1e-6)


# -- Keras' per-update semantics -----------------------------------------------


@pytest.mark.parametrize("metric, keras_metric", [
    (H.Hinge(), K.Hinge), (H.SquaredHinge(), K.SquaredHinge)])
def test_label_conversion_is_decided_per_update_as_in_keras(metric, keras_metric):
  """{0, 1} labels become {-1, 1} only when the whole update is binary: a
  batch with a -1 among 0s and 1s is used as given."""
  y_pred = _scores(np.random.default_rng(2), (4, 3))
  binary = np.array([[0, 1, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0]], np.float32)
  mixed = binary.copy()
  mixed[0, 0] = -1.0
  oracle = keras_metric()
  update = jax.jit(metric.update)
  state = metric.init()
  for y_true in (binary, mixed):
    oracle.update_state(y_true, y_pred)
    state = update(state, y_true, y_pred)
  np.testing.assert_allclose(metric.compute(state), oracle.result(), rtol=1e-6)
  # The two updates differ only in one label, yet the values are far apart.
  assert abs(float(metric(binary, y_pred)) - float(metric(mixed, y_pred))) > 0.2


@pytest.mark.parametrize("metric, keras_metric", [
    (H.Hinge(), K.Hinge), (H.CategoricalHinge(), K.CategoricalHinge)])
def test_1d_inputs_are_one_sample_per_update_as_in_keras(metric, keras_metric):
  rng = np.random.default_rng(3)
  oracle, state = keras_metric(), metric.init()
  for _ in range(3):
    y_true = rng.integers(0, 2, size=8).astype(np.float32)
    y_pred = _scores(rng, (8,))
    oracle.update_state(y_true, y_pred)
    state = metric.update(state, y_true, y_pred)
  np.testing.assert_allclose(metric.compute(state), oracle.result(), rtol=1e-6)
  assert float(oracle.count.value) == 3.0


# -- configuration and errors --------------------------------------------------


@pytest.mark.parametrize("ours, theirs", [
    (H.Hinge, K.Hinge), (H.SquaredHinge, K.SquaredHinge),
    (H.CategoricalHinge, K.CategoricalHinge)])
def test_constructor_matches_keras(ours, theirs):
  keras_params = inspect.signature(theirs.__init__).parameters
  keras_params = {k: v.default for k, v in keras_params.items() if k != "self"}
  our_fields = {f.name: f.default for f in dataclasses.fields(ours)}
  assert our_fields == keras_params
  metric = ours(name="custom", dtype="float16")
  assert metric == ours("custom", "float16")
  assert hash(metric) == hash(ours("custom", "float16"))
  assert float(metric.compute(metric.init())) == 0.0  # Keras: divide_no_nan
  assert metric([[0.0, 1.0]], [[0.5, 0.5]]).dtype == jnp.float16


@pytest.mark.parametrize("metric", [H.Hinge(), H.SquaredHinge(),
                                    H.CategoricalHinge()])
@pytest.mark.parametrize("y_true, y_pred, message", [
    # Keras would broadcast these to (8, 8) and silently average that.
    ((8,), (8, 1), r"expected y_true and y_pred of the same shape, got y_true "
     r"\(8,\) and y_pred \(8, 1\)"),
    ((8, 3), (8, 4), r"expected y_true and y_pred of the same shape, got y_true "
     r"\(8, 3\) and y_pred \(8, 4\)"),
    ((), (), r"expected y_pred with at least 1 dimension\(s\), got shape \(\)"),
])
def test_bad_shapes_raise_at_trace_time(metric, y_true, y_pred, message):
  update = jax.jit(metric.update)
  with pytest.raises(ValueError, match=f"{type(metric).__name__}: {message}"):
    update(metric.init(), jnp.zeros(y_true), jnp.zeros(y_pred))


def test_bad_sample_weight_names_the_weight():
  metric = H.Hinge()
  with pytest.raises(ValueError, match=r"Hinge: sample_weight of shape \(3,\) "
                     r"does not broadcast to shape \(8,\)"):
    metric.update(metric.init(), jnp.zeros((8, 2)), jnp.ones((8, 2)),
                  sample_weight=jnp.ones(3))
