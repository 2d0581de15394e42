"""jmetrics in five minutes: standalone use, then metrics inside a jitted train step.

Run: python examples/quickstart.py
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import jmetrics as jm  # noqa: E402


def standalone():
  """The Keras page's standalone snippet, functionally: state in, state out."""
  m = jm.BinaryAccuracy()
  state = m.init()
  state = m.update(state, [0, 1, 1, 1], [0, 1, 0, 0])
  print("Intermediate result:", float(m.compute(state)))
  state = m.update(state, [1, 1, 1, 1], [0, 1, 1, 0])
  print("Final result:", float(m.compute(state)))


def train():
  """A softmax classifier on scikit-learn's digits, metrics updated under jit."""
  digits = load_digits()
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

  loss_metric = jm.Mean(name="loss")
  accuracy = jm.SparseCategoricalAccuracy()
  top3 = jm.SparseTopKCategoricalAccuracy(k=3)
  optimizer = optax.adam(1e-2)
  params = {"w": jnp.zeros((64, 10)), "b": jnp.zeros(10)}
  opt_state = optimizer.init(params)

  def logits_fn(params, x):
    return x @ params["w"] + params["b"]

  @jax.jit
  def train_step(params, opt_state, states, x, y):
    def loss_fn(params):
      logits = logits_fn(params, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state)
    loss_state, acc_state = states
    states = (loss_metric.update(loss_state, loss),
              accuracy.update(acc_state, y, logits))
    return optax.apply_updates(params, updates), opt_state, states

  @jax.jit
  def eval_step(params, state, x, y):
    return top3.update(state, y, logits_fn(params, x))

  for epoch in range(5):
    states = (loss_metric.init(), accuracy.init())  # reset per epoch
    for start in range(0, len(x_train), 100):
      batch = slice(start, start + 100)
      params, opt_state, states = train_step(params, opt_state, states,
                                             x_train[batch], y_train[batch])
    print(f"epoch {epoch}: loss={float(loss_metric.compute(states[0])):.4f} "
          f"accuracy={float(accuracy.compute(states[1])):.4f}")

  eval_state = eval_step(params, top3.init(), x_test, y_test)
  print(f"test top-3 accuracy: {float(top3.compute(eval_state)):.4f}")


if __name__ == "__main__":
  standalone()
  train()
