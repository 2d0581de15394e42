"""jmetrics in five minutes: standalone use, then a metric collection in a Flax train loop.

Run: python examples/quickstart.py [--logdir DIR] [--epochs N]

The training loop shows a progress bar per epoch, writes TensorBoard events
(every metric per epoch, PR curves, a confusion-matrix image), a
``history.json`` and PNGs of the ROC and PR curves, the confusion matrix
and the metrics over the epochs into DIR (by default a new directory under
``runs/``, printed at the start). Open them with ``tensorboard --logdir DIR``.
"""

import argparse
import datetime
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import jmetrics as jm  # noqa: E402
from jmetrics import linen as jml  # noqa: E402  (Flax integration, on demand)
from jmetrics import logging as jlog  # noqa: E402  (history, progress, TensorBoard)
from jmetrics import plot  # noqa: E402  (matplotlib figures of metric states)

from jmetrics import Collection, Stateful, route  # noqa: E402

DIGITS = [str(d) for d in range(10)]


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


def load_data():
  """scikit-learn's digits (they ship with it): 1500 to train, 297 to test."""
  digits = load_digits()
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  return x[:1500], y[:1500], x[1500:], y[1500:]


def make_metrics():
  """One collection, itself a metric: a dict state, updated in one call.

  The loss Mean is fed the per-example losses passed as ``loss=``; the AUC
  gets one-hot labels and probabilities, the confusion matrix the predicted
  classes; the rest take y_true / y_pred.
  """
  return Collection({
      "loss": route(jm.Mean(), values="loss"),
      "accuracy": jm.SparseCategoricalAccuracy(),
      "top3": jm.SparseTopKCategoricalAccuracy(k=3),
      "auc": route(jm.AUC(), y_true="onehot", y_pred="probs"),
      "confusion": route(jm.ConfusionMatrix(num_classes=10), y_pred="predicted"),
      "activation_mean": jml.recorded("activation_mean"),  # from add_metric
  })


def make_steps():
  """The model, its first train state and the jitted train and eval steps."""
  model = MLP()
  params = model.init(jax.random.key(0), jnp.zeros((1, 64)))["params"]
  state = jml.TrainState.create(apply_fn=model.apply, params=params,
                                tx=optax.adam(1e-2), collection=make_metrics())

  def metric_inputs(logits, labels):
    return dict(y_true=labels, y_pred=logits, onehot=jax.nn.one_hot(labels, 10),
                probs=jax.nn.softmax(logits), predicted=jnp.argmax(logits, -1))

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

  return state, train_step, eval_step


def show(results):
  """The scalar results on one line (the confusion matrix is a table)."""
  return " ".join(f"{k}={float(v):.4f}" for k, v in results.items()
                  if np.ndim(v) == 0)


def train(logdir, epochs=5):
  """A small MLP on the digits, its metrics watched as it trains."""
  x_train, y_train, x_test, y_test = load_data()
  state, train_step, eval_step = make_steps()
  history = jlog.History()
  batches = range(0, len(x_train), 100)
  with jlog.TensorBoardWriter(logdir, class_names=DIGITS) as writer:
    for epoch in range(epochs):
      state = state.reset_metrics()  # per-epoch reset: back to metrics.init()
      with jlog.ProgressBar(total=len(batches), desc=f"epoch {epoch}") as bar:
        for start in batches:
          batch = slice(start, start + 100)
          state = train_step(state, x_train[batch], y_train[batch])
          bar.update(state)  # values refreshed twice a second, never waited for
      print(f"epoch {epoch}: {show(state.compute_metrics())}")
      test = eval_step(state.reset_metrics(), x_test, y_test)
      for split, split_state in (("train/", state), ("test/", test)):
        writer.write(epoch, split_state, prefix=split)
        history.write(epoch, split_state, prefix=split)
      writer.write_summaries(epoch, test, prefix="test/")  # PR curves, images
  results = test.compute_metrics()
  results.pop("activation_mean")  # nothing recorded: not a training pass
  print(f"test: {show(results)}")
  history.save(logdir / "history.json")
  save_figures(logdir, history, state, test)


def save_figures(logdir, history, train_state, test_state):
  """PNGs of the last epoch's curves and confusion matrix, and the history."""
  auc = train_state.collection["auc"].metric
  states = [train_state.metrics["auc"], test_state.metrics["auc"]]
  for curve in ("ROC", "PR"):
    figure, _ = plot.curves(auc, states, curve=curve, labels=["train", "test"])
    figure.savefig(logdir / f"{curve.lower()}_curve.png", dpi=100)
  figure, _ = plot.confusion_matrix(
      test_state.collection["confusion"].metric, test_state.metrics["confusion"],
      class_names=DIGITS, normalize="true", title="test confusion matrix")
  figure.savefig(logdir / "confusion_matrix.png", dpi=100)
  figure, _ = plot.history(history, ["train/accuracy", "test/accuracy",
                                     "train/auc", "test/auc"])
  figure.savefig(logdir / "history.png", dpi=100)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--logdir", type=pathlib.Path, default=None,
                      help="where the events, history.json and PNGs go "
                      "(default: a new directory under runs/)")
  parser.add_argument("--epochs", type=int, default=5)
  args = parser.parse_args(argv)
  logdir = args.logdir or pathlib.Path("runs") / datetime.datetime.now().strftime(
      "quickstart-%Y%m%d-%H%M%S")
  logdir.mkdir(parents=True, exist_ok=True)
  print(f"Logging to {logdir} (view with: tensorboard --logdir {logdir})")
  standalone()
  standalone_stateful()
  train(logdir, args.epochs)
  print(f"Wrote {sorted(p.name for p in logdir.iterdir())} to {logdir}")


if __name__ == "__main__":
  main()
