"""Regression metrics against Keras 3, scikit-learn and Keras' own test values."""

import inspect

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from sklearn import metrics as skm

from jmetrics._src.metrics import regression as jr
from tests import harness

# Keras' oracle warns where it falls back from the adjusted R2; that is the
# behaviour under test, not a problem.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Division by zero in Adjusted R2"),
    pytest.mark.filterwarnings("ignore:More independent predictors"),
]



def _rows(shape, n):
  """``shape`` (its first axis the batch) with ``n`` rows."""
  return (n, *shape[1:])


def _normal_pairs(shape, noise=0.5):
  """``(y_true, y_pred)`` batches with y_pred a noisy copy of y_true."""
  def make(rng, n):
    rows = _rows(shape, n)
    y_true = rng.normal(size=rows).astype(np.float32)
    y_pred = (y_true + noise * rng.normal(size=rows)).astype(np.float32)
    return y_true, y_pred
  return make


def _column_vs_flat():
  """y_true ``(n,)`` against y_pred ``(n, 1)``: Keras expands y_true."""
  def make(rng, n):
    return (rng.normal(size=(n,)).astype(np.float32),
            rng.normal(size=(n, 1)).astype(np.float32))
  return make


def _uniform_pairs(shape, low, high):
  def make(rng, n):
    rows = _rows(shape, n)
    return (rng.uniform(low, high, rows).astype(np.float32),
            rng.uniform(low, high, rows).astype(np.float32))
  return make


def _percentage_pairs(shape):
  """Targets of both signs, a few exactly 0 (Keras clips |y_true| at 1e-7)."""
  def make(rng, n):
    rows = _rows(shape, n)
    y_true = (rng.uniform(0.5, 2.0, rows) * rng.choice([-1, 1], rows))
    y_true[rng.random(rows) < 0.05] = 0.0
    y_pred = y_true + rng.normal(size=rows)
    return y_true.astype(np.float32), y_pred.astype(np.float32)
  return make


def _value_weights(shape):
  return lambda rng, args: rng.uniform(0, 2, shape).astype(np.float32)


def _keras_r2(**kwargs):
  return lambda: keras.metrics.R2Score(**kwargs)


# Sample-mean metrics share their weighting and merging code, so each gets
# one to three cases; 3-D inputs of every per-sample function are also
# checked against Keras' functions in test_functions_match_keras.
CASES = [
    harness.Case("mse_3d_weight_2d", jr.MeanSquaredError(), _normal_pairs((16, 3, 2)),
                 keras=keras.metrics.MeanSquaredError,
                 make_weights=_value_weights((16, 3))),
    # A 1-D batch is one sample to Keras (the mean over axis -1 is a scalar),
    # so per-sample weights would weight shard means differently under pmap.
    harness.Case("mse_1d_unweighted", jr.MeanSquaredError(), _normal_pairs((16,)),
                 keras=keras.metrics.MeanSquaredError, weighted=False),
    harness.Case("mse_flat_vs_column", jr.MeanSquaredError(), _column_vs_flat(),
                 keras=keras.metrics.MeanSquaredError),
    harness.Case("rmse_1d", jr.RootMeanSquaredError(), _normal_pairs((16,)),
                 keras=keras.metrics.RootMeanSquaredError),
    harness.Case("rmse_2d_weight_2d", jr.RootMeanSquaredError(), _normal_pairs((16, 4)),
                 keras=keras.metrics.RootMeanSquaredError,
                 make_weights=_value_weights((16, 4))),
    harness.Case("rmse_3d", jr.RootMeanSquaredError(), _normal_pairs((16, 3, 2)),
                 keras=keras.metrics.RootMeanSquaredError),
    harness.Case("mae_3d", jr.MeanAbsoluteError(), _normal_pairs((16, 3, 2)),
                 keras=keras.metrics.MeanAbsoluteError),
    harness.Case("mape_2d", jr.MeanAbsolutePercentageError(),
                 _percentage_pairs((16, 4)),
                 keras=keras.metrics.MeanAbsolutePercentageError),
    # Negative values exercise the clip at 1e-7 before the logarithm.
    harness.Case("msle_2d", jr.MeanSquaredLogarithmicError(),
                 _uniform_pairs((16, 4), -0.5, 3.0),
                 keras=keras.metrics.MeanSquaredLogarithmicError),
    harness.Case("logcosh_3d", jr.LogCoshError(), _normal_pairs((16, 3, 2), noise=5.0),
                 keras=keras.metrics.LogCoshError),
    harness.Case("cosine_2d", jr.CosineSimilarity(), _normal_pairs((16, 4)),
                 keras=keras.metrics.CosineSimilarity),
    harness.Case("cosine_3d_axis1", jr.CosineSimilarity(axis=1),
                 _normal_pairs((16, 3, 2)),
                 keras=lambda: keras.metrics.CosineSimilarity(axis=1)),
    harness.Case("cosine_3d_axes12", jr.CosineSimilarity(axis=(1, 2)),
                 _normal_pairs((16, 3, 2)),
                 keras=lambda: keras.metrics.CosineSimilarity(axis=(1, 2))),
    harness.Case("pearson_2d", jr.PearsonCorrelation(), _normal_pairs((16, 5)),
                 keras=keras.metrics.PearsonCorrelation),
    harness.Case("pearson_3d_axis1", jr.PearsonCorrelation(axis=1),
                 _normal_pairs((16, 4, 3)),
                 keras=lambda: keras.metrics.PearsonCorrelation(axis=1)),
    harness.Case("concordance_2d", jr.ConcordanceCorrelation(), _normal_pairs((16, 5)),
                 keras=keras.metrics.ConcordanceCorrelation),
    harness.Case("concordance_3d_axes12", jr.ConcordanceCorrelation(axis=(1, 2)),
                 _normal_pairs((16, 4, 3)),
                 keras=lambda: keras.metrics.ConcordanceCorrelation(axis=(1, 2))),
    harness.Case("r2_flat_vs_column", jr.R2Score(), _column_vs_flat(),
                 keras=_keras_r2()),
    harness.Case("r2_uniform", jr.R2Score(num_outputs=3), _normal_pairs((16, 3)),
                 keras=_keras_r2()),
    harness.Case("r2_variance_weighted",
                 jr.R2Score("variance_weighted_average", num_outputs=3),
                 _normal_pairs((16, 3)),
                 keras=_keras_r2(class_aggregation="variance_weighted_average")),
    harness.Case("r2_adjusted_raw_weight_2d", jr.R2Score(None, 5, num_outputs=3),
                 _normal_pairs((16, 3)),
                 keras=_keras_r2(class_aggregation=None, num_regressors=5),
                 make_weights=_value_weights((16, 3))),
    harness.Case("r2_adjusted_variance_weighted",
                 jr.R2Score("variance_weighted_average", 2, num_outputs=2),
                 _normal_pairs((16, 2)),
                 keras=_keras_r2(class_aggregation="variance_weighted_average",
                                 num_regressors=2)),
    # 3 batches of 16 x 3 values: n = 144, so p = 143 would divide by zero;
    # Keras falls back to the plain score (p > n - 1 is in the jit test).
    harness.Case("r2_regressors_eq_n_minus_1",
                 jr.R2Score(num_regressors=143, num_outputs=3),
                 _normal_pairs((16, 3)), keras=_keras_r2(num_regressors=143),
                 weighted=False),
]

ALGEBRA_CASES = [c for c in CASES if c.id in (
    "mse_3d_weight_2d", "cosine_3d_axes12", "r2_adjusted_raw_weight_2d",
    "r2_adjusted_variance_weighted")]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_all_modes(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- constructors ----------------------------------------------------------------

PAIRS = [
    (jr.MeanSquaredError, keras.metrics.MeanSquaredError),
    (jr.RootMeanSquaredError, keras.metrics.RootMeanSquaredError),
    (jr.MeanAbsoluteError, keras.metrics.MeanAbsoluteError),
    (jr.MeanAbsolutePercentageError, keras.metrics.MeanAbsolutePercentageError),
    (jr.MeanSquaredLogarithmicError, keras.metrics.MeanSquaredLogarithmicError),
    (jr.CosineSimilarity, keras.metrics.CosineSimilarity),
    (jr.LogCoshError, keras.metrics.LogCoshError),
    (jr.R2Score, keras.metrics.R2Score),
    (jr.PearsonCorrelation, keras.metrics.PearsonCorrelation),
    (jr.ConcordanceCorrelation, keras.metrics.ConcordanceCorrelation),
]


@pytest.mark.parametrize("ours,theirs", PAIRS, ids=lambda c: c.__name__)
def test_constructor_matches_keras(ours, theirs):
  keras_params = list(inspect.signature(theirs.__init__).parameters.values())[1:]
  our_params = list(inspect.signature(ours).parameters.values())
  positional = [p for p in our_params if p.kind != p.KEYWORD_ONLY]
  assert [(p.name, p.default) for p in positional] == [
      (p.name, p.default) for p in keras_params]
  assert ours().name == theirs().name
  extra = [p.name for p in our_params if p.kind == p.KEYWORD_ONLY]
  assert extra == (["num_outputs"] if ours is jr.R2Score else [])


def test_configs_hash_and_freeze():
  assert jr.CosineSimilarity(axis=[1, 2]) == jr.CosineSimilarity(axis=(1, 2))
  assert (hash(jr.CosineSimilarity(axis=[1, 2]))
          == hash(jr.CosineSimilarity(axis=(1, 2))))
  assert jr.R2Score(num_outputs=3) == jr.R2Score("uniform_average", 0, num_outputs=3)
  assert jr.R2Score(num_outputs=3) != jr.R2Score(num_outputs=2)
  m = jr.LogCoshError(name="lc", dtype="float16")
  assert m.name == "lc"
  assert m(np.ones((8, 2)), np.zeros((8, 2))).dtype == jnp.float16


# -- empty states ----------------------------------------------------------------

@pytest.mark.parametrize("cls", [p[0] for p in PAIRS if p[0] is not jr.R2Score],
                         ids=lambda c: c.__name__)
def test_empty_state_is_zero(cls):
  m = cls()
  assert float(m.compute(m.init())) == 0.0
  assert float(jax.jit(m.compute)(m.init())) == 0.0


def test_r2_empty_state_is_nan_like_keras():
  for aggregation in (None, "uniform_average", "variance_weighted_average"):
    m = jr.R2Score(aggregation, num_outputs=2)
    ours = np.asarray(jax.jit(m.compute)(m.init()))
    keras_metric = keras.metrics.R2Score(aggregation)
    empty = np.zeros((0, 2), np.float32)
    keras_metric.update_state(empty, empty)
    np.testing.assert_array_equal(ours, np.asarray(keras_metric.result()))
    assert np.all(np.isnan(ours))


# -- fixed values from Keras' own tests ------------------------------------------

_Y_TRUE = np.array([[0, 1, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]])
_Y_PRED = np.array([[0, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]])
_WEIGHT = np.array([1.0, 1.5, 2.0, 2.5])


@pytest.mark.parametrize("metric,weight,expected", [
    (jr.MeanSquaredError(), None, 0.5),
    (jr.MeanSquaredError(), _WEIGHT, 0.54285),
    (jr.MeanAbsoluteError(), None, 0.5),
    (jr.MeanAbsoluteError(), _WEIGHT, 0.54285),
    (jr.MeanSquaredLogarithmicError(), None, 0.24022),
    (jr.MeanSquaredLogarithmicError(), _WEIGHT, 0.26082),
], ids=str)
def test_keras_fixed_values(metric, weight, expected):
  np.testing.assert_allclose(metric(_Y_TRUE, _Y_PRED, sample_weight=weight),
                             expected, atol=1e-5)


def test_keras_fixed_mape():
  m = jr.MeanAbsolutePercentageError()
  y_pred = _Y_PRED.astype(np.float32)
  np.testing.assert_allclose(m(_Y_TRUE, y_pred), 35e7, rtol=1e-6)
  np.testing.assert_allclose(m(_Y_TRUE, y_pred, sample_weight=_WEIGHT), 40e7, rtol=1e-6)


def test_keras_fixed_rmse():
  m = jr.RootMeanSquaredError()
  np.testing.assert_allclose(m(np.array([2, 4, 6]), np.array([1, 3, 2])), np.sqrt(6),
                             atol=1e-3)
  np.testing.assert_allclose(
      m(np.array([2, 4, 6, 8]), np.array([1, 3, 2, 3]),
        sample_weight=np.array([0, 1, 0, 1])), np.sqrt(13), atol=1e-3)


def _l2_norm(x, axis):
  return x / np.sqrt(np.maximum(np.sum(np.square(x), axis=axis, keepdims=True), 1e-12))


def test_keras_fixed_cosine():
  y_true = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
  y_pred = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)
  per_sample = np.sum(_l2_norm(y_true, 1) * _l2_norm(y_pred, 1), axis=1)
  weight = np.asarray([1.2, 3.4])
  np.testing.assert_allclose(jr.CosineSimilarity()(y_true, y_pred),
                             np.mean(per_sample), atol=1e-3)
  np.testing.assert_allclose(jr.CosineSimilarity(axis=1)(y_true, y_pred),
                             np.mean(per_sample), atol=1e-3)
  np.testing.assert_allclose(
      jr.CosineSimilarity()(y_true, y_pred, sample_weight=weight),
      np.sum(per_sample * weight) / np.sum(weight), atol=1e-3)
  # A zero vector has similarity 0, not NaN.
  assert float(jr.cosine_similarity([[0.0, 0.0]], [[1.0, 2.0]])[0]) == 0.0


def test_keras_fixed_logcosh():
  y_true = np.asarray([[1, 9, 2], [-5, -2, 6]], dtype=np.float32)
  y_pred = np.asarray([[4, 8, 12], [8, 1, 3]], dtype=np.float32)
  error = (y_pred - y_true).astype(np.float64)
  expected = np.log((np.exp(error) + np.exp(-error)) / 2)
  np.testing.assert_allclose(jr.LogCoshError()(y_true, y_pred), np.sum(expected) / 6,
                             atol=1e-3)
  weight = np.array([[1.2], [3.4]])
  full_weight = np.broadcast_to(weight, (2, 3))
  np.testing.assert_allclose(
      jr.LogCoshError()(y_true, y_pred, sample_weight=weight),
      np.sum(expected * full_weight) / np.sum(full_weight), atol=1e-3)
  # Large errors stay finite (cosh would overflow float32 past ~89).
  np.testing.assert_allclose(jr.log_cosh([[0.0]], [[200.0]]), [200.0 - np.log(2.0)],
                             rtol=1e-6)


_CORR_TRUE = np.array([[0, 1, 0.5], [1, 1, 0.2], [1, 1, 0.1], [0.1, 0.7, 0.0]],
                      dtype="float32")
_CORR_PRED = np.array([[0.1, 0.9, 0.5], [1, 0.9, 0.2], [0.2, 0.8, 0], [0.3, 0.3, 0.9]],
                      dtype="float32")
_CCC_EXPECTED = np.array([0.97560976, 0.98765432, 0.46511628, -0.46376812])


def test_keras_fixed_correlations():
  pcc_expected = np.array([stats.pearsonr(t, p).statistic
                           for t, p in zip(_CORR_TRUE, _CORR_PRED)])
  np.testing.assert_allclose(jr.pearson_correlation(_CORR_TRUE, _CORR_PRED),
                             pcc_expected, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jr.concordance_correlation(_CORR_TRUE, _CORR_PRED),
                             _CCC_EXPECTED, rtol=1e-5, atol=1e-6)
  for metric, expected in ((jr.PearsonCorrelation(dtype="float32"), pcc_expected),
                           (jr.ConcordanceCorrelation(dtype="float32"), _CCC_EXPECTED)):
    state = metric.update(metric.init(), _CORR_TRUE[:2], _CORR_PRED[:2])
    np.testing.assert_allclose(metric.compute(state), np.mean(expected[:2]), rtol=1e-5)
    state = metric.update(state, _CORR_TRUE[2:], _CORR_PRED[2:])
    np.testing.assert_allclose(metric.compute(state), np.mean(expected), rtol=1e-5)


def _textbook_concordance(y_true, y_pred):
  y_true, y_pred = np.float64(y_true), np.float64(y_pred)
  mt, mp = y_true.mean(-1), y_pred.mean(-1)
  cov = ((y_true - mt[:, None]) * (y_pred - mp[:, None])).mean(-1)
  return 2 * cov / (y_true.var(-1) + y_pred.var(-1) + (mt - mp) ** 2)


def test_concordance_is_lins_coefficient():
  rng = np.random.default_rng(3)
  y_true = rng.normal(size=(8, 50)).astype(np.float32)
  y_pred = (0.8 * y_true + 0.3 + 0.5 * rng.normal(size=(8, 50))).astype(np.float32)
  np.testing.assert_allclose(jr.concordance_correlation(y_true, y_pred),
                             _textbook_concordance(y_true, y_pred), rtol=1e-5)


def test_huber_matches_keras():
  rng = np.random.default_rng(4)
  y_true = rng.normal(size=(16, 4)).astype(np.float32)
  y_pred = (3 * rng.normal(size=(16, 4))).astype(np.float32)
  for delta in (1.0, 0.3):
    np.testing.assert_allclose(jr.huber(y_true, y_pred, delta),
                               keras.metrics.huber(y_true, y_pred, delta), rtol=1e-6)


@pytest.mark.parametrize("ours,theirs", [
    (jr.mean_squared_error, keras.metrics.mean_squared_error),
    (jr.mean_absolute_error, keras.metrics.mean_absolute_error),
    (jr.mean_absolute_percentage_error, keras.metrics.mean_absolute_percentage_error),
    (jr.mean_squared_logarithmic_error, keras.metrics.mean_squared_logarithmic_error),
    (jr.log_cosh, keras.metrics.log_cosh),
    (jr.pearson_correlation, keras.metrics.pearson_correlation),
    (jr.concordance_correlation, keras.metrics.concordance_correlation),
], ids=lambda f: getattr(f, "__name__", ""))
def test_functions_match_keras(ours, theirs):
  rng = np.random.default_rng(5)
  y_true = rng.uniform(0.1, 2.0, (8, 3, 4)).astype(np.float32)
  y_pred = rng.uniform(0.1, 2.0, (8, 3, 4)).astype(np.float32)
  np.testing.assert_allclose(ours(y_true, y_pred), theirs(y_true, y_pred),
                             rtol=1e-5, atol=1e-6)


# -- R2Score: Keras' fixed values, scikit-learn, precision, jit -----------------

_R2_TRUE = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]


@pytest.mark.parametrize("aggregation,expected", [
    (None, [0.37, -1.295, 0.565]),
    ("uniform_average", -0.12),
    ("variance_weighted_average", -0.12),
])
def test_r2_keras_sklearn_comparison(aggregation, expected):
  y_pred = [[0.4, 0.5, 0.6], [0.1, 0.2, 0.3], [0.5, 0.8, 0.2]]
  m = jr.R2Score(aggregation, 0, dtype="float32", num_outputs=3)
  np.testing.assert_allclose(m(_R2_TRUE, y_pred), expected, atol=1e-6)


@pytest.mark.parametrize("aggregation,regressors,expected", [
    (None, 0, [0.17305559, -8.836666, -0.521]),
    (None, 1, [0.054920673, -10.241904, -0.7382858]),
    (None, 2, [-0.10259259, -12.115555, -1.0280001]),
    ("uniform_average", 0, -3.0615367889404297),
    ("uniform_average", 1, -3.641756534576416),
    ("uniform_average", 2, -4.415382385253906),
    ("variance_weighted_average", 0, -1.3710224628448486),
    ("variance_weighted_average", 1, -1.7097399234771729),
    ("variance_weighted_average", 2, -2.161363363265991),
])
def test_r2_keras_tfa_comparison(aggregation, regressors, expected):
  y_pred = [[0.4, 0.9, 1.6], [0.1, 1.2, 0.6], [1.5, 0.8, 0.6]]
  m = jr.R2Score(aggregation, regressors, dtype="float32", num_outputs=3)
  np.testing.assert_allclose(m(_R2_TRUE, y_pred, sample_weight=[0.8, 0.1, 0.4]),
                             expected, rtol=1e-6, atol=1e-6)


_MULTIOUTPUT = {None: "raw_values", "uniform_average": "uniform_average",
                "variance_weighted_average": "variance_weighted"}


def _r2_batches(rng, n_batches, batch, outputs, offset=0.0, scale=1.0):
  shape = (n_batches * batch, outputs)
  y_true = (offset + scale * rng.normal(size=shape)).astype(np.float32)
  y_pred = (y_true + 0.6 * scale * rng.normal(size=y_true.shape)).astype(np.float32)
  weight = rng.uniform(0.0, 2.0, n_batches * batch).astype(np.float32)
  weight[rng.random(weight.shape) < 0.25] = 0.0
  return y_true, y_pred, weight


def _run_batches(metric, y_true, y_pred, weight, batch):
  update = jax.jit(metric.update)
  state = metric.init()
  for i in range(0, len(y_true), batch):
    state = update(state, y_true[i:i + batch], y_pred[i:i + batch],
                   None if weight is None else weight[i:i + batch])
  return np.asarray(jax.jit(metric.compute)(state))


def _sklearn_r2(y_true, y_pred, weight, aggregation, num_regressors=0):
  score = skm.r2_score(np.float64(y_true), np.float64(y_pred), sample_weight=weight,
                       multioutput=_MULTIOUTPUT[aggregation])
  if num_regressors:
    n = y_true.size  # Keras' n: every target value seen
    score = 1 - (1 - score) * (n - 1) / (n - num_regressors - 1)
  return score


@pytest.mark.parametrize("aggregation", list(_MULTIOUTPUT))
@pytest.mark.parametrize("num_regressors", [0, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_r2_matches_sklearn(aggregation, num_regressors, weighted):
  rng = np.random.default_rng(11)
  y_true, y_pred, weight = _r2_batches(rng, 4, 64, 3, scale=2.0)
  weight = weight if weighted else None
  m = jr.R2Score(aggregation, num_regressors, num_outputs=3)
  np.testing.assert_allclose(_run_batches(m, y_true, y_pred, weight, 64),
                             _sklearn_r2(y_true, y_pred, weight, aggregation,
                                         num_regressors), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("aggregation", list(_MULTIOUTPUT))
def test_r2_large_offset_stays_accurate(aggregation):
  """y ~ 1000 + N(0, 1): float32 sum(y^2) - sum(y) * mean has no digits left.

  Keras' float32 formula is off by about 1e-2 here; the double-float sums
  keep the score within float32 rounding of scikit-learn's float64 one,
  however the batches are split and merged.
  """
  rng = np.random.default_rng(12)
  y_true, y_pred, weight = _r2_batches(rng, 8, 512, 2, offset=1000.0)
  expected = _sklearn_r2(y_true, y_pred, weight, aggregation)
  m = jr.R2Score(aggregation, num_outputs=2)
  np.testing.assert_allclose(_run_batches(m, y_true, y_pred, weight, 512), expected,
                             rtol=1e-6, atol=1e-6)
  states = [m.update(m.init(), y_true[i::8], y_pred[i::8], weight[i::8])
            for i in range(8)]
  merged = states[0]
  for state in states[1:]:
    merged = m.merge(merged, state)
  np.testing.assert_allclose(m.compute(merged), expected, rtol=1e-6, atol=1e-6)


def test_r2_sync_keeps_double_float_precision():
  """Device merges (pmap + sync, shard_map + sync) lose no digits either."""
  rng = np.random.default_rng(16)
  y_true, y_pred, weight = _r2_batches(rng, 2, 1024, 2, offset=1000.0)
  expected = _sklearn_r2(y_true, y_pred, weight, None)
  m = jr.R2Score(None, num_outputs=2)
  batches = [((y_true[i:i + 1024], y_pred[i:i + 1024]), weight[i:i + 1024])
             for i in (0, 1024)]
  for device_value in harness.run_pmap(m, batches):
    np.testing.assert_allclose(device_value, expected, rtol=1e-6, atol=1e-6)

  mesh = jax.make_mesh((4, 2), ("data", "model"))
  spec = jax.sharding.PartitionSpec(("data", "model"))

  def evaluate(y_true, y_pred, weight):
    state = m.update(m.init(), y_true, y_pred, weight)
    return m.compute(m.sync(state, ("data", "model")))

  # out_specs=P() also checks that the synced state is known to be replicated.
  evaluate = jax.jit(jax.shard_map(evaluate, mesh=mesh, in_specs=(spec,) * 3,
                                   out_specs=jax.sharding.PartitionSpec()))
  sharding = jax.sharding.NamedSharding(mesh, spec)
  args = [jax.device_put(x, sharding) for x in (y_true, y_pred, weight)]
  np.testing.assert_allclose(evaluate(*args), expected, rtol=1e-6, atol=1e-6)


def test_r2_huge_count_stays_exact():
  """n and sum(w) stay exact past 2**24 values, where float32 counters stall."""
  m = jr.R2Score(num_regressors=1, num_outputs=2)
  rng = np.random.default_rng(13)
  y_true, y_pred, _ = _r2_batches(rng, 1, 64, 2)
  state = m.update(m.init(), y_true, y_pred)
  # 2**19 identical batches, merged by doubling: 2**25 rows, 2**26 values.
  for _ in range(19):
    state = m.merge(state, state)
  assert float(state.num_samples.hi) + float(state.num_samples.lo) == 2.0**26
  assert np.all(np.asarray(state.sum_weight.hi, np.float64)
                + np.asarray(state.sum_weight.lo, np.float64) == 2.0**25)
  expected = _sklearn_r2(y_true, y_pred, None, "uniform_average")
  n = 2.0**26
  np.testing.assert_allclose(m.compute(state), 1 - (1 - expected) * (n - 1) / (n - 2),
                             rtol=1e-6)


@pytest.mark.parametrize("aggregation,num_regressors", [
    (None, 0), ("uniform_average", 2), ("variance_weighted_average", 4),
    ("uniform_average", 95), ("uniform_average", 383), ("uniform_average", 1000)])
def test_r2_fully_jitted_matches_keras(aggregation, num_regressors):
  """init, every update (a scan) and compute in one jitted function."""
  rng = np.random.default_rng(14)
  y_true, y_pred, weight = _r2_batches(rng, 4, 24, 4)
  m = jr.R2Score(aggregation, num_regressors, num_outputs=4)

  @jax.jit
  def evaluate(y_true, y_pred, weight):
    def step(state, batch):
      return m.update(state, *batch), None
    batches = jax.tree.map(lambda x: x.reshape((4, 24) + x.shape[1:]),
                           (y_true, y_pred, weight))
    state, _ = jax.lax.scan(step, m.init(), batches)
    return m.compute(state)

  keras_metric = keras.metrics.R2Score(aggregation, num_regressors)
  for i in range(0, 96, 24):
    keras_metric.update_state(y_true[i:i + 24], y_pred[i:i + 24], weight[i:i + 24])
  # 96 x 4 values: p = 95 adjusts; p = 383 = n - 1 and p = 1000 fall back
  # to the plain score.
  np.testing.assert_allclose(evaluate(y_true, y_pred, weight), keras_metric.result(),
                             rtol=1e-5, atol=1e-6)


def test_r2_constant_target_follows_keras():
  """SS_tot == 0: score 0 with residuals, NaN without (Keras divides 0 by 0)."""
  y_true = np.array([[3.0, 3.0], [3.0, 3.0], [3.0, 3.0]], np.float32)
  y_pred = np.array([[2.0, 3.0], [3.0, 3.0], [4.0, 3.0]], np.float32)
  m = jr.R2Score(None, num_outputs=2)
  keras_metric = keras.metrics.R2Score(None)
  keras_metric.update_state(y_true, y_pred)
  np.testing.assert_array_equal(jax.jit(m)(y_true, y_pred), keras_metric.result())
  np.testing.assert_array_equal(m(y_true, y_pred), [0.0, np.nan])


def test_double_float_product_is_exact_enough():
  rng = np.random.default_rng(15)
  scale = rng.choice([1e-3, 1.0, 1e3, 1e6], 4096).astype(np.float32)
  a = (rng.normal(size=4096) * scale).astype(np.float32)
  b = rng.normal(size=4096).astype(np.float32)
  exact = np.float64(a) * np.float64(b)
  two_prod = jr._two_prod  # pylint: disable=protected-access
  for two_prod in (two_prod, jax.jit(two_prod)):
    hi, lo = two_prod(a, b)
    np.testing.assert_allclose(np.float64(hi) + np.float64(lo), exact, rtol=2e-14)


# -- errors ----------------------------------------------------------------------

def _raises(match, fn, *args, **kwargs):
  with pytest.raises(ValueError, match=match):
    fn(*args, **kwargs)


@pytest.mark.parametrize("jit", [False, True])
def test_shape_errors_name_metric_argument_and_shapes(jit):
  def update(metric):
    return jax.jit(metric.update) if jit else metric.update

  m = jr.MeanSquaredError()
  _raises(r"MeanSquaredError: expected y_true and y_pred of the same shape.*"
          r"got y_true \(16, 4\) and y_pred \(16, 3\)",
          update(m), m.init(), np.zeros((16, 4)), np.zeros((16, 3)))
  _raises(r"MeanSquaredError: sample_weight of shape \(5,\) does not broadcast to "
          r"shape \(16,\)",
          update(m), m.init(), np.zeros((16, 4)), np.zeros((16, 4)), np.ones(5))
  m = jr.RootMeanSquaredError()
  _raises(r"RootMeanSquaredError: expected y_true and y_pred with at least 1 "
          r"dimension, got y_true \(\) and y_pred \(\)",
          update(m), m.init(), 1.0, 2.0)
  m = jr.CosineSimilarity(axis=2)
  _raises(r"CosineSimilarity: axis 2 is out of range for y_true and y_pred of "
          r"shape \(16, 4\)", update(m), m.init(), np.zeros((16, 4)), np.zeros((16, 4)))
  m = jr.PearsonCorrelation(axis=(1, -1))
  _raises(r"PearsonCorrelation: axis \(1, -1\) repeats an axis of y_true and "
          r"y_pred of shape \(16, 4\)",
          update(m), m.init(), np.zeros((16, 4)), np.zeros((16, 4)))
  m = jr.R2Score()
  _raises(r"R2Score: expected y_true and y_pred of the same shape \(batch_size, "
          r"num_outputs\), got y_true \(16,\) and y_pred \(16,\)",
          update(m), m.init(), np.zeros(16), np.zeros(16))
  _raises(r"R2Score: expected .* got y_true \(16, 2, 1\) and y_pred \(16, 2, 1\)",
          update(m), m.init(), np.zeros((16, 2, 1)), np.zeros((16, 2, 1)))
  _raises(r"R2Score: y_true and y_pred have 3 outputs on their last axis \(shapes "
          r"\(16, 3\) and \(16, 3\)\) but the metric has num_outputs=1; construct "
          r"it with R2Score\(num_outputs=3\)",
          update(m), m.init(), np.zeros((16, 3)), np.zeros((16, 3)))
  m = jr.R2Score(num_outputs=3)
  _raises(r"R2Score: sample_weight of shape \(16, 2\) does not broadcast to shape "
          r"\(16, 3\)",
          update(m), m.init(), np.zeros((16, 3)), np.zeros((16, 3)), np.ones((16, 2)))


def test_function_errors_name_the_function():
  _raises(r"mean_absolute_error: expected y_true and y_pred of the same shape.*"
          r"got y_true \(4, 2\) and y_pred \(4, 5\)",
          jr.mean_absolute_error, np.zeros((4, 2)), np.zeros((4, 5)))
  _raises(r"cosine_similarity: axis 3 is out of range",
          jr.cosine_similarity, np.zeros((4, 2)), np.zeros((4, 2)), axis=3)


def test_invalid_configs_fail_at_construction():
  _raises(r"R2Score: class_aggregation must be one of \(None, 'uniform_average', "
          r"'variance_weighted_average'\), got 'wrong'", jr.R2Score, "wrong")
  _raises(r"R2Score: num_regressors must be an int >= 0, got -1",
          jr.R2Score, num_regressors=-1)
  _raises(r"R2Score: num_regressors must be an int >= 0, got 1.5",
          jr.R2Score, num_regressors=1.5)
  _raises(r"R2Score: num_outputs must be an int >= 1, got 0", jr.R2Score, num_outputs=0)
  _raises(r"CosineSimilarity: axis must be an int or a tuple of ints, got 'x'",
          jr.CosineSimilarity, axis="x")
  _raises(r"ConcordanceCorrelation: axis must be an int or a tuple of ints, got \(\)",
          jr.ConcordanceCorrelation, axis=())
