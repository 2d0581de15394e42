"""Flax linen integration: metrics in a ``TrainState``, ``add_metric`` via ``sow``.

Imported on demand (``import jmetrics.linen``); the core package never
imports Flax.

**Metrics in the train state.** A `Collection`'s state is a pytree, so it
lives in the ``TrainState`` next to the parameters and a jitted train step
returns it updated. `TrainState` here is Flax's with two more fields: the
collection (static config) and ``metrics`` (its state). Reset per epoch by
replacing the state with ``collection.init()`` (`TrainState.reset_metrics`),
outside or inside jit::

    state = TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                              collection=Collection([...]))
    for epoch in range(epochs):
      state = state.reset_metrics()
      for batch in batches:
        state = train_step(state, batch)   # calls state.update_metrics(...)
      print(epoch, state.compute_metrics())

Under ``pmap``, ``update_metrics(..., axis_name="batch")`` syncs each
step's batch state across devices before merging it, so the accumulated
state stays identical on every device; alternatively update per device and
call ``collection.merge_stacked`` on the stacked states at the end.

**add_metric.** A module records a value during its forward pass with
`add_metric` (Keras' ``Layer.add_metric``); the records land in the
``"metrics"`` collection when it is mutable (``apply(...,
mutable=["metrics"])``), and cost nothing otherwise. `with_records` adds a
member per recorded name to a collection; `merge_records` (or
``update_metrics(..., records=...)``) merges them into its state.

Examples:
  >>> import jax, jax.numpy as jnp
  >>> import flax.linen as nn
  >>> from jmetrics import linen as jml
  >>> class DenseLike(nn.Module):
  ...   @nn.compact
  ...   def __call__(self, x):
  ...     y = nn.Dense(3)(x)
  ...     jml.add_metric(self, jnp.mean(y), name="activation_mean")
  ...     return y
  >>> model = DenseLike()
  >>> params = model.init(jax.random.key(0), jnp.ones((2, 4)))["params"]
  >>> y, updates = model.apply({"params": params}, jnp.ones((2, 4)),
  ...                          mutable=["metrics"])
  >>> record = jml.records(updates)["activation_mean"]
  >>> bool(jnp.allclose(record.metric.compute(record.state), jnp.mean(y)))
  True
"""

from __future__ import annotations

import functools
from typing import Any

from flax import struct
from flax.training import train_state

from jmetrics._src.composition import collection as collection_lib
from jmetrics._src.composition import records as records_lib

METRICS = "metrics"  # The variable collection `add_metric` sows into.

Record = records_lib.Record
records = records_lib.collect
with_records = records_lib.with_records
merge_records = records_lib.merge_records
recorded = records_lib.recorded


def add_metric(module, value, name: str, aggregation="mean", *,
               sample_weight=None, collection: str = METRICS) -> bool:
  """Records ``value`` under ``name`` from inside a linen module's forward pass.

  Keras' ``Layer.add_metric(value, name=, aggregation=)``: the value is
  aggregated into a metric state (``"mean"``: the average of the recorded
  values across calls and steps), sown into ``collection``. Calls with one
  name in one forward pass (a shared layer) merge. Values are recorded with
  ``stop_gradient``: metrics never feed gradients.

  Args:
    module: the calling module (``self``).
    value: a scalar, or values with the batch on axis 0.
    name: the metric's name in logs and in the collection.
    aggregation: ``"mean"``, ``"sum"``, ``"max"``, ``"min"`` or a metric
      taking ``values`` (e.g. ``jm.MeanTensor(shape=...)``).
    sample_weight: optional weights of ``value``.
    collection: the variable collection recorded into.

  Returns:
    Whether the value was recorded (False when ``collection`` is not
    mutable, e.g. plain inference; then nothing is computed).

  Raises:
    ValueError: for an unknown aggregation or a name recorded with two
      aggregations.
  """
  if not module.is_mutable_collection(collection):
    return False
  return records_lib.sow_record(functools.partial(module.sow, collection), name,
                                value, aggregation, sample_weight)


class TrainState(train_state.TrainState):
  """Flax's ``TrainState`` with a metric collection and its state.

  Attributes:
    collection: the `Collection` (static config, not a pytree leaf).
    metrics: its state (saved, restored and jitted with the rest).
  """

  collection: Any = struct.field(pytree_node=False)
  metrics: Any = struct.field(pytree_node=True)

  @classmethod
  def create(cls, *, apply_fn, params, tx, collection, **kwargs):
    """Like ``TrainState.create``, with ``metrics = collection.init()``.

    Args:
      apply_fn: usually ``model.apply``.
      params: the parameters.
      tx: an optax transformation.
      collection: a `Collection`, or anything `Collection` accepts.
      **kwargs: further fields of a subclass.

    Returns:
      The state.
    """
    if not isinstance(collection, collection_lib.Collection):
      collection = collection_lib.Collection(collection)
    reserved = {"records", "axis_name"} & set(collection.inputs().names)
    if reserved:
      raise ValueError(f"TrainState: collection inputs named {sorted(reserved)} "
                       "clash with update_metrics' own arguments; route them "
                       "under other names")
    return super().create(apply_fn=apply_fn, params=params, tx=tx,
                          collection=collection, metrics=collection.init(),
                          **kwargs)

  def update_metrics(self, *args, records=None, axis_name=None, **inputs):
    """Accumulates a batch into ``metrics`` (pure: returns a new state).

    Args:
      *args: ``y_true, y_pred, sample_weight`` by position.
      records: optional `add_metric` records of this step (the mutated
        ``"metrics"`` collection) to merge in.
      axis_name: under ``pmap``/``shard_map``, the device axis: the batch's
        state is synced across devices before it is merged, so ``metrics``
        stays the same on every device.
      **inputs: the collection's named inputs (none may be named
        ``records`` or ``axis_name``; `create` checks).

    Returns:
      The new train state.
    """
    c = self.collection
    if axis_name is None:
      metrics = c.update(self.metrics, *args, **inputs)
      if records is not None:
        metrics = records_lib.merge_records(c, metrics, records)
      return self.replace(metrics=metrics)
    batch = c.update(c.init(), *args, **inputs)
    if records is not None:
      batch = records_lib.merge_records(c, batch, records)
    return self.replace(metrics=c.merge(self.metrics, c.sync(batch, axis_name)))

  def reset_metrics(self):
    """The state with ``metrics`` back to ``collection.init()`` (per epoch)."""
    return self.replace(metrics=self.collection.init())

  def compute_metrics(self) -> dict:
    """``collection.compute(metrics)``: ``{name: value}``."""
    return self.collection.compute(self.metrics)
