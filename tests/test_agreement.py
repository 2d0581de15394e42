"""The confusion-table metrics beyond Keras and the multi-label metrics,
against scikit-learn.

`reference(metric)` is the oracle of every class here (the catalogue uses it
too): scikit-learn on the class ids or indicator rows that the metric's
configuration defines, with the per-class averages of `Specificity` and
`NegativePredictiveValue` written from scikit-learn's
``multilabel_confusion_matrix`` counts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

import jmetrics as jm
from tests import harness


# -- the oracles ------------------------------------------------------------------


def _class_ids(metric, y_true, y_pred):
  """Flat true and predicted ids of the counted elements, as the metric's
  configuration defines them."""
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  if not metric.sparse_y_true:
    y_true = np.argmax(y_true, axis=metric.axis)
  if metric.threshold is not None:
    y_pred = (y_pred > metric.threshold).astype(np.int64)
  elif not metric.sparse_y_pred:
    y_pred = np.argmax(y_pred, axis=metric.axis)
  return np.ravel(y_true).astype(np.int64), np.ravel(y_pred).astype(np.int64)


def _flat(metric, batches):
  trues, preds, weights = [], [], []
  for args, weight in batches:
    t, p = _class_ids(metric, *args)
    trues.append(t)
    preds.append(p)
    weights.append(np.ravel(np.broadcast_to(
        1.0 if weight is None else weight, (len(t),))).astype(np.float64))
  t, p, w = (np.concatenate(x) for x in (trues, preds, weights))
  keep = (t >= 0) & (t < metric.num_classes) & (p >= 0) & (p < metric.num_classes)
  if metric.ignore_class is not None:
    keep &= t != metric.ignore_class
  return t[keep], p[keep], w[keep]


def _one_vs_rest(metric, t, p, w, negatives_of):
  """`Specificity` / `NegativePredictiveValue` from scikit-learn's per-class
  ``[[tn, fp], [fn, tp]]`` tables."""
  tables = skm.multilabel_confusion_matrix(
      t, p, labels=np.arange(metric.num_classes), sample_weight=w)
  tn, fp, fn = tables[:, 0, 0], tables[:, 0, 1], tables[:, 1, 0]
  denominator = tn + (fp if negatives_of == "true" else fn)
  ratio = np.divide(tn, denominator, out=np.zeros(len(tn)),
                    where=denominator > 0)
  support = tables[:, 1, 0] + tables[:, 1, 1]
  if metric.average is None:
    return ratio
  if metric.average == "binary":
    return ratio[1]
  if metric.average == "micro":
    return tn.sum() / denominator.sum() if denominator.sum() else 0.0
  if metric.average == "weighted":
    return (ratio * support).sum() / support.sum() if support.sum() else 0.0
  defined = denominator > 0
  return ratio[defined].mean() if defined.any() else 0.0


def _indicators(metric, batches):
  """Stacked label rows, binarised predictions and per-row weights."""
  trues, preds, weights = [], [], []
  for (y_true, y_pred), weight in batches:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, np.float32)
    if isinstance(metric, jm.HammingLoss):
      y_true = y_true.astype(np.int64)
      if metric.threshold is None:  # TensorFlow Addons' top-score rule
        top = y_pred.max(-1, keepdims=True)
        y_pred = (y_pred >= top) & (np.abs(y_pred) > 1e-12)
      else:
        y_pred = y_pred > metric.threshold
    elif metric.threshold is not None:
      y_true, y_pred = y_true != 0, y_pred > metric.threshold
    trues.append(y_true.reshape(-1, y_true.shape[-1]))
    preds.append(np.asarray(y_pred).reshape(-1, y_true.shape[-1]))
    rows = trues[-1].shape[0]
    weights.append(np.broadcast_to(
        1.0 if weight is None else np.asarray(weight, np.float64).reshape(-1),
        (rows,)))
  return (np.concatenate(trues).astype(np.int64),
          np.concatenate(preds).astype(np.int64), np.concatenate(weights))


def reference(metric):
  """``batches -> value``: the scikit-learn oracle of ``metric``."""
  def table_metric(batches):
    t, p, w = _flat(metric, batches)
    if w.sum() == 0:
      return np.zeros(metric.num_classes) if getattr(
          metric, "average", "") is None else 0.0
    labels = np.arange(metric.num_classes)
    if isinstance(metric, jm.CohenKappa):
      kappa = skm.cohen_kappa_score(t, p, labels=labels,
                                    weights=metric.weightage, sample_weight=w,
                                    replace_undefined_by=np.nan)
      # Undefined (0 / 0) only where truth and predictions are all one
      # class: 1 by the documented rule (TensorFlow Addons' value).
      return 1.0 if np.isnan(kappa) else kappa
    if isinstance(metric, jm.MatthewsCorrelationCoefficient):
      return skm.matthews_corrcoef(t, p, sample_weight=w)
    if isinstance(metric, jm.BalancedAccuracy):
      return skm.balanced_accuracy_score(t, p, sample_weight=w,
                                         adjusted=metric.adjusted)
    if isinstance(metric, jm.Specificity):
      return _one_vs_rest(metric, t, p, w, "true")
    return _one_vs_rest(metric, t, p, w, "pred")

  def multilabel(batches):
    t, p, w = _indicators(metric, batches)
    if isinstance(metric, jm.MultiLabelConfusionMatrix):
      return skm.multilabel_confusion_matrix(t, p, sample_weight=w)
    if w.sum() == 0:
      return 0.0
    if isinstance(metric, jm.HammingLoss):
      return skm.hamming_loss(t, p, sample_weight=w)
    if metric.threshold is None:
      return np.average(np.all(t == p, axis=-1), weights=w)
    return skm.accuracy_score(t, p, sample_weight=w)

  if isinstance(metric, (jm.MultiLabelConfusionMatrix, jm.HammingLoss,
                         jm.ExactMatch)):
    return multilabel
  return table_metric


# -- input generators ---------------------------------------------------------------


def _ids(num_classes, dense_pred=True, dense_true=False, flip=0.4):
  """Labels and scores (or ids) that agree often, so kappa and MCC are not
  near 0."""
  def make(rng, n):
    labels = rng.integers(0, num_classes, n)
    noisy = np.where(rng.random(n) < flip, rng.integers(0, num_classes, n),
                     labels)
    y_true = (np.eye(num_classes, dtype=np.float32)[labels] if dense_true
              else labels.astype(np.int32))
    if not dense_pred:
      return y_true, noisy.astype(np.int32)
    scores = rng.uniform(0.0, 1.0, (n, num_classes))
    scores[np.arange(n), noisy] += 1.0
    return y_true, scores.astype(np.float32)
  return make


def _binary(rng, n):
  labels = rng.integers(0, 2, n)
  scores = np.clip(labels * 0.4 + rng.uniform(0.0, 0.6, n), 0.0, 1.0)
  return labels.astype(np.int32), scores.astype(np.float32)


def _multi_hot(num_labels):
  def make(rng, n):
    labels = rng.integers(0, 2, (n, num_labels))
    scores = np.clip(labels * 0.3 + rng.uniform(0.0, 0.7, labels.shape), 0, 1)
    return labels.astype(np.int32), scores.astype(np.float32)
  return make


def _few_labels(rng, n):
  """Two labels per sample, often both right, for subset accuracy."""
  labels = rng.integers(0, 2, (n, 2))
  scores = np.where(rng.random(labels.shape) < 0.8, labels, 1 - labels)
  return labels.astype(np.int32), (0.2 + 0.6 * scores).astype(np.float32)


def _sequences(rng, n):
  labels = rng.integers(0, 3, (n, 2))
  preds = np.where(rng.random(labels.shape) < 0.7, labels, (labels + 1) % 3)
  return labels.astype(np.int32), preds.astype(np.int32)


def _case(id_, metric, make_inputs, **kwargs):
  return harness.Case(id_, metric, make_inputs, reference=reference(metric),
                      weighted=True, rows=24, **kwargs)


CASES = [
    _case("kappa", jm.CohenKappa(4), _ids(4)),
    _case("kappa_linear", jm.CohenKappa(5, weightage="linear",
                                        sparse_y_pred=True), _ids(5, False)),
    _case("kappa_quadratic_one_hot",
          jm.CohenKappa(4, weightage="quadratic", sparse_y_true=False),
          _ids(4, dense_true=True)),
    _case("kappa_binary_threshold", jm.CohenKappa(2, threshold=0.5), _binary),
    _case("mcc_binary", jm.MatthewsCorrelationCoefficient(2, threshold=0.5),
          _binary),
    _case("mcc_multiclass", jm.MatthewsCorrelationCoefficient(5), _ids(5)),
    _case("mcc_ids_ignore", jm.MatthewsCorrelationCoefficient(
        4, sparse_y_pred=True, ignore_class=0), _ids(4, False)),
    _case("balanced_accuracy", jm.BalancedAccuracy(4), _ids(4)),
    _case("balanced_accuracy_adjusted", jm.BalancedAccuracy(
        3, adjusted=True, sparse_y_pred=True), _ids(3, False, flip=0.7)),
    _case("specificity_macro", jm.Specificity(4), _ids(4)),
    _case("specificity_per_class", jm.Specificity(3, average=None), _ids(3)),
    _case("specificity_micro", jm.Specificity(4, average="micro"), _ids(4)),
    _case("specificity_weighted", jm.Specificity(4, average="weighted"), _ids(4)),
    _case("specificity_binary", jm.Specificity(2, average="binary",
                                               threshold=0.5), _binary),
    _case("npv_macro", jm.NegativePredictiveValue(4), _ids(4)),
    _case("npv_per_class", jm.NegativePredictiveValue(3, average=None), _ids(3)),
    _case("npv_weighted", jm.NegativePredictiveValue(
        4, average="weighted", sparse_y_pred=True), _ids(4, False)),
    _case("npv_binary", jm.NegativePredictiveValue(2, average="binary",
                                                   threshold=0.3), _binary),
    _case("multilabel_confusion_matrix", jm.MultiLabelConfusionMatrix(5),
          _multi_hot(5)),
    _case("multilabel_confusion_matrix_08",
          jm.MultiLabelConfusionMatrix(3, threshold=0.8), _multi_hot(3)),
    _case("hamming_multilabel", jm.HammingLoss("multilabel", threshold=0.6),
          _multi_hot(4)),
    _case("hamming_multiclass", jm.HammingLoss("multiclass"),
          _ids(4, dense_true=True)),
    _case("exact_match", jm.ExactMatch(), _few_labels),
    _case("exact_match_ids", jm.ExactMatch(threshold=None), _sequences),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_matches_scikit_learn(case):
  harness.check_all_modes(case)


# -- behaviour the oracles do not pin down ------------------------------------------

TABLE_METRICS = [jm.CohenKappa(3), jm.MatthewsCorrelationCoefficient(3),
                 jm.BalancedAccuracy(3), jm.BalancedAccuracy(3, adjusted=True),
                 jm.Specificity(3), jm.NegativePredictiveValue(3)]


@pytest.mark.parametrize("metric", TABLE_METRICS + [
    jm.HammingLoss("multilabel", threshold=0.5), jm.ExactMatch()], ids=str)
def test_an_empty_state_computes_to_zero(metric):
  assert float(metric.compute(metric.init())) == 0.0


def test_kappa_is_one_where_everything_is_one_class():
  # scikit-learn gives NaN (0 / 0); TensorFlow Addons and jmetrics give 1.
  m = jm.CohenKappa(3, sparse_y_pred=True)
  state = m.update(m.init(), [1, 1, 1], [1, 1, 1])
  assert float(m.compute(state)) == 1.0


def test_mcc_is_zero_where_predictions_are_one_class():
  m = jm.MatthewsCorrelationCoefficient(2, sparse_y_pred=True)
  state = m.update(m.init(), [0, 1, 1, 0], [1, 1, 1, 1])
  assert float(m.compute(state)) == 0.0
  assert skm.matthews_corrcoef([0, 1, 1, 0], [1, 1, 1, 1]) == 0.0


def test_table_metrics_stay_exact_past_2_to_the_24():
  # One update of 2**24 + 1 weight-1 elements and a second of weight 2**24:
  # the counts need more than float32's 24 bits.
  m = jm.BalancedAccuracy(2, sparse_y_pred=True)
  state = m.update(m.init(), [0, 1], [0, 1], sample_weight=[2.0**24, 1.0])
  state = m.update(state, [1, 1], [1, 0], sample_weight=[1.0, 1.0])
  table = state.confusion
  exact = (np.asarray(table.hi, np.float64) + np.asarray(table.lo, np.float64))
  np.testing.assert_array_equal(exact, [[2.0**24, 0.0], [1.0, 2.0]])
  assert float(m.compute(state)) == pytest.approx((1.0 + 2.0 / 3.0) / 2)


@pytest.mark.parametrize("make,message", [
    (lambda: jm.CohenKappa(3, weightage="cubic"), "weightage must be one of"),
    (lambda: jm.CohenKappa(3, threshold=0.5), "needs num_classes=2, got 3"),
    (lambda: jm.MatthewsCorrelationCoefficient(2, threshold=0.5,
                                               sparse_y_pred=True),
     "cannot be used with sparse_y_pred=True"),
    (lambda: jm.Specificity(3, average="binary"), "needs num_classes=2, got 3"),
    (lambda: jm.NegativePredictiveValue(3, average="samples"),
     "average must be one of"),
    (lambda: jm.BalancedAccuracy(0), "num_classes must be an integer >= 1"),
    (lambda: jm.HammingLoss("binary"), "mode must be one of"),
    (lambda: jm.ExactMatch(threshold=float("nan")), "threshold must be None or"),
    (lambda: jm.MultiLabelConfusionMatrix(0), "num_labels must be an integer"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_configuration_names_the_metric_and_argument(make, message):
  with pytest.raises(ValueError, match=message):
    make()


@pytest.mark.parametrize("metric,y_true,y_pred,weight,message", [
    (jm.CohenKappa(3, sparse_y_pred=True), np.zeros(4), np.zeros(5), None,
     "CohenKappa: expected y_true and y_pred with the same number"),
    (jm.Specificity(3), np.zeros(4), np.zeros((4, 3)), np.ones(3),
     "Specificity: sample_weight of shape \\(3,\\)"),
    (jm.MultiLabelConfusionMatrix(3), np.zeros((4, 3)), np.zeros((4, 2)), None,
     "MultiLabelConfusionMatrix: expected y_true and y_pred of one shape"),
    (jm.MultiLabelConfusionMatrix(3), np.zeros((4, 2)), np.zeros((4, 2)), None,
     "expected a last axis of num_labels=3"),
    (jm.MultiLabelConfusionMatrix(2), np.zeros((4, 2)), np.zeros((4, 2)),
     np.ones(3), "sample_weight of shape \\(3,\\) fits neither"),
    (jm.HammingLoss("multilabel", 0.5), np.zeros((4, 3)), np.zeros((4, 2)), None,
     "HammingLoss: expected y_true and y_pred of one shape"),
])
def test_bad_inputs_name_the_metric_and_shapes(metric, y_true, y_pred, weight,
                                               message):
  with pytest.raises(ValueError, match=message):
    metric.update(metric.init(), y_true, y_pred, sample_weight=weight)


def test_multilabel_table_counts_one_weight_per_label():
  m = jm.MultiLabelConfusionMatrix(2)
  y_true, y_pred = np.array([[1, 0], [0, 1]]), np.array([[0.9, 0.9], [0.1, 0.2]])
  weight = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
  got = jax.jit(m.update)(m.init(), y_true, y_pred, weight)
  expected = np.stack([
      skm.confusion_matrix(y_true[:, i], y_pred[:, i] > 0.5, labels=[0, 1],
                           sample_weight=weight[:, i])
      for i in range(2)])
  np.testing.assert_allclose(m.compute(got), expected)


def test_table_metrics_share_one_table_with_confusion_matrix():
  metrics = jm.Collection([jm.ConfusionMatrix(4), jm.CohenKappa(
      4, sparse_y_pred=True), jm.MatthewsCorrelationCoefficient(
          4, sparse_y_pred=True), jm.BalancedAccuracy(4, sparse_y_pred=True),
                           jm.Specificity(4, sparse_y_pred=True)])
  ids = jnp.zeros(8, jnp.int32)
  assert metrics.sharing(ids, ids) == (tuple(metrics.names),)
