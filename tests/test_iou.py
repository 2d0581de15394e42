"""ConfusionMatrix and the IoU family against Keras 3 and scikit-learn."""

import inspect
import re
import warnings

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import metrics as skm

from jmetrics._src.metrics import iou
from jmetrics._src.numerics import wide
from tests import harness

N = 16  # Images per batch: divisible by the 8 devices of the pmap modes.
N_FLAT = 32  # Samples per batch of 1-D labels.

# Keras' confusion_matrix asks JAX for int64 indices, which it refuses
# without x64 (and says so): noise from the oracle, not from jmetrics.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Explicitly requested dtype int64:UserWarning")

# Keras (dtype None = "int") warns about float weights that it truncates; so
# does jmetrics. The cases that check this truncation silence both.
_TRUNCATION_WARNING = r"ignore:.*(truncated|type casting)"



def _labels(rng, shape, num_classes, extra=(), rate=0.15, dtype=np.int32):
  """Class ids, a fraction ``rate`` of them replaced by the ``extra`` values."""
  labels = rng.integers(0, num_classes, shape)
  if extra:
    odd = rng.random(shape) < rate
    labels[odd] = rng.choice(np.asarray(extra), shape)[odd]
  return labels.astype(dtype)


def _one_hot(rng, shape, num_classes, axis=-1):
  one_hot = np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, shape)]
  return np.moveaxis(one_hot, -1, axis)


def _scores(rng, shape, levels=None):
  """Uniform scores; with ``levels``, on a few values so that argmax ties."""
  if levels is None:
    return rng.uniform(size=shape).astype(np.float32)
  return (rng.integers(0, levels, shape) / levels).astype(np.float32)


def _binary_scores(rng, shape, threshold):
  """Scores with a fifth exactly on the threshold and a few NaNs."""
  scores = rng.uniform(size=shape).astype(np.float32)
  scores[rng.random(shape) < 0.2] = threshold
  scores[rng.random(shape) < 0.05] = np.nan
  return scores


def _float_weights(shape):
  """Weights in [0, 2) per element of ``shape``, a quarter of them 0."""
  def make(rng, args):
    weights = rng.uniform(0.0, 2.0, shape).astype(np.float32)
    weights[rng.random(shape) < 0.25] = 0.0
    return weights
  return make


def _int_weights(shape, high=4):
  return lambda rng, args: rng.integers(0, high, shape).astype(np.int32)


def _keras(cls, *args, **kwargs):
  return lambda: cls(*args, **kwargs)


# -- oracles -----------------------------------------------------------------------


def _flat_inputs(batches, ignore_class=None):
  """All batches' labels, predictions and per-element weights, flattened."""
  trues, preds, weights = [], [], []
  for (y_true, y_pred), weight in batches:
    trues.append(np.ravel(y_true))
    preds.append(np.ravel(y_pred))
    weights.append(np.ravel(np.broadcast_to(
        1.0 if weight is None else weight, np.shape(y_true))))
  y_true, y_pred, weight = (np.concatenate(x) for x in (trues, preds, weights))
  if ignore_class is not None:
    keep = y_true != ignore_class
    y_true, y_pred, weight = y_true[keep], y_pred[keep], weight[keep]
  return y_true, y_pred, weight.astype(np.float64)


def _sklearn_confusion(num_classes, normalize=None, ignore_class=None):
  """scikit-learn's confusion matrix; ``labels=range(C)`` drops other ids."""
  def reference(batches):
    y_true, y_pred, weight = _flat_inputs(batches, ignore_class)
    return skm.confusion_matrix(y_true, y_pred, labels=np.arange(num_classes),
                                sample_weight=weight, normalize=normalize)
  return reference


def _keras_channels_last(cls, axis, **kwargs):
  """Keras 3 on inputs whose class ``axis`` is moved last.

  Keras' result() sums the per-class IoUs along ``axis`` too, which fails for
  ``axis=1``; with the class axis last its ``axis=-1`` path is the oracle.
  """
  def reference(batches):
    metric = cls(**kwargs)
    for (y_true, y_pred), weight in batches:
      metric.update_state(np.moveaxis(y_true, axis, -1),
                          np.moveaxis(y_pred, axis, -1), sample_weight=weight)
    return np.asarray(metric.result())
  return reference


# -- cases ----------------------------------------------------------------------------

IOU_CASES = [
    # 1-D labels with negative and too-large ids on both sides: Keras drops
    # them. Class 5 never occurs, so it is left out of the mean.
    harness.Case(
        "mean_iou_1d_out_of_range_absent_class",
        iou.MeanIoU(6, dtype="float32"),
        lambda rng, n: (_labels(rng, (N_FLAT,), 5, (-1, 6, 9)),
                        _labels(rng, (N_FLAT,), 5, (-2, 6, 7))),
        keras=_keras(keras.metrics.MeanIoU, 6, dtype="float32")),
    # uint8 segmentation maps with a 255 "void" class and per-pixel weights.
    harness.Case(
        "mean_iou_images_ignore_255",
        iou.MeanIoU(4, ignore_class=255, dtype="float32"),
        lambda rng, n: (_labels(rng, (n, 6, 6), 4, (255,), 0.2, np.uint8),
                        _labels(rng, (n, 6, 6), 4, (7,), 0.05, np.uint8)),
        keras=_keras(keras.metrics.MeanIoU, 4, ignore_class=255, dtype="float32"),
        make_weights=_float_weights((N, 6, 6))),
    # Keras' default integer accumulator with integer weights on 2-D labels.
    harness.Case(
        "mean_iou_2d_default_dtype_int_weights",
        iou.MeanIoU(4),
        lambda rng, n: (_labels(rng, (n, 8), 4, (-1, 4)),
                        _labels(rng, (n, 8), 4)),
        keras=_keras(keras.metrics.MeanIoU, 4),
        make_weights=_int_weights((N, 8))),
    # The default dtype truncates float labels and weights toward zero
    # (-0.5 -> class 0, weight 1.7 -> 1), as Keras does.
    harness.Case(
        "mean_iou_default_dtype_truncates_floats",
        iou.MeanIoU(3),
        lambda rng, n: (
      rng.choice([0.0, 1.0, 2.0, 1.7, -0.5, 2.9, 3.0], N_FLAT).astype(np.float32),
      rng.choice([0.0, 1.0, 2.0, 0.5], N_FLAT).astype(np.float32)),
        keras=_keras(keras.metrics.MeanIoU, 3),
        make_weights=lambda rng, args: rng.uniform(0, 3, N_FLAT).astype(np.float32)),
    # ignore_class inside the range, on (N, 4, 4) maps with out-of-range ids.
    harness.Case(
        "iou_targets_3d_ignore_class_in_range",
        iou.IoU(5, [0, 2, 4], ignore_class=1, dtype="float32"),
        lambda rng, n: (_labels(rng, (n, 4, 4), 5, (-3, 6)),
                        _labels(rng, (n, 4, 4), 5, (5,))),
        keras=_keras(keras.metrics.IoU, 5, [0, 2, 4], ignore_class=1,
                     dtype="float32"),
        make_weights=_float_weights((N, 4, 4))),
    # Repeated target ids count repeatedly; dense scores, sparse labels.
    harness.Case(
        "iou_repeated_targets_dense_pred",
        iou.IoU(4, [3, 3, 1], sparse_y_pred=False),
        lambda rng, n: (_labels(rng, (n, 6), 4, (4,)),
                        _scores(rng, (n, 6, 4), levels=3)),
        keras=_keras(keras.metrics.IoU, 4, [3, 3, 1], sparse_y_pred=False),
        make_weights=_int_weights((N, 6))),
    # y_pred >= threshold is class 1 (ties included); NaN scores are class 0.
    harness.Case(
        "binary_iou_default_ties_nan",
        iou.BinaryIoU(),
        lambda rng, n: (_labels(rng, (N_FLAT,), 2),
                        _binary_scores(rng, (N_FLAT,), 0.5)),
        keras=_keras(keras.metrics.BinaryIoU),
        make_weights=_int_weights((N_FLAT,))),
    # Float labels with a float dtype: 0.7 -> 0, -0.5 and 2 dropped.
    harness.Case(
        "binary_iou_class_1_images_float_labels",
        iou.BinaryIoU([1], threshold=0.3, dtype="float32"),
        lambda rng, n: (
      rng.choice([0.0, 1.0, 0.7, -0.5, 2.0], (n, 5, 5),
                 p=[0.4, 0.4, 0.1, 0.05, 0.05]).astype(np.float32),
      _binary_scores(rng, (n, 5, 5), 0.3)),
        keras=_keras(keras.metrics.BinaryIoU, [1], threshold=0.3, dtype="float32"),
        make_weights=_float_weights((N, 5, 5))),
    harness.Case(
        "one_hot_iou_ties",
        iou.OneHotIoU(4, [0, 3], dtype="float32"),
        lambda rng, n: (_one_hot(rng, (N_FLAT,), 4),
                        _scores(rng, (N_FLAT, 4), levels=3)),
        keras=_keras(keras.metrics.OneHotIoU, 4, [0, 3], dtype="float32")),
    # Channels-first one-hot maps (N, C, W), class axis 1.
    harness.Case(
        "one_hot_mean_iou_axis_1",
        iou.OneHotMeanIoU(3, axis=1, dtype="float32"),
        lambda rng, n: (_one_hot(rng, (n, 5), 3, axis=1),
                        _scores(rng, (n, 3, 5))),
        reference=_keras_channels_last(keras.metrics.OneHotMeanIoU, 1,
                                       num_classes=3, dtype="float32"),
        make_weights=_float_weights((N, 5))),
    # One-hot label maps, sparse predictions, class 0 ignored after argmax.
    harness.Case(
        "one_hot_mean_iou_images_sparse_pred_ignore_0",
        iou.OneHotMeanIoU(4, ignore_class=0, sparse_y_pred=True),
        lambda rng, n: (_one_hot(rng, (n, 4, 4), 4),
                        _labels(rng, (n, 4, 4), 4, (4, -1))),
        keras=_keras(keras.metrics.OneHotMeanIoU, 4, ignore_class=0,
                     sparse_y_pred=True),
        make_weights=_int_weights((N, 4, 4))),
]

CONFUSION_CASES = [
    harness.Case(
        "confusion_matrix_1d_out_of_range",
        iou.ConfusionMatrix(4),
        lambda rng, n: (_labels(rng, (N_FLAT,), 4, (-1, 4, 8)),
                        _labels(rng, (N_FLAT,), 4, (-1, 5))),
        reference=_sklearn_confusion(4)),
    harness.Case(
        "confusion_matrix_true_images_ignore_255",
        iou.ConfusionMatrix(3, normalize="true", ignore_class=255),
        lambda rng, n: (_labels(rng, (n, 4, 4), 3, (255,), 0.2, np.uint8),
                        _labels(rng, (n, 4, 4), 3, (9,), 0.05, np.uint8)),
        reference=_sklearn_confusion(3, "true", ignore_class=255),
        make_weights=_float_weights((N, 4, 4))),
    # (N, 1) weights broadcast over (N, 6) labels; class 4 is never predicted,
    # so its column normalizes to zeros.
    harness.Case(
        "confusion_matrix_pred_2d_row_weights",
        iou.ConfusionMatrix(5, normalize="pred"),
        lambda rng, n: (_labels(rng, (n, 6), 5),
                        _labels(rng, (n, 6), 4, (-1,))),
        reference=_sklearn_confusion(5, "pred"),
        make_weights=_float_weights((N, 1))),
    harness.Case(
        "confusion_matrix_all_3d",
        iou.ConfusionMatrix(3, normalize="all"),
        lambda rng, n: (_labels(rng, (n, 2, 3), 3, (3,)),
                        _labels(rng, (n, 2, 3), 3)),
        reference=_sklearn_confusion(3, "all"),
        make_weights=_float_weights((N, 2, 3))),
]

ALL_CASES = IOU_CASES + CONFUSION_CASES


def _param(case):
  marks = ([pytest.mark.filterwarnings(_TRUNCATION_WARNING)]
           if case.id == "mean_iou_default_dtype_truncates_floats" else [])
  return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in ALL_CASES])
def test_all_modes(case):
  harness.check_all_modes(case)


ALGEBRA_CASES = [c for c in ALL_CASES if c.id in (
    "mean_iou_images_ignore_255", "one_hot_iou_ties",
    "confusion_matrix_true_images_ignore_255")]


@pytest.mark.parametrize("case", ALGEBRA_CASES, ids=str)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_merge_algebra(case, seed):
  harness.check_merge_algebra(case, seed)


def test_sklearn_drops_ids_outside_labels_as_the_oracle_assumes():
  # The ConfusionMatrix oracle relies on scikit-learn ignoring ids that are
  # not in ``labels`` (negative or too large), which is Keras' rule too.
  table = skm.confusion_matrix([0, 1, -1, 3, 1], [0, 1, 1, 1, 7], labels=[0, 1, 2])
  np.testing.assert_array_equal(table, [[1, 0, 0], [0, 1, 0], [0, 0, 0]])


# -- Keras' unit-test values ----------------------------------------------------------

_ONE_HOT_TRUE = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
_ONE_HOT_PRED = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
                          [0.1, 0.4, 0.5]])
_WEIGHTS = [0.2, 0.3, 0.4, 0.1]

# (Keras test, metric, [(y_true, y_pred, sample_weight), ...], expected value
# as written in keras/src/metrics/iou_metrics_test.py).
KERAS_TEST_VALUES = [
    ("IoUTest.test_unweighted", iou.IoU(2, [0, 1]),
     [([0, 0, 1, 1], [0, 1, 0, 1], None)], (1 / 3 + 1 / 3) / 2),
    ("IoUTest.test_weighted", iou.IoU(2, [1, 0], dtype="float32"),
     [(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1], np.float32),
       np.array(_WEIGHTS))],
     (0.1 / (0.4 + 0.5 - 0.1) + 0.2 / (0.6 + 0.5 - 0.2)) / 2),
    ("IoUTest.test_multi_dim_input", iou.IoU(2, [0, 1], dtype="float32"),
     [(np.array([[0, 0], [1, 1]]), np.array([[0, 1], [0, 1]], np.float32),
       np.array([[0.2, 0.3], [0.4, 0.1]]))],
     (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2),
    ("IoUTest.test_zero_valid_entries", iou.IoU(2, [0, 1]), [], 0.0),
    ("IoUTest.test_zero_and_non_zero_entries", iou.IoU(2, [0, 1]),
     [(np.array([1]), np.array([1], np.float32), None)], 1.0),
    ("IoUTest.test_out_of_range_y_true_ignored", iou.IoU(2, [0, 1]),
     [([0, 2], [0, 1], None)], 1.0),
    ("IoUTest.test_out_of_range_y_pred_ignored", iou.IoU(2, [0, 1]),
     [([0, 1], [0, 2], None)], 1.0),
    ("IoUTest.test_negative_y_true_ignored", iou.IoU(2, [0, 1]),
     [([-1, 0], [0, 0], None)], 1.0),
    ("IoUTest.test_negative_y_pred_ignored", iou.IoU(2, [0, 1]),
     [([0, 1], [-1, 1], None)], 1.0),
    ("IoUTest.test_absent_class_contributes_zero", iou.IoU(4, [0, 1, 2, 3]),
     [([0, 0, 1, 1], [0, 1, 0, 1], None)], 1 / 3),
    ("BinaryIoUTest.test_different_thresholds_weighted[0.3]",
     iou.BinaryIoU([0, 1], threshold=0.3, dtype="float32"),
     [([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], np.array(_WEIGHTS))],
     (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2),
    ("BinaryIoUTest.test_different_thresholds_weighted[0.5]",
     iou.BinaryIoU([0, 1], threshold=0.5, dtype="float32"),
     [([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], np.array([0.1, 0.2, 0.4, 0.3]))],
     (0.5 / (0.5 + 0.7 - 0.5) + 0.3 / (0.5 + 0.3 - 0.3)) / 2),
    ("BinaryIoUTest.test_different_thresholds_unweighted[0.3]",
     iou.BinaryIoU([0, 1], threshold=0.3),
     [([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], None)], (1 / 3 + 1 / 3) / 2),
    ("BinaryIoUTest.test_different_thresholds_unweighted[0.5]",
     iou.BinaryIoU([0, 1], threshold=0.5),
     [([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], None)],
     (2 / (2 + 3 - 2) + 1 / (2 + 1 - 1)) / 2),
    ("BinaryIoUTest.test_multi_dim_input",
     iou.BinaryIoU([0, 1], threshold=0.4, dtype="float32"),
     [(np.array([[0, 1], [0, 1]], np.float32), np.array([[0.1, 0.7], [0.9, 0.3]]),
       np.array([[0.2, 0.3], [0.4, 0.1]]))],
     (0.2 / (0.6 + 0.3 - 0.2) + 0.3 / (0.4 + 0.7 - 0.3)) / 2),
    ("BinaryIoUTest.test_zero_valid_entries", iou.BinaryIoU([0, 1]), [], 0.0),
    ("BinaryIoUTest.test_zero_and_non_zero_entries",
     iou.BinaryIoU([0, 1], threshold=0.5),
     [(np.array([1]), np.array([0.6], np.float32), None)], 1.0),
    ("MeanIoUTest.test_unweighted", iou.MeanIoU(2),
     [([0, 0, 1, 1], [0, 1, 0, 1], None)], 1 / 3),
    ("MeanIoUTest.test_unweighted_ignore_class_255", iou.MeanIoU(3, ignore_class=255),
     [([0, 1, 2, 255], [0, 1, 1, 1], None)], (1 + 1 / 2 + 0) / 3),
    ("MeanIoUTest.test_unweighted_ignore_class_1", iou.MeanIoU(3, ignore_class=-1),
     [([0, 1, 2, -1], [0, 1, 1, 1], None)], (1 + 1 / 2 + 0) / 3),
    ("MeanIoUTest.test_weighted", iou.MeanIoU(2, dtype="float32"),
     [(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1], np.float32),
       np.array(_WEIGHTS))],
     (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2),
    ("MeanIoUTest.test_weighted_ignore_class_1",
     iou.MeanIoU(2, ignore_class=-1, dtype="float32"),
     [(np.array([0, 0, 1, -1]), np.array([0, 1, 0, 1], np.float32),
       np.array(_WEIGHTS))],
     (0.2 / (0.6 + 0.5 - 0.2) + 0.0 / (0.3 + 0.4 - 0.0)) / 2),
    ("MeanIoUTest.test_multi_dim_input", iou.MeanIoU(2, dtype="float32"),
     [(np.array([[0, 0], [1, 1]]), np.array([[0, 1], [0, 1]], np.float32),
       np.array([[0.2, 0.3], [0.4, 0.1]]))],
     (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2),
    ("MeanIoUTest.test_zero_valid_entries", iou.MeanIoU(2), [], 0.0),
    ("MeanIoUTest.test_zero_and_non_zero_entries", iou.MeanIoU(2),
     [(np.array([1]), np.array([1], np.float32), None)], 1.0),
    ("MeanIoUTest.test_out_of_range_ignored", iou.MeanIoU(2),
     [([0, 3], [0, 1], None)], 1.0),
    ("MeanIoUTest.test_negative_ignored", iou.MeanIoU(2),
     [([0, -1], [0, 1], None)], 1.0),
    ("MeanIoUTest.test_absent_class_contributes_zero", iou.MeanIoU(3),
     [([0, 0, 0, 0], [0, 0, 0, 0], None)], 1.0),
    ("OneHotIoUTest.test_unweighted", iou.OneHotIoU(3, [0, 2]),
     [(_ONE_HOT_TRUE, _ONE_HOT_PRED, None)], (0 / (1 + 2 - 0) + 1 / (3 + 1 - 1)) / 2),
    ("OneHotIoUTest.test_weighted", iou.OneHotIoU(3, [0, 2], dtype="float32"),
     [(_ONE_HOT_TRUE, _ONE_HOT_PRED, [0.1, 0.2, 0.3, 0.4])],
     (0 / (0.3 + 0.6 - 0) + 0.1 / (0.7 + 0.1 - 0.1)) / 2),
    ("OneHotMeanIoUTest.test_unweighted", iou.OneHotMeanIoU(3),
     [(_ONE_HOT_TRUE, _ONE_HOT_PRED, None)], (0 + 0 + 1 / (3 + 1 - 1)) / 3),
    ("OneHotMeanIoUTest.test_weighted", iou.OneHotMeanIoU(3, dtype="float32"),
     [(np.vstack([_ONE_HOT_TRUE, [[1, 0, 0]]]),
       np.vstack([_ONE_HOT_PRED, [[0.6, 0.2, 0.2]]]), [0.1, 0.2, 0.3, 0.3, 0.1])],
     (0.1 / (0.4 + 0.6 - 0.1) + 0 + 0.1 / (0.6 + 0.1 - 0.1)) / 3),
    # The same test's second half: integer weights with the default dtype.
    ("OneHotMeanIoUTest.test_weighted[int]", iou.OneHotMeanIoU(3),
     [(np.vstack([_ONE_HOT_TRUE, [[1, 0, 0]]]),
       np.vstack([_ONE_HOT_PRED, [[0.6, 0.2, 0.2]]]), [1, 2, 3, 3, 1])],
     (0.1 / (0.4 + 0.6 - 0.1) + 0 + 0.1 / (0.6 + 0.1 - 0.1)) / 3),
]


@pytest.mark.parametrize("test_name,metric,updates,expected", KERAS_TEST_VALUES,
                         ids=[v[0] for v in KERAS_TEST_VALUES])
def test_keras_unit_test_values(test_name, metric, updates, expected):
  del test_name  # Only the test id.
  state = metric.init()
  for y_true, y_pred, weight in updates:
    state = metric.update(state, y_true, y_pred, sample_weight=weight)
  # Keras' epsilon (1e-7 in each division) moves results by ~1e-7 only.
  np.testing.assert_allclose(float(metric.compute(state)), expected,
                             rtol=1e-5, atol=1e-6)


def test_keras_epsilon_is_kept():
  # Keras divides by (denominator + 1e-7) and (num_valid + 1e-7): a perfect
  # MeanIoU of one element is 0.99999976, not 1.0. jmetrics returns the same
  # float32.
  m = iou.MeanIoU(1)
  value = m.compute(m.update(m.init(), [0], [0]))
  keras_m = keras.metrics.MeanIoU(1)
  keras_m.update_state([0], [0])
  assert float(value) == float(keras_m.result()) == float(np.float32(0.99999976))


def test_weights_truncate_with_the_default_dtype_and_warn_like_keras():
  # MeanIoUTest.test_user_warning_float_weight: Keras warns and casts; both
  # libraries then count the (truncated) weights [0, 0, 0, 0] as nothing.
  y_true, y_pred, weight = [0, 1, 1, 0], [0, 1, 1, 1], np.array(_WEIGHTS)
  m = iou.MeanIoU(3)
  with pytest.warns(UserWarning, match=r"MeanIoU: sample_weight is float.*truncated"):
    state = m.update(m.init(), y_true, y_pred, sample_weight=weight)
  keras_m = keras.metrics.MeanIoU(3)
  with pytest.warns(Warning, match=r"weight.*float.*int.*casting"):
    keras_m.update_state(y_true, y_pred, sample_weight=weight)
  np.testing.assert_array_equal(wide.wide_value(state.confusion),
                                np.asarray(keras_m.total_cm))
  assert float(m.compute(state)) == float(keras_m.result()) == 0.0
  # A float dtype keeps the fractions and does not warn.
  m = iou.MeanIoU(3, dtype="float32")
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    state = m.update(m.init(), y_true, y_pred, sample_weight=weight)
  np.testing.assert_allclose(np.asarray(wide.wide_value(state.confusion)),
                             [[0.2, 0.1, 0], [0, 0.7, 0], [0, 0, 0]], rtol=1e-6)


# -- exact counts -------------------------------------------------------------------


def _exact(table: wide.Wide) -> np.ndarray:
  """The table's cells as Python ints (hi + lo, both integers here)."""
  hi = np.asarray(table.hi, np.float64).ravel()
  lo = np.asarray(table.lo, np.float64).ravel()
  return np.array([int(h) + int(l) for h, l in zip(hi, lo)],
                  dtype=object).reshape(np.shape(table.hi))


@pytest.mark.parametrize("metric", [iou.ConfusionMatrix(3), iou.MeanIoU(3)],
                         ids=["ConfusionMatrix", "MeanIoU"])
def test_cells_stay_exact_past_2_pow_31(metric):
  # Doubling a state by merging it with itself reaches 2**31 cheaply; then
  # large integer weights (each a float32 exactly) and unit counts are added.
  # An int32 table (Keras' default) would wrap, a float32 one round.
  update, merge = jax.jit(metric.update), jax.jit(metric.merge)
  state = update(metric.init(), [0, 0, 0, 1, 2, 2], [0, 0, 1, 1, 2, 0])
  for _ in range(30):  # 2**30 copies
    state = merge(state, state)
  big = 2**30 + 2**7  # 24 significant bits: a float32 holds it exactly.
  for _ in range(3):
    state = update(state, [2], [0], sample_weight=np.array([big], np.int32))
  state = update(state, [0, 1, 2], [0, 1, 0])
  expected = np.array([[2 * 2**30 + 1, 2**30, 0],
                       [0, 2**30 + 1, 0],
                       [2**30 + 3 * big + 1, 0, 2**30]], dtype=object)
  assert expected[0, 0] > 2**31 and expected[2, 0] > 2**32
  assert (_exact(state.confusion) == expected).all()
  assert int(expected[2, 0]) % 2 == 1  # Odd: past 2**24 no float32 holds it.


def test_big_chunk_counts_match_bincount_exactly():
  # MeanIoUTest.test_big_chunk: cells starting near 1.87e7 (past 2**24) plus
  # a large update. Keras' float32 table fails this; jmetrics' Wide table is
  # exact for either dtype.
  rng = np.random.default_rng(14)
  y_true = rng.choice([0, 1, 2], size=(4, 200, 200))
  y_pred = np.argmax(rng.random((4, 200, 200, 3)), axis=-1)
  start = np.array([[18729664, 18728760, 18731196],
                    [18727297, 18726105, 18728071],
                    [18727917, 18717835, 18723155]])
  expected = np.bincount((y_true * 3 + y_pred).ravel(), minlength=9).reshape(3, 3)
  expected = expected.astype(object) + start.astype(object)
  for dtype in (None, "float32"):
    metric = iou.MeanIoU(3, dtype=dtype)
    state = iou.IoUState(wide.wide_add_int(metric.init().confusion, start))
    state = jax.jit(metric.update)(state, y_true, y_pred)
    assert (_exact(state.confusion) == expected).all()


def test_confusion_matrix_rounds_exact_counts_once():
  m = iou.ConfusionMatrix(2)
  state = m.update(m.init(), [0, 1], [0, 1], sample_weight=np.float32(2**24))
  state = m.update(state, [0, 1], [0, 1])  # 2**24 + 1 per diagonal cell
  assert _exact(state.confusion)[0, 0] == 2**24 + 1
  # float32 rounds 2**24 + 1 to even; the normalized value sees the exact sum.
  assert float(m.compute(state)[0, 0]) == float(np.float32(2**24 + 1))
  assert float(iou.ConfusionMatrix(2, "true").compute(state)[0, 0]) == 1.0


# -- semantics beyond Keras' tests ---------------------------------------------------


def test_update_uses_the_shared_kernel_not_n_by_c_by_c():
  n, c = 4096, 16
  metric = iou.OneHotMeanIoU(c, dtype="float32")
  jaxpr = jax.make_jaxpr(metric.update)(
      metric.init(), jnp.zeros((n, c)), jnp.zeros((n, c)), jnp.ones((n,)))
  sizes = [int(np.prod(v.aval.shape)) for eqn in jaxpr.jaxpr.eqns
           for v in eqn.outvars]
  # Nothing larger than the inputs themselves (n * c); n * c * c is 16x more.
  assert max(sizes) <= n * c
  assert "scatter-add" in str(jaxpr)


def test_weights_broadcast_or_pair_element_by_element():
  # (B, 1, 1) weights broadcast over (B, H, W) maps (Keras' docstring; its
  # code rejects them); a weight per element in another shape pairs in
  # row-major order, as Keras' flattening does.
  y_true = np.array([[[0, 1], [1, 1]], [[0, 0], [1, 0]]])
  y_pred = np.array([[[0, 1], [0, 1]], [[1, 0], [1, 0]]])
  m = iou.ConfusionMatrix(2)
  by_image = m(y_true, y_pred, sample_weight=np.array([2.0, 3.0])[:, None, None])
  np.testing.assert_array_equal(by_image, [[2 + 6, 3], [2, 4 + 3]])
  flat = np.arange(8, dtype=np.float32)
  by_element = m(y_true, y_pred, sample_weight=flat.reshape(4, 2))
  np.testing.assert_array_equal(
      by_element, m(y_true.ravel(), y_pred.ravel(), sample_weight=flat))
  keras_m = keras.metrics.MeanIoU(2, dtype="float32")
  keras_m.update_state(y_true, y_pred, sample_weight=flat.reshape(4, 2))
  np.testing.assert_allclose(np.asarray(keras_m.total_cm), by_element)


def test_labels_of_other_shapes_but_equal_size_are_paired_like_keras():
  # (N, 1) labels against (N,) predictions, as Keras flattens both.
  y_true, y_pred = np.array([[0], [1], [1], [0]]), np.array([0, 1, 0, 0])
  m = iou.MeanIoU(2)
  keras_m = keras.metrics.MeanIoU(2)
  keras_m.update_state(y_true, y_pred)
  np.testing.assert_allclose(m(y_true, y_pred), keras_m.result(), rtol=1e-6)


def test_empty_states():
  for metric in (iou.IoU(3, [1]), iou.BinaryIoU(), iou.MeanIoU(4),
                 iou.OneHotIoU(2, [0]), iou.OneHotMeanIoU(5)):
    value = jax.jit(metric.compute)(metric.init())
    assert value.shape == () and value.dtype == jnp.float32 and float(value) == 0.0
  for normalize in (None, "true", "pred", "all"):
    m = iou.ConfusionMatrix(3, normalize)
    np.testing.assert_array_equal(jax.jit(m.compute)(m.init()), np.zeros((3, 3)))


def test_state_is_a_fixed_size_wide_table():
  for metric, c in ((iou.MeanIoU(7), 7), (iou.BinaryIoU(), 2),
                    (iou.ConfusionMatrix(4), 4)):
    state = metric.init()
    assert state._fields == ("confusion",)
    assert isinstance(state.confusion, wide.Wide)
    updated = jax.jit(metric.update)(state, np.zeros((3, 5), np.int32),
                                     np.zeros((3, 5), np.int32))
    for before, after in zip(jax.tree.leaves(state), jax.tree.leaves(updated)):
      assert before.shape == after.shape == (c, c)
      assert before.dtype == after.dtype == jnp.float32


def test_confusion_matrix_float_labels_outside_range_are_dropped():
  m = iou.ConfusionMatrix(2)
  table = m(np.array([0.0, 1.0, -0.5, 1.9, 2.0, np.nan]),
            np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0]))
  np.testing.assert_array_equal(table, [[1, 0], [0, 2]])


def test_confusion_matrix_dtype():
  m = iou.ConfusionMatrix(2, dtype="int32")
  assert m([0, 1, 1], [0, 1, 0]).dtype == jnp.int32
  assert iou.ConfusionMatrix(2, "true", dtype="float16")([0], [0]).dtype == jnp.float16


# -- configuration --------------------------------------------------------------------

KERAS_CLASSES = [
    (iou.IoU, keras.metrics.IoU, (3, [1, 2])),
    (iou.BinaryIoU, keras.metrics.BinaryIoU, ()),
    (iou.MeanIoU, keras.metrics.MeanIoU, (3,)),
    (iou.OneHotIoU, keras.metrics.OneHotIoU, (3, [0])),
    (iou.OneHotMeanIoU, keras.metrics.OneHotMeanIoU, (3,)),
]


@pytest.mark.parametrize("ours,theirs,args", KERAS_CLASSES,
                         ids=[c[0].__name__ for c in KERAS_CLASSES])
def test_constructor_follows_keras(ours, theirs, args):
  keras_params = inspect.signature(theirs.__init__).parameters
  keras_params = {k: v.default for k, v in keras_params.items() if k != "self"}
  params = inspect.signature(ours).parameters
  # Keras' arguments, in Keras' order, with Keras' defaults.
  assert list(params) == list(keras_params)
  for key, default in keras_params.items():
    assert params[key].default == default, key
  ours_default, keras_default = ours(*args), theirs(*args)
  # Keras numbers repeated default names ("mean_io_u_2"); the stem is ours.
  assert ours_default.name == re.sub(r"_\d+$", "", keras_default.name)
  for key in ("num_classes", "ignore_class", "sparse_y_true", "sparse_y_pred",
              "axis", "threshold"):
    if hasattr(keras_default, key):
      assert getattr(ours_default, key) == getattr(keras_default, key), key
  assert list(ours_default.target_class_ids) == list(keras_default.target_class_ids)


def test_positional_arguments_and_hashing():
  m = iou.IoU(4, [1, 3], "iou13", "float32", 255, False, True, 1)
  assert (m.num_classes, m.target_class_ids, m.name, m.dtype, m.ignore_class,
          m.sparse_y_true, m.sparse_y_pred, m.axis) == (
              4, (1, 3), "iou13", "float32", 255, False, True, 1)
  b = iou.BinaryIoU([1], 0.3, "b")
  assert (b.target_class_ids, b.threshold, b.name) == ((1,), 0.3, "b")
  assert iou.OneHotIoU(3, [0], "o", None, -1, True, 1).sparse_y_pred is True
  assert iou.MeanIoU(np.int64(3)) == iou.MeanIoU(3)
  assert hash(iou.IoU(3, np.array([0, 2]))) == hash(iou.IoU(3, (0, 2)))
  assert iou.MeanIoU(3) != iou.IoU(3, [0, 1, 2])  # different metrics
  assert iou.ConfusionMatrix(3, "true") != iou.ConfusionMatrix(3)
  assert jax.tree.leaves(iou.MeanIoU(3)) == []


CONSTRUCTION_ERRORS = [
    # Keras fails on num_classes=0 only by accident (max() of no target ids).
    (lambda: iou.MeanIoU(0), r"MeanIoU: num_classes must be an integer >= 1, got 0"),
    (lambda: iou.IoU(-2, [0]), r"IoU: num_classes must be an integer >= 1, got -2"),
    (lambda: iou.OneHotMeanIoU(2.5),
     r"OneHotMeanIoU: num_classes must be an integer >= 1, got 2.5"),
    (lambda: iou.ConfusionMatrix(True),
     r"ConfusionMatrix: num_classes must be an integer >= 1, got True"),
    (lambda: iou.IoU(2, [2]),
     r"IoU: target_class_ids must hold integers in \[0, 2\) \(num_classes=2\), "
     r"got \(2,\)"),
    # Keras would read -1 as the last class.
    (lambda: iou.OneHotIoU(3, [0, -1]),
     r"OneHotIoU: target_class_ids must hold integers in \[0, 3\)"),
    (lambda: iou.IoU(3, []), r"IoU: target_class_ids must not be empty"),
    (lambda: iou.IoU(3, 1),
     r"IoU: target_class_ids must be a list or tuple of class ids, got 1"),
    (lambda: iou.BinaryIoU([0, 2]),
     r"BinaryIoU: target_class_ids must hold integers in \[0, 2\)"),
    (lambda: iou.BinaryIoU(threshold=1.5),
     r"BinaryIoU: threshold must be a number in \[0, 1\], got 1.5"),
    (lambda: iou.BinaryIoU(threshold=-0.1),
     r"BinaryIoU: threshold must be a number in \[0, 1\], got -0.1"),
    (lambda: iou.BinaryIoU(threshold=float("nan")),
     r"BinaryIoU: threshold must be a number in \[0, 1\], got nan"),
    (lambda: iou.ConfusionMatrix(3, normalize="rows"),
     r"ConfusionMatrix: normalize must be one of \(None, 'true', 'pred', 'all'\), "
     r"got 'rows'"),
    (lambda: iou.ConfusionMatrix(3, "true", dtype="int32"),
     r"ConfusionMatrix: dtype='int32' is an integer dtype"),
    (lambda: iou.MeanIoU(3, ignore_class=1.5),
     r"MeanIoU: ignore_class must be None or an integer, got 1.5"),
    (lambda: iou.MeanIoU(3, sparse_y_true="no"),
     r"MeanIoU: sparse_y_true must be True or False, got 'no'"),
    (lambda: iou.OneHotMeanIoU(3, axis=None),
     r"OneHotMeanIoU: axis must be an integer, got None"),
    (lambda: iou.MeanIoU(3, dtype="string"),
     r"MeanIoU: dtype must be None, an integer or a floating dtype, got 'string'"),
]


@pytest.mark.parametrize("make,message", CONSTRUCTION_ERRORS,
                         ids=[str(i) for i in range(len(CONSTRUCTION_ERRORS))])
def test_construction_errors(make, message):
  with pytest.raises(ValueError, match=message):
    make()


UPDATE_ERRORS = [
    (iou.MeanIoU(3), (8,), (6,), None,
     r"MeanIoU: expected y_true and y_pred with the same number of class ids, "
     r"got y_true of shape \(8,\) and y_pred of shape \(6,\)"),
    # After the argmax: (8, 4) one-hot labels are 8 ids, (8, 2, 4) scores 16.
    (iou.OneHotMeanIoU(4), (8, 4), (8, 2, 4), None,
     r"OneHotMeanIoU: expected y_true and y_pred with the same number of class "
     r"ids, got y_true of shape \(8,\) and y_pred of shape \(8, 2\)"),
    (iou.ConfusionMatrix(3), (4, 4), (4, 4), (3,),
     r"ConfusionMatrix: sample_weight of shape \(3,\) does not broadcast to "
     r"y_true's shape \(4, 4\)"),
    # Per-sample weights do not broadcast over per-pixel labels (Keras fails too).
    (iou.IoU(3, [0]), (8, 5, 5), (8, 5, 5), (8,),
     r"IoU: sample_weight of shape \(8,\) does not broadcast to y_true's shape "
     r"\(8, 5, 5\)"),
    (iou.OneHotIoU(3, [1], axis=2), (8, 3), (8, 3), None,
     r"OneHotIoU: axis=2 is out of range for y_true of shape \(8, 3\)"),
    # Scores need a class axis: the argmax of (8,) scores is one id.
    (iou.MeanIoU(3, sparse_y_pred=False), (8,), (8,), None,
     r"MeanIoU: expected y_true and y_pred with the same number of class ids, "
     r"got y_true of shape \(8,\) and y_pred of shape \(\)"),
]


@pytest.mark.parametrize("metric,true_shape,pred_shape,weight_shape,message",
                         UPDATE_ERRORS,
                         ids=[f"{type(e[0]).__name__}-{i}"
                              for i, e in enumerate(UPDATE_ERRORS)])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_update_errors(metric, true_shape, pred_shape, weight_shape, message, jit):
  y_true = np.zeros(true_shape, np.float32)
  y_pred = np.zeros(pred_shape, np.float32)
  weight = None if weight_shape is None else np.ones(weight_shape, np.float32)
  update = jax.jit(metric.update) if jit else metric.update
  with pytest.raises(ValueError, match=message):
    update(metric.init(), y_true, y_pred, weight)


def test_argmax_of_scores_breaks_signed_zero_ties_as_keras():
  """Keras' CPU argmax ranks +0.0 above -0.0 (XLA compares them equal);
  the one-hot IoU metrics take class ids the same way."""
  y_true = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32)
  y_pred = np.array([[-0.0, 0.0, -1.0], [-0.0, -1.0, 0.0], [-0.0, 0.0, -0.0]],
                    np.float32)
  ours = iou.OneHotMeanIoU(3)
  got = ours.compute(jax.jit(ours.update)(ours.init(), y_true, y_pred))
  reference = keras.metrics.OneHotMeanIoU(num_classes=3)
  reference.update_state(y_true, y_pred)
  np.testing.assert_allclose(np.asarray(got), np.asarray(reference.result()),
                             rtol=1e-6)
  # Plain jnp.argmax (the first of the tied zeros) would give 1/9.
  np.testing.assert_allclose(float(got), 0.5, rtol=1e-6)
