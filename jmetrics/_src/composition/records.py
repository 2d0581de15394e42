"""Values a module records during its forward pass (Keras' ``add_metric``).

The Flax integrations (`jmetrics.linen`, `jmetrics.nnx`) ``sow`` a `Record`
per ``add_metric`` call: the state of a small metric (`Mean` for
``aggregation="mean"``, `Sum`, `Max`, `Min`) updated with the value, with the
metric config carried as static pytree metadata. Repeated calls under one
name (a layer applied twice) merge into one record. After the forward pass,
`collect` gathers the records from the sown variables, `with_records` adds a
member per recorded name to a `Collection`, and `merge_records` merges the
records into the collection's state, so recorded values accumulate across
steps, merge, sync and checkpoint like every other metric.

This module has no Flax dependency; only the integrations do.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax

from jmetrics._src import base
from jmetrics._src.composition import collection as collection_lib
from jmetrics._src.metrics import reduction


AGGREGATIONS = {
    "mean": reduction.Mean,
    "sum": reduction.Sum,
    "max": reduction.Max,
    "min": reduction.Min,
}


def record_metric(name: str, aggregation="mean") -> base.Metric:
  """The metric that accumulates values recorded under ``name``.

  Args:
    name: the recorded name (becomes the metric's name).
    aggregation: ``"mean"`` (the average of the recorded values, each call
      counting once for a scalar, or once per sample for a batch of values),
      ``"sum"``, ``"max"``, ``"min"``, or a metric whose ``update`` takes
      ``values`` (and optionally ``sample_weight``), e.g.
      ``jm.MeanTensor(shape=...)``; its own name is replaced by ``name``.

  Returns:
    The metric.

  Raises:
    ValueError: for an unknown aggregation or a metric without a ``values``
      input.
  """
  if not isinstance(name, str) or not name:
    raise ValueError(f"add_metric: name must be a non-empty string, got {name!r}")
  if isinstance(aggregation, base.Metric):
    if "values" not in collection_lib.inputs_of(aggregation).names:
      raise ValueError(f"add_metric: aggregation metric {type(aggregation).__name__} "
                       "must take `values`")
    return dataclasses.replace(aggregation, name=name)
  cls = AGGREGATIONS.get(aggregation)
  if cls is None:
    raise ValueError(f"add_metric: unknown aggregation {aggregation!r}; expected "
                     f"one of {sorted(AGGREGATIONS)} or a metric taking `values`")
  return cls(name=name)


@dataclasses.dataclass(frozen=True)
class Record:
  """A recorded metric's state, its config riding along as static metadata.

  Attributes:
    metric: the metric (static: part of the pytree structure, not a leaf).
    state: its state, updated with the recorded values.
  """

  metric: base.Metric
  state: Any


jax.tree_util.register_dataclass(Record, data_fields=["state"], meta_fields=["metric"])


def make_record(name: str, value, aggregation="mean", sample_weight=None) -> Record:
  """A `Record` of one value: ``metric.update(metric.init(), value)``."""
  metric = record_metric(name, aggregation)
  return Record(metric, metric.update(metric.init(), value, sample_weight=sample_weight))


def sow_record(sow, name: str, value, aggregation="mean", sample_weight=None) -> bool:
  """Records ``value`` through a Flax ``sow`` (the body of ``add_metric``).

  Args:
    sow: ``module.sow`` with its collection (linen) or variable type (NNX)
      bound: ``sow(name, value, reduce_fn=..., init_fn=...)``.
    name, value, aggregation, sample_weight: as in ``add_metric``.

  Returns:
    What ``sow`` returns: whether the value was stored.
  """
  # Metrics observe the model; they never feed its gradients.
  record = make_record(name, jax.lax.stop_gradient(value), aggregation, sample_weight)
  return sow(name, record, reduce_fn=merge_two,
             init_fn=lambda: Record(record.metric, record.metric.init()))


def recorded(name: str, aggregation="mean"):
  """The collection member for values recorded by ``add_metric`` under ``name``.

  For declaring a collection up front (instead of `with_records`):
  ``Collection({..., "activation_mean": recorded("activation_mean")})``.
  ``update`` leaves it alone; `merge_records` fills it.
  """
  return collection_lib.route(record_metric(name, aggregation), values=None)


def merge_two(a: Record, b: Record) -> Record:
  """Merges two records of one name (``reduce_fn`` of ``sow``)."""
  if a.metric != b.metric:
    raise ValueError(f"add_metric: {a.metric.name!r} recorded with two "
                     f"aggregations: {a.metric} and {b.metric}")
  return Record(a.metric, a.metric.merge(a.state, b.state))


def _is_record(x) -> bool:
  return isinstance(x, Record)


def collect(tree) -> dict:
  """Gathers the `Record`\\ s in ``tree`` by name, merging equal names.

  Args:
    tree: any pytree holding records: the mutated variables of a linen
      ``apply(..., mutable=["metrics"])``, the state of ``nnx.capture``,
      or a dict of records.

  Returns:
    ``{name: Record}``; records of one name from different modules (or
    calls) are merged.

  Raises:
    ValueError: if one name was recorded with different aggregations.
  """
  found = {}
  for leaf in jax.tree.leaves(tree, is_leaf=_is_record):
    if _is_record(leaf):
      name = leaf.metric.name
      found[name] = merge_two(found[name], leaf) if name in found else leaf
  return found


def with_records(collection, records) -> collection_lib.Collection:
  """``collection`` plus an external member per recorded name it lacks.

  Records carry their metric config, so the members can be read off records
  from a dry run (``jax.eval_shape`` of the forward pass costs no compute).

  Args:
    collection: a `Collection`, or anything `Collection` accepts.
    records: a pytree holding `Record`\\ s (see `collect`).

  Returns:
    A `Collection` whose new members are ``route(metric, values=None)``:
    ``update`` leaves them alone and `merge_records` fills them.
  """
  if not isinstance(collection, collection_lib.Collection):
    collection = collection_lib.Collection(collection)
  members = dict(collection.members)
  for name, record in collect(records).items():
    if name not in members:
      members[name] = collection_lib.route(record.metric, values=None)
  return collection_lib.Collection(members, name=collection.name,
                                   flatten=collection.flatten)


def _unrouted(metric):
  while isinstance(metric, collection_lib.Routed):
    metric = metric.metric
  return metric


def merge_records(collection, state: Mapping, records) -> dict:
  """Merges recorded values into a collection's state.

  Args:
    collection: the `Collection` (with a member per recorded name, e.g.
      from `with_records`).
    state: its state.
    records: a pytree holding `Record`\\ s (see `collect`).

  Returns:
    The new state.

  Raises:
    ValueError: if a recorded name has no member, or its member is another
      metric than the record's.
  """
  new = dict(state)
  for name, record in collect(records).items():
    if name not in collection:
      raise ValueError(f"merge_records: {name!r} was recorded but the collection "
                       f"has no such member (members: {list(collection.names)}); "
                       "build it with with_records")
    member = collection[name]
    if _unrouted(member) != record.metric:
      raise ValueError(f"merge_records: {name!r} was recorded as "
                       f"{record.metric} but the collection's member is {member}")
    new[name] = member.merge(new[name], record.state)
  return new
