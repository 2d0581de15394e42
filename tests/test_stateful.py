"""`Stateful`: the Keras page's standalone snippets, with jmetrics in place of Keras.

Oracles: Keras 3 (JAX backend) metrics fed the same calls, and NumPy.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from keras import ops

import jmetrics as jm
from jmetrics._src import base
from jmetrics._src.composition.collection import Collection
from jmetrics.stateful import Stateful
from jmetrics.stateful import _jit_update


def test_seed_auc_snippet_matches_keras():
  m = Stateful(jm.AUC())
  k = keras.metrics.AUC()
  for y_true, y_pred in (([0, 1, 1, 1], [0, 1, 0, 0]), ([1, 1, 1, 1], [0, 1, 1, 0])):
    m.update_state(y_true, y_pred)
    k.update_state(y_true, y_pred)
    np.testing.assert_allclose(float(m.result()), float(k.result()), rtol=1e-6)
  m.reset_states()
  k.reset_state()
  assert float(m.result()) == float(k.result()) == 0.0
  m.update_state([1, 0, 1], [0.9, 0.4, 0.2], sample_weight=[1.0, 2.0, 0.5])
  k.update_state([1, 0, 1], [0.9, 0.4, 0.2], sample_weight=[1.0, 2.0, 0.5])
  np.testing.assert_allclose(float(m.result()), float(k.result()), rtol=1e-6)


# The seed's custom metric, as a jmetrics metric: config, state, pure methods.
class BinaryTruePositivesState(NamedTuple):
  true_positives: jax.Array  # float32[]: weighted count of true positives.


@base.metric_dataclass
class BinaryTruePositives(base.Metric):
  name: str = "binary_true_positives"

  def init(self):
    return BinaryTruePositivesState(jnp.zeros((), jnp.float32))

  def update(self, state, y_true, y_pred, sample_weight=None):
    y_true = jnp.asarray(y_true).astype(bool)
    y_pred = jnp.asarray(y_pred).astype(bool)
    values = jnp.logical_and(y_true, y_pred).astype(jnp.float32)
    if sample_weight is not None:
      values = values * jnp.asarray(sample_weight, jnp.float32)
    return BinaryTruePositivesState(state.true_positives + jnp.sum(values))

  def compute(self, state):
    return state.true_positives


class KerasBinaryTruePositives(keras.metrics.Metric):
  """The seed's tf.keras class in Keras 3 ops."""

  def __init__(self, name="binary_true_positives", **kwargs):
    super().__init__(name=name, **kwargs)
    self.true_positives = self.add_weight(name="tp", initializer="zeros")

  def update_state(self, y_true, y_pred, sample_weight=None):
    y_true = ops.cast(y_true, "bool")
    y_pred = ops.cast(y_pred, "bool")
    values = ops.cast(ops.logical_and(ops.equal(y_true, True),
                                      ops.equal(y_pred, True)), self.dtype)
    if sample_weight is not None:
      values = ops.multiply(values, ops.cast(sample_weight, self.dtype))
    self.true_positives.assign_add(ops.sum(values))

  def result(self):
    return self.true_positives

  def reset_state(self):
    self.true_positives.assign(0)


def test_seed_custom_metric_through_the_facade_matches_keras_and_numpy():
  m = Stateful(BinaryTruePositives())
  k = KerasBinaryTruePositives()
  calls = [([0, 1, 1, 1], [0, 1, 0, 0]), ([1, 1, 1, 1], [0, 1, 1, 0])]
  numpy_total = 0.0
  for y_true, y_pred in calls:
    m.update_state(y_true, y_pred)
    k.update_state(y_true, y_pred)
    numpy_total += np.sum(np.logical_and(y_true, y_pred))
    assert float(m.result()) == float(k.result()) == numpy_total
  assert float(m.result()) == 3.0  # intermediate 1.0, final 3.0
  m.reset_states()
  assert float(m.result()) == 0.0
  m.update_state([1, 1, 0], [1, 1, 1], sample_weight=[0.5, 2.0, 4.0])
  assert float(m.result()) == 2.5
  # Derived merge/sync work for the user's metric too.
  other = Stateful(BinaryTruePositives())
  other.update_state([1], [1])
  m.merge_state(other)
  assert float(m.result()) == 3.5


def test_seed_training_loop_accuracy_matches_keras():
  """The page's custom loop: ``accuracy.update_state(y, logits)`` per step."""
  rng = np.random.default_rng(0)
  accuracy = Stateful(jm.CategoricalAccuracy())
  k = keras.metrics.CategoricalAccuracy()
  for step in range(5):
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    logits = rng.normal(size=(16, 3)).astype(np.float32)
    accuracy.update_state(y, logits)
    k.update_state(y, logits)
    np.testing.assert_allclose(float(accuracy.result()), float(k.result()), rtol=1e-6)


def test_call_updates_then_returns_the_result_like_keras():
  m = Stateful("binary_accuracy")
  k = keras.metrics.BinaryAccuracy()
  for y_true, y_pred in (([1, 0, 1], [0.8, 0.6, 0.3]), ([0, 0], [0.1, 0.7])):
    np.testing.assert_allclose(float(m(y_true, y_pred)), float(k(y_true, y_pred)),
                               rtol=1e-6)
  assert m.name == "binary_accuracy" and repr(m).startswith("Stateful(BinaryAccuracy(")


def test_merge_state_equals_one_facade_fed_everything():
  rng = np.random.default_rng(1)
  batches = [(rng.integers(0, 2, 32), rng.random(32).astype(np.float32))
             for _ in range(4)]
  parts = [Stateful(jm.AUC(num_thresholds=50)) for _ in range(4)]
  k = keras.metrics.AUC(num_thresholds=50)
  for part, (y_true, y_pred) in zip(parts, batches):
    part.update_state(y_true, y_pred)
    k.update_state(y_true, y_pred)
  parts[0].merge_state(parts[1])
  parts[0].merge_state(parts[2:])
  np.testing.assert_allclose(float(parts[0].result()), float(k.result()), rtol=1e-6)
  with pytest.raises(ValueError, match="the metrics must be equal"):
    parts[0].merge_state(Stateful(jm.AUC(num_thresholds=51)))
  with pytest.raises(ValueError, match="the metrics must be equal"):
    parts[0].merge_state([object()])


def test_eager_mode_and_shared_compilation():
  a, b = Stateful(jm.MeanSquaredError()), Stateful(jm.MeanSquaredError(), jit=False)
  y_true, y_pred = np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32)
  before = _jit_update._cache_size()
  a.update_state(y_true, y_pred)
  Stateful(jm.MeanSquaredError()).update_state(y_true, y_pred)  # cache hit
  assert _jit_update._cache_size() == before + 1
  b.update_state(y_true, y_pred)
  assert float(a.result()) == float(b.result()) == 1.0


def test_collection_through_the_facade_matches_keras():
  m = Stateful(Collection(["binary_accuracy", jm.AUC(num_thresholds=20),
                           jm.Precision(thresholds=0.4)]))
  ks = {"binary_accuracy": keras.metrics.BinaryAccuracy(),
        "auc": keras.metrics.AUC(num_thresholds=20),
        "precision": keras.metrics.Precision(thresholds=0.4)}
  rng = np.random.default_rng(2)
  for _ in range(3):
    y_true = rng.integers(0, 2, 24)
    y_pred = rng.random(24).astype(np.float32)
    w = rng.uniform(0, 2, 24).astype(np.float32)
    m.update_state(y_true, y_pred, sample_weight=w)
    for k in ks.values():
      k.update_state(y_true, y_pred, sample_weight=w)
  result = m.result()
  assert sorted(result) == sorted(ks)
  for name, k in ks.items():
    np.testing.assert_allclose(float(result[name]), float(k.result()), rtol=1e-5,
                               err_msg=name)
  with pytest.raises(ValueError, match=r"unknown input\(s\) \['weights'\]"):
    m.update_state(y_true, y_pred, weights=w)


def test_not_a_metric_is_rejected():
  with pytest.raises(ValueError, match="unknown metric 'aucc'"):
    Stateful("aucc")
  with pytest.raises(ValueError, match="expected a metric"):
    Stateful(None)
