"""jmetrics in Keras 3: wrapped metrics in compile, fit, evaluate, save and load.

Run: python examples/keras_fit.py [--epochs N]

A small Keras model on scikit-learn's digits is compiled with jmetrics
metrics through `jmetrics.keras.wrap`: ``"accuracy"`` by name (resolved as
``compile`` resolves it), an AUC, and a `jm.Collection` whose members are
reported under their own names. ``fit`` shows them in its progress lines and
``History``, ``EarlyStopping`` watches the validation AUC, ``evaluate``
returns them, and the saved model reloads with the same metrics.
"""

import argparse
import os
import pathlib
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jmetrics as jm  # noqa: E402
import jmetrics.keras  # noqa: E402  (imported on demand: keras is an extra)
import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402


def load_data():
  """Digits scaled to [0, 1], one-hot labels; 1,500 to train, 297 to test."""
  x, y = load_digits(return_X_y=True)
  x = (x / 16).astype(np.float32)
  y = np.eye(10, dtype=np.float32)[y]
  return x[:1500], y[:1500], x[1500:], y[1500:]


def make_model():
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((64,)),
                            keras.layers.Dense(64, activation="relu"),
                            keras.layers.Dense(10, activation="softmax")])
  model.compile(
      optimizer="adam", loss="categorical_crossentropy",
      metrics=jmetrics.keras.wrap([
          "accuracy",
          jm.AUC(name="auc"),
          jm.Collection([jm.TopKCategoricalAccuracy(k=3, name="top3"),
                         jm.F1Score(average="macro", num_classes=10, name="f1"),
                         jm.OneHotMeanIoU(num_classes=10, name="mean_iou")],
                        name="more"),
      ]))
  return model


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--epochs", type=int, default=5)
  args = parser.parse_args(argv)

  x, y, x_test, y_test = load_data()
  model = make_model()
  history = model.fit(
      x, y, batch_size=100, epochs=args.epochs, verbose=2,
      validation_data=(x_test, y_test),
      callbacks=[keras.callbacks.EarlyStopping(monitor="val_auc", mode="max",
                                               patience=2)])
  names = ["accuracy", "auc", "top3", "f1", "mean_iou"]
  print("\nepoch  " + "  ".join(f"{n:>9}" for n in names) + "   val_auc")
  for epoch in range(len(history.history["loss"])):
    values = "  ".join(f"{history.history[n][epoch]:9.4f}" for n in names)
    print(f"{epoch + 1:5d}  {values}  {history.history['val_auc'][epoch]:8.4f}")

  evaluated = model.evaluate(x_test, y_test, batch_size=100, return_dict=True,
                             verbose=0)
  print("\nevaluate:", {k: round(v, 4) for k, v in evaluated.items()})
  with tempfile.TemporaryDirectory() as directory:
    path = pathlib.Path(directory) / "digits.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)  # jmetrics.keras is imported
    again = reloaded.evaluate(x_test, y_test, batch_size=100, return_dict=True,
                              verbose=0)
  print("reloaded:", {k: round(v, 4) for k, v in again.items()})


if __name__ == "__main__":
  main()
