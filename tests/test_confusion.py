"""The confusion family against Keras 3 (JAX backend) in every harness mode."""

import re

import jax
import jax.numpy as jnp
import keras
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jmetrics._src.metrics import confusion as cm
from jmetrics._src.metrics import thresholds as th
from tests import harness

N = 16  # Batch size: divisible by the 8 devices of the pmap modes.



def _labels(rng, shape, dtype=np.int32):
  return rng.integers(0, 2, shape).astype(dtype)


def _one_hot(rng, shape):
  return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]


def _scores(rng, shape, levels=(0.0, 0.15, 0.25, 0.3, 0.5, 0.75, 0.85, 1.0)):
  """Uniform scores, a third of them exactly on threshold values (ties)."""
  scores = rng.uniform(size=shape).astype(np.float32)
  on_level = rng.random(shape) < 0.35
  scores[on_level] = rng.choice(np.asarray(levels, np.float32), shape)[on_level]
  return scores


def _tied_scores(rng, shape, levels=3):
  """Scores on a few levels, so that top_k has ties to break."""
  return (rng.integers(0, levels, shape) / levels).astype(np.float32)


def _out_of_range(rng, shape):
  """Scores outside [0, 1] too: Keras' evenly spaced grid clips them."""
  return rng.choice(np.asarray([-0.5, 0.0, 0.25, 0.3, 0.5, 0.75, 1.0, 1.5],
                               np.float32), shape)


def _with_nans(rng, scores, rate=0.15):
  scores = scores.copy()
  scores[rng.random(scores.shape) < rate] = np.nan
  return scores


def _per_element_weights(shape):
  return lambda rng, args: rng.uniform(0, 2, shape).astype(np.float32)


def _scalar_weight(rng, args):
  return np.float32(rng.uniform(0.5, 2.0))


# -- cases -------------------------------------------------------------------

COUNT_CASES = [
    harness.Case(
        "tp_default_column", cm.TruePositives(),
        lambda rng, n: (_labels(rng, (n, 1)), _scores(rng, (n, 1))),
        keras=keras.metrics.TruePositives),
    harness.Case(
        "fp_list_2d_element_weights",
        cm.FalsePositives(thresholds=[0.15, 0.5, 0.85]),
        lambda rng, n: (_labels(rng, (n, 3)), _scores(rng, (n, 3))),
        keras=lambda: keras.metrics.FalsePositives(thresholds=[0.15, 0.5, 0.85]),
        make_weights=_per_element_weights((N, 3))),
    # An unsorted list: counts come back in the user's order. Keras expands
    # the (N,) labels against (N, 1) scores.
    harness.Case(
        "tn_unsorted_rank1_vs_column",
        cm.TrueNegatives(thresholds=[0.85, 0.15, 0.5]),
        lambda rng, n: (_labels(rng, (n,)).astype(np.float32),
                        _scores(rng, (n, 1))),
        keras=lambda: keras.metrics.TrueNegatives(thresholds=[0.85, 0.15, 0.5])),
    # Keras' evenly spaced grid takes the arithmetic bucket, clipping scores.
    harness.Case(
        "fn_evenly_spaced_out_of_range",
        cm.FalseNegatives(thresholds=[0.0, 0.5, 1.0]),
        lambda rng, n: (_labels(rng, (n, 2)), _out_of_range(rng, (n, 2))),
        keras=lambda: keras.metrics.FalseNegatives(thresholds=[0.0, 0.5, 1.0])),
]

PRECISION_RECALL_CASES = [
    harness.Case(
        "precision_top_k_ties", cm.Precision(top_k=2),
        lambda rng, n: (_labels(rng, (n, 5)), _tied_scores(rng, (n, 5))),
        keras=lambda: keras.metrics.Precision(top_k=2)),
    harness.Case(
        "precision_class_id_list",
        cm.Precision(thresholds=[0.25, 0.6, 0.85], class_id=1),
        lambda rng, n: (_one_hot(rng, (n, 3)), _scores(rng, (n, 3))),
        keras=lambda: keras.metrics.Precision(thresholds=[0.25, 0.6, 0.85],
                                           class_id=1)),
    harness.Case(
        "precision_top_k_class_id", cm.Precision(top_k=2, class_id=3),
        lambda rng, n: (_labels(rng, (n, 5)), _tied_scores(rng, (n, 5), 4)),
        keras=lambda: keras.metrics.Precision(top_k=2, class_id=3)),
    harness.Case(
        "recall_default_3d", cm.Recall(),
        lambda rng, n: (_labels(rng, (n, 2, 3)), _scores(rng, (n, 2, 3))),
        keras=keras.metrics.Recall, make_weights=_per_element_weights((N, 2))),
    harness.Case(
        "recall_top_k_thresholds", cm.Recall(thresholds=[0.3, 0.6, 0.85], top_k=3),
        lambda rng, n: (_labels(rng, (n, 6)), _scores(rng, (n, 6))),
        keras=lambda: keras.metrics.Recall(thresholds=[0.3, 0.6, 0.85], top_k=3),
        make_weights=_per_element_weights((N, 6))),
]

AT_CASES = [
    harness.Case(
        "precision_at_recall_default", cm.PrecisionAtRecall(0.6),
        lambda rng, n: (_labels(rng, (n, 1)), _scores(rng, (n, 1))),
        keras=lambda: keras.metrics.PrecisionAtRecall(0.6)),
    harness.Case(
        "recall_at_precision_class_id",
        cm.RecallAtPrecision(0.7, class_id=2),
        lambda rng, n: (_one_hot(rng, (n, 3)), _scores(rng, (n, 3))),
        keras=lambda: keras.metrics.RecallAtPrecision(0.7, class_id=2)),
    harness.Case(
        "sensitivity_at_specificity_out_of_range",
        cm.SensitivityAtSpecificity(0.5),
        lambda rng, n: (_labels(rng, (n,)), _out_of_range(rng, (n,))),
        keras=lambda: keras.metrics.SensitivityAtSpecificity(0.5)),
    harness.Case(
        "specificity_at_sensitivity_2d",
        cm.SpecificityAtSensitivity(0.8),
        lambda rng, n: (_labels(rng, (n, 3)), _scores(rng, (n, 3))),
        keras=lambda: keras.metrics.SpecificityAtSensitivity(0.8),
        make_weights=_per_element_weights((N, 3))),
]

# Variants that run eager, jitted and merged (no pmap: it compiles per case).
HOST_CASES = [
    # Evenly spaced thresholds with top_k: dropped scores (-1e10) clip to 0.
    harness.Case(
        "recall_evenly_top_k_class_id",
        cm.Recall(thresholds=[0.0, 0.5, 1.0], top_k=1, class_id=0),
        lambda rng, n: (_one_hot(rng, (n, 4)), _tied_scores(rng, (n, 4))),
        keras=lambda: keras.metrics.Recall(thresholds=[0.0, 0.5, 1.0], top_k=1,
                                           class_id=0)),
    harness.Case(
        "tp_bool_labels_bfloat16_scores",
        cm.TruePositives(thresholds=[0.3, 0.5, 0.85]),
        lambda rng, n: (_labels(rng, (n, 2), bool),
                        _scores(rng, (n, 2)).astype(ml_dtypes.bfloat16)),
        keras=lambda: keras.metrics.TruePositives(thresholds=[0.3, 0.5, 0.85])),
    # Logits against threshold 0; soft labels (0.7) are positive (cast to bool).
    harness.Case(
        "precision_logits_soft_labels_scalar_weight", cm.Precision(thresholds=0.0),
        lambda rng, n: (
      rng.choice([0.0, 0.7, 1.0], (n, 3)).astype(np.float32),
      rng.normal(size=(n, 3)).astype(np.float32)),
        keras=lambda: keras.metrics.Precision(thresholds=0.0),
        make_weights=_scalar_weight),
    # NaN scores are never above a listed threshold, and fall in the first
    # bucket of Keras' evenly spaced grid.
    harness.Case(
        "tn_nan_scores_list", cm.TrueNegatives(thresholds=[0.1, 0.5, 0.9]),
        lambda rng, n: (_labels(rng, (n, 2)),
                        _with_nans(rng, _scores(rng, (n, 2)))),
        keras=lambda: keras.metrics.TrueNegatives(thresholds=[0.1, 0.5, 0.9])),
    harness.Case(
        "fn_nan_scores_evenly", cm.FalseNegatives(thresholds=[0.0, 0.5, 1.0]),
        lambda rng, n: (_labels(rng, (n, 2)),
                        _with_nans(rng, _scores(rng, (n, 2)))),
        keras=lambda: keras.metrics.FalseNegatives(thresholds=[0.0, 0.5, 1.0])),
    # Dropped NaN/inf scores become NaN through Keras' top_k mask arithmetic.
    harness.Case(
        "precision_top_k_evenly_nan_inf", cm.Precision(thresholds=[0.0, 0.5, 1.0],
                                                       top_k=2),
        lambda rng, n: (_labels(rng, (n, 4)), np.where(
      rng.random((n, 4)) < 0.1, np.inf,
      _with_nans(rng, _scores(rng, (n, 4)))).astype(np.float32)),
        keras=lambda: keras.metrics.Precision(thresholds=[0.0, 0.5, 1.0], top_k=2)),
    # On 1-D inputs top_k ranks the whole batch (so no pmap: shards differ).
    harness.Case(
        "precision_top_k_rank1_batch", cm.Precision(top_k=5),
        lambda rng, n: (_labels(rng, (n,)), _scores(rng, (n,))),
        keras=lambda: keras.metrics.Precision(top_k=5)),
    harness.Case(
        "recall_unsorted_evenly_values", cm.Recall(thresholds=[1.0, 0.5, 0.0]),
        lambda rng, n: (_labels(rng, (n, 2)), _out_of_range(rng, (n, 2))),
        keras=lambda: keras.metrics.Recall(thresholds=[1.0, 0.5, 0.0])),
    # num_thresholds=1 is the single threshold 0.5, compared exactly.
    harness.Case(
        "sensitivity_at_specificity_one_threshold",
        cm.SensitivityAtSpecificity(0.3, num_thresholds=1),
        lambda rng, n: (_labels(rng, (n,)), _out_of_range(rng, (n,))),
        keras=lambda: keras.metrics.SensitivityAtSpecificity(0.3, num_thresholds=1)),
    # num_thresholds=2 is Keras' evenly spaced [0, 1], which clips scores.
    harness.Case(
        "specificity_at_sensitivity_two_thresholds",
        cm.SpecificityAtSensitivity(0.4, num_thresholds=2),
        lambda rng, n: (_labels(rng, (n,)), _out_of_range(rng, (n,))),
        keras=lambda: keras.metrics.SpecificityAtSensitivity(0.4, num_thresholds=2)),
    harness.Case(
        "precision_at_recall_one_target_3d", cm.PrecisionAtRecall(1.0),
        lambda rng, n: (_labels(rng, (n, 2, 2)), _scores(rng, (n, 2, 2))),
        keras=lambda: keras.metrics.PrecisionAtRecall(1.0),
        make_weights=_per_element_weights((N, 2))),
]

FULL_CASES = COUNT_CASES + PRECISION_RECALL_CASES + AT_CASES
assert len(FULL_CASES) <= 15
ALGEBRA_IDS = ("fp_list_2d_element_weights", "precision_top_k_class_id",
               "specificity_at_sensitivity_2d")
ALGEBRA_CASES = [c for c in FULL_CASES if c.id in ALGEBRA_IDS]
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
    harness.assert_same_structure(init, state, f"{mode} eager update")
    harness.assert_same_structure(init, jit_state, f"{mode} jitted update")
    harness.assert_close(harness.run_merged(case.metric, batches), expected,
                         case, f"{mode} merge")


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


# -- values from Keras' own unit tests (confusion_metrics_test.py) ---------------

_TP_TRUE = [[0, 1, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]]
_TP_PRED = [[0, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]]
_TH_PRED = [[0.9, 0.2, 0.8, 0.1], [0.2, 0.9, 0.7, 0.6], [0.1, 0.2, 0.4, 0.3],
            [0, 1, 0.7, 0.3]]
_TH_TRUE = [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
_TH = [0.15, 0.5, 0.85]
_CLASS_PRED = [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.7, 0.2, 0.1],
               [0.1, 0.1, 0.8]]
_CLASS_TRUE = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
_SS_PRED = [0.0, 0.1, 0.2, 0.3, 0.4, 0.01, 0.02, 0.25, 0.26, 0.26]
_SS_TRUE = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
_PR_PRED = [0.0, 0.1, 0.2, 0.5, 0.6, 0.2, 0.5, 0.6, 0.8, 0.9]
_RP_PRED = [0.05, 0.1, 0.2, 0.3, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.9, 0.95]
_RP_TRUE = [0, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 1]


def _columns(values, num_classes=3):
  """The scores repeated in every class column (Keras' class_id tests)."""
  return np.transpose(np.array([values] * num_classes, np.float32))


def _one_hot_of(labels, num_classes=3):
  return np.eye(num_classes, dtype=np.float32)[labels]


# (test name in Keras, metric, [(y_true, y_pred, sample_weight), ...], expected)
KERAS_TEST_VALUES = [
    ("TruePositiveTest.test_weighted", cm.TruePositives(),
     [(_TP_TRUE, _TP_PRED, [1.0, 1.5, 2.0, 2.5])], 12.0),
    ("TruePositiveTest.test_weighted_with_thresholds", cm.TruePositives(_TH),
     [(_TH_TRUE, _TH_PRED, 37.0)], [222.0, 111.0, 37.0]),
    ("FalsePositivesTest.test_weighted_with_thresholds", cm.FalsePositives(_TH),
     [(_TH_TRUE, _TH_PRED, [[1, 2, 3, 5], [7, 11, 13, 17], [19, 23, 29, 31],
                            [5, 15, 10, 0]])], [125.0, 42.0, 12.0]),
    ("TrueNegativesTest.test_weighted_with_thresholds", cm.TrueNegatives(_TH),
     [(_TH_TRUE, _TH_PRED, [[0.0, 2.0, 3.0, 5.0]])], [5.0, 15.0, 23.0]),
    ("FalseNegativesTest.test_weighted_with_thresholds", cm.FalseNegatives(_TH),
     [(_TH_TRUE, _TH_PRED, [[3.0], [5.0], [7.0], [4.0]])], [4.0, 16.0, 23.0]),
    ("PrecisionTest.test_unweighted_top_k", cm.Precision(top_k=3),
     [([0, 1, 1, 0, 0], [0.2, 0.1, 0.5, 0, 0.2], None)], 1.0 / 3),
    ("PrecisionTest.test_weighted_top_k", cm.Precision(top_k=3),
     [([[0, 1, 1, 0, 1]], [[0.2, 0.1, 0.4, 0, 0.2]], [[1, 4, 2, 3, 5]]),
      ([1, 0, 1, 1, 1], [0.2, 0.6, 0.4, 0.2, 0.2], 3.0)],
     ((2 + 5) + (3 + 3)) / ((1 + 2 + 5) + (3 + 3 + 3))),
    ("PrecisionTest.test_unweighted_class_id_multiclass", cm.Precision(class_id=1),
     [(_CLASS_TRUE, _CLASS_PRED, None)], 1.0),
    ("PrecisionTest.test_unweighted_top_k_and_threshold",
     cm.Precision(thresholds=0.7, top_k=2),
     [([0, 1, 1, 0, 1], [0.2, 0.8, 0.6, 0, 0.2], None)], 1.0),
    ("PrecisionTest.test_multiple_updates", cm.Precision(thresholds=[0.5, 1.0]),
     [([[0, 1], [1, 0]], [[1, 0], [0.6, 0]], [[4, 0], [3, 1]])] * 2,
     [6.0 / 14.0, 0.0]),
    ("RecallTest.test_unweighted_top_k", cm.Recall(top_k=3),
     [([0, 1, 1, 0, 0], [0.2, 0.1, 0.5, 0, 0.2], None)], 0.5),
    ("RecallTest.test_weighted_top_k", cm.Recall(top_k=3),
     [([[0, 1, 1, 0, 1]], [[0.2, 0.1, 0.4, 0, 0.2]], [[1, 4, 2, 3, 5]]),
      ([1, 0, 1, 1, 1], [0.2, 0.6, 0.4, 0.2, 0.2], 3.0)],
     ((2 + 5) + (3 + 3)) / ((4 + 2 + 5) + (3 + 3 + 3 + 3))),
    ("RecallTest.test_unweighted_top_k_and_threshold",
     cm.Recall(thresholds=0.7, top_k=2),
     [([1, 1, 1, 0, 1], [0.2, 0.8, 0.6, 0, 0.2], None)], 0.25),
    ("PrecisionAtRecallTest.test_unweighted_high_recall", cm.PrecisionAtRecall(0.8),
     [(_SS_TRUE, _PR_PRED, None)], 2.0 / 3),
    ("PrecisionAtRecallTest.test_unweighted_low_recall", cm.PrecisionAtRecall(0.6),
     [(_SS_TRUE, _PR_PRED, None)], 0.75),
    ("PrecisionAtRecallTest.test_unweighted_class_id",
     cm.PrecisionAtRecall(0.6, class_id=2),
     [(_one_hot_of([0, 0, 0, 0, 0, 2, 2, 2, 2, 2]), _columns(_PR_PRED), None)],
     0.75),
    ("PrecisionAtRecallTest.test_weighted", cm.PrecisionAtRecall(7.0 / 8),
     [(np.array(_SS_TRUE, bool), _PR_PRED, [2, 1, 2, 1, 2, 1, 2, 2, 1, 2])], 0.7),
    ("SensitivityAtSpecificityTest.test_unweighted_high_specificity",
     cm.SensitivityAtSpecificity(0.8),
     [(_SS_TRUE, [0.0, 0.1, 0.2, 0.3, 0.4, 0.1, 0.45, 0.5, 0.8, 0.9], None)], 0.8),
    ("SensitivityAtSpecificityTest.test_unweighted_low_specificity",
     cm.SensitivityAtSpecificity(0.4), [(_SS_TRUE, _SS_PRED, None)], 0.6),
    ("SensitivityAtSpecificityTest.test_weighted", cm.SensitivityAtSpecificity(0.4),
     [(np.array(_SS_TRUE, np.float32), _SS_PRED, list(range(1, 11)))], 0.675),
    ("SpecificityAtSensitivityTest.test_unweighted_high_sensitivity",
     cm.SpecificityAtSensitivity(1.0), [(_SS_TRUE, _SS_PRED, None)], 0.2),
    ("SpecificityAtSensitivityTest.test_unweighted_class_id",
     cm.SpecificityAtSensitivity(0.4, class_id=2),
     [(_one_hot_of([0, 0, 0, 0, 0, 2, 2, 2, 2, 2]), _columns(_SS_PRED), None)], 0.6),
    ("RecallAtPrecisionTest.test_unweighted_high_precision",
     cm.RecallAtPrecision(0.75), [(_RP_TRUE, _RP_PRED, None)], 0.5),
    ("RecallAtPrecisionTest.test_unweighted_class_id",
     cm.RecallAtPrecision(2.0 / 3, class_id=2),
     [(_one_hot_of([2 * y for y in _RP_TRUE]), _columns(_RP_PRED), None)], 5.0 / 6),
    ("RecallAtPrecisionTest.test_unachievable_precision",
     cm.RecallAtPrecision(2.0 / 3), [([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.9], None)],
     0.0),
]


@pytest.mark.parametrize("test_name,metric,updates,expected", KERAS_TEST_VALUES,
                         ids=[v[0] for v in KERAS_TEST_VALUES])
def test_keras_unit_test_values(test_name, metric, updates, expected):
  del test_name  # Only the test id.
  state = metric.init()
  for y_true, y_pred, weight in updates:
    state = metric.update(state, y_true, y_pred, sample_weight=weight)
  np.testing.assert_allclose(np.asarray(metric.compute(state)), expected,
                             rtol=1e-6, atol=1e-6)


def test_class_id_counts_only_that_column():
  # PrecisionTest/RecallTest.test_unweighted_class_id_multiclass check the
  # variables too: one true positive, no false positive or negative.
  for metric, other in ((cm.Precision(class_id=1), "fp"),
                        (cm.Recall(class_id=1), "fn")):
    state = metric.update(metric.init(), _CLASS_TRUE, _CLASS_PRED)
    assert float(state.tp.hi[0]) == 1.0
    assert float(getattr(state, other).hi[0]) == 0.0


# -- exact counts ------------------------------------------------------------------


def _exact(total) -> list:
  return [int(h) + int(l) for h, l in zip(np.asarray(total.hi, np.float64),
                                          np.asarray(total.lo, np.float64))]


def test_weighted_counts_stay_exact_past_2_pow_24():
  # Every batch's weights are integers a float32 holds exactly, and so is
  # each batch's count; the running totals (odd, past 2**25) are not.
  metric = cm.TruePositives(thresholds=[0.3, 0.6])
  update = jax.jit(metric.update)
  y_true = np.ones((8,), np.float32)
  y_pred = np.array([0.9] * 4 + [0.5] * 4, np.float32)
  batch_weights = [np.full(8, 2**23, np.float32), np.ones(8, np.float32),
                   np.array([0, 0, 0, 1, 1, 2, 0, 1], np.float32)]
  state = metric.init()
  for w in batch_weights:
    state = update(state, y_true, y_pred, sample_weight=w)
  expected = [sum(int(x) for w in batch_weights for x, p in zip(w, y_pred) if p > t)
              for t in (0.3, 0.6)]
  assert expected == [2**26 + 13, 2**25 + 5]
  assert _exact(state.count) == expected
  keras_tp = keras.metrics.TruePositives(thresholds=[0.3, 0.6])
  for w in batch_weights:
    keras_tp.update_state(y_true, y_pred, sample_weight=w)
  # Keras' float32 accumulator has lost the small batches.
  assert np.asarray(keras_tp.result()).tolist() != expected


def test_unweighted_counts_stay_exact_when_merged_past_2_pow_25():
  metric = cm.Precision()
  y_pred = np.tile(np.array([0.9, 0.9, 0.1, 0.7], np.float32), 1024)
  y_true = np.tile(np.array([1, 0, 1, 1], np.int32), 1024)
  state = metric.update(metric.init(), y_true, y_pred)  # tp 2048, fp 1024
  merge = jax.jit(metric.merge)
  for _ in range(14):  # 2**14 copies: tp 2**25, fp 2**24
    state = merge(state, state)
  state = merge(state, metric.update(metric.init(), [1, 1, 1, 0], [1, 1, 1, 1]))
  assert _exact(state.tp) == [2**25 + 3]
  assert _exact(state.fp) == [2**24 + 1]
  np.testing.assert_allclose(float(metric.compute(state)),
                             (2**25 + 3) / (2**25 + 3 + 2**24 + 1), rtol=1e-7)


# -- configuration ---------------------------------------------------------------

KERAS_CLASSES = [
    (cm.TruePositives, keras.metrics.TruePositives, (), {"thresholds": [0.4, 0.9]}),
    (cm.FalsePositives, keras.metrics.FalsePositives, (), {"thresholds": 0.2}),
    (cm.TrueNegatives, keras.metrics.TrueNegatives, (), {}),
    (cm.FalseNegatives, keras.metrics.FalseNegatives, (), {"thresholds": [0.1]}),
    (cm.Precision, keras.metrics.Precision, (),
     {"thresholds": [0.4, 0.9], "top_k": 15, "class_id": 12}),
    (cm.Recall, keras.metrics.Recall, (), {"top_k": 2, "class_id": 0}),
    (cm.PrecisionAtRecall, keras.metrics.PrecisionAtRecall, (0.4,),
     {"num_thresholds": 100, "class_id": 12}),
    (cm.RecallAtPrecision, keras.metrics.RecallAtPrecision, (0.4,),
     {"num_thresholds": 100, "class_id": 12}),
    (cm.SensitivityAtSpecificity, keras.metrics.SensitivityAtSpecificity, (0.4,),
     {"num_thresholds": 100}),
    (cm.SpecificityAtSensitivity, keras.metrics.SpecificityAtSensitivity, (0.4,),
     {"num_thresholds": 1, "class_id": 3}),
]
_IDS = [c[0].__name__ for c in KERAS_CLASSES]


@pytest.mark.parametrize("ours,theirs,args,kwargs", KERAS_CLASSES, ids=_IDS)
def test_config_matches_keras(ours, theirs, args, kwargs):
  default, keras_default = ours(*args), theirs(*args)
  # Keras numbers repeated default names ("true_positives_3"); the stem is ours.
  assert default.name == re.sub(r"_\d+$", "", keras_default.name)
  for key in ("top_k", "class_id", "num_thresholds", "recall", "precision",
              "specificity", "sensitivity"):
    if hasattr(keras_default, key) and not callable(getattr(keras_default, key)):
      assert getattr(default, key) == getattr(keras_default, key), key
  custom = ours(*args, name="custom", dtype="float32", **kwargs)
  keras_custom = theirs(*args, name="custom", dtype="float32", **kwargs)
  assert custom.name == keras_custom.name
  for key, value in kwargs.items():
    frozen = tuple(value) if isinstance(value, list) else value
    assert getattr(custom, key) == frozen
  # Keras' parsed thresholds (with its defaults) are the kernel grid's values.
  assert list(custom.grid.values) == [float(t) for t in keras_custom.thresholds]
  state = custom.init()
  if isinstance(state, th.ConfusionState):  # four totals, stacked
    state = (state.tp, state.fp, state.tn, state.fn)
  state_shapes = {leaf.shape for leaf in jax.tree.leaves(state)}
  assert state_shapes == {(len(keras_custom.thresholds),)}
  assert custom == ours(*args, name="custom", dtype="float32", **kwargs)
  assert hash(custom) == hash(ours(*args, name="custom", dtype="float32", **kwargs))
  assert custom != default


def test_positional_arguments_follow_keras():
  p = cm.Precision([0.3, 0.6], 2, 1, "p", "float32")
  assert (p.thresholds, p.top_k, p.class_id, p.name, p.dtype) == (
      (0.3, 0.6), 2, 1, "p", "float32")
  assert cm.TruePositives(0.25, "tp").name == "tp"
  m = cm.SpecificityAtSensitivity(0.3, 50, 2, "s")
  assert (m.sensitivity, m.num_thresholds, m.class_id, m.name) == (0.3, 50, 2, "s")
  assert cm.PrecisionAtRecall(np.float32(0.5), np.int64(10)).num_thresholds == 10
  assert cm.Recall(np.array([0.2, 0.4])).thresholds == (0.2, 0.4)


def test_top_k_without_thresholds_uses_neg_inf():
  assert cm.Precision(top_k=1).grid.values == (th.NEG_INF,)
  assert cm.Precision().grid.values == (0.5,)
  assert cm.Recall(thresholds=0.2, top_k=1).grid.values == (0.2,)


ALL_METRICS = [cm.TruePositives(), cm.FalseNegatives(thresholds=[0.2, 0.8]),
               cm.Precision(top_k=2), cm.Recall(thresholds=[0.1, 0.5, 0.9]),
               cm.PrecisionAtRecall(0.5), cm.RecallAtPrecision(0.5),
               cm.SensitivityAtSpecificity(0.5), cm.SpecificityAtSensitivity(0.0)]


@pytest.mark.parametrize("metric", ALL_METRICS,
                         ids=[f"{type(m).__name__}-{i}"
                              for i, m in enumerate(ALL_METRICS)])
def test_empty_state_computes_zero(metric):
  value = np.asarray(jax.jit(metric.compute)(metric.init()))
  # The X-at-Y metrics reduce their curves to one number.
  at_constraint = hasattr(metric, "num_thresholds")
  vector = metric.grid.size > 1 and not at_constraint
  assert value.shape == ((metric.grid.size,) if vector else ())
  assert not value.any()


def test_result_is_scalar_for_one_threshold_and_vector_otherwise():
  y_true, y_pred = [0, 1, 1], [0.3, 0.6, 0.9]
  for thresholds, shape in ((None, ()), (0.5, ()), ([0.5], ()), ([0.2, 0.7], (2,))):
    m = cm.Recall(thresholds=thresholds)
    assert m.compute(m.update(m.init(), y_true, y_pred)).shape == shape


def test_dtype_sets_the_result_dtype():
  m = cm.Precision(dtype="float16")
  assert m.compute(m.update(m.init(), [0, 1], [0.7, 0.8])).dtype == jnp.float16
  m = cm.SensitivityAtSpecificity(0.5, dtype="bfloat16")
  assert m.compute(m.init()).dtype == jnp.bfloat16


def test_update_never_builds_an_n_by_t_array():
  n = 4096
  for metric in (cm.PrecisionAtRecall(0.5, num_thresholds=200),
                 cm.TruePositives(thresholds=list(np.linspace(0.01, 0.99, 50)))):
    jaxpr = jax.make_jaxpr(metric.update)(
        metric.init(), jnp.zeros((n,)), jnp.zeros((n,)), jnp.ones((n,)))
    t = metric.grid.size
    sizes = [int(np.prod(v.aval.shape)) for eqn in jaxpr.jaxpr.eqns
             for v in eqn.outvars]
    assert max(sizes) < n * t // 4, (type(metric).__name__, max(sizes))


# -- errors ----------------------------------------------------------------------

CONSTRUCTION_ERRORS = [
    (lambda: cm.TruePositives(thresholds=[-1, 0.5, 2]),
     r"TruePositives: thresholds must be in \[0, 1\], got \[-1, 2\]"),
    (lambda: cm.FalseNegatives(thresholds=[None]),
     r"FalseNegatives: thresholds must be in \[0, 1\], got \[None\]"),
    (lambda: cm.FalsePositives(thresholds=1.5),
     r"FalsePositives: thresholds must be in \[0, 1\], got \[1.5\]"),
    (lambda: cm.TrueNegatives(thresholds=[]),
     r"TrueNegatives: thresholds must not be an empty list"),
    (lambda: cm.Precision(thresholds="0.5"),
     r"Precision: thresholds must be a number or a list of numbers in \[0, 1\], "
     r"got '0.5'"),
    (lambda: cm.Recall(thresholds=[0.5, float("nan")]),
     r"Recall: thresholds must be in \[0, 1\], got \[nan\]"),
    (lambda: cm.Precision(top_k=0),
     r"Precision: top_k must be an integer >= 1, got 0"),
    (lambda: cm.Recall(top_k=1.5),
     r"Recall: top_k must be an integer >= 1, got 1.5"),
    (lambda: cm.Precision(top_k=True),
     r"Precision: top_k must be an integer >= 1, got True"),
    (lambda: cm.Precision(class_id=-1),
     r"Precision: class_id must be an integer >= 0, got -1"),
    (lambda: cm.PrecisionAtRecall(0.5, class_id=-2),
     r"PrecisionAtRecall: class_id must be an integer >= 0, got -2"),
    (lambda: cm.PrecisionAtRecall(1.5),
     r"PrecisionAtRecall: recall must be a number in \[0, 1\], got 1.5"),
    (lambda: cm.RecallAtPrecision(-1),
     r"RecallAtPrecision: precision must be a number in \[0, 1\], got -1"),
    (lambda: cm.SensitivityAtSpecificity(float("nan")),
     r"SensitivityAtSpecificity: specificity must be a number in \[0, 1\], "
     r"got nan"),
    (lambda: cm.SpecificityAtSensitivity(None),
     r"SpecificityAtSensitivity: sensitivity must be a number in \[0, 1\], "
     r"got None"),
    # Keras' rule for the X-at-Y grid: num_thresholds > 0 (1 means [0.5]).
    (lambda: cm.SensitivityAtSpecificity(0.4, num_thresholds=0),
     r"SensitivityAtSpecificity: num_thresholds must be an integer >= 1, got 0"),
    (lambda: cm.RecallAtPrecision(0.4, num_thresholds=-1),
     r"RecallAtPrecision: num_thresholds must be an integer >= 1, got -1"),
    (lambda: cm.PrecisionAtRecall(0.4, num_thresholds=2.5),
     r"PrecisionAtRecall: num_thresholds must be an integer >= 1, got 2.5"),
]


@pytest.mark.parametrize("make,message", CONSTRUCTION_ERRORS,
                         ids=[str(i) for i in range(len(CONSTRUCTION_ERRORS))])
def test_construction_errors(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_keras_rejects_the_same_configurations():
  # The constructor errors above mirror Keras' own checks where Keras has one.
  with pytest.raises(ValueError, match=r"Threshold values must be in \[0, 1\]"):
    keras.metrics.TruePositives(thresholds=[-1, 0.5, 2])
  with pytest.raises(ValueError, match=r"`num_thresholds` must be an integer > 0"):
    keras.metrics.SensitivityAtSpecificity(0.4, num_thresholds=0)
  keras.metrics.SensitivityAtSpecificity(0.4, num_thresholds=1)  # allowed
  with pytest.raises(ValueError, match=r"`recall` must be in the range \[0, 1\]"):
    keras.metrics.PrecisionAtRecall(1.5)


UPDATE_ERRORS = [
    # PrecisionTest.test_unweighted_class_id_should_throw_error_1d
    (cm.Precision(class_id=2), (5,), (5,), None,
     r"Precision: class_id needs y_pred of shape \(num_samples, num_classes\), "
     r"got shape \(5,\)"),
    (cm.SensitivityAtSpecificity(0.5, class_id=0), (8,), (8,), None,
     r"SensitivityAtSpecificity: class_id needs y_pred of shape"),
    (cm.Recall(class_id=3), (8, 3), (8, 3), None,
     r"Recall: class_id=3 is out of range for y_pred of shape \(8, 3\)"),
    (cm.Precision(top_k=4), (8, 3), (8, 3), None,
     r"Precision: top_k=4 needs y_pred with at least 4 entries on its last axis, "
     r"got shape \(8, 3\)"),
    (cm.TruePositives(), (8, 3), (8, 2), None,
     r"TruePositives: expected y_true and y_pred of the same shape, got y_true "
     r"\(8, 3\) and y_pred \(8, 2\)"),
    (cm.PrecisionAtRecall(0.5), (16,), (8,), None,
     r"PrecisionAtRecall: expected y_true and y_pred of the same shape, got "
     r"y_true \(16,\) and y_pred \(8,\)"),
    (cm.Recall(), (8, 3), (8, 3), (4,),
     r"Recall: sample_weight of shape \(4,\) \(aligned to the inputs. rank as "
     r"\(4, 1\)\) does not broadcast to shape "
     r"\(8, 3\)"),
    # Per-element weights cannot follow class_id's single column.
    (cm.Precision(class_id=1), (8, 3), (8, 3), (8, 3),
     r"Precision: sample_weight of shape \(8, 3\) does not broadcast to shape "
     r"\(8, 1\)"),
]


@pytest.mark.parametrize("metric,true_shape,pred_shape,weight_shape,message",
                         UPDATE_ERRORS,
                         ids=[f"{type(e[0]).__name__}-{i}"
                              for i, e in enumerate(UPDATE_ERRORS)])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_update_errors(metric, true_shape, pred_shape, weight_shape, message, jit):
  y_true = np.zeros(true_shape, np.int32)
  y_pred = np.zeros(pred_shape, np.float32)
  weight = None if weight_shape is None else np.ones(weight_shape, np.float32)
  update = jax.jit(metric.update) if jit else metric.update
  with pytest.raises(ValueError, match=message):
    update(metric.init(), y_true, y_pred, weight)
