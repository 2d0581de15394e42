"""jmetrics in five minutes: standalone use, then a metric collection in a Flax train loop.

Run: python examples/quickstart.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import jmetrics as jm  # noqa: E402
from jmetrics import linen as jml  # noqa: E402  (Flax integration, on demand)

from jmetrics import Collection, Stateful, route  # noqa: E402


def standalone():
  """The Keras page's standalone snippet, functionally: state in, state out."""
  m = jm.BinaryAccuracy()
  state = m.init()
  state = m.update(state, [0, 1, 1, 1], [0, 1, 0, 0])
  print("Intermediate result:", float(m.compute(state)))
  state = m.update(state, [1, 1, 1, 1], [0, 1, 1, 0])
  print("Final result:", float(m.compute(state)))


def standalone_stateful():
  """The Keras page's AUC snippet, stateful as in Keras, jit-compiled underneath."""
  m = Stateful(jm.AUC())
  m.update_state([0, 1, 1, 1], [0, 1, 0, 0])
  print("AUC intermediate result:", float(m.result()))
  m.update_state([1, 1, 1, 1], [0, 1, 1, 0])
  print("AUC final result:", float(m.result()))
  m.reset_state()


class DenseLike(nn.Module):
  """y = w.x + b, logging the mean of its activations (Keras' add_metric)."""

  features: int

  @nn.compact
  def __call__(self, inputs):
    output = nn.Dense(self.features)(inputs)
    jml.add_metric(self, jnp.mean(output), aggregation="mean",
                   name="activation_mean")
    return output


class MLP(nn.Module):

  @nn.compact
  def __call__(self, x):
    return nn.Dense(10)(nn.relu(DenseLike(32)(x)))


def train():
  """A small MLP on scikit-learn's digits; a metric collection in the TrainState."""
  digits = load_digits()
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

  model = MLP()
  params = model.init(jax.random.key(0), x_train[:1])["params"]
  # One collection, itself a metric: a dict state, updated in one call. The
  # loss Mean is fed the per-example losses passed as `loss=`; the AUC gets
  # one-hot labels and probabilities; the rest take y_true / y_pred.
  metrics = Collection({
      "loss": route(jm.Mean(), values="loss"),
      "accuracy": jm.SparseCategoricalAccuracy(),
      "top3": jm.SparseTopKCategoricalAccuracy(k=3),
      "auc": route(jm.AUC(), y_true="onehot", y_pred="probs"),
      "activation_mean": jml.recorded("activation_mean"),  # from add_metric
  })
  state = jml.TrainState.create(apply_fn=model.apply, params=params,
                                tx=optax.adam(1e-2), collection=metrics)

  def metric_inputs(logits, labels):
    return dict(y_true=labels, y_pred=logits, onehot=jax.nn.one_hot(labels, 10),
                probs=jax.nn.softmax(logits))

  @jax.jit
  def train_step(state, x, y):
    def loss_fn(params):
      logits, records = state.apply_fn({"params": params}, x,
                                       mutable=[jml.METRICS])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      return loss.mean(), (logits, loss, records)

    (_, (logits, loss, records)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads)
    return state.update_metrics(loss=loss, records=records,
                                **metric_inputs(logits, y))

  @jax.jit
  def eval_step(state, x, y):
    logits = state.apply_fn({"params": state.params}, x)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    return state.update_metrics(loss=loss, **metric_inputs(logits, y))

  def show(results):
    return " ".join(f"{k}={float(v):.4f}" for k, v in results.items())

  for epoch in range(5):
    state = state.reset_metrics()  # per-epoch reset: back to metrics.init()
    for start in range(0, len(x_train), 100):
      batch = slice(start, start + 100)
      state = train_step(state, x_train[batch], y_train[batch])
    print(f"epoch {epoch}: {show(state.compute_metrics())}")

  state = eval_step(state.reset_metrics(), x_test, y_test)
  results = state.compute_metrics()
  results.pop("activation_mean")  # nothing recorded: not a training pass
  print(f"test: {show(results)}")


if __name__ == "__main__":
  standalone()
  standalone_stateful()
  train()
