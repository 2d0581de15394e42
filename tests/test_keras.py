"""`jmetrics.keras`: wrapped metrics inside Keras 3's compile, fit and evaluate.

The oracle is Keras itself: its built-in metrics in the same compile as
their wrapped jmetrics twins, its ``compile`` resolving ``"accuracy"``, its
callbacks and TensorBoard's event reader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

import jmetrics as jm
import jmetrics.keras as jk
from keras.src.trainers import compile_utils
from tests import catalogue

BATCH = 88  # divisible by the 8 devices of the data-parallel run


def _digits():
  x, y = load_digits(return_X_y=True)
  x = (x / 16).astype(np.float32)
  one_hot = np.eye(10, dtype=np.float32)[y]
  train, test = slice(0, 1408), slice(1408, 1408 + 352)
  return x[train], one_hot[train], x[test], one_hot[test]


def _model(metrics):
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((64,)),
                            keras.layers.Dense(32, activation="relu"),
                            keras.layers.Dense(10, activation="softmax")])
  model.compile("adam", "categorical_crossentropy", metrics=metrics)
  return model


# Keras' built-in metric and its jmetrics twin, by the name Keras logs.
def _twins():
  return {
      "auc": (keras.metrics.AUC(name="auc"), jm.AUC(name="jm_auc")),
      "accuracy": ("accuracy", jm.CategoricalAccuracy(name="jm_accuracy")),
      "top3": (keras.metrics.TopKCategoricalAccuracy(k=3, name="top3"),
               jm.TopKCategoricalAccuracy(k=3, name="jm_top3")),
      "crossentropy": (keras.metrics.CategoricalCrossentropy(name="crossentropy"),
                       jm.CategoricalCrossentropy(name="jm_crossentropy")),
      "mean_iou": (keras.metrics.OneHotMeanIoU(num_classes=10, name="mean_iou"),
                   jm.OneHotMeanIoU(num_classes=10, name="jm_mean_iou")),
      "f1": (keras.metrics.F1Score(average="macro", name="f1"),
             jm.F1Score(average="macro", num_classes=10, name="jm_f1")),
  }


def _tensorboard_scalars(logdir):
  accumulator = event_accumulator.EventAccumulator(
      str(logdir), size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  return {tag: [float(tensor_util.make_ndarray(e.tensor_proto))
                for e in accumulator.Tensors(tag)]
          for tag in accumulator.Tags()["tensors"] if tag.startswith("epoch_")}


def test_fit_and_evaluate_match_keras_twins_in_the_same_compile(tmp_path):
  x, y, x_test, y_test = _digits()
  twins = _twins()
  collection = jm.Collection([jm.Precision(name="jm_precision"),
                              jm.Recall(name="jm_recall")], name="jm_pr")
  model = _model([k for k, _ in twins.values()]
                 + [keras.metrics.Precision(name="precision"),
                    keras.metrics.Recall(name="recall")]
                 + jk.wrap([j for _, j in twins.values()] + [collection]))
  early = keras.callbacks.EarlyStopping(monitor="val_jm_auc", mode="max", patience=5)
  board = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
  history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                      validation_data=(x_test, y_test), callbacks=[early, board])
  logs = history.history
  names = list(twins) + ["precision", "recall"]
  for name in names:
    for split in ("", "val_"):
      got, want = logs[f"{split}jm_{name}"], logs[f"{split}{name}"]
      assert len(got) == 2
      np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7, err_msg=split + name)
  # The callbacks read the wrapped metrics as Keras' own.
  assert early.best == max(logs["val_jm_auc"])
  for split, prefix in (("train", ""), ("validation", "val_")):
    scalars = _tensorboard_scalars(tmp_path / split)
    for name in ("jm_auc", "jm_f1", "jm_precision"):
      np.testing.assert_allclose(scalars[f"epoch_{name}"], logs[prefix + name],
                                 rtol=1e-7)
  evaluated = model.evaluate(x_test, y_test, batch_size=BATCH, return_dict=True,
                             verbose=0)
  for name in names:
    np.testing.assert_allclose(evaluated[f"jm_{name}"], evaluated[name],
                               rtol=2e-6, atol=1e-7, err_msg=name)
  # predict is the model's own.
  np.testing.assert_array_equal(model.predict(x_test, batch_size=BATCH, verbose=0),
                                np.asarray(model(x_test)))


def test_weighted_metrics_and_the_progress_bar(capsys):
  x, y, _, _ = _digits()
  weights = np.random.default_rng(0).uniform(0, 2, len(x)).astype(np.float32)
  keras.utils.set_random_seed(0)
  model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
  model.compile("adam", "categorical_crossentropy", weighted_metrics=[
      keras.metrics.AUC(name="auc"), keras.metrics.CategoricalAccuracy(name="accuracy"),
      *jk.wrap([jm.AUC(name="jm_auc"), jm.CategoricalAccuracy(name="jm_accuracy")])])
  logs = model.fit(x, y, sample_weight=weights, batch_size=BATCH, epochs=1,
                   verbose=2).history
  for name in ("auc", "accuracy"):
    np.testing.assert_allclose(logs[f"jm_{name}"], logs[name], rtol=2e-6)
  shown = capsys.readouterr().out
  for name in ("jm_auc", "jm_accuracy"):
    assert f"{name}: {logs[name][0]:.4f}" in shown  # Keras' progress line


def test_per_output_collections_are_named_by_output_as_keras_names_its_own():
  x, y, _, _ = _digits()
  keras.utils.set_random_seed(0)
  inputs = keras.Input((64,))
  hidden = keras.layers.Dense(16, activation="relu")(inputs)
  outputs = {"a": keras.layers.Dense(10, activation="softmax", name="a")(hidden),
             "b": keras.layers.Dense(10, activation="softmax", name="b")(hidden)}
  model = keras.Model(inputs, outputs)
  keras_metrics = {out: [keras.metrics.Precision(name="precision"),
                         keras.metrics.AUC(name="auc")] for out in "ab"}
  ours = jk.wrap({out: [jm.Collection([jm.Precision(name="jm_precision"),
                                       jm.AUC(name="jm_auc")]),
                        jm.route(jm.Mean(name="jm_mean_score"), values="y_pred")]
                  for out in "ab"})
  model.compile("adam", {"a": "categorical_crossentropy", "b": "categorical_crossentropy"},
                metrics={out: keras_metrics[out] + ours[out] for out in "ab"})
  logs = model.fit(x, {"a": y, "b": y[::-1]}, batch_size=BATCH, epochs=1,
                   verbose=0).history
  for out in "ab":
    for name in ("precision", "auc"):
      np.testing.assert_allclose(logs[f"{out}_jm_{name}"], logs[f"{out}_{name}"],
                                 rtol=2e-6, err_msg=f"{out} {name}")
  # The routed Mean averages the predictions, which sum to 1 over 10 classes.
  np.testing.assert_allclose(logs["a_jm_mean_score"], [0.1], rtol=1e-5)


def test_what_cannot_run_in_a_train_step_is_refused_by_name():
  with pytest.raises(ValueError, match="Checked 'auc' checks values with checkify"):
    jk.wrap(jm.Collection([jm.Checked(jm.AUC()), jm.Mean()]))
  mean = jk.wrap(jm.Mean(name="m"))
  with pytest.raises(TypeError, match=r"Mean 'm' takes values, sample_weight, and "
                     r"was given Keras' \(y_true, y_pred\): route it"):
    mean.update_state(np.ones(3), np.ones(3))
  mean.update_state(np.array([1.0, 2.0]))  # its own input: a Mean outside compile
  assert float(mean.result()) == 1.5


def test_a_saved_model_reloads_the_same_metrics_and_numbers(tmp_path):
  x, y, x_test, y_test = _digits()
  wrapped = jk.wrap([jm.AUC(name="jm_auc", num_thresholds=50),
                     jm.Collection([jm.F1Score(average="macro", num_classes=10,
                                               name="f1"),
                                    jm.route(jm.Mean(name="mean_score"),
                                             values="y_pred")], name="more"),
                     "top_k_categorical_accuracy"])
  model = _model(wrapped)
  model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
  before = model.evaluate(x_test, y_test, batch_size=BATCH, return_dict=True, verbose=0)
  path = tmp_path / "model.keras"
  model.save(path)
  loaded = keras.models.load_model(path)
  after = loaded.evaluate(x_test, y_test, batch_size=BATCH, return_dict=True, verbose=0)
  assert sorted(after) == sorted(before) == sorted(
      ["loss", "jm_auc", "f1", "mean_score", "top_k_categorical_accuracy"])
  for name, value in before.items():
    np.testing.assert_allclose(after[name], value, rtol=1e-6, err_msg=name)
  # The same jmetrics configurations, rebuilt from the saved ones.
  rebuilt = loaded._compile_metrics._flat_metrics[0].metrics  # pylint: disable=protected-access
  assert [m.metric for m in rebuilt] == [m.metric for m in wrapped]


def test_data_parallel_over_8_devices_gives_the_single_device_values():
  x, y, x_test, y_test = _digits()

  def run():
    model = _model(jk.wrap([jm.AUC(name="auc"), jm.F1Score(average="macro",
                                                           num_classes=10, name="f1"),
                            jm.OneHotMeanIoU(num_classes=10, name="mean_iou"),
                            jm.CategoricalAccuracy(name="accuracy")]))
    history = model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    evaluated = model.evaluate(x_test, y_test, batch_size=BATCH, return_dict=True,
                               verbose=0)
    return history.history, evaluated, model

  one = run()
  keras.distribution.set_distribution(
      keras.distribution.DataParallel(devices=jax.devices()))
  try:
    eight = run()
  finally:
    keras.distribution.set_distribution(None)
  state = eight[2].metrics_variables[-1].value
  assert len(state.sharding.device_set) == 8  # the state lives on every device
  for name in ("auc", "f1", "mean_iou", "accuracy", "loss"):
    np.testing.assert_allclose(eight[0][name], one[0][name], rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(eight[1][name], one[1][name], rtol=1e-6, err_msg=name)


def test_sum_stays_exact_past_2_24_where_keras_stops():
  # Through the stateless update a jitted train step makes.
  def total(metric):
    update = jax.jit(metric.stateless_update_state)
    variables = [v.value for v in metric.variables]
    variables = update(variables, jnp.ones(2**24))
    for _ in range(4):
      variables = update(variables, jnp.ones(1))
    return float(jax.jit(metric.stateless_result)(variables))

  assert total(keras.metrics.Sum()) == 2**24  # float32: 2**24 + 1 rounds back
  assert total(jk.wrap(jm.Sum())) == 2**24 + 4


@pytest.mark.parametrize("y_true,y_pred,chosen", [
    (np.array([[1.0], [0.0], [1.0]]), np.array([[0.7], [0.6], [0.2]]),
     "BinaryAccuracy"),
    (np.array([2, 0, 1]), np.eye(3)[[2, 1, 1]] * 0.8, "SparseCategoricalAccuracy"),
    (np.array([[2], [0], [1]]), np.eye(3)[[2, 1, 1]] * 0.8,
     "SparseCategoricalAccuracy"),
    (np.eye(3)[[2, 0, 1]], np.eye(3)[[2, 1, 1]] * 0.8, "CategoricalAccuracy"),
])
def test_accuracy_by_name_is_the_one_compile_picks(y_true, y_pred, chosen):
  for identifier in ("accuracy", "acc"):
    expected = compile_utils.get_metric(identifier, y_true, y_pred)
    assert type(expected).__name__ == chosen
    expected.update_state(y_true, y_pred)
    wrapped = jk.wrap(identifier)
    assert wrapped.name == expected.name == identifier
    wrapped.update_state(y_true, y_pred)
    assert float(wrapped.result()) == pytest.approx(float(expected.result()))
    assert type(wrapped.metric._chosen(y_true, y_pred)).__name__ == chosen  # pylint: disable=protected-access


def test_names_lists_dicts_and_keras_metrics():
  mae = jk.wrap("mae")
  assert mae.name == "mae" and isinstance(mae.metric, jm.MeanAbsoluteError)
  keras_auc = keras.metrics.AUC()
  wrapped = jk.wrap({"out": ["mse", keras_auc, jm.Recall], "aux": jm.AUC()})
  assert [type(m.metric).__name__ for m in wrapped["out"][::2]] == [
      "MeanSquaredError", "Recall"]
  assert wrapped["out"][1] is keras_auc and wrapped["aux"].name == "auc"
  with pytest.raises(ValueError, match="unknown metric 'aucc'; did you mean 'auc'"):
    jk.wrap("aucc")


def test_the_state_round_trips_through_the_variables_and_resets_to_init():
  metric = jm.Collection([jm.Max(name="max"), jm.AUC(num_thresholds=7),
                          jm.MeanIoU(num_classes=3)])
  wrapped = jk.wrap(metric)
  # One variable per dtype holds every leaf, Wide halves included.
  sizes = sum(leaf.size for leaf in jax.tree.leaves(metric.init()))
  assert [v.shape for v in wrapped.variables] == [(sizes,)]
  rng = np.random.default_rng(0)
  inputs = dict(values=rng.normal(size=16).astype(np.float32),
                y_true=rng.integers(0, 2, 16), y_pred=rng.random(16).astype(np.float32))
  wrapped.update_state(**inputs)
  expected = metric.update(metric.init(), **inputs)
  jax.tree.map(np.testing.assert_array_equal, wrapped.state, expected)
  assert jax.tree.map(float, wrapped.result()) == pytest.approx(
      jax.tree.map(float, metric.compute(expected)))
  wrapped.reset_state()
  jax.tree.map(np.testing.assert_array_equal, wrapped.state, metric.init())
  assert float(wrapped.state["max"].value) == -np.inf  # init, not Keras' zeros


def _distinct_states():
  """One catalogue entry per state layout (and every collection)."""
  seen, cases = set(), []
  for case in catalogue.ENTRIES:
    init = case.metric.init()
    layout = (jax.tree.structure(init),
              tuple(np.shape(leaf) for leaf in jax.tree.leaves(init)))
    if layout not in seen or isinstance(case.metric, jm.Collection):
      seen.add(layout)
      cases.append(case)
  return cases


@pytest.mark.parametrize("case", catalogue.ENTRIES, ids=str)
def test_every_catalogue_config_round_trips_through_json(case):
  config = json.loads(json.dumps(jk.metric_config(case.metric)))
  rebuilt = jk.metric_from_config(config)
  assert rebuilt == case.metric and hash(rebuilt) == hash(case.metric)


@pytest.mark.parametrize("case", _distinct_states(), ids=str)
def test_the_wrapper_is_the_metric_in_a_jitted_step(case):
  rng = np.random.default_rng(1)
  batches = [case.make_inputs(rng, 16) for _ in range(2)]
  wrapped = jk.wrap(case.metric)
  update = jax.jit(wrapped.stateless_update_state)
  variables = [v.value for v in wrapped.variables]
  state, reference = case.metric.init(), jax.jit(case.metric.update)
  for batch in batches:
    variables = update(variables, *batch)
    state = reference(state, *batch)
  got = wrapped._unpacked(variables)  # pylint: disable=protected-access
  jax.tree.map(np.testing.assert_array_equal, got, state)
  jax.tree.map(np.testing.assert_array_equal,
               jax.jit(wrapped.stateless_result)(variables),
               jax.jit(case.metric.compute)(state))


def test_what_cannot_be_saved_is_named():
  wrapped = jk.wrap(jm.MeanMetricWrapper(lambda y_true, y_pred: y_pred, name="odd"))
  with pytest.raises(ValueError, match="MeanMetricWrapper 'odd': cannot save the "
                     "function <function"):
    wrapped.get_config()
  # A module-level function is saved by its import path.
  saved = jk.wrap(jm.MeanMetricWrapper(jm.binary_accuracy, name="ba"))
  assert jk.KerasMetric.from_config(saved.get_config()).metric == saved.metric


def test_another_backend_is_refused_by_name():
  code = ("import keras, jmetrics.keras as jk\n"
          "try:\n  jk.wrap('mae')\nexcept RuntimeError as e:\n  print(e)\n")
  env = dict(os.environ, KERAS_BACKEND="numpy")
  out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                       text=True, timeout=300, check=True).stdout
  assert ("jmetrics.keras.wrap needs Keras' JAX backend, and this Keras runs on "
          "'numpy': set KERAS_BACKEND=jax before keras is imported") in out
