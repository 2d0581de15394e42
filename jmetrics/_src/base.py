"""The metric contract: immutable configuration, pure methods over a state pytree.

Every metric is a frozen dataclass holding only configuration. Its state is a
separate pytree of fixed-shape arrays (a ``NamedTuple`` named
``<Metric>State``). Subclasses write ``init``, ``update`` and ``compute``;
``merge``, ``sync`` and ``merge_stacked`` come from the per-leaf reduction kinds
the metric declares in `Metric.reductions` (every leaf sums by default).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Hashable

import jax
import jax.numpy as jnp

from jmetrics._src import wide

SUM = "sum"
MIN = "min"
MAX = "max"
_KINDS = (SUM, MIN, MAX)

State = Any  # A pytree of arrays (``Wide`` pairs count as one summed leaf).


def snake_case(name: str) -> str:
  """``"MeanSquaredError"`` -> ``"mean_squared_error"``; the default metric name."""
  name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
  return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def freeze(value: Any) -> Hashable:
  """Lists, tuples, dicts and arrays in a config become nested tuples.

  Configs must hash so that a metric can be a static argument of ``jax.jit``
  and equal configs hit the same compilation cache entry.
  """
  if isinstance(value, dict):
    return tuple(sorted((k, freeze(v)) for k, v in value.items()))
  if isinstance(value, (list, tuple)):
    return tuple(freeze(v) for v in value)
  if hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
    import numpy as np  # pylint: disable=g-import-not-at-top
    array = np.asarray(value)
    return array.item() if array.ndim == 0 else freeze(array.tolist())
  return value


def _is_leaf(x) -> bool:
  return isinstance(x, wide.Wide)


def _map_kind(kinds, fn, *states):
  """Applies ``fn(kind, *leaves)`` to each leaf, ``kinds`` being a tree prefix."""
  def per_subtree(kind, *subtrees):
    if kind not in _KINDS:
      raise ValueError(f"unknown reduction kind {kind!r}; expected one of {_KINDS}")
    return jax.tree.map(lambda *leaves: fn(kind, *leaves), *subtrees,
                        is_leaf=_is_leaf)
  return jax.tree.map(per_subtree, kinds, *states)


def _merge_leaf(kind, a, b):
  if isinstance(a, wide.Wide):
    if kind != SUM:
      raise ValueError("Wide totals only support the 'sum' reduction")
    return wide.wide_merge(a, b)
  if kind == SUM:
    return a + b
  return jnp.minimum(a, b) if kind == MIN else jnp.maximum(a, b)


def _sync_leaf(kind, leaf, axis_name):
  if isinstance(leaf, wide.Wide):
    return wide.wide_psum(leaf, axis_name)
  op = {SUM: jax.lax.psum, MIN: jax.lax.pmin, MAX: jax.lax.pmax}[kind]
  return op(leaf, axis_name)


def _stacked_leaf(kind, leaf, axis):
  if isinstance(leaf, wide.Wide):
    return wide.wide_sum(leaf, axis)
  op = {SUM: jnp.sum, MIN: jnp.min, MAX: jnp.max}[kind]
  return op(leaf, axis=axis)


class Metric:
  """Base class of every jmetrics metric.

  Subclasses are ``@dataclasses.dataclass(frozen=True)`` classes whose fields
  are the Keras constructor arguments. Instances are hashable, compare equal
  by configuration, and are registered as pytrees without leaves, so they can
  be closed over, passed as ``static_argnums``, or passed as ordinary
  arguments of jitted functions.

  Subclasses implement:

  * ``init() -> state``: the identity element of `merge`.
  * ``update(state, y_true, y_pred, sample_weight=None) -> state``.
  * ``compute(state) -> value``.
  * optionally ``reductions()``: a pytree prefix of the state whose leaves are
    ``"sum"``, ``"min"`` or ``"max"``; every leaf sums by default.
  """

  name: str

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    jax.tree_util.register_static(cls)

  # -- what subclasses write -------------------------------------------------

  def init(self) -> State:
    raise NotImplementedError

  def update(self, state: State, y_true, y_pred, sample_weight=None) -> State:
    raise NotImplementedError

  def compute(self, state: State) -> jax.Array:
    raise NotImplementedError

  def validate(self) -> None:
    """Raises `error` for an invalid configuration; runs at construction."""

  def reductions(self) -> Any:
    """Per-leaf reduction kinds, as a pytree prefix of the state."""
    return SUM

  # -- derived ---------------------------------------------------------------

  def merge(self, a: State, b: State) -> State:
    """Combines two partial states; associative and commutative."""
    return _map_kind(self.reductions(), _merge_leaf, a, b)

  def sync(self, state: State, axis_name) -> State:
    """Merges the states of all devices along ``axis_name`` (pmap, shard_map).

    One all-reduce per leaf kind, of the state's size; never a gather of the
    inputs.
    """
    return _map_kind(self.reductions(),
                     lambda kind, leaf: _sync_leaf(kind, leaf, axis_name), state)

  def merge_stacked(self, stacked: State, axis: int = 0) -> State:
    """Merges states stacked along ``axis`` (what ``pmap`` returns unsynced)."""
    return _map_kind(self.reductions(),
                     lambda kind, leaf: _stacked_leaf(kind, leaf, axis), stacked)

  def __call__(self, *args, **kwargs) -> jax.Array:
    """The metric of a single batch: ``compute(update(init(), ...))``."""
    return self.compute(self.update(self.init(), *args, **kwargs))

  # -- helpers for subclasses ------------------------------------------------

  def error(self, message: str) -> ValueError:
    """A ``ValueError`` whose message starts with the metric's class name."""
    return ValueError(f"{type(self).__name__}: {message}")

  def result_dtype(self, value: jax.Array) -> jax.Array:
    """Casts a computed value to the configured ``dtype`` (if any)."""
    dtype = getattr(self, "dtype", None)
    return value if dtype is None else jnp.asarray(value, dtype)


def metric_dataclass(cls):
  """Declares a metric config class: a frozen, hashable dataclass.

  Every field value is frozen (lists become tuples) so configs hash, and a
  ``name`` left as ``None`` becomes the snake_case class name, as in Keras.
  Then `Metric.validate` checks the configuration.
  """

  def __post_init__(self):
    for field in dataclasses.fields(self):
      object.__setattr__(self, field.name, freeze(getattr(self, field.name)))
    if getattr(self, "name", "") is None:
      object.__setattr__(self, "name", snake_case(type(self).__name__))
    self.validate()

  cls.__post_init__ = __post_init__
  return dataclasses.dataclass(frozen=True)(cls)
