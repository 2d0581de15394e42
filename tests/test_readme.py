"""Every Python snippet in the README runs as pasted, and says what it gives."""

import pathlib
import re
import warnings

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_its_snippets():
  assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_as_pasted(index):
  namespace = {"__name__": f"readme_snippet_{index}"}
  with warnings.catch_warnings():
    warnings.simplefilter("error", DeprecationWarning)
    exec(compile(SNIPPETS[index], f"README.md snippet {index}", "exec"),  # pylint: disable=exec-used
         namespace)
  if "BinaryAccuracy()" in SNIPPETS[index]:
    # 3 of the 6 predictions thresholded at 0.5 match their labels.
    assert float(namespace["value"]) == 0.5
  if "sparse_top_k_categorical_accuracy" in SNIPPETS[index]:
    result = namespace["metrics"].compute(namespace["state"])
    labels, probs = np.asarray(namespace["labels"]), np.asarray(namespace["probs"])
    np.testing.assert_allclose(result["loss"], 0.7, rtol=1e-6)
    np.testing.assert_allclose(result["accuracy"],
                               np.mean(probs.argmax(-1) == labels), rtol=1e-6)
    top5 = np.argsort(-probs, -1)[:, :5]  # 3 classes: every label is in it
    np.testing.assert_allclose(
        result["sparse_top_k_categorical_accuracy"],
        np.mean([l in row for l, row in zip(labels, top5)]), rtol=1e-6)

  if "TensorBoardWriter" in SNIPPETS[index]:
    _check_the_logging_snippet(namespace)
  if "jmetrics.keras.wrap" in SNIPPETS[index]:
    _check_the_keras_snippet(namespace)


def _check_the_keras_snippet(namespace):
  model, x, y = namespace["model"], namespace["x"], namespace["y"]
  assert sorted(namespace["history"].history) == ["accuracy", "auc", "loss", "seen",
                                                  "top2"]
  evaluated = model.evaluate(x, y, return_dict=True, verbose=0)
  probs, labels = model.predict(x, verbose=0), y.argmax(-1)
  assert evaluated["seen"] == len(x)
  np.testing.assert_allclose(evaluated["accuracy"], np.mean(probs.argmax(-1) == labels))
  top2 = np.argsort(-probs, -1)[:, :2]
  np.testing.assert_allclose(evaluated["top2"],
                             np.mean([l in row for l, row in zip(labels, top2)]))


def _check_the_logging_snippet(namespace):
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  from jmetrics import logging as jlog  # pylint: disable=g-import-not-at-top
  logdir = pathlib.Path(namespace["logdir"])
  assert (logdir / "roc.png").stat().st_size > 0
  results = namespace["metrics"].compute(namespace["state"])
  history = jlog.History.load(logdir / "history.json")
  accumulator = event_accumulator.EventAccumulator(str(logdir))
  accumulator.Reload()
  assert accumulator.Tags()["tensors"] == ["train/auc/pr_curve"]
  for name, value in results.items():
    assert history.series(f"train/{name}")[0] == [0, 1]
    np.testing.assert_allclose(history[f"train/{name}"][-1], value, rtol=1e-6)
    last = accumulator.Scalars(f"train/{name}")[-1]
    assert last.step == 1
    np.testing.assert_allclose(last.value, value, rtol=1e-6)
