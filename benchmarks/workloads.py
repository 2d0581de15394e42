"""The benchmark workloads: one metric update, jmetrics beside its peers.

A workload makes inputs of a given size (number of scores) and offers, per
library, a builder of a zero-argument update. Peers missing a metric raise
`peers.Unavailable` and are listed as skipped.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import jmetrics as jm
from benchmarks import peers


@dataclasses.dataclass
class Workload:
  name: str
  make_inputs: Callable[[int, np.random.Generator], tuple]  # numpy arrays
  jmetrics: Callable[..., Callable[[], object]]
  peers: dict  # library name -> builder(numpy inputs) -> update callable
  min_size: int = 2**12  # smaller inputs are skipped
  report_compile: bool = False  # also report the first call (trace + compile)


def jmetrics_update(metric, *inputs):
  """One jitted jmetrics update from a fresh state."""
  update = jax.jit(metric.update)
  state = metric.init()
  return lambda: update(state, *inputs)


# -- binary AUC, 200 thresholds ----------------------------------------------

def _binary_inputs(n, rng):
  y_true = (rng.random(n) < 0.5).astype(np.float32)
  y_pred = rng.random(n, dtype=np.float32)
  return y_true, y_pred


def _torch_binary_auc(y_true, y_pred):
  import torchmetrics  # pylint: disable=g-import-not-at-top
  return peers.torchmetrics_update(
      lambda: torchmetrics.classification.BinaryAUROC(thresholds=200),
      y_pred, y_true.astype(np.int64))


def _metrax_binary_auc(y_true, y_pred):
  import metrax  # pylint: disable=g-import-not-at-top
  return peers.metrax_update(
      lambda p, t: metrax.AUCROC.from_model_output(p, t, num_thresholds=200),
      jnp.asarray(y_pred), jnp.asarray(y_true))


def _keras_binary_auc(y_true, y_pred):
  def make():
    import keras  # pylint: disable=g-import-not-at-top
    return keras.metrics.AUC(num_thresholds=200)
  return peers.keras_update(make, jnp.asarray(y_true), jnp.asarray(y_pred))


BINARY_AUC = Workload(
    name="binary AUC (200 thresholds)",
    make_inputs=_binary_inputs,
    jmetrics=lambda y_true, y_pred: jmetrics_update(
        jm.AUC(num_thresholds=200), jnp.asarray(y_true), jnp.asarray(y_pred)),
    peers={"keras": _keras_binary_auc, "metrax": _metrax_binary_auc,
           "torchmetrics": _torch_binary_auc},
)

# -- multi-label AUC: 16 labels, 200 thresholds --------------------------------

_LABELS = 16


def _multilabel_inputs(n, rng):
  shape = (n // _LABELS, _LABELS)
  return ((rng.random(shape) < 0.3).astype(np.float32),
          rng.random(shape, dtype=np.float32))


def _keras_multilabel_auc(y_true, y_pred):
  def make():
    import keras  # pylint: disable=g-import-not-at-top
    return keras.metrics.AUC(num_thresholds=200, multi_label=True,
                             num_labels=_LABELS)
  return peers.keras_update(make, jnp.asarray(y_true), jnp.asarray(y_pred))


def _torch_multilabel_auc(y_true, y_pred):
  import torchmetrics  # pylint: disable=g-import-not-at-top
  return peers.torchmetrics_update(
      lambda: torchmetrics.classification.MultilabelAUROC(
          num_labels=_LABELS, thresholds=200), y_pred, y_true.astype(np.int64))


MULTILABEL_AUC = Workload(
    name=f"multi-label AUC ({_LABELS} labels)",
    make_inputs=_multilabel_inputs,
    jmetrics=lambda y_true, y_pred: jmetrics_update(
        jm.AUC(num_thresholds=200, multi_label=True, num_labels=_LABELS),
        jnp.asarray(y_true), jnp.asarray(y_pred)),
    peers={"keras": _keras_multilabel_auc, "torchmetrics": _torch_multilabel_auc},
)


# -- Precision with top_k=5 over 100 multi-hot classes ------------------------

_PRECISION_CLASSES = 100


def _multihot_inputs(n, rng):
  shape = (n // _PRECISION_CLASSES, _PRECISION_CLASSES)
  return ((rng.random(shape) < 0.05).astype(np.float32),
          rng.random(shape, dtype=np.float32))


def _keras_precision_top_k(y_true, y_pred):
  def make():
    import keras  # pylint: disable=g-import-not-at-top
    return keras.metrics.Precision(top_k=5)
  return peers.keras_update(make, jnp.asarray(y_true), jnp.asarray(y_pred))


PRECISION_TOP_K = Workload(
    name="Precision top_k=5 (100 classes)",
    make_inputs=_multihot_inputs,
    jmetrics=lambda y_true, y_pred: jmetrics_update(
        jm.Precision(top_k=5), jnp.asarray(y_true), jnp.asarray(y_pred)),
    peers={"keras": _keras_precision_top_k},
)


# -- top-5 accuracy over 1000 classes -----------------------------------------

_TOP5_CLASSES = 1000


def _sparse_inputs(n, rng):
  samples = max(n // _TOP5_CLASSES, 1)
  return (rng.integers(0, _TOP5_CLASSES, samples).astype(np.int32),
          rng.normal(size=(samples, _TOP5_CLASSES)).astype(np.float32))


def _keras_top5(y_true, y_pred):
  def make():
    import keras  # pylint: disable=g-import-not-at-top
    return keras.metrics.SparseTopKCategoricalAccuracy(k=5)
  return peers.keras_update(make, jnp.asarray(y_true), jnp.asarray(y_pred))


def _torch_top5(y_true, y_pred):
  import torchmetrics  # pylint: disable=g-import-not-at-top
  return peers.torchmetrics_update(
      lambda: torchmetrics.classification.MulticlassAccuracy(
          num_classes=_TOP5_CLASSES, top_k=5, average="micro"),
      y_pred, y_true.astype(np.int64))


TOP5_ACCURACY = Workload(
    name="top-5 accuracy (1000 classes)",
    make_inputs=_sparse_inputs,
    jmetrics=lambda y_true, y_pred: jmetrics_update(
        jm.SparseTopKCategoricalAccuracy(k=5), jnp.asarray(y_true),
        jnp.asarray(y_pred)),
    peers={"keras": _keras_top5, "torchmetrics": _torch_top5},
)

# -- segmentation: MeanIoU (21 and 150 classes), Dice --------------------------

def _image_shape(n):
  """n pixels as (batch, 256, width) images, the layout metrax expects."""
  batch = max(n // 2**16, 1)
  return (batch, 256, n // (batch * 256))


def _label_images(num_classes):
  def make(n, rng):
    shape = _image_shape(n)
    return (rng.integers(0, num_classes, shape).astype(np.int32),
            rng.integers(0, num_classes, shape).astype(np.int32))
  return make


def _mean_iou_workload(num_classes):
  def keras_peer(y_true, y_pred):
    def make():
      import keras  # pylint: disable=g-import-not-at-top
      return keras.metrics.MeanIoU(num_classes=num_classes)
    return peers.keras_update(make, jnp.asarray(y_true), jnp.asarray(y_pred))

  def metrax_peer(y_true, y_pred):
    import metrax  # pylint: disable=g-import-not-at-top
    ids = jnp.arange(num_classes)
    return peers.metrax_update(
        lambda p, t: metrax.IoU.from_model_output(p, t, num_classes, ids),
        jnp.asarray(y_pred), jnp.asarray(y_true))

  def torch_peer(y_true, y_pred):
    import torchmetrics  # pylint: disable=g-import-not-at-top
    return peers.torchmetrics_update(
        lambda: torchmetrics.classification.MulticlassJaccardIndex(
            num_classes=num_classes, average="macro"),
        y_pred.astype(np.int64), y_true.astype(np.int64))

  return Workload(
      name=f"MeanIoU ({num_classes} classes)",
      make_inputs=_label_images(num_classes),
      jmetrics=lambda y_true, y_pred: jmetrics_update(
          jm.MeanIoU(num_classes=num_classes), jnp.asarray(y_true),
          jnp.asarray(y_pred)),
      peers={"keras": keras_peer, "metrax": metrax_peer,
             "torchmetrics": torch_peer},
  )


def _soft_masks(n, rng):
  shape = _image_shape(n)
  return ((rng.random(shape) < 0.3).astype(np.float32),
          rng.random(shape, dtype=np.float32))


def _metrax_dice(y_true, y_pred):
  import metrax  # pylint: disable=g-import-not-at-top
  return peers.metrax_update(
      lambda p, t: metrax.Dice.from_model_output(p, t),
      jnp.asarray(y_pred).ravel(), jnp.asarray(y_true).ravel())


def _keras_dice(y_true, y_pred):
  # Keras has no Dice metric; its dice loss wrapped as a mean is the nearest.
  def make():
    import keras  # pylint: disable=g-import-not-at-top
    return keras.metrics.MeanMetricWrapper(keras.losses.dice)
  return peers.keras_update(make, jnp.asarray(y_true), jnp.asarray(y_pred))


BINARY_DICE = Workload(
    name="Dice (binary, soft)",
    make_inputs=_soft_masks,
    jmetrics=lambda y_true, y_pred: jmetrics_update(
        jm.Dice(), jnp.asarray(y_true), jnp.asarray(y_pred)),
    peers={"keras": _keras_dice, "metrax": _metrax_dice},
)


def _torch_dice_21(y_true, y_pred):
  import torchmetrics.segmentation  # pylint: disable=g-import-not-at-top
  return peers.torchmetrics_update(
      lambda: torchmetrics.segmentation.DiceScore(
          num_classes=21, input_format="index", aggregation_level="global"),
      y_pred.astype(np.int64), y_true.astype(np.int64))


MULTICLASS_DICE = Workload(
    name="Dice (21 classes, hard)",
    make_inputs=_label_images(21),
    jmetrics=lambda y_true, y_pred: jmetrics_update(
        jm.Dice(num_classes=21, sparse_y_pred=True), jnp.asarray(y_true),
        jnp.asarray(y_pred)),
    peers={"torchmetrics": _torch_dice_21},
)

# -- a 6-metric collection, as updated in a train step -------------------------

_TRAIN_CLASSES = 100


def _train_step_inputs(n, rng):
  samples = max(n // _TRAIN_CLASSES, 8)
  logits = rng.normal(size=(samples, _TRAIN_CLASSES)).astype(np.float32)
  labels = rng.integers(0, _TRAIN_CLASSES, samples).astype(np.int32)
  loss = rng.random(samples, dtype=np.float32)
  return labels, logits, loss


def _jmetrics_collection(labels, logits, loss):
  collection = jm.Collection([
      jm.route(jm.Mean(name="loss"), values="loss"),
      jm.SparseCategoricalAccuracy(),
      jm.SparseTopKCategoricalAccuracy(k=5),
      jm.SparseCategoricalCrossentropy(from_logits=True),
      jm.MeanIoU(num_classes=_TRAIN_CLASSES, sparse_y_pred=False),
      jm.route(jm.Sum(name="loss_sum"), values="loss"),
  ])
  update = jax.jit(collection.update)
  state = collection.init()
  labels, logits, loss = map(jnp.asarray, (labels, logits, loss))
  return lambda: update(state, y_true=labels, y_pred=logits, loss=loss)


def _keras_collection(labels, logits, loss):
  peers.require("keras")
  import keras  # pylint: disable=g-import-not-at-top
  metrics = [keras.metrics.Mean(), keras.metrics.Sum(),
             keras.metrics.SparseCategoricalAccuracy(),
             keras.metrics.SparseTopKCategoricalAccuracy(k=5),
             keras.metrics.SparseCategoricalCrossentropy(from_logits=True),
             keras.metrics.MeanIoU(num_classes=_TRAIN_CLASSES,
                                   sparse_y_pred=False)]
  variables = [[v.value for v in m.variables] for m in metrics]

  @jax.jit
  def update(variables, labels, logits, loss):
    out = [m.stateless_update_state(v, loss)
           for m, v in zip(metrics[:2], variables[:2])]
    out += [m.stateless_update_state(v, labels, logits)
            for m, v in zip(metrics[2:], variables[2:])]
    return out

  labels, logits, loss = map(jnp.asarray, (labels, logits, loss))
  return lambda: update(variables, labels, logits, loss)


TRAIN_STEP_COLLECTION = Workload(
    name="6-metric collection (100 classes)",
    make_inputs=_train_step_inputs,
    jmetrics=_jmetrics_collection,
    peers={"keras": _keras_collection},
    report_compile=True,
)

# -- a 10-metric classification collection on 100-way probabilities ----------


def _classification_inputs(n, rng):
  samples = max(n // _TRAIN_CLASSES, 8)
  logits = rng.normal(size=(samples, _TRAIN_CLASSES)).astype(np.float32)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  labels = rng.integers(0, _TRAIN_CLASSES, samples)
  return np.eye(_TRAIN_CLASSES, dtype=np.float32)[labels], probs


def _classification_configs(module, f1_kwargs):
  """The ten metrics, built from ``module`` (jmetrics or keras.metrics)."""
  return [module.CategoricalAccuracy(name="accuracy"),
          module.Precision(name="precision"), module.Recall(name="recall"),
          module.AUC(name="roc_auc"), module.AUC(curve="PR", name="pr_auc"),
          module.F1Score(average="macro", name="f1", **f1_kwargs),
          module.TopKCategoricalAccuracy(k=5, name="top5"),
          module.CategoricalCrossentropy(name="crossentropy"),
          module.PrecisionAtRecall(0.5, name="precision_at_recall"),
          module.RecallAtPrecision(0.5, name="recall_at_precision")]


def _jmetrics_classification(y_true, y_pred):
  collection = jm.Collection(_classification_configs(
      jm, {"num_classes": _TRAIN_CLASSES}))
  return jmetrics_update(collection, jnp.asarray(y_true), jnp.asarray(y_pred))


def _keras_classification(y_true, y_pred):
  peers.require("keras")
  import keras  # pylint: disable=g-import-not-at-top
  metrics = _classification_configs(keras.metrics, {})
  for metric in metrics:  # F1Score makes its variables at the first batch
    metric.update_state(y_true[:1], y_pred[:1])
    metric.reset_state()
  variables = [[v.value for v in m.variables] for m in metrics]

  @jax.jit
  def update(variables, y_true, y_pred):
    return [m.stateless_update_state(v, y_true, y_pred)
            for m, v in zip(metrics, variables)]

  y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
  return lambda: update(variables, y_true, y_pred)


CLASSIFICATION_COLLECTION = Workload(
    name="10-metric classification collection (100 classes)",
    make_inputs=_classification_inputs,
    jmetrics=_jmetrics_classification,
    peers={"keras": _keras_classification},
    report_compile=True,
)

WORKLOADS = [BINARY_AUC, MULTILABEL_AUC, PRECISION_TOP_K, TOP5_ACCURACY,
             _mean_iou_workload(21), _mean_iou_workload(150), BINARY_DICE,
             MULTICLASS_DICE, TRAIN_STEP_COLLECTION, CLASSIFICATION_COLLECTION]
