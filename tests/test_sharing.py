"""A collection's members share batch computations decided from configuration.

Every metric whose update is a `jm.SharedStep` is in one of the families
below, beside members it must share with and members it must not (another
grid, class id, ``top_k``, label cast or input). For each family the test
holds the grouping `Collection.sharing` reports to the one written here,
pair by pair, and holds every member's state in the collection to the bits
of its update on its own, weighted and unweighted, under ``jit``.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jmetrics as jm
from tests import catalogue

_EVEN_50 = [0.0] + [(i + 1) * 1.0 / 49 for i in range(48)] + [1.0]


def _binary(rng, n):
  return (rng.integers(0, 2, (n, 3)).astype(np.int32),
          rng.uniform(size=(n, 3)).astype(np.float32))


def _multi_hot(rng, n):
  return (rng.integers(0, 2, (n, 4)).astype(np.int32),
          rng.uniform(size=(n, 4)).astype(np.float32))


def _class_ids(rng, n):
  labels = rng.integers(0, 4, (n, 3))
  preds = np.where(rng.random(labels.shape) < 0.6, labels,
                   rng.integers(0, 4, labels.shape))
  return labels.astype(np.int32), preds.astype(np.int32)


def _one_hot(rng, n):
  labels = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)]
  return labels, rng.normal(size=(n, 5)).astype(np.float32)


def _sparse(label_dtype):
  def make(rng, n):
    return (rng.integers(0, 5, n).astype(label_dtype),
            rng.normal(size=(n, 5)).astype(np.float32))
  return make


def _binary_scores(rng, n):
  return (rng.integers(0, 2, (n, 2)).astype(np.int32),
          rng.uniform(size=(n, 2)).astype(np.float32))


# (id, make_inputs, members, the groups `sharing` must report)
FAMILIES = [
    ("thresholds at 0.5", _binary, [
        jm.TruePositives(), jm.FalsePositives(), jm.TrueNegatives(),
        jm.FalseNegatives(), jm.Precision(), jm.Recall(),
        jm.PrecisionAtRecall(0.5, num_thresholds=1, name="par_1"),
        jm.Precision(thresholds=0.6, name="precision_06"),
        jm.Recall(class_id=1, name="recall_1"),
        jm.Precision(class_id=1, name="precision_1"),
    ], [("true_positives", "false_positives", "true_negatives",
         "false_negatives", "precision", "recall", "par_1"),
        ("precision_06",), ("recall_1", "precision_1")]),
    ("threshold lists", _binary, [
        jm.TruePositives(thresholds=[0.2, 0.5, 0.9], name="tp"),
        jm.FalsePositives(thresholds=[0.2, 0.5, 0.9], name="fp"),
        jm.Precision(thresholds=[0.2, 0.5, 0.9], name="p"),
        # The same thresholds in another order count in another order.
        jm.Recall(thresholds=[0.9, 0.5, 0.2], name="r_reversed"),
        jm.Recall(thresholds=[0.2, 0.5], name="r_two"),
    ], [("tp", "fp", "p"), ("r_reversed",), ("r_two",)]),
    ("evenly spaced grids", _binary, [
        jm.PrecisionAtRecall(0.6, num_thresholds=50, name="par"),
        jm.RecallAtPrecision(0.5, num_thresholds=50, name="rap"),
        jm.SensitivityAtSpecificity(0.5, num_thresholds=50, name="sas"),
        jm.SpecificityAtSensitivity(0.5, num_thresholds=50, name="sps"),
        jm.Precision(thresholds=_EVEN_50, name="p_even"),
        jm.PrecisionAtRecall(0.6, num_thresholds=51, name="par_51"),
        jm.PrecisionAtRecall(0.6, num_thresholds=50, class_id=1, name="par_1"),
    ], [("par", "rap", "sas", "sps", "p_even"), ("par_51",), ("par_1",)]),
    ("AUC", _binary, [
        jm.AUC(name="roc"), jm.AUC(curve="PR", name="pr"),
        jm.AUC(summation_method="minoring", name="minoring"),
        jm.AUC(num_thresholds=50, name="roc_50"),
        jm.AUC(from_logits=True, name="roc_logits"),
        jm.AUC(multi_label=True, num_labels=3, name="ml"),
        jm.AUC(multi_label=True, num_labels=3, curve="PR", name="ml_pr"),
        jm.AUC(label_weights=[1.0, 2.0, 0.5], name="weighted_labels"),
    ], [("roc", "pr", "minoring"), ("roc_50",), ("roc_logits",),
        ("ml", "ml_pr"), ("weighted_labels",)]),
    ("top k", _multi_hot, [
        jm.Precision(top_k=2, name="p2"), jm.Recall(top_k=2, name="r2"),
        jm.Precision(top_k=2, class_id=1, name="p2_1"),
        jm.Recall(top_k=2, class_id=1, name="r2_1"),
        jm.Precision(top_k=3, name="p3"), jm.Precision(name="p"),
    ], [("p2", "r2"), ("p2_1", "r2_1"), ("p3",), ("p",)]),
    ("confusion tables", _class_ids, [
        jm.IoU(num_classes=4, target_class_ids=[0, 1], name="iou"),
        jm.MeanIoU(num_classes=4, name="miou"),
        jm.MeanIoU(num_classes=4, ignore_class=0, name="miou_ignore"),
        jm.MeanIoU(num_classes=5, name="miou_5"),
        jm.ConfusionMatrix(num_classes=4, name="cm"),
        jm.ConfusionMatrix(num_classes=4, normalize="true", name="cm_true"),
        jm.CohenKappa(4, sparse_y_pred=True, name="kappa"),
        jm.CohenKappa(4, weightage="linear", sparse_y_pred=True,
                      name="kappa_linear"),
        jm.MatthewsCorrelationCoefficient(4, sparse_y_pred=True, name="mcc"),
        jm.BalancedAccuracy(4, sparse_y_pred=True, name="balanced"),
        jm.Specificity(4, sparse_y_pred=True, name="specificity"),
        jm.NegativePredictiveValue(4, sparse_y_pred=True, ignore_class=0,
                                   name="npv_ignore"),
    ], [("iou", "miou"), ("miou_ignore",), ("miou_5",),
        ("cm", "cm_true", "kappa", "kappa_linear", "mcc", "balanced",
         "specificity"), ("npv_ignore",)]),
    ("one-hot tables", _one_hot, [
        jm.OneHotIoU(num_classes=5, target_class_ids=[0, 2], name="iou"),
        jm.OneHotMeanIoU(num_classes=5, name="miou"),
        jm.MeanIoU(num_classes=5, sparse_y_true=False, sparse_y_pred=False,
                   name="dense_miou"),
        jm.CategoricalAccuracy(), jm.TopKCategoricalAccuracy(k=2),
        jm.TopKCategoricalAccuracy(k=3, name="top3"),
        jm.CategoricalCrossentropy(from_logits=True),
        jm.CohenKappa(5, sparse_y_true=False, name="kappa"),
        jm.MatthewsCorrelationCoefficient(5, sparse_y_true=False, name="mcc"),
        jm.MeanIoU(num_classes=5, sparse_y_true=False, sparse_y_pred=False,
                   dtype="float32", name="float_miou"),
    ], [("iou", "miou", "dense_miou"), ("kappa", "mcc"), ("float_miou",),
        ("categorical_accuracy", "top_k_categorical_accuracy", "top3")]),
    ("binary tables", _binary_scores, [
        jm.BinaryIoU(target_class_ids=[0, 1], dtype="float32", name="both"),
        jm.BinaryIoU(target_class_ids=[1], dtype="float32", name="one"),
        jm.BinaryIoU(threshold=0.3, dtype="float32", name="at_03"),
        jm.MatthewsCorrelationCoefficient(2, threshold=0.5, name="mcc"),
        jm.Specificity(2, average="binary", threshold=0.5, name="specificity"),
        jm.NegativePredictiveValue(2, threshold=0.3, name="npv_03"),
    ], [("both", "one"), ("at_03",), ("mcc", "specificity"), ("npv_03",)]),
    ("sparse rows, integer labels", _sparse(np.int32), [
        jm.SparseCategoricalAccuracy(),
        jm.SparseTopKCategoricalAccuracy(k=2, name="top2"),
        jm.SparseTopKCategoricalAccuracy(k=3, name="top3"),
        jm.SparseCategoricalCrossentropy(from_logits=True, name="ce"),
        jm.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0,
                                         name="ce_ignore"),
        jm.SparseCategoricalCrossentropy(name="ce_probabilities"),
        jm.MaskedTokenAccuracy(mask_token_id=0, name="masked"),
    ], [("sparse_categorical_accuracy", "top2", "top3", "ce", "ce_ignore",
         "masked")]),
    ("sparse rows, float labels", _sparse(np.float32), [
        jm.SparseCategoricalAccuracy(name="accuracy"),
        jm.SparseTopKCategoricalAccuracy(k=2, name="top2"),
        jm.SparseTopKCategoricalAccuracy(k=3, name="top3"),
        jm.SparseCategoricalCrossentropy(from_logits=True, name="ce"),
    ], [("accuracy",), ("top2", "top3"), ("ce",)]),
]


def _ids(families):
  return [family[0] for family in families]


def _inputs(make_inputs, weighted, n=24, seed=0):
  """One batch and, if ``weighted``, per-row weights in [0, 2) (a quarter
  zero) of shape ``(n, 1, ...)``, one axis per axis of the class ids."""
  rng = np.random.default_rng(seed)
  y_true, y_pred = make_inputs(rng, n)
  if not weighted:
    return jnp.asarray(y_true), jnp.asarray(y_pred), None
  weights = rng.uniform(0, 2, n).astype(np.float32)
  weights[rng.random(n) < 0.25] = 0.0
  one_hot = make_inputs is _one_hot  # its labels' last axis is the class axis
  rank = max(y_true.ndim - one_hot, 1)
  return (jnp.asarray(y_true), jnp.asarray(y_pred),
          jnp.asarray(weights.reshape((n,) + (1,) * (rank - 1))))


def _normalised(groups):
  return sorted(tuple(sorted(group)) for group in groups)


def _is_step(metric, inputs) -> bool:
  if metric.shared_update is None:
    return False
  found = []
  jax.eval_shape(lambda *args: found.append(
      metric.shared_update(metric.init(), *args) is not None) or 0, *inputs)
  return found[0]


def test_every_metric_whose_update_is_a_step_is_in_a_family():
  covered = {type(m).__name__ for _, make_inputs, members, _ in FAMILIES
             for m in members if _is_step(m, _inputs(make_inputs, False)[:2])}
  rng = np.random.default_rng(0)
  steps = {type(case.metric).__name__ for case in catalogue.ENTRIES
           if not isinstance(case.metric, (jm.Collection, jm.Routed))
           and _is_step(case.metric, case.make_inputs(rng, 8))}
  assert steps, "no catalogue metric's update is a step"
  assert steps - covered == set()


@pytest.mark.parametrize("family", FAMILIES, ids=_ids(FAMILIES))
def test_a_family_groups_as_written(family):
  _, make_inputs, members, expected = family
  y_true, y_pred, _ = _inputs(make_inputs, weighted=False)
  collection = jm.Collection(members)
  assert _normalised(collection.sharing(y_true, y_pred)) == _normalised(expected)


@pytest.mark.parametrize("family", FAMILIES, ids=_ids(FAMILIES))
def test_every_pair_shares_exactly_when_the_family_says(family):
  _, make_inputs, members, expected = family
  y_true, y_pred, _ = _inputs(make_inputs, weighted=False)
  together = {frozenset(pair) for group in expected
              for pair in itertools.combinations(group, 2)}
  for a, b in itertools.combinations(members, 2):
    groups = jm.Collection([a, b]).sharing(y_true, y_pred)
    shared = any(len(group) == 2 for group in groups)
    assert shared == (frozenset((a.name, b.name)) in together), (a.name, b.name)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("family", FAMILIES, ids=_ids(FAMILIES))
def test_members_get_the_bits_they_get_alone(family, weighted):
  _, make_inputs, members, _ = family
  y_true, y_pred, weights = _inputs(make_inputs, weighted)
  collection = jm.Collection(members)
  batches = [_inputs(make_inputs, weighted, seed=seed) for seed in range(2)]

  def run(metric):
    # Two batches: the second adds to totals that are not zero.
    def two(first, second):
      state = metric.update(metric.init(), *first)
      return metric.update(state, *second)
    return jax.jit(two)(*batches)

  state = run(collection)
  for metric in members:
    for got, want in zip(jax.tree.leaves(state[metric.name]),
                         jax.tree.leaves(run(metric))):
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want),
                                    err_msg=metric.name)


def test_members_reading_other_arrays_never_share():
  rng = np.random.default_rng(0)
  y_true, y_pred = map(jnp.asarray, _binary(rng, 16))
  other = jnp.asarray(rng.uniform(size=(16, 3)).astype(np.float32))
  collection = jm.Collection([
      jm.Precision(), jm.route(jm.Recall(), y_pred="other"),
      # The same arrays under swapped names are other inputs.
      jm.route(jm.FalsePositives(), y_true="y_pred", y_pred="y_true"),
      jm.route(jm.TruePositives(), y_pred="y_pred")])
  groups = collection.sharing(y_true=y_true, y_pred=y_pred, other=other)
  assert _normalised(groups) == _normalised(
      [("precision", "true_positives"), ("recall",), ("false_positives",)])
  state = jax.jit(collection.update)(collection.init(), y_true=y_true,
                                     y_pred=y_pred, other=other)
  recall = jm.Recall()
  alone = recall.update(recall.init(), y_true, other)
  for got, want in zip(jax.tree.leaves(state["recall"]), jax.tree.leaves(alone)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_shared_updates_compile_to_one_kernel_call_per_group():
  rng = np.random.default_rng(0)
  y_true, y_pred = map(jnp.asarray, _binary(rng, 16))
  family = dict((f[0], f) for f in FAMILIES)["AUC"]
  collection = jm.Collection(family[2])
  shared = jax.jit(collection.update).lower(collection.init(), y_true, y_pred)
  alone = [jax.jit(m.update).lower(m.init(), y_true, y_pred) for m in family[2]]
  # Every group is one threshold update, whichever lowering it takes: one
  # native call, or one XLA scatter per group.
  def calls(lowered):
    text = lowered.as_text()
    return (text.count("JmetricsThresholdUpdate"), text.count("scatter"))
  per_member = [calls(lowered) for lowered in alone]
  assert all(c == per_member[0] for c in per_member)
  assert calls(shared) == tuple(len(family[3]) * c for c in per_member[0])


def test_a_subclass_that_overrides_update_or_values_keeps_its_own():
  class Flipped(jm.Precision):
    def update(self, state, y_true, y_pred, sample_weight=None):
      return super().update(state, y_true, 1.0 - jnp.asarray(y_pred),
                            sample_weight)

  class Missed(jm.SparseCategoricalAccuracy):
    def values(self, y_true, y_pred):
      return 1.0 - super().values(y_true, y_pred)

  y_true, y_pred = jnp.array([0, 1, 1, 0]), jnp.array([0.9, 0.8, 0.7, 0.2])
  labels = jnp.array([0, 0, 0])
  scores = jnp.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
  flipped = jm.Collection([Flipped(name="flipped"), jm.Recall()])
  assert flipped.sharing(y_true, y_pred) == (("recall",),)
  results = flipped.compute(flipped.update(flipped.init(), y_true, y_pred))
  assert float(results["flipped"]) == 0.0  # no true positive once flipped
  missed = Missed()
  state = missed.update(missed.init(), labels, scores)
  assert float(missed.compute(state)) == pytest.approx(1 / 3)
  collection = jm.Collection([missed, jm.SparseTopKCategoricalAccuracy(k=1)])
  results = collection.compute(collection.update(collection.init(), labels, scores))
  assert float(results["sparse_categorical_accuracy"]) == pytest.approx(1 / 3)
  assert float(results["sparse_top_k_categorical_accuracy"]) == pytest.approx(2 / 3)


def test_one_array_under_two_names_is_one_array_to_sharing():
  rng = np.random.default_rng(0)
  y_true, y_pred = map(jnp.asarray, _binary(rng, 8))
  collection = jm.Collection([jm.Precision(),
                              jm.route(jm.Recall(), y_pred="scores")])
  assert collection.sharing(y_true=y_true, y_pred=y_pred, scores=y_pred) == (
      ("precision", "recall"),)
