"""Metric and collection states save and restore with orbax mid-epoch.

The oracle of each test is the same run without the interruption: a run
saved half way, restored into a fresh process-like setup (a target built
from ``init`` alone) and continued must end in bitwise the same state.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest
from flax import nnx

import jmetrics as jm
from jmetrics import linen as jml
from jmetrics import nnx as jnnx
from jmetrics._src.composition.collection import Collection
from jmetrics._src.composition.collection import route
from jmetrics._src.metrics.reduction import Max
from jmetrics._src.numerics import wide
from jmetrics.stateful import Stateful


def _collection():
  return Collection({
      "loss": route(jm.Mean(), values="loss"),
      "accuracy": jm.SparseCategoricalAccuracy(),
      "auc": route(jm.AUC(num_thresholds=64), y_true="onehot", y_pred="probs"),
      "max_loss": route(Max(), values="loss"),
      "f1": route(jm.F1Score(num_classes=3), y_true="onehot", y_pred="probs"),
  })


def _batches(n=6):
  rng = np.random.default_rng(0)
  out = []
  for _ in range(n):
    labels = rng.integers(0, 3, 32).astype(np.int32)
    logits = (rng.normal(size=(32, 3)) * 3).astype(np.float32)
    probs = np.asarray(jax.nn.softmax(logits))
    out.append(dict(y_true=labels, y_pred=logits,
                    loss=-np.log(probs[np.arange(32), labels]),
                    onehot=np.eye(3, dtype=np.float32)[labels], probs=probs,
                    sample_weight=rng.uniform(0, 3, 32).astype(np.float32)))
  return out


def _assert_trees_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _save_restore(path, tree, target):
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(path, tree)
    checkpointer.wait_until_finished()
  with ocp.StandardCheckpointer() as checkpointer:
    return checkpointer.restore(path, target)


def test_collection_resumes_mid_epoch_bitwise(tmp_path):
  c = _collection()
  update = jax.jit(lambda s, b: c.update(s, **b))
  batches = _batches()
  uninterrupted = c.init()
  for b in batches:
    uninterrupted = update(uninterrupted, b)

  state = c.init()
  for b in batches[:3]:
    state = update(state, b)
  restored = _save_restore(tmp_path / "metrics", state, jax.eval_shape(c.init))
  assert isinstance(restored["loss"].total, wide.Wide)  # NamedTuples rebuilt
  _assert_trees_equal(restored, state)
  for b in batches[3:]:
    restored = update(restored, b)
  _assert_trees_equal(restored, uninterrupted)
  # Nonzero low halves: the pairs carry digits a float32 total would drop.
  pairs = [leaf for leaf in jax.tree.leaves(
      uninterrupted, is_leaf=lambda x: isinstance(x, wide.Wide))
            if isinstance(leaf, wide.Wide)]
  assert any(np.any(np.asarray(p.lo) != 0) for p in pairs)
  got, expected = c.compute(restored), c.compute(uninterrupted)
  for key in expected:
    np.testing.assert_array_equal(got[key], expected[key])


def test_wide_pairs_round_trip_exactly(tmp_path):
  total = wide.wide_add_int(wide.wide_zeros((3,)), jnp.array([2**31 - 1, 7, 0]))
  for _ in range(3):
    total = wide.wide_add_int(total, jnp.array([2**31 - 1, 1, 5]))
  total = wide.wide_add(total, jnp.array([1e-3, 3.3e-9, -1.7]))
  assert np.any(np.asarray(total.lo) != 0)
  restored = _save_restore(tmp_path / "wide", {"t": total},
                           jax.eval_shape(lambda: {"t": wide.wide_zeros((3,))}))
  assert isinstance(restored["t"], wide.Wide)
  _assert_trees_equal(restored, {"t": total})
  np.testing.assert_array_equal(
      np.asarray(restored["t"].hi, np.float64) + np.asarray(restored["t"].lo, np.float64),
      np.asarray(total.hi, np.float64) + np.asarray(total.lo, np.float64))


class _Model(nn.Module):

  @nn.compact
  def __call__(self, x):
    h = nn.Dense(8)(x)
    jml.add_metric(self, jnp.mean(h), name="activation_mean")
    return nn.Dense(3)(nn.relu(h))


def test_linen_train_state_with_metrics_resumes_mid_epoch(tmp_path):
  batches = _batches()
  rng = np.random.default_rng(1)
  xs = [rng.normal(size=(32, 5)).astype(np.float32) for _ in batches]
  model, tx = _Model(), optax.adam(1e-2)

  def fresh():
    params = model.init(jax.random.key(0), xs[0])["params"]
    # A few members: the full set is checkpointed in the test above.
    collection = Collection({"loss": route(jm.Mean(), values="loss"),
                             "accuracy": jm.SparseCategoricalAccuracy(),
                             "activation_mean": jml.recorded("activation_mean")})
    return jml.TrainState.create(apply_fn=model.apply, params=params,
                                 tx=tx, collection=collection)

  @jax.jit
  def step(state, x, b):
    def loss_fn(params):
      logits, records = state.apply_fn({"params": params}, x, mutable=[jml.METRICS])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, b["y_true"])
      return loss.mean(), (logits, loss, records)

    (_, (logits, loss, records)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    return state.apply_gradients(grads=grads).update_metrics(
        y_true=b["y_true"], y_pred=logits, loss=loss,
        sample_weight=b["sample_weight"], records=records)

  uninterrupted = fresh()
  for x, b in zip(xs, batches):
    uninterrupted = step(uninterrupted, x, b)

  state = fresh()
  for x, b in zip(xs[:3], batches[:3]):
    state = step(state, x, b)
  target = jax.tree.map(ocp.utils.to_shape_dtype_struct, fresh())
  resumed = _save_restore(tmp_path / "train_state", state, target)
  assert int(resumed.step) == 3
  for x, b in zip(xs[3:], batches[3:]):
    resumed = step(resumed, x, b)
  _assert_trees_equal(resumed, uninterrupted)
  got, expected = resumed.compute_metrics(), uninterrupted.compute_metrics()
  assert sorted(got) == ["accuracy", "activation_mean", "loss"]
  for key in expected:
    np.testing.assert_array_equal(got[key], expected[key])


def test_nnx_metric_state_resumes_mid_epoch(tmp_path):
  c = _collection()
  batches = _batches()

  @nnx.jit
  def step(metrics, b):
    metrics.update(**b)

  uninterrupted = jnnx.NNXMetric(c)
  for b in batches:
    step(uninterrupted, b)

  metrics = jnnx.NNXMetric(c)
  for b in batches[:3]:
    step(metrics, b)
  target = nnx.state(nnx.eval_shape(lambda: jnnx.NNXMetric(c)))
  restored_state = _save_restore(tmp_path / "nnx", nnx.state(metrics), target)
  resumed = jnnx.NNXMetric(c)
  nnx.update(resumed, restored_state)
  for b in batches[3:]:
    step(resumed, b)
  _assert_trees_equal(resumed.state.get_value(), uninterrupted.state.get_value())


@pytest.mark.parametrize("metric", [jm.AUC(num_thresholds=20), jm.Sum()],
                         ids=["auc", "sum"])
def test_stateful_facade_state_resumes(tmp_path, metric):
  rng = np.random.default_rng(2)
  calls = [(rng.integers(0, 2, 16), rng.random(16).astype(np.float32)) for _ in range(4)]

  def feed(m, y_true, y_pred):
    if isinstance(metric, jm.Sum):
      m.update_state(y_pred * 1e7)
    else:
      m.update_state(y_true, y_pred)

  uninterrupted = Stateful(metric)
  for call in calls:
    feed(uninterrupted, *call)
  m = Stateful(metric)
  for call in calls[:2]:
    feed(m, *call)
  resumed = Stateful(metric)
  resumed.state = _save_restore(tmp_path / "facade", m.state,
                                jax.eval_shape(metric.init))
  for call in calls[2:]:
    feed(resumed, *call)
  _assert_trees_equal(resumed.state, uninterrupted.state)
  assert float(resumed.result()) == float(uninterrupted.result())
