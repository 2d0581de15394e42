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


def read_floor(*arrays, repeats: int = 5) -> float:
  """Milliseconds of the fastest jitted pass that only reads every input once.

  Several single-read reductions are tried (sum in the input's own dtype, sum
  in float32, max) and the fastest counts, so the floor is never inflated by
  a slow conversion.
  """
  variants = (
      lambda x: jnp.sum(x),
      lambda x: jnp.sum(x.astype(jnp.float32)),
      lambda x: jnp.max(x),
  )
  best = float("inf")
  for reduce in variants:
    read = jax.jit(lambda *xs, reduce=reduce: [reduce(x) for x in xs])
    best = min(best, median_ms(lambda read=read: read(*arrays), repeats))
  return best


def input_bytes(*arrays) -> int:
  return sum(int(x.size) * x.dtype.itemsize for x in arrays)
