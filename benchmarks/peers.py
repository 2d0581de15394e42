"""Adapters that time peer libraries on the same inputs, when they are installed.

Each ``*_update`` builder returns a zero-argument callable that performs one
metric update on the given inputs (already compiled or warmed where the peer
compiles), or raises `Unavailable` saying why the peer is skipped.
"""

from __future__ import annotations

import importlib
import os

import jax
import numpy as np


class Unavailable(Exception):
  """The peer is not installed or has no such metric."""


def require(module: str):
  try:
    return importlib.import_module(module)
  except Exception as e:  # pylint: disable=broad-except  (any import failure skips)
    raise Unavailable(f"{module} not installed ({type(e).__name__})") from None


def keras_update(make_metric, *inputs):
  """Keras 3 (JAX backend), stateless API under jax.jit."""
  if os.environ.get("KERAS_BACKEND", "jax") != "jax":
    raise Unavailable("KERAS_BACKEND is not jax")
  require("keras")
  metric = make_metric()
  variables = [v.value for v in metric.variables]

  @jax.jit
  def update(variables, *inputs):
    return metric.stateless_update_state(variables, *inputs)

  return lambda: update(variables, *inputs)


def metrax_update(make_from_model_output, *inputs):
  """metrax: ``Metric.from_model_output(...)`` under jax.jit (its update)."""
  require("metrax")
  update = jax.jit(make_from_model_output)
  return lambda: update(*inputs)


def torch_device():
  torch = require("torch")
  return "cuda" if torch.cuda.is_available() and jax.default_backend() == "gpu" else "cpu"


def torchmetrics_update(make_metric, *numpy_inputs):
  """TorchMetrics ``update`` on torch tensors (CPU, or CUDA beside a JAX GPU run)."""
  torch = require("torch")
  require("torchmetrics")
  device = torch_device()
  metric = make_metric().to(device)
  tensors = [torch.from_numpy(np.asarray(x)).to(device) for x in numpy_inputs]

  def update():
    with torch.no_grad():
      metric.update(*tensors)
    if device == "cuda":
      torch.cuda.synchronize()

  return update


def clu_update(make_from_model_output, *inputs):
  """clu: ``Metric.from_model_output(...)`` under jax.jit."""
  require("clu.metrics")
  update = jax.jit(make_from_model_output)
  return lambda: update(*inputs)
