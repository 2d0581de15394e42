"""One harness for every metric: each case runs against its oracle in all modes.

A `Case` names a jmetrics metric, an oracle (a Keras 3 metric factory or a
NumPy reference written from the definition) and a batch generator. The
harness checks, for unweighted and weighted batches (one batch with all-zero
weights included):

* eager sequential updates,
* ``update`` and ``compute`` under ``jax.jit``,
* per-batch states combined with ``merge`` (and ``init`` as its identity),
* state shapes and dtypes unchanged by ``update`` (eager and jitted),

all against the oracle's value on the same batches. The device paths
(``pmap`` with ``sync``, ``merge_stacked``, ``shard_map``, sharded ``jit``)
are held to the one-device state in ``tests/test_distributed.py``, once per
catalogue entry: ``sync`` follows the kinds of the state leaves, not the
configuration, so each family's other configurations are checked here on
one device. `run_pmap` serves the tests that need a device path of their own.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np


N_DEVICES = 8


ALL = "*"  # every field of the state holds integer counts


@dataclasses.dataclass(frozen=True)
class Case:
  """One description of a metric under test: its configuration, how to make
  its inputs, its oracle and what the distributed tests may hold exact.

  The oracle tests (`check_all_modes`) run ``count`` batches of ``rows`` rows
  against the oracle; the distributed tests (``tests/test_distributed.py``,
  over `tests.catalogue`) make batches of other sizes from the same
  ``make_inputs``.

  Attributes:
    id: test id.
    metric: the jmetrics metric under test.
    make_inputs: ``(rng, n) -> tuple``, the positional inputs of one update
      with ``n`` rows (the batch axis first; for ``batch_axis=False`` one
      update's inputs, ``n`` ignored).
    keras: ``() -> keras metric`` used as oracle, or None.
    reference: ``[(args, sample_weight), ...] -> value`` NumPy oracle, used
      when ``keras`` is None.
    make_weights: ``(rng, args) -> sample_weight`` for the weighted mode;
      default: one weight per sample in [0, 2) with a quarter zeroed.
    weighted: whether the metric takes sample weights.
    exact: names of the state fields that hold integer counts (or `ALL`):
      their `Wide` hi/lo arrays must be bit-identical on every path.
    batch_axis: whether inputs have a batch axis to shard over devices; if
      not (`MeanTensor`), each device gets whole updates instead.
    weight_axes: rank of per-row weights, ``(n, 1, ...)``, where the
      distributed tests make them (the IoU metrics broadcast weights against
      the label map from the right).
    rows, count: the oracle tests' batch size (divisible by 8) and number of
      batches.
    rtol, atol: float32 tolerances.
  """

  id: str
  metric: Any
  make_inputs: Callable[[np.random.Generator, int], tuple]
  keras: Optional[Callable[[], Any]] = None
  reference: Optional[Callable[[Sequence[tuple]], Any]] = None
  make_weights: Optional[Callable[[np.random.Generator, tuple], Any]] = None
  weighted: bool = True
  exact: Union[tuple, str] = ()
  batch_axis: bool = True
  weight_axes: int = 1
  rows: int = 16
  count: int = 3
  rtol: float = 1e-5
  atol: float = 1e-5

  def __str__(self):
    return self.id

  def make_batches(self, rng: np.random.Generator) -> list:
    """The oracle tests' batches: ``count`` inputs of ``rows`` rows."""
    return [self.make_inputs(rng, self.rows) for _ in range(self.count)]


def default_weights(rng: np.random.Generator, args: tuple) -> np.ndarray:
  n = np.shape(args[0])[0]
  weights = rng.uniform(0.0, 2.0, size=n).astype(np.float32)
  weights[rng.random(n) < 0.25] = 0.0
  return weights


def weighted_batches(case: Case, seed: int = 0):
  """``[(args, sample_weight), ...]`` for the unweighted and weighted modes."""
  rng = np.random.default_rng(seed)
  batches = [tuple(np.asarray(a) for a in args) for args in case.make_batches(rng)]
  modes = {"unweighted": [(args, None) for args in batches]}
  if case.weighted:
    make = case.make_weights or default_weights
    weighted = [(args, make(rng, args)) for args in batches]
    zero_args, zero_weights = weighted[0]
    weighted.append((zero_args, np.zeros_like(zero_weights)))
    modes["weighted"] = weighted
  return modes


def oracle_value(case: Case, batches):
  if case.keras is not None:
    keras_metric = case.keras()
    for args, weight in batches:
      keras_metric.update_state(*args, sample_weight=weight)
    return np.asarray(keras_metric.result())
  return np.asarray(case.reference(batches))


def _update(metric, state, args, weight):
  return metric.update(state, *args, sample_weight=weight)


def run_sequential(metric, batches, jit=False):
  update = jax.jit(_update, static_argnums=0) if jit else _update
  compute = jax.jit(metric.compute) if jit else metric.compute
  state = metric.init()
  for args, weight in batches:
    state = update(metric, state, args, weight)
  return state, compute(state)


def run_merged(metric, batches):
  """Each batch in its own state; states merged pairwise in a tree."""
  states = [_update(metric, metric.init(), args, w) for args, w in batches]
  states.append(metric.init())
  while len(states) > 1:
    paired = [metric.merge(a, b) for a, b in zip(states[::2], states[1::2])]
    states = paired + ([states[-1]] if len(states) % 2 else [])
  return metric.compute(states[0])


def _shard(x):
  x = np.asarray(x)
  return x.reshape((N_DEVICES, x.shape[0] // N_DEVICES) + x.shape[1:])


def _weight_axis(weight, args):
  """Per-sample weights are sharded with the batch; others are replicated."""
  if weight is None or np.ndim(weight) == 0:
    return None
  return 0 if np.shape(weight)[0] == np.shape(args[0])[0] else None


def _batches_per_device(batches):
  """One whole batch per device: device i updates with batch i."""
  assert len(batches) <= N_DEVICES
  args0, weight0 = batches[0]
  idle = (args0, np.zeros_like(np.broadcast_to(
      1.0 if weight0 is None else weight0, np.shape(args0[0])), np.float32))
  padded = [(args, np.ones(np.shape(args[0]), np.float32) if w is None else
             np.broadcast_to(w, np.shape(args[0])).astype(np.float32))
            for args, w in batches]
  padded += [idle] * (N_DEVICES - len(batches))
  stacked_args = tuple(np.stack(a) for a in zip(*[args for args, _ in padded]))
  return [(stacked_args, np.stack([w for _, w in padded]))]


@functools.lru_cache(maxsize=None)
def _pmapped_update(metric, weighted, weight_axis):
  """One compiled pmap per metric and weight layout, reused across batches."""
  if not weighted:
    # A None argument is not passed through pmap: its in_axes entry would
    # be taken for an unmapped leaf and shift the axes of the others.
    return jax.pmap(lambda s, a: _update(metric, s, a, None), axis_name="batch")
  return jax.pmap(lambda s, a, w: _update(metric, s, a, w), axis_name="batch",
                  in_axes=(0, 0, weight_axis))


@functools.lru_cache(maxsize=None)
def _jitted_merge_stacked(metric):
  return jax.jit(lambda state: metric.compute(metric.merge_stacked(state)))


@functools.lru_cache(maxsize=None)
def _pmapped_sync(metric):
  return jax.pmap(lambda s: metric.sync(s, "batch"), axis_name="batch")


def run_pmap(metric, batches, synced=True, batch_axis=True):
  state = jax.tree.map(lambda x: jnp.stack([x] * N_DEVICES), metric.init())
  shard = _shard if batch_axis else lambda x: x
  if not batch_axis:
    batches = _batches_per_device(batches)
  for args, weight in batches:
    sharded_args = tuple(shard(a) for a in args)
    weight_axis = _weight_axis(weight, args) if batch_axis else 0
    state = _pmapped_update(metric, weight is not None, weight_axis)(
        state, sharded_args,
        *(() if weight is None else
          (weight if weight_axis is None else shard(weight),)))
  if synced:
    # Sync once at the end: each device holds its shard's partial state.
    state = _pmapped_sync(metric)(state)
    return jax.vmap(metric.compute)(state)
  return _jitted_merge_stacked(metric)(state)


def assert_close(actual, expected, case: Case, what: str):
  np.testing.assert_allclose(
      np.asarray(actual, np.float64), np.asarray(expected, np.float64),
      rtol=case.rtol, atol=case.atol, err_msg=f"{case.id}: {what}")


def assert_same_structure(a, b, what):
  sa = jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), a)
  sb = jax.tree.map(lambda x: (jnp.shape(x), jnp.result_type(x)), b)
  assert sa == sb, f"{what}: state structure changed\n{sa}\n{sb}"


def check_all_modes(case: Case, seed: int = 0):
  """Every mode of the module docstring (one device), against the oracle."""
  metric = case.metric
  init = metric.init()
  for mode, batches in weighted_batches(case, seed).items():
    expected = oracle_value(case, batches)
    state, eager = run_sequential(metric, batches)
    assert_close(eager, expected, case, f"{mode} eager")
    jit_state, jitted = run_sequential(metric, batches, jit=True)
    assert_close(jitted, expected, case, f"{mode} jit")
    assert_same_structure(init, state, f"{mode} eager update")
    assert_same_structure(init, jit_state, f"{mode} jitted update")
    assert_close(run_merged(metric, batches), expected, case, f"{mode} merge")


def check_merge_algebra(case: Case, seed: int):
  """merge is commutative and associative and has init as identity."""
  metric = case.metric
  batches = weighted_batches(case, seed)
  batches = batches.get("weighted", batches["unweighted"])[:3]
  while len(batches) < 3:
    batches = batches + batches
  a, b, c = (_update(metric, metric.init(), args, w) for args, w in batches[:3])
  value = lambda s: np.asarray(metric.compute(s))
  assert_close(value(metric.merge(a, b)), value(metric.merge(b, a)), case,
               "merge commutes")
  assert_close(value(metric.merge(metric.merge(a, b), c)),
               value(metric.merge(a, metric.merge(b, c))), case,
               "merge associates")
  assert_close(value(metric.merge(a, metric.init())), value(a), case,
               "init is the identity of merge")
