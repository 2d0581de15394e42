"""Moment-based regression metrics at extreme offsets and weights.

Every expected value is scikit-learn's (or a NumPy float64 definition's) on
the same float32 arrays converted to float64, never a number jmetrics made.

Tolerances. The metrics return float32, so the best they can do is the
float64 value rounded to float32: a relative error of 6e-8 (one half ulp).
R2Score's moments are double-floats (about 46 bits) about a reference inside
the data, so its only float32 steps are the last ``1 - SS_res / SS_tot`` and
the rounding of each residual term; ``rtol=5e-7`` (about 8 ulps) leaves room
for that and for summation order, and is 100x tighter than the 4e-5 the old
float32 correlations were off by at 1e15 (and infinitely tighter than
R2Score's old NaN). The per-sample correlations work in float32 on exactly
centred values: each coefficient carries the float32 rounding of a few
sums of ``L`` products, so ``rtol=1e-6``.
"""

import jax
import keras
import numpy as np
import pytest
from sklearn import metrics as skm

import jmetrics as jm

R2_RTOL = 5e-7
CORRELATION_RTOL = 1e-6
N = 10**6
AGGREGATIONS = {None: "raw_values", "uniform_average": "uniform_average",
                "variance_weighted_average": "variance_weighted"}


def _offset_data(offset, spread, n=N, seed=0, outputs=None):
  """float32 ``y_true = offset + spread N(0, 1)``, ``y_pred`` 10% noisier."""
  rng = np.random.default_rng(seed)
  shape = (n,) if outputs is None else (n, outputs)
  y_true = (offset + spread * rng.standard_normal(shape)).astype(np.float32)
  y_pred = (y_true + 0.1 * spread * rng.standard_normal(shape)).astype(np.float32)
  return y_true, y_pred


def _f64(*arrays):
  return [None if a is None else np.asarray(a, np.float64) for a in arrays]


def _sklearn_r2(y_true, y_pred, weight=None, aggregation="uniform_average"):
  return skm.r2_score(*_f64(y_true, y_pred), sample_weight=_f64(weight)[0],
                      multioutput=AGGREGATIONS[aggregation])


def _column(x):
  return None if x is None else np.asarray(x)[:, None]


def _one_batch(m, y_true, y_pred, weight=None):
  return m.compute(m.update(m.init(), _column(y_true), _column(y_pred),
                            _column(weight)))


def _ten_batches(m, y_true, y_pred, weight=None):
  state = m.init()
  for rows in np.array_split(np.arange(len(y_true)), 10):
    state = m.update(state, _column(y_true[rows]), _column(y_pred[rows]),
                     None if weight is None else _column(weight[rows]))
  return m.compute(state)


def _two_states(m, y_true, y_pred, weight=None):
  """Odd and even rows in separate states, merged (uneven halves on purpose)."""
  states = []
  for rows in (slice(0, None, 2), slice(1, None, 2)):
    states.append(m.update(m.init(), _column(y_true[rows]),
                           _column(y_pred[rows]),
                           None if weight is None else _column(weight[rows])))
  return m.compute(m.merge(states[1], states[0]))


RUNS = {"one_batch": _one_batch, "ten_batches": _ten_batches,
        "two_states_merged": _two_states}


def _assert_close(got, expected, rtol):
  got = np.asarray(got, np.float64)
  assert np.all(np.isfinite(got)), got
  np.testing.assert_allclose(got, expected, rtol=rtol, atol=0)


# -- R2Score -----------------------------------------------------------------------


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("offset,spread", [(1e14, 1e9), (1e15, 1e10)])
def test_r2_at_a_large_offset_matches_sklearn(offset, spread, run):
  """At 1e14 float32 sum(y)^2 overflowed: the score was NaN."""
  y_true, y_pred = _offset_data(offset, spread)
  expected = _sklearn_r2(y_true, y_pred)
  assert 0.98 < expected < 0.995
  _assert_close(RUNS[run](jm.R2Score(), y_true, y_pred), expected, R2_RTOL)


def _one_huge_weight(exact_heavy_prediction, seed=1, offset=0.0, spread=1.0):
  """Ordinary data, weights in [0.5, 1.5) and one weight of 1e30 (row 654321)."""
  rng = np.random.default_rng(seed)
  y_true = (offset + spread * rng.standard_normal(N)).astype(np.float32)
  y_pred = (y_true + 0.2 * spread * rng.standard_normal(N)).astype(np.float32)
  weight = rng.uniform(0.5, 1.5, N).astype(np.float32)
  heavy = 654321  # in the seventh of ten batches: the reference must move
  weight[heavy] = 1e30
  if exact_heavy_prediction:
    y_pred[heavy] = y_true[heavy]
  return y_true, y_pred, weight


@pytest.mark.parametrize("run", list(RUNS))
def test_r2_one_weight_of_1e30(run):
  """The heavy target is predicted exactly: the others decide the score.

  w y^2 overflowed float32 (the score was NaN). About the weighted mean,
  which sits on the heavy target, the others' spread is all there is, so
  a reference anywhere else would cancel away every digit.
  """
  y_true, y_pred, weight = _one_huge_weight(True)
  expected = _sklearn_r2(y_true, y_pred, weight)
  assert 0.95 < expected < 0.97
  _assert_close(RUNS[run](jm.R2Score(), y_true, y_pred, weight), expected,
                R2_RTOL)


@pytest.mark.parametrize("run", list(RUNS))
def test_r2_one_weight_of_1e30_with_a_residual(run):
  """The heavy target's residual dominates: a score of about -1e22."""
  y_true, y_pred, weight = _one_huge_weight(False)
  expected = _sklearn_r2(y_true, y_pred, weight)
  assert expected < -1e20
  _assert_close(RUNS[run](jm.R2Score(), y_true, y_pred, weight), expected,
                R2_RTOL)


@pytest.mark.parametrize("run", ["one_batch", "two_states_merged"])
def test_r2_one_weight_of_1e30_at_offset_1e15(run):
  """Both extremes at once: w (y - mean)^2 alone would reach 1e50."""
  y_true, y_pred, weight = _one_huge_weight(True, seed=2, offset=1e15,
                                            spread=1e10)
  expected = _sklearn_r2(y_true, y_pred, weight)
  _assert_close(RUNS[run](jm.R2Score(), y_true, y_pred, weight), expected,
                R2_RTOL)


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("offset,spread", [(0.0, 1.0), (1e15, 1e10)])
def test_r2_weights_spanning_1e_minus_30_to_1e30(offset, spread, run):
  rng = np.random.default_rng(3)
  y_true, y_pred = _offset_data(offset, spread, seed=4)
  weight = (10.0 ** rng.uniform(-30, 30, N)).astype(np.float32)
  expected = _sklearn_r2(y_true, y_pred, weight)
  _assert_close(RUNS[run](jm.R2Score(), y_true, y_pred, weight), expected,
                R2_RTOL)


def _multi_output_data(n=200_000):
  """Three outputs at offsets 0, 1e14, 1e15 with weights ~1, ~1e30 and
  1e-30..1e30 (per value), so each output has its own reference and scale."""
  rng = np.random.default_rng(5)
  offsets, spreads = np.array([0.0, 1e14, 1e15]), np.array([1.0, 1e9, 1e10])
  noise = np.array([0.3, 0.1, 0.05])
  y_true = (offsets + spreads * rng.standard_normal((n, 3))).astype(np.float32)
  y_pred = (y_true + noise * spreads * rng.standard_normal((n, 3))
            ).astype(np.float32)
  weight = np.stack([rng.uniform(0.0, 2.0, n),
                     1e30 * rng.uniform(0.5, 1.5, n),
                     10.0 ** rng.uniform(-30, 30, n)], axis=1).astype(np.float32)
  return y_true, y_pred, weight


def _sklearn_multi_output(y_true, y_pred, weight, aggregation, num_regressors):
  """Per-value weights: scikit-learn takes one weight per row, so per output."""
  y_true, y_pred, weight = _f64(y_true, y_pred, weight)
  raw = np.array([skm.r2_score(y_true[:, j], y_pred[:, j],
                               sample_weight=weight[:, j]) for j in range(3)])
  if aggregation == "uniform_average":
    score = raw.mean()
  elif aggregation == "variance_weighted_average":
    ss_tot = np.array([np.sum(w * (t - np.average(t, weights=w)) ** 2)
                       for t, w in zip(y_true.T, weight.T)])
    score = np.sum(ss_tot * raw) / np.sum(ss_tot)
  else:
    score = raw
  if num_regressors:
    n = y_true.size  # Keras' n: every target value
    score = 1 - (1 - score) * (n - 1) / (n - num_regressors - 1)
  return score


@pytest.mark.parametrize("num_regressors", [0, 7])
@pytest.mark.parametrize("aggregation", list(AGGREGATIONS))
def test_r2_multi_output_aggregations(aggregation, num_regressors):
  y_true, y_pred, weight = _multi_output_data()
  expected = _sklearn_multi_output(y_true, y_pred, weight, aggregation,
                                   num_regressors)
  m = jm.R2Score(aggregation, num_regressors, num_outputs=3)
  state = m.init()
  for rows in np.array_split(np.arange(len(y_true)), 4):
    state = m.update(state, y_true[rows], y_pred[rows], weight[rows])
  _assert_close(m.compute(state), expected, R2_RTOL)
  halves = [m.update(m.init(), y_true[rows], y_pred[rows], weight[rows])
            for rows in (slice(None, 70_000), slice(70_000, None))]
  _assert_close(jax.jit(m.compute)(m.merge(*halves)), expected, R2_RTOL)


def test_r2_sync_and_merge_stacked_with_the_huge_weight_on_one_device():
  """8 devices (pmap): the device holding the 1e30 weight sets the reference."""
  n_devices, n = 8, 8 * 16_384
  rng = np.random.default_rng(6)
  y_true, y_pred = _offset_data(1e15, 1e10, n=n, seed=7)
  weight = rng.uniform(0.0, 2.0, n).astype(np.float32)
  heavy = 5 * 16_384 + 123  # on device 5
  weight[heavy], y_pred[heavy] = 1e30, y_true[heavy]
  expected = _sklearn_r2(y_true, y_pred, weight)
  m = jm.R2Score(num_regressors=2)

  def step(t, p, w):
    state = m.update(m.init(), t[:, None], p[:, None], w)
    return m.compute(m.sync(state, "d")), state

  split = lambda x: x.reshape(n_devices, -1)  # pylint: disable=unnecessary-lambda-assignment
  synced, per_device = jax.pmap(step, axis_name="d")(
      split(y_true), split(y_pred), split(weight))
  adjusted = 1 - (1 - expected) * (n - 1) / (n - 3)
  for value in np.asarray(synced):
    _assert_close(value, adjusted, R2_RTOL)
  _assert_close(m.compute(m.merge_stacked(per_device)), adjusted, R2_RTOL)


def test_r2_masked_update_at_offset_ignores_the_padding():
  y_true, y_pred = _offset_data(1e15, 1e10, n=4096, seed=8)
  mask = np.arange(4096) < 4000
  y_true[~mask], y_pred[~mask] = np.nan, -1e38
  weight = np.where(mask, 1.0, 1e30).astype(np.float32)
  m = jm.R2Score()
  state = m.masked_update(m.init(), y_true[:, None], y_pred[:, None],
                          mask=mask, sample_weight=weight)
  _assert_close(m.compute(state), _sklearn_r2(y_true[mask], y_pred[mask]),
                R2_RTOL)


@pytest.mark.parametrize("aggregation", list(AGGREGATIONS))
def test_r2_ordinary_data_unchanged(aggregation):
  """N(0, 1) data with ordinary weights: Keras' float32 score and
  scikit-learn's float64 one, to float32 rounding, as before."""
  rng = np.random.default_rng(9)
  y_true = rng.standard_normal((3, 256, 2)).astype(np.float32)
  y_pred = (y_true + 0.5 * rng.standard_normal((3, 256, 2))).astype(np.float32)
  weight = rng.uniform(0.0, 2.0, (3, 256)).astype(np.float32)
  m = jm.R2Score(aggregation, num_outputs=2)
  theirs = keras.metrics.R2Score(aggregation)
  state = m.init()
  for t, p, w in zip(y_true, y_pred, weight):
    state = m.update(state, t, p, w)
    theirs.update_state(t, p, sample_weight=w)
  ours = np.asarray(m.compute(state), np.float64)
  expected = _sklearn_r2(y_true.reshape(-1, 2), y_pred.reshape(-1, 2),
                         weight.reshape(-1), aggregation)
  np.testing.assert_allclose(ours, expected, rtol=1e-6)
  np.testing.assert_allclose(ours, np.asarray(theirs.result()), rtol=1e-6)


# -- per-sample correlations -------------------------------------------------------


def _rows_reference(fn, y_true, y_pred, weight=None):
  """The weighted mean over rows of a float64 per-row coefficient."""
  y_true, y_pred = _f64(y_true, y_pred)
  values = np.array([fn(t, p) for t, p in zip(y_true, y_pred)])
  return np.average(values, weights=_f64(weight)[0])


def _pearson(t, p):
  return np.corrcoef(t, p)[0, 1]


def _concordance(t, p):
  """Lin's coefficient with population moments and Keras' 1e-7."""
  covariance = np.mean((t - t.mean()) * (p - p.mean()))
  return 2 * covariance / (t.var() + p.var() + (t.mean() - p.mean()) ** 2 + 1e-7)


def _cosine(t, p):
  return t @ p / (np.linalg.norm(t) * np.linalg.norm(p))


CORRELATIONS = [(jm.PearsonCorrelation, _pearson),
                (jm.ConcordanceCorrelation, _concordance)]


def _correlation_weights(kind, rows, rng):
  if kind == "unweighted":
    return None
  if kind == "one_1e30":
    weight = rng.uniform(0.5, 1.5, rows).astype(np.float32)
    weight[17] = 1e30
    return weight
  return (10.0 ** rng.uniform(-30, 30, rows)).astype(np.float32)


@pytest.mark.parametrize("weights", ["unweighted", "one_1e30", "1e-30..1e30"])
@pytest.mark.parametrize("cls,reference", CORRELATIONS,
                         ids=lambda x: getattr(x, "__name__", ""))
def test_correlations_at_offset_1e15(cls, reference, weights):
  """float32 means of 1e15 + N(0, 1e10) were off by ~1e9, a bias the
  products turned into a 4e-5 error of the coefficient."""
  rng = np.random.default_rng(10)
  rows, length = 64, 1000
  y_true = (1e15 + 1e10 * rng.standard_normal((rows, length))).astype(np.float32)
  y_pred = (y_true + 3e9 * rng.standard_normal((rows, length))
            + 2e9).astype(np.float32)  # biased, so the means differ too
  weight = _correlation_weights(weights, rows, rng)
  expected = _rows_reference(reference, y_true, y_pred, weight)
  m = cls()
  state = m.init()
  for half in (slice(None, 40), slice(40, None)):
    state = m.update(state, y_true[half], y_pred[half],
                     None if weight is None else weight[half])
  _assert_close(m.compute(state), expected, CORRELATION_RTOL)
  _assert_close(jax.jit(m)(y_true, y_pred, weight), expected, CORRELATION_RTOL)


@pytest.mark.parametrize("cls,reference", CORRELATIONS,
                         ids=lambda x: getattr(x, "__name__", ""))
def test_correlations_over_the_batch_axis_at_offset_1e15_masked(cls, reference):
  """``axis=0`` of 1-D inputs: `masked_update` takes the masked formulas."""
  rng = np.random.default_rng(11)
  y_true = (1e15 + 1e10 * rng.standard_normal(5000)).astype(np.float32)
  y_pred = (y_true + 3e9 * rng.standard_normal(5000)).astype(np.float32)
  mask = np.arange(5000) < 4900
  y_true[~mask] = np.nan
  m = cls(axis=0)
  state = m.masked_update(m.init(), y_true, y_pred, mask=mask)
  expected = reference(*_f64(y_true[mask], y_pred[mask]))
  _assert_close(m.compute(state), expected, CORRELATION_RTOL)


def test_pearson_spread_beyond_1e19_does_not_overflow():
  """Squares of centred values above 1.8e19 overflow float32; the exact
  power-of-two scaling keeps the coefficient (scale-free) intact."""
  rng = np.random.default_rng(12)
  y_true = (1e25 * rng.standard_normal((8, 500))).astype(np.float32)
  y_pred = (y_true + 3e24 * rng.standard_normal((8, 500))).astype(np.float32)
  expected = _rows_reference(_pearson, y_true, y_pred)
  _assert_close(jm.PearsonCorrelation()(y_true, y_pred), expected,
                CORRELATION_RTOL)


@pytest.mark.parametrize("weights", ["unweighted", "one_1e30"])
def test_cosine_similarity_at_offset_1e15(weights):
  """Vectors far from 0 are nearly parallel (cos = 1 - 5e-12, float32 1.0);
  centred ones are not. Either way the float64 value to float32 rounding."""
  rng = np.random.default_rng(13)
  y_true = (1e15 + 1e10 * rng.standard_normal((64, 1000))).astype(np.float32)
  y_pred = (y_true + 3e9 * rng.standard_normal((64, 1000))).astype(np.float32)
  weight = _correlation_weights(weights, 64, rng)
  m = jm.CosineSimilarity()
  expected = _rows_reference(_cosine, y_true, y_pred, weight)
  np.testing.assert_allclose(m(y_true, y_pred, weight), expected, rtol=1e-7)
  centred_true, centred_pred = y_true - 1e15, y_pred - 1e15  # exact in float32
  expected = _rows_reference(_cosine, centred_true, centred_pred, weight)
  _assert_close(m(centred_true, centred_pred, weight), expected,
                CORRELATION_RTOL)


@pytest.mark.parametrize("axis", [-1, 0, (0, 1)])
@pytest.mark.parametrize("name", ["PearsonCorrelation", "ConcordanceCorrelation",
                                  "CosineSimilarity"])
def test_correlations_on_ordinary_data_match_keras(name, axis):
  """The centring and scaling change nothing beyond float32 rounding."""
  rng = np.random.default_rng(14)
  y_true = rng.standard_normal((32, 6, 5)).astype(np.float32)
  y_pred = (y_true + 0.7 * rng.standard_normal((32, 6, 5))).astype(np.float32)
  # Per-sample weights where the batch axis stays; none where it is reduced.
  weight = (rng.uniform(0.0, 2.0, 32).astype(np.float32) if axis == -1
            else None)
  ours = getattr(jm, name)(axis=axis)
  theirs = getattr(keras.metrics, name)(axis=axis)
  theirs.update_state(y_true, y_pred, sample_weight=weight)
  np.testing.assert_allclose(ours(y_true, y_pred, weight),
                             np.asarray(theirs.result()), rtol=1e-6, atol=1e-7)
