"""Timing helpers shared by the benchmark workloads: warm-up, median of runs.

On a small shared machine the speed of the processor drifts by tens of
percent over seconds, so libraries compared in one row are timed in
interleaved rounds (`interleaved_medians`): every round times each of them
once, and a drift slows all of them alike.
"""

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


def interleaved_medians(fns: dict, repeats: int = 15, warmup: int = 2,
                        budget_ms: float = 4000.0) -> dict:
  """Median milliseconds of each ``fns[name]()``, timed in interleaved rounds.

  A callable whose first timed call takes long is timed fewer times (at least
  3) so that one slow peer does not stretch a row past ``budget_ms``.
  """
  for fn in fns.values():
    for _ in range(warmup):
      _block(fn())
  times = {name: [] for name in fns}
  for round_ in range(repeats):
    for name, fn in fns.items():
      spent = sum(times[name])
      if round_ >= 3 and spent * repeats / round_ > budget_ms:
        continue
      start = time.perf_counter()
      _block(fn())
      times[name].append((time.perf_counter() - start) * 1e3)
  return {name: statistics.median(t) for name, t in times.items()}


def floor_reads(*arrays) -> dict:
  """Jitted passes that only read every input once, keyed ``floor/<how>``.

  Several single-read reductions are offered (sum in the input's own dtype,
  sum in float32, max); the fastest is the floor, so a slow conversion never
  flatters a ratio.
  """
  variants = {
      "sum": lambda x: jnp.sum(x),
      "sum_f32": lambda x: jnp.sum(x.astype(jnp.float32)),
      "max": lambda x: jnp.max(x),
  }
  out = {}
  for name, reduce in variants.items():
    read = jax.jit(lambda *xs, reduce=reduce: [reduce(x) for x in xs])
    out[f"floor/{name}"] = lambda read=read: read(*arrays)
  return out


def input_bytes(*arrays) -> int:
  return sum(int(x.size) * x.dtype.itemsize for x in arrays)
