"""What jmetrics' wrapped metrics cost Keras' ``fit``, beside Keras' own.

    python -m benchmarks.keras_fit                 # 11 interleaved rounds
    python -m benchmarks.keras_fit --rounds 21 --epochs 2

Three copies of one digits model (an MLP, batches of 100, Adam, categorical
crossentropy on one-hot labels; the digits ten times over an epoch) are compiled: without metrics, with Keras'
built-in AUC, categorical accuracy, top-3 accuracy, categorical
crossentropy, one-hot mean IoU and macro F1, and with their jmetrics twins
through `jmetrics.keras.wrap`. After a warm-up fit compiles every train
step, each round fits each model for ``--epochs`` epochs, in a new order
each round; the table gives the median steps per second and the median of
the wrapped model's time over the built-in one's in the same round.
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


def keras_metrics():
  return [keras.metrics.AUC(name="auc"),
          keras.metrics.CategoricalAccuracy(name="accuracy"),
          keras.metrics.TopKCategoricalAccuracy(k=3, name="top3"),
          keras.metrics.CategoricalCrossentropy(name="crossentropy"),
          keras.metrics.OneHotMeanIoU(num_classes=10, name="mean_iou"),
          keras.metrics.F1Score(average="macro", name="f1")]


def jmetrics_metrics():
  return jmetrics.keras.wrap([
      jm.AUC(name="auc"), jm.CategoricalAccuracy(name="accuracy"),
      jm.TopKCategoricalAccuracy(k=3, name="top3"),
      jm.CategoricalCrossentropy(name="crossentropy"),
      jm.OneHotMeanIoU(num_classes=10, name="mean_iou"),
      jm.F1Score(average="macro", num_classes=10, name="f1")])


def _model(metrics):
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((64,)),
                            keras.layers.Dense(128, activation="relu"),
                            keras.layers.Dense(10, activation="softmax")])
  model.compile("adam", "categorical_crossentropy", metrics=metrics)
  return model


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=11)
  parser.add_argument("--epochs", type=int, default=1)
  args = parser.parse_args(argv)

  x, y = load_digits(return_X_y=True)
  rows = len(x) // BATCH * BATCH
  # The digits ten times over: an epoch long enough that fit's own
  # per-epoch work does not hide the steps.
  x = np.tile((x[:rows] / 16).astype(np.float32), (10, 1))
  y = np.tile(np.eye(10, dtype=np.float32)[y[:rows]], (10, 1))
  rows *= 10
  steps = rows // BATCH * args.epochs
  models = {"no metrics": _model(None), "Keras' metrics": _model(keras_metrics()),
            "jmetrics.keras.wrap twins": _model(jmetrics_metrics())}

  def fit(model):
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=args.epochs, shuffle=False, verbose=0)
    return time.perf_counter() - start

  for model in models.values():  # compiles every train step
    fit(model)
  seconds = {name: [] for name in models}
  order = list(models)
  shuffle = random.Random(0).shuffle
  for _ in range(args.rounds):
    shuffle(order)
    for name in order:
      seconds[name].append(fit(models[name]))
  ratios = [j / k for j, k in zip(seconds["jmetrics.keras.wrap twins"],
                                  seconds["Keras' metrics"])]

  print(f"# Keras fit on the digits MLP, {steps} steps a round, {args.rounds} "
        f"interleaved rounds; keras {keras.__version__}, jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs, {jax.devices()[0].platform}")
  print("| model | steps/s (median) |")
  print("|---|---|")
  for name, values in seconds.items():
    print(f"| {name} | {steps / statistics.median(values):.0f} |")
  print(f"\nwrapped twins' fit time / Keras' metrics' fit time, median of "
        f"rounds: {statistics.median(ratios):.3f}x")


if __name__ == "__main__":
  main()
