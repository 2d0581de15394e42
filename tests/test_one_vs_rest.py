"""One-vs-rest ROC AUC and average precision against scikit-learn.

On scores that sit one value per bucket of the grid the state loses
nothing, so the results equal scikit-learn's exactly (to float32
rounding); on continuous scores they stay within ``tie_bound`` of
scikit-learn's ``roc_auc_score(multi_class="ovr")`` and
``average_precision_score``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

import jmetrics as jm
from tests import harness
from tests.catalogue import bucketed_scores


def _stacked(metric, batches):
  trues, scores, weights = [], [], []
  for (y_true, y_pred), w in batches:
    y_pred = np.asarray(y_pred, np.float64).reshape(-1, metric.num_classes)
    y_true = np.asarray(y_true)
    if metric.sparse_y_true:
      y_true = np.eye(metric.num_classes)[y_true.reshape(-1).astype(np.int64)]
    trues.append(y_true.reshape(-1, metric.num_classes) != 0)
    scores.append(np.clip(y_pred, 0.0, 1.0))
    weights.append(np.broadcast_to(1.0 if w is None else w,
                                   (y_pred.shape[0],)).astype(np.float64))
  return np.concatenate(trues), np.concatenate(scores), np.concatenate(weights)


def reference(metric):
  """scikit-learn per class on binarised labels, averaged as documented:
  ROC's macro and weighted means over classes with positives and
  negatives, AP's over all classes (0 without positives)."""
  roc = isinstance(metric, jm.MulticlassAUROC)
  score = skm.roc_auc_score if roc else skm.average_precision_score

  def value(t, s, w):
    positives, negatives = w[t].sum(), w[~t].sum()
    defined = positives > 0 and (negatives > 0 or not roc)
    return (score(t, s, sample_weight=w) if defined else 0.0), defined

  def run(batches):
    t, s, w = _stacked(metric, batches)
    if metric.average == "micro":
      return value(t.ravel(), s.ravel(), np.repeat(w, metric.num_classes))[0]
    per_class, defined = zip(*(value(t[:, c], s[:, c], w)
                               for c in range(metric.num_classes)))
    per_class, defined = np.array(per_class), np.array(defined)
    if metric.average is None:
      return per_class
    support = np.array([w[t[:, c]].sum() for c in range(metric.num_classes)])
    support = np.where(defined, support, 0.0)
    if metric.average == "weighted":
      return (per_class * support).sum() / support.sum() if support.sum() else 0.0
    return per_class[defined].mean() if defined.any() else 0.0
  return run


def _one_hot(make, num_classes):
  def made(rng, n):
    labels, scores = make(rng, n)
    return np.eye(num_classes, dtype=np.float32)[labels], scores
  return made


EXACT_CASES = [
    harness.Case(f"{cls.__name__}_{average}", cls(
        4, average=average, num_thresholds=65), bucketed_scores(4),
                 reference=reference(cls(4, average=average)), rows=40,
                 atol=2e-6)
    for cls in (jm.MulticlassAUROC, jm.MulticlassAveragePrecision)
    for average in ("macro", "weighted", "micro", None)
] + [
    harness.Case("auroc_one_hot", jm.MulticlassAUROC(
        3, num_thresholds=65, sparse_y_true=False),
                 _one_hot(bucketed_scores(3), 3),
                 reference=reference(jm.MulticlassAUROC(
                     3, sparse_y_true=False)), rows=32, atol=2e-6),
]


@pytest.mark.parametrize("case", EXACT_CASES, ids=str)
def test_bucketed_scores_match_scikit_learn_exactly(case):
  harness.check_all_modes(case)


def _softmax_batch(rng, n, num_classes):
  logits = rng.normal(size=(n, num_classes)) * 1.5
  labels = np.where(rng.random(n) < 0.5, logits.argmax(-1),
                    rng.integers(0, num_classes, n))
  p = np.exp(logits - logits.max(-1, keepdims=True))
  return labels, (p / p.sum(-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted",
                                                         "weighted"])
def test_continuous_scores_stay_within_the_tie_bound(average, weighted):
  rng = np.random.default_rng(7)
  classes = 10
  labels, scores = _softmax_batch(rng, 5000, classes)
  weight = rng.uniform(0.5, 2.0, 5000) if weighted else None
  for cls, exact in ((jm.MulticlassAUROC, None),
                     (jm.MulticlassAveragePrecision, None)):
    m = cls(classes, average=average)
    state = m.update(m.init(), labels, scores, sample_weight=weight)
    binarised = np.eye(classes)[labels]
    if cls is jm.MulticlassAUROC and average != "micro":
      exact = skm.roc_auc_score(labels, scores.astype(np.float64),
                                multi_class="ovr", average=average,
                                sample_weight=weight)
    elif cls is jm.MulticlassAUROC:
      exact = skm.roc_auc_score(binarised, scores, average="micro",
                                sample_weight=weight)
    else:
      exact = skm.average_precision_score(binarised, scores, average=average,
                                          sample_weight=weight)
    bound = float(m.tie_bound(state, min_weight=0.5 if weighted else 1.0))
    assert 0 < bound < 5e-3, (cls.__name__, bound)
    assert abs(float(m.compute(state)) - exact) <= bound + 2e-6, (
        cls.__name__, float(m.compute(state)), exact, bound)


def test_from_logits_is_the_softmax_of_the_scores():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(200, 5)).astype(np.float32)
  labels = rng.integers(0, 5, 200)
  p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  a, b = jm.MulticlassAUROC(5, from_logits=True), jm.MulticlassAUROC(5)
  np.testing.assert_allclose(a.compute(a.update(a.init(), labels, logits)),
                             b.compute(b.update(b.init(), labels, p)),
                             atol=1e-6)


def test_a_class_without_negatives_or_positives_is_left_out_of_the_roc_mean():
  m = jm.MulticlassAUROC(3, average=None, num_thresholds=65)
  state = m.update(m.init(), [0, 0, 1, 1],
                   [[0.9, 0.1, 0], [0.3, 0.7, 0], [0.2, 0.8, 0], [0.6, 0.4, 0]])
  np.testing.assert_allclose(m.compute(state), [0.75, 0.75, 0.0])
  macro = jm.MulticlassAUROC(3, num_thresholds=65)
  assert float(macro.compute(state)) == pytest.approx(0.75)


@pytest.mark.parametrize("metric", [jm.MulticlassAUROC(3),
                                    jm.MulticlassAveragePrecision(
                                        3, average="micro")], ids=str)
def test_an_empty_state_computes_to_zero(metric):
  assert float(metric.compute(metric.init())) == 0.0


@pytest.mark.parametrize("make,y_true,y_pred,message", [
    (lambda: jm.MulticlassAUROC(3), np.zeros(4), np.zeros((4, 2)),
     "MulticlassAUROC: expected integer labels \\(...\\) and scores "
     "\\(..., num_classes=3\\), got y_true \\(4,\\) and y_pred \\(4, 2\\)"),
    (lambda: jm.MulticlassAveragePrecision(2, sparse_y_true=False),
     np.zeros(4), np.zeros((4, 2)), "expected one-hot labels"),
], ids=["classes", "one_hot"])
def test_bad_inputs_name_the_metric_and_shapes(make, y_true, y_pred, message):
  m = make()
  with pytest.raises(ValueError, match=message):
    m.update(m.init(), y_true, y_pred)


@pytest.mark.parametrize("make,message", [
    (lambda: jm.MulticlassAUROC(1), "num_classes must be an integer >= 2"),
    (lambda: jm.MulticlassAUROC(3, average="samples"), "average must be one of"),
    (lambda: jm.MulticlassAveragePrecision(3, num_thresholds=1),
     "num_thresholds must be an integer > 1"),
], ids=["classes", "average", "thresholds"])
def test_bad_configuration(make, message):
  with pytest.raises(ValueError, match=message):
    make()
