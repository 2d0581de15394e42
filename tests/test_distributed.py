"""Distributed accumulation, proven on every JAX parallelism path.

For every entry of `tests.catalogue` (every public metric class, several in
more than one configuration) one batch gives the same state on:

* one device, ``update`` under ``jax.jit``: the reference;
* ``pmap`` over 8 devices + ``sync`` (every device's copy), and the unsynced
  per-device states reduced with ``merge_stacked``;
* ``jax.shard_map`` over 8 devices + ``sync``, leaving with ``out_specs=P()``
  under replication checking, and the per-device states stacked with
  ``out_specs=P("d")`` and reduced with ``merge_stacked``;
* plain ``jax.jit`` of ``update`` on a batch sharded by a ``NamedSharding``
  over the 8 devices: no explicit sync, and the state comes out replicated
  (the mesh has ``Auto`` axes, ``jax.sharding.Mesh``'s default;
  ``jax.make_mesh`` defaults to ``Explicit`` axes in JAX 0.10, under which
  the scatter-based histograms do not trace yet);
* an uneven batch padded with ``pad_to_multiple`` and fed to
  ``masked_update`` under ``shard_map`` + ``sync`` (the last devices hold the
  padding), with the padded rows overwritten by NaN and out-of-range labels
  to show they are never read.

Computed values agree to float32 tolerance; the state fields that hold
integer counts (``Case.exact``) are bit-identical (`Wide` hi and lo arrays).
Then: reduction kinds other than "sum", ``masked_update`` on its own, the
compiled HLO of synced updates (all-reduces of state size only), and two
processes joined by ``jax.distributed`` on the loopback interface.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import subprocess
import sys
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import jmetrics as jm
from jmetrics._src import base
from jmetrics._src.numerics import wide
from jmetrics._src.numerics.distributed import pad_to_multiple
from tests import catalogue
from tests.catalogue import ALL, ENTRIES
from tests.harness import Case

N_DEVICES = 8
EVEN, UNEVEN = 16, 13  # rows of a batch (updates for MeanTensor: 8 and 5)
MESH = Mesh(np.array(jax.devices()), ("d",))  # Auto axes: classic sharding
ROWS = NamedSharding(MESH, P("d"))
REPLICATED = NamedSharding(MESH, P())
# The mesh `jax.make_mesh` makes by default: Explicit axes.
EXPLICIT_MESH = jax.make_mesh((N_DEVICES,), ("d",))
assert EXPLICIT_MESH.axis_types == (jax.sharding.AxisType.Explicit,)
MODES = ("pmap", "shard_map", "jit_sharded", "padded", "jit_explicit",
         "jit_explicit_set_mesh")


# -- inputs and references ---------------------------------------------------------


def _batch(entry: Case, even: bool, seed: int = 0):
  """``(args, sample_weight)`` of an even or uneven batch.

  Metrics without a batch axis get a stack of whole updates instead (8, or
  5 for the uneven case), one per device, with one scalar weight each.
  """
  rng = np.random.default_rng(seed)
  if entry.batch_axis:
    n = EVEN if even else UNEVEN
    args = tuple(np.asarray(a) for a in entry.make_inputs(rng, n))
  else:
    n = N_DEVICES if even else 5
    updates = [entry.make_inputs(rng, 0) for _ in range(n)]
    args = tuple(np.stack(column) for column in zip(*updates))
  return args, catalogue.row_weights(entry, rng, n)


@functools.lru_cache(maxsize=None)
def _jit_update(metric):
  return jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w))


@functools.lru_cache(maxsize=None)
def _jit_compute(metric):
  return jax.jit(metric.compute)


@functools.lru_cache(maxsize=None)
def _jit_merge_stacked(metric):
  return jax.jit(metric.merge_stacked)


def _each_update(entry, args, weight):
  """``(args_i, weight_i)`` of each stacked update (``batch_axis=False``)."""
  for i in range(len(args[0])):
    yield tuple(a[i] for a in args), None if weight is None else weight[i]


@functools.lru_cache(maxsize=None)
def _reference(entry: Case, even: bool):
  """The state of the batch on one device, and the batch."""
  args, weight = _batch(entry, even)
  metric, update = entry.metric, _jit_update(entry.metric)
  state = metric.init()
  if entry.batch_axis:
    state = update(state, args, weight)
  else:
    for one_args, one_weight in _each_update(entry, args, weight):
      state = update(state, one_args, one_weight)
  for name, part in _exact_parts(state, entry.exact):  # the claim holds
    for leaf in jax.tree.leaves(part):
      leaf = np.asarray(leaf, np.float64)
      np.testing.assert_array_equal(leaf, np.round(leaf),
                                    err_msg=f"{entry.id}: {name}")
  return state, args, weight


def _exact_parts(state, names):
  """``[(name, subtree)]`` of the state's integer-count fields (or members)."""
  if isinstance(state, dict):  # a Collection's state: members by name
    keys = list(state) if names == ALL else list(names)
    return [(key, state[key]) for key in keys]
  keys = list(state._fields) if names == ALL else list(names)
  return [(key, getattr(state, key)) for key in keys]


def _check(entry: Case, state, reference, what: str):
  """Same structure, same value (float32 tolerance), exact counts identical."""
  assert (jax.tree.structure(state) == jax.tree.structure(reference)), what
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(reference)):
    assert (np.shape(a), np.asarray(a).dtype) == (np.shape(b), np.asarray(b).dtype)
  compute = _jit_compute(entry.metric)
  got, expected = compute(state), compute(reference)  # a dict for a Collection
  assert jax.tree.structure(got) == jax.tree.structure(expected), what
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
    np.testing.assert_allclose(
        np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=entry.rtol,
        atol=entry.atol, err_msg=f"{entry.id}: {what}")
  for (name, part), (_, expected) in zip(_exact_parts(state, entry.exact),
                                         _exact_parts(reference, entry.exact)):
    for a, b in zip(jax.tree.leaves(part), jax.tree.leaves(expected)):
      np.testing.assert_array_equal(  # Wide hi and lo alike
          np.asarray(a), np.asarray(b),
          err_msg=f"{entry.id}: {what}: integer counts {name} differ")


def _device(stacked, i):
  return jax.tree.map(lambda x: x[i], stacked)


def _per_device(x):
  """Rows split into ``(8, rows / 8, ...)`` for pmap; stacked updates as is."""
  x = np.asarray(x)
  return x.reshape((N_DEVICES, x.shape[0] // N_DEVICES) + x.shape[1:])


# -- the paths -----------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _pmapped(metric, weighted):
  """One compiled pmap: (synced state, unsynced per-device state)."""
  def step(args, weight):
    state = metric.update(metric.init(), *args, sample_weight=weight)
    return metric.sync(state, "d"), state
  if weighted:
    return jax.pmap(step, axis_name="d")
  return jax.pmap(lambda args: step(args, None), axis_name="d")


def _unstack(entry, args, weight):
  """Inside shard_map, a device's block of stacked updates is one update."""
  if entry.batch_axis:
    return args, weight
  return (tuple(a[0] for a in args), None if weight is None else weight[0])


@functools.lru_cache(maxsize=None)
def _shard_mapped(entry, masked):
  """jit(shard_map): (synced state with out_specs=P(), per-device stack)."""
  metric = entry.metric

  def step(args, weight, mask):
    args, weight = _unstack(entry, args, weight)
    state = metric.init()
    if masked:
      mask = mask if entry.batch_axis else mask[0]
      state = metric.masked_update(state, *args, mask=mask, sample_weight=weight)
    else:
      state = metric.update(state, *args, sample_weight=weight)
    stacked = jax.tree.map(lambda x: x[None], state)
    return metric.sync(state, "d"), stacked

  if entry.weighted:
    fn, specs = step, (P("d"), P("d"), P("d"))
  else:
    fn, specs = (lambda args, mask: step(args, None, mask)), (P("d"), P("d"))
  if not masked:
    inner = fn
    fn = lambda *a: inner(*a, None)  # pylint: disable=unnecessary-lambda-assignment
    specs = specs[:-1]
  return jax.jit(jax.shard_map(fn, mesh=MESH, in_specs=specs,
                               out_specs=(P(), P("d"))))


def _run_pmap(entry):
  reference, args, weight = _reference(entry, True)
  # Rows split over the devices; stacked whole updates are already per device.
  split = _per_device if entry.batch_axis else np.asarray
  step = _pmapped(entry.metric, entry.weighted)
  sharded = tuple(split(a) for a in args)
  if entry.weighted:
    synced, unsynced = step(sharded, split(weight))
  else:
    synced, unsynced = step(sharded)
  synced = jax.tree.map(np.asarray, synced)  # index copies on the host
  for i in range(N_DEVICES):
    _check(entry, _device(synced, i), reference, f"pmap + sync, device {i}")
  _check(entry, _jit_merge_stacked(entry.metric)(unsynced), reference,
         "pmap + merge_stacked")


def _run_shard_map(entry):
  reference, args, weight = _reference(entry, True)
  step = _shard_mapped(entry, masked=False)
  synced, stacked = step(args, *(() if weight is None else (weight,)))
  _check(entry, synced, reference, "shard_map + sync (out_specs=P())")
  _check(entry, _jit_merge_stacked(entry.metric)(stacked), reference,
         "shard_map + merge_stacked")


def _run_jit_sharded(entry, mesh=MESH, set_mesh=False):
  metric = entry.metric
  rows, replicated = NamedSharding(mesh, P("d")), NamedSharding(mesh, P())
  if entry.batch_axis:
    reference, args, weight = _reference(entry, True)
  else:
    # No batch axis: shard one update's tensor along its first axis instead.
    _, stacked_args, stacked_weight = _reference(entry, True)
    (args, weight), = list(_each_update(entry, stacked_args, stacked_weight))[:1]
    reference = _jit_update(metric)(metric.init(), args, weight)
  put = lambda x: None if x is None else jax.device_put(  # pylint: disable=unnecessary-lambda-assignment
      x, rows if np.ndim(x) else replicated)
  with jax.set_mesh(mesh) if set_mesh else contextlib.nullcontext():
    state = _jit_update(metric)(metric.init(), tuple(map(put, args)), put(weight))
  _check(entry, state, reference,
         f"jit on a NamedSharding-sharded batch, {mesh.axis_types[0]} axes"
         + (" and jax.set_mesh" if set_mesh else ""))
  for leaf in jax.tree.leaves(state):
    assert leaf.is_fully_addressable
    if entry.batch_axis:
      # Replicated: every device holds the whole, identical state.
      assert leaf.sharding.is_fully_replicated, (entry.id, leaf.sharding)
      whole = np.asarray(leaf)
      for shard in leaf.addressable_shards:
        np.testing.assert_array_equal(np.asarray(shard.data), whole)


def _garbage(x, mask):
  """``x`` with the rows ``mask`` drops set to NaN (floats) or 7 (ints)."""
  if x is None or np.ndim(x) == 0:
    return x
  x = np.array(x)
  x[~mask] = np.nan if np.issubdtype(x.dtype, np.floating) else 7
  return x


def _run_padded(entry):
  metric = entry.metric
  reference, args, weight = _reference(entry, False)
  (*padded, padded_weight), mask = pad_to_multiple(*args, weight,
                                                   multiple=N_DEVICES)
  assert len(mask) == EVEN if entry.batch_axis else len(mask) == N_DEVICES
  padded = tuple(_garbage(x, mask) for x in padded)
  padded_weight = _garbage(padded_weight, mask)

  # Eight devices, each with its share of rows and of the mask: the last
  # devices hold the padding.
  step = _shard_mapped(entry, masked=True)
  synced, stacked = step(padded, *(() if weight is None else (padded_weight,)),
                         mask)
  _check(entry, synced, reference, "padded batch, shard_map + sync")
  _check(entry, _jit_merge_stacked(metric)(stacked), reference,
         "padded batch, shard_map + merge_stacked")


_RUN = {"pmap": _run_pmap, "shard_map": _run_shard_map,
        "jit_sharded": _run_jit_sharded, "padded": _run_padded,
        "jit_explicit": functools.partial(_run_jit_sharded, mesh=EXPLICIT_MESH),
        "jit_explicit_set_mesh": functools.partial(
            _run_jit_sharded, mesh=EXPLICIT_MESH, set_mesh=True)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("entry", ENTRIES, ids=str)
def test_every_path_gives_the_one_device_state(entry, mode):
  _RUN[mode](entry)


def test_catalogue_covers_every_public_metric_class():
  assert catalogue.missing_classes() == [], (
      "public metric classes without an entry in tests/catalogue.py")
  assert len({entry.id for entry in ENTRIES}) == len(ENTRIES)
  assert EVEN % N_DEVICES == 0 and UNEVEN % N_DEVICES


# -- reduction kinds other than "sum" -------------------------------------------------


class _RangeState(NamedTuple):
  low: jax.Array  # float32[]: smallest value seen.
  high: jax.Array  # float32[]: largest value seen.
  count: wide.Wide  # float32[] pair: values seen.


@base.metric_dataclass
class _Range(base.Metric):
  """Uses all three reduction kinds."""

  name: str = "range"

  def init(self):
    return _RangeState(jnp.array(jnp.inf), jnp.array(-jnp.inf), wide.wide_zeros())

  def update(self, state, values, sample_weight=None):
    del sample_weight
    values = jnp.asarray(values, jnp.float32)
    return _RangeState(jnp.minimum(state.low, values.min()),
                       jnp.maximum(state.high, values.max()),
                       wide.wide_add_int(state.count, values.size))

  def compute(self, state):
    return state.high - state.low

  def reductions(self):
    return _RangeState(base.MIN, base.MAX, base.SUM)


def test_min_and_max_leaves_sync_under_pmap_and_shard_map():
  metric = _Range()
  data = np.random.default_rng(1).normal(size=(EVEN, 3)).astype(np.float32)
  expected = (data.min(), data.max(), data.size)

  def check(state):
    assert (float(state.low), float(state.high)) == expected[:2]
    assert float(wide.wide_value(state.count)) == expected[2]

  step = lambda v: metric.sync(metric.update(metric.init(), v), "d")  # pylint: disable=unnecessary-lambda-assignment
  synced = jax.pmap(step, axis_name="d")(_per_device(data))
  for i in range(N_DEVICES):
    check(_device(synced, i))
  check(jax.jit(jax.shard_map(step, mesh=MESH, in_specs=P("d"),
                              out_specs=P()))(data))
  # A leaf no device changed (replicated, not varying) syncs too.
  untouched = jax.jit(jax.shard_map(
      lambda v: metric.sync(metric.init()._replace(
          count=metric.update(metric.init(), v).count), "d"),
      mesh=MESH, in_specs=P("d"), out_specs=P()))(data)
  assert (float(untouched.low), float(untouched.high)) == (np.inf, -np.inf)
  assert float(wide.wide_value(untouched.count)) == data.size


def test_synced_step_adds_one_global_batch_to_a_replicated_state():
  """The documented train-step pattern: merge(state, sync(update(init, ...)))."""
  metric = jm.AUC(num_thresholds=50)
  rng = np.random.default_rng(2)
  batches = [(rng.integers(0, 2, EVEN), rng.uniform(size=EVEN).astype(np.float32))
             for _ in range(3)]

  def step(state, y_true, y_pred):
    batch = metric.sync(metric.update(metric.init(), y_true, y_pred), "d")
    return metric.merge(state, batch)

  step = jax.jit(jax.shard_map(step, mesh=MESH, in_specs=(P(), P("d"), P("d")),
                               out_specs=P()))
  state, expected = metric.init(), metric.init()
  for y_true, y_pred in batches:
    state = step(state, y_true, y_pred)
    expected = _jit_update(metric)(expected, (y_true, y_pred), None)
  for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- masked_update and pad_to_multiple on their own ----------------------------------


# Metrics whose Keras form treats a 1-D batch as one sample (or, with axis 0,
# reduces the batch axis): the masked sample must be rebuilt from kept rows.
ONE_SAMPLE = [
    (jm.MeanSquaredError(), catalogue.normal_pairs(())),
    (jm.MeanAbsoluteError(), catalogue.normal_pairs(())),
    (jm.MeanAbsolutePercentageError(), catalogue.positive_pairs(())),
    (jm.MeanSquaredLogarithmicError(), catalogue.positive_pairs(())),
    (jm.LogCoshError(), catalogue.normal_pairs(())),
    (jm.BinaryCrossentropy(), catalogue.binary_float_labels()),
    (jm.Poisson(), catalogue.positive_pairs(())),
    (jm.KLDivergence(), catalogue.positive_pairs((), 0.05, 1.0)),
    (jm.Hinge(), catalogue.binary()),
    (jm.SquaredHinge(), catalogue.signed_labels(())),
    (jm.CosineSimilarity(), catalogue.normal_pairs(())),
    (jm.PearsonCorrelation(), catalogue.normal_pairs(())),
    (jm.ConcordanceCorrelation(), catalogue.normal_pairs(())),
    (jm.CosineSimilarity(axis=0), catalogue.normal_pairs((3,))),
    (jm.PearsonCorrelation(axis=0), catalogue.normal_pairs((3,))),
    (jm.ConcordanceCorrelation(axis=(0, 1)), catalogue.normal_pairs((3,))),
]


@pytest.mark.parametrize("metric,make", ONE_SAMPLE,
                         ids=[f"{type(m).__name__}_{i}" for i, (m, _) in
                              enumerate(ONE_SAMPLE)])
def test_masked_update_rebuilds_a_batch_that_is_one_sample(metric, make):
  rng = np.random.default_rng(3)
  args = make(rng, UNEVEN)
  (*padded,), mask = pad_to_multiple(*args, multiple=N_DEVICES)
  padded = tuple(_garbage(x, mask) for x in padded)
  update, compute = _jit_update(metric), _jit_compute(metric)
  masked_update = jax.jit(lambda s, a, w, m: metric.masked_update(
      s, *a, mask=m, sample_weight=w))
  state = update(metric.init(), make(rng, EVEN), None)  # a previous batch
  for weight in (None, np.float32(0.7)):
    expected = update(state, args, weight)
    masked = masked_update(state, padded, weight, mask)
    np.testing.assert_allclose(compute(masked), compute(expected),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(masked.count.hi),
                                  np.asarray(expected.count.hi))
  # Nothing kept: nothing added (Keras would count an empty sample).
  nothing = masked_update(state, padded, None, np.zeros_like(mask))
  for a, b in zip(jax.tree.leaves(nothing), jax.tree.leaves(state)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_masked_update_with_a_scalar_weight_counts_one_sample_like_keras():
  """A scalar weight makes the whole batch one sample in Keras' Mean."""
  m = jm.Mean()
  values = np.array([1.0, 2.0, 6.0, np.nan], np.float32)
  mask = np.array([True, True, True, False])
  state = m.masked_update(m.init(), values, mask=mask, sample_weight=2.0)
  expected = m.update(m.init(), values[:3], sample_weight=2.0)
  assert float(wide.wide_value(state.count)) == 2.0
  np.testing.assert_allclose(m.compute(state), m.compute(expected))


def test_scalar_mask_keeps_or_drops_the_whole_update():
  for metric, args in [(jm.MeanTensor(shape=(2,)), ([1.0, 2.0],)),
                       (jm.AUC(num_thresholds=5), ([0, 1], [0.2, 0.7])),
                       (jm.R2Score(), ([[1.0], [2.0]], [[1.5], [2.0]]))]:
    state = metric.update(metric.init(), *args)
    dropped = metric.masked_update(state, *args, mask=False)
    kept = metric.masked_update(state, *args, mask=True)
    for a, b in zip(jax.tree.leaves(dropped), jax.tree.leaves(state)):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(
        metric.compute(kept), metric.compute(metric.update(state, *args)))


def test_mean_tensor_mask_selects_rows_of_the_tensor():
  m = jm.MeanTensor(shape=(2, 2))
  state = m.update(m.init(), [[1.0, 1.0], [1.0, 1.0]])
  state = m.masked_update(state, [[3.0, 3.0], [np.nan, 9.0]], mask=[True, False])
  assert m.compute(state).tolist() == [[2.0, 2.0], [1.0, 1.0]]


def test_r2_masked_rows_stay_out_of_n():
  """Keras' n counts zero-weighted targets; masked rows are not targets."""
  m = jm.R2Score(num_regressors=1, num_outputs=2)
  rng = np.random.default_rng(4)
  y_true, y_pred = catalogue.normal_pairs((2,))(rng, 5)
  weight = np.array([1.0, 0.0, 2.0, 0.5, 1.0], np.float32)
  mask = np.array([True, True, True, False, False])
  state = m.masked_update(m.init(), y_true, y_pred, mask=mask,
                          sample_weight=weight)
  expected = m.update(m.init(), y_true[:3], y_pred[:3], sample_weight=weight[:3])
  assert float(wide.wide_value(state.num_samples)) == 6.0  # 3 rows x 2 outputs
  np.testing.assert_allclose(m.compute(state), m.compute(expected), rtol=1e-5)


def test_sparse_crossentropy_ignore_class_keeps_keras_unweighted_rule():
  m = jm.SparseCategoricalCrossentropy(ignore_class=0)
  y_true = np.array([0, 1, 2, 1])
  y_pred = np.full((4, 3), 1 / 3, np.float32)
  mask = np.array([True, True, True, False])
  state = m.masked_update(m.init(), y_true, y_pred, mask=mask)
  # Unweighted: the ignored element counts with loss 0 (3 samples, not 2).
  assert float(wide.wide_value(state.count)) == 3.0
  np.testing.assert_allclose(m.compute(state), m(y_true[:3], y_pred[:3]))


@pytest.mark.parametrize("metric,shapes", [
    (jm.CategoricalCrossentropy(), ((4,), (4,))),
    (jm.CategoricalHinge(), ((4,), (4,))),
    (jm.MeanMetricWrapper(lambda t, p: jnp.mean(t - p)), ((4,), (4,))),
])
def test_masked_update_refuses_a_batch_it_cannot_split(metric, shapes):
  args = [np.ones(s, np.float32) / 4 for s in shapes]
  with pytest.raises(ValueError, match="masked_update cannot leave rows out"):
    metric.masked_update(metric.init(), *args, mask=[True, True, True, False])


def test_mask_shape_errors_name_the_metric_and_shapes():
  m = jm.AUC()
  with pytest.raises(ValueError, match=r"AUC: mask of shape \(3,\) needs inputs"):
    m.masked_update(m.init(), [0, 1], [0.5, 0.5], mask=[True, True, False])
  with pytest.raises(ValueError, match="AUC: mask must be a scalar or"):
    m.masked_update(m.init(), [0, 1], [0.5, 0.5], mask=[[True, True]])
  with pytest.raises(ValueError, match="MeanTensor: mask of shape"):
    jm.MeanTensor(shape=(2,)).masked_update(
        jm.MeanTensor(shape=(2,)).init(), [1.0, 2.0], mask=[True, True, False])


def test_pad_to_multiple():
  y_true, y_pred = np.arange(5), np.ones((5, 2), np.float32)
  (a, b, none, scalar), mask = pad_to_multiple(y_true, y_pred, None, 2.0,
                                               multiple=4)
  assert isinstance(a, np.ndarray) and a.tolist() == [0, 1, 2, 3, 4, 0, 0, 0]
  assert b.shape == (8, 2) and b.dtype == np.float32 and not b[5:].any()
  assert none is None and scalar == 2.0
  assert mask.tolist() == [True] * 5 + [False] * 3
  (same,), mask = pad_to_multiple(y_pred, multiple=5)
  assert same.shape == (5, 2) and mask.all()
  (padded,), mask = pad_to_multiple(jnp.ones(3), multiple=2)
  assert isinstance(padded, jax.Array) and isinstance(mask, jax.Array)
  traced = jax.jit(lambda x: pad_to_multiple(x, multiple=8))(jnp.ones(3))
  assert traced[0][0].shape == (8,) and int(traced[1].sum()) == 3
  with pytest.raises(ValueError, match="share their leading"):
    pad_to_multiple(np.ones(3), np.ones(4), multiple=2)
  with pytest.raises(ValueError, match="multiple must be an integer >= 1"):
    pad_to_multiple(np.ones(3), multiple=0)
  with pytest.raises(ValueError, match="at least one array with a batch axis"):
    pad_to_multiple(None, 1.0, multiple=2)


# -- the compiled HLO of a synced update -------------------------------------------------

_COLLECTIVE = re.compile(
    r"=\s*(?P<shape>\([^=]*?\)|\S+)\s+(?P<op>all-reduce|all-reduce-start|"
    r"all-gather|all-gather-start|all-to-all|collective-permute|"
    r"collective-permute-start|reduce-scatter|collective-broadcast|"
    r"ragged-all-to-all)\(")
_ARRAY = re.compile(r"\b[a-z]+[0-9]*\[([0-9,]*)\]")


def collectives(hlo_text: str) -> list[tuple[str, int]]:
  """``(op, elements)`` of every collective instruction of compiled HLO."""
  found = []
  for match in _COLLECTIVE.finditer(hlo_text):
    elements = sum(int(np.prod([int(d) for d in dims.split(",") if d]))
                   for dims in _ARRAY.findall(match["shape"]))
    found.append((match["op"], elements))
  return found


def _hlo_cases():
  rng = np.random.default_rng(5)
  n = N_DEVICES * 1024
  labels = rng.integers(0, 10, n).astype(np.int32)
  scores = rng.uniform(size=(n, 10)).astype(np.float32)
  one_hot = np.eye(10, dtype=np.float32)[labels]
  cases = [
      ("auc", jm.AUC(num_thresholds=100), (one_hot, scores)),
      ("mean", jm.Mean(), (scores,)),
      ("r2_score", jm.R2Score(num_outputs=10), (one_hot, scores)),
      ("f1_score", jm.F1Score(num_classes=10), (one_hot.astype(np.int32), scores)),
      ("sparse_top_k", jm.SparseTopKCategoricalAccuracy(k=3), (labels, scores)),
      ("mean_average_precision",
       jm.MeanAveragePrecision(num_labels=10, num_thresholds=17),
       (one_hot, scores)),
      ("precision_at_recall", jm.PrecisionAtRecall(0.5, num_thresholds=33),
       (one_hot, scores)),
  ]
  if hasattr(jm, "MeanIoU"):
    cases.append(("mean_iou", jm.MeanIoU(num_classes=10, dtype="float32"),
                  (labels, np.argmax(scores, -1).astype(np.int32))))
  return cases


def _state_size(metric) -> int:
  return sum(int(np.size(leaf)) for leaf in jax.tree.leaves(metric.init()))


@pytest.mark.parametrize("path", ["pmap", "shard_map", "jit_sharded",
                                  "jit_explicit"])
@pytest.mark.parametrize("name,metric,args", _hlo_cases(),
                         ids=[c[0] for c in _hlo_cases()])
def test_synced_update_compiles_to_state_sized_all_reduces(name, metric, args,
                                                           path):
  weight = np.linspace(0.0, 1.0, len(args[0]), dtype=np.float32)

  def step(a, w):
    return metric.sync(metric.update(metric.init(), *a, sample_weight=w), "d")

  if path == "pmap":
    lowered = jax.pmap(step, axis_name="d").lower(
        tuple(_per_device(a) for a in args), _per_device(weight))
  elif path == "shard_map":
    lowered = jax.jit(jax.shard_map(step, mesh=MESH, in_specs=P("d"),
                                    out_specs=P())).lower(args, weight)
  else:  # No sync: the compiler's own collectives for a sharded batch.
    mesh = EXPLICIT_MESH if path == "jit_explicit" else MESH
    put = lambda x: jax.device_put(x, NamedSharding(mesh, P("d")))  # pylint: disable=unnecessary-lambda-assignment
    lowered = jax.jit(lambda s, a, w: metric.update(s, *a, sample_weight=w)).lower(
        metric.init(), tuple(map(put, args)), put(weight))
  found = collectives(lowered.compile().as_text())
  state = _state_size(metric)
  inputs = sum(np.size(a) for a in args) // N_DEVICES  # per device
  assert inputs > 10 * state, "inputs too small to tell state from inputs"
  assert found, f"{name}: no collective at all"
  if path.startswith("jit_"):
    # The partitioner all-reduces per-device partial sums (int32 histograms,
    # float sums), or gathers the partials of a custom (`Wide`) reduction:
    # at most one state-sized block per device, never the inputs.
    assert {op for op, _ in found} <= {"all-reduce", "all-gather"}, found
    assert sum(size for _, size in found) <= N_DEVICES * state, (name, found)
    return
  assert {op for op, _ in found} <= {"all-reduce", "all-reduce-start"}, found
  # A Wide total of k floats (hi and lo: 2k state elements) syncs with a pmax
  # of k and a psum of 3k: 2x the state in all, whether or not XLA combines
  # the all-reduces into one (on CPU it makes exactly two: one pmax, one psum).
  assert all(size <= 2 * state for _, size in found), (name, state, found)
  assert sum(size for _, size in found) <= 2 * state, (name, state, found)


def _reductions_of_all_reduces(hlo_text: str) -> list[str]:
  """The combining op (``maximum``, ``add``, ...) of each all-reduce."""
  found = []
  for line in hlo_text.splitlines():
    if re.search(r"\sall-reduce(-start)?\(", line):
      region = re.search(r"to_apply=(%[\w.\-]+)", line).group(1)
      body = hlo_text.split(f"\n{region} ", 1)[1].split("\n}", 1)[0]
      found.append(re.search(r"\s(maximum|minimum|add|multiply|and|or)\(",
                             body).group(1))
  return found


@pytest.mark.parametrize("path", ["pmap", "shard_map"])
def test_a_synced_collection_compiles_to_one_pmax_and_one_psum(path):
  # The README benchmark's 6-metric collection: XLA combines the sync of
  # every leaf of every member into one max and one sum all-reduce.
  metrics = jm.Collection([
      jm.route(jm.Mean(name="loss"), values="loss"),
      jm.route(jm.Sum(name="seen"), values="loss"),
      jm.SparseCategoricalAccuracy(), jm.SparseTopKCategoricalAccuracy(k=5),
      jm.SparseCategoricalCrossentropy(from_logits=True),
      jm.MeanIoU(num_classes=100, sparse_y_pred=False)])
  rng = np.random.default_rng(0)
  n = N_DEVICES * 64
  labels = rng.integers(0, 100, n).astype(np.int32)
  logits = rng.normal(size=(n, 100)).astype(np.float32)
  loss = rng.random(n).astype(np.float32)

  def step(y, p, l):
    return metrics.sync(metrics.update(metrics.init(), y_true=y, y_pred=p, loss=l),
                        "d")

  if path == "pmap":
    lowered = jax.pmap(step, axis_name="d").lower(
        _per_device(labels), _per_device(logits), _per_device(loss))
  else:
    lowered = jax.jit(jax.shard_map(step, mesh=MESH, in_specs=P("d"),
                                    out_specs=P())).lower(labels, logits, loss)
  text = lowered.compile().as_text()
  assert [op for op, _ in collectives(text)] == ["all-reduce", "all-reduce"]
  assert sorted(_reductions_of_all_reduces(text)) == ["add", "maximum"]


def test_collective_parser_reads_tuple_and_array_shapes():
  text = """
  %a = f32[3,200]{1,0} all-reduce(f32[3,200]{1,0} %x), channel_id=1
  %b = (f32[4]{0}, s32[2,2]{1,0}) all-reduce(f32[4]{0} %y, s32[2,2]{1,0} %z)
  %c = f32[8,16]{1,0} all-gather(f32[1,16]{1,0} %w), dimensions={0}
  """
  assert collectives(text) == [("all-reduce", 600), ("all-reduce", 8),
                               ("all-gather", 128)]


# -- two processes ----------------------------------------------------------------------


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_sync_to_the_single_process_state(tmp_path):
  from tests import _multiprocess_worker as worker  # pylint: disable=g-import-not-at-top
  port = _free_port()
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS="cpu")
  outputs = [tmp_path / f"process_{i}.npz" for i in range(worker.NUM_PROCESSES)]
  logdir = tmp_path / "logs"  # shared: only process 0 may write into it
  procs = [subprocess.Popen(
      [sys.executable, "-m", "tests._multiprocess_worker", str(i), str(port),
       str(outputs[i]), str(logdir)], cwd=root, env=env,
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
           for i in range(worker.NUM_PROCESSES)]
  start, logs = time.monotonic(), []
  try:
    for proc in procs:
      remaining = max(1.0, worker.TIMEOUT_S - (time.monotonic() - start))
      logs.append(proc.communicate(timeout=remaining)[0].decode(errors="replace"))
  finally:
    for proc in procs:  # never leave a worker behind, even on a timeout
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  for proc, log in zip(procs, logs):
    assert proc.returncode == 0, log[-3000:]

  expected = worker.single_process_results()
  for output in outputs:
    with np.load(output) as got:
      assert sorted(got.files) == sorted(expected), (sorted(got.files),
                                                    sorted(expected))
      for key, value in expected.items():
        if key.endswith("/value"):
          np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6,
                                     err_msg=key)
        else:  # integer counts: bit-identical
          np.testing.assert_array_equal(got[key], value, err_msg=key)
  _check_one_set_of_logs(logdir, expected, worker)


def _check_one_set_of_logs(logdir, expected, worker):
  """Process 0's events and history hold the synced values; process 1 wrote nothing."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  from jmetrics import logging as jlog  # pylint: disable=g-import-not-at-top
  files = sorted(p.name for p in logdir.iterdir())
  events = [f for f in files if f.startswith("events.out.tfevents")]
  assert len(events) == 1 and files == sorted(events + ["history.json"]), files
  accumulator = event_accumulator.EventAccumulator(str(logdir))
  accumulator.Reload()
  history = jlog.History.load(logdir / "history.json")
  metrics = worker._metrics()  # pylint: disable=protected-access
  for step, name in enumerate(sorted(metrics)):
    value = np.ravel(expected[f"{name}/shard_map/value"])
    tag = f"shard_map/{metrics[name][0].name}"  # the metric's own name
    tags = [tag] if value.size == 1 else [f"{tag}/{i}" for i in range(value.size)]
    for tag, want in zip(tags, value):
      (event,) = accumulator.Scalars(tag)
      assert event.step == step
      np.testing.assert_allclose(event.value, want, rtol=1e-5, atol=1e-6, err_msg=tag)
    np.testing.assert_allclose(np.ravel(history[tag]), value,
                               rtol=1e-5, atol=1e-6)


def test_a_table_state_sharded_over_explicit_axes_updates_as_a_replicated_one():
  metric = jm.MeanIoU(num_classes=40)
  rng = np.random.default_rng(0)
  y_true = jnp.asarray(rng.integers(0, 40, 64))
  y_pred = jnp.asarray(rng.integers(0, 40, 64))
  mesh = jax.make_mesh((8,), ("d",))
  with jax.set_mesh(mesh):
    state = jax.device_put(metric.init(), jax.sharding.NamedSharding(
        mesh, jax.sharding.PartitionSpec("d")))
    sharded = jax.jit(metric.update)(state, y_true, y_pred)
  replicated = metric.update(metric.init(), y_true, y_pred)
  for got, want in zip(jax.tree.leaves(sharded), jax.tree.leaves(replicated)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
