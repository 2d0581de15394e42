"""F-scores against Keras 3 and scikit-learn; WeightedPrecision against sklearn."""

import dataclasses
import inspect

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import metrics as skm

from jmetrics._src.metrics import f_score as fs
from jmetrics._src.numerics import wide
from tests import harness

N = 16  # Batch size: divisible by the 8 devices of the pmap modes.



def _one_hot(rng, n, c, dtype=np.float32):
  return np.eye(c, dtype=dtype)[rng.integers(0, c, n)]


def _multi_label(rng, n, c, dtype=np.float32):
  return (rng.random((n, c)) < 0.4).astype(dtype)


def _scores(rng, n, c):
  return rng.uniform(size=(n, c)).astype(np.float32)


def _tied_scores(rng, n, c):
  """Scores in {0, 0.5, 1}: ties at the row maximum and some all-zero rows."""
  scores = rng.choice([0.0, 0.5, 1.0], (n, c)).astype(np.float32)
  scores[rng.random(n) < 0.2] = 0.0
  return scores


def _keras_f1(**kwargs):
  return lambda: keras.metrics.F1Score(**kwargs)


def _keras_fbeta(**kwargs):
  return lambda: keras.metrics.FBetaScore(**kwargs)


# -- scikit-learn oracles ---------------------------------------------------------


def _binarize(y_pred, threshold):
  """Keras' rule for turning scores into 0/1 predictions, in NumPy."""
  y_pred = np.asarray(y_pred, np.float32)
  if threshold is None:
    top = y_pred >= y_pred.max(axis=-1, keepdims=True)
    return (top & (np.abs(y_pred) > 1e-9)).astype(np.int32)
  return (y_pred > np.float32(threshold)).astype(np.int32)


def _concat(batches):
  y_true = np.concatenate([args[0] for args, _ in batches])
  y_pred = np.concatenate([args[1] for args, _ in batches])
  if batches[0][1] is None:
    return y_true, y_pred, None
  weights = np.concatenate([np.broadcast_to(w, np.shape(args[0])[:1])
                            for args, w in batches])
  return y_true, y_pred, weights


def _sklearn_fbeta(beta, average, threshold):
  def reference(batches):
    y_true, y_pred, weights = _concat(batches)
    return skm.fbeta_score(y_true.astype(np.int32), _binarize(y_pred, threshold),
                           beta=beta, average=average, sample_weight=weights,
                           zero_division=0)
  return reference


def _sklearn_weighted_precision(class_weights):
  """sklearn's per-class precision averaged with the class weights."""
  num_classes = len(class_weights)

  def reference(batches):
    labels = np.concatenate([np.reshape(args[0], -1) for args, _ in batches])
    scores = np.concatenate([
        np.reshape(args[1], (-1, num_classes)) for args, _ in batches])
    weights = None
    if batches[0][1] is not None:
      weights = np.concatenate([
          np.broadcast_to(np.reshape(w, np.shape(w) + (1,) * (
              np.ndim(args[0]) - np.ndim(w))), np.shape(args[0])).reshape(-1)
          for args, w in batches])
    precision = skm.precision_score(
        labels.astype(np.int64), np.argmax(scores, -1),
        labels=np.arange(num_classes), average=None, sample_weight=weights,
        zero_division=0)
    w = np.asarray(class_weights, np.float64)
    return np.sum(w * precision) / np.sum(w)
  return reference


# -- harness cases -------------------------------------------------------------------

KERAS_CASES = [
    harness.Case(
        "f1_none_argmax_one_hot_int", fs.F1Score(num_classes=5),
        lambda rng, n: (_one_hot(rng, n, 5, np.int32), _scores(rng, n, 5)),
        keras=_keras_f1()),
    # No num_classes: micro totals are scalars. Scores equal to the threshold
    # are negative (strictly greater).
    harness.Case(
        "f1_micro_0.5_multi_label_at_threshold", fs.F1Score("micro", 0.5),
        lambda rng, n: (_multi_label(rng, n, 4),
                        rng.choice([0.25, 0.5, 0.75], (n, 4))
                        .astype(np.float32)),
        keras=_keras_f1(average="micro", threshold=0.5)),
    harness.Case(
        "f1_macro_0.3_multi_label_int", fs.F1Score("macro", 0.3, num_classes=4),
        lambda rng, n: (_multi_label(rng, n, 4, np.int32),
                        _scores(rng, n, 4)),
        keras=_keras_f1(average="macro", threshold=0.3)),
    harness.Case(
        "f1_weighted_argmax_ties", fs.F1Score("weighted", num_classes=4),
        lambda rng, n: (_one_hot(rng, n, 4), _tied_scores(rng, n, 4)),
        keras=_keras_f1(average="weighted")),
    harness.Case(
        "fbeta_0.5_none_0.5_multi_label_int",
        fs.FBetaScore(None, 0.5, 0.5, num_classes=4),
        lambda rng, n: (_multi_label(rng, n, 4, np.int32),
                        _scores(rng, n, 4)),
        keras=_keras_fbeta(beta=0.5, threshold=0.5)),
    # Logits: negative scores, argmax binarisation.
    harness.Case(
        "fbeta_2_micro_argmax_one_hot_logits",
        fs.FBetaScore("micro", 2.0, num_classes=6),
        lambda rng, n: (_one_hot(rng, 2 * n, 6),
                        rng.normal(size=(2 * n, 6)).astype(np.float32)),
        keras=_keras_fbeta(average="micro", beta=2.0)),
    harness.Case(
        "fbeta_2_macro_argmax_ties_multi_label",
        fs.FBetaScore("macro", 2.0, num_classes=3),
        lambda rng, n: (_multi_label(rng, n, 3), _tied_scores(rng, n, 3)),
        keras=_keras_fbeta(average="macro", beta=2.0)),
    harness.Case(
        "fbeta_0.5_weighted_0.3_bool_labels",
        fs.FBetaScore("weighted", 0.5, 0.3, num_classes=5),
        lambda rng, n: (_multi_label(rng, n, 5, bool), _scores(rng, n, 5)),
        keras=_keras_fbeta(average="weighted", beta=0.5, threshold=0.3)),
    # Soft labels enter Keras' products as they are.
    harness.Case(
        "fbeta_2_none_0.3_soft_labels", fs.FBetaScore(None, 2.0, 0.3, num_classes=3),
        lambda rng, n: (rng.dirichlet(np.ones(3), n).astype(np.float32),
                        _scores(rng, n, 3)),
        keras=_keras_fbeta(beta=2.0, threshold=0.3)),
]

SKLEARN_CASES = [
    harness.Case(
        "sklearn_f1_macro_0.5_multi_label", fs.F1Score("macro", 0.5, num_classes=4),
        lambda rng, n: (_multi_label(rng, n, 4), _scores(rng, n, 4)),
        reference=_sklearn_fbeta(1.0, "macro", 0.5)),
    harness.Case(
        "sklearn_fbeta_2_weighted_argmax_ties",
        fs.FBetaScore("weighted", 2.0, num_classes=4),
        lambda rng, n: (_one_hot(rng, n, 4, np.int32),
                        _tied_scores(rng, n, 4)),
        reference=_sklearn_fbeta(2.0, "weighted", None)),
]

WP_WEIGHTS = (0.1, 0.9, 0.5, 2.0)
WP_CASES = [
    harness.Case(
        "weighted_precision_rank1_labels", fs.WeightedPrecision(WP_WEIGHTS),
        lambda rng, n: (rng.integers(0, 4, n),
                        rng.normal(size=(n, 4)).astype(np.float32)),
        reference=_sklearn_weighted_precision(WP_WEIGHTS)),
    # Float (N, 1) labels; tied scores leave some classes rarely predicted.
    harness.Case(
        "weighted_precision_column_float_labels_ties",
        fs.WeightedPrecision([1.0, 0.0, 3.0]),
        lambda rng, n: (rng.integers(0, 3, (n, 1)).astype(np.float32),
                        _tied_scores(rng, n, 3)),
        reference=_sklearn_weighted_precision([1.0, 0.0, 3.0])),
]

# Keras and WeightedPrecision cases run in every mode; the sklearn F-score
# cases, a second oracle for values Keras already checks in every mode, run
# the single-host modes only (pmap compiles per case).
FULL_CASES = KERAS_CASES + WP_CASES


@pytest.mark.parametrize("case", FULL_CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


ALGEBRA_CASES = [c for c in FULL_CASES if c.id in (
    "f1_macro_0.3_multi_label_int", "fbeta_2_micro_argmax_one_hot_logits",
    "weighted_precision_rank1_labels")]


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


def _host_modes(case):
  """Eager, jitted and merged updates against the oracle, weighted and not."""
  for mode, batches in harness.weighted_batches(case).items():
    expected = harness.oracle_value(case, batches)
    _, eager = harness.run_sequential(case.metric, batches)
    harness.assert_close(eager, expected, case, f"{mode} eager")
    _, jitted = harness.run_sequential(case.metric, batches, jit=True)
    harness.assert_close(jitted, expected, case, f"{mode} jit")
    harness.assert_close(harness.run_merged(case.metric, batches), expected,
                         case, f"{mode} merge")


HOST_CASES = SKLEARN_CASES + [
    # (N, T) labels against (N, T, C) scores, (N,) weights per row.
    harness.Case(
        "weighted_precision_3d", fs.WeightedPrecision(WP_WEIGHTS),
        lambda rng, n: (rng.integers(0, 4, (n, 3)),
                        rng.normal(size=(n, 3, 4)).astype(np.float32)),
        reference=_sklearn_weighted_precision(WP_WEIGHTS)),
    # Labels outside [0, C) belong to no class: their rows are false positives.
    harness.Case(
        "weighted_precision_out_of_range_labels", fs.WeightedPrecision(WP_WEIGHTS),
        lambda rng, n: (rng.integers(-1, 6, n),
                        rng.normal(size=(n, 4)).astype(np.float32)),
        reference=_sklearn_weighted_precision(WP_WEIGHTS)),
    # Keras rounds inputs to float16 and compares with the threshold in float16:
    # 0.2998 and 0.30005 (float16 0.3) are not above it, 0.3003 is.
    harness.Case(
        "f1_float16_at_threshold",
        fs.F1Score(None, 0.3, dtype="float16", num_classes=3),
        lambda rng, n: (_multi_label(rng, n, 3),
                        rng.choice([0.2998, 0.30004883, 0.3003, 0.9], (n, 3))
                        .astype(np.float32)),
        keras=_keras_f1(threshold=0.3, dtype="float16"), rtol=2e-3, atol=2e-3),
    harness.Case(
        "f1_threshold_1_predicts_nothing", fs.F1Score("micro", 1.0),
        lambda rng, n: (_multi_label(rng, n, 3),
                        rng.choice([0.5, 1.0], (n, 3)).astype(np.float32)),
        keras=_keras_f1(average="micro", threshold=1.0)),
]


@pytest.mark.parametrize("case", HOST_CASES, ids=str)
def test_host_modes(case):
  _host_modes(case)


# -- values from Keras' f_score_metrics_test.py ---------------------------------------

_Y_PRED_3 = [[0.7, 0.7, 0.7], [1, 0, 0], [0.9, 0.8, 0]]
_Y_TRUE_6 = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0], [0, 0, 1]]
_Y_PRED_6 = [[0.9, 0.1, 0], [0.2, 0.6, 0.2], [0, 0, 1], [0.4, 0.3, 0.3],
             [0, 0.9, 0.1], [0, 0, 1]]

# (test name, average, beta, threshold, y_true, y_pred, sample_weight, result).
KERAS_TEST_VALUES = []
for _average in ("micro", "macro", "weighted"):
  for _beta in (0.5, 1.0, 2.0):
    KERAS_TEST_VALUES += [
        ("test_fbeta_perfect_score", _average, _beta, 0.66,
         [[1, 1, 1], [1, 0, 0], [1, 1, 0]], _Y_PRED_3, None, 1.0),
        ("test_fbeta_worst_score", _average, _beta, 0.66,
         [[0, 0, 0], [0, 1, 0], [0, 0, 1]], _Y_PRED_3, None, 0.0)]
for _average, _beta, _result in [
    (None, 0.5, [0.71428573, 0.5, 0.833334]),
    (None, 1.0, [0.8, 0.5, 0.6666667]),
    (None, 2.0, [0.9090904, 0.5, 0.555556]),
    ("micro", 0.5, 0.6666667), ("micro", 1.0, 0.6666667),
    ("micro", 2.0, 0.6666667), ("macro", 0.5, 0.6825397),
    ("macro", 1.0, 0.6555555), ("macro", 2.0, 0.6548822),
    ("weighted", 0.5, 0.6825397), ("weighted", 1.0, 0.6555555),
    ("weighted", 2.0, 0.6548822)]:
  KERAS_TEST_VALUES.append(
      ("test_fbeta_random_score", _average, _beta, 0.66,
       [[0, 0, 1], [1, 1, 0], [1, 1, 1]], _Y_PRED_3, None, _result))
for _average, _beta, _result in [
    (None, 0.5, [0.9090904, 0.555556, 1.0]),
    (None, 1.0, [0.8, 0.6666667, 1.0]),
    (None, 2.0, [0.71428573, 0.833334, 1.0]),
    ("micro", 0.5, 0.833334), ("micro", 1.0, 0.833334),
    ("micro", 2.0, 0.833334), ("macro", 0.5, 0.821549),
    ("macro", 1.0, 0.822222), ("macro", 2.0, 0.849206),
    ("weighted", 0.5, 0.880471), ("weighted", 1.0, 0.844445),
    ("weighted", 2.0, 0.829365)]:
  KERAS_TEST_VALUES.append(
      ("test_fbeta_random_score_none", _average, _beta, None, _Y_TRUE_6,
       _Y_PRED_6, None, _result))
_W_ONES, _W_ZEROS, _W_HALF = ([1.0] * 6, [1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
                              [0.5, 1.0, 1.0, 1.0, 0.5, 1.0])
for _average, _beta, _weights, _result in [
    (None, 0.5, _W_ONES, [0.909091, 0.555556, 1.0]),
    (None, 0.5, _W_ZEROS, [1.0, 0.0, 1.0]),
    (None, 0.5, _W_HALF, [0.9375, 0.714286, 1.0]),
    (None, 1.0, _W_ONES, [0.8, 0.666667, 1.0]),
    (None, 1.0, _W_ZEROS, [1.0, 0.0, 1.0]),
    (None, 1.0, _W_HALF, [0.857143, 0.8, 1.0]),
    (None, 2.0, _W_ONES, [0.714286, 0.833333, 1.0]),
    (None, 2.0, _W_ZEROS, [1.0, 0.0, 1.0]),
    (None, 2.0, _W_HALF, [0.789474, 0.909091, 1.0]),
    ("micro", 0.5, _W_ONES, 0.833333), ("micro", 0.5, _W_ZEROS, 1.0),
    ("micro", 0.5, _W_HALF, 0.9), ("micro", 1.0, _W_ONES, 0.833333),
    ("micro", 1.0, _W_ZEROS, 1.0), ("micro", 1.0, _W_HALF, 0.9),
    ("micro", 2.0, _W_ONES, 0.833333), ("micro", 2.0, _W_ZEROS, 1.0),
    ("micro", 2.0, _W_HALF, 0.9),
    ("macro", 0.5, _W_ONES, 0.821549), ("macro", 0.5, _W_ZEROS, 0.666667),
    ("macro", 0.5, _W_HALF, 0.883929), ("macro", 1.0, _W_ONES, 0.822222),
    ("macro", 1.0, _W_ZEROS, 0.666667), ("macro", 1.0, _W_HALF, 0.885714),
    ("macro", 2.0, _W_ONES, 0.849206), ("macro", 2.0, _W_ZEROS, 0.666667),
    ("macro", 2.0, _W_HALF, 0.899522),
    ("weighted", 0.5, _W_ONES, 0.880471), ("weighted", 0.5, _W_ZEROS, 1.0),
    ("weighted", 0.5, _W_HALF, 0.917857), ("weighted", 1.0, _W_ONES, 0.844444),
    ("weighted", 1.0, _W_ZEROS, 1.0), ("weighted", 1.0, _W_HALF, 0.902857),
    ("weighted", 2.0, _W_ONES, 0.829365), ("weighted", 2.0, _W_ZEROS, 1.0),
    ("weighted", 2.0, _W_HALF, 0.897608)]:
  KERAS_TEST_VALUES.append(
      ("test_fbeta_weighted_random_score_none", _average, _beta, None,
       _Y_TRUE_6, _Y_PRED_6, _weights, _result))


@pytest.mark.parametrize(
    "test_name,average,beta,threshold,y_true,y_pred,weights,expected",
    KERAS_TEST_VALUES,
    ids=[f"{v[0]}-{v[1]}-{v[2]}-{i}" for i, v in enumerate(KERAS_TEST_VALUES)])
def test_keras_unit_test_values(test_name, average, beta, threshold, y_true,
                                y_pred, weights, expected):
  del test_name  # Only names the Keras test the values come from.
  metric = fs.FBetaScore(average, beta, threshold, dtype="float32",
                         num_classes=3)
  state = metric.update(metric.init(), y_true, y_pred, weights)
  # Keras' own tolerance (_run_test: assertAllClose(..., atol=1e-6)).
  np.testing.assert_allclose(np.asarray(metric.compute(state)), expected,
                             atol=1e-6, rtol=1e-6)


def test_f1_equals_fbeta_with_beta_1():
  """Keras' F1ScoreTest.test_correctness, for every average."""
  for average in (None, "micro", "macro", "weighted"):
    f1 = fs.F1Score(average, num_classes=3)
    fbeta = fs.FBetaScore(average, beta=1.0, num_classes=3)
    np.testing.assert_allclose(f1(np.array(_Y_TRUE_6), np.array(_Y_PRED_6)),
                               fbeta(np.array(_Y_TRUE_6), np.array(_Y_PRED_6)),
                               atol=1e-6)


# -- configuration -------------------------------------------------------------------


@pytest.mark.parametrize("ours,theirs", [(fs.FBetaScore, keras.metrics.FBetaScore),
                                         (fs.F1Score, keras.metrics.F1Score)])
def test_constructor_follows_keras(ours, theirs):
  keras_params = inspect.signature(theirs.__init__).parameters
  keras_params = {k: v.default for k, v in keras_params.items() if k != "self"}
  params = inspect.signature(ours).parameters
  # Keras' arguments, in Keras' order, with Keras' defaults; then the
  # keyword-only num_classes.
  assert list(params)[:-1] == list(keras_params)
  for key, default in keras_params.items():
    assert params[key].default == default, key
    assert params[key].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
  assert params["num_classes"].kind == inspect.Parameter.KEYWORD_ONLY
  assert params["num_classes"].default is None
  assert ours(average="micro").name == theirs().name


def test_positional_arguments_follow_keras():
  m = fs.FBetaScore("macro", 2.0, 0.25, "fb", "float32", num_classes=3)
  assert (m.average, m.beta, m.threshold, m.name, m.dtype) == (
      "macro", 2.0, 0.25, "fb", "float32")
  m = fs.F1Score("weighted", 0.25, "f1", None, num_classes=3)
  assert (m.average, m.beta, m.threshold, m.name) == ("weighted", 1.0, 0.25, "f1")


def test_configs_hash_and_compare_by_value():
  a = fs.FBetaScore("macro", 2.0, num_classes=3)
  assert a == fs.FBetaScore("macro", 2, num_classes=3)  # an int beta is 2.0
  assert hash(a) == hash(fs.FBetaScore("macro", 2.0, num_classes=3))
  assert a != fs.FBetaScore("macro", 2.0, num_classes=4)
  assert fs.F1Score(num_classes=3) != fs.FBetaScore(num_classes=3)
  assert fs.WeightedPrecision([1, 2]) == fs.WeightedPrecision(np.array([1, 2]))
  assert hash(fs.WeightedPrecision([1, 2])) == hash(fs.WeightedPrecision((1, 2)))
  assert jax.tree.leaves(a) == []


@pytest.mark.parametrize("metric,shape", [
    (fs.FBetaScore(num_classes=3), (3,)), (fs.F1Score("micro"), ()),
    (fs.F1Score("micro", num_classes=3), ()),
    (fs.F1Score("macro", num_classes=5), (5,)),
    (fs.FBetaScore("weighted", 0.5, num_classes=2), (2,)),
    (fs.WeightedPrecision([1.0, 2.0, 3.0]), (3,))],
    ids=lambda x: getattr(x, "name", str(x)))
def test_empty_state_and_shapes(metric, shape):
  state = metric.init()
  assert all(leaf.shape == shape and leaf.dtype == jnp.float32
             for leaf in jax.tree.leaves(state))
  # Keras: epsilon-guarded divisions give 0 (per class for average=None).
  value = metric.compute(state)
  expected_shape = shape if isinstance(metric, fs.FBetaScore) and (
      metric.average is None) else ()
  assert value.shape == expected_shape
  np.testing.assert_array_equal(value, np.zeros(expected_shape))
  np.testing.assert_array_equal(jax.jit(metric.compute)(state), value)


def test_dtype_sets_the_result_dtype():
  m = fs.F1Score(num_classes=2, dtype="float16")
  assert m([[1, 0]], [[0.9, 0.1]]).dtype == jnp.float16
  m = fs.WeightedPrecision([1, 1], dtype="float16")
  assert m([0], [[0.9, 0.1]]).dtype == jnp.float16


def test_scalar_and_length_one_weights_match_keras():
  rng = np.random.default_rng(1)
  y_true, y_pred = _multi_label(rng, 8, 3), _scores(rng, 8, 3)
  weights = rng.uniform(0, 2, 8).astype(np.float32)
  oracle = keras.metrics.F1Score(average="micro", threshold=0.5)
  oracle.update_state(y_true, y_pred, sample_weight=np.array([2.0], np.float32))
  oracle.update_state(y_true, y_pred, sample_weight=weights)
  m = fs.F1Score("micro", 0.5)
  # Keras rejects a 0-d weight (it expands axis 1); here it weighs every row.
  state = m.update(m.init(), y_true, y_pred, sample_weight=2.0)
  state = m.update(state, y_true, y_pred, sample_weight=weights)
  np.testing.assert_allclose(m.compute(state), oracle.result(), rtol=1e-6)
  state = m.update(m.init(), y_true, y_pred, sample_weight=np.array([2.0]))
  state = m.update(state, y_true, y_pred, sample_weight=weights)
  np.testing.assert_allclose(m.compute(state), oracle.result(), rtol=1e-6)


def _exact(total: wide.Wide) -> np.ndarray:
  return np.float64(total.hi) + np.float64(total.lo)


def test_counts_stay_exact_past_2_pow_24():
  # 2**23 merged copies of an 8-row batch, plus one more batch: every count is
  # beyond float32's last exact integer, 2**24.
  y_true = np.eye(2, dtype=np.int32)[[0, 0, 1, 1, 1, 0, 1, 1]]
  y_pred = np.eye(2, dtype=np.float32)[[0, 1, 1, 1, 0, 0, 1, 1]]
  labels = np.argmax(y_true, -1)
  for metric, args in ((fs.FBetaScore(num_classes=2), (y_true, y_pred)),
                       (fs.F1Score("micro"), (y_true, y_pred)),
                       (fs.WeightedPrecision([1.0, 1.0]), (labels, y_pred))):
    one = metric.update(metric.init(), *args)
    state = one
    for _ in range(23):
      state = metric.merge(state, state)
    state = metric.merge(state, one)
    for big, small in zip(jax.tree.leaves(state, is_leaf=lambda x: isinstance(
        x, wide.Wide)), jax.tree.leaves(one, is_leaf=lambda x: isinstance(
            x, wide.Wide))):
      np.testing.assert_array_equal(_exact(big), _exact(small) * (2**23 + 1))
    assert np.max(_exact(state.true_positives)) > 2**24
    np.testing.assert_allclose(metric.compute(state), metric.compute(one),
                               rtol=1e-6)


# -- WeightedPrecision versus the tutorial's metric ------------------------------------


def _tutorial_value(class_weights, labels, scores):
  """The tutorial's WeightedPrecision.update_state/result, in NumPy."""
  w = np.asarray(class_weights, np.float64)
  pred = np.argmax(scores, -1)
  return np.sum((labels == pred) * w[labels]) / np.sum(w[labels])


def test_tutorial_metric_is_a_weighted_recall_not_precision():
  rng = np.random.default_rng(7)
  weights = (0.1, 0.9, 0.5)
  labels = rng.integers(0, 3, 64)
  # Scores biased towards class 1 so that precision and recall differ.
  scores = rng.normal(size=(64, 3)) + np.array([0.0, 1.0, 0.0])
  pred = np.argmax(scores, -1)
  w = np.asarray(weights)
  recall = skm.recall_score(labels, pred, labels=[0, 1, 2], average=None)
  support = np.bincount(labels, minlength=3)
  tutorial = _tutorial_value(weights, labels, scores)
  # It is the mean of per-class recall weighted by class weight times support...
  np.testing.assert_allclose(
      tutorial, np.sum(w * support * recall) / np.sum(w * support), rtol=1e-12)
  # ...while weighted precision, here and in sklearn, is another number.
  precision = skm.precision_score(labels, pred, labels=[0, 1, 2], average=None)
  expected = np.sum(w * precision) / np.sum(w)
  metric = fs.WeightedPrecision(weights)
  value = float(metric(labels, scores.astype(np.float32)))
  np.testing.assert_allclose(value, expected, rtol=1e-6)
  assert abs(value - tutorial) > 0.05


def test_mean_of_batch_values_is_not_the_merged_value():
  rng = np.random.default_rng(3)
  metric = fs.WeightedPrecision(WP_WEIGHTS)
  batches = [(rng.integers(0, 4, n), rng.normal(size=(n, 4)).astype(np.float32))
             for n in (8, 24, 40)]
  states = [metric.update(metric.init(), *b) for b in batches]
  merged = states[0]
  for s in states[1:]:
    merged = metric.merge(merged, s)
  labels = np.concatenate([b[0] for b in batches])
  scores = np.concatenate([b[1] for b in batches])
  expected = _sklearn_weighted_precision(WP_WEIGHTS)([((labels, scores), None)])
  np.testing.assert_allclose(metric.compute(merged), expected, rtol=1e-6)
  batch_mean = np.mean([float(metric.compute(s)) for s in states])
  assert abs(batch_mean - expected) > 1e-3


# -- errors -------------------------------------------------------------------------

CONSTRUCTION_ERRORS = [
    (lambda: fs.FBetaScore(average="invalid_average", num_classes=3),
     r"FBetaScore: Invalid `average` argument value. Expected one of: "
     r"\{None, 'micro', 'macro', 'weighted'\}. Received: average='invalid_average'"),
    (lambda: fs.F1Score(average="samples", num_classes=3),
     r"F1Score: Invalid `average` argument value.*average='samples'"),
    (lambda: fs.FBetaScore("macro", "1.0", num_classes=3),
     r"FBetaScore: Invalid `beta` argument value. It should be a real number. "
     r"Received: beta='1.0'"),
    (lambda: fs.FBetaScore("macro", None, num_classes=3),
     r"FBetaScore: Invalid `beta` argument value. It should be a real number"),
    (lambda: fs.FBetaScore("macro", True, num_classes=3),
     r"FBetaScore: Invalid `beta` argument value. It should be a real number"),
    (lambda: fs.FBetaScore("macro", 0.0, num_classes=3),
     r"FBetaScore: Invalid `beta` argument value. It should be > 0 and finite. "
     r"Received: beta=0.0"),
    (lambda: fs.FBetaScore("macro", -0.5, num_classes=3),
     r"FBetaScore: .*It should be > 0 and finite. Received: beta=-0.5"),
    (lambda: fs.FBetaScore("macro", float("nan"), num_classes=3),
     r"FBetaScore: .*It should be > 0 and finite. Received: beta=nan"),
    (lambda: fs.FBetaScore("macro", float("inf"), num_classes=3),
     r"FBetaScore: .*It should be > 0 and finite. Received: beta=inf"),
    (lambda: fs.FBetaScore("macro", 1.0, "0.5", num_classes=3),
     r"FBetaScore: Invalid `threshold` argument value. It should be a real "
     r"number or None. Received: threshold='0.5'"),
    (lambda: fs.F1Score("macro", 1.1, num_classes=3),
     r"F1Score: Invalid `threshold` argument value. It should verify "
     r"0 < threshold <= 1. Received: threshold=1.1"),
    (lambda: fs.F1Score("macro", 0.0, num_classes=3),
     r"F1Score: .*0 < threshold <= 1. Received: threshold=0.0"),
    (lambda: fs.F1Score("macro", -0.5, num_classes=3),
     r"F1Score: .*0 < threshold <= 1. Received: threshold=-0.5"),
    (lambda: fs.F1Score("macro", float("nan"), num_classes=3),
     r"F1Score: .*0 < threshold <= 1. Received: threshold=nan"),
    (lambda: fs.F1Score(),
     r"F1Score: num_classes is required with average=None: the state holds one "
     r"total per class"),
    (lambda: fs.FBetaScore("macro"),
     r"FBetaScore: num_classes is required with average='macro'"),
    (lambda: fs.FBetaScore("weighted", 2.0),
     r"FBetaScore: num_classes is required with average='weighted'"),
    (lambda: fs.F1Score("micro", num_classes=0),
     r"F1Score: num_classes must be an integer >= 1 or None, got 0"),
    (lambda: fs.F1Score(num_classes=2.0),
     r"F1Score: num_classes must be an integer >= 1 or None, got 2.0"),
    (lambda: fs.F1Score(num_classes=True),
     r"F1Score: num_classes must be an integer >= 1 or None, got True"),
    (lambda: fs.F1Score(num_classes=3, dtype="int32"),
     r"F1Score: dtype must be a floating dtype or None, got 'int32'"),
    (lambda: fs.WeightedPrecision([]),
     r"WeightedPrecision: class_weights must be a non-empty sequence of numbers"),
    (lambda: fs.WeightedPrecision({0: 0.1, 1: 0.9}),
     r"WeightedPrecision: class_weights must be a non-empty sequence of numbers"),
    (lambda: fs.WeightedPrecision(0.5),
     r"WeightedPrecision: class_weights must be a non-empty sequence of numbers"),
    (lambda: fs.WeightedPrecision(["a", "b"]),
     r"WeightedPrecision: class_weights must be a non-empty sequence of numbers"),
    (lambda: fs.WeightedPrecision([-1.0, 2.0]),
     r"WeightedPrecision: class_weights must be finite and >= 0 with a positive "
     r"sum, got \(-1.0, 2.0\)"),
    (lambda: fs.WeightedPrecision([0, 0]),
     r"WeightedPrecision: class_weights must be finite and >= 0 with a positive "
     r"sum"),
    (lambda: fs.WeightedPrecision([1.0, float("nan")]),
     r"WeightedPrecision: class_weights must be finite"),
]


@pytest.mark.parametrize("make,message", CONSTRUCTION_ERRORS,
                         ids=[str(i) for i in range(len(CONSTRUCTION_ERRORS))])
def test_construction_errors(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_valid_configs_beyond_keras():
  # Keras demands Python floats; integers mean the same numbers here.
  assert fs.FBetaScore("micro", 2, 1).threshold == 1.0
  assert fs.FBetaScore("micro", np.float32(0.5)).beta == 0.5
  # Keras' range is (0, 1]: 1.0 is valid and predicts nothing from [0, 1] scores.
  assert fs.F1Score("micro", 1.0).threshold == 1.0


SHAPE_ERRORS = [
    (fs.FBetaScore(num_classes=4), (2, 3, 4), (2, 3, 4), None,
     r"FBetaScore: expected 2D inputs of shape \(batch_size, num_classes\), got "
     r"y_true \(2, 3, 4\) and y_pred \(2, 3, 4\)"),
    (fs.F1Score("micro"), (8,), (8,), None,
     r"F1Score: expected 2D inputs .*got y_true \(8,\) and y_pred \(8,\)"),
    (fs.F1Score("micro"), (8,), (8, 3), None,
     r"F1Score: expected 2D inputs .*got y_true \(8,\) and y_pred \(8, 3\)"),
    (fs.F1Score(num_classes=4), (8, 4), (8, 3), None,
     r"F1Score: expected y_true and y_pred of the same shape, got y_true "
     r"\(8, 4\) and y_pred \(8, 3\)"),
    (fs.F1Score(num_classes=3), (1, 3), (8, 3), None,
     r"F1Score: expected y_true and y_pred of the same shape, got y_true "
     r"\(1, 3\) and y_pred \(8, 3\)"),
    (fs.FBetaScore("macro", num_classes=4), (8, 3), (8, 3), None,
     r"FBetaScore: expected y_pred.shape\[-1\] == num_classes = 4, got y_true "
     r"\(8, 3\) and y_pred \(8, 3\)"),
    (fs.F1Score("micro", num_classes=4), (8, 5), (8, 5), None,
     r"F1Score: expected y_pred.shape\[-1\] == num_classes = 4, got y_true "
     r"\(8, 5\) and y_pred \(8, 5\)"),
    # Keras would multiply (8, 1, 1) weights into an (8, 8, 3) product.
    (fs.F1Score(num_classes=3), (8, 3), (8, 3), (8, 1),
     r"F1Score: expected sample_weight of shape \(batch_size,\) = \(8,\) or a "
     r"scalar, got shape \(8, 1\)"),
    (fs.F1Score(num_classes=3), (8, 3), (8, 3), (4,),
     r"F1Score: sample_weight of shape \(4,\) does not broadcast to shape \(8,\)"),
    (fs.WeightedPrecision([1, 1, 1]), (8,), (8, 4), None,
     r"WeightedPrecision: expected y_pred.shape\[-1\] == len\(class_weights\) = "
     r"3, got y_true \(8,\) and y_pred \(8, 4\)"),
    (fs.WeightedPrecision([1, 1, 1]), (8, 3), (8, 3), None,
     r"WeightedPrecision: expected y_true of shape y_pred.shape\[:-1\] = \(8,\) "
     r".*got y_true \(8, 3\) and y_pred \(8, 3\)"),
    (fs.WeightedPrecision([1, 1, 1]), (16,), (8, 3), None,
     r"WeightedPrecision: expected y_true of shape y_pred.shape\[:-1\] = \(8,\) "
     r".*got y_true \(16,\) and y_pred \(8, 3\)"),
    (fs.WeightedPrecision([1, 1, 1]), (), (), None,
     r"WeightedPrecision: expected y_pred.shape\[-1\] == len\(class_weights\) = "
     r"3, got y_true \(\) and y_pred \(\)"),
    (fs.WeightedPrecision([1, 1, 1]), (8,), (8, 3), (4,),
     r"WeightedPrecision: sample_weight of shape \(4,\) does not broadcast to "
     r"shape \(8,\)"),
]


@pytest.mark.parametrize(
    "metric,true_shape,pred_shape,weight_shape,message", SHAPE_ERRORS,
    ids=[f"{type(e[0]).__name__}-{i}" for i, e in enumerate(SHAPE_ERRORS)])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_shape_errors(metric, true_shape, pred_shape, weight_shape, message, jit):
  y_true = np.zeros(true_shape, np.int32)
  y_pred = np.zeros(pred_shape, np.float32)
  weight = None if weight_shape is None else np.ones(weight_shape, np.float32)
  update = jax.jit(metric.update) if jit else metric.update
  with pytest.raises(ValueError, match=message):
    update(metric.init(), y_true, y_pred, weight)
