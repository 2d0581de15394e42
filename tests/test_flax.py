"""Flax integrations: linen TrainState + collection, NNX wrappers, add_metric.

Every training loop returns the logits (and the parameters each step used),
and the oracle runs each metric eagerly on its own on those logits, or NumPy
(losses, accuracies, activation means recomputed from the parameters).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import jax_utils
from flax import nnx
from sklearn.datasets import load_digits

import jmetrics as jm
from jmetrics import linen as jml
from jmetrics import nnx as jnnx
from jmetrics._src.composition.collection import Collection
from jmetrics._src.composition.collection import route
from jmetrics._src.metrics.reduction import Max

N_CLASSES = 10
HIDDEN = 16


@pytest.fixture(scope="module")
def digits():
  data = load_digits()
  x = (data.data[:512] / 16.0).astype(np.float32)
  y = data.target[:512].astype(np.int32)
  return x, y


def _collection():
  return Collection({
      "loss": route(jm.Mean(), values="loss"),
      "accuracy": jm.SparseCategoricalAccuracy(),
      "auc": route(jm.AUC(), y_true="onehot", y_pred="probs"),
  })


def _inputs(y, logits, loss):
  return dict(y_true=y, y_pred=logits, loss=loss,
              onehot=jax.nn.one_hot(y, N_CLASSES), probs=jax.nn.softmax(logits))


def _reference(steps):
  """Eager oracle: ``steps`` is ``[(x, y, logits, (w, b) of the hidden layer)]``."""
  auc = jm.AUC()
  auc_state = auc.init()
  losses, correct, activation_means = [], [], []
  for x, y, logits, (w, b) in steps:
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    losses.append(-log_probs[np.arange(len(y)), y])
    correct.append(logits.argmax(-1) == y)
    auc_state = auc.update(auc_state, np.eye(N_CLASSES)[y],
                           jax.nn.softmax(jnp.asarray(logits, jnp.float32)))
    activation_means.append(np.mean(np.asarray(x, np.float64) @ np.asarray(w)
                                    + np.asarray(b)))
  return {"loss": np.mean(np.concatenate(losses)),
          "accuracy": np.mean(np.concatenate(correct)),
          "auc": float(auc.compute(auc_state)),
          "activation_mean": np.mean(activation_means)}


def _assert_close(got, expected, keys=None):
  keys = keys or expected.keys()
  assert set(keys) <= set(got), (sorted(got), sorted(keys))
  for key in keys:
    np.testing.assert_allclose(float(got[key]), expected[key], rtol=2e-5,
                               atol=2e-6, err_msg=key)


# -- linen --------------------------------------------------------------------

class DenseLike(nn.Module):
  """The Keras page's layer: y = w.x + b, logging its activation mean."""

  features: int

  @nn.compact
  def __call__(self, inputs):
    w = self.param("w", nn.initializers.lecun_normal(), (inputs.shape[-1], self.features))
    b = self.param("b", nn.initializers.zeros, (self.features,))
    output = inputs @ w + b
    jml.add_metric(self, jnp.mean(output), aggregation="mean", name="activation_mean")
    return output


class LinenMLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    h = DenseLike(HIDDEN, name="hidden")(x)
    return nn.Dense(N_CLASSES)(nn.relu(h))


def _linen_state(x):
  model = LinenMLP()
  params = model.init(jax.random.key(0), x[:2])["params"]
  # The records' metric configs, read off a dry run (no compute).
  _, abstract = jax.eval_shape(
      lambda: model.apply({"params": params}, x[:2], mutable=[jml.METRICS]))
  collection = jml.with_records(_collection(), abstract)
  assert collection.names == ("loss", "accuracy", "auc", "activation_mean")
  return jml.TrainState.create(apply_fn=model.apply, params=params,
                               tx=optax.adam(1e-2), collection=collection)


def _linen_step(state, x, y, axis_name=None):
  def loss_fn(params):
    logits, records = state.apply_fn({"params": params}, x, mutable=[jml.METRICS])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return loss.mean(), (logits, loss, records)

  (_, (logits, loss, records)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  if axis_name is not None:
    grads = jax.lax.pmean(grads, axis_name)
  hidden = (state.params["hidden"]["w"], state.params["hidden"]["b"])
  new = state.apply_gradients(grads=grads).update_metrics(
      **_inputs(y, logits, loss), records=records, axis_name=axis_name)
  return new, logits, hidden


def test_linen_train_state_accumulates_and_resets_per_epoch(digits):
  x, y = digits
  state = _linen_state(x)
  step = jax.jit(_linen_step)
  for epoch in range(2):
    state = state.reset_metrics()  # the per-epoch reset
    steps = []
    for start in range(0, len(x), 64):
      xb, yb = x[start:start + 64], y[start:start + 64]
      state, logits, hidden = step(state, xb, yb)
      steps.append((xb, yb, logits, hidden))
    expected = _reference(steps)
    assert 0.1 < expected["accuracy"] < 1 and 0.5 < expected["auc"] < 1
    _assert_close(state.compute_metrics(), expected)
  assert int(state.step) == 16


def test_linen_pmap_sync_equals_eager_reference(digits):
  x, y = digits
  n_dev = jax.device_count()
  per_device = 16
  state = jax_utils.replicate(_linen_state(x))
  step = jax.pmap(lambda s, xb, yb: _linen_step(s, xb, yb, axis_name="batch"),
                  axis_name="batch")
  steps = []
  for start in range(0, 4 * n_dev * per_device, n_dev * per_device):
    xb = x[start:start + n_dev * per_device]
    yb = y[start:start + n_dev * per_device]
    state, logits, hidden = step(state, xb.reshape(n_dev, per_device, -1),
                                 yb.reshape(n_dev, per_device))
    steps.append((xb, yb, np.asarray(logits).reshape(-1, N_CLASSES),
                  jax.tree.map(lambda a: a[0], hidden)))
  expected = _reference(steps)
  collection = state.collection
  for device in (0, n_dev - 1):
    metrics = jax.tree.map(lambda a: a[device], state.metrics)
    _assert_close(collection.compute(metrics), expected)


def test_linen_add_metric_is_a_no_op_when_not_recording(digits):
  x, _ = digits
  model = LinenMLP()
  variables = model.init(jax.random.key(0), x[:2])
  assert set(variables) == {"params", jml.METRICS}  # init records too
  out = model.apply({"params": variables["params"]}, x[:4])  # nothing mutable
  assert out.shape == (4, N_CLASSES)


class _Recorder(nn.Module):
  aggregation: object = "mean"

  @nn.compact
  def __call__(self, x):
    jml.add_metric(self, x, name="x", aggregation=self.aggregation)
    jml.add_metric(self, 2 * x, name="x", aggregation=self.aggregation)
    return x


@pytest.mark.parametrize("aggregation,oracle", [
    ("mean", lambda v: np.mean(v)), ("sum", np.sum), ("max", np.max),
    ("min", np.min)])
def test_linen_aggregations_and_repeated_calls_merge(aggregation, oracle):
  values = np.array([3.0, -1.0, 4.0], np.float32)
  _, updates = _Recorder(aggregation).apply({}, values, mutable=[jml.METRICS])
  record = jml.records(updates)["x"]
  np.testing.assert_allclose(float(record.metric.compute(record.state)),
                             oracle(np.concatenate([values, 2 * values])), rtol=1e-6)


def test_linen_records_errors():
  with pytest.raises(ValueError, match="unknown aggregation 'median'"):
    _Recorder("median").apply({}, jnp.ones(2), mutable=[jml.METRICS])
  _, updates = _Recorder("max").apply({}, jnp.ones(2), mutable=[jml.METRICS])
  _, mean_updates = _Recorder("mean").apply({}, jnp.ones(2), mutable=[jml.METRICS])
  with pytest.raises(ValueError, match="recorded with two aggregations"):
    jml.records([updates, mean_updates])
  c = _collection()
  with pytest.raises(ValueError, match="'x' was recorded but the collection has no"):
    jml.merge_records(c, c.init(), updates)
  wrong = Collection({"x": jml.recorded("x", "sum")})
  with pytest.raises(ValueError, match="'x' was recorded as Max"):
    jml.merge_records(wrong, wrong.init(), updates)
  right = Collection({"x": jml.recorded("x", "max")})
  merged = jml.merge_records(right, right.init(), updates)
  assert float(right.compute(merged)["x"]) == 2.0


def test_add_metric_with_a_metric_as_aggregation():
  class Rec(nn.Module):
    @nn.compact
    def __call__(self, x):
      jml.add_metric(self, x, name="per_unit",
                     aggregation=jm.MeanTensor(shape=(3,)))
      return x

  _, updates = Rec().apply({}, jnp.array([1.0, 2.0, 6.0]), mutable=[jml.METRICS])
  record = jml.records(updates)["per_unit"]
  assert record.metric == jm.MeanTensor(shape=(3,), name="per_unit")
  np.testing.assert_allclose(record.metric.compute(record.state), [1.0, 2.0, 6.0])
  with pytest.raises(ValueError, match="must take `values`"):
    jml.recorded("bad", jm.AUC())


# -- NNX ------------------------------------------------------------------------

class NNXDenseLike(nnx.Module):

  def __init__(self, din, dout, rngs):
    self.linear = nnx.Linear(din, dout, rngs=rngs)

  def __call__(self, inputs):
    output = self.linear(inputs)
    jnnx.add_metric(self, jnp.mean(output), aggregation="mean", name="activation_mean")
    return output


class NNXMLP(nnx.Module):

  def __init__(self, rngs):
    self.hidden = NNXDenseLike(64, HIDDEN, rngs)
    self.out = nnx.Linear(HIDDEN, N_CLASSES, rngs=rngs)

  def __call__(self, x):
    return self.out(nnx.relu(self.hidden(x)))


def test_nnx_training_loop_equals_eager_reference(digits):
  x, y = digits
  model = NNXMLP(nnx.Rngs(0))
  optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
  collection = Collection({**_collection().metrics,
                           "activation_mean": jnnx.recorded("activation_mean")})
  metrics = jnnx.NNXMetric(collection)

  @nnx.jit
  def train_step(model, optimizer, metrics, xb, yb):
    hidden = (model.hidden.linear.kernel[...], model.hidden.linear.bias[...])

    def loss_fn(model):
      logits, records = nnx.capture(model, jnnx.MetricRecord)(xb)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb)
      return loss.mean(), (logits, loss, records)

    (_, (logits, loss, records)), grads = nnx.value_and_grad(
        loss_fn, has_aux=True)(model)
    optimizer.update(model, grads)
    metrics.update(**_inputs(yb, logits, loss))
    metrics.merge_records(records)
    return logits, hidden

  for _ in range(2):
    metrics.reset()  # per epoch
    steps = []
    for start in range(0, len(x), 128):
      xb, yb = x[start:start + 128], y[start:start + 128]
      logits, hidden = train_step(model, optimizer, metrics, xb, yb)
      steps.append((xb, yb, logits, hidden))
    _assert_close(metrics.compute(), _reference(steps))


def test_nnx_add_metric_outside_capture_records_nothing():
  layer = NNXDenseLike(4, 3, nnx.Rngs(0))
  before = jax.tree.structure(nnx.state(layer))
  layer(jnp.ones((2, 4)))
  assert jax.tree.structure(nnx.state(layer)) == before
  out, captured = nnx.capture(layer, jnnx.MetricRecord)(jnp.ones((2, 4)))
  record = jnnx.records(captured)["activation_mean"]
  np.testing.assert_allclose(record.metric.compute(record.state), jnp.mean(out),
                             rtol=1e-6)
  collection = jnnx.with_records(["binary_accuracy"], captured)
  assert collection.names == ("binary_accuracy", "activation_mean")


def _multimetric_batches():
  rng = np.random.default_rng(3)
  out = []
  for _ in range(3):
    labels = rng.integers(0, 2, 32).astype(np.int32)
    logits = rng.normal(size=(32, 2)).astype(np.float32)
    out.append(dict(labels=labels, logits=logits,
                    loss=rng.uniform(0, 2, 32).astype(np.float32),
                    scores=np.asarray(jax.nn.softmax(logits))[:, 1],
                    mask=(rng.random(32) > 0.3).astype(np.float32)))
  return out


def test_wrapper_inside_flax_multimetric_ignores_listed_keywords():
  auc = jm.AUC(num_thresholds=100)
  metrics = nnx.MultiMetric(
      loss=nnx.metrics.Average("loss"),
      accuracy=nnx.metrics.Accuracy(),
      auc=jnnx.NNXMetric(route(auc, y_true="labels", y_pred="scores"),
                         ignore=["loss", "logits"]))

  @nnx.jit
  def step(metrics, batch):
    metrics.update(**batch)

  batches = _multimetric_batches()
  auc_state = auc.init()
  for b in batches:
    step(metrics, {k: v for k, v in b.items() if k != "mask"})
    auc_state = auc.update(auc_state, b["labels"], b["scores"])
  got = metrics.compute()
  np.testing.assert_allclose(got["auc"], auc.compute(auc_state), rtol=1e-6)
  correct = np.concatenate([b["logits"].argmax(-1) == b["labels"] for b in batches])
  np.testing.assert_allclose(got["accuracy"], correct.mean(), rtol=1e-6)

  with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['lables'\]"):
    metrics.update(**{k: v for k, v in batches[0].items() if k != "mask"},
                   lables=batches[0]["labels"])
  metrics.reset()
  assert float(metrics.compute()["auc"]) == 0.0


def test_jmetrics_multimetric_routes_keywords_and_rejects_typos():
  auc = jm.AUC(num_thresholds=100)
  loss = jm.Mean()
  metrics = jnnx.MultiMetric(
      accuracy=nnx.metrics.Accuracy(),
      loss=route(loss, values="loss"),
      auc=route(auc, y_true="labels", y_pred="scores"))
  assert metrics.accepted == ("logits", "labels", "loss", "sample_weight", "scores")

  @nnx.jit
  def step(metrics, batch):
    metrics.update(**batch)

  batches = _multimetric_batches()
  auc_state, loss_state = auc.init(), loss.init()
  for b in batches:
    step(metrics, b)  # mask: a sample weight for jmetrics members
    auc_state = auc.update(auc_state, b["labels"], b["scores"], sample_weight=b["mask"])
    loss_state = loss.update(loss_state, b["loss"], sample_weight=b["mask"])
  got = metrics.compute()
  np.testing.assert_allclose(got["auc"], auc.compute(auc_state), rtol=1e-6)
  np.testing.assert_allclose(got["loss"], loss.compute(loss_state), rtol=1e-6)
  mask = np.concatenate([b["mask"] for b in batches])
  correct = np.concatenate([b["logits"].argmax(-1) == b["labels"] for b in batches])
  np.testing.assert_allclose(got["accuracy"], np.sum(mask * correct) / np.sum(mask),
                             rtol=1e-6)

  with pytest.raises(ValueError, match=r"MultiMetric: unknown keyword\(s\) \['scroes'\]"):
    metrics.update(labels=batches[0]["labels"], logits=batches[0]["logits"],
                   loss=batches[0]["loss"], scroes=batches[0]["scores"])

  # A per-member mask dict, as nnx.MultiMetric takes it.
  metrics.reset()
  b = batches[0]
  metrics.update(**{**b, "mask": {"loss": b["mask"]}})
  np.testing.assert_allclose(metrics.compute()["loss"], np.sum(b["mask"] * b["loss"])
                             / np.sum(b["mask"]), rtol=1e-6)
  np.testing.assert_allclose(metrics.compute()["auc"], auc.compute(
      auc.update(auc.init(), b["labels"], b["scores"])), rtol=1e-6)


def test_nnx_metric_wrapper_errors_and_sample_weight():
  with pytest.raises(ValueError, match=r"cannot ignore \['y_true'\]"):
    jnnx.NNXMetric(jm.AUC(), ignore="y_true")
  m = jnnx.NNXMetric(jm.BinaryAccuracy())
  with pytest.raises(ValueError, match=r"unknown keyword\(s\) \['y_prd'\]"):
    m.update(y_true=jnp.ones(2), y_prd=jnp.ones(2))
  m.update(y_true=jnp.array([1, 0, 1]), y_pred=jnp.array([0.9, 0.9, 0.2]),
           sample_weight=jnp.array([1.0, 2.0, 1.0]), mask=jnp.array([1.0, 1.0, 0.0]))
  np.testing.assert_allclose(float(m.compute()), 1 / 3, rtol=1e-6)
  with pytest.raises(ValueError, match="takes no sample_weight"):
    jnnx.NNXMetric(route(jm.Mean(), sample_weight=None)).update(
        values=jnp.ones(2), mask=jnp.ones(2))
  with pytest.raises(ValueError, match="must be a Collection"):
    m.merge_records({})
  from_list = jnnx.NNXMetric(["mse", Max()])
  assert isinstance(from_list.metric, Collection)
