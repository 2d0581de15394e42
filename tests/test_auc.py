"""AUC and MeanAveragePrecision against Keras 3 (JAX backend) and scikit-learn."""

import warnings

import jax
import jax.numpy as jnp
import keras
from keras.src.metrics import metrics_utils
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import metrics as skm

from jmetrics._src.metrics import auc as auc_lib
from jmetrics._src.metrics import thresholds as thr
from jmetrics._src.metrics.auc import AUC, MeanAveragePrecision
from tests import harness

N = 16  # Batch size: divisible by the 8 devices of the pmap modes.



def _scores(rng, shape, num_thresholds=200):
  """Uniform scores, a quarter moved onto the grid and some exactly 0 or 1.

  Grid points and the ends are where a bucket rule (``ceil``, the clip, the
  ``-eps`` / ``1 + eps`` outer thresholds) could differ from Keras.
  """
  scores = rng.uniform(size=shape).astype(np.float32)
  on_grid = rng.integers(0, num_thresholds, shape) / np.float32(num_thresholds - 1)
  scores = np.where(rng.random(shape) < 0.25, on_grid, scores)
  scores = np.where(rng.random(shape) < 0.1, rng.integers(0, 2, shape), scores)
  return scores.astype(np.float32)


def _labels(rng, shape):
  return rng.integers(0, 2, shape)


def _binary(shape=(), num_thresholds=200):
  """Labels and scores of shape ``(n, *shape)``."""
  return lambda rng, n: (_labels(rng, (n, *shape)),
                         _scores(rng, (n, *shape), num_thresholds))


def _at_thresholds(values):
  """Scores on the given thresholds, between them, and outside [0, 1]."""
  def make(rng, shape):
    pool = np.asarray(list(values) + [-0.1, 0.0, 1.0, 1.1], np.float32)
    scores = np.where(rng.random(shape) < 0.4, rng.choice(pool, shape),
                      rng.uniform(size=shape))
    return scores.astype(np.float32)
  return make


UNEVEN = (0.9, 0.1, 0.5, 0.35, 0.05)  # Unsorted on purpose: Keras sorts them.


def _keras(**kwargs):
  return lambda: keras.metrics.AUC(**kwargs)


def _case(id_, make_inputs, make_weights=None, **kwargs):
  return harness.Case(id_, AUC(**kwargs), make_inputs, keras=_keras(**kwargs),
                      make_weights=make_weights)


def _per_element_weights(shape):
  return lambda rng, args: rng.uniform(0, 2, shape).astype(np.float32)


# -- harness cases (Keras 3 as oracle) ---------------------------------------

CASES = [
    _case("roc_default", _binary()),
    _case("pr_interpolation", _binary(), curve="PR"),
    _case("pr_minoring", _binary((1,), 50), num_thresholds=50, curve="PR",
          summation_method="minoring"),
    _case("pr_majoring", _binary((1,), 50), num_thresholds=50, curve="PR",
          summation_method="majoring"),
    _case("prgain_interpolation", _binary(), curve="PRGAIN"),
    _case("prgain_majoring_thresholds_3", _binary((), 3),
          num_thresholds=3, curve="PRGAIN", summation_method="majoring"),
    _case("roc_num_thresholds_3", _binary((), 3), num_thresholds=3),
    # [0.25, 0.5, 0.75] are Keras' evenly spaced grid: its arithmetic bucket.
    _case("roc_explicit_even_thresholds",
          _binary((), 5), thresholds=[0.75, 0.25, 0.5]),
    # Uneven thresholds: a strict comparison, no clip, even outside [0, 1].
    _case("pr_explicit_uneven_thresholds",
          lambda rng, n: (_labels(rng, (n, 2)),
                          _at_thresholds(UNEVEN)(rng, (n, 2))),
          thresholds=list(UNEVEN), curve="PR"),
    _case("multi_label_roc",
          lambda rng, n: (_labels(rng, (n, 3)), _scores(rng, (n, 3))),
          multi_label=True, num_labels=3),
    _case("multi_label_pr_label_weights_uneven",
          lambda rng, n: (_labels(rng, (n, 3)),
                          _at_thresholds(UNEVEN)(rng, (n, 3))),
          curve="PR", multi_label=True, num_labels=3,
          label_weights=[0.5, 0.0, 2.0], thresholds=list(UNEVEN)),
    # Not multi-label: each column's elements are weighted by its label weight.
    _case("label_weights_flat_minoring",
          lambda rng, n: (_labels(rng, (n, 3)), _scores(rng, (n, 3))),
          label_weights=[0.25, 1.0, 3.0], summation_method="minoring"),
    _case("from_logits_rank3",
          lambda rng, n: (_labels(rng, (n, 2, 2)),
                          rng.normal(0, 3, (n, 2, 2)).astype(np.float32)),
          # Keras broadcasts (N,) weights only against rank <= 2 labels.
          make_weights=_per_element_weights((N, 2)), from_logits=True),
    _case("multi_label_from_logits_majoring",
          lambda rng, n: (_labels(rng, (n, 2)),
                          rng.normal(0, 2, (n, 2)).astype(np.float32)),
          multi_label=True, num_labels=2, from_logits=True,
          summation_method="majoring", num_thresholds=7),
]

# Every mode (pmap included) for one case per counting path and state shape:
# the even grid and the uneven one (searchsorted), flat and per-label states,
# int and float counts. The other variants differ only in compute, so the
# single-host modes suffice (a pmap case costs ~3 s of compilation).
FULL_IDS = ("roc_default", "multi_label_roc", "pr_explicit_uneven_thresholds",
            "multi_label_pr_label_weights_uneven", "label_weights_flat_minoring",
            "from_logits_rank3")
FULL_CASES = [c for c in CASES if c.id in FULL_IDS]
HOST_CASES = [c for c in CASES if c.id not in FULL_IDS]
assert len(FULL_CASES) == len(FULL_IDS)
ALGEBRA_IDS = ("pr_interpolation", "multi_label_pr_label_weights_uneven",
               "label_weights_flat_minoring")
ALGEBRA_CASES = [c for c in CASES if c.id in ALGEBRA_IDS]
assert len(ALGEBRA_CASES) == len(ALGEBRA_IDS)


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
    harness.assert_same_structure(init, jit_state, f"{mode} jitted update")
    harness.assert_close(harness.run_merged(case.metric, batches), expected,
                         case, f"{mode} merge")


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- values from Keras' own unit tests (confusion_metrics_test.py) -------------

# AUCTest.setUp: num_thresholds=3.
Y_TRUE = [0, 0, 1, 1]
Y_PRED = np.array([0, 0.5, 0.3, 0.9], np.float32)
Y_LOGITS = -np.log(1.0 / (Y_PRED + 1e-12) - 1.0)
WEIGHTS = [1, 2, 3, 4]
# MultiAUCTest.setUp: num_thresholds=5.
M_PRED = np.array([[0, 0.5, 0.3, 0.9], [0.1, 0.2, 0.3, 0.4]], np.float32).T
M_LOGITS = -np.log(1.0 / (M_PRED + 1e-12) - 1.0)
M_GOOD = np.array([[0, 0, 1, 1], [0, 0, 1, 1]]).T
M_BAD = np.array([[0, 0, 1, 1], [1, 1, 0, 0]]).T
M2 = dict(multi_label=True, num_labels=2)  # Keras builds these lazily.

KERAS_TEST_VALUES = [
    # (Keras test name, config, y_true, y_pred, sample_weight, expected, tol)
    ("AUCTest.test_unweighted_all_correct", {}, Y_TRUE, Y_TRUE, None, 1.0, 0),
    ("AUCTest.test_unweighted", dict(num_thresholds=3), Y_TRUE, Y_PRED, None,
     0.75, 1e-3),
    ("AUCTest.test_unweighted_from_logits",
     dict(num_thresholds=3, from_logits=True), Y_TRUE, Y_LOGITS, None, 0.75,
     1e-3),
    ("AUCTest.test_manual_thresholds", dict(num_thresholds=2, thresholds=[0.5]),
     Y_TRUE, Y_PRED, None, 0.75, 1e-3),
    ("AUCTest.test_weighted_roc_interpolation", dict(num_thresholds=3), Y_TRUE,
     Y_PRED, WEIGHTS, 0.7855, 1e-3),
    ("AUCTest.test_weighted_roc_majoring",
     dict(num_thresholds=3, summation_method="majoring"), Y_TRUE, Y_PRED,
     WEIGHTS, 1.0, 1e-3),
    ("AUCTest.test_weighted_roc_minoring",
     dict(num_thresholds=3, summation_method="minoring"), Y_TRUE, Y_PRED,
     WEIGHTS, 0.571, 1e-3),
    ("AUCTest.test_weighted_pr_majoring",
     dict(num_thresholds=3, curve="PR", summation_method="majoring"), Y_TRUE,
     Y_PRED, WEIGHTS, 0.429 + 0.571, 1e-3),
    ("AUCTest.test_weighted_pr_minoring",
     dict(num_thresholds=3, curve="PR", summation_method="minoring"), Y_TRUE,
     Y_PRED, WEIGHTS, 0.7 * 0.429, 1e-3),
    ("AUCTest.test_weighted_pr_interpolation",
     dict(num_thresholds=3, curve="PR"), Y_TRUE, Y_PRED, WEIGHTS,
     2.416 / 7 + 4 / 7, 1e-3),
    ("AUCTest.test_weighted_pr_interpolation_negative_weights",
     dict(num_thresholds=3, curve="PR"), Y_TRUE, Y_PRED, [-1, -2, -3, -4], 0.0,
     1e-3),
    ("AUCTest.test_weighted_prgain_majoring",
     dict(num_thresholds=3, curve="PRGAIN", summation_method="majoring"),
     Y_TRUE, Y_PRED, WEIGHTS, 1.0, 1e-3),
    ("AUCTest.test_weighted_prgain_minoring",
     dict(num_thresholds=3, curve="PRGAIN", summation_method="minoring"),
     Y_TRUE, Y_PRED, WEIGHTS, 0.0, 1e-3),
    ("AUCTest.test_weighted_prgain_interpolation",
     dict(num_thresholds=3, curve="PRGAIN"), Y_TRUE, Y_PRED, WEIGHTS, 0.5, 1e-3),
    ("AUCTest.test_prgain_interpolation", dict(num_thresholds=3, curve="PRGAIN"),
     [0, 0, 0, 1, 0, 1, 0, 1, 1, 1],
     [0.1, 0.2, 0.3, 0.3, 0.4, 0.4, 0.6, 0.6, 0.8, 0.9], None,
     0.666666 * 0.333333 + 0.333333 * 0.833333, 1e-3),
    ("AUCTest.test_extra_dims", {},
     [[[1, 0, 0], [1, 0, 0]], [[0, 1, 1], [0, 1, 1]]],
     1.0 / (1.0 + np.exp(np.array([[[-10.0, 10, -10], [10, -10, 10]],
                                    [[-12.0, 12, -12], [12, -12, 12]]]))),
     None, 0.5, 0),
    ("MultiAUCTest.test_unweighted_all_correct", M2, M_GOOD, M_GOOD, None, 1.0,
     0),
    ("MultiAUCTest.test_unweighted_all_correct_flat", {}, M_GOOD, M_GOOD, None,
     1.0, 0),
    ("MultiAUCTest.test_unweighted", dict(num_thresholds=5, **M2), M_GOOD,
     M_PRED, None, (0.875 + 1.0) / 2.0, 1e-3),
    ("MultiAUCTest.test_unweighted_from_logits",
     dict(num_thresholds=5, from_logits=True, **M2), M_GOOD, M_LOGITS, None,
     (0.875 + 1.0) / 2.0, 1e-3),
    ("MultiAUCTest.test_sample_weight_flat", dict(num_thresholds=5), M_GOOD,
     M_PRED, [1, 2, 3, 4], 1.0 - (0.3333 * (1.0 - 0.2857) / 2.0), 1e-3),
    ("MultiAUCTest.test_full_sample_weight_flat", dict(num_thresholds=5),
     M_GOOD, M_PRED, np.arange(8).reshape(4, 2),
     1.0 - (0.3333 * (1.0 - 0.2727) / 2.0), 1e-3),
    ("MultiAUCTest.test_label_weights",
     dict(num_thresholds=5, label_weights=[0.75, 0.25], **M2), M_GOOD, M_PRED,
     None, (0.875 * 0.75 + 1.0 * 0.25) / (0.75 + 0.25), 1e-3),
    ("MultiAUCTest.test_label_weights_flat",
     dict(num_thresholds=5, label_weights=[0.75, 0.25]), M_GOOD, M_PRED, None,
     1.0 - ((1.0 - 0.375) * 0.375 / 2.0), 1e-2),
    ("MultiAUCTest.test_unweighted_flat", dict(num_thresholds=5), M_GOOD,
     M_PRED, None, 1.0 - (3.0 / 32.0), 1e-3),
    ("MultiAUCTest.test_unweighted_flat_from_logits",
     dict(num_thresholds=5, from_logits=True), M_GOOD, M_LOGITS, None,
     1.0 - (3.0 / 32.0), 1e-3),
    ("MultiAUCTest.test_manual_thresholds",
     dict(num_thresholds=2, thresholds=[0.5], **M2), M_GOOD, M_PRED, None,
     (0.75 + 0.5) / 2.0, 1e-3),
    ("MultiAUCTest.test_weighted_roc_interpolation",
     dict(num_thresholds=5, **M2), M_GOOD, M_PRED, WEIGHTS,
     1.0 - 0.5 * 0.43 * 0.67, 1e-1),
    ("MultiAUCTest.test_pr_interpolation_unweighted/good",
     dict(num_thresholds=5, curve="PR", **M2), M_GOOD, M_PRED, None,
     (0.91667 + 1.0) / 2.0, 1e-1),
    ("MultiAUCTest.test_pr_interpolation",
     dict(num_thresholds=5, curve="PR", **M2), M_GOOD, M_PRED, WEIGHTS,
     (0.939 + 1.0) / 2.0, 1e-1),
]


@pytest.mark.parametrize("name,config,y_true,y_pred,weight,expected,tol",
                         KERAS_TEST_VALUES, ids=[v[0] for v in KERAS_TEST_VALUES])
def test_keras_unit_test_values(name, config, y_true, y_pred, weight, expected,
                                tol):
  del name
  metric = AUC(**config)
  value = metric(y_true, y_pred, sample_weight=weight)
  # Keras' assertAllClose(a, b, tol) takes tol as atol, with rtol=1e-6.
  np.testing.assert_allclose(float(value), expected, atol=tol, rtol=1e-6)


def test_keras_pr_interpolation_unweighted_bad_accumulates():
  """MultiAUCTest.test_pr_interpolation_unweighted, subtest "bad".

  Keras' test calls the same metric object twice, so the "bad" value is that
  of the good batch followed by the bad one.
  """
  metric = AUC(num_thresholds=5, curve="PR", **M2)
  state = metric.update(metric.init(), M_GOOD, M_PRED)
  state = metric.update(state, M_BAD, M_PRED)
  np.testing.assert_allclose(float(metric.compute(state)),
                             (0.91667 + 0.5) / 2.0, atol=1e-1, rtol=1e-6)


def test_manual_thresholds_config():
  """AUCTest.test_manual_thresholds: thresholds override num_thresholds."""
  metric = AUC(num_thresholds=2, thresholds=[0.5])
  assert metric.num_thresholds == 3
  np.testing.assert_allclose(metric.threshold_values, [0.0, 0.5, 1.0], atol=1e-6)
  assert metric.threshold_values == keras.metrics.AUC(thresholds=[0.5]).thresholds


def test_keras_counts_of_the_docstring_example():
  # AUCTest.setUp: tp = [7, 4, 0], fp = [3, 0, 0], fn = [0, 3, 7], tn = [0, 3, 3].
  metric = AUC(num_thresholds=3)
  curve = metric.curve_points(metric.update(metric.init(), Y_TRUE, Y_PRED,
                                            sample_weight=WEIGHTS))
  for got, want in zip(curve[1:5], ([7, 4, 0], [3, 0, 0], [0, 3, 3], [0, 3, 7])):
    np.testing.assert_array_equal(np.asarray(got), want)


# -- config and state ----------------------------------------------------------

def test_config_is_normalised_hashable_and_keras_like():
  a = AUC(thresholds=[0.5, 0.1], num_thresholds=99, curve="pr",
          summation_method="Majoring", label_weights=np.array([1.0, 2.0]))
  b = AUC(thresholds=(0.1, 0.5), curve="PR", summation_method="majoring",
          label_weights=[1, 2])
  assert a == b and hash(a) == hash(b)
  assert a.num_thresholds == 4 and a.thresholds == (0.1, 0.5)
  assert (a.curve, a.summation_method) == ("PR", "majoring")
  # Keras' enums are accepted as well as its strings.
  c = AUC(curve=metrics_utils.AUCCurve.PRGAIN,
          summation_method=metrics_utils.AUCSummationMethod.MINORING)
  assert (c.curve, c.summation_method) == ("PRGAIN", "minoring")
  assert AUC().name == "auc" and AUC(name="val_auc").name == "val_auc"
  assert AUC().threshold_values == keras.metrics.AUC().thresholds


@pytest.mark.parametrize("config", [
    {}, dict(curve="PR"), dict(curve="PRGAIN"), dict(summation_method="minoring"),
    dict(multi_label=True, num_labels=3, label_weights=[1, 2, 3]),
], ids=str)
def test_empty_state_computes_to_zero(config):
  metric = AUC(**config)
  assert float(metric.compute(metric.init())) == 0.0
  if metric.curve == "ROC":
    assert float(metric.tie_bound(metric.init())) == 0.0
  shape = (200, 3) if metric.multi_label else (200,)
  state = metric.init()
  cells = (state.tp, state.fp, state.tn, state.fn)
  assert all(leaf.shape == shape for leaf in jax.tree.leaves(cells))
  # The four totals are stacked: an update returns two arrays, not eight.
  assert [leaf.shape for leaf in jax.tree.leaves(state)] == [(4, *shape)] * 2


def test_dtype_casts_the_result():
  metric = AUC(num_thresholds=3, dtype="float16")
  assert metric(Y_TRUE, Y_PRED).dtype == jnp.float16


# -- errors --------------------------------------------------------------------

@pytest.mark.parametrize("config,message", [
    (dict(num_thresholds=1), r"AUC: num_thresholds must be an integer > 1"),
    (dict(num_thresholds=-1), r"AUC: num_thresholds must be an integer > 1"),
    (dict(num_thresholds=2.5), r"AUC: num_thresholds must be an integer > 1"),
    (dict(thresholds=[0.5, 1.5]), r"AUC: thresholds must be in \[0, 1\]"),
    (dict(thresholds=[-0.1]), r"AUC: thresholds must be in \[0, 1\]"),
    (dict(curve="Invalid"), r"AUC: invalid curve='Invalid'"),
    (dict(summation_method="Invalid"),
     r"AUC: invalid summation_method='Invalid'"),
    (dict(label_weights=[1.0, -1.0]), r"AUC: label_weights must be non-negative"),
    (dict(label_weights=[[1.0]]), r"AUC: label_weights must be a 1-D"),
    (dict(multi_label=True, num_labels=3, label_weights=[1, 2]),
     r"AUC: label_weights has 2 entries but num_labels=3"),
    (dict(num_labels=3), r"AUC: num_labels is needed only when multi_label"),
    (dict(multi_label=True), r"AUC: multi_label=True needs num_labels"),
    (dict(multi_label=True, num_labels=0),
     r"AUC: num_labels must be a positive integer"),
])
def test_invalid_config(config, message):
  with pytest.raises(ValueError, match=message):
    AUC(**config)


def test_invalid_inputs_fail_at_trace_time():
  metric = AUC(multi_label=True, num_labels=3)
  with pytest.raises(ValueError, match=r"AUC: multi_label=True expects y_pred "
                     r"of shape \(batch, num_labels=3\).*\(4, 2\)"):
    jax.jit(metric.update)(metric.init(), np.zeros((4, 2)), np.zeros((4, 2)))
  flat = AUC(label_weights=[1.0, 2.0])
  with pytest.raises(ValueError, match=r"AUC: label_weights of shape \(2,\) "
                     r"does not broadcast to shape \(4, 3\)"):
    flat.update(flat.init(), np.zeros((4, 3)), np.zeros((4, 3)))
  with pytest.raises(ValueError, match=r"AUC: expected y_true and y_pred of the "
                     r"same shape, got y_true \(4,\) and y_pred \(5,\)"):
    AUC().update(AUC().init(), np.zeros(4), np.zeros(5))
  with pytest.raises(ValueError, match=r"AUC: sample_weight of shape \(3,\)"):
    AUC().update(AUC().init(), np.zeros(4), np.zeros(4), sample_weight=np.ones(3))
  with pytest.raises(ValueError, match=r"AUC: tie_bound bounds the ROC AUC only"):
    AUC(curve="PR").tie_bound(AUC(curve="PR").init())


# -- curves against scikit-learn -----------------------------------------------

def _sklearn_point_above(thresholds_desc, values, t):
  """sklearn's value at its smallest threshold > t (its points count >=)."""
  above = np.nonzero(thresholds_desc > t)[0]
  return values[above[-1]] if above.size else None


@pytest.mark.parametrize("config", [
    dict(num_thresholds=11), dict(thresholds=[0.05, 0.3, 0.31, 0.8]),
    dict(num_thresholds=9, multi_label=True, num_labels=2),
], ids=str)
def test_curve_points_match_sklearn(config):
  rng = np.random.default_rng(1)
  metric = AUC(**config)
  labels = metric.num_labels or 1
  y_true = rng.integers(0, 2, (64, labels))
  # Scores on a coarse lattice off the grid: sklearn's ties match ours.
  y_pred = (rng.integers(0, 40, (64, labels)) / 40 + 1 / 80).astype(np.float32)
  weight = rng.uniform(0, 2, 64).astype(np.float32)
  squeeze = (lambda x: x) if metric.multi_label else (lambda x: x[:, 0])
  state = jax.jit(metric.update)(metric.init(), squeeze(y_true), squeeze(y_pred),
                                 weight)
  curve = jax.jit(metric.curve_points)(state)
  grid = np.asarray(curve.thresholds)
  np.testing.assert_allclose(grid, metric.threshold_values)
  for label in range(labels):
    at = lambda x: np.asarray(x).reshape(len(grid), -1)[:, label]
    t, s = y_true[:, label], y_pred[:, label]
    fpr, tpr, roc_t = skm.roc_curve(t, s, sample_weight=weight,
                                    drop_intermediate=False)
    precision, recall, pr_t = skm.precision_recall_curve(
        t, s, sample_weight=weight, drop_intermediate=False)
    for j, threshold in enumerate(grid):
      # Counts from the definition: y_pred > threshold.
      positive = s > threshold
      for got, label_value, predicted in ((curve.tp, 1, positive),
                                          (curve.fp, 0, positive),
                                          (curve.tn, 0, ~positive),
                                          (curve.fn, 1, ~positive)):
        # fn and tn are float32 totals minus tp and fp: absolute rounding.
        np.testing.assert_allclose(
            at(got)[j], weight[(t == label_value) & predicted].sum(),
            rtol=1e-5, atol=1e-5)
      # roc_curve's thresholds descend, starting at +inf (the point (0, 0)).
      for ours, theirs in ((curve.fpr, fpr), (curve.tpr, tpr)):
        np.testing.assert_allclose(
            at(ours)[j], _sklearn_point_above(roc_t, theirs, threshold),
            atol=1e-6)
      # precision_recall_curve's thresholds ascend; flip them to descend.
      k = _sklearn_point_above(pr_t[::-1], np.arange(len(pr_t))[::-1], threshold)
      if k is None:  # Nothing above: sklearn says precision 1, Keras 0.
        assert at(curve.precision)[j] == 0 and at(curve.recall)[j] == 0
      else:
        np.testing.assert_allclose(at(curve.precision)[j], precision[k], atol=1e-6)
        np.testing.assert_allclose(at(curve.recall)[j], recall[k], atol=1e-6)
    np.testing.assert_array_equal(np.asarray(curve.tpr), np.asarray(curve.recall))


# -- near-exact ROC AUC: O(N) cost and the tie bound ---------------------------

def _all_avals(jaxpr):
  """Every abstract value a jaxpr (and its sub-jaxprs) produces."""
  for eqn in jaxpr.eqns:
    for var in eqn.outvars:
      yield var.aval
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (tuple, list)) else (param,)):
        inner = getattr(sub, "jaxpr", sub)
        if hasattr(inner, "eqns"):
          yield from _all_avals(inner)


@pytest.mark.parametrize("config", [
    dict(num_thresholds=2**16), dict(num_thresholds=2**16, curve="PR"),
    dict(thresholds=list(np.linspace(0, 1, 2**16) ** 2)),  # Uneven: searchsorted.
    dict(num_thresholds=2**16, multi_label=True, num_labels=3),
], ids=["even", "even_pr", "uneven", "multi_label"])
def test_update_never_builds_n_by_t(config):
  metric = AUC(**config)
  n, labels = 4096, metric.num_labels or 3
  t = metric.num_thresholds
  args = (metric.init(), np.zeros((n, labels), np.int32),
          np.zeros((n, labels), np.float32), np.ones(n, np.float32))
  jaxpr = jax.make_jaxpr(metric.update)(*args).jaxpr
  biggest = max(int(np.prod(a.shape)) for a in _all_avals(jaxpr)
                if hasattr(a, "shape"))
  # The largest arrays are the inputs and the (T + 1, 2, labels) histogram.
  assert biggest <= 2 * (n * labels + 2 * (t + 1) * labels), biggest
  assert biggest * 100 < n * labels * t
  # XLA's optimised program has no N x T buffer either.
  hlo = jax.jit(metric.update).lower(*args).compile().as_text()
  import re  # pylint: disable=g-import-not-at-top
  sizes = [int(np.prod([int(d) for d in dims.split(",") if d]))
           for dims in re.findall(r"[a-z]\d+\[([\d,]*)\]", hlo)]
  assert max(sizes) * 100 < n * labels * t


def _roc_data(rng, n, weighted):
  y_true = rng.integers(0, 2, n)
  # Informative but overlapping scores, all distinct, in (0, 1).
  y_pred = rng.beta(2 + y_true, 2).astype(np.float32)
  weight = rng.uniform(0, 2, n).astype(np.float32) if weighted else None
  return y_true, y_pred, weight


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_roc_auc_within_tie_bound_of_sklearn(weighted):
  rng = np.random.default_rng(2)
  metric = AUC(num_thresholds=2**16)
  update, compute, bound = (jax.jit(f) for f in (metric.update, metric.compute,
                                                 metric.tie_bound))
  state = metric.init()
  y_true, y_pred, weight = [], [], []
  for _ in range(4):  # 10**5 predictions in four batches.
    t, p, w = _roc_data(rng, 25_000, weighted)
    state = update(state, t, p, w)
    y_true.append(t), y_pred.append(p), weight.append(w)
  exact = skm.roc_auc_score(np.concatenate(y_true), np.concatenate(y_pred),
                            sample_weight=np.concatenate(weight) if weighted else None)
  value, tie_bound = float(compute(state)), float(bound(state))
  assert tie_bound < 1e-4
  # float32 rounding of the sum comes on top of the bound (documented).
  assert abs(value - exact) <= tie_bound + 1e-6, (value, exact, tie_bound)


@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
def test_tie_bound_holds_on_a_coarse_grid_and_is_attained(method):
  rng = np.random.default_rng(3)
  y_true, y_pred, weight = _roc_data(rng, 2000, weighted=True)
  metric = AUC(num_thresholds=20, summation_method=method)
  state = metric.update(metric.init(), y_true, y_pred, weight)
  exact = skm.roc_auc_score(y_true, y_pred, sample_weight=weight)
  value, bound = float(metric.compute(state)), float(metric.tie_bound(state))
  assert abs(value - exact) <= bound + 1e-6
  if method == "minoring":  # Shared pairs count 0: a lower bound.
    assert value <= exact + 1e-6
  if method == "majoring":
    assert value >= exact - 1e-6
  # All scores in one bucket, perfectly ordered within it: exact AUC 1,
  # bucketed 1/2, and the bound is exactly the gap.
  y_true = np.array([0, 0, 1, 1])
  y_pred = np.array([0.41, 0.42, 0.43, 0.44], np.float32)
  metric = AUC(num_thresholds=3)
  state = metric.update(metric.init(), y_true, y_pred)
  assert float(metric.compute(state)) == 0.5
  assert float(metric.tie_bound(state)) == 0.5


def test_multi_label_tie_bound_against_sklearn():
  rng = np.random.default_rng(4)
  label_weights = [1.0, 0.0, 3.0]
  metric = AUC(num_thresholds=1000, multi_label=True, num_labels=3,
               label_weights=label_weights)
  y_true = rng.integers(0, 2, (5000, 3))
  y_pred = rng.beta(2 + y_true, 2).astype(np.float32)
  state = jax.jit(metric.update)(metric.init(), y_true, y_pred)
  per_label = [skm.roc_auc_score(y_true[:, i], y_pred[:, i]) for i in range(3)]
  exact = np.average(per_label, weights=label_weights)
  value, bound = float(metric.compute(state)), float(metric.tie_bound(state))
  assert 0 < bound < 1e-3
  assert abs(value - exact) <= bound + 1e-6


@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
def test_out_of_range_predictions_widen_the_bound(method):
  # Explicit thresholds do not clip: scores outside [-eps, 1 + eps] fall off
  # the curve's ends, and the bound includes the skipped end segments.
  y_true = np.array([0, 1, 0, 1, 1, 0, 0])
  y_pred = np.array([-0.5, -0.2, 0.3, 0.6, 1.5, 0.2, 1.2], np.float32)
  metric = AUC(thresholds=[0.25, 0.5, 0.75], summation_method=method)
  state = metric.update(metric.init(), y_true, y_pred)
  exact = skm.roc_auc_score(y_true, y_pred)
  assert abs(float(metric.compute(state)) - exact) <= float(metric.tie_bound(state))


# -- MeanAveragePrecision --------------------------------------------------------

def _map_reference(batches):
  """scikit-learn's macro AP of all batches (the oracle)."""
  y_true = np.concatenate([args[0] for args, _ in batches])
  y_pred = np.concatenate([args[1] for args, _ in batches])
  weights = [w for _, w in batches]
  weight = None if weights[0] is None else np.concatenate(weights)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # A label without positives: AP 0.
    return skm.average_precision_score(y_true, y_pred, sample_weight=weight,
                                       average="macro")


# One score per bucket of an 11-threshold grid: bucketing merges nothing, so
# the result must equal scikit-learn's exactly (ties included).
_LATTICE = (np.arange(10) / 10 + 0.05).astype(np.float32)

MAP_CASES = [
    harness.Case(
        "map_lattice", MeanAveragePrecision(num_labels=3, num_thresholds=11),
        lambda rng, n: (_labels(rng, (n, 3)),
                        rng.choice(_LATTICE, (n, 3))),
        reference=_map_reference),
]


@pytest.mark.parametrize("case", MAP_CASES, ids=str)
def test_map_all_modes(case):
  harness.check_all_modes(case)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_map_merge_algebra(seed):
  harness.check_merge_algebra(MAP_CASES[0], seed)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_map_within_tie_bound_of_sklearn(weighted):
  rng = np.random.default_rng(5)
  metric = MeanAveragePrecision(num_labels=4)
  n = 100_000
  y_true = (rng.random((n, 4)) < [0.5, 0.2, 0.05, 0.7]).astype(np.int32)
  y_pred = np.where(y_true == 1, rng.beta(3, 2, (n, 4)),
                    rng.beta(2, 3, (n, 4))).astype(np.float32)
  weight = rng.uniform(0.5, 2, n).astype(np.float32) if weighted else None
  state = jax.jit(metric.update)(metric.init(), y_true, y_pred, weight)
  exact = skm.average_precision_score(y_true, y_pred, sample_weight=weight,
                                      average="macro")
  # Without weights every positive weighs 1; 0 is the always-valid bound.
  bound = float(jax.jit(metric.tie_bound, static_argnums=1)(
      state, False, 0.0 if weighted else 1.0))
  value = float(metric.compute(state))
  assert bound < 2e-4
  assert abs(value - exact) <= bound + 1e-6, (value, exact, bound)
  per_label = skm.average_precision_score(y_true, y_pred, sample_weight=weight,
                                          average=None)
  np.testing.assert_allclose(metric.average_precision(state), per_label,
                             atol=1e-3)


def test_map_tie_bound_on_a_coarse_grid():
  rng = np.random.default_rng(6)
  metric = MeanAveragePrecision(num_labels=2, num_thresholds=6, from_logits=True)
  y_true = rng.integers(0, 2, (300, 2))
  logits = rng.normal(y_true - 0.5, 1.0).astype(np.float32)
  state = metric.update(metric.init(), y_true, logits)
  scores = np.asarray(jax.nn.sigmoid(logits))
  exact = skm.average_precision_score(y_true, scores, average="macro")
  value, bound = float(metric.compute(state)), float(metric.tie_bound(state))
  assert 1e-3 < abs(value - exact) <= bound, (value, exact, bound)


def test_map_is_not_keras_pr_auc():
  # The step-function AP of scikit-learn, not Keras' interpolated PR area:
  # sklearn's docstring example, AP = 0.8333.
  metric = MeanAveragePrecision(num_labels=1, num_thresholds=101)
  y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])
  value = float(metric(y_true, y_pred))
  np.testing.assert_allclose(value, 0.8333333, atol=1e-6)
  keras_pr = float(keras.metrics.AUC(num_thresholds=101, curve="PR")(y_true, y_pred))
  assert abs(keras_pr - value) > 1e-3


def test_map_config_and_errors():
  metric = MeanAveragePrecision(5)
  assert metric.num_thresholds == 2**16 + 1 and metric.name == "mean_average_precision"
  assert metric == MeanAveragePrecision(num_labels=5)
  assert float(metric.compute(metric.init())) == 0.0
  assert metric.grid.evenly and metric.grid.values[1] == 2.0**-16
  with pytest.raises(ValueError, match=r"MeanAveragePrecision: num_labels must "
                     r"be a positive integer"):
    MeanAveragePrecision()
  with pytest.raises(ValueError, match=r"MeanAveragePrecision: num_thresholds "
                     r"must be an integer > 1"):
    MeanAveragePrecision(2, num_thresholds=1)
  with pytest.raises(ValueError, match=r"MeanAveragePrecision: expected y_true "
                     r"and y_pred of shape \(batch, num_labels=5\)"):
    metric.update(metric.init(), np.zeros((4, 3)), np.zeros((4, 3)))


def test_roc_tie_bound_function_matches_method():
  metric = AUC(num_thresholds=5)
  state = metric.update(metric.init(), Y_TRUE, Y_PRED)
  np.testing.assert_allclose(auc_lib.roc_tie_bound(thr.totals(state)),
                             metric.tie_bound(state))
