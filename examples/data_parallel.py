"""Data-parallel training with metrics synced across 8 devices (CPU here).

Each step runs under ``jax.shard_map`` over a mesh of 8 devices: every device
gets 1/8 of the batch, updates a fresh metric state with its rows, and
``sync`` merges the devices' states with state-sized all-reduces; the synced
batch state is then merged into the running, replicated one. The last batch
of an epoch is uneven: `pad_to_multiple` pads it to the usual batch size and
``masked_update`` leaves the padding out, so the same compiled step serves
every batch and the metrics equal those of the unpadded data exactly. The
script checks that against a plain single-device pass over the test set.

Run: python examples/data_parallel.py
"""

import os

# Eight host "devices" on a CPU; must happen before JAX starts.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, PartitionSpec as P  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import jmetrics as jm  # noqa: E402

from jmetrics import pad_to_multiple  # noqa: E402

BATCH = 128  # 16 rows per device
MESH = Mesh(np.array(jax.devices()), ("data",))

# Each metric with the model outputs it takes: name -> (metric, inputs).
METRICS = {
    "loss": (jm.Mean(), lambda out: (out["loss"],)),
    "accuracy": (jm.SparseCategoricalAccuracy(),
                 lambda out: (out["labels"], out["logits"])),
    "top3": (jm.SparseTopKCategoricalAccuracy(k=3),
             lambda out: (out["labels"], out["logits"])),
    "auc": (jm.AUC(num_thresholds=1000),
            lambda out: (out["one_hot"], out["probs"])),
    "f1_macro": (jm.F1Score(average="macro", num_classes=10),
                 lambda out: (out["one_hot"], out["probs"])),
}


def init_metrics():
  return {name: metric.init() for name, (metric, _) in METRICS.items()}


def compute_metrics(states):
  return {name: float(metric.compute(states[name]))
          for name, (metric, _) in METRICS.items()}


def init_params(key, sizes=(64, 64, 10)):
  params = []
  for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
    key, sub = jax.random.split(key)
    params.append((jax.random.normal(sub, (fan_in, fan_out)) / np.sqrt(fan_in),
                   jnp.zeros(fan_out)))
  return params


def forward(params, x, labels):
  """Model outputs, and everything the metrics read from them."""
  for w, b in params[:-1]:
    x = jax.nn.relu(x @ w + b)
  w, b = params[-1]
  logits = x @ w + b
  return {"logits": logits, "labels": labels,
          "loss": optax.softmax_cross_entropy_with_integer_labels(logits, labels),
          "probs": jax.nn.softmax(logits), "one_hot": jax.nn.one_hot(labels, 10)}


def update_metrics(states, out, mask):
  """Adds this device's rows (where ``mask``) of one global batch to ``states``.

  ``states`` is replicated; each device's batch state is synced before it
  is merged in, so the global batch is counted once.
  """
  new = {}
  for name, (metric, inputs) in METRICS.items():
    batch = metric.masked_update(metric.init(), *inputs(out), mask=mask)
    new[name] = metric.merge(states[name], metric.sync(batch, "data"))
  return new


optimizer = optax.adam(3e-3)


def _train_step(params, opt_state, states, x, labels, mask):
  # Mean loss over the real rows of the whole global batch.
  count = jax.lax.psum(jnp.sum(mask), "data")

  def loss_fn(p):
    out = forward(p, x, labels)
    return jnp.sum(jnp.where(mask, out["loss"], 0.0)) / count, out

  # Under shard_map the gradient with respect to replicated parameters is
  # already summed over the devices (the transpose of their implicit
  # broadcast), so it is the gradient of the global loss: no psum here.
  (_, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
  updates, opt_state = optimizer.update(grads, opt_state, params)
  params = optax.apply_updates(params, updates)
  return params, opt_state, update_metrics(states, out, mask)


def _eval_step(params, states, x, labels, mask):
  return update_metrics(states, forward(params, x, labels), mask)


# Replicated parameters and metric states in and out (P()); data rows
# sharded over the devices (P("data")).
train_step = jax.jit(jax.shard_map(
    _train_step, mesh=MESH, in_specs=(P(), P(), P(), P("data"), P("data"),
                                      P("data")), out_specs=(P(), P(), P())))
eval_step = jax.jit(jax.shard_map(
    _eval_step, mesh=MESH, in_specs=(P(), P(), P("data"), P("data"), P("data")),
    out_specs=P()))


def batches(x, y, size):
  """Batches of ``size`` rows; the uneven last one padded, with its mask."""
  for start in range(0, len(x), size):
    (bx, by), mask = pad_to_multiple(x[start:start + size], y[start:start + size],
                                     multiple=size)
    yield bx, by, mask


def main():
  digits = load_digits()  # bundled with scikit-learn: no download
  x = (digits.data / 16.0).astype(np.float32)
  y = digits.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(x))
  x, y = x[order], y[order]
  x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
  print(f"{jax.device_count()} devices; {len(x_train)} training rows in "
        f"batches of {BATCH} (the last one {len(x_train) % BATCH} rows, padded)")

  params = init_params(jax.random.key(0))
  opt_state = optimizer.init(params)
  for epoch in range(5):
    states = init_metrics()
    for bx, by, mask in batches(x_train, y_train, BATCH):
      params, opt_state, states = train_step(params, opt_state, states, bx, by,
                                             mask)
    results = compute_metrics(states)
    print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in
                                        results.items()))

  # The test set in one batch: 297 rows, padded to 304 for 8 devices.
  (tx, ty), mask = pad_to_multiple(x_test, y_test, multiple=jax.device_count())
  states = eval_step(params, init_metrics(), tx, ty, mask)
  results = compute_metrics(states)
  print(f"test ({len(x_test)} rows padded to {len(tx)}): "
        + " ".join(f"{k}={v:.4f}" for k, v in results.items()))

  # The same metrics on one device, without padding.
  out = jax.jit(forward)(params, x_test, y_test)
  single = {name: float(metric.compute(metric.update(metric.init(),
                                                     *inputs(out))))
            for name, (metric, inputs) in METRICS.items()}
  for name, value in single.items():
    np.testing.assert_allclose(results[name], value, rtol=1e-5, atol=1e-6,
                               err_msg=name)
  print("equal to one device on the unpadded test set: "
        + " ".join(f"{k}={v:.4f}" for k, v in single.items()))


if __name__ == "__main__":
  main()
