"""Cross-entropies, KLDivergence and Poisson against Keras 3."""

import dataclasses
import inspect
import warnings

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jmetrics._src.metrics import probabilistic as P
from tests import harness

N = 16  # samples per batch; divisible by the 8 devices


def _probabilities(rng, shape):
  """Probabilities with exact 0s and 1s, so that clipping matters."""
  p = rng.uniform(size=shape).astype(np.float32)
  p[rng.random(shape) < 0.1] = 0.0
  p[rng.random(shape) < 0.1] = 1.0
  return p


def _logits(rng, shape):
  return (4.0 * rng.normal(size=shape)).astype(np.float32)


def _rows(shape, n):
  """``shape`` (its first axis the batch) with ``n`` rows."""
  return (n, *shape[1:])


def _binary(shape, logits=False, soft=False):
  def make(rng, n):
    rows = _rows(shape, n)
    if soft:
      y_true = rng.uniform(size=rows).astype(np.float32)
    else:
      y_true = rng.integers(0, 2, size=rows).astype(np.float32)
    y_pred = _logits(rng, rows) if logits else _probabilities(rng, rows)
    return y_true, y_pred
  return make


def _unnormalized(rng, shape):
  """Class scores that do not sum to 1, with zeros: Keras renormalises."""
  p = rng.uniform(0.0, 2.0, size=shape).astype(np.float32)
  p[rng.random(shape) < 0.15] = 0.0
  return p


def _labels(rng, shape, num_classes, ignore=None):
  labels = rng.integers(0, num_classes, size=shape)
  if ignore is not None:
    labels[rng.random(shape) < 0.3] = ignore
  return labels.astype(np.int32)


def _one_hot(labels, num_classes, axis=-1):
  return np.moveaxis(np.eye(num_classes, dtype=np.float32)[labels], -1, axis)


def _categorical(label_shape, num_classes, logits=False, axis=-1):
  """One-hot ``y_true`` with classes on ``axis``."""
  def make(rng, n):
    labels = _labels(rng, _rows(label_shape, n), num_classes)
    y_true = _one_hot(labels, num_classes, axis)
    pred = _logits if logits else _unnormalized
    return y_true, pred(rng, y_true.shape)
  return make


def _sparse(label_shape, num_classes, logits=False, axis=-1, ignore=None,
            trailing_one=False):
  def make(rng, n):
    rows = _rows(label_shape, n)
    labels = _labels(rng, rows, num_classes, ignore)
    pred_shape = list(rows)
    pred_shape.insert(axis % (len(rows) + 1), num_classes)
    pred = _logits if logits else _unnormalized
    y_true = labels[..., None] if trailing_one else labels
    return y_true, pred(rng, tuple(pred_shape))
  return make


def _distributions(shape):
  def make(rng, n):
    # Values below 0 and above 1 exercise both clipping bounds.
    rows = _rows(shape, n)
    return (rng.uniform(-0.1, 1.1, size=rows).astype(np.float32),
            rng.uniform(-0.1, 1.1, size=rows).astype(np.float32))
  return make


def _counts(shape):
  def make(rng, n):
    rows = _rows(shape, n)
    rates = rng.uniform(0.0, 4.0, size=rows).astype(np.float32)
    rates[rng.random(rows) < 0.1] = 0.0
    return rng.poisson(2.0, size=rows).astype(np.float32), rates
  return make


def _weights(shape):
  return lambda rng, args: rng.uniform(0.0, 2.0, size=shape).astype(np.float32)


class _ClassesLast:
  """Keras' metric on inputs whose class axis is moved last.

  Keras' JAX backend only accepts a class axis other than -1 for sparse labels
  when the shapes happen to line up, so the oracle for other shapes is the
  same computation with the classes moved to the last axis.
  """

  def __init__(self, metric, axis):
    self.metric, self.axis = metric, axis

  def update_state(self, y_true, y_pred, sample_weight=None):
    self.metric.update_state(y_true, np.moveaxis(y_pred, self.axis, -1),
                             sample_weight=sample_weight)

  def result(self):
    return self.metric.result()


K = keras.metrics

CASES = [
    # BinaryCrossentropy
    harness.Case("bce_probs", P.BinaryCrossentropy(), _binary((N, 4)),
                 keras=K.BinaryCrossentropy),
    harness.Case("bce_logits_smoothing",
                 P.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
                 _binary((N, 4), logits=True),
                 keras=lambda: K.BinaryCrossentropy(from_logits=True,
                                                    label_smoothing=0.1)),
    harness.Case("bce_3d_soft_labels_smoothing_weight_2d",
                 P.BinaryCrossentropy(label_smoothing=0.2),
                 _binary((N, 3, 4), soft=True),
                 keras=lambda: K.BinaryCrossentropy(label_smoothing=0.2),
                 make_weights=_weights((N, 3))),
    # CategoricalCrossentropy
    harness.Case("cce_probs", P.CategoricalCrossentropy(), _categorical((N,), 5),
                 keras=K.CategoricalCrossentropy),
    harness.Case("cce_3d_logits_smoothing",
                 P.CategoricalCrossentropy(from_logits=True, label_smoothing=0.3),
                 _categorical((N, 3), 5, logits=True),
                 keras=lambda: K.CategoricalCrossentropy(from_logits=True,
                                                         label_smoothing=0.3)),
    # Classes on axis 1 with smoothing: Keras divides by the last axis' size.
    harness.Case("cce_axis1_smoothing",
                 P.CategoricalCrossentropy(label_smoothing=0.2, axis=1),
                 _categorical((N, 3), 5, axis=1),
                 keras=lambda: K.CategoricalCrossentropy(label_smoothing=0.2,
                                                         axis=1)),
    # SparseCategoricalCrossentropy
    harness.Case("scce_probs_trailing_one", P.SparseCategoricalCrossentropy(),
                 _sparse((N,), 5, trailing_one=True),
                 keras=K.SparseCategoricalCrossentropy),
    harness.Case("scce_3d_logits",
                 P.SparseCategoricalCrossentropy(from_logits=True),
                 _sparse((N, 3), 5, logits=True),
                 keras=lambda: K.SparseCategoricalCrossentropy(from_logits=True)),
    harness.Case("scce_axis1", P.SparseCategoricalCrossentropy(
        from_logits=True, axis=1), _sparse((N, 3), 5, logits=True, axis=1),
                 keras=lambda: _ClassesLast(
                     K.SparseCategoricalCrossentropy(from_logits=True), 1)),
    # Square label maps, so that Keras itself takes axis=1.
    harness.Case("scce_axis1_ignore_class_weight_2d",
                 P.SparseCategoricalCrossentropy(ignore_class=0, axis=1),
                 _sparse((N, 4), 4, axis=1, ignore=0),
                 keras=lambda: K.SparseCategoricalCrossentropy(ignore_class=0,
                                                               axis=1),
                 make_weights=_weights((N, 4))),
    harness.Case("scce_ignore_void_logits", P.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=-1), _sparse((N,), 5, logits=True,
                                                    ignore=-1),
                 keras=lambda: K.SparseCategoricalCrossentropy(
                     from_logits=True, ignore_class=-1)),
    # Keras needs weights of the labels' rank here, or of shape (N, 1).
    harness.Case("scce_3d_ignore_class_weight_column",
                 P.SparseCategoricalCrossentropy(ignore_class=255),
                 _sparse((N, 3), 5, ignore=255),
                 keras=lambda: K.SparseCategoricalCrossentropy(ignore_class=255),
                 make_weights=_weights((N, 1))),
    # KLDivergence and Poisson
    harness.Case("kld", P.KLDivergence(), _distributions((N, 4)),
                 keras=K.KLDivergence),
    harness.Case("poisson_3d_weight_2d", P.Poisson(), _counts((N, 3, 4)),
                 keras=K.Poisson, make_weights=_weights((N, 3))),
]

ALGEBRA_CASES = [c for c in CASES if c.id in (
    "bce_logits_smoothing", "cce_axis1_smoothing",
    "scce_axis1_ignore_class_weight_2d", "poisson_3d_weight_2d")]


@pytest.fixture(autouse=True)
def _quiet_keras():
  # Keras warns when float64 inputs are truncated to float32 under JAX.
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    yield


@pytest.mark.parametrize("case", CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- values from Keras' own tests and docstrings -------------------------------

_BIN_TRUE = [[0, 1], [0, 0]]
_BIN_PRED = [[0.6, 0.4], [0.4, 0.6]]
_CAT_TRUE = [[0, 1, 0], [0, 0, 1]]
_CAT_PRED = [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]
_CAT_LOGITS = [[1, 9, 0], [1, 8, 1]]
_IGN_TRUE = [0, 1, 2]
_IGN_PRED = [[0.8, 0.1, 0.1], [0.05, 0.95, 0], [0.1, 0.8, 0.1]]
_KLD_TRUE = [[0.5, 0.8, 0.12], [0.7, 0.43, 0.8]]
_KLD_PRED = [[0.4, 0.9, 0.12], [0.36, 0.3, 0.4]]
_POI_TRUE = [[4, 8, 12], [8, 1, 3]]
_POI_PRED = [[1, 9, 2], [5, 2, 6]]

KERAS_VALUES = [
    # (metric, y_true, y_pred, sample_weight, Keras' value)
    (P.BinaryCrossentropy(), _BIN_TRUE, _BIN_PRED, None, 0.81492424),
    (P.BinaryCrossentropy(), _BIN_TRUE, _BIN_PRED, [1, 0], 0.9162905),
    (P.BinaryCrossentropy(), [[1, 0], [1, 0]], [[1, 1], [1, 0]], None, 3.9855),
    (P.BinaryCrossentropy(), [[1, 0], [1, 0]], [[1, 1], [1, 0]], [1.5, 2.0],
     3.4162),
    (P.BinaryCrossentropy(from_logits=True), [[1, 0, 1], [0, 1, 1]],
     [[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]], None, 3.333),
    (P.BinaryCrossentropy(from_logits=True), [[1, 0, 1], [0, 1, 1]],
     [[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]], [2.0, 2.5], 3.7037),
    (P.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), [[1, 0, 1]],
     [[10.0, -10.0, -10.0]], None, (10.0 + 5.0 * 0.1) / 3.0),
    (P.CategoricalCrossentropy(), _CAT_TRUE, _CAT_PRED, None, 1.1769392),
    (P.CategoricalCrossentropy(), _CAT_TRUE, _CAT_PRED, [0.3, 0.7], 1.6271976),
    (P.CategoricalCrossentropy(), _CAT_TRUE, _CAT_PRED, [1.5, 2.0], 1.338),
    (P.CategoricalCrossentropy(from_logits=True), _CAT_TRUE, _CAT_LOGITS, None,
     3.5011),
    (P.CategoricalCrossentropy(from_logits=True), _CAT_TRUE, _CAT_LOGITS,
     [1.5, 2.0], 4.0012),
    (P.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), _CAT_TRUE,
     _CAT_LOGITS, None, 3.667),
    (P.SparseCategoricalCrossentropy(), [1, 2], _CAT_PRED, None, 1.1769392),
    (P.SparseCategoricalCrossentropy(), [1, 2], _CAT_PRED, [0.3, 0.7],
     1.6271976),
    (P.SparseCategoricalCrossentropy(from_logits=True), [1, 2], _CAT_LOGITS,
     [1.5, 2.0], 4.0012),
    (P.SparseCategoricalCrossentropy(ignore_class=0), _IGN_TRUE, _IGN_PRED, None,
     0.78462),
    (P.SparseCategoricalCrossentropy(ignore_class=0), _IGN_TRUE, _IGN_PRED,
     [0.5, 1.5, 2.0], 1.33774646),
    (P.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0), _IGN_TRUE,
     [[10, 1, 1], [1, 9, 0], [1, 8, 1]], None, 2.33409),
    (P.KLDivergence(), _BIN_TRUE, _BIN_PRED, None, 0.45814306),
    (P.KLDivergence(), _BIN_TRUE, _BIN_PRED, [1, 0], 0.9162892),
    (P.Poisson(), _BIN_TRUE, [[1, 1], [0, 0]], None, 0.49999997),
    (P.Poisson(), _BIN_TRUE, [[1, 1], [0, 0]], [1, 0], 0.99999994),
]


@pytest.mark.parametrize("metric, y_true, y_pred, weight, expected",
                         KERAS_VALUES)
def test_values_from_keras(metric, y_true, y_pred, weight, expected):
  state = metric.update(metric.init(), np.asarray(y_true),
                        np.asarray(y_pred, np.float32), sample_weight=weight)
  np.testing.assert_allclose(float(metric.compute(state)), expected, atol=1e-3)


def _kld_expected(weights):
  """Keras' test formula: elementwise ``y log(y / p)``, weighted per sample."""
  y, p = np.asarray(_KLD_TRUE), np.asarray(_KLD_PRED)
  per_element = y * np.log(y / p) * np.asarray(weights)[:, None]
  return per_element.sum() / np.sum(weights)


def _poisson_expected(weights):
  y, p = np.asarray(_POI_TRUE, np.float64), np.asarray(_POI_PRED, np.float64)
  per_element = (p - y * np.log(p)) * np.asarray(weights)[:, None]
  return per_element.sum() / (3 * np.sum(weights))


@pytest.mark.parametrize("weights", [[1.0, 1.0], [1.2, 3.4]])
def test_kld_and_poisson_formulas_of_keras_tests(weights):
  kld, poisson = P.KLDivergence(), P.Poisson()
  column = np.asarray(weights, np.float32)[:, None]
  np.testing.assert_allclose(
      float(kld(_KLD_TRUE, _KLD_PRED, sample_weight=column)),
      _kld_expected(weights), atol=1e-3)
  np.testing.assert_allclose(
      float(poisson(_POI_TRUE, _POI_PRED, sample_weight=column)),
      _poisson_expected(weights), atol=1e-3)


# -- functional forms against keras.losses -------------------------------------


def _keras_fn(fn, *args, **kwargs):
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return np.asarray(fn(*args, **kwargs))


@pytest.mark.parametrize("kwargs", [
    {}, {"from_logits": True}, {"label_smoothing": 0.3}, {"axis": 1},
    {"from_logits": True, "label_smoothing": 0.1, "axis": 0}])
def test_binary_crossentropy_function(kwargs):
  rng = np.random.default_rng(1)
  y_true = rng.integers(0, 2, size=(8, 3, 4)).astype(np.float32)
  y_pred = (_logits(rng, (8, 3, 4)) if kwargs.get("from_logits")
            else _probabilities(rng, (8, 3, 4)))
  np.testing.assert_allclose(
      P.binary_crossentropy(y_true, y_pred, **kwargs),
      _keras_fn(keras.losses.binary_crossentropy, y_true, y_pred, **kwargs),
      rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    {}, {"from_logits": True}, {"label_smoothing": 0.2},
    {"from_logits": True, "label_smoothing": 0.2, "axis": 1}])
def test_categorical_crossentropy_function(kwargs):
  rng = np.random.default_rng(2)
  axis = kwargs.get("axis", -1)
  y_true = _one_hot(_labels(rng, (8, 3), 5), 5, axis)
  y_pred = (_logits if kwargs.get("from_logits") else _unnormalized)(
      rng, y_true.shape)
  np.testing.assert_allclose(
      P.categorical_crossentropy(y_true, y_pred, **kwargs),
      _keras_fn(keras.losses.categorical_crossentropy, y_true, y_pred, **kwargs),
      rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs, ignore", [
    ({}, None), ({"from_logits": True}, None),
    ({"ignore_class": 2}, 2), ({"from_logits": True, "ignore_class": -1}, -1),
    ({"ignore_class": 255}, 255)])
def test_sparse_categorical_crossentropy_function(kwargs, ignore):
  rng = np.random.default_rng(3)
  y_true = _labels(rng, (8, 3), 5, ignore)
  y_pred = (_logits if kwargs.get("from_logits") else _unnormalized)(
      rng, (8, 3, 5))
  expected = _keras_fn(keras.losses.sparse_categorical_crossentropy,
                       y_true, y_pred, **kwargs)
  np.testing.assert_allclose(
      P.sparse_categorical_crossentropy(y_true, y_pred, **kwargs), expected,
      rtol=1e-6, atol=1e-6)
  # Integer labels may come as floats with a trailing axis of 1.
  np.testing.assert_allclose(
      P.sparse_categorical_crossentropy(
          y_true[..., None].astype(np.float32), y_pred, **kwargs),
      expected, rtol=1e-6, atol=1e-6)


def test_sparse_labels_out_of_range_cost_nothing_as_in_keras():
  y_true = np.array([0, 5, -1, 1])
  y_pred = _unnormalized(np.random.default_rng(4), (4, 3))
  np.testing.assert_allclose(
      P.sparse_categorical_crossentropy(y_true, y_pred),
      _keras_fn(keras.losses.sparse_categorical_crossentropy, y_true, y_pred),
      rtol=1e-6)


@pytest.mark.parametrize("name", ["kl_divergence", "poisson"])
def test_kld_and_poisson_functions(name):
  rng = np.random.default_rng(5)
  y_true, y_pred = _distributions((8, 3, 4))(rng, 8)
  np.testing.assert_allclose(
      getattr(P, name)(y_true, y_pred),
      _keras_fn(getattr(keras.losses, name), y_true, y_pred),
      rtol=1e-6, atol=1e-6)


# -- Keras' per-update semantics -----------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_ignore_class_counts_ignored_labels_only_when_unweighted(weighted):
  """Keras' metric: unweighted, an ignored label is a zero loss in the mean;
  weighted, its weight is dropped."""
  y_true = np.array([0, 1, 2, 2])
  y_pred = _unnormalized(np.random.default_rng(6), (4, 3))
  weight = np.ones(4, np.float32) if weighted else None
  keras_metric = K.SparseCategoricalCrossentropy(ignore_class=2)
  keras_metric.update_state(y_true, y_pred, sample_weight=weight)
  metric = P.SparseCategoricalCrossentropy(ignore_class=2)
  state = jax.jit(metric.update)(metric.init(), y_true, y_pred, weight)
  np.testing.assert_allclose(metric.compute(state), keras_metric.result(),
                             rtol=1e-6)
  losses = _keras_fn(keras.losses.sparse_categorical_crossentropy, y_true, y_pred)
  expected = losses[:2].mean() if weighted else losses[:2].sum() / 4
  np.testing.assert_allclose(metric.compute(state), expected, rtol=1e-6)


def test_ignore_class_with_per_sample_weights_on_label_maps():
  """Keras only takes weights of the labels' shape here (a per-sample weight
  fails to broadcast); a per-sample weight equals that weight repeated over
  the sample's elements."""
  rng = np.random.default_rng(8)
  metric = P.SparseCategoricalCrossentropy(ignore_class=1)
  oracle = K.SparseCategoricalCrossentropy(ignore_class=1)
  update = jax.jit(metric.update)
  state = metric.init()
  for y_true, y_pred in (_sparse((N, 3), 4, ignore=1)(rng, N) for _ in range(3)):
    weight = rng.uniform(0.0, 2.0, size=N).astype(np.float32)
    state = update(state, y_true, y_pred, weight)
    oracle.update_state(y_true, y_pred,
                        sample_weight=np.repeat(weight[:, None], 3, axis=1))
  np.testing.assert_allclose(metric.compute(state), oracle.result(), rtol=1e-5)


@pytest.mark.parametrize("metric, keras_metric", [
    (P.BinaryCrossentropy(), K.BinaryCrossentropy),
    (P.KLDivergence(), K.KLDivergence),
    (P.Poisson(), K.Poisson)])
def test_1d_inputs_are_one_sample_per_update_as_in_keras(metric, keras_metric):
  rng = np.random.default_rng(7)
  batches = [_probabilities(rng, (2, 8)) for _ in range(3)]
  oracle = keras_metric()
  state = metric.init()
  for y_true, y_pred in batches:
    oracle.update_state(y_true, y_pred)
    state = metric.update(state, y_true, y_pred)
  np.testing.assert_allclose(metric.compute(state), oracle.result(), rtol=1e-6)
  assert float(oracle.count.value) == 3.0


# -- configuration -------------------------------------------------------------

PAIRS = [
    (P.BinaryCrossentropy, K.BinaryCrossentropy),
    (P.CategoricalCrossentropy, K.CategoricalCrossentropy),
    (P.SparseCategoricalCrossentropy, K.SparseCategoricalCrossentropy),
    (P.KLDivergence, K.KLDivergence),
    (P.Poisson, K.Poisson),
]


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_constructor_matches_keras(ours, theirs):
  keras_params = inspect.signature(theirs.__init__).parameters
  keras_params = {k: v.default for k, v in keras_params.items() if k != "self"}
  our_fields = {f.name: f.default for f in dataclasses.fields(ours)}
  assert list(our_fields) == list(keras_params)
  for key, default in keras_params.items():
    assert our_fields[key] == default, key
  metric = ours()
  assert metric == ours() and hash(metric) == hash(ours())
  assert float(metric.compute(metric.init())) == 0.0  # Keras: divide_no_nan


def test_positional_arguments_and_dtype():
  m = P.CategoricalCrossentropy("cce", "float16", True, 0.1, 1)
  assert (m.name, m.from_logits, m.label_smoothing, m.axis) == ("cce", True, 0.1, 1)
  value = m([[[1.0], [0.0]]], [[[2.0], [1.0]]])
  assert value.dtype == jnp.float16


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("factory, message", [
    (lambda: P.BinaryCrossentropy(label_smoothing=1.5),
     r"BinaryCrossentropy: label_smoothing must be a number in \[0, 1\], got 1.5"),
    (lambda: P.CategoricalCrossentropy(label_smoothing=-0.1),
     r"CategoricalCrossentropy: label_smoothing must be a number in \[0, 1\]"),
    (lambda: P.BinaryCrossentropy(label_smoothing="0.1"),
     r"label_smoothing must be a number in \[0, 1\], got '0.1'"),
    (lambda: P.CategoricalCrossentropy(axis=1.0),
     r"CategoricalCrossentropy: axis must be an int, got 1.0"),
    (lambda: P.SparseCategoricalCrossentropy(axis=True),
     r"SparseCategoricalCrossentropy: axis must be an int, got True"),
    (lambda: P.SparseCategoricalCrossentropy(ignore_class=1.5),
     r"SparseCategoricalCrossentropy: ignore_class must be an int or None, "
     r"got 1.5"),
])
def test_invalid_config_raises_at_construction(factory, message):
  with pytest.raises(ValueError, match=message):
    factory()


def test_functional_forms_check_their_config_too():
  with pytest.raises(ValueError, match="label_smoothing"):
    P.binary_crossentropy([[1.0]], [[0.5]], label_smoothing=2.0)


@pytest.mark.parametrize("metric, y_true, y_pred, message", [
    (P.BinaryCrossentropy(), (8,), (8, 1),
     r"BinaryCrossentropy: expected y_true and y_pred of the same shape, got "
     r"y_true \(8,\) and y_pred \(8, 1\)"),
    (P.CategoricalCrossentropy(), (8, 3), (8, 4),
     r"CategoricalCrossentropy: expected y_true and y_pred of the same shape, "
     r"got y_true \(8, 3\) and y_pred \(8, 4\)"),
    (P.CategoricalCrossentropy(axis=2), (8, 3), (8, 3),
     r"CategoricalCrossentropy: axis 2 is out of range for y_pred of shape "
     r"\(8, 3\)"),
    (P.SparseCategoricalCrossentropy(), (8, 2), (8, 3),
     r"SparseCategoricalCrossentropy: expected y_true of shape \(8,\) .*got "
     r"y_true \(8, 2\) and y_pred \(8, 3\)"),
    (P.SparseCategoricalCrossentropy(axis=1), (8, 3), (8, 3, 5),
     r"SparseCategoricalCrossentropy: expected y_true of shape \(8, 5\) .*got "
     r"y_true \(8, 3\) and y_pred \(8, 3, 5\)"),
    (P.SparseCategoricalCrossentropy(axis=-3), (8,), (8, 3),
     r"SparseCategoricalCrossentropy: axis -3 is out of range for y_pred of "
     r"shape \(8, 3\)"),
    (P.SparseCategoricalCrossentropy(), (), (),
     r"SparseCategoricalCrossentropy: expected y_pred with at least 1 "
     r"dimension\(s\), got shape \(\)"),
    (P.KLDivergence(), (8, 3), (8, 1, 3),
     r"KLDivergence: expected y_true and y_pred of the same shape, got y_true "
     r"\(8, 3\) and y_pred \(8, 1, 3\)"),
    (P.Poisson(), (), (),
     r"Poisson: expected y_pred with at least 1 dimension\(s\), got shape \(\)"),
])
def test_bad_shapes_raise_at_trace_time(metric, y_true, y_pred, message):
  update = jax.jit(metric.update)
  with pytest.raises(ValueError, match=message):
    update(metric.init(), jnp.zeros(y_true), jnp.zeros(y_pred))


def test_bad_sample_weight_with_ignore_class_names_the_weight():
  metric = P.SparseCategoricalCrossentropy(ignore_class=0)
  with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy: "
                     r"sample_weight of shape \(3, 1\) does not broadcast to "
                     r"shape \(8, 2\)"):
    metric.update(metric.init(), jnp.zeros((8, 2)), jnp.ones((8, 2, 4)),
                  sample_weight=jnp.ones(3))
