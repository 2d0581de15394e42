"""Behaviour at the edges: infinities and NaN, bad inputs, foreign states,
threads, and the opt-in value checks of `Checked`.

Each rule is checked against Keras 3 where Keras defines it, else against
the float32 arithmetic the rule states.
"""

import threading
from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.experimental import checkify

import jmetrics as jm
from jmetrics._src.kernels import ffi
from jmetrics._src.numerics import wide
from tests import catalogue

INF, NAN = np.inf, np.nan


def _float32_sum(values):
  """The rule for totals: what a float32 running sum gives."""
  total = np.float32(0)
  for v in np.asarray(values, np.float32):
    total = np.float32(total + v)
  return total


# -- totals keep inf and NaN as a float32 sum ---------------------------------------


@pytest.mark.parametrize("values", [
    [1.0, INF], [-INF, 2.0], [INF, -INF], [NAN, 1.0], [3e38, 3e38],
    [-3e38, -3e38], [INF, INF]])
def test_wide_totals_keep_infinities_as_a_float32_sum(values):
  total = wide.wide_zeros()
  for v in values:
    total = wide.wide_add(total, v)
  np.testing.assert_array_equal(wide.wide_value(total), _float32_sum(values))
  merged = wide.wide_merge(wide.wide_add(wide.wide_zeros(), values[0]),
                           wide.wide_add(wide.wide_zeros(), values[1]))
  np.testing.assert_array_equal(wide.wide_value(merged), _float32_sum(values))


@pytest.mark.parametrize("values", [[1.0, INF, 2.0], [1.0, 3e38, 3e38],
                                    [1.0, -INF, 5.0]])
def test_sum_and_mean_of_infinite_values_match_keras(values):
  for ours, theirs in ((jm.Sum(), keras.metrics.Sum()),
                       (jm.Mean(), keras.metrics.Mean())):
    theirs.update_state(np.asarray(values, np.float32))
    np.testing.assert_array_equal(ours(np.asarray(values, np.float32)),
                                  np.float32(theirs.result()))


@pytest.mark.parametrize("special", [INF, -INF, NAN])
def test_sync_keeps_an_infinite_total_on_one_device(special):
  metric = jm.Sum()
  rows = np.ones((8, 4), np.float32)
  rows[3, 1] = special
  synced = jax.pmap(lambda x: metric.sync(metric.update(metric.init(), x), "d"),
                    axis_name="d")(rows)
  expected = _float32_sum([special, 31.0])
  np.testing.assert_array_equal(metric.compute(jax.tree.map(lambda x: x[0], synced)),
                                expected)


def test_sync_of_opposite_infinities_is_nan():
  metric = jm.Sum()
  rows = np.ones((8, 2), np.float32)
  rows[0, 0], rows[5, 1] = INF, -INF
  synced = jax.pmap(lambda x: metric.sync(metric.update(metric.init(), x), "d"),
                    axis_name="d")(rows)
  assert np.isnan(metric.compute(jax.tree.map(lambda x: x[0], synced)))


def test_synced_finite_totals_stay_exact():
  metric = jm.Sum()
  rows = np.ones((8, 4), np.float32)
  rows[0] = [2.0**30, 0, 0, 0]  # one batch's float32 sum would drop a 1
  synced = jax.pmap(lambda x: metric.sync(metric.update(metric.init(), x), "d"),
                    axis_name="d")(rows)
  state = jax.tree.map(lambda x: x[0], synced)
  assert float(state.total.hi) + float(state.total.lo) == 2.0**30 + 28


@pytest.mark.parametrize("shape,axis", [((10, 10), 0), ((10, 10), 1), ((7, 3), 0),
                                        ((1, 5), 0), ((0, 4), 0), ((128, 3), 0),
                                        ((200, 2), 0)])
def test_table_sums_are_exact_past_2_24(shape, axis):
  # Integer counts up to 2**40 a cell, as hi + lo pairs; NumPy's float64 sum
  # of them is exact.
  counts = np.random.default_rng(0).integers(0, 2**40, shape).astype(np.float64)
  hi = counts.astype(np.float32)
  table = wide.Wide(jnp.asarray(hi), jnp.asarray((counts - hi).astype(np.float32)))
  summed = jax.jit(wide.wide_table_sum, static_argnums=1)(table, axis)
  np.testing.assert_array_equal(
      np.asarray(summed.hi, np.float64) + np.asarray(summed.lo, np.float64),
      counts.sum(axis))
  reduced = wide.wide_sum(table, axis)  # the same pair as the reduction's
  np.testing.assert_array_equal(summed.hi, reduced.hi)
  np.testing.assert_array_equal(summed.lo, reduced.lo)


def test_tiny_totals_sum_and_sync_without_nan():
  tiny = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32) * 1e-30
  table = wide.Wide(jnp.asarray(tiny), jnp.zeros((2, 2)))
  np.testing.assert_allclose(wide.wide_table_sum(table, axis=1).hi, [3e-30, 7e-30],
                             rtol=1e-6)
  metric = jm.Sum()
  rows = np.full((8, 4), 1e-30, np.float32)
  synced = jax.pmap(lambda x: metric.sync(metric.update(metric.init(), x), "d"),
                    axis_name="d")(rows)
  np.testing.assert_allclose(metric.compute(jax.tree.map(lambda x: x[0], synced)),
                             32e-30, rtol=1e-6)


def test_table_sums_add_infinities_as_float32_does():
  table = wide.Wide(jnp.array([[np.inf, 1.0], [2.0, -np.inf], [-np.inf, 3.0]]),
                    jnp.zeros((3, 2)))
  summed = wide.wide_table_sum(table, axis=1)
  np.testing.assert_array_equal(summed.hi, [np.inf, -np.inf, -np.inf])
  summed = wide.wide_table_sum(table, axis=0)
  np.testing.assert_array_equal(summed.hi, [np.nan, -np.inf])


# -- NaN and inf do not disappear -------------------------------------------------


def _dice_inputs():
  rng = np.random.default_rng(0)
  return rng.integers(0, 3, (8,)), rng.random((8, 3)).astype(np.float32)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
@pytest.mark.parametrize("where", ["score", "weight"])
@pytest.mark.parametrize("special", [NAN, INF, -INF])
def test_dice_is_nan_where_a_nan_or_infinity_reached_a_class(average, where,
                                                             special):
  labels, scores = _dice_inputs()
  weights = np.ones(8, np.float32)
  if where == "score":
    scores[0, 1] = special
  else:
    if special == -INF:
      return  # a negative weight is no weight; the checks reject it
    weights[2] = special
  value = np.asarray(jm.Dice(num_classes=3, average=average)(
      labels, scores, sample_weight=weights))
  assert np.isnan(value).any()
  if average is None and where == "score":
    # Only the class the special score reached is NaN.
    assert np.isnan(value).tolist() == [False, True, False]


def test_binary_dice_with_a_nan_score_is_nan():
  assert np.isnan(jm.Dice()([1, 0, 1], [NAN, 0.2, 0.3]))


@pytest.mark.parametrize("ours, theirs", [
    (lambda: jm.MeanIoU(num_classes=2), lambda: keras.metrics.MeanIoU(num_classes=2)),
    (lambda: jm.MeanIoU(num_classes=2, dtype="float32"),
     lambda: keras.metrics.MeanIoU(num_classes=2, dtype="float32")),
    (lambda: jm.IoU(num_classes=2, target_class_ids=[0]),
     lambda: keras.metrics.IoU(num_classes=2, target_class_ids=[0])),
])
def test_a_nan_label_is_no_class_as_in_keras(ours, theirs):
  labels = np.array([0.0, NAN, 1.0, 1.0], np.float32)
  predictions = np.array([0, 1, 1, 1], np.float32)
  keras_metric = theirs()
  keras_metric.update_state(labels, predictions)
  np.testing.assert_allclose(ours()(labels, predictions), keras_metric.result(),
                             rtol=1e-6)


@pytest.mark.parametrize("ours, theirs", [
    (jm.SparseCategoricalCrossentropy, keras.metrics.SparseCategoricalCrossentropy),
    (jm.SparseCategoricalAccuracy, keras.metrics.SparseCategoricalAccuracy),
    (lambda: jm.SparseTopKCategoricalAccuracy(k=1),
     lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=1)),
])
def test_a_nan_sparse_label_selects_no_class_as_in_keras(ours, theirs):
  labels = np.array([0.0, NAN, 1.0, 0.0], np.float32)
  scores = np.array([[0.7, 0.3], [0.8, 0.2], [0.4, 0.6], [0.1, 0.9]], np.float32)
  keras_metric = theirs()
  keras_metric.update_state(labels, scores)
  np.testing.assert_allclose(ours()(labels, scores), keras_metric.result(),
                             rtol=1e-6)


# -- inputs that are not numbers --------------------------------------------------

BAD_INPUTS = [
    ("None", None, TypeError),
    ("string", "abc", TypeError),
    ("strings", ["a", "b", "c"], TypeError),
    ("ragged", [[1.0, 2.0], [3.0]], ValueError),
    ("object array with None", np.array([1, None, 0], dtype=object), TypeError),
    ("complex", np.array([1 + 1j, 0, 1]), TypeError),
]

METRICS = [jm.MeanSquaredError(), jm.AUC(), jm.MeanIoU(num_classes=2),
           jm.SparseCategoricalCrossentropy(), jm.F1Score(num_classes=2), jm.R2Score(),
           jm.Dice(), jm.Precision(top_k=1)]


@pytest.mark.parametrize("label, bad, error", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
@pytest.mark.parametrize("argument", ["y_true", "y_pred", "sample_weight"])
@pytest.mark.parametrize("metric", METRICS, ids=lambda m: type(m).__name__)
def test_non_numeric_input_names_the_metric_and_the_argument(metric, argument,
                                                             label, bad, error):
  if argument == "sample_weight" and bad is None:
    return  # None is "no weights"
  inputs = {"y_true": np.array([0, 1, 1]), "y_pred": np.array([0.2, 0.7, 0.9]),
            "sample_weight": None}
  if isinstance(metric, jm.SparseCategoricalCrossentropy):
    inputs["y_pred"] = np.array([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
  if isinstance(metric, jm.F1Score):
    inputs["y_true"] = np.array([[1, 0], [0, 1], [0, 1]])
    inputs["y_pred"] = np.array([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
  if isinstance(metric, jm.Precision):
    inputs["y_true"] = np.array([[1, 0], [0, 1], [0, 1]])
    inputs["y_pred"] = np.array([[0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
  inputs[argument] = bad
  with pytest.raises(error, match=rf"^{type(metric).__name__}: {argument} "):
    metric.update(metric.init(), inputs["y_true"], inputs["y_pred"],
                  sample_weight=inputs["sample_weight"])


@pytest.mark.parametrize("label, bad, error", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_non_numeric_input_through_stateful_names_the_metric(label, bad, error):
  facade = jm.Stateful(jm.AUC())
  with pytest.raises(error, match=r"^AUC: y_true "):
    facade.update_state(bad, [0.1, 0.2, 0.3])


def test_numbers_held_as_objects_are_numbers():
  labels = np.array([0, 1, 1, 0], dtype=object)
  metric = jm.MeanIoU(num_classes=2)
  np.testing.assert_array_equal(metric(labels, [0, 1, 0, 0]),
                                metric(np.array([0, 1, 1, 0]), [0, 1, 0, 0]))


def test_a_weight_error_names_the_shape_the_user_passed():
  metric = jm.AUC()
  with pytest.raises(ValueError) as error:
    metric.update(metric.init(), np.zeros(12), np.zeros(12),
                  sample_weight=np.ones((12, 2)))
  assert str(error.value).startswith("AUC: sample_weight of shape (12, 2) ")


@pytest.mark.parametrize("metric", [
    jm.MeanSquaredError(), jm.CategoricalCrossentropy(),
    jm.BinaryCrossentropy(), jm.KLDivergence(), jm.R2Score(num_outputs=2),
    jm.F1Score(num_classes=2), jm.PearsonCorrelation(), jm.ConcordanceCorrelation(),
    jm.AUC(), jm.CosineSimilarity()], ids=lambda m: type(m).__name__)
def test_python_lists_of_traced_values_work_under_jit(metric):
  def batch(a, b):
    return [[a, b], [b, a], [a, a]], [[0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]

  @jax.jit
  def traced(a, b):
    return metric.compute(metric.update(metric.init(), *batch(a, b)))

  eager = metric.compute(metric.update(
      metric.init(), *(np.asarray(x, np.float32) for x in batch(1.0, 0.0))))
  np.testing.assert_allclose(traced(1.0, 0.0), eager, rtol=1e-6)


# -- states of another metric -----------------------------------------------------


@pytest.mark.parametrize("metric, other", [
    (jm.AUC(num_thresholds=3), jm.AUC(num_thresholds=5)),
    (jm.MeanSquaredError(), jm.AUC()),
    (jm.MeanIoU(num_classes=2), jm.MeanIoU(num_classes=3)),
    (jm.Collection([jm.Mean(name="m")]), jm.Collection([jm.Sum(name="m")])),
], ids=["thresholds", "family", "classes", "collection"])
def test_merging_a_state_of_another_shape_names_the_metric(metric, other):
  with pytest.raises(ValueError, match=r"^\w+: merge: b "):
    metric.merge(metric.init(), other.init())
  stacked = jax.tree.map(lambda x: jnp.stack([x] * 8), other.init())
  with pytest.raises(ValueError, match=r"^\w+: sync: state "):
    jax.pmap(lambda s: metric.sync(s, "d"), axis_name="d")(stacked)


# -- threads ----------------------------------------------------------------------


def test_facades_merging_each_other_from_two_threads_do_not_deadlock():
  first, second = jm.Stateful(jm.Sum()), jm.Stateful(jm.Sum())
  first.update_state(1.0)
  second.update_state(2.0)

  def work(into, source):
    for _ in range(50):
      into.merge_state(source)

  threads = [threading.Thread(target=work, args=pair)
             for pair in ((first, second), (second, first))]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join(timeout=60)
  assert not any(thread.is_alive() for thread in threads)


def test_stateful_threads_lose_no_update():
  metric = jm.Stateful(jm.Sum())

  def work():
    for _ in range(2000):
      metric.update_state(1.0)

  threads = [threading.Thread(target=work) for _ in range(2)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert float(metric.result()) == 4000.0


# -- opt-in value checks ----------------------------------------------------------

FAILING = [
    (jm.MeanIoU(num_classes=3), ([0, 1, 5], [0, 1, 2]), {},
     "MeanIoU: y_true holds 1 value(s) that are not class ids in [0, 3)"),
    (jm.MeanIoU(num_classes=3), ([0, 1, 1.5], [0, 1, 2]), {},
     "MeanIoU: y_true holds 1 value(s) that are not class ids"),
    (jm.AUC(), ([0, 1, 2], [0.1, 0.5, 0.2]), {},
     "AUC: y_true holds 1 value(s) that are not labels in [0, 1]"),
    (jm.AUC(), ([0, 1, 1], [0.1, NAN, INF]), {},
     "AUC: y_pred holds 2 NaN or infinite value(s)"),
    (jm.Mean(), ([1.0, 2.0],), {"sample_weight": [1.0, -1.0]},
     "Mean: sample_weight holds 1 negative, NaN or infinite value(s)"),
    (jm.Mean(), ([1.0, 2.0],), {"sample_weight": [NAN, INF]},
     "Mean: sample_weight holds 2 negative"),
    (jm.SparseCategoricalCrossentropy(), ([0, 3], [[0.5, 0.5], [0.2, 0.8]]), {},
     "SparseCategoricalCrossentropy: y_true holds 1 value(s) that are not class ids in [0, 2)"),
    (jm.Dice(num_classes=2, ignore_class=0), ([0, 2], [[0.5, 0.5], [0.2, 0.8]]), {},
     "Dice: y_true holds 1 value(s) that are not class ids in [0, 2) (or ignore_class=0)"),
]


@pytest.mark.parametrize("metric, args, kwargs, message", FAILING,
                         ids=lambda x: type(x).__name__ if isinstance(x, jm.Metric) else None)
def test_checked_metrics_reject_bad_values_naming_the_metric(metric, args,
                                                             kwargs, message):
  checked = jm.Checked(metric)
  args = tuple(np.asarray(a, np.float32) for a in args)
  kwargs = {k: np.asarray(v, np.float32) for k, v in kwargs.items()}
  # Eagerly: at once.
  with pytest.raises(checkify.JaxRuntimeError, match=None) as error:
    checked.update(checked.init(), *args, **kwargs)
  assert str(error.value).startswith(message)
  # Under jit, functionalised by checkify.
  err, _ = jax.jit(checkify.checkify(checked.update))(checked.init(), *args, **kwargs)
  assert err.get().startswith(message)
  # Through Stateful.
  facade = jm.Stateful(checked)
  with pytest.raises(checkify.JaxRuntimeError):
    facade.update_state(*args, **kwargs)
  # Unchecked, the same call is accepted.
  metric.update(metric.init(), *args, **kwargs)


def test_checked_metrics_accept_good_values_and_keep_the_state():
  metric = jm.SparseCategoricalCrossentropy(ignore_class=-1)
  checked = jm.Checked(metric)
  labels = np.array([0, -1, 1], np.float32)
  scores = np.array([[0.5, 0.5], [0.2, 0.8], [0.3, 0.7]], np.float32)
  err, state = jax.jit(checkify.checkify(checked.update))(checked.init(), labels, scores)
  err.throw()
  want = metric.update(metric.init(), labels, scores)
  for got, expected in zip(jax.tree.leaves(state), jax.tree.leaves(want)):
    np.testing.assert_array_equal(got, expected)
  assert checked.name == metric.name


def test_checked_masked_rows_are_not_checked():
  checked = jm.Checked(jm.AUC())
  state = checked.masked_update(checked.init(), np.array([0, 1, 7.0]),
                                np.array([0.1, 0.9, NAN]),
                                mask=np.array([True, True, False]))
  assert float(checked.compute(state)) == 1.0


def test_checked_members_of_a_collection_are_checked_through_stateful():
  facade = jm.Stateful(jm.Collection([jm.Checked(jm.AUC()), jm.Mean(name="m")]))
  with pytest.raises(checkify.JaxRuntimeError, match="^AUC: y_true"):
    facade.update_state(y_true=np.array([0.0, 2.0]), y_pred=np.array([0.1, 0.2]),
                        values=np.array([1.0, 2.0]))


# -- the native and XLA paths agree on specials -------------------------------------


@pytest.mark.parametrize("metric", [jm.AUC(), jm.TruePositives(thresholds=[0.5]),
                                    jm.MeanIoU(num_classes=3, dtype="float32"),
                                    jm.Dice(num_classes=3)],
                         ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("special", [NAN, INF])
def test_special_scores_and_weights_are_the_same_on_both_paths(metric, special,
                                                               monkeypatch):
  rng = np.random.default_rng(3)
  if isinstance(metric, (jm.MeanIoU, jm.Dice)):
    labels = rng.integers(0, 3, 64)
    scores = (rng.integers(0, 3, 64) if isinstance(metric, jm.MeanIoU)
              else rng.random((64, 3)).astype(np.float32))
  else:
    labels = rng.integers(0, 2, 64)
    scores = rng.random(64).astype(np.float32)
  weights = rng.random(64).astype(np.float32)
  weights[5] = special
  if scores.dtype == np.float32:
    scores.flat[7] = special

  def run():
    return jax.jit(lambda s, *a: metric.update(s, *a[:2], sample_weight=a[2]))(
        metric.init(), labels, scores, weights)

  native = run()
  with monkeypatch.context() as patch:
    patch.setattr(ffi, "available", lambda: False)
    xla = run()
  np.testing.assert_array_equal(np.asarray(metric.compute(native)),
                                np.asarray(metric.compute(xla)))


# -- specials are the same single, merged and synced --------------------------------

# One weighted entry per kernel path and family (the property module holds
# every entry to its merges; this adds the 8-device sync, a compile each).
SPECIAL_IDS = (
    "mean_weighted", "sum", "max", "binary_accuracy_weighted",
    "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "categorical_crossentropy", "sparse_categorical_crossentropy_ignore_weighted",
    "mean_absolute_error", "concordance_correlation", "r2_score_weighted",
    "squared_hinge", "true_negatives", "precision_top_k", "recall_at_precision",
    "auc_pr_multi_label", "f1_score_argmax", "weighted_precision_weighted",
    "confusion_matrix_weighted", "mean_iou_weighted", "dice_soft",
    "collection_weighted")
ROWED = [entry for entry in catalogue.ENTRIES if entry.id in SPECIAL_IDS]
assert len(ROWED) == len(SPECIAL_IDS), "an id in SPECIAL_IDS left the catalogue"


def _special_batch(entry):
  """16 rows with a NaN score in row 5 and an infinite weight in row 12
  (rows of different devices once sharded), where the entry has them."""
  rng = np.random.default_rng(11)
  args = [np.array(a) for a in entry.make_inputs(rng, 16)]
  weight = catalogue.row_weights(entry, rng, 16)
  if np.issubdtype(args[-1].dtype, np.floating):
    args[-1].reshape(16, -1)[5, 0] = NAN
  if weight is not None:
    weight.reshape(16, -1)[12, 0] = INF
  return tuple(args), weight


def _assert_same(got, want, what):
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=what)
    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=what)


@pytest.mark.parametrize("entry", ROWED, ids=str)
def test_specials_give_one_result_single_merged_and_synced(entry):
  args, weight = _special_batch(entry)
  metric = entry.metric
  whole = metric.compute(metric.update(metric.init(), *args, sample_weight=weight))
  halves = [metric.update(metric.init(), *(a[s] for a in args),
                          sample_weight=None if weight is None else weight[s])
            for s in (slice(0, 8), slice(8, 16))]
  _assert_same(metric.compute(metric.merge(*halves)), whole, f"{entry.id}: merged")
  shards = tuple(a.reshape((8, 2) + a.shape[1:]) for a in args)
  shard_weight = None if weight is None else weight.reshape((8, 2) + weight.shape[1:])
  synced = jax.pmap(
      lambda a, w: metric.sync(metric.update(metric.init(), *a, sample_weight=w), "d"),
      axis_name="d")(shards, shard_weight)
  _assert_same(metric.compute(jax.tree.map(lambda x: x[0], synced)), whole,
               f"{entry.id}: synced")


def test_a_users_metric_keeps_its_inputs_as_given():
  """Only the package's metrics read their inputs as arrays of numbers; a
  user's metric may take a dict of model heads."""

  class HeadsState(NamedTuple):
    total: jax.Array

  @jm.metric_dataclass
  class Heads(jm.Metric):
    name: str = "heads"

    def init(self):
      return HeadsState(jnp.zeros(()))

    def update(self, state, y_true, y_pred, sample_weight=None):
      del y_true, sample_weight
      return HeadsState(state.total + jnp.sum(y_pred["a"]) + jnp.sum(y_pred["b"]))

    def compute(self, state):
      return state.total

  metric = Heads()
  heads = {"a": np.ones(3, np.float32), "b": np.full(2, 2.0, np.float32)}
  assert float(metric.compute(metric.update(metric.init(), None, heads))) == 7.0
