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
  min_size: int = 2**12


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

WORKLOADS = [BINARY_AUC]
