"""Flax NNX integration: jmetrics metrics as stateful ``nnx.Metric``\\ s, ``add_metric``.

Imported on demand (``import jmetrics.nnx``); the core package never imports
Flax.

`NNXMetric` wraps any jmetrics metric (or `Collection`) as an
``nnx.Metric`` with ``update(**inputs)``, ``compute()`` and ``reset()``. Its
state is one ``nnx.metrics.MetricState`` variable holding the pure state, so
it updates in place inside ``nnx.jit`` and checkpoints with ``nnx.state``.

**Keywords inside ``nnx.MultiMetric``.** Flax's ``MultiMetric`` hands every
keyword to every member, so each member sees the others' inputs. Two ways to
keep typos loud:

* `MultiMetric` (this module's) checks each keyword against the union of its
  members' inputs (raising for one no member takes) and hands jmetrics
  members only the keywords they take. Members may be jmetrics metrics
  (wrapped automatically) or Flax metrics (whose inputs are read from their
  ``update`` signature and ``argname``).
* In Flax's own ``nnx.MultiMetric``, give the wrapper the other members'
  keywords: ``NNXMetric(jm.AUC(), ignore=["logits", "labels", "values"])``.
  It drops those silently and raises for any other keyword it does not take.

A ``mask=`` (which ``MultiMetric`` forwards to every member) acts as a sample
weight: multiplied into ``sample_weight`` if both are given.

**add_metric.** A module records values with `add_metric`; the records are
captured with ``nnx.capture(model, MetricRecord)`` and merged into a wrapped
collection with `NNXMetric.merge_records` (outside ``nnx.capture`` nothing
is recorded).

Examples:
  >>> import jax.numpy as jnp
  >>> import jmetrics as jm
  >>> from jmetrics import nnx as jnnx
  >>> from flax import nnx
  >>> auc = jnnx.NNXMetric(jm.AUC(num_thresholds=3))
  >>> @nnx.jit
  ... def step(auc, y_true, y_pred):
  ...   auc.update(y_true=y_true, y_pred=y_pred)
  >>> step(auc, jnp.array([0, 0, 1, 1]), jnp.array([0, 0.5, 0.3, 0.9]))
  >>> float(auc.compute())
  0.75
  >>> metrics = jnnx.MultiMetric(loss=nnx.metrics.Average(),
  ...                            accuracy=jm.SparseCategoricalAccuracy())
  >>> metrics.update(values=jnp.array([0.5, 1.5]), y_true=jnp.array([1, 0]),
  ...                y_pred=jnp.array([[0.2, 0.8], [0.4, 0.6]]))
  >>> {k: float(v) for k, v in metrics.compute().items()}
  {'loss': 1.0, 'accuracy': 0.5}
  >>> metrics.update(valeus=jnp.array([0.5]))
  Traceback (most recent call last):
    ...
  ValueError: MultiMetric: unknown keyword(s) ['valeus']; the members take ['values', 'y_true', 'y_pred', 'sample_weight']
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Iterable

from flax import nnx

from jmetrics._src import base
from jmetrics._src.composition import collection as collection_lib
from jmetrics._src.composition import records as records_lib
from jmetrics._src.composition import registry

Record = records_lib.Record
records = records_lib.collect
with_records = records_lib.with_records
recorded = records_lib.recorded


class MetricRecord(nnx.Intermediate):
  """The variable type `add_metric` sows; capture it with ``nnx.capture``."""


def add_metric(module: nnx.Module, value, name: str, aggregation="mean", *,
               sample_weight=None) -> bool:
  """Records ``value`` under ``name`` from inside an NNX module's forward pass.

  Keras' ``Layer.add_metric``: the value is aggregated into a metric state
  (``"mean"``: the average of the recorded values) and sown as a
  `MetricRecord`. Run the forward pass under ``nnx.capture(fn,
  MetricRecord)`` to get the records; calls with one name merge. Values are
  recorded with ``stop_gradient``.

  Args:
    module: the calling module (``self``).
    value: a scalar, or values with the batch on axis 0.
    name: the metric's name in logs and collections.
    aggregation: ``"mean"``, ``"sum"``, ``"max"``, ``"min"`` or a metric
      taking ``values``.
    sample_weight: optional weights of ``value``.

  Returns:
    Whether the value was recorded: False outside ``nnx.capture`` (where
    ``sow`` would otherwise attach a variable to the module for good).

  Examples:
    >>> import jax.numpy as jnp
    >>> from flax import nnx
    >>> from jmetrics import nnx as jnnx
    >>> class DenseLike(nnx.Module):
    ...   def __init__(self, rngs):
    ...     self.linear = nnx.Linear(4, 3, rngs=rngs)
    ...   def __call__(self, x):
    ...     y = self.linear(x)
    ...     jnnx.add_metric(self, jnp.mean(y), name="activation_mean")
    ...     return y
    >>> model = DenseLike(nnx.Rngs(0))
    >>> y, captured = nnx.capture(model, jnnx.MetricRecord)(jnp.ones((2, 4)))
    >>> record = jnnx.records(captured)["activation_mean"]
    >>> bool(jnp.allclose(record.metric.compute(record.state), jnp.mean(y)))
    True
  """
  # nnx.capture marks the modules it records with __captures__; without it,
  # sow would store the record as a new attribute (deprecated in Flax 0.12).
  if not hasattr(module, "__captures__"):
    return False
  return records_lib.sow_record(functools.partial(module.sow, MetricRecord), name,
                                value, aggregation, sample_weight)


def _as_metric(metric) -> base.Metric:
  if isinstance(metric, (dict, list)):
    return collection_lib.Collection(metric)
  metric = registry.get(metric)
  if not isinstance(metric, base.Metric):
    raise ValueError(f"NNXMetric: expected a jmetrics metric, got {metric!r}")
  return metric


class NNXMetric(nnx.Metric):
  """A jmetrics metric as a stateful ``nnx.Metric``.

  Args:
    metric: a `jm.Metric`, a `Collection` (or a dict / list, made into one),
      or anything `jm.get` accepts.
    ignore: keywords to drop silently: the inputs of the other members of
      a Flax ``nnx.MultiMetric`` (not needed in this module's `MultiMetric`).

  Attributes:
    metric: the pure metric (static).
    state: ``nnx.metrics.MetricState`` holding the metric's state pytree.
  """

  def __init__(self, metric: Any, *, ignore: Iterable[str] = ()):
    self.metric = _as_metric(metric)
    if isinstance(ignore, str):
      ignore = (ignore,)
    self.ignore = tuple(sorted(set(ignore)))
    clash = set(self.ignore) & set(self.inputs().names)
    if clash:
      raise ValueError(f"NNXMetric: cannot ignore {sorted(clash)}: "
                       f"{type(self.metric).__name__} takes them")
    self.state = nnx.metrics.MetricState(self.metric.init())

  def inputs(self) -> collection_lib.Inputs:
    """The keyword inputs the wrapped metric takes."""
    return collection_lib.inputs_of(self.metric)

  def update(self, *args, mask=None, **inputs) -> None:
    """Accumulates a batch in place.

    Args:
      *args: positional inputs of the metric (``y_true, y_pred``).
      mask: optional weights multiplied into ``sample_weight``.
      **inputs: the metric's keyword inputs; keywords in ``ignore`` are
        dropped.

    Raises:
      ValueError: for a keyword neither taken nor ignored, or a missing one.
    """
    names = self.inputs().names
    unknown = sorted(k for k in inputs if k not in names and k not in self.ignore
                     and not (k == "sample_weight" and inputs[k] is None))
    if unknown:
      raise ValueError(
          f"NNXMetric({self.metric.name!r}): unknown keyword(s) {unknown}; it "
          f"takes {list(names)}" + (f" and ignores {list(self.ignore)}"
                                    if self.ignore else "")
          + "; inside nnx.MultiMetric pass ignore=[...] or use "
          "jmetrics.nnx.MultiMetric")
    inputs = {k: v for k, v in inputs.items() if k in names}
    if mask is not None:
      if "sample_weight" not in names:
        raise ValueError(f"NNXMetric({self.metric.name!r}): got mask= but "
                         f"{type(self.metric).__name__} takes no sample_weight")
      weight = inputs.get("sample_weight")
      inputs["sample_weight"] = mask if weight is None else weight * mask
    self.state.set_value(self.metric.update(self.state.get_value(), *args, **inputs))

  def compute(self):
    """The metric's value (a dict for a collection)."""
    return self.metric.compute(self.state.get_value())

  def reset(self) -> None:
    """Back to ``metric.init()``."""
    self.state.set_value(self.metric.init())

  def merge_records(self, captured) -> None:
    """Merges `add_metric` records (e.g. from ``nnx.capture``) in place.

    The wrapped metric must be a `Collection` with a member per recorded
    name (see `with_records` / `recorded`).
    """
    if not isinstance(self.metric, collection_lib.Collection):
      raise ValueError("NNXMetric.merge_records: the wrapped metric must be a "
                       f"Collection, got {type(self.metric).__name__}")
    self.state.set_value(records_lib.merge_records(
        self.metric, self.state.get_value(), captured))


def _flax_inputs(metric) -> tuple | None:
  """Keywords a Flax metric's ``update`` uses; None if they cannot be read."""
  params = list(inspect.signature(type(metric).update).parameters.values())[1:]
  names = [p.name for p in params
           if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "mask"]
  argname = getattr(metric, "argname", None)
  if not names and isinstance(argname, str):  # nnx.metrics.Average, Welford.
    names.append(argname)
  return tuple(names) if names else None


class MultiMetric(nnx.MultiMetric):
  """``nnx.MultiMetric`` that rejects keywords no member takes.

  Each keyword of `update` must be an input of some member, else a
  ``ValueError`` names it (a typo would otherwise be ignored by every
  member). jmetrics members receive only their own inputs (and ``mask``);
  Flax members receive every keyword, as in ``nnx.MultiMetric``. A Flax
  member whose inputs cannot be read (only ``**kwargs`` and no ``argname``)
  disables the check.

  Args:
    **metrics: ``name=metric``: jmetrics metrics or collections (wrapped in
      `NNXMetric`), `NNXMetric`\\ s or Flax ``nnx.Metric``\\ s.

  Attributes:
    accepted: the keywords some member takes (``None``: not checked).
  """

  def __init__(self, **metrics):
    wrapped = {name: m if isinstance(m, nnx.Metric) else NNXMetric(m)
               for name, m in metrics.items()}
    super().__init__(**wrapped)
    accepted, checkable = [], True
    for m in wrapped.values():
      names = (m.inputs().names if isinstance(m, NNXMetric) else _flax_inputs(m))
      if names is None:
        checkable = False
        continue
      accepted += [n for n in names if n not in accepted]
    self.accepted = tuple(accepted) if checkable else None

  def update(self, **updates) -> None:
    """Updates every member; see the class docstring for keyword routing."""
    if self.accepted is not None:
      unknown = sorted(k for k in updates if k not in self.accepted
                       and k != "mask" and updates[k] is not None)
      if unknown:
        raise ValueError(f"MultiMetric: unknown keyword(s) {unknown}; the members "
                         f"take {list(self.accepted)}")
    mask = updates.pop("mask", None)
    for name in self._metric_names:
      metric = getattr(self, name)
      member_mask = mask.get(name) if isinstance(mask, dict) else mask
      kwargs = dict(updates)
      if isinstance(metric, NNXMetric):
        kwargs = {k: v for k, v in updates.items() if k in metric.inputs().names}
      if member_mask is not None:
        kwargs["mask"] = member_mask
      metric.update(**kwargs)
