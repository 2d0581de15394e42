"""Calibration errors against TorchMetrics, their weighted form and the
reliability data against a NumPy definition, `BrierScore` against
scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm
import torch
import torchmetrics.classification as tmc

import jmetrics as jm
from tests import harness


def _confidences(metric, y_true, y_pred):
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, np.float32)
  if metric.num_classes is None:
    return y_pred.ravel(), y_true.ravel().astype(np.float64)
  correct = np.argmax(y_pred, -1) == y_true
  return y_pred.max(-1).ravel(), correct.ravel().astype(np.float64)


def numpy_calibration(metric, batches):
  """The per-bin definition: the mean accuracy and confidence of each bin
  of equal width, weighted by the bins' shares of the weight."""
  conf, acc, weight = [], [], []
  for args, w in batches:
    c, a = _confidences(metric, *args)
    conf.append(c)
    acc.append(a)
    weight.append(np.broadcast_to(1.0 if w is None else w,
                                  np.shape(args[0])).ravel())
  conf, acc, weight = (np.concatenate(x).astype(np.float64)
                       for x in (conf, acc, weight))
  edges = np.linspace(0.0, 1.0, metric.num_bins + 1).astype(np.float32)
  index = np.clip(np.floor(conf.astype(np.float32) * np.float32(metric.num_bins)),
                  0, metric.num_bins - 1).astype(np.int64)
  count = np.bincount(index, weight, metric.num_bins)
  with np.errstate(invalid="ignore", divide="ignore"):
    mean_conf = np.nan_to_num(np.bincount(index, weight * conf,
                                          metric.num_bins) / count)
    mean_acc = np.nan_to_num(np.bincount(index, weight * acc,
                                         metric.num_bins) / count)
  share = count / count.sum() if count.sum() else count
  gap = np.abs(mean_acc - mean_conf)
  if metric.norm == "l1":
    value = np.sum(gap * share)
  elif metric.norm == "l2":
    value = np.sqrt(np.sum(gap**2 * share))
  else:
    value = np.max(np.where(count > 0, gap, 0.0))
  return value, (edges, mean_conf, mean_acc, count)


def torchmetrics_calibration(metric):
  def reference(batches):
    assert all(w is None for _, w in batches)
    if metric.num_classes is None:
      tm = tmc.BinaryCalibrationError(n_bins=metric.num_bins, norm=metric.norm)
    else:
      tm = tmc.MulticlassCalibrationError(
          num_classes=metric.num_classes, n_bins=metric.num_bins,
          norm=metric.norm)
    for (y_true, y_pred), _ in batches:
      tm.update(torch.from_numpy(np.asarray(y_pred, np.float32)),
                torch.from_numpy(np.asarray(y_true).astype(np.int64)))
    return tm.compute().numpy()
  return reference


def reference(metric):
  """The catalogue's oracle: the NumPy definition (weighted or not)."""
  if isinstance(metric, jm.BrierScore):
    return _sklearn_brier
  return lambda batches: numpy_calibration(metric, batches)[0]


def _sklearn_brier(batches):
  y_true = np.concatenate([np.asarray(args[0]) for args, _ in batches])
  y_pred = np.concatenate([np.asarray(args[1]) for args, _ in batches])
  weight = np.concatenate([np.broadcast_to(1.0 if w is None else w,
                                           (len(args[0]),))
                           for args, w in batches]).astype(np.float64)
  if weight.sum() == 0:
    return 0.0
  if y_pred.ndim == y_true.ndim + 1:
    return skm.brier_score_loss(y_true, y_pred, sample_weight=weight,
                                labels=np.arange(y_pred.shape[-1]))
  return skm.brier_score_loss(y_true, y_pred, sample_weight=weight)


# -- inputs ---------------------------------------------------------------------------


def binary_probabilities(rng, n):
  """Labels drawn from a miscalibrated probability, so bins have gaps."""
  p = rng.uniform(size=n)
  labels = rng.random(n) < p**1.5
  return labels.astype(np.int32), p.astype(np.float32)


def class_probabilities(num_classes):
  def make(rng, n):
    logits = rng.normal(size=(n, num_classes)) * 2
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    labels = np.where(rng.random(n) < 0.6, p.argmax(-1),
                      rng.integers(0, num_classes, n))
    return labels.astype(np.int32), p.astype(np.float32)
  return make


def _torch_case(id_, metric, make_inputs):
  return harness.Case(id_, metric, make_inputs,
                      reference=torchmetrics_calibration(metric),
                      weighted=False, rows=64)


TORCH_CASES = [
    _torch_case("binary_l1", jm.ExpectedCalibrationError(),
                binary_probabilities),
    _torch_case("binary_l2", jm.ExpectedCalibrationError(num_bins=10,
                                                         norm="l2"),
                binary_probabilities),
    _torch_case("binary_max", jm.MaximumCalibrationError(num_bins=7),
                binary_probabilities),
    _torch_case("multiclass_l1", jm.ExpectedCalibrationError(num_classes=5),
                class_probabilities(5)),
    _torch_case("multiclass_max", jm.MaximumCalibrationError(
        num_bins=10, num_classes=4), class_probabilities(4)),
]

WEIGHTED_CASES = [
    harness.Case(f"{case.id}_weighted", case.metric, case.make_inputs,
                 reference=reference(case.metric), rows=64)
    for case in TORCH_CASES
] + [
    harness.Case("brier_binary", jm.BrierScore(), binary_probabilities,
                 reference=_sklearn_brier, rows=32),
    harness.Case("brier_multiclass", jm.BrierScore(), class_probabilities(4),
                 reference=_sklearn_brier, rows=32),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=str)
def test_matches_torchmetrics(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("case", WEIGHTED_CASES, ids=str)
def test_weighted_matches_the_definition(case):
  harness.check_all_modes(case)


def test_reliability_data_is_the_per_bin_definition():
  rng = np.random.default_rng(3)
  m = jm.ExpectedCalibrationError(num_bins=6, num_classes=3)
  batches = [(class_probabilities(3)(rng, 40), rng.uniform(size=40))
             for _ in range(2)]
  state = m.init()
  for args, w in batches:
    state = m.update(state, *args, sample_weight=w)
  _, expected = numpy_calibration(m, batches)
  got = m.reliability(state)
  for name, value, want in zip(got._fields, got, expected):
    np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_edges_bin_one_last_and_drop_nan():
  m = jm.ExpectedCalibrationError(num_bins=4)
  state = m.update(m.init(), [1, 1, 0, 1], [1.0, 0.25, np.nan, 0.0])
  np.testing.assert_array_equal(m.reliability(state).count, [1, 1, 0, 1])


@pytest.mark.parametrize("metric", [
    jm.ExpectedCalibrationError(), jm.MaximumCalibrationError(num_classes=3),
    jm.BrierScore()], ids=str)
def test_an_empty_state_computes_to_zero(metric):
  assert float(metric.compute(metric.init())) == 0.0


@pytest.mark.parametrize("make,message", [
    (lambda: jm.ExpectedCalibrationError(num_bins=0), "num_bins must be"),
    (lambda: jm.ExpectedCalibrationError(norm="l3"), "norm must be one of"),
    (lambda: jm.ExpectedCalibrationError(num_classes=1), "num_classes must be"),
], ids=["bins", "norm", "classes"])
def test_bad_configuration(make, message):
  with pytest.raises(ValueError, match=message):
    make()


@pytest.mark.parametrize("metric,y_true,y_pred,weight,message", [
    (jm.ExpectedCalibrationError(), np.zeros(4), np.zeros(5), None,
     "ExpectedCalibrationError: expected y_true and y_pred of one shape"),
    (jm.ExpectedCalibrationError(num_classes=3), np.zeros(4), np.zeros((4, 2)),
     None, "num_classes=3\\), got y_true \\(4,\\) and y_pred \\(4, 2\\)"),
    (jm.MaximumCalibrationError(), np.zeros(4), np.zeros(4), np.ones(3),
     "MaximumCalibrationError: sample_weight"),
    (jm.BrierScore(), np.zeros(4), np.zeros((4, 3, 2)), None,
     "BrierScore: expected y_true and y_pred of one shape"),
    (jm.BrierScore(), np.zeros(4), np.zeros((5, 3)), None,
     "BrierScore: expected y_pred of y_true's shape plus a class axis"),
], ids=["binary", "classes", "weight", "brier_rank", "brier_rows"])
def test_bad_inputs_name_the_metric_and_shapes(metric, y_true, y_pred, weight,
                                               message):
  with pytest.raises(ValueError, match=message):
    metric.update(metric.init(), y_true, y_pred, sample_weight=weight)
