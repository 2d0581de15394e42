"""The accuracy family against Keras 3 (JAX backend) in every harness mode."""

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core
import keras
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jmetrics._src.metrics import accuracy as acc
from tests import harness

N = 16  # Batch size: divisible by the 8 devices of the pmap modes.



def _one_hot(rng, shape, dtype=np.float32):
  """One-hot labels of shape ``shape`` (classes last)."""
  return np.eye(shape[-1], dtype=dtype)[rng.integers(0, shape[-1], shape[:-1])]


def _tied_scores(rng, shape, levels=3):
  """Scores on a few levels, so that many classes tie."""
  return rng.integers(0, levels, shape).astype(np.float32)


def _signed_zeros(rng, shape):
  """Scores of +0.0, -0.0 and a few 1.0: argmax ties between signed zeros."""
  scores = np.where(rng.random(shape) < 0.5, -0.0, 0.0).astype(np.float32)
  scores[rng.random(shape) < 0.1] = 1.0
  return scores


def _with_nans(rng, scores, rate=0.1):
  scores = scores.copy()
  scores[rng.random(scores.shape) < rate] = np.nan
  return scores


def _per_element_weights(shape):
  return lambda rng, args: rng.uniform(0, 2, shape).astype(np.float32)


def _sorted_ids(rng, n, num_classes, width):
  return np.stack([rng.permutation(num_classes)[:width] for _ in range(n)])


# -- cases -------------------------------------------------------------------

ACCURACY_CASES = [
    harness.Case(
        "accuracy_int_2d", acc.Accuracy(),
        lambda rng, n: (rng.integers(0, 3, (n, 1)),
                        rng.integers(0, 3, (n, 1))),
        keras=keras.metrics.Accuracy),
    harness.Case(
        "accuracy_float_rank1_vs_rank2", acc.Accuracy(),
        lambda rng, n: (rng.integers(0, 3, (n,)).astype(np.float32),
                        rng.integers(0, 3, (n, 1)).astype(np.float32)),
        keras=keras.metrics.Accuracy),
    # Keras casts y_true to y_pred's dtype: 1.7 becomes 1 against int predictions.
    harness.Case(
        "accuracy_float_true_int_pred", acc.Accuracy(),
        lambda rng, n: (rng.uniform(0, 3, (n, 2)).astype(np.float32),
                        rng.integers(0, 3, (n, 2))),
        keras=keras.metrics.Accuracy),
    harness.Case(
        "accuracy_3d_weight_2d", acc.Accuracy(),
        lambda rng, n: (rng.integers(0, 2, (n, 3, 2)),
                        rng.integers(0, 2, (n, 3, 2))),
        keras=keras.metrics.Accuracy, make_weights=_per_element_weights((N, 3))),
]

BINARY_CASES = [
    harness.Case(
        "binary_default", acc.BinaryAccuracy(),
        lambda rng, n: (rng.integers(0, 2, (n, 1)),
                        rng.uniform(size=(n, 1)).astype(np.float32)),
        keras=keras.metrics.BinaryAccuracy),
    harness.Case(
        "binary_threshold_0.3_float_labels", acc.BinaryAccuracy(threshold=0.3),
        lambda rng, n: (rng.integers(0, 2, (n,)).astype(np.float32),
                        rng.uniform(size=(n, 1)).astype(np.float32)),
        keras=lambda: keras.metrics.BinaryAccuracy(threshold=0.3)),
    # Predictions exactly at the threshold are negative (strictly greater).
    harness.Case(
        "binary_at_threshold_3d", acc.BinaryAccuracy(threshold=0.75),
        lambda rng, n: (rng.integers(0, 2, (n, 4, 3)),
                        rng.choice([0.25, 0.5, 0.75, 1.0], (n, 4, 3))
                        .astype(np.float32)),
        keras=lambda: keras.metrics.BinaryAccuracy(threshold=0.75),
        make_weights=_per_element_weights((N, 4))),
    # The threshold is weakly typed: against bfloat16 it rounds to bfloat16.
    harness.Case(
        "binary_bfloat16_threshold_0.3", acc.BinaryAccuracy(threshold=0.3),
        lambda rng, n: (
      rng.integers(0, 2, (n, 2)),
      rng.choice([0.296875, 0.30078125, 0.3046875], (n, 2))
      .astype(ml_dtypes.bfloat16)),
        keras=lambda: keras.metrics.BinaryAccuracy(threshold=0.3)),
    harness.Case(
        "binary_soft_labels", acc.BinaryAccuracy(),
        lambda rng, n: (rng.choice([0.0, 0.7, 1.0], (n, 3)).astype(np.float32),
                        rng.uniform(size=(n, 3)).astype(np.float32)),
        keras=keras.metrics.BinaryAccuracy),
]

CATEGORICAL_CASES = [
    harness.Case(
        "categorical_int_one_hot", acc.CategoricalAccuracy(),
        lambda rng, n: (_one_hot(rng, (n, 5), np.int32),
                        rng.normal(size=(n, 5)).astype(np.float32)),
        keras=keras.metrics.CategoricalAccuracy),
    harness.Case(
        "categorical_3d_ties", acc.CategoricalAccuracy(),
        lambda rng, n: (_one_hot(rng, (n, 3, 4)),
                        _tied_scores(rng, (n, 3, 4))),
        keras=keras.metrics.CategoricalAccuracy,
        make_weights=_per_element_weights((N, 3))),
    harness.Case(
        "categorical_soft_labels_signed_zeros", acc.CategoricalAccuracy(),
        lambda rng, n: (rng.dirichlet(np.ones(4), n).astype(np.float32),
                        _signed_zeros(rng, (n, 4))),
        keras=keras.metrics.CategoricalAccuracy),
    # Keras squeezes the unit axis of (N, 1, C) labels against (N, C) scores.
    harness.Case(
        "categorical_unit_axis_labels", acc.CategoricalAccuracy(),
        lambda rng, n: (_one_hot(rng, (n, 1, 6)),
                        rng.normal(size=(n, 6)).astype(np.float32)),
        keras=keras.metrics.CategoricalAccuracy),
]

SPARSE_CASES = [
    harness.Case(
        "sparse_int_rank1", acc.SparseCategoricalAccuracy(),
        lambda rng, n: (rng.integers(0, 5, (n,)),
                        rng.normal(size=(n, 5)).astype(np.float32)),
        keras=keras.metrics.SparseCategoricalAccuracy),
    harness.Case(
        "sparse_float_column_ties", acc.SparseCategoricalAccuracy(),
        lambda rng, n: (rng.integers(0, 4, (n, 1)).astype(np.float32),
                        _tied_scores(rng, (n, 4))),
        keras=keras.metrics.SparseCategoricalAccuracy),
    harness.Case(
        "sparse_3d_weight_2d", acc.SparseCategoricalAccuracy(),
        lambda rng, n: (rng.integers(0, 6, (n, 4)),
                        rng.normal(size=(n, 4, 6)).astype(np.float32)),
        keras=keras.metrics.SparseCategoricalAccuracy,
        make_weights=_per_element_weights((N, 4))),
    harness.Case(
        "sparse_3d_unit_axis_signed_zeros_nans", acc.SparseCategoricalAccuracy(),
        lambda rng, n: (rng.integers(0, 3, (n, 2, 1)),
                        _with_nans(rng, _signed_zeros(rng, (n, 2, 3)))),
        keras=keras.metrics.SparseCategoricalAccuracy),
]

TOP_K_CASES = [
    harness.Case(
        "top_k_default", acc.TopKCategoricalAccuracy(),
        lambda rng, n: (_one_hot(rng, (n, 10)),
                        rng.normal(size=(n, 10)).astype(np.float32)),
        keras=keras.metrics.TopKCategoricalAccuracy),
    harness.Case(
        "top_k_1_ties_int_labels", acc.TopKCategoricalAccuracy(k=1),
        lambda rng, n: (_one_hot(rng, (n, 5), np.int32),
                        _tied_scores(rng, (n, 5))),
        keras=lambda: keras.metrics.TopKCategoricalAccuracy(k=1)),
    harness.Case(
        "top_k_2_3d_ties", acc.TopKCategoricalAccuracy(k=2),
        lambda rng, n: (_one_hot(rng, (n, 3, 6)),
                        _tied_scores(rng, (n, 3, 6), levels=4)),
        keras=lambda: keras.metrics.TopKCategoricalAccuracy(k=2),
        make_weights=_per_element_weights((N, 3))),
    harness.Case(
        "top_k_larger_than_classes", acc.TopKCategoricalAccuracy(k=7),
        lambda rng, n: (_one_hot(rng, (n, 5)),
                        _with_nans(rng, rng.normal(size=(n, 5))
                                   .astype(np.float32))),
        keras=lambda: keras.metrics.TopKCategoricalAccuracy(k=7)),
]

SPARSE_TOP_K_CASES = [
    harness.Case(
        "sparse_top_k_default", acc.SparseTopKCategoricalAccuracy(),
        lambda rng, n: (rng.integers(0, 10, (n,)),
                        rng.normal(size=(n, 10)).astype(np.float32)),
        keras=keras.metrics.SparseTopKCategoricalAccuracy),
    harness.Case(
        "sparse_top_k_2_ties_column", acc.SparseTopKCategoricalAccuracy(k=2),
        lambda rng, n: (rng.integers(0, 6, (n, 1)),
                        _tied_scores(rng, (n, 6))),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=2)),
    harness.Case(
        "sparse_top_k_3_3d_float_labels", acc.SparseTopKCategoricalAccuracy(k=3),
        lambda rng, n: (rng.integers(0, 7, (n, 4)).astype(np.float32),
                        _tied_scores(rng, (n, 4, 7), levels=5)),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=3),
        make_weights=_per_element_weights((N, 4))),
    # Labels in [-C-1, C]: negatives index from the end, others never match
    # unless k > C; NaN scores never outrank, a NaN at the label counts -inf.
    harness.Case(
        "sparse_top_k_out_of_range_nans", acc.SparseTopKCategoricalAccuracy(k=2),
        lambda rng, n: (rng.integers(-5, 5, (n,)),
                        _with_nans(rng, _tied_scores(rng, (n, 4)))),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=2)),
    harness.Case(
        "sparse_top_k_sorted_ids", acc.SparseTopKCategoricalAccuracy(
            k=3, from_sorted_ids=True),
        lambda rng, n: (rng.integers(0, 10, (n,)),
                        _sorted_ids(rng, n, 10, 5)),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(
            k=3, from_sorted_ids=True)),
    # Repeated ids count once; (N, T) labels against (N, T, width) ids.
    harness.Case(
        "sparse_top_k_sorted_ids_3d_repeats", acc.SparseTopKCategoricalAccuracy(
            k=2, from_sorted_ids=True),
        lambda rng, n: (rng.integers(0, 4, (n, 2)),
                        rng.integers(0, 4, (n, 2, 3))),
        keras=lambda: keras.metrics.SparseTopKCategoricalAccuracy(
            k=2, from_sorted_ids=True)),
]

CASES = (ACCURACY_CASES + BINARY_CASES + CATEGORICAL_CASES + SPARSE_CASES +
         TOP_K_CASES + SPARSE_TOP_K_CASES)
# Every mode (pmap included) for the richest cases of each metric; pmap
# compiles per batch, so the other variants run the single-host modes only.
FULL_IDS = ("accuracy_float_rank1_vs_rank2", "accuracy_3d_weight_2d",
            "binary_threshold_0.3_float_labels", "binary_at_threshold_3d",
            "categorical_3d_ties", "sparse_float_column_ties",
            "sparse_3d_weight_2d", "top_k_2_3d_ties",
            "sparse_top_k_3_3d_float_labels",
            "sparse_top_k_sorted_ids_3d_repeats")
FULL_CASES = [c for c in CASES if c.id in FULL_IDS]
HOST_CASES = [c for c in CASES if c.id not in FULL_IDS]
assert len(FULL_CASES) == len(FULL_IDS)
# One case per metric (and per mode of SparseTopK) for the randomized algebra.
ALGEBRA_CASES = [c for c in FULL_CASES if "3d" in c.id]


@pytest.mark.parametrize("case", FULL_CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", HOST_CASES, ids=str)
def test_host_modes(case):
  """Eager, jitted and merged updates against Keras, weighted and not."""
  init = case.metric.init()
  for mode, batches in harness.weighted_batches(case).items():
    expected = harness.oracle_value(case, batches)
    state, eager = harness.run_sequential(case.metric, batches)
    harness.assert_close(eager, expected, case, f"{mode} eager")
    jit_state, jitted = harness.run_sequential(case.metric, batches, jit=True)
    harness.assert_close(jitted, expected, case, f"{mode} jit")
    harness.assert_same_structure(init, state, f"{mode} eager update")
    harness.assert_same_structure(init, jit_state, f"{mode} jitted update")
    harness.assert_close(harness.run_merged(case.metric, batches), expected,
                         case, f"{mode} merge")


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- functional forms ----------------------------------------------------------

FUNCTIONS = [
    ("binary_accuracy", {},
     lambda rng: (rng.integers(0, 2, (N,)),
                  rng.uniform(size=(N, 1)).astype(np.float32))),
    ("binary_accuracy", {"threshold": 0.25},
     lambda rng: (rng.integers(0, 2, (N, 3)), rng.uniform(size=(N, 3)))),
    ("categorical_accuracy", {},
     lambda rng: (_one_hot(rng, (N, 2, 5)), _tied_scores(rng, (N, 2, 5)))),
    ("sparse_categorical_accuracy", {},
     lambda rng: (rng.integers(0, 5, (N, 1)), _tied_scores(rng, (N, 5)))),
    ("sparse_categorical_accuracy", {},
     lambda rng: (rng.integers(0, 5, (N, 3)), _tied_scores(rng, (N, 3, 5)))),
    ("top_k_categorical_accuracy", {"k": 2},
     lambda rng: (_one_hot(rng, (N, 2, 5)), _tied_scores(rng, (N, 2, 5)))),
    ("sparse_top_k_categorical_accuracy", {},
     lambda rng: (rng.integers(0, 8, (N, 1)), rng.normal(size=(N, 8)))),
    ("sparse_top_k_categorical_accuracy", {"k": 1},
     lambda rng: (rng.integers(0, 5, (N, 3)), _tied_scores(rng, (N, 3, 5)))),
    ("sparse_top_k_categorical_accuracy", {"k": 2, "from_sorted_ids": True},
     lambda rng: (rng.integers(0, 6, (N,)), _sorted_ids(rng, N, 6, 3))),
]


@pytest.mark.parametrize("name,kwargs,make", FUNCTIONS,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FUNCTIONS)])
def test_functional_matches_keras(name, kwargs, make):
  y_true, y_pred = make(np.random.default_rng(0))
  expected = np.asarray(getattr(keras.metrics, name)(y_true, y_pred, **kwargs))
  actual = getattr(acc, name)(y_true, y_pred, **kwargs)
  assert actual.dtype == jnp.float32
  assert actual.shape == expected.shape
  np.testing.assert_array_equal(np.asarray(actual), expected)
  jitted = jax.jit(lambda t, p: getattr(acc, name)(t, p, **kwargs))(y_true, y_pred)
  np.testing.assert_array_equal(np.asarray(jitted), expected)


# -- values from Keras' own unit tests (accuracy_metrics_test.py) ----------------

KERAS_TEST_VALUES = [
    (acc.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], None, 0.75),
    (acc.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.5),
    (acc.Accuracy(), [1, 2, 3, 4], [0, 2, 3, 4], [1, 1, 0, 0], 0.5),
    (acc.Accuracy(), [[1, 2], [3, 4]], [[0, 2], [3, 4]], [[1, 0], [0, 1]], 0.5),
    (acc.Accuracy(), [[1, 2], [3, 4]], [[0, 2], [3, 4]], [[1, 0]], 0.5),
    (acc.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], None,
     0.75),
    (acc.BinaryAccuracy(), [1, 1, 0, 0], [[0.98], [1], [0], [0.6]], None, 0.75),
    (acc.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]],
     [1, 0, 0, 1], 0.5),
    (acc.BinaryAccuracy(), [1, 1, 0, 0], [0.98, 1, 0, 0.6], [1, 0, 0, 1], 0.5),
    (acc.BinaryAccuracy(), [[1, 1], [0, 0]], [[0.98, 1], [0, 0.6]],
     [[1, 0], [0, 1]], 0.5),
    (acc.BinaryAccuracy(), [[1, 1], [0, 0]], [[0.98, 1], [0, 0.6]], [[1, 0]], 1.0),
    (acc.BinaryAccuracy(threshold=0.3), [[1], [1], [0], [0]],
     [[0.98], [0.5], [0.1], [0.2]], None, 1.0),
    (acc.BinaryAccuracy(threshold=0.9), [[1], [1], [0], [0]],
     [[0.98], [0.5], [0.1], [0.2]], None, 0.75),
    (acc.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 0.5),
    (acc.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (acc.SparseCategoricalAccuracy(), [[2], [1]],
     [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], None, 0.5),
    (acc.SparseCategoricalAccuracy(), [[2], [1]],
     [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (acc.SparseCategoricalAccuracy(), [[0], [1], [2]],
     [[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]], None, 1.0),
    (acc.SparseCategoricalAccuracy(), np.array([0, 1], np.int64),
     np.array([[0.9, 0.1], [0.1, 0.9]], np.float32), None, 1.0),
    (acc.SparseCategoricalAccuracy(), np.array([0, 1, 2], np.int32),
     np.array([[0.9, 0.1, 0.0], [0.0, 0.9, 0.1], [0.1, 0.0, 0.9]], np.float64),
     None, 1.0),
    (acc.SparseCategoricalAccuracy(), [[0], [1]], [[0.9, 0.1], [0.1, 0.9]], None,
     1.0),
    (acc.SparseCategoricalAccuracy(), np.array([2, 1, 0], np.int32),
     np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32),
     None, 1.0),
    (acc.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]],
     np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]], np.float32), None, 0.5),
    (acc.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]],
     np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]], np.float32), [0.7, 0.3], 0.3),
    (acc.SparseTopKCategoricalAccuracy(k=1), [2, 1],
     np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]], np.float32), None, 0.5),
    (acc.SparseTopKCategoricalAccuracy(k=1), [2, 1],
     np.array([[0.1, 0.9, 0.8], [0.05, 0.95, 0]], np.float32), [0.7, 0.3], 0.3),
    (acc.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True), [2, 1],
     [[1, 0, 3], [1, 2, 3]], None, 0.5),
    (acc.SparseTopKCategoricalAccuracy(k=1, from_sorted_ids=True), [2, 1],
     [[1, 0, 3], [1, 2, 3]], [0.7, 0.3], 0.3),
]


@pytest.mark.parametrize("metric,y_true,y_pred,weight,expected", KERAS_TEST_VALUES,
                         ids=[f"{type(c[0]).__name__}-{i}"
                              for i, c in enumerate(KERAS_TEST_VALUES)])
def test_keras_unit_test_values(metric, y_true, y_pred, weight, expected):
  state = metric.update(metric.init(), y_true, y_pred, sample_weight=weight)
  np.testing.assert_allclose(float(metric.compute(state)), expected, atol=1e-6)


# -- configuration ---------------------------------------------------------------

KERAS_CLASSES = [
    (acc.Accuracy, keras.metrics.Accuracy, {}),
    (acc.BinaryAccuracy, keras.metrics.BinaryAccuracy, {"threshold": 0.7}),
    (acc.CategoricalAccuracy, keras.metrics.CategoricalAccuracy, {}),
    (acc.SparseCategoricalAccuracy, keras.metrics.SparseCategoricalAccuracy, {}),
    (acc.TopKCategoricalAccuracy, keras.metrics.TopKCategoricalAccuracy, {"k": 3}),
    (acc.SparseTopKCategoricalAccuracy, keras.metrics.SparseTopKCategoricalAccuracy,
     {"k": 3, "from_sorted_ids": True}),
]


@pytest.mark.parametrize("ours,theirs,kwargs", KERAS_CLASSES,
                         ids=[c[0].__name__ for c in KERAS_CLASSES])
def test_config_matches_keras(ours, theirs, kwargs):
  default, keras_default = ours(), theirs()
  assert default.name == keras_default.name
  for key in ("k", "threshold", "from_sorted_ids"):
    if hasattr(keras_default, key):
      assert getattr(default, key) == getattr(keras_default, key), key
  custom = ours(name="custom", dtype="float32", **kwargs)
  keras_custom = theirs(name="custom", dtype="float32", **kwargs)
  assert custom.name == keras_custom.name
  for key, value in kwargs.items():
    assert getattr(custom, key) == value == getattr(keras_custom, key)
  assert custom == ours(name="custom", dtype="float32", **kwargs)
  assert hash(custom) == hash(ours(name="custom", dtype="float32", **kwargs))
  assert custom != default


def test_positional_arguments_follow_keras():
  assert acc.BinaryAccuracy("b", None, 0.25).threshold == 0.25
  assert acc.TopKCategoricalAccuracy(3).k == 3
  m = acc.SparseTopKCategoricalAccuracy(2, "s", None, True)
  assert (m.k, m.name, m.from_sorted_ids) == (2, "s", True)
  assert acc.TopKCategoricalAccuracy(np.int64(4)).k == 4


@pytest.mark.parametrize("metric", [c[0]() for c in KERAS_CLASSES],
                         ids=[c[0].__name__ for c in KERAS_CLASSES])
def test_empty_state_computes_zero(metric):
  assert float(metric.compute(metric.init())) == 0.0


def test_dtype_sets_the_result_dtype():
  m = acc.Accuracy(dtype="float16")
  assert m.compute(m.update(m.init(), [1, 2], [1, 3])).dtype == jnp.float16


# -- ties and signed zeros, spelled out -----------------------------------------


def test_top_k_ties_count_for_the_label():
  # Four classes tie at 1.0; each is in the top 1, as in Keras' in_top_k.
  scores = np.array([[1.0, 1.0, 1.0, 1.0, 0.0]] * 5, np.float32)
  labels = np.arange(5)
  expected = np.asarray(keras.ops.in_top_k(labels, scores, 1), np.float32)
  np.testing.assert_array_equal(expected, [1, 1, 1, 1, 0])
  np.testing.assert_array_equal(
      acc.sparse_top_k_categorical_accuracy(labels, scores, k=1), expected)


def test_argmax_signed_zero_follows_keras():
  y_pred = np.array([[-0.0, 0.0], [0.0, -0.0]], np.float32)
  expected = keras.metrics.sparse_categorical_accuracy([1, 1], y_pred)
  np.testing.assert_array_equal(
      acc.sparse_categorical_accuracy([1, 1], y_pred), expected)


def test_labels_are_compared_exactly_with_bfloat16_scores():
  # Keras casts labels to the scores' dtype; bfloat16 would merge 256 and 257.
  y_pred = np.zeros((2, 300), ml_dtypes.bfloat16)
  y_pred[:, 256] = 1.0
  np.testing.assert_array_equal(
      acc.sparse_categorical_accuracy([256, 257], y_pred), [1.0, 0.0])
  y_true = np.eye(300, dtype=np.float32)[[256, 257]]
  np.testing.assert_array_equal(acc.categorical_accuracy(y_true, y_pred), [1.0, 0.0])


def _equations(jaxpr):
  for eqn in jaxpr.eqns:
    yield eqn
    for sub in jax_core.jaxprs_in_params(eqn.params):
      yield from _equations(sub)


def test_update_does_not_sort():
  y_true = jnp.zeros((8,), jnp.int32)
  y_pred = jnp.zeros((8, 10))
  for metric in (acc.SparseTopKCategoricalAccuracy(k=3),
                 acc.TopKCategoricalAccuracy(k=3)):
    sparse = isinstance(metric, acc.SparseTopKCategoricalAccuracy)
    labels = y_true if sparse else jax.nn.one_hot(y_true, 10)
    jaxpr = jax.make_jaxpr(metric.update)(metric.init(), labels, y_pred)
    primitives = {eqn.primitive.name for eqn in _equations(jaxpr.jaxpr)}
    assert not primitives & {"sort", "top_k", "approx_top_k"}, primitives


# -- errors ----------------------------------------------------------------------

CONSTRUCTION_ERRORS = [
    (lambda: acc.TopKCategoricalAccuracy(k=0),
     r"TopKCategoricalAccuracy: k must be an integer >= 1, got 0"),
    (lambda: acc.TopKCategoricalAccuracy(k=1.5),
     r"TopKCategoricalAccuracy: k must be an integer >= 1, got 1.5"),
    (lambda: acc.SparseTopKCategoricalAccuracy(k=-1),
     r"SparseTopKCategoricalAccuracy: k must be an integer >= 1, got -1"),
    (lambda: acc.SparseTopKCategoricalAccuracy(k=True),
     r"SparseTopKCategoricalAccuracy: k must be an integer >= 1, got True"),
    (lambda: acc.SparseTopKCategoricalAccuracy(from_sorted_ids="yes"),
     r"SparseTopKCategoricalAccuracy: from_sorted_ids must be a bool"),
    (lambda: acc.BinaryAccuracy(threshold="0.5"),
     r"BinaryAccuracy: threshold must be a real number, got '0.5'"),
    (lambda: acc.top_k_categorical_accuracy([[0, 1]], [[0.0, 1.0]], k=0),
     r"TopKCategoricalAccuracy: k must be an integer >= 1"),
]


@pytest.mark.parametrize("make,message", CONSTRUCTION_ERRORS,
                         ids=[str(i) for i in range(len(CONSTRUCTION_ERRORS))])
def test_construction_errors(make, message):
  with pytest.raises(ValueError, match=message):
    make()


SHAPE_ERRORS = [
    (acc.SparseCategoricalAccuracy(), (32,), (32,),
     r"SparseCategoricalAccuracy: expected y_pred.ndim == y_true.ndim \+ 1, "
     r"got y_true \(32,\) and y_pred \(32,\)"),
    (acc.SparseCategoricalAccuracy(), (16,), (8, 5),
     r"SparseCategoricalAccuracy: expected y_true of shape y_pred.shape\[:-1\] = "
     r"\(8,\) .*got y_true \(16,\) and y_pred \(8, 5\)"),
    # Keras broadcasts these against each other ((2, 1) == (1, 2) is (2, 2)).
    (acc.SparseCategoricalAccuracy(), (2, 1), (1, 2, 3),
     r"SparseCategoricalAccuracy: expected y_true of shape y_pred.shape\[:-1\] = "
     r"\(1, 2\) .*got y_true \(2, 1\) and y_pred \(1, 2, 3\)"),
    (acc.SparseCategoricalAccuracy(), (), (),
     r"SparseCategoricalAccuracy: expected y_pred.ndim == y_true.ndim \+ 1, "
     r"got y_true \(\) and y_pred \(\)"),
    (acc.CategoricalAccuracy(), (8, 5), (8, 4),
     r"CategoricalAccuracy: expected one-hot y_true of the same shape as y_pred, "
     r"got y_true \(8, 5\) and y_pred \(8, 4\)"),
    (acc.CategoricalAccuracy(), (8, 5), (16, 5),
     r"CategoricalAccuracy: .*got y_true \(8, 5\) and y_pred \(16, 5\)"),
    (acc.CategoricalAccuracy(), (8,), (),
     r"CategoricalAccuracy: expected y_true and y_pred with a class axis, "
     r"got y_true \(8,\) and y_pred \(\)"),
    (acc.TopKCategoricalAccuracy(), (8, 2, 5), (8, 5),
     r"TopKCategoricalAccuracy: .*got y_true \(8, 2, 5\) and y_pred \(8, 5\)"),
    (acc.SparseTopKCategoricalAccuracy(), (8,), (8,),
     r"SparseTopKCategoricalAccuracy: expected y_pred.ndim == y_true.ndim \+ 1, "
     r"got y_true \(8,\) and y_pred \(8,\)"),
    (acc.SparseTopKCategoricalAccuracy(), (16,), (8, 10),
     r"SparseTopKCategoricalAccuracy: expected y_true of shape "
     r"y_pred.shape\[:-1\] = \(8,\) .*got y_true \(16,\) and y_pred \(8, 10\)"),
    (acc.SparseTopKCategoricalAccuracy(), (8, 3), (8, 10),
     r"SparseTopKCategoricalAccuracy: expected y_pred.ndim == y_true.ndim \+ 1, "
     r"got y_true \(8, 3\) and y_pred \(8, 10\)"),
    (acc.SparseTopKCategoricalAccuracy(k=5, from_sorted_ids=True), (8,), (8, 3),
     r"SparseTopKCategoricalAccuracy: expected at least k=5 sorted ids in "
     r"y_pred, got y_pred \(8, 3\)"),
    (acc.Accuracy(), (8, 3), (8, 2),
     r"Accuracy: expected y_true and y_pred of the same shape \(up to a trailing "
     r"axis of size 1\), got y_true \(8, 3\) and y_pred \(8, 2\)"),
    (acc.Accuracy(), (8,), (16,),
     r"Accuracy: .*got y_true \(8,\) and y_pred \(16,\)"),
    (acc.BinaryAccuracy(), (8, 3), (8, 1),
     r"BinaryAccuracy: .*got y_true \(8, 3\) and y_pred \(8, 1\)"),
    (acc.BinaryAccuracy(), (8,), (),
     r"BinaryAccuracy: .*got y_true \(8,\) and y_pred \(\)"),
]


@pytest.mark.parametrize("metric,true_shape,pred_shape,message", SHAPE_ERRORS,
                         ids=[f"{type(e[0]).__name__}-{i}"
                              for i, e in enumerate(SHAPE_ERRORS)])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_shape_errors(metric, true_shape, pred_shape, message, jit):
  y_true = np.zeros(true_shape, np.int32)
  y_pred = np.zeros(pred_shape, np.float32)
  update = jax.jit(metric.update) if jit else metric.update
  with pytest.raises(ValueError, match=message):
    update(metric.init(), y_true, y_pred)
