"""jmetrics.logging, checked as a user would: events read back by TensorBoard's reader.

Scalars are compared with ``compute()`` of the same state, PR curves with
counts taken from the definition in NumPy, histories with what was written
and with their own JSON round trip. The two-process run (only process 0
writes) is in `test_distributed`.
"""

import io
import json
import math
import pathlib
import subprocess
import sys
import threading
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import optax
import pytest
from flax import nnx
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

import jmetrics as jm
from jmetrics import linen as jml
from jmetrics import logging as jlog
from jmetrics import nnx as jnnx

RNG = np.random.default_rng(3)
N = 64
LABELS = RNG.integers(0, 3, N).astype(np.int32)
LOGITS = RNG.normal(size=(N, 3)).astype(np.float32)
BINARY = (LABELS == 0).astype(np.int32)
SCORES = jax.nn.sigmoid(LOGITS[:, 0])
MULTI_LABELS = RNG.integers(0, 2, (N, 2)).astype(np.int32)
MULTI_SCORES = RNG.uniform(size=(N, 2)).astype(np.float32)


def _collection():
  return jm.Collection({
      "loss": jm.route(jm.Mean(), values="loss"),
      "accuracy": jm.SparseCategoricalAccuracy(),
      "f1": jm.route(jm.F1Score(num_classes=3, average=None), y_true="onehot"),
      "confusion": jm.route(jm.ConfusionMatrix(num_classes=3), y_pred="predicted"),
      "auc": jm.route(jm.AUC(num_thresholds=200), y_true="binary", y_pred="score"),
      "auc_labels": jm.route(jm.AUC(multi_label=True, num_labels=2, num_thresholds=11),
                             y_true="multi_labels", y_pred="multi_scores"),
      "precision_at_recall": jm.route(jm.PrecisionAtRecall(0.5, num_thresholds=21),
                                      y_true="binary", y_pred="score"),
      "iou": jm.route(jm.MeanIoU(num_classes=3), y_pred="predicted"),
  })


def _inputs(rows=slice(None)):
  return dict(y_true=LABELS[rows], y_pred=jax.nn.softmax(LOGITS[rows]),
              onehot=jax.nn.one_hot(LABELS[rows], 3), predicted=LOGITS[rows].argmax(-1),
              binary=BINARY[rows], score=SCORES[rows], loss=LOGITS[rows, 0] ** 2,
              multi_labels=MULTI_LABELS[rows], multi_scores=MULTI_SCORES[rows])


def _read(logdir):
  accumulator = event_accumulator.EventAccumulator(
      str(logdir), size_guidance={event_accumulator.TENSORS: 0,
                                  event_accumulator.IMAGES: 0,
                                  event_accumulator.SCALARS: 0})
  accumulator.Reload()
  return accumulator


def _scalars(accumulator):
  return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()["scalars"]}


def _expected_scalars(results, prefix=""):
  """``{tag: value}``: scalars by name, vectors as ``name/i``, no matrices."""
  out = {}
  for name, value in results.items():
    value = np.asarray(value)
    if value.ndim == 0:
      out[prefix + name] = float(value)
    elif value.ndim == 1:
      out.update({f"{prefix}{name}/{i}": float(v) for i, v in enumerate(value)})
  return out


def test_every_scalar_of_every_step_reads_back_as_compute_gives(tmp_path):
  metrics = _collection()
  state, expected = metrics.init(), {}
  with jlog.TensorBoardWriter(tmp_path) as writer:
    for step in range(4):
      rows = slice(16 * step, 16 * step + 16)
      state = metrics.update(state, **_inputs(rows))
      writer.write(step, metrics, state, prefix="train/")
      for tag, value in _expected_scalars(metrics.compute(state), "train/").items():
        expected.setdefault(tag, []).append((step, value))
  got = _scalars(_read(tmp_path))
  assert sorted(got) == sorted(expected)
  assert "train/f1/2" in got and not any(t.startswith("train/confusion") for t in got)
  for tag, series in expected.items():
    assert [s for s, _ in got[tag]] == [s for s, _ in series], tag
    # The writer computes under jit: XLA may round the last bit differently.
    np.testing.assert_allclose([v for _, v in got[tag]], [v for _, v in series],
                               rtol=3e-7, err_msg=tag)


def _numpy_counts(labels, scores, thresholds):
  """TP, FP, TN, FN of ``score > threshold`` at each threshold, from the definition."""
  above = scores[:, None] > np.asarray(thresholds)[None, :]
  positive = labels[:, None].astype(bool)
  return np.stack([np.sum(above & positive, 0), np.sum(above & ~positive, 0),
                   np.sum(~above & ~positive, 0), np.sum(~above & positive, 0)])


def _pr_curve(accumulator, tag):
  (event,) = accumulator.Tensors(tag)
  return event.step, tensor_util.make_ndarray(event.tensor_proto)


def test_pr_curves_are_tensorboard_pr_curves_with_the_counts_of_the_data(tmp_path):
  metrics = _collection()
  state = metrics.update(metrics.init(), **_inputs())
  with jlog.TensorBoardWriter(tmp_path) as writer:
    writer.write_summaries(7, metrics, state, prefix="val/")
  accumulator = _read(tmp_path)
  assert sorted(accumulator.Tags()["tensors"]) == [
      "val/auc/pr_curve", "val/auc_labels/pr_curve/0", "val/auc_labels/pr_curve/1",
      "val/precision_at_recall/pr_curve"]
  assert accumulator.SummaryMetadata("val/auc/pr_curve").plugin_data.plugin_name == (
      "pr_curves")
  cases = [("val/auc/pr_curve", metrics["auc"].metric, BINARY, np.asarray(SCORES)),
           ("val/precision_at_recall/pr_curve", metrics["precision_at_recall"].metric,
            BINARY, np.asarray(SCORES))]
  cases += [(f"val/auc_labels/pr_curve/{j}", metrics["auc_labels"].metric,
             MULTI_LABELS[:, j], MULTI_SCORES[:, j]) for j in range(2)]
  for tag, metric, labels, scores in cases:
    step, data = _pr_curve(accumulator, tag)
    assert step == 7 and data.shape == (6, metric.num_thresholds), (tag, data.shape)
    tp, fp, tn, fn = _numpy_counts(labels, scores, metric.grid.values)
    np.testing.assert_array_equal(data[:4], [tp, fp, tn, fn], err_msg=tag)
    with np.errstate(invalid="ignore", divide="ignore"):
      precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
      recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
    np.testing.assert_allclose(data[4], precision, rtol=1e-6, err_msg=tag)
    np.testing.assert_allclose(data[5], recall, rtol=1e-6, err_msg=tag)


def test_curves_and_confusion_matrices_are_written_as_images(tmp_path):
  metrics = _collection()
  state = metrics.update(metrics.init(), **_inputs())
  with jlog.TensorBoardWriter(tmp_path, class_names=["a", "b", "c"]) as writer:
    writer.write_summaries(1, metrics, state)
    writer.write_summaries(2, metrics, state, images=False)
  accumulator = _read(tmp_path)
  assert sorted(accumulator.Tags()["images"]) == [
      "auc/pr_image", "auc/roc_image", "auc_labels/pr_image", "auc_labels/roc_image",
      "confusion/image", "iou/image", "precision_at_recall/pr_image",
      "precision_at_recall/roc_image"]
  for tag in accumulator.Tags()["images"]:
    (event,) = accumulator.Images(tag)  # images=False wrote none at step 2
    pixels = matplotlib.image.imread(io.BytesIO(event.encoded_image_string))
    assert event.step == 1 and pixels.shape == (event.height, event.width, 3)
    assert pixels.std() > 0.01, f"{tag} is blank"
  assert [e.step for e in accumulator.Tensors("auc/pr_curve")] == [1, 2]


def _linen_setup():
  class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
      return nn.Dense(3)(x)

  model = MLP()
  params = model.init(jax.random.key(0), LOGITS[:1])["params"]
  collection = jm.Collection([jm.route(jm.Mean(name="loss"), values="loss"),
                              jm.SparseCategoricalAccuracy(name="accuracy"),
                              jm.Max(name="largest_loss", )])
  state = jml.TrainState.create(apply_fn=model.apply, params=params,
                                tx=optax.sgd(0.1), collection=collection)

  def train_step(state, x, y):
    def loss_fn(params):
      logits = state.apply_fn({"params": params}, x)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
      return loss.mean(), (logits, loss)
    (_, (logits, loss)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads)
    return state.update_metrics(y_true=y, y_pred=logits, loss=loss, values=loss)

  return state, train_step


def test_a_donating_linen_train_step_logs_every_step(tmp_path):
  # The next step donates the state the writer was given: the values it
  # writes are still those of the step (Max's result is a state leaf).
  state, train_step = _linen_setup()
  train_step = jax.jit(train_step, donate_argnums=0)
  expected, history = {}, jlog.History()
  with jlog.TensorBoardWriter(tmp_path) as writer:
    for step in range(6):
      rows = slice(8 * step, 8 * step + 8)
      state = train_step(state, LOGITS[rows], LABELS[rows])
      writer.write(state.step, state, prefix="train/")
      history.write(state.step, state, prefix="train/")
      for tag, value in _expected_scalars(state.compute_metrics(), "train/").items():
        expected.setdefault(tag, []).append((step + 1, value))
  got = _scalars(_read(tmp_path))
  assert sorted(got) == ["train/accuracy", "train/largest_loss", "train/loss"]
  for tag, series in expected.items():
    np.testing.assert_allclose(got[tag], series, rtol=1e-6, err_msg=tag)
    steps, values = history.series(tag)
    np.testing.assert_allclose(np.stack([steps, values], 1), series, rtol=1e-6)


def test_nnx_stateful_and_results_sources_write_the_same_scalars(tmp_path):
  accuracy = jm.SparseCategoricalAccuracy(name="accuracy")
  state = accuracy.update(accuracy.init(), LABELS, LOGITS)
  expected = float(accuracy.compute(state))
  wrapped = jnnx.NNXMetric(accuracy)
  wrapped.update(y_true=LABELS, y_pred=LOGITS)
  multi = jnnx.MultiMetric(accuracy=accuracy, loss=nnx.metrics.Average())
  multi.update(y_true=LABELS, y_pred=LOGITS, values=jnp.array([1.0, 2.0]))
  stateful = jm.Stateful(accuracy)
  stateful.update_state(LABELS, LOGITS)
  sources = {"pair": (accuracy, state), "nnx": (wrapped,), "multi": (multi,),
             "stateful": (stateful,), "results": ({"accuracy": expected},)}
  with jlog.TensorBoardWriter(tmp_path) as writer:
    for name, source in sources.items():
      writer.write(0, *source, prefix=f"{name}/")
  got = {tag: series[0][1] for tag, series in _scalars(_read(tmp_path)).items()}
  assert got == pytest.approx({f"{name}/accuracy": expected for name in sources}
                              | {"multi/loss": 1.5})


def test_writes_return_while_the_disk_is_stuck(tmp_path):
  writer = jlog.TensorBoardWriter(tmp_path)
  release, entered = threading.Event(), threading.Event()
  write_records = writer._events.write  # pylint: disable=protected-access

  def stuck(*args, **kwargs):
    entered.set()
    release.wait(timeout=30)
    return write_records(*args, **kwargs)

  writer._events.write = stuck  # pylint: disable=protected-access
  metric = jm.Mean(name="loss")
  state = metric.init()
  for step in range(300):  # several batches of writes reach the background
    state = metric.update(state, jnp.array([float(step)]))
    writer.write(step, metric, state)
    if step == 100:
      assert entered.wait(timeout=30)  # the first batch is stuck on the disk
  assert not release.is_set()  # every write above returned with the disk stuck
  release.set()
  writer.close()
  (series,) = _scalars(_read(tmp_path)).values()
  assert [s for s, _ in series] == list(range(300))
  np.testing.assert_allclose([v for _, v in series], np.arange(300) / 2)


def test_a_failed_background_write_raises_at_the_next_call(tmp_path):
  writer = jlog.TensorBoardWriter(tmp_path)

  def broken(*args, **kwargs):
    raise OSError("disk full")

  writer._events.write = broken  # pylint: disable=protected-access
  writer.write(0, {"loss": 1.0})
  with pytest.raises(RuntimeError, match="TensorBoardWriter: writing in the "
                     "background failed: disk full"):
    writer.flush()
  writer.close()
  with pytest.raises(ValueError, match="is closed"):
    writer.write(1, {"loss": 1.0})


def test_bad_sources_and_steps_are_named():
  metric = jm.Mean()
  history = jlog.History()
  with pytest.raises(TypeError, match="Mean 'mean': a metric needs its state"):
    history.write(0, metric)
  with pytest.raises(TypeError, match="a state goes with a jmetrics metric"):
    history.write(0, {"loss": 1.0}, metric.init())
  with pytest.raises(TypeError, match="expected a metric and its state.*got int"):
    history.write(0, 3)
  with pytest.raises(ValueError, match="step must be an integer, got 1.5"):
    history.write(1.5, {"loss": 1.0})
  with pytest.raises(ValueError, match=r"step must be an integer scalar, got float32\[\]"):
    history.write(jnp.float32(1), {"loss": 1.0})


def test_other_processes_write_nothing(tmp_path, monkeypatch):
  monkeypatch.setattr(jlog, "_is_writer_process", lambda: False)
  metric = jm.Mean()
  state = metric.update(metric.init(), jnp.array([1.0]))
  writer = jlog.TensorBoardWriter(tmp_path / "events")
  writer.write(0, metric, state)
  writer.write_summaries(0, metric, state)
  writer.close()
  history = jlog.History()
  history.write(0, metric, state)
  history.save(tmp_path / "history.json")
  sink = io.StringIO()
  with jlog.ProgressBar(total=1, file=sink) as bar:
    bar.update(metric, state)
  assert list(tmp_path.iterdir()) == [] and sink.getvalue() == ""
  assert history["mean"] == [1.0]  # it still records: every process may read it


def test_scalars_packed_in_a_jitted_step_write_what_compute_gives(tmp_path):
  metrics = _collection()

  @jax.jit
  def step(state, inputs):
    state = metrics.update(state, **inputs)
    return state, jlog.scalars(metrics.compute(state), prefix="train/")

  state, expected, history = metrics.init(), {}, jlog.History()
  with jlog.TensorBoardWriter(tmp_path) as writer, jlog.ProgressBar(
      total=4, file=io.StringIO(), refresh_seconds=0.0) as bar:
    for i in range(4):
      state, packed = step(state, _inputs(slice(16 * i, 16 * i + 16)))
      writer.write(i, packed)
      history.write(i, packed)
      bar.update(packed)
      for tag, value in _expected_scalars(metrics.compute(state), "train/").items():
        expected.setdefault(tag, []).append((i, value))
  assert packed.values.shape == (len(expected),)  # one array for every scalar
  got = _scalars(_read(tmp_path))
  assert sorted(got) == sorted(expected) and "train/confusion" not in history.history
  for tag, series in expected.items():
    np.testing.assert_allclose(got[tag], series, rtol=3e-7, err_msg=tag)
    np.testing.assert_allclose(np.stack(history.series(tag), 1), series, rtol=3e-7)
  assert bar.values == pytest.approx({t: s[-1][1] for t, s in expected.items()
                                      if t.count("/") == 1}, rel=3e-7)


def test_scalar_events_read_back_exactly_at_every_step_size_and_value(tmp_path):
  # Steps whose encodings take 1 to 9 bytes, float32 values including the
  # non-finite, the signed zero and the subnormal, over several batches.
  steps = [0, 1, 127, 128, 16_383, 16_384, 2**31 + 5, 2**40, 2**62]
  special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38, -1.5],
                     np.float32)
  rng = np.random.default_rng(3)
  steps += [2**62 + i for i in range(1, 200)]
  rows = [np.roll(special, i) if i < len(special) else
          rng.standard_normal(7).astype(np.float32) for i in range(len(steps))]
  layout = (("loss", 0), ("auc", 0), ("f1", 3), ("accuracy", 0), ("n", 0))
  start = time.time()
  with jlog.TensorBoardWriter(tmp_path) as writer:
    for step, row in zip(steps, rows):
      writer.write(step, jlog.Scalars(jnp.asarray(row), layout))
  accumulator = _read(tmp_path)
  tags = ["loss", "auc", "f1/0", "f1/1", "f1/2", "accuracy", "n"]
  assert sorted(accumulator.Tags()["scalars"]) == sorted(tags)
  for j, tag in enumerate(tags):
    events = accumulator.Scalars(tag)
    assert [e.step for e in events] == steps, tag
    got = np.array([e.value for e in events], np.float32)
    # Bit for bit: what was written is what TensorBoard reads.
    np.testing.assert_array_equal(got.view(np.uint32),
                                  np.array([r[j] for r in rows]).view(np.uint32))
    assert all(start - 1 <= e.wall_time <= time.time() + 1 for e in events)


# -- History ---------------------------------------------------------------------


def test_history_keeps_per_class_values_and_joins_a_step(tmp_path):
  metrics = _collection()
  history = jlog.History()
  states = []
  for epoch in range(3):
    train = metrics.update(metrics.init(), **_inputs(slice(0, 32 + epoch)))
    val = metrics.update(metrics.init(), **_inputs(slice(32, None)))
    history.write(epoch, metrics, train, prefix="train/")
    history.write(epoch, metrics, val, prefix="val/")
    states.append((train, val))
  assert len(history) == 3 and [r["step"] for r in history.records] == [0, 1, 2]
  for epoch, (train, val) in enumerate(states):
    values = history.records[epoch]["values"]
    for prefix, state in (("train/", train), ("val/", val)):
      for name, value in metrics.compute(state).items():
        np.testing.assert_allclose(values[prefix + name], np.asarray(value),
                                   rtol=1e-6, err_msg=prefix + name)
  assert np.shape(history["val/confusion"][0]) == (3, 3)
  assert "val/f1/2" in history.names and "val/confusion/0" not in history.names
  steps, values = history.series("train/f1/1")
  assert steps == [0, 1, 2]
  np.testing.assert_allclose(values, [np.asarray(metrics.compute(t)["f1"])[1]
                                      for t, _ in states], rtol=1e-6)
  with pytest.raises(KeyError, match="History has no series 'train/f1/7'"):
    history.series("train/f1/7")
  with pytest.raises(KeyError, match="History has no 'loss'"):
    history["loss"]  # pylint: disable=pointless-statement

  path = tmp_path / "history.json"
  history.save(path)
  loaded = jlog.History.load(path)
  assert loaded == history and loaded.records == history.records


def test_history_json_is_strict_and_keeps_non_finite_values(tmp_path):
  history = jlog.History()
  history.write(0, {"loss": jnp.float32(jnp.nan), "big": jnp.float32(jnp.inf),
                    "count": jnp.int32(3), "per_class": jnp.array([1.0, -jnp.inf])})
  text = history.to_json()
  document = json.loads(text, parse_constant=lambda c: pytest.fail(f"not strict: {c}"))
  assert document["records"][0]["values"] == {
      "loss": "NaN", "big": "Infinity", "count": 3, "per_class": [1.0, "-Infinity"]}
  loaded = jlog.History.from_json(text)
  assert loaded == history
  values = loaded.records[0]["values"]
  assert math.isnan(values["loss"]) and values["big"] == math.inf
  assert values["per_class"] == [1.0, -math.inf] and values["count"] == 3
  with pytest.raises(ValueError, match="not a jmetrics history"):
    jlog.History.from_json('{"records": []}')
  with pytest.raises(ValueError, match="unexpected value 'nan'"):
    jlog.History.from_json(text.replace('"NaN"', '"nan"'))


# -- progress bar ------------------------------------------------------------------


def test_the_progress_bar_shows_the_last_values_and_computes_rarely(monkeypatch):
  dispatched = []
  results = jlog._results  # pylint: disable=protected-access

  def counting(*args):
    dispatched.append(args)
    return results(*args)

  monkeypatch.setattr(jlog, "_results", counting)
  metrics = jm.Collection([jm.Mean(name="loss"),
                           jm.F1Score(num_classes=2, average=None)])
  state = metrics.init()
  sink = io.StringIO()
  bar = jlog.ProgressBar(total=100, desc="epoch 0", file=sink, refresh_seconds=3600)
  for step in range(100):
    state = metrics.update(state, values=jnp.array([step / 100]),
                           y_true=jnp.array([[1, 0]]), y_pred=jnp.array([[0.8, 0.2]]))
    bar.update(metrics, state, prefix="train/")
  assert len(dispatched) == 1  # the first update; the next refresh is an hour away
  values = bar.close()
  assert len(dispatched) == 2  # close: the last update's values, once
  assert values == pytest.approx({"train/loss": 0.495})  # vectors are not shown
  assert "100/100" in sink.getvalue() and "train/loss=0.495" in sink.getvalue()


def test_the_progress_bar_never_waits_for_a_value_not_ready(monkeypatch):
  monkeypatch.setattr(jlog, "_ready", lambda results: False)
  metric = jm.Mean(name="loss")
  state = metric.init()
  bar = jlog.ProgressBar(total=3, file=io.StringIO(), refresh_seconds=0.0)
  for loss in (1.0, 2.0, 3.0):
    state = metric.update(state, jnp.array([loss]))
    bar.update(metric, state)
    assert bar.values == {}  # the first compute is never ready: nothing shown
  assert bar.close() == {"loss": 2.0}


# -- without the extras --------------------------------------------------------------

_WITHOUT_EXTRAS = r"""
import sys

class Block:
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in ("tensorboardX", "tqdm", "matplotlib"):
      raise ImportError(f"No module named {name!r} (blocked)")

sys.meta_path.insert(0, Block())
import jmetrics as jm
from jmetrics import logging as jlog
from jmetrics import plot

metric = jm.AUC(num_thresholds=3)
state = metric.update(metric.init(), [0, 1], [0.2, 0.8])
history = jlog.History()
history.write(0, metric, state)
assert history["auc"] == [1.0]
for make in (lambda: jlog.TensorBoardWriter("unused"),
             lambda: jlog.ProgressBar(total=1),
             lambda: plot.curves(metric, state)):
  try:
    make()
  except ImportError as error:
    print(error)
  else:
    raise AssertionError("no ImportError")
"""


def test_without_the_extras_jmetrics_imports_and_first_use_names_the_extra():
  out = subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS], capture_output=True,
                       text=True, timeout=120, check=True).stdout.splitlines()
  assert out == [
      "TensorBoardWriter needs tensorboardX, which is not installed: "
      "pip install 'jmetrics[logging]'",
      "ProgressBar needs tqdm, which is not installed: pip install 'jmetrics[logging]'",
      "jmetrics.plot.curves needs matplotlib, which is not installed: "
      "pip install 'jmetrics[plot]'"]


# -- the demo ------------------------------------------------------------------------


def test_the_quickstart_writes_events_history_and_pngs(tmp_path):
  root = pathlib.Path(__file__).resolve().parents[1]
  subprocess.run([sys.executable, "examples/quickstart.py", "--logdir", str(tmp_path),
                  "--epochs", "2"], cwd=root, check=True, capture_output=True,
                 timeout=300)
  history = jlog.History.load(tmp_path / "history.json")
  assert [r["step"] for r in history.records] == [0, 1]
  accumulator = _read(tmp_path)
  tags = accumulator.Tags()
  names = ["loss", "accuracy", "top3", "auc"]
  assert {f"{s}/{n}" for s in ("train", "test") for n in names} <= set(tags["scalars"])
  for tag in [f"{s}/{n}" for s in ("train", "test") for n in names]:
    steps, values = history.series(tag)
    got = accumulator.Scalars(tag)
    assert [e.step for e in got] == steps == [0, 1]
    np.testing.assert_allclose([e.value for e in got], values, rtol=1e-6, err_msg=tag)
  assert tags["tensors"] == ["test/auc/pr_curve"]
  assert sorted(tags["images"]) == ["test/auc/pr_image", "test/auc/roc_image",
                                    "test/confusion/image"]
  # The confusion matrix counts every test digit once.
  confusion = np.asarray(history["test/confusion"][-1])
  assert confusion.shape == (10, 10) and confusion.sum() == 297
  for name in ("roc_curve", "pr_curve", "confusion_matrix", "history"):
    pixels = matplotlib.image.imread(tmp_path / f"{name}.png")
    assert pixels.ndim == 3 and pixels.std() > 0.01, name
