"""Timing helpers shared by the benchmark workloads: warm-up, median of runs."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import jax
import jax.numpy as jnp


def median_ms(fn: Callable[[], object], repeats: int = 5, warmup: int = 2) -> float:
  """Median wall time of ``fn()`` in milliseconds, results awaited."""
  for _ in range(warmup):
    _block(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    _block(fn())
    times.append((time.perf_counter() - start) * 1e3)
  return statistics.median(times)


def _block(result):
  # Any pytree of JAX arrays (metrax and clu return dataclasses); torch
  # updates synchronise themselves and return None.
  if result is not None:
    jax.block_until_ready(result)
  return result


def read_floor(*arrays):
  """A jitted pass that only reads every input once (the speed of light)."""
  @jax.jit
  def read(*xs):
    return sum(jnp.sum(x.astype(jnp.float32)) for x in xs)
  return lambda: read(*arrays)


def input_bytes(*arrays) -> int:
  return sum(int(x.size) * x.dtype.itemsize for x in arrays)
