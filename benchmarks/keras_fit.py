"""What jmetrics' wrapped metrics cost Keras' train step, beside Keras' own.

    python -m benchmarks.keras_fit                 # 15 interleaved rounds
    python -m benchmarks.keras_fit --rounds 31

One digits model (an MLP, batches of 100, Adam, categorical crossentropy on
one-hot labels) is compiled once per metric set: without metrics, with each
of Keras' built-in AUC, categorical accuracy, top-3 accuracy, categorical
crossentropy, one-hot mean IoU and macro F1 alone, with its jmetrics twin
through `jmetrics.keras.wrap` alone, and with all six of either. Two
timings per model, each round running a built-in model and its twin back to
back, the pairs in a new order: Keras' own jitted train step
(``model.train_step`` under ``jax.jit`` with the state donated, as ``fit``
compiles it) called 340 times on device-resident batches, and ``fit`` over
the digits ten times (170 steps) for steps per second. The tables give the
medians, and the median over rounds of the wrapped model's time over the
built-in one's.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import jmetrics as jm  # noqa: E402
import jmetrics.keras  # noqa: E402

BATCH = 100
STEPS = 340


def twins():
  """``{name: (keras metric, jmetrics twin)}`` of one configuration each."""
  return {
      "AUC": (keras.metrics.AUC(name="auc"), jm.AUC(name="auc")),
      "CategoricalAccuracy": (keras.metrics.CategoricalAccuracy(name="accuracy"),
                              jm.CategoricalAccuracy(name="accuracy")),
      "TopKCategoricalAccuracy(k=3)": (
          keras.metrics.TopKCategoricalAccuracy(k=3, name="top3"),
          jm.TopKCategoricalAccuracy(k=3, name="top3")),
      "CategoricalCrossentropy": (
          keras.metrics.CategoricalCrossentropy(name="crossentropy"),
          jm.CategoricalCrossentropy(name="crossentropy")),
      "OneHotMeanIoU(10)": (keras.metrics.OneHotMeanIoU(num_classes=10, name="iou"),
                            jm.OneHotMeanIoU(num_classes=10, name="iou")),
      "F1Score(macro)": (keras.metrics.F1Score(average="macro", name="f1"),
                         jm.F1Score(average="macro", num_classes=10, name="f1")),
  }


def _model(metrics):
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((64,)),
                            keras.layers.Dense(128, activation="relu"),
                            keras.layers.Dense(10, activation="softmax")])
  model.compile("adam", "categorical_crossentropy", metrics=metrics)
  return model


def _data():
  x, y = load_digits(return_X_y=True)
  rows = len(x) // BATCH * BATCH
  x = (x[:rows] / 16).astype(np.float32)
  y = np.eye(10, dtype=np.float32)[y[:rows]]
  return x, y


def _train_step_timer(model, batches):
  """``() -> us per step`` of the model's jitted train step."""
  model.fit(*batches[0], batch_size=BATCH, epochs=1, verbose=0)  # builds it
  step = jax.jit(model.train_step, donate_argnums=0)
  state = model._get_jax_state(  # pylint: disable=protected-access
      trainable_variables=True, non_trainable_variables=True,
      optimizer_variables=True, metrics_variables=True)
  holder = [jax.tree.map(lambda a: a.copy(), state)]

  def run():
    state = holder[0]
    start = time.perf_counter()
    for i in range(STEPS):
      _, state = step(state, batches[i % len(batches)])
    jax.block_until_ready(state)
    holder[0] = state
    return (time.perf_counter() - start) / STEPS * 1e6

  run()
  return run


def _fit_timer(model, x, y):
  """``() -> steps per second`` of ``fit`` over the data."""
  x, y = np.tile(x, (10, 1)), np.tile(y, (10, 1))
  steps = len(x) // BATCH

  def run():
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return steps / (time.perf_counter() - start)

  run()
  return run


def _paired(timers: dict, pairs: list, rounds: int) -> dict:
  """``{key: [value per round]}``: each round runs every pair of keys back
  to back (in a random order within the pair, and the pairs in a new order),
  so that the two of a pair see the same machine, whose speed drifts."""
  values = {key: [] for key in timers}
  rng = random.Random(0)
  for _ in range(rounds):
    order = list(pairs)
    rng.shuffle(order)
    for pair in order:
      for key in rng.sample(pair, len(pair)):
        values[key].append(timers[key]())
  return values


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=15)
  args = parser.parse_args(argv)

  x, y = _data()
  batches = [(jax.device_put(x[i:i + BATCH]), jax.device_put(y[i:i + BATCH]))
             for i in range(0, len(x), BATCH)]
  pairs = twins()
  models = {("none", "none"): _model(None)}
  for name, (keras_metric, twin) in pairs.items():
    models[(name, "keras")] = _model([keras_metric])
    models[(name, "jmetrics")] = _model(jmetrics.keras.wrap([twin]))
  everything = twins()
  models[("all six", "keras")] = _model([k for k, _ in everything.values()])
  models[("all six", "jmetrics")] = _model(
      jmetrics.keras.wrap([j for _, j in everything.values()]))

  names = list(pairs) + ["all six"]
  twin_pairs = [((name, "keras"), (name, "jmetrics")) for name in names]
  step_us = _paired({key: _train_step_timer(model, batches)
                     for key, model in models.items()},
                    twin_pairs + [(("none", "none"),)], args.rounds)
  fit_keys = [("none", "none"), ("all six", "keras"), ("all six", "jmetrics")]
  fit_steps = _paired({key: _fit_timer(models[key], x, y) for key in fit_keys},
                      [tuple(fit_keys[1:]), fit_keys[:1]], args.rounds)

  print(f"# Keras' train step on the digits MLP (batches of {BATCH}), "
        f"{args.rounds} interleaved rounds; keras {keras.__version__}, "
        f"jax {jax.__version__}, {os.cpu_count()} CPUs, {jax.devices()[0].platform}")
  none = statistics.median(step_us[("none", "none")])
  print(f"no metrics: {none:.1f} us per step\n")
  print("| metrics | Keras' built-in, us/step | jmetrics.keras.wrap, us/step "
        "| wrapped / built-in (median of rounds) |")
  print("|---|---|---|---|")
  for name in names:
    keras_us, jm_us = step_us[(name, "keras")], step_us[(name, "jmetrics")]
    ratio = statistics.median(j / k for j, k in zip(jm_us, keras_us))
    print(f"| {name} | {statistics.median(keras_us):.1f} | "
          f"{statistics.median(jm_us):.1f} | {ratio:.3f}x |")
  print(f"\n`fit` steps per second (median), all six metrics, "
        f"{len(x) * 10 // BATCH} steps an epoch:\n")
  print("| model | steps/s | vs. Keras' built-in (median of rounds) |")
  print("|---|---|---|")
  for key in fit_keys:
    ratio = statistics.median(
        a / b for a, b in zip(fit_steps[key], fit_steps[("all six", "keras")]))
    label = "no metrics" if key[0] == "none" else f"all six, {key[1]}"
    print(f"| {label} | {statistics.median(fit_steps[key]):.0f} | {ratio:.3f}x |")


if __name__ == "__main__":
  main()
