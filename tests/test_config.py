"""The declarative config checks (`base.Check`) and mask weights (`mask_weight`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jmetrics as jm
from jmetrics._src import base


# -- config checks -------------------------------------------------------------


@pytest.mark.parametrize("make,message", [
    # integer ranges
    (lambda: jm.Precision(top_k=0), r"^Precision: top_k must be an integer >= 1, got 0$"),
    (lambda: jm.Recall(class_id=True),
     r"^Recall: class_id must be an integer >= 0, got True$"),
    (lambda: jm.MeanIoU(2.0), r"^MeanIoU: num_classes must be an integer >= 1, got 2.0$"),
    (lambda: jm.AUC(num_thresholds=1),
     r"^AUC: num_thresholds must be an integer > 1, got num_thresholds=1$"),
    (lambda: jm.R2Score(num_regressors=-1),
     r"^R2Score: num_regressors must be an int >= 0, got -1$"),
    # the unit interval (NaN included)
    (lambda: jm.RecallAtPrecision(float("nan")),
     r"^RecallAtPrecision: precision must be a number in \[0, 1\], got nan$"),
    (lambda: jm.BinaryCrossentropy(label_smoothing=True),
     r"^BinaryCrossentropy: label_smoothing must be a number in \[0, 1\], got True$"),
    # choice lists
    (lambda: jm.Dice(average="mean"),
     r"^Dice: average must be one of None, 'micro', 'macro', 'weighted', got 'mean'$"),
    (lambda: jm.AUC(summation_method="trapezoid"),
     r"^AUC: invalid summation_method='trapezoid'; expected one of"),
    (lambda: jm.ConfusionMatrix(2, normalize=["true"]),
     r"^ConfusionMatrix: normalize must be one of \(None, 'true', 'pred', 'all'\), "
     r"got \('true',\)$"),
    # a type check, then a range with its own message
    (lambda: jm.FBetaScore("micro", 1.0, 1.5),
     r"^FBetaScore: Invalid `threshold` argument value. It should verify "
     r"0 < threshold <= 1. Received: threshold=1.5$"),
    (lambda: jm.FBetaScore("micro", [1.0]),
     r"^FBetaScore: Invalid `beta` argument value. It should be a real number. "
     r"Received: beta=\(1.0,\) of type <class 'tuple'>$"),
    # sizes and shapes
    (lambda: jm.MeanTensor(), r"^MeanTensor: shape is required"),
    (lambda: jm.IoU(3, "01"),
     r"^IoU: target_class_ids must be a list or tuple of class ids, got '01'$"),
])
def test_a_bad_value_raises_its_message_naming_the_metric(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_checks_normalise_and_lists_become_tuples_so_configs_hash():
  a = jm.IoU(3, [0, 2], ignore_class=np.int64(1), sparse_y_pred=np.bool_(True))
  b = jm.IoU(3, (0, 2), ignore_class=1)
  assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
  assert a.target_class_ids == (0, 2) and type(a.ignore_class) is int
  assert type(a.sparse_y_pred) is bool
  w = jm.WeightedPrecision([0.2, 0.8])
  assert w.class_weights == (0.2, 0.8)
  assert hash(w) == hash(jm.WeightedPrecision((0.2, 0.8)))
  f = jm.FBetaScore("micro", 2, 1)
  assert (f.beta, f.threshold) == (2.0, 1.0) and type(f.beta) is float
  assert jm.Dice(epsilon=0).epsilon == 0.0 and type(jm.Dice(epsilon=0).epsilon) is float
  assert jm.MeanTensor(shape=3).shape == (3,)
  auc = jm.AUC(thresholds=[0.7, 0.2], label_weights=np.array([1, 2]))
  assert auc.thresholds == (0.2, 0.7) and auc.num_thresholds == 4
  assert auc.label_weights == (1.0, 2.0)
  assert auc == jm.AUC(thresholds=(0.2, 0.7), label_weights=(1.0, 2.0))
  # Equal configs given as lists or tuples hit one jit cache entry.
  traces = []
  def update(m, s, t, p):
    traces.append(m)
    return m.update(s, t, p)
  step = jax.jit(update, static_argnums=0)
  m = jm.IoU(2, [0, 1])
  step(m, m.init(), jnp.array([0, 1]), jnp.array([0, 0]))
  step(jm.IoU(2, (0, 1)), m.init(), jnp.array([1, 1]), jnp.array([0, 1]))
  assert len(traces) == 1


class _State(NamedTuple):
  total: jax.Array


class _Toy(base.Metric):
  """A family base declaring the checks of fields its subclasses declare."""

  config_checks = {"size": base.integer(minimum=1),
                   "rate": base.unit(),
                   "mode": base.choice({"a": "A", "A": "A"}, message=
                                       "mode must be 'a' or 'A', got {value!r}")}

  def init(self):
    return _State(jnp.zeros(()))

  def update(self, state, values, sample_weight=None):
    return state

  def compute(self, state):
    return state.total


@base.metric_dataclass
class _ToyChild(_Toy):
  size: Any = 2
  name: str = None
  rate: Any = 0.5
  mode: str = "a"


def test_checks_are_inherited_run_in_field_order_and_normalise():
  child = _ToyChild(size=np.int32(3), mode="a")
  assert (child.size, child.rate, child.mode, child.name) == (3, 0.5, "A",
                                                              "_toy_child")
  assert child == _ToyChild(size=3, rate=0.5, mode="A")
  with pytest.raises(ValueError, match=r"^_ToyChild: rate must be a number in "
                     r"\[0, 1\], got 2$"):
    _ToyChild(rate=2)
  with pytest.raises(ValueError, match=r"^_ToyChild: size must be an integer "
                     r">= 1, got 0$"):
    _ToyChild(size=0, rate=2)  # field order: size is checked first
  with pytest.raises(ValueError, match=r"^_ToyChild: mode must be 'a' or 'A', "
                     r"got \{'b'\}$"):
    _ToyChild(mode={"b"})  # unhashable: fails the check, not with a TypeError


def test_a_check_of_no_field_is_refused_when_the_class_is_declared():
  with pytest.raises(TypeError, match=r"config_checks names no field \['sizes'\]"):
    @base.metric_dataclass
    class _Typo(_ToyChild):  # pylint: disable=unused-variable
      config_checks = {"sizes": base.integer()}


# -- mask weights --------------------------------------------------------------


def _garbage(x, mask):
  x = np.array(x, np.float32 if np.issubdtype(np.asarray(x).dtype, np.floating)
               else np.asarray(x).dtype)
  if x.dtype.kind == "f":
    x[~mask] = np.nan
  else:
    x[~mask] = 7
  return x


@pytest.mark.parametrize("metric", [
    jm.F1Score(average="macro", num_classes=4),
    jm.FBetaScore(average=None, beta=2.0, threshold=0.4, num_classes=4),
    jm.FBetaScore(average="micro", threshold=0.5),
], ids=["f1_macro", "fbeta_per_class", "fbeta_micro"])
@pytest.mark.parametrize("weighted", ["none", "rows", "scalar"])
def test_masked_update_with_batch_weights_equals_update_of_the_kept_rows(
    metric, weighted):
  rng = np.random.default_rng(0)
  y_true = rng.integers(0, 2, (11, 4)).astype(np.int32)
  y_pred = rng.uniform(size=(11, 4)).astype(np.float32)
  weight = {"none": None, "scalar": np.float32(0.5),
            "rows": rng.uniform(0.1, 2.0, 11).astype(np.float32)}[weighted]
  mask = rng.random(11) < 0.6
  mask[0] = True
  kept_weight = weight[mask] if weighted == "rows" else weight
  expected = metric.update(metric.init(), y_true[mask], y_pred[mask],
                           sample_weight=kept_weight)
  masked = jax.jit(lambda s, t, p, w, m: metric.masked_update(
      s, t, p, mask=m, sample_weight=w))(
          metric.init(), _garbage(y_true, mask), _garbage(y_pred, mask), weight,
          mask)
  np.testing.assert_allclose(metric.compute(masked), metric.compute(expected),
                             rtol=1e-6, atol=1e-7)
  if weighted == "none":  # exact integer counts: bit for bit
    for a, b in zip(jax.tree.leaves(masked), jax.tree.leaves(expected)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_one_hot_iou_declares_the_rank_of_its_argmax():
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 3, (6, 4, 4))
  y_true = np.eye(3, dtype=np.float32)[labels]
  y_pred = rng.uniform(size=y_true.shape).astype(np.float32)
  mask = np.array([True, False, True, True, False, True])
  metric = jm.OneHotMeanIoU(num_classes=3)
  weight = metric.mask_weight(jnp.asarray(mask), (y_true, y_pred), None)
  assert weight.shape == (6, 1, 1)
  masked = metric.masked_update(metric.init(), y_true, y_pred, mask=mask)
  expected = metric.update(metric.init(), y_true[mask], y_pred[mask])
  np.testing.assert_array_equal(np.asarray(masked.confusion.hi),
                                np.asarray(expected.confusion.hi))


@base.metric_dataclass
class _RowWeighted(base.Metric):
  """Sums rows of ``(batch, k)`` values and accepts only ``(batch,)`` weights."""

  name: str = None

  def init(self):
    return _State(jnp.zeros(()))

  def update(self, state, values, sample_weight=None):
    values = jnp.asarray(values, jnp.float32)
    if sample_weight is None:
      sample_weight = jnp.ones(values.shape[:1])
    if np.ndim(sample_weight) != 1:
      raise self.error(f"sample_weight must have shape (batch,), got "
                       f"{np.shape(sample_weight)}")
    return _State(state.total + jnp.sum(values * sample_weight[:, None]))

  def compute(self, state):
    return state.total


@base.metric_dataclass
class _DeclaresRows(_RowWeighted):

  def mask_weight(self, mask, inputs, sample_weight):
    return base.row_weight(mask, sample_weight, 1)


def test_mask_weights_are_declared_not_probed():
  values = np.ones((4, 3), np.float32)
  mask = np.array([True, True, False, True])
  # The default weight has the first input's rank; nothing tries another
  # shape when update raises: its error surfaces.
  m = _RowWeighted()
  with pytest.raises(ValueError, match=r"_RowWeighted: sample_weight must have "
                     r"shape \(batch,\), got \(4, 1\)"):
    m.masked_update(m.init(), values, mask=mask)
  m = _DeclaresRows()
  assert float(m.compute(m.masked_update(m.init(), values, mask=mask))) == 9.0
