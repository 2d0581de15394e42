"""Ranking metrics against Keras Recommenders (keras-rs) on lists without
tied scores (keras-rs breaks ties at random)."""

from __future__ import annotations

import keras_rs
import numpy as np
import pytest

import jmetrics as jm
from tests import harness

_KERAS_RS_NAMES = {"RankingMeanAveragePrecision": "MeanAveragePrecision"}


def keras_rs_twin(metric):
  """``() -> keras_rs metric`` of ``metric``'s class and ``k``."""
  name = type(metric).__name__
  cls = getattr(keras_rs.metrics, _KERAS_RS_NAMES.get(name, name))
  return lambda: cls(k=metric.k, shuffle_ties=False)


def reference(metric):
  """The catalogue's oracle: keras-rs over the same batches."""
  def run(batches):
    twin = keras_rs_twin(metric)()
    for args, weight in batches:
      twin.update_state(*args, sample_weight=weight)
    return np.asarray(twin.result())
  return run


def ranked_lists(list_size, padded=True, always_relevant=False):
  """Graded labels 0..3 (about a quarter padded with -1; with
  ``always_relevant`` one relevant item per list) and distinct scores that
  follow the labels loosely."""
  def make(rng, n):
    labels = rng.choice([0, 0, 1, 2, 3], (n, list_size))
    if padded:
      labels = np.where(rng.random(labels.shape) < 0.25, -1, labels)
    if always_relevant:
      labels[np.arange(n), rng.integers(0, list_size, n)] = 2
    scores = labels + rng.normal(size=labels.shape) * 1.5
    return labels.astype(np.float32), scores.astype(np.float32)
  return make


def _item_weights(rng, args):
  weights = rng.uniform(0.0, 2.0, np.shape(args[0])).astype(np.float32)
  weights[rng.random(weights.shape) < 0.2] = 0.0
  return weights


METRICS = [jm.NDCG(), jm.NDCG(k=3), jm.DCG(k=4), jm.MeanReciprocalRank(),
           jm.MeanReciprocalRank(k=2), jm.RankingMeanAveragePrecision(),
           jm.RankingMeanAveragePrecision(k=3), jm.PrecisionAtK(k=3),
           jm.PrecisionAtK(), jm.RecallAtK(k=2), jm.RecallAtK()]


def _id(metric):
  return f"{type(metric).__name__}_k{metric.k}"


CASES = [harness.Case(_id(m), m, ranked_lists(6), keras=keras_rs_twin(m),
                      rows=16) for m in METRICS]
ITEM_WEIGHT_CASES = [
    harness.Case(f"{_id(m)}_item_weights", m, ranked_lists(5),
                 keras=keras_rs_twin(m), make_weights=_item_weights, rows=16)
    for m in METRICS[::2]]


@pytest.mark.parametrize("case", CASES + ITEM_WEIGHT_CASES, ids=str)
def test_matches_keras_rs(case):
  harness.check_all_modes(case)


@pytest.mark.parametrize("metric", METRICS[:6:2], ids=_id)
def test_a_list_mask_leaves_items_out_as_keras_rs_mask(metric):
  rng = np.random.default_rng(2)
  labels, scores = ranked_lists(7, padded=False)(rng, 12)
  mask = rng.random(labels.shape) < 0.7
  state = metric.update(metric.init(), labels, scores, list_mask=mask)
  twin = keras_rs_twin(metric)()
  twin.update_state({"labels": labels, "mask": mask}, scores)
  np.testing.assert_allclose(metric.compute(state), twin.result(), rtol=1e-5,
                             atol=1e-6)


def test_one_unbatched_list_is_one_list():
  m = jm.NDCG()
  labels, scores = [0.0, 2.0, 1.0], [0.3, 0.2, 0.9]
  state = m.update(m.init(), labels, scores)
  twin = keras_rs.metrics.NDCG(shuffle_ties=False)
  twin.update_state(np.asarray(labels), np.asarray(scores))
  np.testing.assert_allclose(m.compute(state), twin.result(), rtol=1e-6)


@pytest.mark.parametrize("metric", METRICS[:2], ids=_id)
def test_an_empty_state_computes_to_zero(metric):
  assert float(metric.compute(metric.init())) == 0.0


@pytest.mark.parametrize("y_true,y_pred,weight,mask,message", [
    (np.zeros((2, 3)), np.zeros((2, 4)), None, None,
     "NDCG: expected y_true and y_pred of one shape"),
    (np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), None, None,
     "NDCG: expected y_true and y_pred of one shape \\(batch, list_size\\)"),
    (np.zeros((2, 3)), np.zeros((2, 3)), np.ones(3), None,
     "NDCG: sample_weight"),
    (np.zeros((2, 3)), np.zeros((2, 3)), None, np.ones((2, 2), bool),
     "NDCG: list_mask of shape \\(2, 2\\)"),
], ids=["shapes", "rank", "weight", "mask"])
def test_bad_inputs_name_the_metric_and_shapes(y_true, y_pred, weight, mask,
                                               message):
  m = jm.NDCG()
  with pytest.raises(ValueError, match=message):
    m.update(m.init(), y_true, y_pred, sample_weight=weight, list_mask=mask)


def test_bad_k():
  with pytest.raises(ValueError, match="k must be None or an integer >= 1|k "
                     "must be an integer >= 1"):
    jm.PrecisionAtK(k=0)
